//! Page cursors: the sort key a page ended at, base64url-encoded (no padding), so that a
//! client can put `next_cursor` into a query string as it is. Opaque to clients.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The longest sort key a cursor may carry (longer ones are not ours).
const MAX_KEY_LEN: usize = 300;

/// The cursor of a page that ended at sort key `sk`: only `A-Z a-z 0-9 - _`.
pub fn encode(sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

/// The sort key a cursor from [`encode`] holds; `None` when `cursor` is not one (not
/// base64url, not UTF-8, too long or holding control characters).
pub fn decode(cursor: &str) -> Option<String> {
    if cursor.len() > MAX_KEY_LEN * 4 / 3 + 4 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
    let sk = String::from_utf8(bytes).ok()?;
    (sk.len() <= MAX_KEY_LEN && !sk.chars().any(char::is_control)).then_some(sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_url_safe_and_gives_back_its_key() {
        for sk in ["2024-01-18T00:00:00Z#store-0001", "a b+c/d?e=f&g%h", "é#ü"] {
            let c = encode(sk);
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{c}"
            );
            assert_eq!(decode(&c).as_deref(), Some(sk));
        }
    }

    #[test]
    fn what_is_not_a_cursor_is_refused() {
        for bad in [
            "#",
            "a b",
            "AAA=",
            &"QUFB".repeat(200),
            &encode("a\nb"),
            &encode("\u{1}"),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}

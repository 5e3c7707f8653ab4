//! The embedded table store's compact binary item encoding.
//!
//! Items were stored as JSON; decoding that text (number parsing, escapes, a `String` per
//! key) was the largest share of a forecast read's CPU. This encoding keeps the same
//! [`Item`] model and round-trips every value exactly (numbers as their IEEE-754 bits):
//!
//! ```text
//! item  := MAGIC map
//! map   := len (key value){len}        key := len utf8-bytes
//! value := 0x00 len utf8-bytes          (S)
//!        | 0x01 f64 little-endian       (N)
//!        | 0x02 | 0x03                  (Bool false | true)
//!        | 0x04                         (Null)
//!        | 0x05 map                     (M)
//!        | 0x06 len value{len}          (L)
//! len   := unsigned LEB128, at most u32::MAX
//! ```
//!
//! [`decode`] also accepts the older JSON bodies (they start with `{`), so a lake written by
//! an earlier version keeps working; every write stores the binary form. Decoding never
//! panics on any input: corrupt bytes give a [`CodecError`].

use std::collections::BTreeMap;

use super::table::{Attr, Item};

/// First byte of a binary body (JSON bodies start with `{`).
pub const MAGIC: u8 = 0xB1;

const T_S: u8 = 0;
const T_N: u8 = 1;
const T_FALSE: u8 = 2;
const T_TRUE: u8 = 3;
const T_NULL: u8 = 4;
const T_M: u8 = 5;
const T_L: u8 = 6;

/// Deepest nesting of maps and lists accepted when decoding (the pipeline nests two).
const MAX_DEPTH: usize = 32;

/// A body that is neither a valid binary item nor a JSON item.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The binary form is cut short or malformed.
    #[error("corrupt item body at byte {at}: {reason}")]
    Corrupt {
        /// Offset of the problem.
        at: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A legacy JSON body that does not parse as an item.
    #[error("corrupt JSON item body")]
    Json(#[from] serde_json::Error),
}

/// Encodes an item into its binary body (starting with [`MAGIC`]).
pub fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(MAGIC);
    put_map(&mut out, item);
    out
}

/// Decodes a body written by [`encode`] or, for lakes written before it, as JSON.
pub fn decode(body: &[u8]) -> Result<Item, CodecError> {
    match body.first() {
        Some(&MAGIC) => {
            let mut r = Reader { buf: body, at: 1 };
            let item = r.map(0)?;
            if r.at != body.len() {
                return Err(r.corrupt("trailing bytes"));
            }
            Ok(item)
        }
        _ => Ok(serde_json::from_slice(body)?),
    }
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_map(out: &mut Vec<u8>, map: &BTreeMap<String, Attr>) {
    put_len(out, map.len());
    for (k, v) in map {
        put_str(out, k);
        put_value(out, v);
    }
}

fn put_value(out: &mut Vec<u8>, v: &Attr) {
    match v {
        Attr::S(s) => {
            out.push(T_S);
            put_str(out, s);
        }
        Attr::N(n) => {
            out.push(T_N);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Attr::Bool(false) => out.push(T_FALSE),
        Attr::Bool(true) => out.push(T_TRUE),
        Attr::Null => out.push(T_NULL),
        Attr::M(m) => {
            out.push(T_M);
            put_map(out, m);
        }
        Attr::L(l) => {
            out.push(T_L);
            put_len(out, l.len());
            for v in l {
                put_value(out, v);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, reason: &'static str) -> CodecError {
        CodecError::Corrupt {
            at: self.at,
            reason,
        }
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .buf
            .get(self.at)
            .ok_or_else(|| self.corrupt("cut short"))?;
        self.at += 1;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        let mut n: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(n)
                    .map(|n| n as usize)
                    .map_err(|_| self.corrupt("length over u32"));
            }
        }
        Err(self.corrupt("length over u32"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.corrupt("cut short"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.len()?;
        let at = self.at;
        let bytes = self.bytes(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| CodecError::Corrupt {
                at,
                reason: "string is not UTF-8",
            })
    }

    fn map(&mut self, depth: usize) -> Result<BTreeMap<String, Attr>, CodecError> {
        let n = self.len()?;
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth)?;
            map.insert(k, v);
        }
        Ok(map)
    }

    fn value(&mut self, depth: usize) -> Result<Attr, CodecError> {
        if depth >= MAX_DEPTH {
            return Err(self.corrupt("nested too deep"));
        }
        Ok(match self.byte()? {
            T_S => Attr::S(self.string()?),
            T_N => {
                let b = self.bytes(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Attr::N(f64::from_le_bytes(a))
            }
            T_FALSE => Attr::Bool(false),
            T_TRUE => Attr::Bool(true),
            T_NULL => Attr::Null,
            T_M => Attr::M(self.map(depth + 1)?),
            T_L => {
                let n = self.len()?;
                // Every element takes at least one byte: cap the reservation by what is left.
                let mut l = Vec::with_capacity(n.min(self.buf.len() - self.at));
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Attr::L(l)
            }
            _ => {
                self.at -= 1;
                return Err(self.corrupt("unknown value tag"));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attr() -> impl Strategy<Value = Attr> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Attr::S),
            any::<f64>().prop_map(Attr::N),
            any::<bool>().prop_map(Attr::Bool),
            Just(Attr::Null),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::btree_map(any::<String>(), inner.clone(), 0..8).prop_map(Attr::M),
                prop::collection::vec(inner, 0..8).prop_map(Attr::L),
            ]
        })
    }

    fn bits_eq(a: &Attr, b: &Attr) -> bool {
        match (a, b) {
            (Attr::N(x), Attr::N(y)) => x.to_bits() == y.to_bits(),
            (Attr::M(x), Attr::M(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, va), (kb, vb))| ka == kb && bits_eq(va, vb))
            }
            (Attr::L(x), Attr::L(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| bits_eq(a, b))
            }
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn every_item_round_trips_bit_for_bit(
            item in prop::collection::btree_map(any::<String>(), attr(), 0..12)
        ) {
            let body = encode(&item);
            prop_assert_eq!(body[0], MAGIC);
            let back = decode(&body).unwrap();
            prop_assert!(bits_eq(&Attr::M(item), &Attr::M(back)));
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(mut bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Some(b) = bytes.first_mut() { *b = MAGIC; }
            let _ = decode(&bytes);
        }

        #[test]
        fn every_cut_of_a_body_is_refused(
            item in prop::collection::btree_map(any::<String>(), attr(), 1..6),
            cut in any::<prop::sample::Index>()
        ) {
            let body = encode(&item);
            let cut = 1 + cut.index(body.len() - 1);
            prop_assert!(decode(&body[..cut]).is_err());
        }
    }

    #[test]
    fn json_bodies_of_earlier_versions_still_decode() {
        let json = br#"{"metric_id":{"S":"G"},"yhat":{"N":1.5},"ok":{"Bool":true},"x":"Null"}"#;
        let item = decode(json).unwrap();
        assert_eq!(item["metric_id"], Attr::S("G".into()));
        assert_eq!(item["yhat"], Attr::N(1.5));
        assert_eq!(item["ok"], Attr::Bool(true));
        assert_eq!(item["x"], Attr::Null);
        // And the binary form of the same item is what a write stores.
        assert_eq!(decode(&encode(&item)).unwrap(), item);
    }

    #[test]
    fn corrupt_bodies_name_the_problem() {
        let mut body = encode(&Item::from([("a".to_string(), Attr::S("bc".into()))]));
        body.push(0);
        let e = decode(&body).unwrap_err().to_string();
        assert!(e.contains("trailing bytes"), "{e}");
        let e = decode(&[MAGIC, 1, 1, b'a', 9]).unwrap_err().to_string();
        assert!(
            e.contains("unknown value tag") && e.contains("byte 4"),
            "{e}"
        );
        let e = decode(&[MAGIC, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .unwrap_err()
            .to_string();
        assert!(e.contains("length over u32"), "{e}");
        assert!(decode(b"{not json").is_err());
        assert!(decode(b"").is_err());
    }
}

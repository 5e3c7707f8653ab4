//! The web dashboard: `GET /` serves its page and `GET /assets/{name}` its scripts and
//! styles, all compiled into the binary from `web/` (so the API Lambda and `gras serve`
//! need no files and the page no CDN: it works offline and inside a VPC).
//!
//! Asset names carry a content hash (`app.3f2a….js`), so they are cached for a year and a
//! new build is never mixed with an old one; the page itself is never cached. Every
//! response carries a strict Content-Security-Policy: scripts, styles and API calls only
//! from this origin, no inline code, no frames. The page keeps an API token in the tab's
//! `sessionStorage` and sends it as `Authorization: Bearer`, never as a cookie, so there
//! is nothing for a cross-site request to ride on.

use std::sync::LazyLock;

use axum::http::header;
use axum::http::HeaderValue;

use super::*;

/// The Content-Security-Policy of every dashboard response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its source name (as `index.html` refers to it), the hashed name it
/// is served under, its content type and bytes.
struct Asset {
    source: &'static str,
    served: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The embedded files, hashed once.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let files: [(&str, &str, &[u8]); 4] = [
        (
            "app.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../../web/src/app.js"),
        ),
        (
            "app.css",
            "text/css; charset=utf-8",
            include_bytes!("../../../web/src/app.css"),
        ),
        (
            "uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../../web/vendor/uPlot.iife.min.js"),
        ),
        (
            "uPlot.min.css",
            "text/css; charset=utf-8",
            include_bytes!("../../../web/vendor/uPlot.min.css"),
        ),
    ];
    files
        .into_iter()
        .map(|(source, content_type, bytes)| Asset {
            source,
            served: hashed_name(source, bytes),
            content_type,
            bytes,
        })
        .collect()
});

/// The page, with each `{{source}}` replaced by its asset's URL.
static INDEX: LazyLock<String> = LazyLock::new(|| {
    let mut page = include_str!("../../../web/src/index.html").to_string();
    for a in ASSETS.iter() {
        page = page.replace(
            &format!("{{{{{}}}}}", a.source),
            &format!("/assets/{}", a.served),
        );
    }
    page
});

/// `name.ext` as `name.<16 hex digits of its content's xxh3>.ext`.
fn hashed_name(source: &str, bytes: &[u8]) -> String {
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
    match source.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{source}.{hash}"),
    }
}

/// The headers every dashboard response carries.
fn secured(mut r: Response, cache: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /`: the page (never cached: it names the current assets).
pub(super) async fn index() -> Response {
    let r = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX.as_str(),
    )
        .into_response();
    secured(r, "no-cache")
}

/// `GET /assets/{name}`: an embedded asset by its hashed name (cached for a year), or 404.
pub(super) async fn asset(p: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let name = path(p)?;
    let a = ASSETS
        .iter()
        .find(|a| a.served == name)
        .ok_or_else(|| ApiError::not_found(format!("no asset {name:?}")))?;
    let r = ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response();
    Ok(secured(r, "public, max-age=31536000, immutable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_hash_and_nothing_unresolved() {
        assert!(
            !INDEX.contains("{{"),
            "unreplaced placeholder in index.html"
        );
        for a in ASSETS.iter() {
            assert!(
                INDEX.contains(&format!("/assets/{}", a.served)),
                "{} is not linked",
                a.served
            );
            assert_ne!(a.served, a.source);
        }
    }

    #[test]
    fn a_hashed_name_changes_with_the_content() {
        assert_ne!(hashed_name("app.js", b"a"), hashed_name("app.js", b"b"));
        assert!(hashed_name("app.js", b"a").ends_with(".js"));
    }
}

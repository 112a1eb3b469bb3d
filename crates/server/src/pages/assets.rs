//! The pages' static files (style, script, logos), compiled into the binary and served by
//! Guichet itself: no third-party resource. Each file's SHA-384 is computed once at first use
//! and given to the pages as a Subresource Integrity hash (`integrity="sha384-…"`); its URL
//! carries a digest prefix, so a new build never meets an old cached copy.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha384};
use std::sync::OnceLock;

struct File {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[File] = &[
    File {
        name: "guichet.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/guichet.css"),
    },
    File {
        name: "guichet.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/guichet.js"),
    },
    File {
        name: "visa.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/visa.svg"),
    },
    File {
        name: "mastercard.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/mastercard.svg"),
    },
    File {
        name: "amex.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/amex.svg"),
    },
    File {
        name: "card.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/card.svg"),
    },
    File {
        name: "lock.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/lock.svg"),
    },
    File {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/favicon.svg"),
    },
];

/// A static file as a page refers to it.
#[derive(Debug, Clone)]
pub struct Asset {
    /// `/static/<name>?v=<digest prefix>`.
    pub url: String,
    /// `sha384-<base64>`.
    pub integrity: String,
}

/// Every file a page may refer to.
#[derive(Debug)]
pub struct Assets {
    pub css: Asset,
    pub js: Asset,
    pub visa: Asset,
    pub mastercard: Asset,
    pub amex: Asset,
    pub card: Asset,
    pub lock: Asset,
    pub favicon: Asset,
}

impl Assets {
    /// The logo of a provider's brand name (`VISA`, `MasterCard`, `American Express`), a plain
    /// card otherwise.
    pub fn logo(&self, brand: &str) -> &Asset {
        match brand_key(brand) {
            "visa" => &self.visa,
            "mastercard" => &self.mastercard,
            "amex" => &self.amex,
            _ => &self.card,
        }
    }
}

/// `visa`, `mastercard`, `amex` or `""` for a provider's brand name.
pub fn brand_key(brand: &str) -> &'static str {
    let b = brand.to_ascii_lowercase();
    if b.contains("visa") {
        "visa"
    } else if b.contains("master") {
        "mastercard"
    } else if b.contains("american") || b.contains("amex") {
        "amex"
    } else {
        ""
    }
}

fn asset(name: &str) -> Asset {
    let file = FILES
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| unreachable!("{name} is one of FILES"));
    let digest = Sha384::digest(file.bytes);
    Asset {
        url: format!("/static/{}?v={}", file.name, &hex::encode(digest)[..12]),
        integrity: format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
    }
}

pub fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| Assets {
        css: asset("guichet.css"),
        js: asset("guichet.js"),
        visa: asset("visa.svg"),
        mastercard: asset("mastercard.svg"),
        amex: asset("amex.svg"),
        card: asset("card.svg"),
        lock: asset("lock.svg"),
        favicon: asset("favicon.svg"),
    })
}

/// `GET /static/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(file) = FILES.iter().find(|f| f.name == name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ),
        ],
        file.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_an_integrity_hash_matching_its_bytes() {
        let a = assets();
        for (name, asset) in [
            ("guichet.css", &a.css),
            ("guichet.js", &a.js),
            ("visa.svg", &a.visa),
            ("favicon.svg", &a.favicon),
        ] {
            let file = FILES.iter().find(|f| f.name == name).unwrap();
            let expected =
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(file.bytes));
            assert_eq!(asset.integrity, format!("sha384-{expected}"));
            assert!(asset.url.starts_with(&format!("/static/{name}?v=")));
        }
        assert_eq!(brand_key("VISA"), "visa");
        assert_eq!(brand_key("MasterCard"), "mastercard");
        assert_eq!(brand_key("American Express"), "amex");
        assert_eq!(brand_key("Maestro"), "");
    }
}

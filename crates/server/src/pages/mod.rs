//! The buyer's pages, server-rendered with askama (SPEC F1, F8, F9, F10): the payment page
//! (`pay.rs`) and the account pages (`account.rs`). Their words are in `i18n.rs` (French and
//! English), their style, script and logos in `crates/server/static/` (served by Guichet, with
//! integrity hashes: `assets.rs`), their templates in `crates/server/templates/`.
//!
//! Every page is sent with a strict Content-Security-Policy ([`page_csp`]): only Guichet's own
//! script, style and images, no inline script, forms may post only to Guichet and to the card
//! provider's origin, no framing. Every form that posts to Guichet carries a CSRF token
//! (`csrf.rs`). Card numbers and CVVs are typed into forms whose action is the provider's URL:
//! they never reach Guichet.

pub mod account;
pub mod admin;
pub mod assets;
pub mod csrf;
pub mod i18n;
pub mod pay;

use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use i18n::{Lang, Texts};
use sha2::{Digest, Sha256};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{name}", get(assets::serve))
        .merge(pay::router())
        .merge(account::router())
        .merge(admin::router())
}

/// What every page's frame shows: language, words, files, the site's name, the language link.
pub struct Chrome {
    pub lang: &'static str,
    pub t: &'static Texts,
    pub assets: &'static assets::Assets,
    pub site: String,
    /// The same page in the other language (empty: no link).
    pub switch_href: String,
    pub switch_lang: &'static str,
    pub switch_label: &'static str,
    /// The back office's section of the page (its menu marks it); empty elsewhere.
    pub section: &'static str,
}

impl Chrome {
    /// `path` is the page's own path (no query): the language link points there.
    pub fn new(lang: Lang, site: impl Into<String>, path: &str) -> Chrome {
        let other = lang.other();
        Chrome {
            lang: lang.code(),
            t: lang.texts(),
            assets: assets::assets(),
            site: site.into(),
            switch_href: if path.is_empty() {
                String::new()
            } else {
                format!("{path}?lang={}", other.code())
            },
            switch_lang: other.code(),
            switch_label: lang.texts().switch_label,
            section: "",
        }
    }

    /// One of two texts given side by side, in the page's language: `{{ page.tr("…", "…") }}`.
    pub fn tr<'a>(&self, fr: &'a str, en: &'a str) -> &'a str {
        if self.lang == "en" { en } else { fr }
    }
}

/// The Content-Security-Policy of Guichet's own pages; `form_origins` are the other origins
/// the page's forms post to (the card provider's).
pub fn page_csp(form_origins: &[String]) -> String {
    let mut forms = String::from("'self'");
    for origin in form_origins {
        if is_origin(origin) && !forms.split(' ').any(|o| o == origin) {
            forms.push(' ');
            forms.push_str(origin);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         font-src 'self'; connect-src 'self'; form-action {forms}; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    )
}

/// `scheme://host[:port]` of a URL, for CSP source lists; none for anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    is_origin(&origin).then_some(origin)
}

/// Only what can safely stand in a CSP source list.
fn is_origin(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
}

fn set(resp: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// A page with the headers every buyer page carries.
pub fn respond(status: StatusCode, csp: &str, body: impl IntoResponse) -> Response {
    let mut resp = (status, body).into_response();
    set(&mut resp, header::CONTENT_SECURITY_POLICY, csp);
    set(&mut resp, header::CACHE_CONTROL, "no-store");
    // The checkout token is in the page's URL: it must not leave in a Referer.
    set(&mut resp, header::REFERRER_POLICY, "no-referrer");
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut resp, header::X_FRAME_OPTIONS, "DENY");
    set(
        &mut resp,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    resp
}

/// A 303 to a path of Guichet (no caching).
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    set(&mut resp, header::LOCATION, location);
    set(&mut resp, header::CACHE_CONTROL, "no-store");
    set(&mut resp, header::REFERRER_POLICY, "no-referrer");
    resp
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub page: Chrome,
    pub title: &'static str,
    pub message: String,
    pub link_href: String,
    pub link_label: &'static str,
}

/// A page that only says something (errors), with an optional link.
pub fn message(
    status: StatusCode,
    lang: Lang,
    title: &'static str,
    message: impl Into<String>,
    link: Option<(String, &'static str)>,
) -> Response {
    let (link_href, link_label) = link.unwrap_or_default();
    respond(
        status,
        &page_csp(&[]),
        MessagePage {
            page: Chrome::new(lang, "Guichet", ""),
            title,
            message: message.into(),
            link_href,
            link_label,
        },
    )
}

/// 403 for a form without a valid CSRF token: nothing was read or changed.
pub fn forbidden(lang: Lang) -> Response {
    let t = lang.texts();
    message(
        StatusCode::FORBIDDEN,
        lang,
        t.forbidden_title,
        t.forbidden_message,
        None,
    )
}

/// The Content-Security-Policy for a page the provider wrote (the 3-D Secure step that posts
/// the browser to the card issuer): its inline scripts and styles allowed by their SHA-256
/// only, its forms allowed to post only where they say, nothing else.
pub fn provider_page_csp(html: &str) -> String {
    let mut scripts = Vec::new();
    let mut styles = Vec::new();
    let mut forms = vec!["'self'".to_owned()];
    let push = |list: &mut Vec<String>, v: String| {
        if !list.contains(&v) {
            list.push(v);
        }
    };
    let lower = html.to_ascii_lowercase();
    for (tag, list) in [("script", &mut scripts), ("style", &mut styles)] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(&format!("<{tag}")) {
            let start = from + i;
            let Some(end_tag) = lower[start..].find('>').map(|e| start + e) else {
                break;
            };
            let open = &html[start..=end_tag];
            if let Some(src) = attribute(open, "src") {
                if let Some(origin) = origin_of(&src) {
                    push(list, origin);
                }
                from = end_tag + 1;
                continue;
            }
            let Some(close) = lower[end_tag + 1..]
                .find(&format!("</{tag}"))
                .map(|c| end_tag + 1 + c)
            else {
                break;
            };
            let body = &html[end_tag + 1..close];
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
            push(list, format!("'sha256-{hash}'"));
            from = close;
        }
    }
    let mut from = 0;
    while let Some(i) = lower[from..].find("<form") {
        let start = from + i;
        let Some(end_tag) = lower[start..].find('>').map(|e| start + e) else {
            break;
        };
        if let Some(origin) =
            attribute(&html[start..=end_tag], "action").and_then(|a| origin_of(&a))
        {
            push(&mut forms, origin);
        }
        from = end_tag;
    }
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "'none'".to_owned()
        } else {
            v.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self'; form-action {}; \
         frame-ancestors 'none'; base-uri 'none'",
        or_none(scripts),
        or_none(styles),
        forms.join(" ")
    )
}

/// The value of `name="…"` (or `'…'`) in an opening tag, entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        let (quote, body) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => (q, &value[1..]),
            _ => return None,
        };
        let end = body.find(quote)?;
        return Some(
            body[..end]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        );
    }
    None
}

/// Serves a page the provider wrote (3-D Secure) under [`provider_page_csp`].
pub fn provider_page(html: String) -> Response {
    let csp = provider_page_csp(&html);
    respond(
        StatusCode::OK,
        &csp,
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_csp_allows_only_guichet_and_the_provider() {
        let csp = page_csp(&[
            "http://127.0.0.1:9000".to_owned(),
            "http://127.0.0.1:9000".to_owned(),
            "javascript:alert(1)".to_owned(),
            "https://evil.example; script-src *".to_owned(),
        ]);
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:9000;"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'self'"));
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(!csp.contains("evil"));
        assert_eq!(
            origin_of("https://secure.ogone.com/ncol/test/alias_gateway.asp?x=1").as_deref(),
            Some("https://secure.ogone.com")
        );
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn a_provider_page_runs_only_its_own_inline_script_and_posts_only_where_it_says() {
        let html = "<!DOCTYPE html><html><head><style>body{x:y}</style></head><body>\
            <FORM name=\"f\" method=\"post\" action=\"http://127.0.0.1:7000/ncol/test/acs.asp?a=1&amp;b=2\">\
            <input type=\"hidden\" name=\"MD\" value=\"x\"></form>\
            <script>document.forms[\"f\"].submit();</script></body></html>";
        let csp = provider_page_csp(html);
        let script = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest("document.forms[\"f\"].submit();"));
        let style = base64::engine::general_purpose::STANDARD.encode(Sha256::digest("body{x:y}"));
        assert!(
            csp.contains(&format!("script-src 'sha256-{script}';")),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("style-src 'sha256-{style}';")),
            "{csp}"
        );
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:7000;"),
            "{csp}"
        );
        assert!(csp.starts_with("default-src 'none'"));
        assert_eq!(
            provider_page_csp("<p>nothing</p>"),
            "default-src 'none'; script-src 'none'; style-src 'none'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
    }
}

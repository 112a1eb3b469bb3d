//! The back office in HTML (SPEC F13, issue 6 item 3), server-rendered like the buyer's pages
//! and under the same headers and CSP (`super::respond`, `super::page_csp`), in French (the
//! seed's) and English.
//!
//! Session: `POST /admin/login` checks the user as the JSON login does
//! (`admin::access::open_session`) and keeps the `gbo_…` token in a cookie (`guichet_admin`,
//! `HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Secure` over HTTPS, as long as the session).
//! Every page reads the session through [`Ctx`]; without one, a page answers 303 to
//! `/admin/login`. Every form carries a CSRF token (`csrf.rs`) keyed with the session token (the
//! login form: with a random pre-session cookie); [`Posted`] checks it before anything else is
//! read, so a forged or cross-origin post is answered 403 and changes nothing. Changes go
//! through the same functions as the JSON API, so roles are enforced in one place.
//!
//! Language: `?lang=fr|en` on any page, else the `guichet_admin_lang` cookie set by
//! `/admin/lang` (the header's switch), else the browser's `Accept-Language`, else French.
//! Templates write each text in both languages side by side: `{{ page.tr("…", "…") }}`.
//!
//! Sections, one module each: `modes` (payment modes and their points of sale), `contacts`
//! (the contact's tabs), `systems` (each channel's payment system and its security and 3-D
//! Secure policy), `plans` (installment plans), `followup` (installments to follow up),
//! `refunds`, `codes` (promo codes), `vouchers` (voucher products and issued vouchers) and
//! `dashboard` (the day's payments by means).

mod codes;
mod contacts;
mod dashboard;
mod followup;
mod modes;
mod plans;
mod refunds;
mod systems;
mod vouchers;

use super::csrf;
use super::i18n::Lang;
use super::{Chrome, page_csp, respond, see_other};
use crate::AppState;
use crate::admin::access::{LoginRequest, open_session};
use crate::auth::{self, Staff};
use crate::error::ApiError;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use guichet_domain::config::Role;
use time::OffsetDateTime;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/lang", get(switch_language))
        .merge(modes::router())
        .merge(contacts::router())
        .merge(systems::router())
        .merge(plans::router())
        .merge(followup::router())
        .merge(refunds::router())
        .merge(codes::router())
        .merge(vouchers::router())
        .merge(dashboard::router())
}

const COOKIE: &str = "guichet_admin";
const LOGIN_COOKIE: &str = "guichet_admin_login";
const LANG_COOKIE: &str = "guichet_admin_lang";
const PURPOSE: &str = "admin";
const LOGIN_PURPOSE: &str = "admin-login";
/// Where a signed-in user lands.
const HOME: &str = "/admin/dashboard";

/// A form or query string as pairs, in order.
pub(crate) fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// The first value of `name`, as sent.
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first value of `name`, trimmed; empty counts as absent.
pub(crate) fn opt(form: &[(String, String)], name: &str) -> Option<String> {
    field(form, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 200
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|t| token_ok(t))
}

fn cookie(state: &AppState, name: &str, value: &str, max_age_seconds: i64) -> String {
    let secure = if state.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    )
}

fn with_cookie(mut resp: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The language of a back-office request: `?lang=`, the cookie, `Accept-Language`, French.
fn language(headers: &HeaderMap, query: &[(String, String)]) -> Lang {
    if let Some(l) = field(query, "lang").and_then(Lang::parse) {
        return l;
    }
    if let Some(l) = cookie_value(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| Lang::parse(first.split(';').next().unwrap_or("")))
        .unwrap_or(Lang::Fr)
}

fn chrome(lang: Lang, section: &'static str, path: &str) -> Chrome {
    let mut page = Chrome::new(lang, "Guichet · back office", "");
    page.section = section;
    if !path.is_empty() {
        let back: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        page.switch_href = format!("/admin/lang?to={}&back={back}", lang.other().code());
    }
    page
}

/// A back-office page or form answer, under the pages' headers and CSP.
pub(crate) fn page(status: StatusCode, body: impl IntoResponse) -> Response {
    respond(status, &page_csp(&[]), body)
}

/// A refused operation, explained in the user's language, with a way back.
pub(crate) fn failure(lang: Lang, e: ApiError) -> Response {
    let message = if e.fields.is_empty() {
        e.message
    } else {
        let details: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k} : {v}")).collect();
        format!("{} ({})", e.message, details.join(" ; "))
    };
    super::message(
        e.status,
        lang,
        lang.tr("Opération refusée", "Operation refused"),
        message,
        Some((
            HOME.to_owned(),
            lang.tr("Retour au back office", "Back to the back office"),
        )),
    )
}

/// The signed-in user of a request, from the session cookie.
async fn session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Staff, String)>, ApiError> {
    let Some(token) = cookie_value(headers, COOKIE).filter(|t| t.starts_with(auth::SESSION_PREFIX))
    else {
        return Ok(None);
    };
    let token_hash = auth::sha256_hex(&token);
    let user = state
        .store
        .session_user(&token_hash, OffsetDateTime::now_utc())
        .await?;
    Ok(user.map(|user| (Staff { user, token_hash }, token)))
}

/// A signed-in back-office request: who, in which language, and what to put in its forms.
/// As an extractor it answers 303 to the login page when there is no session.
pub(crate) struct Ctx {
    pub staff: Staff,
    token: String,
    pub lang: Lang,
    /// The query string, as pairs.
    pub query: Vec<(String, String)>,
    /// The request's path (for the language switch).
    pub path: String,
}

impl Ctx {
    pub fn is_admin(&self) -> bool {
        self.staff.user.role == Role::Admin
    }

    pub fn user(&self) -> String {
        self.staff.user.username.clone()
    }

    /// A fresh CSRF token for this session's forms.
    pub fn csrf(&self) -> String {
        csrf::issue(&self.token, PURPOSE, OffsetDateTime::now_utc())
    }

    /// The page frame, `section` marking the menu entry (`modes`, `contacts`, `systems`,
    /// `plans`, `followup`, `refunds`, `codes`, `vouchers`, `dashboard`).
    pub fn chrome(&self, section: &'static str) -> Chrome {
        chrome(self.lang, section, &self.path)
    }

    /// The text of `?notice=<key>` (set by a redirect after a change), from `table`'s
    /// `(key, French, English)` rows; empty when there is none.
    pub fn notice(&self, table: &[(&str, &'static str, &'static str)]) -> &'static str {
        let Some(key) = field(&self.query, "notice") else {
            return "";
        };
        table
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, fr, en)| self.lang.tr(fr, en))
            .unwrap_or("")
    }

    pub fn failure(&self, e: ApiError) -> Response {
        failure(self.lang, e)
    }

    /// `Err(403 page)` unless the user is an admin (operators follow up; they do not configure).
    #[allow(clippy::result_large_err)] // the error is the page to answer, built once
    pub fn require_admin(&self) -> Result<(), Response> {
        self.staff.require_admin().map_err(|e| self.failure(e))
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        let lang = language(&parts.headers, &query);
        match session(state, &parts.headers).await {
            Ok(Some((staff, token))) => Ok(Ctx {
                staff,
                token,
                lang,
                query,
                path: parts.uri.path().to_owned(),
            }),
            Ok(None) => Err(see_other("/admin/login")),
            Err(e) => Err(failure(lang, e)),
        }
    }
}

/// A posted back-office form: its CSRF token is checked first (403 and nothing read
/// otherwise), then the session (303 to the login page without one).
pub(crate) struct Posted {
    pub ctx: Ctx,
    pub form: Vec<(String, String)>,
}

impl Posted {
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        opt(&self.form, name)
    }
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        let lang = language(&parts.headers, &query);
        let body = match axum::body::to_bytes(body, 256 * 1024).await {
            Ok(b) => b,
            Err(_) => {
                return Err(failure(
                    lang,
                    ApiError::unprocessable("the form is too large"),
                ));
            }
        };
        let form = pairs(&body);
        let token = cookie_value(&parts.headers, COOKIE).unwrap_or_default();
        if token.is_empty()
            || !csrf::verify(
                &token,
                PURPOSE,
                field(&form, "csrf").unwrap_or(""),
                OffsetDateTime::now_utc(),
            )
        {
            tracing::warn!("back-office form without a valid CSRF token: refused");
            return Err(super::forbidden(lang));
        }
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        Ok(Posted { ctx, form })
    }
}

/// The page the user came from, for the language switch: only a back-office path.
fn safe_back(raw: Option<&str>) -> &str {
    match raw {
        Some(p)
            if p.starts_with("/admin")
                && !p.contains("//")
                && !p.contains('\\')
                && p.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            p
        }
        _ => HOME,
    }
}

/// `GET /admin/lang?to=en&back=/admin/…`: remembers the language (a preference, no data) and
/// goes back.
async fn switch_language(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let query = pairs(q.unwrap_or_default().as_bytes());
    let lang = field(&query, "to")
        .and_then(Lang::parse)
        .unwrap_or(Lang::Fr);
    let back = safe_back(field(&query, "back"));
    with_cookie(
        see_other(back),
        &cookie(&state, LANG_COOKIE, lang.code(), 365 * 24 * 3600),
    )
}

// ---- sign-in -----------------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "admin_login.html")]
pub struct LoginPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub error: String,
}

async fn home() -> Response {
    see_other(HOME)
}

fn login_form(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    user: &str,
    error: &str,
) -> Response {
    let Ok(nonce) = auth::random_token("") else {
        return failure(lang, ApiError::internal());
    };
    let body = LoginPage {
        page: chrome(lang, "login", "/admin/login"),
        csrf: csrf::issue(&nonce, LOGIN_PURPOSE, OffsetDateTime::now_utc()),
        user: user.to_owned(),
        error: error.to_owned(),
    };
    with_cookie(
        page(status, body),
        &cookie(state, LOGIN_COOKIE, &nonce, 3600),
    )
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = language(&headers, &pairs(q.unwrap_or_default().as_bytes()));
    login_form(&state, lang, StatusCode::OK, "", "")
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let lang = language(&headers, &[]);
    let pre = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if pre.is_empty()
        || !csrf::verify(
            &pre,
            LOGIN_PURPOSE,
            field(&form, "csrf").unwrap_or(""),
            OffsetDateTime::now_utc(),
        )
    {
        tracing::warn!("back-office login form without a valid CSRF token: refused");
        return super::forbidden(lang);
    }
    let user = field(&form, "user").unwrap_or("").to_owned();
    let req = LoginRequest {
        user: user.clone(),
        password: field(&form, "password").unwrap_or("").to_owned(),
    };
    match open_session(&state, req).await {
        Ok((token, expires_at, _)) => {
            let age = (expires_at - OffsetDateTime::now_utc())
                .whole_seconds()
                .max(0);
            let resp = see_other(HOME);
            let resp = with_cookie(resp, &cookie(&state, COOKIE, &token, age));
            with_cookie(resp, &cookie(&state, LOGIN_COOKIE, "", 0))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => login_form(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            &user,
            lang.tr(
                "Identifiant ou mot de passe incorrect.",
                "Wrong user name or password.",
            ),
        ),
        Err(e) => failure(lang, e),
    }
}

async fn logout(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = posted.ctx;
    if let Err(e) = state.store.delete_session(&ctx.staff.token_hash).await {
        return ctx.failure(e.into());
    }
    with_cookie(see_other("/admin/login"), &cookie(&state, COOKIE, "", 0))
}

/// A `<select>` option.
pub struct Choice {
    pub value: String,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_query_then_the_cookie_then_the_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(language(&h, &[]), Lang::Fr);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "en-GB,en;q=0.9,fr;q=0.5".parse().unwrap(),
        );
        assert_eq!(language(&h, &[]), Lang::En);
        h.insert(header::COOKIE, "guichet_admin_lang=fr".parse().unwrap());
        assert_eq!(language(&h, &[]), Lang::Fr);
        let q = vec![("lang".to_owned(), "en".to_owned())];
        assert_eq!(language(&h, &q), Lang::En);
    }

    #[test]
    fn the_language_switch_only_goes_back_inside_the_back_office() {
        assert_eq!(safe_back(Some("/admin/contacts")), "/admin/contacts");
        assert_eq!(safe_back(Some("https://evil.example/")), HOME);
        assert_eq!(safe_back(Some("/admin//evil.example")), HOME);
        assert_eq!(safe_back(Some("/pay/x")), HOME);
        assert_eq!(safe_back(None), HOME);
    }
}

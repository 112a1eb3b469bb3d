//! The buyer's account pages (API.md "Buyer account pages"; SPEC F8, F4, F10), opened through
//! an account link (`/account?token=…`): saved cards (change the expiry date or the holder,
//! delete after a confirmation), credit balance and deferred account, installments.
//!
//! Session: opening the link checks the token and keeps it in a cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/account`, `Secure` when Guichet is served over HTTPS, no longer
//! than the link), then moves on to `/account/cards` by a same-site refresh (a Strict cookie is
//! not sent on a redirect that follows a link from another site). Every page checks the token
//! again (it expires with the link); the forms carry a CSRF token keyed with it.

use super::csrf;
use super::i18n::Lang;
use super::{Chrome, page_csp, respond, see_other};
use crate::AppState;
use crate::account::{self as api, InstallmentJson};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::Money;
use guichet_store::{Contact, SavedCard};
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(open))
        .route("/account/cards", get(cards))
        .route("/account/cards/{id}", post(change_card))
        .route(
            "/account/cards/{id}/delete",
            get(confirm_delete).post(delete_card),
        )
        .route("/account/balance", get(balance))
        .route("/account/installments", get(installments))
        .route("/account/logout", post(logout))
}

const COOKIE: &str = "guichet_account";
const PURPOSE: &str = "account";

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 200
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The account token of the session cookie.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|t| token_ok(t))
}

fn cookie(state: &AppState, value: &str, max_age_seconds: i64) -> String {
    let secure = if state.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={value}; Path=/account; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    )
}

/// The signed-in buyer of a request.
/// As an extractor: the account-link cookie's contact, or the "session expired" page.
struct Session {
    token: String,
    contact: Contact,
    lang: Lang,
    /// The request's query string, as pairs.
    query: Vec<(String, String)>,
}

impl axum::extract::FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        session(state, &parts.headers, query).await
    }
}

/// A form posted to an account page: the CSRF token is checked first (403, nothing read
/// otherwise), then the session.
struct AccountForm {
    s: Session,
    form: Vec<(String, String)>,
}

impl axum::extract::FromRequest<AppState> for AccountForm {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        let refused = || super::forbidden(Lang::pick(field(&query, "lang"), "fr"));
        let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
            return Err(refused());
        };
        let form = pairs(&body);
        let token = session_token(&parts.headers).unwrap_or_default();
        if !csrf::verify(
            &token,
            PURPOSE,
            field(&form, "csrf").unwrap_or(""),
            OffsetDateTime::now_utc(),
        ) {
            tracing::warn!("account form without a valid CSRF token: refused");
            return Err(refused());
        }
        let s = session(state, &parts.headers, query).await?;
        Ok(AccountForm { s, form })
    }
}

fn expired(lang: Lang) -> Response {
    let t = lang.texts();
    super::message(
        StatusCode::UNAUTHORIZED,
        lang,
        t.session_title,
        t.session_message,
        None,
    )
}

async fn session(
    state: &AppState,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
) -> Result<Session, Response> {
    let asked = field(&query, "lang");
    let Some(token) = session_token(headers) else {
        return Err(expired(Lang::pick(asked, "fr")));
    };
    match api::contact_of_token(state, &token).await {
        Ok(Some(contact)) => {
            let lang = Lang::pick(asked, &contact.language);
            Ok(Session {
                token,
                contact,
                lang,
                query,
            })
        }
        Ok(None) => Err(expired(Lang::pick(asked, "fr"))),
        Err(e) => {
            let lang = Lang::pick(asked, "fr");
            Err(super::message(
                e.status,
                lang,
                lang.texts().err_failed,
                e.message,
                None,
            ))
        }
    }
}

async fn site_of(state: &AppState, contact: &Contact) -> String {
    state
        .store
        .get_institution(contact.institution_id)
        .await
        .map_or_else(|_| "Guichet".to_owned(), |i| i.name)
}

fn path_with(path: &str, lang: Lang, notice: Option<&str>) -> String {
    match notice {
        Some(n) => format!("{path}?lang={}&notice={n}", lang.code()),
        None => format!("{path}?lang={}", lang.code()),
    }
}

// ---- opening the link ------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "account_open.html")]
pub struct OpenPage {
    pub page: Chrome,
    pub next: String,
}

async fn open(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let query = pairs(q.unwrap_or_default().as_bytes());
    let asked = field(&query, "lang");
    let token = field(&query, "token").unwrap_or("");
    let contact = if token_ok(token) {
        api::contact_of_token(&state, token).await.ok().flatten()
    } else {
        None
    };
    let Some(contact) = contact else {
        return expired(Lang::pick(asked, "fr"));
    };
    let lang = Lang::pick(asked, &contact.language);
    let page = OpenPage {
        page: Chrome::new(lang, site_of(&state, &contact).await, ""),
        next: path_with("/account/cards", lang, None),
    };
    let mut resp = respond(StatusCode::OK, &page_csp(&[]), page);
    if let Ok(v) = HeaderValue::from_str(&cookie(&state, token, api::LINK_MINUTES * 60)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(State(state): State<AppState>, AccountForm { s, .. }: AccountForm) -> Response {
    let t = s.lang.texts();
    let mut resp = super::message(StatusCode::OK, s.lang, t.logout, t.logged_out, None);
    if let Ok(v) = HeaderValue::from_str(&cookie(&state, "", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

// ---- cards ------------------------------------------------------------------------------------

pub struct CardRow {
    pub id: String,
    pub brand: String,
    pub logo: String,
    pub masked: String,
    pub holder: String,
    pub expiry: String,
    pub expired: bool,
    /// The edit form unfolded (after an error).
    pub open: bool,
    pub expiry_value: String,
    pub holder_value: String,
    pub expiry_error: &'static str,
    pub holder_error: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "account_cards.html")]
pub struct CardsPage {
    pub page: Chrome,
    pub buyer_name: String,
    pub buyer_email: String,
    pub tab: &'static str,
    pub lang_q: String,
    pub csrf: String,
    pub notice: &'static str,
    pub page_error: &'static str,
    pub cards: Vec<CardRow>,
}

/// What the buyer typed in a card's edit form that did not go through.
struct Edit {
    card: Uuid,
    expiry: String,
    holder: String,
    expiry_error: &'static str,
    holder_error: &'static str,
}

async fn cards_page(
    state: &AppState,
    s: &Session,
    notice: &'static str,
    page_error: &'static str,
    edit: Option<Edit>,
    status: StatusCode,
) -> Response {
    let today = OffsetDateTime::now_utc().date();
    let assets = super::assets::assets();
    let cards = match state.store.saved_cards_of_contact(s.contact.id).await {
        Ok(c) => c,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return super::message(e.status, s.lang, s.lang.texts().err_failed, e.message, None);
        }
    };
    let rows = cards
        .iter()
        .map(|c| {
            let json = api::SavedCardJson::new(c, today);
            let editing = edit.as_ref().filter(|e| e.card == c.id);
            CardRow {
                id: c.id.to_string(),
                logo: assets.logo(&c.brand).url.clone(),
                brand: c.brand.clone(),
                masked: json.masked,
                holder: json.holder.clone(),
                expiry: json.expiry.clone(),
                expired: json.expired,
                open: editing.is_some(),
                expiry_value: editing.map_or(json.expiry, |e| e.expiry.clone()),
                holder_value: editing.map_or(json.holder, |e| e.holder.clone()),
                expiry_error: editing.map_or("", |e| e.expiry_error),
                holder_error: editing.map_or("", |e| e.holder_error),
            }
        })
        .collect();
    let page = CardsPage {
        page: Chrome::new(s.lang, site_of(state, &s.contact).await, "/account/cards"),
        buyer_name: format!("{} {}", s.contact.first_name, s.contact.last_name),
        buyer_email: s.contact.email.clone(),
        tab: "cards",
        lang_q: format!("?lang={}", s.lang.code()),
        csrf: csrf::issue(&s.token, PURPOSE, OffsetDateTime::now_utc()),
        notice,
        page_error,
        cards: rows,
    };
    respond(status, &page_csp(&[]), page)
}

fn notice_of(s: &Session, query: &[(String, String)]) -> &'static str {
    let t = s.lang.texts();
    match field(query, "notice") {
        Some("updated") => t.card_updated,
        Some("deleted") => t.card_deleted,
        _ => "",
    }
}

async fn cards(State(state): State<AppState>, s: Session) -> Response {
    let query = s.query.clone();
    let notice = notice_of(&s, &query);
    cards_page(&state, &s, notice, "", None, StatusCode::OK).await
}

async fn change_card(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AccountForm { s, form }: AccountForm,
) -> Response {
    let t = s.lang.texts();
    let Some(card) = own(&state, &s, &id).await else {
        return cards_page(
            &state,
            &s,
            "",
            t.err_saved_card,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    let today = OffsetDateTime::now_utc().date();
    let shown = api::SavedCardJson::new(&card, today);
    let expiry = field(&form, "expiry").unwrap_or("").trim().to_owned();
    let holder = field(&form, "holder").unwrap_or("").trim().to_owned();
    // Only what changed goes to the provider (an expired card may still change its holder).
    let new_expiry = (expiry != shown.expiry).then_some(expiry.as_str());
    let new_holder = (holder != shown.holder).then_some(holder.as_str());
    if new_expiry.is_none() && new_holder.is_none() {
        return see_other(&path_with("/account/cards", s.lang, None));
    }
    match api::change_card_of(&state, &s.contact, card.id, new_expiry, new_holder).await {
        Ok(_) => see_other(&path_with("/account/cards", s.lang, Some("updated"))),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY && !e.fields.is_empty() => {
            let edit = Edit {
                card: card.id,
                expiry_error: if e.fields.contains_key("expiry") {
                    t.err_account_expiry
                } else {
                    ""
                },
                holder_error: if e.fields.contains_key("holder") {
                    t.err_holder
                } else {
                    ""
                },
                expiry,
                holder,
            };
            cards_page(
                &state,
                &s,
                "",
                "",
                Some(edit),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => {
            tracing::warn!(code = e.code, "saved card change refused");
            let edit = Edit {
                card: card.id,
                expiry,
                holder,
                expiry_error: "",
                holder_error: "",
            };
            cards_page(&state, &s, "", t.err_card_change, Some(edit), e.status).await
        }
    }
}

async fn own(state: &AppState, s: &Session, id: &str) -> Option<SavedCard> {
    let id = Uuid::parse_str(id).ok()?;
    api::own_card(state, &s.contact, id).await.ok()
}

#[derive(Template, WebTemplate)]
#[template(path = "account_delete.html")]
pub struct DeletePage {
    pub page: Chrome,
    pub buyer_name: String,
    pub buyer_email: String,
    pub tab: &'static str,
    pub lang_q: String,
    pub csrf: String,
    pub notice: &'static str,
    pub page_error: &'static str,
    pub id: String,
    pub logo: String,
    pub brand: String,
    pub masked: String,
    pub holder: String,
    pub expiry: String,
}

async fn confirm_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    s: Session,
) -> Response {
    let Some(card) = own(&state, &s, &id).await else {
        let t = s.lang.texts();
        return cards_page(
            &state,
            &s,
            "",
            t.err_saved_card,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    let json = api::SavedCardJson::new(&card, OffsetDateTime::now_utc().date());
    let page = DeletePage {
        page: Chrome::new(s.lang, site_of(&state, &s.contact).await, ""),
        buyer_name: format!("{} {}", s.contact.first_name, s.contact.last_name),
        buyer_email: s.contact.email.clone(),
        tab: "cards",
        lang_q: format!("?lang={}", s.lang.code()),
        csrf: csrf::issue(&s.token, PURPOSE, OffsetDateTime::now_utc()),
        notice: "",
        page_error: "",
        id: card.id.to_string(),
        logo: super::assets::assets().logo(&card.brand).url.clone(),
        brand: card.brand.clone(),
        masked: json.masked,
        holder: json.holder,
        expiry: json.expiry,
    };
    respond(StatusCode::OK, &page_csp(&[]), page)
}

async fn delete_card(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AccountForm { s, .. }: AccountForm,
) -> Response {
    let t = s.lang.texts();
    let Some(card) = own(&state, &s, &id).await else {
        return cards_page(
            &state,
            &s,
            "",
            t.err_saved_card,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    match api::delete_card_of(&state, &s.contact, card.id).await {
        Ok(()) => see_other(&path_with("/account/cards", s.lang, Some("deleted"))),
        Err(e) => {
            tracing::warn!(code = e.code, "saved card deletion refused");
            cards_page(&state, &s, "", t.err_card_change, None, e.status).await
        }
    }
}

// ---- balance and installments -------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "account_balance.html")]
pub struct BalancePage {
    pub page: Chrome,
    pub buyer_name: String,
    pub buyer_email: String,
    pub tab: &'static str,
    pub lang_q: String,
    pub csrf: String,
    pub notice: &'static str,
    pub page_error: &'static str,
    pub credit: String,
    pub deferred_allowed: bool,
    pub deferred_balance: String,
    pub deferred_max: String,
    pub deferred_room: String,
}

async fn balance(State(state): State<AppState>, s: Session) -> Response {
    let tab = match state.store.accounting_tab(s.contact.id).await {
        Ok(tab) => tab,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return super::message(e.status, s.lang, s.lang.texts().err_failed, e.message, None);
        }
    };
    let page = BalancePage {
        page: Chrome::new(
            s.lang,
            site_of(&state, &s.contact).await,
            "/account/balance",
        ),
        buyer_name: format!("{} {}", s.contact.first_name, s.contact.last_name),
        buyer_email: s.contact.email.clone(),
        tab: "balance",
        lang_q: format!("?lang={}", s.lang.code()),
        csrf: csrf::issue(&s.token, PURPOSE, OffsetDateTime::now_utc()),
        notice: "",
        page_error: "",
        credit: tab.credit_balance.to_string(),
        deferred_allowed: tab.deferred_allowed,
        deferred_balance: tab.deferred_balance.to_string(),
        deferred_max: tab.deferred_max.to_string(),
        deferred_room: crate::checkout::deferred_room(&tab).to_string(),
    };
    respond(StatusCode::OK, &page_csp(&[]), page)
}

pub struct InstallmentRowView {
    pub number: u8,
    pub due: String,
    pub amount: String,
    pub status: &'static str,
    pub status_key: String,
}

pub struct OrderInstallments {
    pub id: String,
    pub short: String,
    pub rows: Vec<InstallmentRowView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "account_installments.html")]
pub struct InstallmentsPage {
    pub page: Chrome,
    pub buyer_name: String,
    pub buyer_email: String,
    pub tab: &'static str,
    pub lang_q: String,
    pub csrf: String,
    pub notice: &'static str,
    pub page_error: &'static str,
    pub orders: Vec<OrderInstallments>,
}

async fn installments(State(state): State<AppState>, s: Session) -> Response {
    let t = s.lang.texts();
    let rows: Vec<InstallmentJson> = match api::installments_of(&state, &s.contact).await {
        Ok(r) => r,
        Err(e) => return super::message(e.status, s.lang, t.err_failed, e.message, None),
    };
    let mut orders: Vec<OrderInstallments> = Vec::new();
    for r in rows {
        let status = match r.status.as_str() {
            "paid" => t.status_paid,
            "failed" => t.status_failed,
            "cancelled" => t.status_cancelled,
            _ => t.status_open,
        };
        let due = time::Date::parse(
            &r.due_on,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_or_else(|_| r.due_on.clone(), |d| s.lang.date(d));
        let currency = guichet_domain::Currency::from_code(&r.amount.currency).ok();
        let view = InstallmentRowView {
            number: r.number,
            due,
            amount: currency.map_or_else(
                || r.amount.amount_minor.to_string(),
                |c| Money::new(r.amount.amount_minor, c).to_string(),
            ),
            status,
            status_key: r.status.clone(),
        };
        let id = r.order_id.to_string();
        match orders.iter_mut().find(|o| o.id == id) {
            Some(o) => o.rows.push(view),
            None => orders.push(OrderInstallments {
                short: id[id.len() - 8..].to_ascii_uppercase(),
                id,
                rows: vec![view],
            }),
        }
    }
    let page = InstallmentsPage {
        page: Chrome::new(
            s.lang,
            site_of(&state, &s.contact).await,
            "/account/installments",
        ),
        buyer_name: format!("{} {}", s.contact.first_name, s.contact.last_name),
        buyer_email: s.contact.email.clone(),
        tab: "installments",
        lang_q: format!("?lang={}", s.lang.code()),
        csrf: csrf::issue(&s.token, PURPOSE, OffsetDateTime::now_utc()),
        notice: "",
        page_error: "",
        orders,
    };
    respond(StatusCode::OK, &page_csp(&[]), page)
}

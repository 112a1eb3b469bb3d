//! The back office in HTML (SPEC F13, issue 6 item 3), in French, server-rendered like the
//! buyer's pages and under the same headers and CSP (`super::respond`, `super::page_csp`):
//! sign-in, payment modes (list, the seed's creation form, association with a point of sale)
//! and a contact's "Gestion" tab (the accounting block).
//!
//! Session: `POST /admin/login` checks the user as the JSON login does
//! (`admin::access::open_session`) and keeps the `gbo_…` token in a cookie (`guichet_admin`,
//! `HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Secure` over HTTPS, as long as the session).
//! Every page checks the session again; without one, a page answers 303 to `/admin/login`.
//! Every form carries a CSRF token (`csrf.rs`) keyed with the session token (the login form:
//! with a random pre-session cookie), checked before anything is read: a forged or
//! cross-origin post is answered 403 and changes nothing. Changes go through the same
//! functions as the JSON API (`create_mode`, `associate_mode`, `update_contact`), so roles
//! are enforced there: an operator's change of the accounting block is refused (403).

use super::csrf;
use super::i18n::Lang;
use super::{Chrome, page_csp, respond, see_other};
use crate::AppState;
use crate::admin::access::{LoginRequest, open_session};
use crate::admin::contacts::{UpdateContactRequest, update_contact};
use crate::admin::payment_modes::{
    AssociateRequest, PaymentModeRequest, associate_mode, create_mode,
};
use crate::auth::{self, Staff};
use crate::error::ApiError;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::Money;
use guichet_domain::config::{PaymentModeStatus, PaymentModeType, Role};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/payment-modes", get(modes_page).post(create))
        .route("/admin/payment-modes/associate", post(associate))
        .route("/admin/contacts", get(contacts_page))
        .route("/admin/contacts/{id}", get(contact_page))
        .route("/admin/contacts/{id}/accounting", post(change_accounting))
}

const COOKIE: &str = "guichet_admin";
const LOGIN_COOKIE: &str = "guichet_admin_login";
const PURPOSE: &str = "admin";
const LOGIN_PURPOSE: &str = "admin-login";

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

fn chrome() -> Chrome {
    Chrome::new(Lang::Fr, "Guichet · back office", "")
}

fn page(status: StatusCode, body: impl axum::response::IntoResponse) -> Response {
    respond(status, &page_csp(&[]), body)
}

/// The signed-in user of a request, from the session cookie.
async fn staff_of(state: &AppState, headers: &HeaderMap) -> Result<(Staff, String), Response> {
    let token = cookie_value(headers, COOKIE)
        .filter(|t| t.starts_with(auth::SESSION_PREFIX))
        .ok_or_else(|| see_other("/admin/login"))?;
    let token_hash = auth::sha256_hex(&token);
    match state
        .store
        .session_user(&token_hash, OffsetDateTime::now_utc())
        .await
    {
        Ok(Some(user)) => Ok((Staff { user, token_hash }, token)),
        Ok(None) => Err(see_other("/admin/login")),
        Err(e) => Err(failure(ApiError::from(e))),
    }
}

/// The session of a posted form, once its CSRF token is checked (before anything else).
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<(Staff, String), Response> {
    let token = cookie_value(headers, COOKIE).unwrap_or_default();
    if token.is_empty()
        || !csrf::verify(
            &token,
            PURPOSE,
            field(form, "csrf").unwrap_or(""),
            OffsetDateTime::now_utc(),
        )
    {
        tracing::warn!("back-office form without a valid CSRF token: refused");
        return Err(super::forbidden(Lang::Fr));
    }
    staff_of(state, headers).await
}

fn failure(e: ApiError) -> Response {
    let message = if e.fields.is_empty() {
        e.message
    } else {
        let details: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k} : {v}")).collect();
        format!("{} ({})", e.message, details.join(" ; "))
    };
    super::message(
        e.status,
        Lang::Fr,
        "Opération refusée",
        message,
        Some(("/admin/payment-modes".to_owned(), "Retour au back office")),
    )
}

fn notice_of(query: Option<String>) -> &'static str {
    let query = pairs(query.unwrap_or_default().as_bytes());
    match field(&query, "notice") {
        Some("created") => "Mode de règlement créé.",
        Some("associated") => "Mode de règlement associé au point de vente.",
        Some("saved") => "Modifications enregistrées.",
        _ => "",
    }
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
    see_other("/admin/payment-modes")
}

fn login_form(state: &AppState, status: StatusCode, user: &str, error: &str) -> Response {
    let Ok(nonce) = auth::random_token("") else {
        return failure(ApiError::internal());
    };
    let body = LoginPage {
        page: chrome(),
        csrf: csrf::issue(&nonce, LOGIN_PURPOSE, OffsetDateTime::now_utc()),
        user: user.to_owned(),
        error: error.to_owned(),
    };
    with_cookie(
        page(status, body),
        &cookie(state, LOGIN_COOKIE, &nonce, 3600),
    )
}

async fn login_page(State(state): State<AppState>) -> Response {
    login_form(&state, StatusCode::OK, "", "")
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
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
        return super::forbidden(Lang::Fr);
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
            let resp = see_other("/admin/payment-modes");
            let resp = with_cookie(resp, &cookie(&state, COOKIE, &token, age));
            with_cookie(resp, &cookie(&state, LOGIN_COOKIE, "", 0))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &user,
            "Identifiant ou mot de passe incorrect.",
        ),
        Err(e) => failure(e),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let (staff, _) = match posted(&state, &headers, &form).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = state.store.delete_session(&staff.token_hash).await {
        return failure(e.into());
    }
    with_cookie(see_other("/admin/login"), &cookie(&state, COOKIE, "", 0))
}

// ---- payment modes ---------------------------------------------------------------------------

pub struct ModeRow {
    pub id: String,
    pub code: String,
    pub internal_name: String,
    pub name_fr: String,
    pub name_en: String,
    pub mode_type: &'static str,
    pub status: &'static str,
    pub predetermined: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

pub struct PosRow {
    pub name: String,
    pub modes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_modes.html")]
pub struct ModesPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub modes: Vec<ModeRow>,
    pub institutions: Vec<Choice>,
    pub points_of_sale: Vec<PosRow>,
    pub pos_choices: Vec<Choice>,
    pub mode_choices: Vec<Choice>,
    pub types: Vec<Choice>,
    pub statuses: Vec<Choice>,
}

fn type_label(t: PaymentModeType) -> &'static str {
    match t {
        PaymentModeType::Card => "Carte bancaire",
        PaymentModeType::Voucher => "Bon d'achat",
        PaymentModeType::CreditBalance => "Avoir",
        PaymentModeType::DeferredAccount => "Compte différé",
        PaymentModeType::Cash => "Espèces",
        PaymentModeType::Cheque => "Chèque",
    }
}

fn status_label(s: PaymentModeStatus) -> &'static str {
    match s {
        PaymentModeStatus::Visible => "Visible",
        PaymentModeStatus::Hidden => "Masqué",
        PaymentModeStatus::Archived => "Archivé",
    }
}

async fn modes_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let (staff, token) = match staff_of(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match render_modes(&state, &staff, &token, notice_of(q)).await {
        Ok(resp) => resp,
        Err(e) => failure(e),
    }
}

async fn render_modes(
    state: &AppState,
    staff: &Staff,
    token: &str,
    notice: &'static str,
) -> Result<Response, ApiError> {
    let store = &state.store;
    let modes = store.list_payment_modes(None).await?;
    let institutions = store.list_institutions().await?;
    let points = store.list_points_of_sale(None).await?;
    let mut points_of_sale = Vec::new();
    for p in &points {
        let at = store.point_of_sale_payment_modes(p.id).await?;
        let codes: Vec<&str> = at.iter().map(|m| m.fields.code.as_str()).collect();
        points_of_sale.push(PosRow {
            name: p.name.clone(),
            modes: codes.join(", "),
        });
    }
    let body = ModesPage {
        page: chrome(),
        csrf: csrf::issue(token, PURPOSE, OffsetDateTime::now_utc()),
        user: staff.user.username.clone(),
        is_admin: staff.user.role == Role::Admin,
        notice,
        mode_choices: modes
            .iter()
            .map(|m| Choice {
                value: m.id.to_string(),
                label: format!("{} — {}", m.fields.code.as_str(), m.fields.internal_name),
            })
            .collect(),
        modes: modes
            .iter()
            .map(|m| ModeRow {
                id: m.id.to_string(),
                code: m.fields.code.as_str().to_owned(),
                internal_name: m.fields.internal_name.clone(),
                name_fr: m.fields.public_names.get("fr").unwrap_or("").to_owned(),
                name_en: m.fields.public_names.get("en").unwrap_or("").to_owned(),
                mode_type: type_label(m.fields.mode_type),
                status: status_label(m.fields.status),
                predetermined: m.fields.predetermined,
            })
            .collect(),
        institutions: institutions
            .iter()
            .map(|i| Choice {
                value: i.id.to_string(),
                label: i.name.clone(),
            })
            .collect(),
        pos_choices: points
            .iter()
            .map(|p| Choice {
                value: p.id.to_string(),
                label: p.name.clone(),
            })
            .collect(),
        points_of_sale,
        types: PaymentModeType::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str().to_owned(),
                label: type_label(*t).to_owned(),
            })
            .collect(),
        statuses: PaymentModeStatus::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str().to_owned(),
                label: status_label(*s).to_owned(),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, body))
}

fn opt(form: &[(String, String)], name: &str) -> Option<String> {
    field(form, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let (staff, _) = match posted(&state, &headers, &form).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut names = BTreeMap::new();
    for lang in ["fr", "en"] {
        if let Some(n) = opt(&form, &format!("name_{lang}")) {
            names.insert(lang.to_owned(), n);
        }
    }
    let institution_id = match opt(&form, "institution_id").map(|v| v.parse::<Uuid>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return failure(ApiError::unprocessable("institution_id: not an id"));
        }
        None => None,
    };
    let req = PaymentModeRequest {
        institution_id,
        code: opt(&form, "code"),
        internal_name: opt(&form, "internal_name"),
        public_names: (!names.is_empty()).then_some(names),
        mode_type: opt(&form, "type"),
        status: opt(&form, "status"),
        predetermined: Some(field(&form, "predetermined").is_some()),
        available_for_payment: None,
        available_for_refund: None,
        min_order: None,
        max_order: None,
    };
    match create_mode(&state, &staff, req).await {
        Ok(_) => see_other("/admin/payment-modes?notice=created"),
        Err(e) => failure(e),
    }
}

async fn associate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let (staff, _) = match posted(&state, &headers, &form).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(Ok(pos)) = opt(&form, "point_of_sale_id").map(|v| v.parse::<Uuid>()) else {
        return failure(ApiError::unprocessable("point_of_sale_id: required"));
    };
    let mode = opt(&form, "payment_mode_id").and_then(|v| v.parse::<Uuid>().ok());
    let req = AssociateRequest {
        payment_mode_id: mode,
    };
    match associate_mode(&state, &staff, pos, req).await {
        Ok(_) => see_other("/admin/payment-modes?notice=associated"),
        Err(e) => failure(e),
    }
}

// ---- contacts --------------------------------------------------------------------------------

pub struct ContactRow {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_contacts.html")]
pub struct ContactsPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub contacts: Vec<ContactRow>,
}

async fn contacts_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, token) = match staff_of(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let rows = match state.store.list_contacts(None, 500).await {
        Ok(r) => r,
        Err(e) => return failure(e.into()),
    };
    page(
        StatusCode::OK,
        ContactsPage {
            page: chrome(),
            csrf: csrf::issue(&token, PURPOSE, OffsetDateTime::now_utc()),
            user: staff.user.username,
            contacts: rows
                .into_iter()
                .map(|c| ContactRow {
                    id: c.id.to_string(),
                    name: format!("{} {}", c.first_name, c.last_name),
                    email: c.email,
                })
                .collect(),
        },
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_contact.html")]
pub struct ContactPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub id: String,
    pub name: String,
    pub email: String,
    pub language: String,
    pub currency: String,
    pub credit_balance: String,
    pub deferred_allowed: bool,
    pub deferred_balance: String,
    pub deferred_max: String,
    pub deferred_room: String,
    pub max_error: String,
}

async fn contact_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    RawQuery(q): RawQuery,
) -> Response {
    let (staff, token) = match staff_of(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    render_contact(&state, &staff, &token, id, notice_of(q), StatusCode::OK, "").await
}

async fn render_contact(
    state: &AppState,
    staff: &Staff,
    token: &str,
    id: Uuid,
    notice: &'static str,
    status: StatusCode,
    max_error: &str,
) -> Response {
    let (contact, tab) = match async {
        let c = state.store.get_contact(id).await?;
        let t = state.store.accounting_tab(id).await?;
        Ok::<_, guichet_store::StoreError>((c, t))
    }
    .await
    {
        Ok(v) => v,
        Err(e) => return failure(e.into()),
    };
    let room = crate::checkout::deferred_room(&tab);
    page(
        status,
        ContactPage {
            page: chrome(),
            csrf: csrf::issue(token, PURPOSE, OffsetDateTime::now_utc()),
            user: staff.user.username.clone(),
            is_admin: staff.user.role == Role::Admin,
            notice,
            id: contact.id.to_string(),
            name: format!("{} {}", contact.first_name, contact.last_name),
            email: contact.email,
            language: contact.language,
            currency: contact.currency.code().to_owned(),
            credit_balance: tab.credit_balance.to_string(),
            deferred_allowed: tab.deferred_allowed,
            deferred_balance: tab.deferred_balance.to_string(),
            deferred_max: tab.deferred_max.format_amount(),
            deferred_room: room.to_string(),
            max_error: max_error.to_owned(),
        },
    )
}

async fn change_accounting(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let (staff, token) = match posted(&state, &headers, &form).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let contact = match state.store.get_contact(id).await {
        Ok(c) => c,
        Err(e) => return failure(e.into()),
    };
    let raw_max = field(&form, "deferred_max")
        .unwrap_or("")
        .trim()
        .replace(',', ".");
    let max = match Money::parse_amount(&raw_max, contact.currency) {
        Ok(m) if !m.is_negative() => m,
        _ => {
            if let Err(e) = staff.require_admin() {
                return failure(e);
            }
            return render_contact(
                &state,
                &staff,
                &token,
                id,
                "",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Montant invalide : un nombre positif, par exemple 150,00.",
            )
            .await;
        }
    };
    let req = UpdateContactRequest {
        first_name: None,
        last_name: None,
        email: None,
        language: None,
        deferred_allowed: Some(field(&form, "deferred_allowed") == Some("yes")),
        deferred_max_minor: Some(max.amount_minor()),
    };
    match update_contact(&state, &staff, id, req).await {
        Ok(_) => see_other(&format!("/admin/contacts/{id}?notice=saved")),
        Err(e) => failure(e),
    }
}

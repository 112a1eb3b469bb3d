//! The checkout API (API.md): what the payment page and mobile apps call. The order's checkout
//! token is the credential; only its SHA-256 is stored.

use crate::AppState;
use crate::admin::MoneyJson;
use crate::auth;
use crate::checkout::{self, CodeKind};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::idempotency::{self, JsonResult};
use crate::orders::OrderJson;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Json, Response};
use guichet_domain::Money;
use guichet_domain::config::{PaymentModeStatus, PaymentModeType};
use guichet_domain::settlement::Remainder;
use guichet_store::{Order, OrderStatus};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The client's address, for rate limits; "unknown" when the server runs without it.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

async fn order_of(state: &AppState, token: &str) -> ApiResult<Order> {
    if token.len() > 100 {
        return Err(ApiError::not_found("checkout"));
    }
    state
        .store
        .order_by_token_hash(&auth::sha256_hex(token))
        .await
        .map_err(|_| ApiError::not_found("checkout"))
}

#[derive(Serialize, ToSchema)]
pub struct CreditOffer {
    pub available: MoneyJson,
    pub in_use: MoneyJson,
}

#[derive(Serialize, ToSchema)]
pub struct DeferredOffer {
    pub allowed: bool,
    pub room: MoneyJson,
}

/// The provider's card form (Ogone Alias Gateway): the browser posts the buyer's card fields
/// (`CN`, `CARDNO`, `ED` as MMYY, `CVC`) with these hidden fields straight to `url`; the
/// provider redirects back with a signed alias, which `pay` takes as `card_alias_return`.
#[derive(Serialize, ToSchema)]
pub struct CardFormJson {
    pub url: String,
    pub method: String,
    pub fields: std::collections::BTreeMap<String, String>,
}

impl From<crate::psp::CardForm> for CardFormJson {
    fn from(f: crate::psp::CardForm) -> Self {
        CardFormJson {
            url: f.url,
            method: "POST".to_owned(),
            fields: f.fields.into_iter().collect(),
        }
    }
}

/// A saved card on offer: one tap, then the CVV in `cvv_form` when the policy asks for it.
#[derive(Serialize, ToSchema)]
pub struct SavedCardOffer {
    #[serde(flatten)]
    pub card: crate::account::SavedCardJson,
    /// The browser posts `CVC` with these hidden fields to the provider; `pay` takes the
    /// redirect's query as `card_alias_return` with `saved_card`.
    pub cvv_form: Option<CardFormJson>,
}

/// One installment of a plan's schedule.
#[derive(Serialize, ToSchema)]
pub struct ScheduleLine {
    pub number: u8,
    /// `YYYY-MM-DD`; the first is charged now.
    pub due_on: String,
    pub amount: MoneyJson,
}

/// An installment plan offered for this order, with its schedule.
#[derive(Serialize, ToSchema)]
pub struct PlanOffer {
    pub id: uuid::Uuid,
    pub name: String,
    pub count: u8,
    pub schedule: Vec<ScheduleLine>,
}

#[derive(Serialize, ToSchema)]
pub struct Means {
    pub vouchers_accepted: bool,
    pub card: bool,
    /// For a new card (absent when the channel's provider uses a hosted page instead).
    pub card_form: Option<CardFormJson>,
    /// For a new card the buyer saves ("save this card"), when the policy allows it; also the
    /// form to use with an installment plan (the card is kept for the later installments).
    pub card_form_save: Option<CardFormJson>,
    /// The contact's saved cards (expired ones shown, not payable).
    pub saved_cards: Vec<SavedCardOffer>,
    /// Whether a saved card needs its CVV again.
    pub cvv_required: bool,
    /// Installment plans offered for what the card pays.
    pub installment_plans: Vec<PlanOffer>,
    pub credit_balance: Option<CreditOffer>,
    pub deferred_account: Option<DeferredOffer>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckoutJson {
    pub order: OrderJson,
    pub means: Means,
    /// The buyer must accept the terms and conditions before paying.
    pub terms_required: bool,
}

/// The checkout summary: the order, the means on offer (with the provider's card forms for
/// this token) and whether terms must be accepted. The payment page renders the same.
pub async fn summary(state: &AppState, order: &Order, token: &str) -> ApiResult<CheckoutJson> {
    let modes: Vec<PaymentModeType> = state
        .store
        .point_of_sale_payment_modes(order.point_of_sale_id)
        .await?
        .into_iter()
        .filter(|m| m.fields.status == PaymentModeStatus::Visible && m.fields.available_for_payment)
        .map(|m| m.fields.mode_type)
        .collect();
    let json = OrderJson::build(state, order).await?;
    let mut means = Means {
        vouchers_accepted: modes.contains(&PaymentModeType::Voucher),
        card: modes.contains(&PaymentModeType::Card),
        card_form: None,
        card_form_save: None,
        saved_cards: Vec::new(),
        cvv_required: false,
        installment_plans: Vec::new(),
        credit_balance: None,
        deferred_account: None,
    };
    if means.card && order.status == OrderStatus::AwaitingPayment {
        let forms = crate::cards::card_forms(state, order, token).await?;
        let today = OffsetDateTime::now_utc().date();
        means.card_form = forms.new_card.map(CardFormJson::from);
        means.cvv_required = forms.cvv_required;
        let can_keep = forms.save.is_some() || !forms.saved.is_empty();
        means.card_form_save = forms.save.map(CardFormJson::from);
        means.saved_cards = forms
            .saved
            .into_iter()
            .map(|(card, form)| SavedCardOffer {
                card: crate::account::SavedCardJson::new(&card, today),
                cvv_form: form.map(CardFormJson::from),
            })
            .collect();
        if can_keep && order.contact_id.is_some() {
            let due = checkout::figures(order)?.amount_due;
            means.installment_plans = crate::installments::offers(state, order, due, today)
                .await?
                .into_iter()
                .map(|(plan, schedule)| PlanOffer {
                    id: plan.id,
                    name: plan.name,
                    count: plan.plan.count,
                    schedule: schedule
                        .into_iter()
                        .map(|i| ScheduleLine {
                            number: i.number,
                            due_on: i.due.to_string(),
                            amount: i.amount.into(),
                        })
                        .collect(),
                })
                .collect();
        }
    }
    if let Some(contact) = order.contact_id {
        let tab = state.store.accounting_tab(contact).await?;
        if modes.contains(&PaymentModeType::CreditBalance) {
            let in_use = order
                .legs
                .iter()
                .filter(|l| {
                    l.kind == guichet_store::LegKind::CreditBalance
                        && l.status == guichet_store::HoldStatus::Held
                })
                .map(|l| l.amount.amount_minor())
                .sum::<i64>();
            means.credit_balance = Some(CreditOffer {
                available: tab.credit_balance.into(),
                in_use: Money::new(in_use, order.currency).into(),
            });
        }
        if modes.contains(&PaymentModeType::DeferredAccount) {
            let room = checkout::deferred_room(&tab);
            means.deferred_account = Some(DeferredOffer {
                allowed: tab.deferred_allowed,
                room: room.into(),
            });
        }
    }
    Ok(CheckoutJson {
        order: json,
        means,
        terms_required: order.status == OrderStatus::AwaitingPayment,
    })
}

/// The checkout's order and the request's idempotency key, for the money-moving calls.
async fn order_and_key(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
) -> ApiResult<(Order, Option<String>)> {
    let order = order_of(state, token).await?;
    Ok((order, idempotency::key_of(headers)?))
}

fn to_value<T: Serialize>(v: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

#[utoipa::path(get, path = "/api/v1/checkout/{token}", tag = "checkout",
    responses((status = 200, body = CheckoutJson), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<CheckoutJson>> {
    let order = order_of(&state, &token).await?;
    Ok(Json(summary(&state, &order, &token).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// A promo code or a gift voucher code.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodeApplied {
    /// `promo_code` or `voucher`.
    pub applied: String,
    pub checkout: CheckoutJson,
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many codes tried; wait a few minutes",
    )
}

/// Failed code attempts are counted per order and per client address in this window.
pub const CODE_WINDOW_SECONDS: u32 = 15 * 60;

#[utoipa::path(post, path = "/api/v1/checkout/{token}/codes", tag = "checkout",
    request_body = CodeRequest,
    responses((status = 200, body = CodeApplied), (status = 404), (status = 409), (status = 422), (status = 429)))]
pub async fn apply_code(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (order, key) = match order_and_key(&state, &token, &headers).await {
        Ok(x) => x,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let fp = idempotency::fingerprint(&method, "/api/v1/checkout/-/codes", &body);
    let scope = format!("checkout:{}", order.id);
    idempotency::run(&state, &scope, key, &fp, || async {
        let req: CodeRequest = idempotency::parse_json(&body)?;
        let now = OffsetDateTime::now_utc();
        let (order, kind) = apply_code_counted(&state, &order, req.code.trim(), &ip, now).await?;
        let applied = match kind {
            CodeKind::PromoCode => "promo_code",
            CodeKind::Voucher => "voucher",
        };
        let out = CodeApplied {
            applied: applied.to_owned(),
            checkout: summary(&state, &order, &token).await?,
        };
        Ok((StatusCode::OK, to_value(out)?)) as JsonResult
    })
    .await
}

/// Applies a promo code or a voucher to a checkout, refusing once too many codes failed for
/// this order, this contact or this client address ([`CODE_WINDOW_SECONDS`]): every code
/// tried counts.
pub async fn apply_code_counted(
    state: &AppState,
    order: &Order,
    code: &str,
    ip: &str,
    now: OffsetDateTime,
) -> ApiResult<(Order, CodeKind)> {
    let started = std::time::Instant::now();
    let cfg = &state.config;
    let mut buckets = vec![
        (
            format!("codes:order:{}", order.id),
            cfg.code_failures_per_order,
        ),
        (format!("codes:ip:{ip}"), cfg.code_failures_per_ip),
    ];
    if let Some(contact) = order.contact_id {
        buckets.push((
            format!("codes:contact:{contact}"),
            cfg.code_failures_per_contact,
        ));
    }
    // Every try is counted first, in the database, then compared with the limits: concurrent
    // guesses (on several instances too) cannot all slip under a limit before it is counted.
    let names: Vec<String> = buckets.iter().map(|(b, _)| b.clone()).collect();
    let tries = state
        .store
        .rate_limit_hit_many(&names, CODE_WINDOW_SECONDS, now)
        .await?;
    let over = tries
        .iter()
        .zip(&buckets)
        .any(|(tries, (_, limit))| tries > limit);
    if over {
        return Err(too_many());
    }
    match checkout::apply_code(state, order, code, now).await {
        Ok(applied) => Ok(applied),
        Err(e) => {
            if e.code == "code_not_applicable" {
                tracing::info!(order = %order.id, %ip, "code refused");
                // Unknown, expired, used up: one answer, and none sooner than another
                // (OWASP OAT-002 token cracking learns from timing too).
                if let Some(rest) = CODE_REFUSAL_FLOOR.checked_sub(started.elapsed()) {
                    tokio::time::sleep(rest).await;
                }
            }
            Err(e)
        }
    }
}

/// A refused code is answered no sooner than this after the request started.
pub const CODE_REFUSAL_FLOOR: std::time::Duration = std::time::Duration::from_millis(60);

#[utoipa::path(delete, path = "/api/v1/checkout/{token}/codes/{code}", tag = "checkout",
    responses((status = 200, body = CheckoutJson), (status = 404), (status = 409)))]
pub async fn remove_code(
    State(state): State<AppState>,
    ApiPath((token, code)): ApiPath<(String, String)>,
) -> ApiResult<Json<CheckoutJson>> {
    let order = order_of(&state, &token).await?;
    let order = checkout::remove_code(&state, order.id, &code, OffsetDateTime::now_utc()).await?;
    Ok(Json(summary(&state, &order, &token).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CreditRequest {
    /// How much of the credit balance to use; 0 to stop using it.
    pub amount_minor: i64,
}

#[utoipa::path(put, path = "/api/v1/checkout/{token}/credit-balance", tag = "checkout",
    request_body = CreditRequest,
    responses((status = 200, body = CheckoutJson), (status = 404), (status = 409), (status = 422)))]
pub async fn set_credit(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<CheckoutJson>> {
    let req: CreditRequest = idempotency::parse_json(&body)?;
    let order = order_of(&state, &token).await?;
    let amount = Money::new(req.amount_minor, order.currency);
    let order = checkout::set_credit(&state, order.id, amount, OffsetDateTime::now_utc()).await?;
    Ok(Json(summary(&state, &order, &token).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PayRequest {
    /// `none` (nothing left to pay), `deferred_account`, `card` or `saved_card`.
    pub means: String,
    pub accept_terms: Option<bool>,
    /// Ogone: the query string the provider's card form redirected to (signed alias): the new
    /// card form's, or with `saved_card` the CVV form's.
    pub card_alias_return: Option<String>,
    /// With `means: "saved_card"`: which of the contact's saved cards.
    pub saved_card: Option<uuid::Uuid>,
    /// Pay in installments with this plan (one of the summary's `installment_plans`).
    pub installment_plan: Option<uuid::Uuid>,
    /// 3-D Secure browser data (optional; the request's headers fill the rest).
    pub browser: Option<BrowserJson>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct BrowserJson {
    pub color_depth: Option<u8>,
    pub java_enabled: Option<bool>,
    pub javascript_enabled: Option<bool>,
    pub screen_height: Option<u32>,
    pub screen_width: Option<u32>,
    /// Minutes from UTC.
    pub timezone_minutes: Option<i32>,
}

/// What the browser must do next (3-D Secure or a hosted payment page).
#[derive(Serialize, ToSchema)]
pub struct ActionJson {
    /// `html` (show `html` as the page) or `form_post` (POST `fields` to `url`).
    #[serde(rename = "type")]
    pub kind: String,
    pub html: Option<String>,
    pub url: Option<String>,
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Serialize, ToSchema)]
pub struct PayResponse {
    /// `paid`, `requires_action`, `declined` (every reservation released) or `pending`
    /// (the provider's answer is not known yet; the order stays reserved until it is).
    pub status: String,
    pub order: OrderJson,
    /// Where to send the buyer back.
    pub return_url: Option<String>,
    pub action: Option<ActionJson>,
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/checkout/{token}/pay", tag = "checkout",
    request_body = PayRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays return the stored response")),
    responses((status = 200, body = PayResponse), (status = 404), (status = 409), (status = 422)))]
pub async fn pay(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (order, key) = match order_and_key(&state, &token, &headers).await {
        Ok(x) => x,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let fp = idempotency::fingerprint(&method, "/api/v1/checkout/-/pay", &body);
    let scope = format!("checkout:{}", order.id);
    idempotency::run(&state, &scope, key, &fp, || async {
        let req: PayRequest = idempotency::parse_json(&body)?;
        if req.accept_terms != Some(true) {
            let mut f = crate::error::Fields::new();
            f.add("accept_terms", "the terms and conditions must be accepted");
            f.finish()?;
        }
        let means = match req.means.as_str() {
            "saved_card" => Remainder::Card,
            other => Remainder::parse(other).map_err(|e| {
                let mut f = crate::error::Fields::new();
                f.add("means", e.to_string());
                f.finish().err().unwrap_or_else(ApiError::internal)
            })?,
        };
        let now = OffsetDateTime::now_utc();
        if means == Remainder::Card {
            let b = req.browser.unwrap_or_default();
            let card = crate::cards::CardRequest {
                alias_return: req.card_alias_return,
                browser: crate::psp::Browser {
                    color_depth: b.color_depth,
                    java_enabled: b.java_enabled,
                    javascript_enabled: b.javascript_enabled,
                    screen_height: b.screen_height,
                    screen_width: b.screen_width,
                    timezone_minutes: b.timezone_minutes,
                    ..crate::psp::Browser::from_headers(&headers)
                },
                client_ip: ip.clone(),
                saved_card: req.saved_card,
                installment_plan: req.installment_plan,
            };
            if req.means == "saved_card" && req.saved_card.is_none() {
                let mut f = crate::error::Fields::new();
                f.add(
                    "saved_card",
                    "which saved card: one of the summary's saved_cards",
                );
                f.finish()?;
            }
            let result = crate::cards::pay_by_card(&state, &order, card, now).await?;
            let out = pay_response(&state, result).await?;
            return Ok((StatusCode::OK, to_value(out)?)) as JsonResult;
        }
        let paid = checkout::pay(&state, order.id, means, now).await?;
        tracing::info!(order = %paid.id, "order paid");
        let out = pay_response(&state, crate::cards::PayResult::Paid(paid)).await?;
        Ok((StatusCode::OK, to_value(out)?)) as JsonResult
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/checkout/{token}/cancel", tag = "checkout",
    responses((status = 200, body = CheckoutJson), (status = 404), (status = 409)))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<CheckoutJson>> {
    let order = order_of(&state, &token).await?;
    let order = checkout::close(
        &state,
        order.id,
        OrderStatus::Cancelled,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(summary(&state, &order, &token).await?))
}

/// The API's answer for a payment's outcome.
pub async fn pay_response(
    state: &AppState,
    result: crate::cards::PayResult,
) -> ApiResult<PayResponse> {
    use crate::cards::{Action, PayResult};
    let (status, order, action, reason) = match result {
        PayResult::Paid(o) => ("paid", o, None, None),
        PayResult::Pending(o) => ("pending", o, None, None),
        PayResult::Declined { order, reason } => ("declined", order, None, Some(reason)),
        PayResult::RequiresAction { order, action } => {
            let a = match action {
                Action::Html(html) => ActionJson {
                    kind: "html".to_owned(),
                    html: Some(html),
                    url: None,
                    fields: None,
                },
                Action::FormPost { url, fields } => ActionJson {
                    kind: "form_post".to_owned(),
                    html: None,
                    url: Some(url),
                    fields: Some(fields.into_iter().collect()),
                },
            };
            ("requires_action", order, Some(a), None)
        }
    };
    Ok(PayResponse {
        status: status.to_owned(),
        return_url: order.return_url.clone(),
        order: OrderJson::build(state, &order).await?,
        action,
        reason,
    })
}

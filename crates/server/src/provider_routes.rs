//! What providers and the buyer's browser send back to Guichet (API.md `/psp/…`): the Ogone
//! 3-D Secure return and post-sale feedback, the Sips normal and automatic responses, and the
//! return of the Ogone card form (`/pay/{token}/card-return`). Every answer is verified
//! (SHA-OUT, Sips seal, amount) before it moves anything; a bad one is rejected and logged.

use crate::AppState;
use crate::cards::{self, Action, CardRequest, PayResult};
use crate::error::ApiError;
use crate::webhooks::escape_html as escape;
use axum::Form;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use guichet_domain::config::ProviderKind;
use time::OffsetDateTime;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/psp/ogone/3ds-return",
            get(ogone_return).post(ogone_return_post),
        )
        .route("/psp/ogone/feedback", post(ogone_feedback))
        .route("/psp/sips/return", post(sips_return))
        .route("/psp/sips/auto", post(sips_auto))
        .route(
            "/pay/{token}/card-return",
            get(card_return).post(card_return_pay),
        )
}

fn params_of(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// A small self-contained result page (the full payment page is the `/pay` page's job).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn back_link(url: Option<&str>) -> String {
    url.map(|u| format!("<p><a href=\"{}\">Back to the shop</a></p>", escape(u)))
        .unwrap_or_default()
}

async fn result_page(
    state: &AppState,
    provider: ProviderKind,
    params: Vec<(String, String)>,
) -> Response {
    match cards::provider_answer(state, provider, &params, OffsetDateTime::now_utc()).await {
        Ok((payment, order)) => {
            let back = back_link(order.return_url.as_deref());
            match order.status {
                guichet_store::OrderStatus::Paid => page(
                    StatusCode::OK,
                    "Payment accepted",
                    &format!("<p>Thank you: your order is paid.</p>{back}"),
                ),
                _ if payment.status.is_open() => page(
                    StatusCode::OK,
                    "Payment being confirmed",
                    &format!(
                        "<p>The bank has not confirmed the payment yet; your order stays reserved.</p>{back}"
                    ),
                ),
                _ => page(
                    StatusCode::OK,
                    "Payment refused",
                    &format!(
                        "<p>The payment was refused; nothing was charged and your order was released.</p>{back}"
                    ),
                ),
            }
        }
        Err(e) => page(
            e.status,
            "Payment answer rejected",
            &format!("<p>{}</p>", escape(&e.message)),
        ),
    }
}

async fn ogone_return(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    result_page(&state, ProviderKind::Ogone, params_of(q)).await
}

async fn ogone_return_post(
    State(state): State<AppState>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    result_page(&state, ProviderKind::Ogone, params).await
}

/// Server-to-server: a plain answer, 200 once processed (duplicates included).
async fn feedback(
    state: &AppState,
    provider: ProviderKind,
    params: Vec<(String, String)>,
) -> Response {
    match cards::provider_answer(state, provider, &params, OffsetDateTime::now_utc()).await {
        Ok(_) => (StatusCode::OK, "OK").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn ogone_feedback(
    State(state): State<AppState>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    feedback(&state, ProviderKind::Ogone, params).await
}

async fn sips_return(
    State(state): State<AppState>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    result_page(&state, ProviderKind::Sips, params).await
}

async fn sips_auto(
    State(state): State<AppState>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    feedback(&state, ProviderKind::Sips, params).await
}

async fn order_of(state: &AppState, token: &str) -> Result<guichet_store::Order, ApiError> {
    if token.len() > 100 {
        return Err(ApiError::not_found("checkout"));
    }
    state
        .store
        .order_by_token_hash(&crate::auth::sha256_hex(token))
        .await
        .map_err(|_| ApiError::not_found("checkout"))
}

/// The card form's return: the provider registered the card; the buyer confirms the payment.
async fn card_return(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let order = match order_of(&state, &token).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let raw = q.unwrap_or_default();
    let params = params_of(Some(raw.clone()));
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if get("STATUS") != "0" && get("STATUS") != "2" {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Card not accepted",
            "<p>The card details were not accepted; go back and check them.</p>",
        );
    }
    let due = crate::checkout::figures(&order)
        .map(|f| f.amount_due.to_string())
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Confirm the payment",
        &format!(
            "<p>{} {} — {}</p><form method=\"post\"><input type=\"hidden\" name=\"card_alias_return\" value=\"{}\"><p><label><input type=\"checkbox\" name=\"accept_terms\" value=\"true\" required> I accept the terms and conditions</label></p><p><button type=\"submit\">Pay {}</button></p></form>",
            escape(get("BRAND")),
            escape(get("CARDNO")),
            escape(get("CN")),
            escape(&raw),
            escape(&due),
        ),
    )
}

#[derive(serde::Deserialize)]
struct CardReturnForm {
    card_alias_return: String,
    accept_terms: Option<String>,
}

async fn card_return_pay(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
    crate::checkout_api::ClientIp(ip): crate::checkout_api::ClientIp,
    Form(form): Form<CardReturnForm>,
) -> Response {
    let order = match order_of(&state, &token).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    if form.accept_terms.as_deref() != Some("true") {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Terms not accepted",
            "<p>The terms and conditions must be accepted.</p>",
        );
    }
    let req = CardRequest {
        alias_return: Some(form.card_alias_return),
        browser: crate::psp::Browser::from_headers(&headers),
        client_ip: ip,
        ..CardRequest::default()
    };
    let back = back_link(order.return_url.as_deref());
    match cards::pay_by_card(&state, order.id, req, OffsetDateTime::now_utc()).await {
        Ok(PayResult::Paid(_)) => page(
            StatusCode::OK,
            "Payment accepted",
            &format!("<p>Thank you: your order is paid.</p>{back}"),
        ),
        Ok(PayResult::RequiresAction {
            action: Action::Html(html),
            ..
        }) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Ok(PayResult::RequiresAction {
            action: Action::FormPost { url, fields },
            ..
        }) => {
            let inputs: String = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        escape(k),
                        escape(v)
                    )
                })
                .collect();
            page(
                StatusCode::OK,
                "Continue to the payment page",
                &format!(
                    "<form method=\"post\" action=\"{}\">{inputs}<button type=\"submit\">Continue</button></form>",
                    escape(&url)
                ),
            )
        }
        Ok(PayResult::Declined { reason, .. }) => page(
            StatusCode::OK,
            "Payment refused",
            &format!(
                "<p>The payment was refused ({}); nothing was charged.</p>{back}",
                escape(&reason)
            ),
        ),
        Ok(PayResult::Pending(_)) => page(
            StatusCode::OK,
            "Payment being confirmed",
            &format!(
                "<p>The bank has not confirmed the payment yet; your order stays reserved.</p>{back}"
            ),
        ),
        Err(e) => page(
            e.status,
            "Payment not made",
            &format!("<p>{}</p>", escape(&e.message)),
        ),
    }
}

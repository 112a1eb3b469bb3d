//! What providers send back to Guichet (API.md `/psp/…`): the Ogone 3-D Secure return and
//! post-sale feedback, the Sips normal and automatic responses. Every answer is verified
//! (SHA-OUT, Sips seal, amount) before it moves anything; a bad one is rejected and logged.
//! The buyer's browser lands on the payment page's result (`pages::pay`); the return of the
//! Ogone card form (`/pay/{token}/card-return`) is the payment page's too.

use crate::AppState;
use crate::cards;
use axum::Form;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
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
}

fn params_of(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// The buyer's browser back from the provider: the payment page's result, in the order's
/// language; a rejected answer is said so and changes nothing.
async fn result_page(
    state: &AppState,
    provider: ProviderKind,
    params: Vec<(String, String)>,
) -> Response {
    match cards::provider_answer(state, provider, &params, OffsetDateTime::now_utc()).await {
        Ok((_, order)) => crate::pages::pay::provider_result(state, &order).await,
        Err(e) => {
            let lang = crate::pages::i18n::Lang::Fr;
            crate::pages::message(
                e.status,
                lang,
                lang.texts().answer_rejected_title,
                e.message,
                None,
            )
        }
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

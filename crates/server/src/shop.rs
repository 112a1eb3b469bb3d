//! The shop API (`Authorization: Bearer <shop API key>`). A shop acts within its own
//! institution only: anything of another institution is "not found" to it.

use crate::AppState;
use crate::admin::contacts::{ContactJson, CreateContactRequest, parse_new_contact};
use crate::auth::Shop;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, post};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", post(create_contact))
        .route("/contacts/{id}", get(get_contact))
        .route(
            "/contacts/{id}/account-link",
            post(crate::account::create_link),
        )
        .route("/account", get(crate::account::get))
        .route("/account/cards", get(crate::account::cards))
        .route(
            "/account/cards/{id}",
            axum::routing::patch(crate::account::change_card).delete(crate::account::delete_card),
        )
        .route("/account/installments", get(crate::account::installments))
        .route("/orders", post(crate::orders::create))
        .route("/orders/{id}", get(crate::orders::get))
        .route("/orders/{id}/cancel", post(crate::orders::cancel))
        .route("/orders/{id}/refunds", post(crate::orders::refund))
        .route("/checkout/{token}", get(crate::checkout_api::get))
        .route(
            "/checkout/{token}/codes",
            post(crate::checkout_api::apply_code),
        )
        .route(
            "/checkout/{token}/codes/{code}",
            axum::routing::delete(crate::checkout_api::remove_code),
        )
        .route(
            "/checkout/{token}/credit-balance",
            axum::routing::put(crate::checkout_api::set_credit),
        )
        .route("/checkout/{token}/pay", post(crate::checkout_api::pay))
        .route(
            "/checkout/{token}/cancel",
            post(crate::checkout_api::cancel),
        )
}

#[utoipa::path(post, path = "/api/v1/contacts", tag = "shop",
    request_body = CreateContactRequest,
    responses((status = 201, body = ContactJson), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_contact(
    State(state): State<AppState>,
    shop: Shop,
    ApiJson(mut req): ApiJson<CreateContactRequest>,
) -> ApiResult<(StatusCode, Json<ContactJson>)> {
    // The shop cannot choose the institution nor grant itself credit.
    req.deferred_allowed = None;
    req.deferred_max_minor = None;
    let new = parse_new_contact(&state, Some(shop.key.institution_id), req).await?;
    let contact = state.store.create_contact(&new).await?;
    let tab = state.store.accounting_tab(contact.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContactJson::new(contact, Some(tab))),
    ))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "shop",
    responses((status = 200, body = ContactJson), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    shop: Shop,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ContactJson>> {
    let contact = state.store.get_contact(id).await?;
    if contact.institution_id != shop.key.institution_id {
        return Err(ApiError::not_found("contact"));
    }
    let tab = state.store.accounting_tab(id).await?;
    Ok(Json(ContactJson::new(contact, Some(tab))))
}

//! Payment modes (the seed's "Mode de règlement" form) and their association with points of
//! sale: a mode is usable at a point of sale only once associated with it.

use super::{InstitutionFilter, MoneyJson};
use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use guichet_domain::config::{
    PaymentModeCode, PaymentModeStatus, PaymentModeType, PublicNames, parse_name,
};
use guichet_store::{PaymentMode, PaymentModeFields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

const INTERNAL_NAME_MAX: usize = 100;

#[derive(Serialize, ToSchema)]
pub struct PaymentModeJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    /// Unique per institution, upper-case, e.g. `CBWEB`.
    pub code: String,
    pub internal_name: String,
    /// Public name per language, e.g. `{"fr": "FR * CB WEB", "en": "EN * CB WEB"}`.
    pub public_names: BTreeMap<String, String>,
    /// `card`, `voucher`, `credit_balance`, `deferred_account`, `cash` or `cheque`.
    #[serde(rename = "type")]
    pub mode_type: String,
    /// `visible`, `hidden` or `archived`.
    pub status: String,
    /// Selected by default.
    pub predetermined: bool,
    pub available_for_payment: bool,
    pub available_for_refund: bool,
    pub min_order: Option<MoneyJson>,
    pub max_order: Option<MoneyJson>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<PaymentMode> for PaymentModeJson {
    fn from(m: PaymentMode) -> Self {
        let f = m.fields;
        Self {
            id: m.id,
            institution_id: m.institution_id,
            code: f.code.as_str().to_owned(),
            internal_name: f.internal_name,
            public_names: f.public_names.into_map(),
            mode_type: f.mode_type.as_str().to_owned(),
            status: f.status.as_str().to_owned(),
            predetermined: f.predetermined,
            available_for_payment: f.available_for_payment,
            available_for_refund: f.available_for_refund,
            min_order: f.min_order.map(Into::into),
            max_order: f.max_order.map(Into::into),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The form of a payment mode. On update (`PUT`) every field is replaced; omitted optional
/// fields take their defaults.
#[derive(Deserialize, ToSchema)]
pub struct PaymentModeRequest {
    /// Required on creation; ignored on update.
    pub institution_id: Option<Uuid>,
    pub code: Option<String>,
    pub internal_name: Option<String>,
    pub public_names: Option<BTreeMap<String, String>>,
    #[serde(rename = "type")]
    pub mode_type: Option<String>,
    /// Default `visible`.
    pub status: Option<String>,
    /// Default false.
    pub predetermined: Option<bool>,
    /// Default true.
    pub available_for_payment: Option<bool>,
    /// Default true.
    pub available_for_refund: Option<bool>,
    pub min_order: Option<MoneyJson>,
    pub max_order: Option<MoneyJson>,
}

impl PaymentModeRequest {
    fn parse(self, f: &mut Fields) -> Option<PaymentModeFields> {
        let code = f
            .required("code", self.code)
            .and_then(|c| f.check("code", PaymentModeCode::parse(&c)));
        let internal_name = f
            .required("internal_name", self.internal_name)
            .and_then(|n| f.check("internal_name", parse_name(&n, INTERNAL_NAME_MAX)));
        let public_names = f
            .required("public_names", self.public_names)
            .and_then(|n| f.check("public_names", PublicNames::parse(&n)));
        let mode_type = f
            .required("type", self.mode_type)
            .and_then(|t| f.check("type", PaymentModeType::parse(&t)));
        let status = match self.status {
            Some(s) => f.check("status", PaymentModeStatus::parse(&s)),
            None => Some(PaymentModeStatus::Visible),
        };
        let min_order = self.min_order.map(|m| m.parse("min_order", f));
        let max_order = self.max_order.map(|m| m.parse("max_order", f));
        let (min_order, max_order) = (min_order.flatten(), max_order.flatten());
        for (name, limit) in [("min_order", min_order), ("max_order", max_order)] {
            if limit.is_some_and(|m| m.is_negative()) {
                f.add(&format!("{name}.amount_minor"), "must not be negative");
            }
        }
        if let (Some(min), Some(max)) = (min_order, max_order) {
            if min.currency() != max.currency() {
                f.add("max_order.currency", "must be the currency of min_order");
            } else if min.amount_minor() > max.amount_minor() {
                f.add("max_order.amount_minor", "must not be below min_order");
            }
        }
        Some(PaymentModeFields {
            code: code?,
            internal_name: internal_name?,
            public_names: public_names?,
            mode_type: mode_type?,
            status: status?,
            predetermined: self.predetermined.unwrap_or(false),
            available_for_payment: self.available_for_payment.unwrap_or(true),
            available_for_refund: self.available_for_refund.unwrap_or(true),
            min_order,
            max_order,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/admin/payment-modes", tag = "back office", params(InstitutionFilter),
    responses((status = 200, body = [PaymentModeJson])), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<InstitutionFilter>,
) -> ApiResult<Json<Vec<PaymentModeJson>>> {
    let rows = state
        .store
        .list_payment_modes(filter.institution_id)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/payment-modes", tag = "back office",
    request_body = PaymentModeRequest,
    responses((status = 201, body = PaymentModeJson), (status = 409, description = "code taken"),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<PaymentModeRequest>,
) -> ApiResult<(StatusCode, Json<PaymentModeJson>)> {
    let mode = create_mode(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(mode.into())))
}

/// Creates a payment mode from its form (admins only); shared by the JSON API and the
/// back-office pages.
pub async fn create_mode(
    state: &AppState,
    staff: &Staff,
    req: PaymentModeRequest,
) -> ApiResult<PaymentMode> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let fields = req.parse(&mut f);
    f.finish()?;
    let (Some(institution_id), Some(fields)) = (institution_id, fields) else {
        return Err(ApiError::internal());
    };
    let mode = state
        .store
        .create_payment_mode(institution_id, &fields)
        .await?;
    tracing::info!(payment_mode = %mode.id, code = %mode.fields.code, by = %staff.user.username, "payment mode created");
    Ok(mode)
}

#[utoipa::path(get, path = "/api/v1/admin/payment-modes/{id}", tag = "back office",
    responses((status = 200, body = PaymentModeJson), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PaymentModeJson>> {
    Ok(Json(state.store.get_payment_mode(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/admin/payment-modes/{id}", tag = "back office",
    request_body = PaymentModeRequest,
    responses((status = 200, body = PaymentModeJson), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PaymentModeRequest>,
) -> ApiResult<Json<PaymentModeJson>> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let fields = req.parse(&mut f);
    f.finish()?;
    let Some(fields) = fields else {
        return Err(ApiError::internal());
    };
    Ok(Json(
        state.store.update_payment_mode(id, &fields).await?.into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/admin/payment-modes/{id}", tag = "back office",
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    state.store.delete_payment_mode(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/points-of-sale/{id}/payment-modes", tag = "back office",
    responses((status = 200, body = [PaymentModeJson]), (status = 404)), security(("bearer" = [])))]
pub async fn list_associated(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<PaymentModeJson>>> {
    let rows = state.store.point_of_sale_payment_modes(id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct AssociateRequest {
    pub payment_mode_id: Option<Uuid>,
}

#[utoipa::path(post, path = "/api/v1/admin/points-of-sale/{id}/payment-modes", tag = "back office",
    request_body = AssociateRequest,
    responses((status = 201, description = "associated", body = [PaymentModeJson]),
        (status = 200, description = "was already associated", body = [PaymentModeJson]),
        (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn associate(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<AssociateRequest>,
) -> ApiResult<(StatusCode, Json<Vec<PaymentModeJson>>)> {
    let created = associate_mode(&state, &staff, id, req).await?;
    let rows = state.store.point_of_sale_payment_modes(id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(rows.into_iter().map(Into::into).collect())))
}

#[utoipa::path(delete, path = "/api/v1/admin/points-of-sale/{id}/payment-modes/{mode_id}", tag = "back office",
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn dissociate(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath((id, mode_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    state.store.dissociate_payment_mode(id, mode_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Associates a payment mode with a point of sale (admins only); true when it was not yet.
/// Shared by the JSON API and the back-office pages.
pub async fn associate_mode(
    state: &AppState,
    staff: &Staff,
    point_of_sale_id: Uuid,
    req: AssociateRequest,
) -> ApiResult<bool> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let mode_id = f.required("payment_mode_id", req.payment_mode_id);
    f.finish()?;
    let Some(mode_id) = mode_id else {
        return Err(ApiError::internal());
    };
    Ok(state
        .store
        .associate_payment_mode(point_of_sale_id, mode_id)
        .await?)
}

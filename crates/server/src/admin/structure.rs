//! Institutions, organizers, sales channels and points of sale (SPEC vocabulary).

use super::InstitutionFilter;
use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use guichet_domain::Currency;
use guichet_domain::config::{ChannelKind, parse_name};
use guichet_store::{Institution, Organizer, PointOfSale, SalesChannel};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

const NAME_MAX: usize = 200;

#[derive(Serialize, ToSchema)]
pub struct InstitutionJson {
    pub id: Uuid,
    pub name: String,
    pub default_currency: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Institution> for InstitutionJson {
    fn from(i: Institution) -> Self {
        Self {
            id: i.id,
            name: i.name,
            default_currency: i.default_currency.code().to_owned(),
            created_at: i.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateInstitutionRequest {
    pub name: Option<String>,
    /// ISO 4217 code, e.g. EUR.
    pub default_currency: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/institutions", tag = "back office",
    responses((status = 200, body = [InstitutionJson])), security(("bearer" = [])))]
pub async fn list_institutions(
    State(state): State<AppState>,
    _staff: Staff,
) -> ApiResult<Json<Vec<InstitutionJson>>> {
    let rows = state.store.list_institutions().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/institutions", tag = "back office",
    request_body = CreateInstitutionRequest,
    responses((status = 201, body = InstitutionJson), (status = 422)), security(("bearer" = [])))]
pub async fn create_institution(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreateInstitutionRequest>,
) -> ApiResult<(StatusCode, Json<InstitutionJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    let currency = f
        .required("default_currency", req.default_currency)
        .and_then(|c| f.check("default_currency", Currency::from_code(&c)));
    f.finish()?;
    let (Some(name), Some(currency)) = (name, currency) else {
        return Err(ApiError::internal());
    };
    let row = state.store.create_institution(&name, currency).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(get, path = "/api/v1/admin/institutions/{id}", tag = "back office",
    responses((status = 200, body = InstitutionJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_institution(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<InstitutionJson>> {
    Ok(Json(state.store.get_institution(id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct OrganizerJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Organizer> for OrganizerJson {
    fn from(o: Organizer) -> Self {
        Self {
            id: o.id,
            institution_id: o.institution_id,
            name: o.name,
            created_at: o.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateOrganizerRequest {
    pub institution_id: Option<Uuid>,
    pub name: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/organizers", tag = "back office", params(InstitutionFilter),
    responses((status = 200, body = [OrganizerJson])), security(("bearer" = [])))]
pub async fn list_organizers(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<InstitutionFilter>,
) -> ApiResult<Json<Vec<OrganizerJson>>> {
    let rows = state.store.list_organizers(filter.institution_id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/organizers", tag = "back office",
    request_body = CreateOrganizerRequest,
    responses((status = 201, body = OrganizerJson), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn create_organizer(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreateOrganizerRequest>,
) -> ApiResult<(StatusCode, Json<OrganizerJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    f.finish()?;
    let (Some(institution_id), Some(name)) = (institution_id, name) else {
        return Err(ApiError::internal());
    };
    let row = state.store.create_organizer(institution_id, &name).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(get, path = "/api/v1/admin/organizers/{id}", tag = "back office",
    responses((status = 200, body = OrganizerJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_organizer(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OrganizerJson>> {
    Ok(Json(state.store.get_organizer(id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct SalesChannelJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub organizer_id: Uuid,
    /// `internet`, `box_office` or `mobile`.
    pub kind: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<SalesChannel> for SalesChannelJson {
    fn from(c: SalesChannel) -> Self {
        Self {
            id: c.id,
            institution_id: c.institution_id,
            organizer_id: c.organizer_id,
            kind: c.kind.as_str().to_owned(),
            name: c.name,
            created_at: c.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateChannelRequest {
    pub organizer_id: Option<Uuid>,
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct OrganizerFilter {
    pub organizer_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/admin/sales-channels", tag = "back office", params(OrganizerFilter),
    responses((status = 200, body = [SalesChannelJson])), security(("bearer" = [])))]
pub async fn list_channels(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<OrganizerFilter>,
) -> ApiResult<Json<Vec<SalesChannelJson>>> {
    let rows = state.store.list_sales_channels(filter.organizer_id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/sales-channels", tag = "back office",
    request_body = CreateChannelRequest,
    responses((status = 201, body = SalesChannelJson), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreateChannelRequest>,
) -> ApiResult<(StatusCode, Json<SalesChannelJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let organizer_id = f.required("organizer_id", req.organizer_id);
    let kind = f
        .required("kind", req.kind)
        .and_then(|k| f.check("kind", ChannelKind::parse(&k)));
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    f.finish()?;
    let (Some(organizer_id), Some(kind), Some(name)) = (organizer_id, kind, name) else {
        return Err(ApiError::internal());
    };
    let row = state
        .store
        .create_sales_channel(organizer_id, kind, &name)
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(get, path = "/api/v1/admin/sales-channels/{id}", tag = "back office",
    responses((status = 200, body = SalesChannelJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_channel(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SalesChannelJson>> {
    Ok(Json(state.store.get_sales_channel(id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct PointOfSaleJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub sales_channel_id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<PointOfSale> for PointOfSaleJson {
    fn from(p: PointOfSale) -> Self {
        Self {
            id: p.id,
            institution_id: p.institution_id,
            sales_channel_id: p.sales_channel_id,
            name: p.name,
            created_at: p.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePointOfSaleRequest {
    pub sales_channel_id: Option<Uuid>,
    pub name: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ChannelFilter {
    pub sales_channel_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/admin/points-of-sale", tag = "back office", params(ChannelFilter),
    responses((status = 200, body = [PointOfSaleJson])), security(("bearer" = [])))]
pub async fn list_points_of_sale(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<ChannelFilter>,
) -> ApiResult<Json<Vec<PointOfSaleJson>>> {
    let rows = state
        .store
        .list_points_of_sale(filter.sales_channel_id)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/points-of-sale", tag = "back office",
    request_body = CreatePointOfSaleRequest,
    responses((status = 201, body = PointOfSaleJson), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn create_point_of_sale(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreatePointOfSaleRequest>,
) -> ApiResult<(StatusCode, Json<PointOfSaleJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let channel_id = f.required("sales_channel_id", req.sales_channel_id);
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    f.finish()?;
    let (Some(channel_id), Some(name)) = (channel_id, name) else {
        return Err(ApiError::internal());
    };
    let row = state.store.create_point_of_sale(channel_id, &name).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(get, path = "/api/v1/admin/points-of-sale/{id}", tag = "back office",
    responses((status = 200, body = PointOfSaleJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_point_of_sale(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PointOfSaleJson>> {
    Ok(Json(state.store.get_point_of_sale(id).await?.into()))
}

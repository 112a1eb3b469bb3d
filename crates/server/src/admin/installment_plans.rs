//! Installment plans of the back office (SPEC F10): per point of sale, the number of
//! installments, their split, their interval, the minimum order amount and the mode
//! (restrictive or free). The domain (`guichet_domain::installments`) decides what a valid plan
//! is; this module parses, stores and lists. Reading needs any staff role, changing `admin`.

use super::MoneyJson;
use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use guichet_domain::config::parse_name;
use guichet_domain::installments::{InstallmentPlan, Interval, PlanMode, Split};
use guichet_store::{InstallmentPlanRow, NewInstallmentPlan, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

const NAME_MAX: usize = 100;

/// A plan as the back office reads and writes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanJson {
    pub id: Uuid,
    pub point_of_sale_id: Uuid,
    pub name: String,
    /// 2 to 12.
    pub count: u8,
    /// `equal`, or the percentages of each installment (adding up to 100), e.g. `[50, 25, 25]`.
    #[schema(value_type = Object)]
    pub split: serde_json::Value,
    /// `monthly` (same day each month) or `{"days": n}`.
    #[schema(value_type = Object)]
    pub interval: serde_json::Value,
    pub min_amount: MoneyJson,
    /// `restrictive` (every due date on or before the earliest event) or `free`.
    pub mode: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn split_json(split: &Split) -> serde_json::Value {
    match split {
        Split::Equal => serde_json::json!("equal"),
        Split::Percentages(p) => serde_json::json!(p),
    }
}

fn interval_json(interval: Interval) -> serde_json::Value {
    match interval {
        Interval::Monthly => serde_json::json!("monthly"),
        Interval::Days(n) => serde_json::json!({ "days": n }),
    }
}

fn mode_str(mode: PlanMode) -> &'static str {
    match mode {
        PlanMode::Restrictive => "restrictive",
        PlanMode::Free => "free",
    }
}

impl From<InstallmentPlanRow> for PlanJson {
    fn from(r: InstallmentPlanRow) -> Self {
        PlanJson {
            id: r.id,
            point_of_sale_id: r.point_of_sale_id,
            name: r.name,
            count: r.plan.count,
            split: split_json(&r.plan.split),
            interval: interval_json(r.plan.interval),
            min_amount: r.plan.min_amount.into(),
            mode: mode_str(r.plan.mode).to_owned(),
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanRequest {
    pub point_of_sale_id: Option<Uuid>,
    pub name: Option<String>,
    pub count: Option<u8>,
    /// `"equal"` or a list of percentages.
    #[schema(value_type = Object)]
    pub split: Option<serde_json::Value>,
    /// `"monthly"` or `{"days": n}`.
    #[schema(value_type = Object)]
    pub interval: Option<serde_json::Value>,
    pub min_amount: Option<MoneyJson>,
    pub mode: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

fn parse_split(v: &serde_json::Value, f: &mut Fields) -> Option<Split> {
    match v {
        serde_json::Value::String(s) if s == "equal" => Some(Split::Equal),
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => out.push(n),
                    None => {
                        f.add("split", "percentages are whole numbers from 1 to 100");
                        return None;
                    }
                }
            }
            Some(Split::Percentages(out))
        }
        _ => {
            f.add(
                "split",
                "\"equal\" or a list of percentages adding up to 100",
            );
            None
        }
    }
}

fn parse_interval(v: &serde_json::Value, f: &mut Fields) -> Option<Interval> {
    if v.as_str() == Some("monthly") {
        return Some(Interval::Monthly);
    }
    match v
        .get("days")
        .and_then(serde_json::Value::as_u64)
        .and_then(|d| u16::try_from(d).ok())
    {
        Some(days) => Some(Interval::Days(days)),
        None => {
            f.add(
                "interval",
                "\"monthly\" or {\"days\": n} with n from 1 to 365",
            );
            None
        }
    }
}

/// Parses and validates a plan; one 422 lists every bad field.
fn parse_plan(req: PlanRequest) -> Result<NewInstallmentPlan, ApiError> {
    let mut f = Fields::new();
    let point_of_sale_id = f.required("point_of_sale_id", req.point_of_sale_id);
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    let count = f.required("count", req.count);
    let split = f
        .required("split", req.split)
        .and_then(|s| parse_split(&s, &mut f));
    let interval = f
        .required("interval", req.interval)
        .and_then(|i| parse_interval(&i, &mut f));
    let min_amount = f
        .required("min_amount", req.min_amount)
        .and_then(|m| m.parse("min_amount", &mut f));
    let mode = f.required("mode", req.mode).and_then(|m| match m.as_str() {
        "restrictive" => Some(PlanMode::Restrictive),
        "free" => Some(PlanMode::Free),
        _ => {
            f.add("mode", "restrictive or free");
            None
        }
    });
    let plan = match (count, split, interval, min_amount, mode) {
        (Some(count), Some(split), Some(interval), Some(min_amount), Some(mode)) => {
            let plan = InstallmentPlan {
                count,
                split,
                interval,
                min_amount,
                mode,
            };
            match plan.validate() {
                Ok(()) => Some(plan),
                Err(e) => {
                    f.add("plan", e.to_string());
                    None
                }
            }
        }
        _ => None,
    };
    f.finish()?;
    let (Some(point_of_sale_id), Some(name), Some(plan)) = (point_of_sale_id, name, plan) else {
        return Err(ApiError::internal());
    };
    Ok(NewInstallmentPlan {
        point_of_sale_id,
        name,
        plan,
        active: req.active.unwrap_or(true),
    })
}

#[utoipa::path(post, path = "/api/v1/admin/installment-plans", tag = "back office",
    request_body = PlanRequest,
    responses((status = 201, body = PlanJson), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<PlanRequest>,
) -> ApiResult<(StatusCode, Json<PlanJson>)> {
    let row = create_plan(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Checks and creates a plan (admins only): the JSON API and the back-office page call it.
pub async fn create_plan(
    state: &AppState,
    staff: &Staff,
    req: PlanRequest,
) -> ApiResult<InstallmentPlanRow> {
    staff.require_admin()?;
    let new = parse_plan(req)?;
    state.store.get_point_of_sale(new.point_of_sale_id).await?;
    Ok(state.store.create_installment_plan(&new).await?)
}

/// Checks and replaces every field of plan `id` (admins only).
pub async fn update_plan(
    state: &AppState,
    staff: &Staff,
    id: Uuid,
    req: PlanRequest,
) -> ApiResult<InstallmentPlanRow> {
    staff.require_admin()?;
    let new = parse_plan(req)?;
    state.store.get_point_of_sale(new.point_of_sale_id).await?;
    Ok(state.store.update_installment_plan(id, &new).await?)
}

/// Deletes plan `id` (admins only); 409 `plan_in_use` when orders are paid with it.
pub async fn delete_plan(state: &AppState, staff: &Staff, id: Uuid) -> ApiResult<()> {
    staff.require_admin()?;
    match state.store.delete_installment_plan(id).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "plan_in_use",
            "orders are paid with this plan: set active to false instead",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(put, path = "/api/v1/admin/installment-plans/{id}", tag = "back office",
    request_body = PlanRequest,
    responses((status = 200, body = PlanJson), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> ApiResult<Json<PlanJson>> {
    Ok(Json(update_plan(&state, &staff, id, req).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/admin/installment-plans/{id}", tag = "back office",
    responses((status = 200, body = PlanJson), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PlanJson>> {
    Ok(Json(state.store.get_installment_plan(id).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PlanFilter {
    pub point_of_sale_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/admin/installment-plans", tag = "back office",
    params(PlanFilter),
    responses((status = 200, body = [PlanJson])), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<PlanFilter>,
) -> ApiResult<Json<Vec<PlanJson>>> {
    let rows = state
        .store
        .list_installment_plans(filter.point_of_sale_id)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/api/v1/admin/installment-plans/{id}", tag = "back office",
    responses((status = 204), (status = 403), (status = 404),
        (status = 409, description = "orders use the plan: deactivate it instead")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_plan(&state, &staff, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InstallmentFilter {
    pub institution_id: Option<Uuid>,
    /// `open`, `paid`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<u32>,
}

/// The installment follow-up of the back office: schedules, states and failures, the latest
/// due dates first.
#[utoipa::path(get, path = "/api/v1/admin/installments", tag = "back office",
    params(InstallmentFilter),
    responses((status = 200, body = [crate::account::InstallmentJson]), (status = 422)),
    security(("bearer" = [])))]
pub async fn list_installments(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<InstallmentFilter>,
) -> ApiResult<Json<Vec<crate::account::InstallmentJson>>> {
    let status = match filter.status.as_deref() {
        None => None,
        Some(s) => Some(guichet_store::InstallmentStatus::parse(s).ok_or_else(|| {
            let mut f = Fields::new();
            f.add("status", "open, paid, failed or cancelled");
            f.finish().err().unwrap_or_else(ApiError::internal)
        })?),
    };
    let rows = state
        .store
        .list_installments(
            filter.institution_id,
            status,
            filter.limit.unwrap_or(200).min(1000),
        )
        .await?;
    Ok(Json(rows.iter().map(Into::into).collect()))
}

/// A contact's saved cards, masked (never more than the last 4 digits).
#[utoipa::path(get, path = "/api/v1/admin/contacts/{id}/saved-cards", tag = "back office",
    responses((status = 200, body = [crate::account::SavedCardJson]), (status = 404)),
    security(("bearer" = [])))]
pub async fn contact_saved_cards(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<crate::account::SavedCardJson>>> {
    state.store.get_contact(id).await?;
    let today = OffsetDateTime::now_utc().date();
    let cards = state.store.saved_cards_of_contact(id).await?;
    Ok(Json(
        cards
            .iter()
            .map(|c| crate::account::SavedCardJson::new(c, today))
            .collect(),
    ))
}

//! A sales channel's payment system: which provider account takes its card payments, with the
//! merchant settings, the secrets (sealed at rest, write-only here) and the security and
//! 3-D Secure policy.

use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath};
use axum::extract::State;
use axum::response::Json;
use guichet_domain::config::{ProviderKind, ThreeDsPolicy, parse_base_url, parse_name};
use guichet_store::{PaymentSystem, PaymentSystemInput, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct PaymentSystemJson {
    pub sales_channel_id: Uuid,
    /// `ogone` or `sips`.
    pub provider: String,
    /// e.g. "Ogone Hidden POST (ePC) v6u2".
    pub label: String,
    pub base_url: String,
    /// Ogone PSPID or Sips merchantId.
    pub merchant_id: String,
    /// Non-secret merchant settings (e.g. Ogone USERID, hash algorithm, Sips keyVersion).
    pub settings: BTreeMap<String, String>,
    /// Names of the stored secrets. Their values are never returned.
    pub credential_names: Vec<String>,
    /// Secrets the provider needs that are not stored yet.
    pub missing_credentials: Vec<String>,
    /// What this provider's integration offers.
    pub features: Vec<String>,
    pub card_saving_enabled: bool,
    pub cvv_on_saved_cards: bool,
    /// Saved cards a contact may keep at most.
    pub max_saved_cards: u32,
    /// `always`, `never` or `close_to_event`.
    pub three_ds_policy: String,
    /// For `close_to_event`: 3-D Secure when an event starts within this many days.
    pub three_ds_days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<PaymentSystem> for PaymentSystemJson {
    fn from(p: PaymentSystem) -> Self {
        let missing = p
            .provider
            .credential_names()
            .iter()
            .filter(|n| !p.credential_names.iter().any(|c| c == *n))
            .map(|n| (*n).to_owned())
            .collect();
        Self {
            sales_channel_id: p.sales_channel_id,
            provider: p.provider.as_str().to_owned(),
            label: p.label,
            base_url: p.base_url,
            merchant_id: p.merchant_id,
            settings: p.settings,
            features: p
                .provider
                .features()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            credential_names: p.credential_names,
            missing_credentials: missing,
            card_saving_enabled: p.card_saving_enabled,
            cvv_on_saved_cards: p.cvv_on_saved_cards,
            max_saved_cards: p.max_saved_cards,
            three_ds_policy: p.three_ds_policy.as_str().to_owned(),
            three_ds_days: p.three_ds_days,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PaymentSystemRequest {
    pub provider: Option<String>,
    pub label: Option<String>,
    pub base_url: Option<String>,
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secrets by name. A value replaces the stored one, an empty string removes it, a name
    /// left out keeps its stored value.
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// Default true.
    pub card_saving_enabled: Option<bool>,
    /// Default true.
    pub cvv_on_saved_cards: Option<bool>,
    /// Default 5; 0 to 50.
    pub max_saved_cards: Option<u32>,
    /// Default `always`.
    pub three_ds_policy: Option<String>,
    /// Default 0.
    pub three_ds_days: Option<u32>,
}

fn check_key(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name (A-Z, a-z, 0-9, '_', '-')"
        ))
    }
}

#[utoipa::path(get, path = "/api/v1/admin/sales-channels/{id}/payment-system", tag = "back office",
    responses((status = 200, body = PaymentSystemJson), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PaymentSystemJson>> {
    Ok(Json(state.store.get_payment_system(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/admin/sales-channels/{id}/payment-system", tag = "back office",
    request_body = PaymentSystemRequest,
    responses((status = 200, body = PaymentSystemJson), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PaymentSystemRequest>,
) -> ApiResult<Json<PaymentSystemJson>> {
    Ok(Json(
        save_payment_system(&state, &staff, id, req).await?.into(),
    ))
}

/// Checks and saves sales channel `id`'s payment system (admins only; one 422 lists every bad
/// field). The JSON API's `PUT` and the back-office page both call it.
pub async fn save_payment_system(
    state: &AppState,
    staff: &Staff,
    id: Uuid,
    req: PaymentSystemRequest,
) -> ApiResult<PaymentSystem> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let provider = f
        .required("provider", req.provider)
        .and_then(|p| f.check("provider", ProviderKind::parse(&p)));
    let label = f
        .required("label", req.label)
        .and_then(|l| f.check("label", parse_name(&l, 200)));
    let base_url = f
        .required("base_url", req.base_url)
        .and_then(|u| f.check("base_url", parse_base_url(&u)));
    let merchant_id = f
        .required("merchant_id", req.merchant_id)
        .and_then(|m| f.check("merchant_id", parse_name(&m, 100)));
    let three_ds_policy = match req.three_ds_policy {
        Some(p) => f.check("three_ds_policy", ThreeDsPolicy::parse(&p)),
        None => Some(ThreeDsPolicy::Always),
    };
    let three_ds_days = req.three_ds_days.unwrap_or(0);
    if three_ds_days > 365 {
        f.add("three_ds_days", "must be at most 365");
    }
    for (k, v) in &req.settings {
        f.check(&format!("settings.{k}"), check_key(k));
        if v.len() > 500 {
            f.add(&format!("settings.{k}"), "must be at most 500 characters");
        }
    }
    for (k, v) in &req.credentials {
        f.check(&format!("credentials.{k}"), check_key(k));
        if v.len() > 500 {
            f.add(
                &format!("credentials.{k}"),
                "must be at most 500 characters",
            );
        }
    }
    let max_saved_cards = req.max_saved_cards.unwrap_or(5);
    if max_saved_cards > 50 {
        f.add("max_saved_cards", "from 0 to 50");
    }
    f.finish()?;
    let (Some(provider), Some(label), Some(base_url), Some(merchant_id), Some(three_ds_policy)) =
        (provider, label, base_url, merchant_id, three_ds_policy)
    else {
        return Err(ApiError::internal());
    };
    let input = PaymentSystemInput {
        provider,
        label,
        base_url,
        merchant_id,
        settings: req.settings,
        credentials: req
            .credentials
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        card_saving_enabled: req.card_saving_enabled.unwrap_or(true),
        cvv_on_saved_cards: req.cvv_on_saved_cards.unwrap_or(true),
        max_saved_cards,
        three_ds_policy,
        three_ds_days,
    };
    let saved = state.store.put_payment_system(id, &input).await?;
    tracing::info!(sales_channel = %id, provider = %saved.provider, by = %staff.user.username, "payment system saved");
    Ok(saved)
}

//! The catalogue of the back office (SPEC F2, F3, F5, F13): promo codes (one shared *discount
//! code*, or single-use *coupons* generated in bulk or imported), voucher products, the vouchers
//! issued from them, and the settlements of a contact's deferred account.
//!
//! Everything is parsed into domain types here, with one 422 listing every bad field; the
//! domain's `validate_rule` / `validate_product` decide what a valid rule is. Reading needs any
//! staff role, changing needs `admin`. Voucher codes are bearer credentials: only admins see them
//! whole.

use super::contacts::ContactJson;
use super::{InstitutionFilter, MoneyJson};
use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::idempotency;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use guichet_domain::config::{ChannelKind, Invalid, Role, parse_name};
use guichet_domain::postings::deferred_settlement;
use guichet_domain::promo::{
    Discount, PromoCode, PromoKind, PromoRule, WHOLE_BP, coupon_code, parse_coupon_prefix,
    validate_rule,
};
use guichet_domain::voucher::{
    VoucherCode, VoucherProductRule, VoucherValidity, VoucherValue, validate_product,
};
use guichet_domain::{AccountKind, Currency, Money};
use guichet_store::{Contact, NewPromoCode, PromoCodeRow, StoreError, Voucher, VoucherProduct};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

const LABEL_MAX: usize = 100;
const NAME_MAX: usize = 100;
const MEMO_MAX: usize = 200;
/// Most coupons one request may generate or import.
pub const MAX_BATCH: usize = 10_000;
/// Field errors reported for one list of codes at most: a bad file could hold thousands.
const MAX_CODE_ERRORS: usize = 20;
const LIST_DEFAULT: u32 = 1_000;
const LIST_MAX: u32 = 10_000;

// ---- Promo codes -----------------------------------------------------------------------------

/// A discount on the whole order: `{"type": "percent", "basis_points": 500}` (5 %) or
/// `{"type": "fixed", "amount_minor": 180, "currency": "EUR"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiscountJson {
    /// `percent` or `fixed`.
    #[serde(rename = "type")]
    #[schema(example = "percent")]
    pub discount_type: String,
    /// For `percent`: 1 to 10000 (500 = 5 %), rounded half up to the minor unit when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_points: Option<i64>,
    /// For `fixed`: the amount taken off, > 0, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// For `fixed`: ISO 4217 code; the code applies only to orders in this currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl From<Discount> for DiscountJson {
    fn from(d: Discount) -> Self {
        match d {
            Discount::Percent { basis_points } => Self {
                discount_type: "percent".to_owned(),
                basis_points: Some(i64::from(basis_points)),
                amount_minor: None,
                currency: None,
            },
            Discount::Fixed(amount) => Self {
                discount_type: "fixed".to_owned(),
                basis_points: None,
                amount_minor: Some(amount.amount_minor()),
                currency: Some(amount.currency().code().to_owned()),
            },
        }
    }
}

impl DiscountJson {
    /// The domain discount; ranges are left to `validate_rule`, which words them.
    fn parse(&self, f: &mut Fields) -> Option<Discount> {
        match self.discount_type.as_str() {
            "percent" => {
                let Some(bp) = self.basis_points else {
                    f.add(
                        "discount",
                        "a percent discount needs basis_points (500 = 5 %)",
                    );
                    return None;
                };
                // Out of u32's range is out of 1..=10000 too: 0 makes validate_rule say so.
                let basis_points = u32::try_from(bp).unwrap_or(0);
                Some(Discount::Percent { basis_points })
            }
            "fixed" => {
                let (Some(amount), Some(currency)) = (self.amount_minor, &self.currency) else {
                    f.add(
                        "discount",
                        "a fixed discount needs amount_minor and currency",
                    );
                    return None;
                };
                let currency = f.check("discount", Currency::from_code(currency))?;
                Some(Discount::Fixed(Money::new(amount, currency)))
            }
            _ => {
                f.add("discount", "type must be percent or fixed");
                None
            }
        }
    }
}

/// The conditions shared by every kind of promo code.
#[derive(Deserialize, ToSchema)]
pub struct RuleInput {
    pub discount: Option<DiscountJson>,
    /// RFC 3339 with offset; inclusive start of validity. Absent: valid at once.
    #[schema(example = "2026-01-01T00:00:00+01:00")]
    pub valid_from: Option<String>,
    /// RFC 3339 with offset; exclusive end of validity, after `valid_from`. Absent: no end.
    pub valid_until: Option<String>,
    /// `internet`, `box_office`, `mobile`; absent or empty: every channel.
    pub channels: Option<Vec<String>>,
    /// Uses across all orders, ≥ 1; absent: no limit. A coupon is single-use (absent or 1).
    pub max_uses_total: Option<i64>,
    /// Uses per contact, ≥ 1; absent: no limit.
    pub max_uses_per_contact: Option<i64>,
    /// Minimum order total (before discounts), in the fixed discount's currency.
    pub min_order: Option<MoneyJson>,
}

fn parse_time(
    field: &str,
    raw: Option<&str>,
    f: &mut Fields,
) -> Result<Option<OffsetDateTime>, ()> {
    match raw {
        None => Ok(None),
        Some(raw) => match OffsetDateTime::parse(raw.trim(), &Rfc3339) {
            Ok(t) => Ok(Some(t)),
            Err(_) => {
                f.add(
                    field,
                    "must be an RFC 3339 date and time with its offset, e.g. 2026-07-01T00:00:00+02:00",
                );
                Err(())
            }
        },
    }
}

/// A configured limit: absent, or a count; 0 and negatives are left to `validate_rule`.
fn parse_limit(field: &str, raw: Option<i64>, f: &mut Fields) -> Result<Option<u32>, ()> {
    match raw {
        None => Ok(None),
        Some(n) if n <= 0 => Ok(Some(0)),
        Some(n) => match u32::try_from(n) {
            Ok(n) => Ok(Some(n)),
            Err(_) => {
                f.add(field, format!("must be at most {}", u32::MAX));
                Err(())
            }
        },
    }
}

impl RuleInput {
    /// The rule, when every part parsed and the domain accepts it; otherwise the errors are in
    /// `f` (all of them: the domain's checks run even when one part did not parse).
    fn parse(self, kind: PromoKind, f: &mut Fields) -> Option<PromoRule> {
        let mut ok = true;
        let discount = match self.discount {
            Some(d) => d.parse(f),
            None => {
                f.add("discount", "is required");
                None
            }
        };
        ok &= discount.is_some();
        let valid_from = parse_time("valid_from", self.valid_from.as_deref(), f);
        let valid_until = parse_time("valid_until", self.valid_until.as_deref(), f);
        ok &= valid_from.is_ok() && valid_until.is_ok();
        let mut channels = Vec::new();
        for (index, raw) in self.channels.unwrap_or_default().iter().enumerate() {
            match ChannelKind::parse(raw) {
                Ok(c) => channels.push(c),
                Err(e) => {
                    f.add(&format!("channels[{index}]"), e.0);
                    ok = false;
                }
            }
        }
        let max_uses_total = match kind {
            PromoKind::Coupon => {
                if self.max_uses_total.is_some_and(|n| n != 1) {
                    f.add(
                        "max_uses_total",
                        "a coupon is single-use: leave it empty or set 1",
                    );
                    ok = false;
                }
                Ok(Some(1))
            }
            PromoKind::DiscountCode => parse_limit("max_uses_total", self.max_uses_total, f),
        };
        let max_uses_per_contact =
            parse_limit("max_uses_per_contact", self.max_uses_per_contact, f);
        ok &= max_uses_total.is_ok() && max_uses_per_contact.is_ok();
        let min_order = match self.min_order {
            Some(m) => {
                let parsed = m.parse("min_order", f);
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        let rule = PromoRule {
            kind,
            // A stand-in when the discount did not parse (its error is recorded), so that the
            // other checks still run.
            discount: discount.unwrap_or(Discount::Percent {
                basis_points: WHOLE_BP,
            }),
            valid_from: valid_from.unwrap_or(None),
            valid_until: valid_until.unwrap_or(None),
            channels,
            max_uses_total: max_uses_total.unwrap_or(None),
            max_uses_per_contact: max_uses_per_contact.unwrap_or(None),
            min_order,
        };
        for (field, message) in validate_rule(&rule) {
            if field == "discount" && discount.is_none() {
                continue;
            }
            f.add(field, message);
            ok = false;
        }
        ok.then_some(rule)
    }
}

/// A promo code as the back office types it: normalised by [`PromoCode::parse`], and never one
/// the checkout would read as a gift voucher code.
fn parse_promo_code(raw: &str) -> Result<PromoCode, Invalid> {
    let code = PromoCode::parse(raw)?;
    if VoucherCode::looks_like(code.as_str()) {
        return Err(Invalid(
            "reads as a gift voucher code (16 letters and digits): choose another".to_owned(),
        ));
    }
    Ok(code)
}

#[derive(Serialize, ToSchema)]
pub struct PromoCodeJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    /// Normalised: trimmed, upper-case.
    #[schema(example = "NOUVEAUX-VENUS")]
    pub code: String,
    #[schema(example = "Nouveaux venus")]
    pub label: String,
    /// `coupon` (single-use) or `discount_code` (shared).
    pub kind: String,
    pub discount: DiscountJson,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// Empty: every channel.
    pub channels: Vec<String>,
    /// The effective limit: always 1 for a coupon; null = no limit.
    pub max_uses_total: Option<u32>,
    pub max_uses_per_contact: Option<u32>,
    pub min_order: Option<MoneyJson>,
    /// The coupons generated or imported together.
    pub batch_id: Option<Uuid>,
    /// Uses held by unpaid orders and committed by paid ones.
    pub uses_count: i64,
    /// A deactivated code cannot be applied any more.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<PromoCodeRow> for PromoCodeJson {
    fn from(p: PromoCodeRow) -> Self {
        let rule = p.rule;
        Self {
            id: p.id,
            institution_id: p.institution_id,
            code: p.code,
            label: p.label,
            kind: rule.kind.as_str().to_owned(),
            discount: rule.discount.into(),
            valid_from: rule.valid_from,
            valid_until: rule.valid_until,
            channels: rule
                .channels
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            max_uses_total: rule.effective_max_uses_total(),
            max_uses_per_contact: rule.max_uses_per_contact,
            min_order: rule.min_order.map(Into::into),
            batch_id: p.batch_id,
            uses_count: p.uses_count,
            active: p.active,
            created_at: p.created_at,
        }
    }
}

/// Query of the lists: the institution, and how many rows at most.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CatalogueFilter {
    pub institution_id: Option<Uuid>,
    /// Default 1000, at most 10000.
    pub limit: Option<u32>,
}

impl CatalogueFilter {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(LIST_DEFAULT).clamp(1, LIST_MAX)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePromoCodeRequest {
    pub institution_id: Option<Uuid>,
    /// 3 to 32 letters, digits, `-` or `_`; case and surrounding spaces do not matter.
    #[schema(example = "NOUVEAUX-VENUS")]
    pub code: Option<String>,
    pub label: Option<String>,
    /// `discount_code` (one shared code) or `coupon` (one single-use code).
    pub kind: Option<String>,
    #[serde(flatten)]
    pub rule: RuleInput,
}

#[utoipa::path(get, path = "/api/v1/admin/promo-codes", tag = "back office", params(CatalogueFilter),
    responses((status = 200, body = [PromoCodeJson])), security(("bearer" = [])))]
pub async fn list_promo_codes(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<CatalogueFilter>,
) -> ApiResult<Json<Vec<PromoCodeJson>>> {
    let rows = state
        .store
        .list_promo_codes(filter.institution_id, filter.limit())
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/promo-codes", tag = "back office",
    request_body = CreatePromoCodeRequest,
    responses((status = 201, body = PromoCodeJson), (status = 403), (status = 404, description = "unknown institution"),
        (status = 409, description = "code taken in this institution"),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_promo_code(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreatePromoCodeRequest>,
) -> ApiResult<(StatusCode, Json<PromoCodeJson>)> {
    let row = create_code(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Creates one promo code (admins only); shared by the JSON API and the back-office pages.
pub async fn create_code(
    state: &AppState,
    staff: &Staff,
    req: CreatePromoCodeRequest,
) -> ApiResult<PromoCodeRow> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let code = f
        .required("code", req.code)
        .and_then(|c| f.check("code", parse_promo_code(&c)));
    let label = f
        .required("label", req.label)
        .and_then(|l| f.check("label", parse_name(&l, LABEL_MAX)));
    let kind = f
        .required("kind", req.kind)
        .and_then(|k| f.check("kind", PromoKind::parse(&k)));
    let rule = req
        .rule
        .parse(kind.unwrap_or(PromoKind::DiscountCode), &mut f);
    f.finish()?;
    let (Some(institution_id), Some(code), Some(label), Some(rule)) =
        (institution_id, code, label, rule)
    else {
        return Err(ApiError::internal());
    };
    let row = state
        .store
        .create_promo_code(
            institution_id,
            &NewPromoCode {
                code: code.into(),
                label,
                rule,
                batch_id: None,
            },
        )
        .await?;
    tracing::info!(promo_code = %row.id, code = %row.code, by = %staff.user.username, "promo code created");
    Ok(row)
}

#[utoipa::path(get, path = "/api/v1/admin/promo-codes/{id}", tag = "back office",
    responses((status = 200, body = PromoCodeJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_promo_code(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PromoCodeJson>> {
    Ok(Json(state.store.get_promo_code(id).await?.into()))
}

/// Activates or deactivates a promo code (admins only); shared by the JSON API and the
/// back-office pages.
pub async fn set_active(
    state: &AppState,
    staff: &Staff,
    id: Uuid,
    active: bool,
) -> ApiResult<PromoCodeRow> {
    staff.require_admin()?;
    let row = state.store.set_promo_code_active(id, active).await?;
    tracing::info!(promo_code = %row.id, active, by = %staff.user.username, "promo code (de)activated");
    Ok(row)
}

#[utoipa::path(post, path = "/api/v1/admin/promo-codes/{id}/deactivate", tag = "back office",
    responses((status = 200, body = PromoCodeJson), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn deactivate_promo_code(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PromoCodeJson>> {
    Ok(Json(set_active(&state, &staff, id, false).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/admin/promo-codes/{id}/activate", tag = "back office",
    responses((status = 200, body = PromoCodeJson), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn activate_promo_code(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PromoCodeJson>> {
    Ok(Json(set_active(&state, &staff, id, true).await?.into()))
}

/// Coupons created together.
#[derive(Serialize, ToSchema)]
pub struct CouponBatchJson {
    pub batch_id: Uuid,
    pub count: usize,
    /// Every code of the batch, in the order created.
    pub codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct GenerateCouponsRequest {
    pub institution_id: Option<Uuid>,
    /// 1 to 15 letters or digits; each code is `PREFIX-` + 16 random symbols (80 bits).
    #[schema(example = "NV")]
    pub prefix: Option<String>,
    /// 1 to 10000.
    pub count: Option<i64>,
    pub label: Option<String>,
    #[serde(flatten)]
    pub rule: RuleInput,
}

fn parse_count(raw: Option<i64>, f: &mut Fields) -> Option<usize> {
    let n = f.required("count", raw)?;
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_BATCH).contains(&n) => Some(n),
        _ => {
            f.add("count", format!("must be between 1 and {MAX_BATCH}"));
            None
        }
    }
}

/// `count` distinct coupon codes, 80 random bits each from the operating system.
fn generate_codes(prefix: &str, count: usize) -> ApiResult<Vec<String>> {
    let mut seen = HashSet::with_capacity(count);
    let mut codes = Vec::with_capacity(count);
    while codes.len() < count {
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| {
            tracing::error!(error = %e, "no randomness for coupon codes");
            ApiError::internal()
        })?;
        let code = String::from(coupon_code(prefix, random));
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    Ok(codes)
}

fn batch_rows(
    codes: Vec<String>,
    label: &str,
    rule: &PromoRule,
    batch_id: Uuid,
) -> Vec<NewPromoCode> {
    codes
        .into_iter()
        .map(|code| NewPromoCode {
            code,
            label: label.to_owned(),
            rule: rule.clone(),
            batch_id: Some(batch_id),
        })
        .collect()
}

fn batch_json(batch_id: Uuid, rows: Vec<PromoCodeRow>) -> CouponBatchJson {
    CouponBatchJson {
        batch_id,
        count: rows.len(),
        codes: rows.into_iter().map(|r| r.code).collect(),
    }
}

#[utoipa::path(post, path = "/api/v1/admin/promo-codes/coupons", tag = "back office",
    request_body = GenerateCouponsRequest,
    responses((status = 201, body = CouponBatchJson), (status = 403), (status = 404, description = "unknown institution"),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn generate_coupons(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<GenerateCouponsRequest>,
) -> ApiResult<(StatusCode, Json<CouponBatchJson>)> {
    let (batch_id, rows) = generate_batch(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(batch_json(batch_id, rows))))
}

/// Generates a batch of single-use coupons (admins only); shared by the JSON API and the
/// back-office pages. Returns the batch id and its coupons.
pub async fn generate_batch(
    state: &AppState,
    staff: &Staff,
    req: GenerateCouponsRequest,
) -> ApiResult<(Uuid, Vec<PromoCodeRow>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let prefix = f
        .required("prefix", req.prefix)
        .and_then(|p| f.check("prefix", parse_coupon_prefix(&p)));
    let count = parse_count(req.count, &mut f);
    let label = f
        .required("label", req.label)
        .and_then(|l| f.check("label", parse_name(&l, LABEL_MAX)));
    let rule = req.rule.parse(PromoKind::Coupon, &mut f);
    f.finish()?;
    let (Some(institution_id), Some(prefix), Some(count), Some(label), Some(rule)) =
        (institution_id, prefix, count, label, rule)
    else {
        return Err(ApiError::internal());
    };
    let batch_id = Uuid::now_v7();
    // All or nothing (the store writes the batch in one transaction). A collision with an
    // existing code is a 2^-80 event per pair: one retry with fresh codes is plenty.
    let mut attempt = 0;
    let rows = loop {
        let codes = generate_codes(&prefix, count)?;
        let news = batch_rows(codes, &label, &rule, batch_id);
        match state.store.create_promo_codes(institution_id, &news).await {
            Err(StoreError::Conflict(_)) if attempt == 0 => {
                tracing::warn!(%batch_id, "generated coupon collided with an existing code; retrying");
                attempt += 1;
            }
            other => break other?,
        }
    };
    tracing::info!(%batch_id, count = rows.len(), by = %staff.user.username, "coupons generated");
    Ok((batch_id, rows))
}

#[derive(Deserialize, ToSchema)]
pub struct ImportCouponsRequest {
    pub institution_id: Option<Uuid>,
    pub label: Option<String>,
    /// 1 to 10000 distinct coupon codes (3 to 32 letters, digits, `-` or `_`).
    pub codes: Option<Vec<String>>,
    #[serde(flatten)]
    pub rule: RuleInput,
}

/// The codes of an import, normalised; errors name the index (`codes[3]`).
fn parse_code_list(raw: Option<Vec<String>>, f: &mut Fields) -> Option<Vec<String>> {
    let raw = f.required("codes", raw)?;
    if !(1..=MAX_BATCH).contains(&raw.len()) {
        f.add("codes", format!("must hold 1 to {MAX_BATCH} codes"));
        return None;
    }
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut codes = Vec::with_capacity(raw.len());
    let mut errors = 0usize;
    for (index, text) in raw.iter().enumerate() {
        let problem = match parse_promo_code(text) {
            Ok(code) => match first_seen.get(code.as_str()) {
                Some(first) => Some(format!("repeats codes[{first}]")),
                None => {
                    first_seen.insert(code.as_str().to_owned(), index);
                    codes.push(String::from(code));
                    None
                }
            },
            Err(e) => Some(e.0),
        };
        if let Some(message) = problem {
            errors += 1;
            if errors <= MAX_CODE_ERRORS {
                f.add(&format!("codes[{index}]"), message);
            }
        }
    }
    if errors > MAX_CODE_ERRORS {
        f.add(
            "codes",
            format!(
                "{errors} codes are invalid or repeated; the first {MAX_CODE_ERRORS} are listed"
            ),
        );
    }
    (errors == 0).then_some(codes)
}

#[utoipa::path(post, path = "/api/v1/admin/promo-codes/import", tag = "back office",
    request_body = ImportCouponsRequest,
    responses((status = 201, body = CouponBatchJson), (status = 403), (status = 404, description = "unknown institution"),
        (status = 409, description = "a code is taken in this institution; nothing was written"),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn import_coupons(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<ImportCouponsRequest>,
) -> ApiResult<(StatusCode, Json<CouponBatchJson>)> {
    let (batch_id, rows) = import_batch(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(batch_json(batch_id, rows))))
}

/// Imports a list of single-use coupons as one batch (admins only); shared by the JSON API
/// and the back-office pages. Returns the batch id and its coupons.
pub async fn import_batch(
    state: &AppState,
    staff: &Staff,
    req: ImportCouponsRequest,
) -> ApiResult<(Uuid, Vec<PromoCodeRow>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let label = f
        .required("label", req.label)
        .and_then(|l| f.check("label", parse_name(&l, LABEL_MAX)));
    let codes = parse_code_list(req.codes, &mut f);
    let rule = req.rule.parse(PromoKind::Coupon, &mut f);
    f.finish()?;
    let (Some(institution_id), Some(label), Some(codes), Some(rule)) =
        (institution_id, label, codes, rule)
    else {
        return Err(ApiError::internal());
    };
    let batch_id = Uuid::now_v7();
    let news = batch_rows(codes, &label, &rule, batch_id);
    let rows = state
        .store
        .create_promo_codes(institution_id, &news)
        .await?;
    tracing::info!(%batch_id, count = rows.len(), by = %staff.user.username, "coupons imported");
    Ok((batch_id, rows))
}

// ---- Voucher products ------------------------------------------------------------------------

/// `{"type": "fixed", "value": {…}, "price": {…}}` (a nominal value sold at its own price) or
/// `{"type": "open", "min": {…}, "max": {…}}` (the buyer chooses; value = price).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoucherValueJson {
    /// `fixed` or `open`.
    #[serde(rename = "type")]
    #[schema(example = "fixed")]
    pub value_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<MoneyJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<MoneyJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<MoneyJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<MoneyJson>,
}

impl From<VoucherValue> for VoucherValueJson {
    fn from(v: VoucherValue) -> Self {
        match v {
            VoucherValue::Fixed { value, price } => Self {
                value_type: "fixed".to_owned(),
                value: Some(value.into()),
                price: Some(price.into()),
                min: None,
                max: None,
            },
            VoucherValue::Open { min, max } => Self {
                value_type: "open".to_owned(),
                value: None,
                price: None,
                min: Some(min.into()),
                max: Some(max.into()),
            },
        }
    }
}

/// One amount of a voucher value, which must be in the product's currency.
fn product_amount(
    name: &str,
    raw: Option<&MoneyJson>,
    currency: Option<Currency>,
    f: &mut Fields,
) -> Option<Money> {
    let field = format!("value.{name}");
    let Some(raw) = raw else {
        f.add(&field, "is required");
        return None;
    };
    let money = raw.parse(&field, f)?;
    if let Some(currency) = currency
        && money.currency() != currency
    {
        f.add(
            &field,
            format!("must be in the product's currency ({currency})"),
        );
        return None;
    }
    Some(money)
}

impl VoucherValueJson {
    fn parse(&self, currency: Option<Currency>, f: &mut Fields) -> Option<VoucherValue> {
        match self.value_type.as_str() {
            "fixed" => {
                let value = product_amount("value", self.value.as_ref(), currency, f);
                let price = product_amount("price", self.price.as_ref(), currency, f);
                Some(VoucherValue::Fixed {
                    value: value?,
                    price: price?,
                })
            }
            "open" => {
                let min = product_amount("min", self.min.as_ref(), currency, f);
                let max = product_amount("max", self.max.as_ref(), currency, f);
                Some(VoucherValue::Open {
                    min: min?,
                    max: max?,
                })
            }
            _ => {
                f.add("value", "type must be fixed or open");
                None
            }
        }
    }
}

/// `{"until_date": "2026-12-31T23:59:59+01:00"}` (every voucher ends then) or `{"days": 365}`
/// (each voucher lasts this long from its issue).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoucherValidityJson {
    /// RFC 3339 with offset, in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_date: Option<String>,
    /// 1 to 3660.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
}

impl From<VoucherValidity> for VoucherValidityJson {
    fn from(v: VoucherValidity) -> Self {
        match v {
            VoucherValidity::UntilDate(date) => Self {
                until_date: Some(date.format(&Rfc3339).unwrap_or_else(|_| date.to_string())),
                days: None,
            },
            VoucherValidity::Days(days) => Self {
                until_date: None,
                days: Some(i64::from(days)),
            },
        }
    }
}

impl VoucherValidityJson {
    fn parse(&self, f: &mut Fields) -> Option<VoucherValidity> {
        match (&self.until_date, self.days) {
            (Some(raw), None) => {
                let date = parse_time("validity.until_date", Some(raw.as_str()), f).ok()??;
                if date <= OffsetDateTime::now_utc() {
                    f.add("validity.until_date", "must be in the future");
                    return None;
                }
                Some(VoucherValidity::UntilDate(date))
            }
            // Out of u32's range is out of 1..=3660 too: 0 makes validate_product say so.
            (None, Some(days)) => Some(VoucherValidity::Days(u32::try_from(days).unwrap_or(0))),
            _ => {
                f.add("validity", "give either until_date or days");
                None
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VoucherProductJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    pub currency: String,
    pub value: VoucherValueJson,
    pub validity: VoucherValidityJson,
    /// Reusable until spent, or single-use (what one order leaves is forfeited).
    pub reusable: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<VoucherProduct> for VoucherProductJson {
    fn from(p: VoucherProduct) -> Self {
        Self {
            id: p.id,
            institution_id: p.institution_id,
            name: p.name,
            currency: p.currency.code().to_owned(),
            value: p.rule.value.into(),
            validity: p.rule.validity.into(),
            reusable: p.rule.reusable,
            created_at: p.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VoucherProductRequest {
    pub institution_id: Option<Uuid>,
    #[schema(example = "Chèque cadeau 50 €")]
    pub name: Option<String>,
    /// ISO 4217; every amount of `value` is in it.
    pub currency: Option<String>,
    pub value: Option<VoucherValueJson>,
    pub validity: Option<VoucherValidityJson>,
    pub reusable: Option<bool>,
}

/// `validate_product`'s field names, placed in the request's shape.
fn product_field(domain_field: &str) -> &str {
    match domain_field {
        "value" => "value.value",
        "price" => "value.price",
        "min" => "value.min",
        "max" => "value.max",
        other => other,
    }
}

#[utoipa::path(get, path = "/api/v1/admin/voucher-products", tag = "back office", params(InstitutionFilter),
    responses((status = 200, body = [VoucherProductJson])), security(("bearer" = [])))]
pub async fn list_voucher_products(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<InstitutionFilter>,
) -> ApiResult<Json<Vec<VoucherProductJson>>> {
    let rows = state
        .store
        .list_voucher_products(filter.institution_id)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/voucher-products", tag = "back office",
    request_body = VoucherProductRequest,
    responses((status = 201, body = VoucherProductJson), (status = 403), (status = 404, description = "unknown institution"),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_voucher_product(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<VoucherProductRequest>,
) -> ApiResult<(StatusCode, Json<VoucherProductJson>)> {
    let product = create_product(&state, &staff, req).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// Creates a voucher product (admins only); shared by the JSON API and the back-office pages.
pub async fn create_product(
    state: &AppState,
    staff: &Staff,
    req: VoucherProductRequest,
) -> ApiResult<VoucherProduct> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", parse_name(&n, NAME_MAX)));
    let currency = f
        .required("currency", req.currency)
        .and_then(|c| f.check("currency", Currency::from_code(&c)));
    let value = f
        .required("value", req.value)
        .and_then(|v| v.parse(currency, &mut f));
    let validity = f
        .required("validity", req.validity)
        .and_then(|v| v.parse(&mut f));
    let reusable = f.required("reusable", req.reusable);
    let rule = match (value, validity, reusable) {
        (Some(value), Some(validity), Some(reusable)) => {
            let rule = VoucherProductRule {
                value,
                validity,
                reusable,
            };
            let errors = validate_product(&rule);
            let valid = errors.is_empty();
            for (field, message) in errors {
                f.add(product_field(field), message);
            }
            valid.then_some(rule)
        }
        _ => None,
    };
    f.finish()?;
    let (Some(institution_id), Some(name), Some(currency), Some(rule)) =
        (institution_id, name, currency, rule)
    else {
        return Err(ApiError::internal());
    };
    let product = state
        .store
        .create_voucher_product(institution_id, &name, currency, &rule)
        .await?;
    tracing::info!(voucher_product = %product.id, by = %staff.user.username, "voucher product created");
    Ok(product)
}

#[utoipa::path(get, path = "/api/v1/admin/voucher-products/{id}", tag = "back office",
    responses((status = 200, body = VoucherProductJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_voucher_product(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<VoucherProductJson>> {
    Ok(Json(state.store.get_voucher_product(id).await?.into()))
}

// ---- Issued vouchers -------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct VoucherJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    /// The whole code for admins; operators see the last group only (`****-****-****-RB6W`):
    /// the code is a bearer credential, like cash.
    #[schema(example = "7K3Q-X9M2-PA4T-RB6W")]
    pub code: String,
    pub product_id: Option<Uuid>,
    pub face_value: MoneyJson,
    /// What is left, read from the ledger (amounts held by unpaid orders already deducted).
    pub balance: MoneyJson,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Usable strictly before `expires_at`.
    pub expired: bool,
    pub reusable: bool,
    /// The order whose payment issued it.
    pub issued_order_id: Option<Uuid>,
    /// The unpaid order holding a single-use voucher, if any.
    pub held_by_order_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `****-****-****-RB6W`: the last group of a voucher code.
pub(crate) fn masked_code(code: &str) -> String {
    let last = code.rsplit('-').next().unwrap_or("");
    let last: String = if last.len() == code.len() {
        // Not grouped: show no more than four characters.
        code.chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    } else {
        last.to_owned()
    };
    format!("****-****-****-{last}")
}

impl VoucherJson {
    fn new(v: Voucher, show_code: bool, now: OffsetDateTime) -> Self {
        Self {
            id: v.id,
            institution_id: v.institution_id,
            code: if show_code {
                v.code
            } else {
                masked_code(&v.code)
            },
            product_id: v.product_id,
            face_value: v.face_value.into(),
            balance: v.balance.into(),
            expires_at: v.expires_at,
            expired: now >= v.expires_at,
            reusable: v.reusable,
            issued_order_id: v.issued_order_id,
            held_by_order_id: v.held_by_order_id,
            created_at: v.created_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/vouchers", tag = "back office", params(CatalogueFilter),
    responses((status = 200, description = "newest first", body = [VoucherJson])), security(("bearer" = [])))]
pub async fn list_vouchers(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(filter): ApiQuery<CatalogueFilter>,
) -> ApiResult<Json<Vec<VoucherJson>>> {
    let rows = state
        .store
        .list_vouchers(filter.institution_id, filter.limit())
        .await?;
    let show = staff.user.role == Role::Admin;
    let now = OffsetDateTime::now_utc();
    Ok(Json(
        rows.into_iter()
            .map(|v| VoucherJson::new(v, show, now))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/vouchers/{id}", tag = "back office",
    responses((status = 200, body = VoucherJson), (status = 404)), security(("bearer" = [])))]
pub async fn get_voucher(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<VoucherJson>> {
    let voucher = state.store.get_voucher(id).await?;
    Ok(Json(VoucherJson::new(
        voucher,
        staff.user.role == Role::Admin,
        OffsetDateTime::now_utc(),
    )))
}

// ---- Deferred-account settlements ------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
pub struct DeferredSettlementRequest {
    /// What the contact paid, > 0, in the contact's currency; at most the outstanding balance.
    pub amount_minor: Option<i64>,
    /// Reference of the payment (cheque number, transfer…), kept in the ledger.
    pub memo: Option<String>,
}

/// Posts Dr cash, Cr the contact's deferred account; `Bounds` (→ 422 `insufficient_balance`,
/// nothing written) when it is more than the outstanding.
async fn post_deferred_settlement(
    state: &AppState,
    contact: &Contact,
    amount: Money,
    memo: &str,
) -> ApiResult<Uuid> {
    super::contacts::post_contact_movement(
        state,
        contact,
        amount.currency(),
        (AccountKind::ContactDeferred, AccountKind::Cash),
        |deferred, cash| deferred_settlement(deferred, cash, amount, memo),
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/admin/contacts/{id}/deferred-settlements", tag = "back office",
    request_body = DeferredSettlementRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same key and parameters")),
    responses((status = 201, description = "recorded; the contact with its accounting tab", body = ContactJson),
        (status = 403), (status = 404),
        (status = 409, description = "a request with this Idempotency-Key is still running"),
        (status = 422, description = "invalid fields, more than the outstanding (`insufficient_balance`), or an Idempotency-Key reused with other parameters", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn settle_deferred(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = staff.require_admin() {
        return e.into_response();
    }
    let key = match idempotency::key_of(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let fp = idempotency::fingerprint(
        &method,
        &format!("/api/v1/admin/contacts/{id}/deferred-settlements"),
        &body,
    );
    // Per user: one operator's keys never replay another's responses.
    let scope = format!("admin:{}", staff.user.id);
    idempotency::run(&state, &scope, key, &fp, || async {
        let req: DeferredSettlementRequest = idempotency::parse_json(&body)?;
        let contact = state.store.get_contact(id).await?;
        let mut f = Fields::new();
        let amount = f.required("amount_minor", req.amount_minor);
        if amount.is_some_and(|a| a <= 0) {
            f.add("amount_minor", "must be greater than zero");
        }
        let memo = f
            .required("memo", req.memo)
            .and_then(|m| f.check("memo", parse_name(&m, MEMO_MAX)));
        f.finish()?;
        let (Some(amount), Some(memo)) = (amount, memo) else {
            return Err(ApiError::internal());
        };
        let amount = Money::new(amount, contact.currency);
        let transaction = post_deferred_settlement(&state, &contact, amount, &memo).await?;
        tracing::info!(contact = %id, %transaction, amount_minor = amount.amount_minor(), by = %staff.user.username, "deferred account settlement");
        let tab = state.store.accounting_tab(id).await?;
        let json = serde_json::to_value(ContactJson::new(contact, Some(tab)))
            .map_err(|_| ApiError::internal())?;
        Ok((StatusCode::CREATED, json)) as idempotency::JsonResult
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_group() {
        assert_eq!(masked_code("7K3Q-X9M2-PA4T-RB6W"), "****-****-****-RB6W");
        assert_eq!(masked_code("7K3QX9M2PA4TRB6W"), "****-****-****-RB6W");
        assert_eq!(masked_code(""), "****-****-****-");
    }

    #[test]
    fn generated_codes_are_distinct_prefixed_promo_codes() {
        let codes = generate_codes("NV", 200).unwrap();
        let distinct: HashSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), 200);
        for code in &codes {
            assert!(code.starts_with("NV-") && code.len() == 19, "{code}");
            assert!(parse_promo_code(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn voucher_lookalikes_are_not_promo_codes() {
        assert!(parse_promo_code("7K3Q-X9M2-PA4T-RB6W").is_err());
        assert_eq!(
            parse_promo_code(" nouveaux-venus ").map(String::from),
            Ok("NOUVEAUX-VENUS".to_owned())
        );
    }
}

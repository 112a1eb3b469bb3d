//! Contacts with their accounting tab (the seed's "Gestion > Comptabilité": credit balance,
//! deferred account allowed, deferred balance, maximum outstanding), read from the ledger; their
//! financial history; credit-balance adjustments; and the ledger audit.

use super::{InstitutionFilter, MoneyJson};
use crate::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use guichet_domain::config::{parse_email, parse_language, parse_name};
use guichet_domain::postings::{AccountRef, PostingError, credit_adjustment};
use guichet_domain::{AccountKind, Currency, Money, Transaction};
use guichet_store::{AccountingTab, Contact, ContactPatch, HistoryLine, NewContact};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct AccountingJson {
    /// What the institution owes the contact (usable to pay).
    pub credit_balance: MoneyJson,
    pub deferred_allowed: bool,
    /// What the contact owes on the deferred account.
    pub deferred_balance: MoneyJson,
    pub deferred_max: MoneyJson,
    /// How much more can go on the deferred account (0 when not allowed).
    pub deferred_room: MoneyJson,
}

impl From<AccountingTab> for AccountingJson {
    fn from(t: AccountingTab) -> Self {
        let room = crate::checkout::deferred_room(&t);
        Self {
            credit_balance: t.credit_balance.into(),
            deferred_allowed: t.deferred_allowed,
            deferred_balance: t.deferred_balance.into(),
            deferred_max: t.deferred_max.into(),
            deferred_room: room.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    /// The shop's own reference for this customer.
    pub external_ref: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub language: String,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounting: Option<AccountingJson>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ContactJson {
    pub fn new(c: Contact, tab: Option<AccountingTab>) -> Self {
        Self {
            id: c.id,
            institution_id: c.institution_id,
            external_ref: c.external_ref,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            language: c.language,
            currency: c.currency.code().to_owned(),
            accounting: tab.map(Into::into),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateContactRequest {
    /// Required from the back office; a shop's contacts go to its own institution.
    pub institution_id: Option<Uuid>,
    pub external_ref: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// ISO 639-1, default `fr`.
    pub language: Option<String>,
    /// Default: the institution's currency.
    pub currency: Option<String>,
    /// Default false.
    pub deferred_allowed: Option<bool>,
    /// Maximum outstanding on the deferred account, in the contact's currency. Default 0.
    pub deferred_max_minor: Option<i64>,
}

/// Parses a contact creation; shared by the back office and the shop API.
pub async fn parse_new_contact(
    state: &AppState,
    institution_id: Option<Uuid>,
    req: CreateContactRequest,
) -> ApiResult<NewContact> {
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", institution_id);
    let external_ref = match req.external_ref {
        Some(r) => f.check("external_ref", parse_name(&r, 100)),
        None => None,
    };
    let first_name = f.check(
        "first_name",
        parse_name(req.first_name.as_deref().unwrap_or("-"), 100),
    );
    let last_name = f
        .required("last_name", req.last_name)
        .and_then(|n| f.check("last_name", parse_name(&n, 100)));
    let email = f
        .required("email", req.email)
        .and_then(|e| f.check("email", parse_email(&e)));
    let language = f.check(
        "language",
        parse_language(req.language.as_deref().unwrap_or("fr")),
    );
    let currency = match req.currency {
        Some(c) => f.check("currency", Currency::from_code(&c)),
        None => None,
    };
    let deferred_max_minor = req.deferred_max_minor.unwrap_or(0);
    if deferred_max_minor < 0 {
        f.add("deferred_max_minor", "must not be negative");
    }
    f.finish()?;
    let (Some(institution_id), Some(first_name), Some(last_name), Some(email), Some(language)) =
        (institution_id, first_name, last_name, email, language)
    else {
        return Err(ApiError::internal());
    };
    let currency = match currency {
        Some(c) => c,
        None => {
            state
                .store
                .get_institution(institution_id)
                .await?
                .default_currency
        }
    };
    Ok(NewContact {
        institution_id,
        external_ref,
        first_name,
        last_name,
        email,
        language,
        currency,
        deferred_allowed: req.deferred_allowed.unwrap_or(false),
        deferred_max: Money::new(deferred_max_minor, currency),
    })
}

#[utoipa::path(get, path = "/api/v1/admin/contacts", tag = "back office", params(InstitutionFilter),
    responses((status = 200, body = [ContactJson])), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _staff: Staff,
    ApiQuery(filter): ApiQuery<InstitutionFilter>,
) -> ApiResult<Json<Vec<ContactJson>>> {
    let rows = state
        .store
        .list_contacts(filter.institution_id, 500)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|c| ContactJson::new(c, None))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/contacts", tag = "back office",
    request_body = CreateContactRequest,
    responses((status = 201, body = ContactJson), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _staff: Staff,
    ApiJson(req): ApiJson<CreateContactRequest>,
) -> ApiResult<(StatusCode, Json<ContactJson>)> {
    let institution_id = req.institution_id;
    let new = parse_new_contact(&state, institution_id, req).await?;
    let contact = state.store.create_contact(&new).await?;
    let tab = state.store.accounting_tab(contact.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContactJson::new(contact, Some(tab))),
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/contacts/{id}", tag = "back office",
    responses((status = 200, body = ContactJson), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ContactJson>> {
    let contact = state.store.get_contact(id).await?;
    let tab = state.store.accounting_tab(id).await?;
    Ok(Json(ContactJson::new(contact, Some(tab))))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateContactRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub deferred_allowed: Option<bool>,
    pub deferred_max_minor: Option<i64>,
}

#[utoipa::path(patch, path = "/api/v1/admin/contacts/{id}", tag = "back office",
    request_body = UpdateContactRequest,
    responses((status = 200, body = ContactJson), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateContactRequest>,
) -> ApiResult<Json<ContactJson>> {
    let (contact, tab) = update_contact(&state, &staff, id, req).await?;
    Ok(Json(ContactJson::new(contact, Some(tab))))
}

/// Changes a contact (the accounting fields need the admin role); shared by the JSON API and
/// the back-office pages. Returns the contact and its accounting tab.
pub async fn update_contact(
    state: &AppState,
    staff: &Staff,
    id: Uuid,
    req: UpdateContactRequest,
) -> ApiResult<(Contact, AccountingTab)> {
    let contact = state.store.get_contact(id).await?;
    let mut f = Fields::new();
    let mut patch = ContactPatch::default();
    if let Some(n) = req.first_name {
        patch.first_name = f.check("first_name", parse_name(&n, 100));
    }
    if let Some(n) = req.last_name {
        patch.last_name = f.check("last_name", parse_name(&n, 100));
    }
    if let Some(e) = req.email {
        patch.email = f.check("email", parse_email(&e));
    }
    if let Some(l) = req.language {
        patch.language = f.check("language", parse_language(&l));
    }
    // The accounting tab decides credit risk: admins only.
    if req.deferred_allowed.is_some() || req.deferred_max_minor.is_some() {
        staff.require_admin()?;
    }
    patch.deferred_allowed = req.deferred_allowed;
    if let Some(max) = req.deferred_max_minor {
        if max < 0 {
            f.add("deferred_max_minor", "must not be negative");
        }
        patch.deferred_max = Some(Money::new(max, contact.currency));
    }
    f.finish()?;
    let contact = state.store.update_contact(id, &patch).await?;
    let tab = state.store.accounting_tab(id).await?;
    Ok((contact, tab))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryLineJson {
    pub transaction_id: Uuid,
    /// e.g. `credit_adjustment`, `voucher_redemption`, `deferred_charge`.
    pub kind: String,
    pub memo: String,
    pub order_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `contact_credit` or `contact_deferred`.
    pub account: String,
    /// `debit` or `credit`.
    pub side: String,
    pub amount: MoneyJson,
    /// Effect on that balance: positive raises it.
    pub balance_change_minor: i64,
}

impl From<HistoryLine> for HistoryLineJson {
    fn from(h: HistoryLine) -> Self {
        Self {
            transaction_id: h.transaction_id,
            kind: h.kind,
            memo: h.memo,
            order_id: h.order_id,
            created_at: h.created_at,
            account: h.account_kind.as_str().to_owned(),
            side: match h.side {
                guichet_domain::Side::Debit => "debit".to_owned(),
                guichet_domain::Side::Credit => "credit".to_owned(),
            },
            amount: h.amount.into(),
            balance_change_minor: h.delta_minor,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/contacts/{id}/history", tag = "back office",
    responses((status = 200, body = [HistoryLineJson]), (status = 404)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<HistoryLineJson>>> {
    let lines = state.store.contact_history(id).await?;
    Ok(Json(lines.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct CreditAdjustmentRequest {
    /// Positive credits the contact, negative takes credit back; in the contact's currency.
    pub amount_minor: Option<i64>,
    /// Why (kept in the ledger).
    pub memo: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/contacts/{id}/credit-adjustments", tag = "back office",
    request_body = CreditAdjustmentRequest,
    responses((status = 201, body = ContactJson), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn adjust_credit(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreditAdjustmentRequest>,
) -> ApiResult<(StatusCode, Json<ContactJson>)> {
    staff.require_admin()?;
    let contact = state.store.get_contact(id).await?;
    let mut f = Fields::new();
    let amount = f.required("amount_minor", req.amount_minor);
    if amount == Some(0) {
        f.add("amount_minor", "must not be zero");
    }
    let memo = f
        .required("memo", req.memo)
        .and_then(|m| f.check("memo", parse_name(&m, 200)));
    f.finish()?;
    let (Some(amount), Some(memo)) = (amount, memo) else {
        return Err(ApiError::internal());
    };
    let posted = post_credit_adjustment(
        &state,
        &contact,
        Money::new(amount, contact.currency),
        &memo,
    )
    .await?;
    tracing::info!(contact = %id, transaction = %posted, amount_minor = amount, by = %staff.user.username, "credit adjustment");
    let tab = state.store.accounting_tab(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContactJson::new(contact, Some(tab))),
    ))
}

/// Posts a movement between one of a contact's accounts and one of its institution's (the
/// counterpart), as the domain rule `build(contact_account, institution_account)` decides;
/// returns the transaction id.
pub async fn post_contact_movement(
    state: &AppState,
    contact: &Contact,
    currency: Currency,
    kinds: (AccountKind, AccountKind),
    build: impl FnOnce(AccountRef, AccountRef) -> Result<Transaction, PostingError>,
) -> ApiResult<Uuid> {
    let store = &state.store;
    let (contact_kind, institution_kind) = kinds;
    let own = crate::checkout::account_ref(
        store,
        contact.institution_id,
        contact_kind,
        contact.id,
        currency,
    )
    .await?;
    let counterpart = crate::checkout::account_ref(
        store,
        contact.institution_id,
        institution_kind,
        contact.institution_id,
        currency,
    )
    .await?;
    let transaction =
        build(own, counterpart).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let posted = store
        .post_transaction(contact.institution_id, None, &transaction)
        .await?;
    Ok(posted.id)
}

/// Posts a credit-balance adjustment through the ledger; returns the transaction id.
pub async fn post_credit_adjustment(
    state: &AppState,
    contact: &Contact,
    amount: Money,
    memo: &str,
) -> ApiResult<Uuid> {
    post_contact_movement(
        state,
        contact,
        amount.currency(),
        (AccountKind::ContactCredit, AccountKind::Adjustments),
        |credit, adjustments| credit_adjustment(credit, adjustments, amount, memo),
    )
    .await
}

#[derive(Serialize, ToSchema)]
pub struct AuditJson {
    pub accounts_checked: u64,
    pub transactions_checked: u64,
    pub entries_checked: u64,
    pub differences: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "back office",
    responses((status = 200, body = AuditJson)), security(("bearer" = [])))]
pub async fn audit(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<AuditJson>> {
    staff.require_admin()?;
    let report = state.store.audit().await?;
    Ok(Json(AuditJson {
        accounts_checked: report.accounts_checked,
        transactions_checked: report.transactions_checked,
        entries_checked: report.entries_checked,
        differences: report.differences.iter().map(ToString::to_string).collect(),
    }))
}

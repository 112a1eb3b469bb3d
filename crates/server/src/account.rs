//! The buyer's account (API.md "Buyer account pages"; SPEC F8): a shop asks for a short-lived
//! account link for one of its contacts (`POST /api/v1/contacts/{id}/account-link`); the
//! link's token (`Authorization: Bearer <token>`, only its SHA-256 is stored) opens the buyer's
//! account API: saved cards (list, change the expiry date or the holder name, delete — at the
//! provider too), credit balance, installments. A buyer reaches only their own cards: any
//! other id is "not found" and changes nothing.

use crate::AppState;
use crate::admin::MoneyJson;
use crate::auth::{self, Shop};
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath};
use crate::psp::Account as PspAccount;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Json;
use guichet_store::{Contact, InstallmentRow, SavedCard};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long an account link opens the account.
pub const LINK_MINUTES: i64 = 30;

#[derive(Serialize, ToSchema)]
pub struct AccountLinkJson {
    /// The account pages, for the buyer's browser.
    pub url: String,
    /// The bearer token of the account API (the same credential as the URL's).
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[utoipa::path(post, path = "/api/v1/contacts/{id}/account-link", tag = "shop",
    responses((status = 201, body = AccountLinkJson), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn create_link(
    State(state): State<AppState>,
    shop: Shop,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<AccountLinkJson>)> {
    let contact = state.store.get_contact(id).await?;
    if contact.institution_id != shop.key.institution_id {
        return Err(ApiError::not_found("contact"));
    }
    let token = auth::random_token("acc_")?;
    let expires_at = OffsetDateTime::now_utc() + time::Duration::minutes(LINK_MINUTES);
    state
        .store
        .create_account_link(&auth::sha256_hex(&token), contact.id, expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountLinkJson {
            url: format!("{}/account?token={token}", state.config.base_url),
            token,
            expires_at,
        }),
    ))
}

/// The buyer an account token opens; 401 when the token is unknown or expired.
pub struct Buyer {
    pub contact: Contact,
}

impl FromRequestParts<AppState> for Buyer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let contact = contact_of_token(state, token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Buyer { contact })
    }
}

/// The contact an account token opens now; none when the token is unknown or expired. The
/// account API takes the token as a bearer, the account pages from their session cookie.
pub async fn contact_of_token(state: &AppState, token: &str) -> ApiResult<Option<Contact>> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    let Some(id) = state
        .store
        .account_link_contact(&auth::sha256_hex(token), OffsetDateTime::now_utc())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(state.store.get_contact(id).await?))
}

/// A saved card as the buyer and the back office see it: never more than the last 4 digits.
#[derive(Serialize, ToSchema)]
pub struct SavedCardJson {
    pub id: Uuid,
    pub brand: String,
    /// `XXXX XXXX XXXX 4242`.
    pub masked: String,
    /// `MM/YYYY`.
    pub expiry: String,
    pub holder: String,
    /// Expired cards are shown, never offered for payment.
    pub expired: bool,
}

/// `XXXX XXXX XXXX 4242` from a provider's masked number (`XXXXXXXXXXXX4242`, `411111XXXXXX4242`).
pub fn masked_for_display(masked_pan: &str) -> String {
    let digits: Vec<char> = masked_pan.chars().filter(char::is_ascii_digit).collect();
    let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("XXXX XXXX XXXX {last4}")
}

/// `MMYY` → (month, full year).
pub fn expiry_parts(expiry: &str) -> Option<(u8, i32)> {
    if expiry.len() != 4 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u8 = expiry[..2].parse().ok()?;
    let year: i32 = expiry[2..].parse().ok()?;
    (1..=12).contains(&month).then_some((month, 2000 + year))
}

/// Whether a card expiring `MMYY` can no longer pay on `today` (valid through its month).
pub fn is_expired(expiry: &str, today: time::Date) -> bool {
    match expiry_parts(expiry) {
        Some((month, year)) => (year, month) < (today.year(), u8::from(today.month())),
        None => true,
    }
}

impl SavedCardJson {
    pub fn new(card: &SavedCard, today: time::Date) -> Self {
        let expiry = match expiry_parts(&card.expiry) {
            Some((m, y)) => format!("{m:02}/{y}"),
            None => card.expiry.clone(),
        };
        SavedCardJson {
            id: card.id,
            brand: card.brand.clone(),
            masked: masked_for_display(&card.masked_pan),
            expiry,
            holder: card.holder.clone(),
            expired: is_expired(&card.expiry, today),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountJson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub credit_balance: MoneyJson,
    pub deferred_balance: MoneyJson,
}

#[utoipa::path(get, path = "/api/v1/account", tag = "account",
    responses((status = 200, body = AccountJson), (status = 401)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, buyer: Buyer) -> ApiResult<Json<AccountJson>> {
    let tab = state.store.accounting_tab(buyer.contact.id).await?;
    Ok(Json(AccountJson {
        first_name: buyer.contact.first_name.clone(),
        last_name: buyer.contact.last_name.clone(),
        email: buyer.contact.email.clone(),
        credit_balance: tab.credit_balance.into(),
        deferred_balance: tab.deferred_balance.into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/account/cards", tag = "account",
    responses((status = 200, body = [SavedCardJson]), (status = 401)), security(("bearer" = [])))]
pub async fn cards(
    State(state): State<AppState>,
    buyer: Buyer,
) -> ApiResult<Json<Vec<SavedCardJson>>> {
    let today = OffsetDateTime::now_utc().date();
    let cards = state.store.saved_cards_of_contact(buyer.contact.id).await?;
    Ok(Json(
        cards.iter().map(|c| SavedCardJson::new(c, today)).collect(),
    ))
}

/// One of the buyer's own cards; anybody else's is "not found".
pub async fn own_card(state: &AppState, contact: &Contact, id: Uuid) -> ApiResult<SavedCard> {
    match state.store.get_saved_card(id).await {
        Ok(card) if card.contact_id == contact.id => Ok(card),
        _ => Err(ApiError::not_found("card")),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CardChange {
    /// `MM/YYYY` (or `MMYY`).
    pub expiry: Option<String>,
    pub holder: Option<String>,
}

/// `MM/YYYY`, `MM/YY` or `MMYY` → `MMYY`.
pub fn parse_expiry(text: &str, today: time::Date) -> Result<String, String> {
    let t = text.trim();
    let (m, y) = match t.split_once('/') {
        Some((m, y)) if y.len() == 4 => (m, &y[2..]),
        Some((m, y)) => (m, y),
        None if t.len() == 4 => (&t[..2], &t[2..]),
        None => return Err("MM/YYYY".to_owned()),
    };
    let mmyy = format!("{m:0>2}{y}");
    if expiry_parts(&mmyy).is_none() {
        return Err("MM/YYYY, with a month from 01 to 12".to_owned());
    }
    if is_expired(&mmyy, today) {
        return Err("this date is already past".to_owned());
    }
    Ok(mmyy)
}

#[utoipa::path(patch, path = "/api/v1/account/cards/{id}", tag = "account",
    request_body = CardChange,
    responses((status = 200, body = SavedCardJson), (status = 401), (status = 404), (status = 422), (status = 502)),
    security(("bearer" = [])))]
pub async fn change_card(
    State(state): State<AppState>,
    buyer: Buyer,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CardChange>,
) -> ApiResult<Json<SavedCardJson>> {
    let card = change_card_of(
        &state,
        &buyer.contact,
        id,
        req.expiry.as_deref(),
        req.holder.as_deref(),
    )
    .await?;
    Ok(Json(SavedCardJson::new(
        &card,
        OffsetDateTime::now_utc().date(),
    )))
}

/// Changes the expiry (`MM/YYYY`, `MM/YY` or `MMYY`) and/or the holder of one of the contact's
/// saved cards: at the provider first, then in the store. Field errors answer 422 with
/// `expiry` / `holder`.
pub async fn change_card_of(
    state: &AppState,
    contact: &Contact,
    id: Uuid,
    expiry: Option<&str>,
    holder: Option<&str>,
) -> ApiResult<SavedCard> {
    let today = OffsetDateTime::now_utc().date();
    let mut f = Fields::new();
    let new_expiry = expiry.and_then(|e| f.check("expiry", parse_expiry(e, today)));
    let new_holder = holder.map(str::trim).and_then(|h| {
        if h.is_empty() || h.chars().count() > 100 || h.chars().any(char::is_control) {
            f.add("holder", "1 to 100 printable characters");
            None
        } else {
            Some(h.to_owned())
        }
    });
    if expiry.is_none() && holder.is_none() {
        f.add("expiry", "give expiry, holder or both");
    }
    f.finish()?;
    let card = own_card(state, contact, id).await?;
    // The provider first: a card Guichet shows must be the card the provider holds.
    let account = PspAccount::load(state, card.sales_channel_id).await?;
    account
        .update_saved_card(
            &card,
            new_expiry.as_deref().unwrap_or(&card.expiry),
            new_holder.as_deref().unwrap_or(&card.holder),
        )
        .await?;
    let card = state
        .store
        .update_saved_card(id, new_expiry.as_deref(), new_holder.as_deref())
        .await?;
    tracing::info!(card = %card.id, contact = %contact.id, "saved card changed");
    Ok(card)
}

#[utoipa::path(delete, path = "/api/v1/account/cards/{id}", tag = "account",
    responses((status = 204), (status = 401), (status = 404), (status = 502)),
    security(("bearer" = [])))]
pub async fn delete_card(
    State(state): State<AppState>,
    buyer: Buyer,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_card_of(&state, &buyer.contact, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of the contact's saved cards: the alias at the provider, then the card.
pub async fn delete_card_of(state: &AppState, contact: &Contact, id: Uuid) -> ApiResult<()> {
    let card = own_card(state, contact, id).await?;
    let account = PspAccount::load(state, card.sales_channel_id).await?;
    account.delete_saved_card(&card).await?;
    state.store.delete_saved_card(id).await?;
    tracing::info!(card = %card.id, contact = %contact.id, "saved card deleted");
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct InstallmentJson {
    pub id: Uuid,
    pub order_id: Uuid,
    pub number: u8,
    /// `YYYY-MM-DD`.
    pub due_on: String,
    pub amount: MoneyJson,
    /// `open`, `paid`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: u32,
    pub failure_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
}

impl From<&InstallmentRow> for InstallmentJson {
    fn from(r: &InstallmentRow) -> Self {
        InstallmentJson {
            id: r.id,
            order_id: r.order_id,
            number: r.number,
            due_on: r.due_on.to_string(),
            amount: r.amount.into(),
            status: r.status.as_str().to_owned(),
            attempts: r.attempts,
            failure_reason: r.failure_reason.clone(),
            paid_at: r.paid_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/account/installments", tag = "account",
    responses((status = 200, body = [InstallmentJson]), (status = 401)), security(("bearer" = [])))]
pub async fn installments(
    State(state): State<AppState>,
    buyer: Buyer,
) -> ApiResult<Json<Vec<InstallmentJson>>> {
    Ok(Json(installments_of(&state, &buyer.contact).await?))
}

/// The contact's installments, by order then number.
pub async fn installments_of(
    state: &AppState,
    contact: &Contact,
) -> ApiResult<Vec<InstallmentJson>> {
    let rows = state
        .store
        .list_installments(Some(contact.institution_id), None, 1000)
        .await?;
    let mut mine = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for row in &rows {
        let own = match mine.get(&row.order_id) {
            Some(own) => *own,
            None => {
                let order = state.store.get_order(row.order_id).await?;
                let own = order.contact_id == Some(contact.id);
                mine.insert(row.order_id, own);
                own
            }
        };
        if own {
            out.push(InstallmentJson::from(row));
        }
    }
    out.sort_by_key(|i| (i.order_id, i.number));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn expiry_and_masking() {
        let today = date!(2026 - 11 - 29);
        assert!(!is_expired("1126", today), "valid through its month");
        assert!(is_expired("1026", today));
        assert!(!is_expired("0127", today));
        assert!(is_expired("1326", today), "no month 13");
        assert!(is_expired("12", today));
        assert_eq!(expiry_parts("1230"), Some((12, 2030)));
        assert_eq!(
            masked_for_display("XXXXXXXXXXXX4242"),
            "XXXX XXXX XXXX 4242"
        );
        assert_eq!(
            masked_for_display("411111XXXXXX1111"),
            "XXXX XXXX XXXX 1111"
        );
        assert_eq!(parse_expiry("11/2031", today).as_deref(), Ok("1131"));
        assert_eq!(parse_expiry("1/31", today).as_deref(), Ok("0131"));
        assert_eq!(parse_expiry("1131", today).as_deref(), Ok("1131"));
        assert!(parse_expiry("13/2031", today).is_err());
        assert!(parse_expiry("10/2026", today).is_err(), "past");
        assert!(parse_expiry("soon", today).is_err());
    }
}

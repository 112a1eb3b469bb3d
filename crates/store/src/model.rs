//! Rows as the store reads and writes them. The server converts these to its own JSON types;
//! nothing here is serialized to a client directly.

use guichet_domain::config::{
    ChannelKind, PaymentModeCode, PaymentModeStatus, PaymentModeType, ProviderKind, PublicNames,
    Role, ThreeDsPolicy,
};
use guichet_domain::{AccountKind, Currency, Money, Side};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    pub id: Uuid,
    pub name: String,
    pub default_currency: Currency,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesChannel {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub organizer_id: Uuid,
    pub kind: ChannelKind,
    pub name: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointOfSale {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub sales_channel_id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// Everything the back-office form of a payment mode holds (the seed's "Mode de règlement").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentModeFields {
    pub code: PaymentModeCode,
    pub internal_name: String,
    pub public_names: PublicNames,
    pub mode_type: PaymentModeType,
    pub status: PaymentModeStatus,
    pub predetermined: bool,
    pub available_for_payment: bool,
    pub available_for_refund: bool,
    /// Order amount limits; both in one currency.
    pub min_order: Option<Money>,
    pub max_order: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMode {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub fields: PaymentModeFields,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A channel's payment system as written by the back office. Secrets are sealed before they
/// reach the database; `credentials` holds them only in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSystemInput {
    pub provider: ProviderKind,
    pub label: String,
    pub base_url: String,
    pub merchant_id: String,
    pub settings: BTreeMap<String, String>,
    pub credentials: BTreeMap<String, Secret>,
    pub card_saving_enabled: bool,
    pub cvv_on_saved_cards: bool,
    pub three_ds_policy: ThreeDsPolicy,
    pub three_ds_days: u32,
}

/// A payment system as the back office reads it: secret names, never secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSystem {
    pub sales_channel_id: Uuid,
    pub provider: ProviderKind,
    pub label: String,
    pub base_url: String,
    pub merchant_id: String,
    pub settings: BTreeMap<String, String>,
    pub credential_names: Vec<String>,
    pub card_saving_enabled: bool,
    pub cvv_on_saved_cards: bool,
    pub three_ds_policy: ThreeDsPolicy,
    pub three_ds_days: u32,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub institution_id: Uuid,
    pub external_ref: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub language: String,
    pub currency: Currency,
    pub deferred_allowed: bool,
    pub deferred_max: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub external_ref: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub language: String,
    pub currency: Currency,
    pub deferred_allowed: bool,
    pub deferred_max: Money,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The accounting tab of a contact (the seed's "Gestion > Comptabilité"), read from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingTab {
    pub credit_balance: Money,
    pub deferred_allowed: bool,
    pub deferred_balance: Money,
    pub deferred_max: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerAccount {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub kind: AccountKind,
    pub owner_id: Uuid,
    pub currency: Currency,
    pub balance: Money,
    pub min_balance_minor: Option<i64>,
    pub max_balance_minor: Option<i64>,
}

/// One posted ledger transaction as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedTransaction {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub kind: String,
    pub memo: String,
    pub order_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
}

/// One line of an account's history: an entry with its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub transaction_id: Uuid,
    pub kind: String,
    pub memo: String,
    pub order_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub account_kind: AccountKind,
    pub side: Side,
    pub amount: Money,
    /// Signed effect on the account's natural balance.
    pub delta_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopKey {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// What `guichet audit` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub accounts_checked: u64,
    pub transactions_checked: u64,
    pub entries_checked: u64,
    pub differences: Vec<AuditDifference>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDifference {
    /// The cached balance of an account differs from the sum of its entries.
    Balance {
        account_id: Uuid,
        kind: String,
        owner_id: Uuid,
        currency: String,
        recorded_minor: i64,
        recomputed_minor: i64,
    },
    /// A transaction whose debits and credits differ in one currency.
    Unbalanced {
        transaction_id: Uuid,
        currency: String,
        debits_minor: i64,
        credits_minor: i64,
    },
    /// An entry in another currency than its account, or an unknown kind or side.
    Malformed { entry_id: Uuid, reason: String },
    /// A balance outside its bounds (negative credit, deferred outstanding over the maximum).
    OutOfBounds {
        account_id: Uuid,
        kind: String,
        owner_id: Uuid,
        balance_minor: i64,
        reason: String,
    },
}

impl std::fmt::Display for AuditDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditDifference::Balance {
                account_id,
                kind,
                owner_id,
                currency,
                recorded_minor,
                recomputed_minor,
            } => write!(
                f,
                "account {account_id} ({kind}, owner {owner_id}, {currency}): recorded balance {recorded_minor} minor units, entries sum to {recomputed_minor}"
            ),
            AuditDifference::Unbalanced {
                transaction_id,
                currency,
                debits_minor,
                credits_minor,
            } => write!(
                f,
                "transaction {transaction_id}: {currency} debits {debits_minor} != credits {credits_minor}"
            ),
            AuditDifference::Malformed { entry_id, reason } => {
                write!(f, "entry {entry_id}: {reason}")
            }
            AuditDifference::OutOfBounds {
                account_id,
                kind,
                owner_id,
                balance_minor,
                reason,
            } => write!(
                f,
                "account {account_id} ({kind}, owner {owner_id}): balance {balance_minor} {reason}"
            ),
        }
    }
}

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
    /// How many cards a contact may keep saved on this payment system.
    pub max_saved_cards: u32,
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
    pub max_saved_cards: u32,
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

// ---- Orders and settlement -------------------------------------------------------------

use guichet_domain::order::{Delivery, OrderLine};
use guichet_domain::promo::PromoRule;
use guichet_domain::voucher::VoucherProductRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    AwaitingPayment,
    Paid,
    Cancelled,
    Expired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OrderStatus::AwaitingPayment,
            OrderStatus::Paid,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Paid, cancelled and expired orders change no more.
    pub fn is_final(self) -> bool {
        self != OrderStatus::AwaitingPayment
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub institution_id: Uuid,
    pub point_of_sale_id: Uuid,
    pub shop_key_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub currency: Currency,
    pub language: String,
    pub total: Money,
    pub lines: Vec<OrderLine>,
    pub delivery: Delivery,
    pub first_event_at: Option<OffsetDateTime>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    pub checkout_token_hash: String,
    pub hold_expires_at: OffsetDateTime,
}

/// Held, committed or released: the life of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Held,
    Committed,
    Released,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Committed => "committed",
            HoldStatus::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            HoldStatus::Held,
            HoldStatus::Committed,
            HoldStatus::Released,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    Voucher,
    CreditBalance,
    DeferredAccount,
    Card,
    /// The part of an order owed in later installments.
    Installments,
}

impl LegKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LegKind::Voucher => "voucher",
            LegKind::CreditBalance => "credit_balance",
            LegKind::DeferredAccount => "deferred_account",
            LegKind::Card => "card",
            LegKind::Installments => "installments",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            LegKind::Voucher,
            LegKind::CreditBalance,
            LegKind::DeferredAccount,
            LegKind::Card,
            LegKind::Installments,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

// ---- Card payments and refunds --------------------------------------------------------

/// Where a card payment stands with its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardPaymentStatus {
    /// Written before the provider call; the outcome is not known yet (or was lost).
    PendingProvider,
    /// The provider asked for 3-D Secure; the buyer is at the issuer's page.
    AwaitingThreeDs,
    Captured,
    Declined,
    /// The provider never took the payment (not sent, or refused as invalid data).
    Failed,
    /// The buyer never finished (3-D Secure or hosted page left); nothing was captured.
    Abandoned,
}

impl CardPaymentStatus {
    pub const ALL: [CardPaymentStatus; 6] = [
        CardPaymentStatus::PendingProvider,
        CardPaymentStatus::AwaitingThreeDs,
        CardPaymentStatus::Captured,
        CardPaymentStatus::Declined,
        CardPaymentStatus::Failed,
        CardPaymentStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CardPaymentStatus::PendingProvider => "pending_provider",
            CardPaymentStatus::AwaitingThreeDs => "awaiting_3ds",
            CardPaymentStatus::Captured => "captured",
            CardPaymentStatus::Declined => "declined",
            CardPaymentStatus::Failed => "failed",
            CardPaymentStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Pending at the provider: the recovery job asks about it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CardPaymentStatus::PendingProvider | CardPaymentStatus::AwaitingThreeDs
        )
    }
}

/// The card a payment used, as the provider described it (never the number itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardDetails {
    pub alias: Option<String>,
    /// At most BIN + last 4 digits.
    pub masked_pan: Option<String>,
    pub brand: Option<String>,
    /// `MMYY`.
    pub expiry: Option<String>,
    pub holder: Option<String>,
}

/// Who started a card payment: the buyer at checkout, or Guichet charging a saved card
/// (an installment) without the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentInitiator {
    Customer,
    Merchant,
}

impl PaymentInitiator {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentInitiator::Customer => "customer",
            PaymentInitiator::Merchant => "merchant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PaymentInitiator::Customer, PaymentInitiator::Merchant]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCardPayment {
    pub id: Uuid,
    pub leg_id: Uuid,
    pub sales_channel_id: Uuid,
    pub provider: ProviderKind,
    pub reference: String,
    pub amount: Money,
    pub three_ds_required: bool,
    pub three_ds_reason: String,
    pub card: CardDetails,
    pub next_check_at: OffsetDateTime,
    /// The installment a merchant-initiated payment charges.
    pub installment_id: Option<Uuid>,
    pub initiator: PaymentInitiator,
    /// Customer-present payments: keep the card as a saved card once captured.
    pub save_card: bool,
    /// Customer-present payments: the first installment of this plan.
    pub installment_plan_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPayment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub leg_id: Uuid,
    pub sales_channel_id: Uuid,
    pub provider: ProviderKind,
    pub reference: String,
    pub amount: Money,
    pub status: CardPaymentStatus,
    pub three_ds_required: bool,
    pub three_ds_reason: String,
    pub card: CardDetails,
    pub provider_payid: Option<String>,
    pub provider_status: Option<String>,
    pub failure_reason: Option<String>,
    pub next_check_at: OffsetDateTime,
    pub checks: i64,
    /// The installment a merchant-initiated payment charges.
    pub installment_id: Option<Uuid>,
    pub initiator: PaymentInitiator,
    /// Customer-present payments: keep the card as a saved card once captured.
    pub save_card: bool,
    /// Customer-present payments: the first installment of this plan.
    pub installment_plan_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDestination {
    Card,
    CreditBalance,
}

impl RefundDestination {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundDestination::Card => "card",
            RefundDestination::CreditBalance => "credit_balance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [RefundDestination::Card, RefundDestination::CreditBalance]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    PendingProvider,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::PendingProvider => "pending_provider",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RefundStatus::PendingProvider,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub id: Uuid,
    pub leg_id: Uuid,
    pub destination: RefundDestination,
    pub amount: Money,
    pub status: RefundStatus,
    pub card_payment_id: Option<Uuid>,
    pub requested_by: String,
    pub next_check_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub leg_id: Uuid,
    pub destination: RefundDestination,
    pub amount: Money,
    pub status: RefundStatus,
    pub card_payment_id: Option<Uuid>,
    pub provider_payidsub: Option<String>,
    pub failure_reason: Option<String>,
    pub requested_by: String,
    pub next_check_at: OffsetDateTime,
    pub checks: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoApplication {
    pub id: Uuid,
    pub promo_code_id: Uuid,
    pub code: String,
    pub label: String,
    pub rule: PromoRule,
    pub position: i32,
    pub status: HoldStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLeg {
    pub id: Uuid,
    pub kind: LegKind,
    /// The voucher or the contact the leg draws on.
    pub source_id: Uuid,
    pub amount: Money,
    pub status: HoldStatus,
    /// Refunded from this leg so far (pending provider refunds included).
    pub refunded: Money,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub point_of_sale_id: Uuid,
    pub shop_key_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub currency: Currency,
    pub language: String,
    pub status: OrderStatus,
    pub total: Money,
    pub lines: Vec<OrderLine>,
    pub delivery: Delivery,
    pub first_event_at: Option<OffsetDateTime>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    pub version: i64,
    pub hold_expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
    pub closed_at: Option<OffsetDateTime>,
    /// In the order entered (position).
    pub promos: Vec<PromoApplication>,
    pub legs: Vec<OrderLeg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoCodeRow {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub code: String,
    pub label: String,
    pub rule: PromoRule,
    pub batch_id: Option<Uuid>,
    pub uses_count: i64,
    pub active: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPromoCode {
    pub code: String,
    pub label: String,
    pub rule: PromoRule,
    pub batch_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherProduct {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    pub currency: Currency,
    pub rule: VoucherProductRule,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoucher {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub code: String,
    pub product_id: Option<Uuid>,
    pub face_value: Money,
    pub reusable: bool,
    pub expires_at: OffsetDateTime,
    pub issued_order_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub code: String,
    pub product_id: Option<Uuid>,
    pub face_value: Money,
    pub reusable: bool,
    pub expires_at: OffsetDateTime,
    pub issued_order_id: Option<Uuid>,
    pub held_by_order_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    /// What is left, read from the ledger (holds already deducted).
    pub balance: Money,
}

// ---- Saved cards and installments ------------------------------------------------------

/// A card saved with its provider: the alias the channel's payment system holds and what may
/// be shown of the card. Never the number or the CVV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCard {
    pub id: Uuid,
    pub contact_id: Uuid,
    /// The channel whose payment system holds the alias.
    pub sales_channel_id: Uuid,
    pub provider: ProviderKind,
    pub alias: String,
    /// At most BIN + last 4 digits.
    pub masked_pan: String,
    pub brand: String,
    /// `MMYY`.
    pub expiry: String,
    pub holder: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSavedCard {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub sales_channel_id: Uuid,
    pub provider: ProviderKind,
    pub alias: String,
    pub masked_pan: String,
    pub brand: String,
    /// `MMYY`.
    pub expiry: String,
    pub holder: String,
}

/// A point of sale's installment plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallmentPlanRow {
    pub id: Uuid,
    pub point_of_sale_id: Uuid,
    pub name: String,
    pub plan: guichet_domain::installments::InstallmentPlan,
    /// Inactive plans are no longer offered; installments already scheduled keep them.
    pub active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstallmentPlan {
    pub point_of_sale_id: Uuid,
    pub name: String,
    pub plan: guichet_domain::installments::InstallmentPlan,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallmentStatus {
    /// Not paid yet: the job runner charges it once due.
    Open,
    Paid,
    /// Given up after the last attempt.
    Failed,
    Cancelled,
}

impl InstallmentStatus {
    pub const ALL: [InstallmentStatus; 4] = [
        InstallmentStatus::Open,
        InstallmentStatus::Paid,
        InstallmentStatus::Failed,
        InstallmentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstallmentStatus::Open => "open",
            InstallmentStatus::Paid => "paid",
            InstallmentStatus::Failed => "failed",
            InstallmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One installment of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallmentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub plan_id: Uuid,
    /// 1-based.
    pub number: u8,
    pub due_on: time::Date,
    pub amount: Money,
    pub status: InstallmentStatus,
    /// Charges tried so far.
    pub attempts: u32,
    /// When the job runner may charge it (next).
    pub next_attempt_at: OffsetDateTime,
    /// A job runner's lease: no other runner claims it before then.
    pub claimed_until: Option<OffsetDateTime>,
    pub saved_card_id: Option<Uuid>,
    /// The payment that paid it, or the last one tried.
    pub card_payment_id: Option<Uuid>,
    pub failure_reason: Option<String>,
    pub paid_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstallment {
    pub id: Uuid,
    pub plan_id: Uuid,
    /// 1-based.
    pub number: u8,
    pub due_on: time::Date,
    pub amount: Money,
    pub status: InstallmentStatus,
    pub next_attempt_at: OffsetDateTime,
    pub saved_card_id: Option<Uuid>,
    pub card_payment_id: Option<Uuid>,
    pub paid_at: Option<OffsetDateTime>,
}

/// One change to an order, applied with others atomically by [`crate::Store::apply_order_ops`].
/// The domain decides what to change; the store only carries it out, with guards that make
/// concurrent requests safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOp {
    /// Reserve a use of a promo code: `Conflict("promo_used_up")` when the total or the
    /// contact's limit is reached.
    PromoHold {
        application_id: Uuid,
        promo_code_id: Uuid,
        contact_id: Option<Uuid>,
        position: i32,
        max_uses_per_contact: Option<u32>,
    },
    /// Held → released (gives the use back) or held → committed.
    PromoSettle {
        application_id: Uuid,
        to: HoldStatus,
    },
    /// A new leg; a voucher leg also takes the voucher when it is single-use
    /// (`Conflict("voucher_in_use")` if another order holds it).
    LegInsert {
        leg_id: Uuid,
        kind: LegKind,
        source_id: Uuid,
        amount: Money,
        status: HoldStatus,
    },
    /// Changes a held leg's status and amount (a partial release keeps it held with less).
    LegUpdate {
        leg_id: Uuid,
        to: HoldStatus,
        amount: Money,
    },
    /// A single-use voucher goes back to being free (after its order released it).
    VoucherUnhold {
        voucher_id: Uuid,
    },
    IssueVoucher(NewVoucher),
    Post(guichet_domain::Transaction),
    SetStatus {
        to: OrderStatus,
    },
    Webhook {
        shop_key_id: Uuid,
        event_id: Uuid,
        event_type: String,
        payload: String,
    },
    /// The provider side of a new card leg (inserted with the leg, before the provider call).
    CardPaymentInsert(NewCardPayment),
    /// Moves a card payment on, only from one of `from` (`Conflict("card_payment_moved")`
    /// otherwise, so a duplicate feedback changes nothing). `None` fields are left as they are.
    CardPaymentSet {
        id: Uuid,
        from: Vec<CardPaymentStatus>,
        to: CardPaymentStatus,
        payid: Option<String>,
        provider_status: Option<String>,
        failure_reason: Option<String>,
        next_check_at: Option<OffsetDateTime>,
    },
    /// A new refund: the leg's refunded amount grows, guarded so that it never exceeds what the
    /// leg collected (`Conflict("refund_exceeds_leg")`).
    RefundInsert(NewRefund),
    /// A pending refund becomes succeeded or failed (a failed one gives the leg's room back);
    /// `Conflict("refund_moved")` when it is no longer pending.
    RefundSet {
        id: Uuid,
        to: RefundStatus,
        payidsub: Option<String>,
        failure_reason: Option<String>,
    },
    /// Saves a card for its contact. When the channel already holds a live card with this
    /// alias, that card's masked number, brand, expiry and holder are updated instead (the op
    /// is idempotent) and its id is kept: a later [`OrderOp::InstallmentsInsert`] of the same
    /// list that names `card.id` as its saved card gets the kept card's id. A live card with
    /// this alias of another contact: `Conflict("saved_card_alias_taken")`. A new card when the
    /// contact already has `max` or more live cards: `Conflict("saved_cards_limit")`.
    SavedCardInsert {
        card: NewSavedCard,
        max: u32,
    },
    /// The installments of the order being applied (`Conflict("installment_exists")` when a
    /// number is taken).
    InstallmentsInsert(Vec<NewInstallment>),
    /// Moves an installment of this order on, only from one of `from`
    /// (`Conflict("installment_moved")` otherwise). Always clears the claim; `attempts_increment`
    /// counts one more attempt; `None` fields are left as they are.
    InstallmentSet {
        id: Uuid,
        from: Vec<InstallmentStatus>,
        to: InstallmentStatus,
        attempts_increment: bool,
        next_attempt_at: Option<OffsetDateTime>,
        card_payment_id: Option<Uuid>,
        failure_reason: Option<String>,
        paid_at: Option<OffsetDateTime>,
    },
}

/// What a first use of an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// This request runs; finish or abandon the key afterwards.
    Started,
    /// Done before: replay the stored response.
    Replay { status: u16, body: String },
    /// The key was used with other parameters.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: Uuid,
    pub shop_key_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub attempts: i32,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: Secret,
}

// ---- back office: dashboard

/// One means of payment's share of the orders paid in a period ([`crate::Store::payments_by_means`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeansTotal {
    /// A leg kind ([`LegKind::as_str`]) or `promo`.
    pub means: String,
    pub amount: Money,
    /// Orders settled (partly) with this means.
    pub orders: i64,
}

/// A promo code applied to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoUse {
    pub order_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub status: HoldStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

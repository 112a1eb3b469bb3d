//! Guichet's persistence. One interface, [`Store`], with two implementations compiled from one
//! source against sqlx's native drivers: SQLite (the embedded default: one file, WAL) and
//! PostgreSQL (production; several `serve` instances may share it).
//!
//! Invariants kept here:
//! - every ledger transaction is written with the balance changes it explains, in one database
//!   transaction; account bounds (credit ≥ 0, deferred outstanding ≤ maximum) are enforced by
//!   conditional updates, so concurrent writers cannot overdraw;
//! - provider secrets are sealed ([`crypto`]) before they reach a row;
//! - no amount is ever stored as anything but integer minor units.

mod cache;
pub mod crash;
pub mod crypto;
pub mod model;
mod sql;

use async_trait::async_trait;
use guichet_domain::config::{ChannelKind, Role};
use guichet_domain::{AccountKind, Currency, Money, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

pub use crypto::{MasterKey, Secret};
pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    /// A ledger posting would move an account outside its bounds (overdraw a voucher or a
    /// credit balance, pass a deferred account's maximum). Nothing was written.
    #[error("account {account_id} ({kind}) would leave its bounds")]
    Bounds { account_id: Uuid, kind: String },
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Changes to a contact; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub deferred_allowed: Option<bool>,
    pub deferred_max: Option<Money>,
}

/// The one storage interface. `Arc<dyn Store>` is what the server and the binary hold.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Applies pending migrations. Safe to call from several processes at once on PostgreSQL
    /// (sqlx takes an advisory lock, so each migration runs once). Returns how many migrations
    /// became recorded during this call: instances starting together may each count a migration
    /// that another of them applied while they waited for the lock.
    async fn migrate(&self) -> Result<usize>;
    async fn ping(&self) -> Result<()>;
    /// Versions recorded in `_sqlx_migrations` (to prove each ran once).
    async fn applied_migrations(&self) -> Result<Vec<i64>>;

    async fn create_institution(&self, name: &str, currency: Currency) -> Result<Institution>;
    async fn list_institutions(&self) -> Result<Vec<Institution>>;
    async fn get_institution(&self, id: Uuid) -> Result<Institution>;

    async fn create_organizer(&self, institution_id: Uuid, name: &str) -> Result<Organizer>;
    async fn list_organizers(&self, institution_id: Option<Uuid>) -> Result<Vec<Organizer>>;
    async fn get_organizer(&self, id: Uuid) -> Result<Organizer>;

    async fn create_sales_channel(
        &self,
        organizer_id: Uuid,
        kind: ChannelKind,
        name: &str,
    ) -> Result<SalesChannel>;
    async fn list_sales_channels(&self, organizer_id: Option<Uuid>) -> Result<Vec<SalesChannel>>;
    async fn get_sales_channel(&self, id: Uuid) -> Result<SalesChannel>;

    async fn create_point_of_sale(&self, sales_channel_id: Uuid, name: &str)
    -> Result<PointOfSale>;
    async fn list_points_of_sale(&self, sales_channel_id: Option<Uuid>)
    -> Result<Vec<PointOfSale>>;
    async fn get_point_of_sale(&self, id: Uuid) -> Result<PointOfSale>;

    /// `Conflict` when the code is taken in this institution.
    async fn create_payment_mode(
        &self,
        institution_id: Uuid,
        fields: &PaymentModeFields,
    ) -> Result<PaymentMode>;
    async fn update_payment_mode(
        &self,
        id: Uuid,
        fields: &PaymentModeFields,
    ) -> Result<PaymentMode>;
    async fn delete_payment_mode(&self, id: Uuid) -> Result<()>;
    async fn get_payment_mode(&self, id: Uuid) -> Result<PaymentMode>;
    async fn list_payment_modes(&self, institution_id: Option<Uuid>) -> Result<Vec<PaymentMode>>;
    /// Returns false when the association already existed. `Invalid` when the point of sale
    /// and the payment mode belong to different institutions.
    async fn associate_payment_mode(
        &self,
        point_of_sale_id: Uuid,
        payment_mode_id: Uuid,
    ) -> Result<bool>;
    async fn dissociate_payment_mode(
        &self,
        point_of_sale_id: Uuid,
        payment_mode_id: Uuid,
    ) -> Result<()>;
    async fn point_of_sale_payment_modes(&self, point_of_sale_id: Uuid)
    -> Result<Vec<PaymentMode>>;

    async fn put_payment_system(
        &self,
        sales_channel_id: Uuid,
        input: &PaymentSystemInput,
    ) -> Result<PaymentSystem>;
    async fn get_payment_system(&self, sales_channel_id: Uuid) -> Result<PaymentSystem>;
    /// The decrypted secrets, for the provider connectors only.
    async fn payment_system_credentials(
        &self,
        sales_channel_id: Uuid,
    ) -> Result<BTreeMap<String, Secret>>;

    async fn create_contact(&self, contact: &NewContact) -> Result<Contact>;
    async fn get_contact(&self, id: Uuid) -> Result<Contact>;
    async fn list_contacts(&self, institution_id: Option<Uuid>, limit: u32)
    -> Result<Vec<Contact>>;
    async fn update_contact(&self, id: Uuid, patch: &ContactPatch) -> Result<Contact>;
    async fn accounting_tab(&self, contact_id: Uuid) -> Result<AccountingTab>;
    /// Every ledger line on the contact's accounts, oldest first.
    async fn contact_history(&self, contact_id: Uuid) -> Result<Vec<HistoryLine>>;

    /// The account of `kind` owned by `owner_id` in `currency`, created on first use with the
    /// bounds its kind implies (a contact's deferred account takes the contact's maximum).
    async fn ledger_account(
        &self,
        institution_id: Uuid,
        kind: AccountKind,
        owner_id: Uuid,
        currency: Currency,
    ) -> Result<LedgerAccount>;
    /// The id of [`Store::ledger_account`]'s account (created on first use), without its
    /// balance: an account's identity never changes, so it is kept in the process after the
    /// first read.
    async fn ledger_account_id(
        &self,
        institution_id: Uuid,
        kind: AccountKind,
        owner_id: Uuid,
        currency: Currency,
    ) -> Result<Uuid>;
    async fn get_ledger_account(&self, id: Uuid) -> Result<LedgerAccount>;
    /// Writes a balanced transaction and its balance changes atomically. `Bounds` (and nothing
    /// written) when an account would leave its bounds.
    async fn post_transaction(
        &self,
        institution_id: Uuid,
        order_id: Option<Uuid>,
        transaction: &Transaction,
    ) -> Result<PostedTransaction>;
    /// Recomputes every balance from the entries.
    async fn audit(&self) -> Result<AuditReport>;

    async fn create_user(&self, username: &str, password_hash: &str, role: Role) -> Result<User>;
    async fn find_user(&self, username: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The user of a live session.
    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    async fn create_shop_key(
        &self,
        institution_id: Uuid,
        name: &str,
        prefix: &str,
        key_hash: &str,
    ) -> Result<ShopKey>;
    async fn list_shop_keys(&self, institution_id: Option<Uuid>) -> Result<Vec<ShopKey>>;
    async fn revoke_shop_key(&self, id: Uuid) -> Result<()>;
    /// The live (not revoked) key with this hash.
    async fn shop_key_by_hash(&self, key_hash: &str) -> Result<Option<ShopKey>>;

    /// The shop's webhook endpoint; `secret` is sealed at rest. `None` removes it.
    async fn set_shop_webhook(
        &self,
        shop_key_id: Uuid,
        endpoint: Option<&WebhookEndpoint>,
    ) -> Result<()>;
    async fn shop_webhook(&self, shop_key_id: Uuid) -> Result<Option<WebhookEndpoint>>;

    // ---- orders and settlement ----

    async fn create_order(&self, order: &NewOrder) -> Result<Order>;
    async fn get_order(&self, id: Uuid) -> Result<Order>;
    async fn order_by_token_hash(&self, token_hash: &str) -> Result<Order>;
    /// Applies `ops` atomically if the order is still at `expected_version` (else
    /// `Conflict("order_changed")` and nothing written); bumps the version.
    async fn apply_order_ops(
        &self,
        order_id: Uuid,
        expected_version: i64,
        ops: &[OrderOp],
    ) -> Result<Order>;
    /// Orders awaiting payment whose holds expired before `now` (for the job runner), except
    /// those with a card payment still at the provider (recovery settles those first).
    async fn expired_orders(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Uuid>>;

    // ---- card payments and refunds ----

    async fn card_payments_of_order(&self, order_id: Uuid) -> Result<Vec<CardPayment>>;
    async fn get_card_payment(&self, id: Uuid) -> Result<CardPayment>;
    async fn card_payment_by_reference(&self, reference: &str) -> Result<CardPayment>;
    /// Card payments still open at the provider whose next check is due (recovery job).
    async fn card_payments_to_check(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<CardPayment>>;
    /// Records a recovery check that settled nothing: one more check, next one at `next`.
    async fn card_payment_checked(&self, id: Uuid, next: OffsetDateTime) -> Result<()>;
    async fn refunds_of_order(&self, order_id: Uuid) -> Result<Vec<Refund>>;
    async fn get_refund(&self, id: Uuid) -> Result<Refund>;
    /// Refunds pending at the provider whose next check is due (recovery job).
    async fn refunds_to_check(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Refund>>;
    async fn refund_checked(&self, id: Uuid, next: OffsetDateTime) -> Result<()>;

    async fn create_promo_code(
        &self,
        institution_id: Uuid,
        promo: &NewPromoCode,
    ) -> Result<PromoCodeRow>;
    /// Creates many (coupons) at once; `Conflict` and nothing written if any code is taken.
    async fn create_promo_codes(
        &self,
        institution_id: Uuid,
        promos: &[NewPromoCode],
    ) -> Result<Vec<PromoCodeRow>>;
    async fn get_promo_code(&self, id: Uuid) -> Result<PromoCodeRow>;
    async fn promo_code_by_code(
        &self,
        institution_id: Uuid,
        code: &str,
    ) -> Result<Option<PromoCodeRow>>;
    async fn list_promo_codes(
        &self,
        institution_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<PromoCodeRow>>;
    async fn set_promo_code_active(&self, id: Uuid, active: bool) -> Result<PromoCodeRow>;
    /// Held and committed uses of a code by a contact.
    async fn promo_uses_by_contact(&self, promo_code_id: Uuid, contact_id: Uuid) -> Result<u64>;

    async fn create_voucher_product(
        &self,
        institution_id: Uuid,
        name: &str,
        currency: Currency,
        rule: &guichet_domain::voucher::VoucherProductRule,
    ) -> Result<VoucherProduct>;
    async fn get_voucher_product(&self, id: Uuid) -> Result<VoucherProduct>;
    async fn list_voucher_products(
        &self,
        institution_id: Option<Uuid>,
    ) -> Result<Vec<VoucherProduct>>;
    /// Issues a voucher outside an order (sold at a counter, given as a gesture): the voucher
    /// and the transaction that funds its liability account are written together.
    async fn issue_voucher(&self, voucher: &NewVoucher, funding: &Transaction) -> Result<Voucher>;
    async fn get_voucher(&self, id: Uuid) -> Result<Voucher>;
    async fn voucher_by_code(&self, code: &str) -> Result<Option<Voucher>>;
    async fn list_vouchers(&self, institution_id: Option<Uuid>, limit: u32)
    -> Result<Vec<Voucher>>;

    /// Claims the idempotency key for this request (see [`IdempotencyBegin`]).
    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<IdempotencyBegin>;
    async fn idempotency_finish(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()>;
    /// Frees a key whose request failed before changing anything, so it may be retried.
    async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()>;
    /// Forgets finished keys created before `before` (the job runner keeps them 48 hours);
    /// returns how many went.
    async fn purge_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64>;

    /// Counts a hit in a fixed window; returns the hits in the current window, this one included.
    async fn rate_limit_hit(
        &self,
        bucket: &str,
        window_seconds: u32,
        now: OffsetDateTime,
    ) -> Result<u32>;
    /// [`Store::rate_limit_hit`] for several buckets at once, in one transaction (one durable
    /// commit instead of one per bucket); returns the hits of each, in the order given.
    async fn rate_limit_hit_many(
        &self,
        buckets: &[String],
        window_seconds: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<u32>>;
    /// Hits in the current window, without counting one.
    async fn rate_limit_hits(
        &self,
        bucket: &str,
        window_seconds: u32,
        now: OffsetDateTime,
    ) -> Result<u32>;

    /// Claims up to `limit` webhook events due at `now`, pushing their next attempt to
    /// `now + lease_seconds` so that another instance does not send them meanwhile.
    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        lease_seconds: u32,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>>;
    /// Records an attempt: delivered, or failed with the next attempt (None = give up).
    async fn webhook_attempted(
        &self,
        id: Uuid,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> Result<()>;
    /// Records the delivery of every event in `ids` in one statement (a batch's deliveries).
    async fn webhooks_delivered(&self, ids: &[Uuid]) -> Result<()>;
    async fn list_webhook_events(
        &self,
        shop_key_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(WebhookEvent, String)>>;

    // ---- saved cards and account links ----

    /// The contact's live (not deleted) cards, oldest first. Cards are saved by
    /// [`OrderOp::SavedCardInsert`].
    async fn saved_cards_of_contact(&self, contact_id: Uuid) -> Result<Vec<SavedCard>>;
    /// `NotFound` when unknown or deleted.
    async fn get_saved_card(&self, id: Uuid) -> Result<SavedCard>;
    /// The live card with this alias on this channel's payment system.
    async fn saved_card_by_alias(
        &self,
        sales_channel_id: Uuid,
        alias: &str,
    ) -> Result<Option<SavedCard>>;
    /// Changes a live card's expiry (`MMYY`) and holder; `None` leaves a field as it is.
    async fn update_saved_card(
        &self,
        id: Uuid,
        expiry: Option<&str>,
        holder: Option<&str>,
    ) -> Result<SavedCard>;
    /// Deletes a card (the row stays, marked deleted, for the installments that used it);
    /// `NotFound` when unknown or already deleted.
    async fn delete_saved_card(&self, id: Uuid) -> Result<()>;

    /// Records a link token (its SHA-256) that attaches a browser to a contact until
    /// `expires_at`. Expired links are purged on the way.
    async fn create_account_link(
        &self,
        token_hash: &str,
        contact_id: Uuid,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The contact of a link still valid at `now`; `None` when unknown or expired.
    async fn account_link_contact(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Uuid>>;

    // ---- installment plans and installments ----

    /// `Invalid` when the plan does not validate, `NotFound` when the point of sale is unknown.
    async fn create_installment_plan(
        &self,
        plan: &NewInstallmentPlan,
    ) -> Result<InstallmentPlanRow>;
    /// Replaces every field of the plan (installments already scheduled keep their amounts and
    /// dates).
    async fn update_installment_plan(
        &self,
        id: Uuid,
        plan: &NewInstallmentPlan,
    ) -> Result<InstallmentPlanRow>;
    async fn get_installment_plan(&self, id: Uuid) -> Result<InstallmentPlanRow>;
    /// Oldest first.
    async fn list_installment_plans(
        &self,
        point_of_sale_id: Option<Uuid>,
    ) -> Result<Vec<InstallmentPlanRow>>;
    /// `Conflict("plan_in_use")` when installments were scheduled with it: deactivate it
    /// instead.
    async fn delete_installment_plan(&self, id: Uuid) -> Result<()>;

    /// By number. Installments are written by [`OrderOp::InstallmentsInsert`] and moved by
    /// [`OrderOp::InstallmentSet`].
    async fn installments_of_order(&self, order_id: Uuid) -> Result<Vec<InstallmentRow>>;
    async fn get_installment(&self, id: Uuid) -> Result<InstallmentRow>;
    /// Claims up to `limit` open installments due at `now` (next attempt at or before `now`)
    /// that no live lease holds, leasing them until `lease_until`, and returns them (earliest
    /// attempt first). Each row goes to exactly one caller, even with several processes on
    /// PostgreSQL. [`OrderOp::InstallmentSet`] and [`Store::release_installment_claim`] end the
    /// lease; so does its expiry.
    async fn claim_due_installments(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<InstallmentRow>>;
    /// Ends a lease without changing anything else (`NotFound` when unknown).
    async fn release_installment_claim(&self, id: Uuid) -> Result<()>;
    /// For the back office: latest due date first.
    async fn list_installments(
        &self,
        institution_id: Option<Uuid>,
        status: Option<InstallmentStatus>,
        limit: u32,
    ) -> Result<Vec<InstallmentRow>>;

    // ---- back office: refunds

    /// The latest refunds of every order, newest first, at most `limit`.
    async fn recent_refunds(&self, limit: u32) -> Result<Vec<Refund>>;

    // ---- back office: dashboard
    /// What the orders paid in `[from, to)` were settled with, per means and currency: the
    /// committed payment legs by kind (`voucher`, `credit_balance`, `deferred_account`, `card`,
    /// `installments`), and `promo` for what promo codes took off (the order's total less its
    /// legs: the discount part of its `order_commit`). `orders` counts the orders using it.
    async fn payments_by_means(
        &self,
        institution_id: Option<Uuid>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<MeansTotal>>;
    /// The orders a promo code was applied to, oldest first (held, committed or released).
    async fn promo_code_uses(&self, promo_code_id: Uuid) -> Result<Vec<PromoUse>>;
    /// The coupons generated or imported together, in the order created.
    async fn promo_codes_of_batch(&self, batch_id: Uuid) -> Result<Vec<PromoCodeRow>>;
    /// Every ledger line on a voucher's liability account (issue, holds, releases, forfeit),
    /// oldest first; `NotFound` for an unknown voucher.
    async fn voucher_history(&self, voucher_id: Uuid) -> Result<Vec<HistoryLine>>;
}

pub type DynStore = Arc<dyn Store>;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `sqlite://path`, `sqlite:path`, a plain file path, or `postgres://…`.
    pub url: String,
    pub master_key: MasterKey,
    /// PostgreSQL pool size (SQLite uses one writer and a few readers).
    pub max_connections: u32,
}

/// Opens the database named by the URL (it does not migrate: call [`Store::migrate`]).
pub async fn connect(options: ConnectOptions) -> Result<DynStore> {
    let url = options.url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            sql::PgStore::connect(url, options.master_key, options.max_connections).await?,
        ))
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Invalid(
                "a SQLite database needs a file path (WAL does not work in memory)".into(),
            ));
        }
        Ok(Arc::new(
            sql::SqliteStore::connect(path, options.master_key).await?,
        ))
    }
}

/// Bounds a new account of this kind starts with (natural balance).
pub(crate) fn default_bounds(kind: AccountKind) -> (Option<i64>, Option<i64>) {
    match kind {
        AccountKind::ContactCredit | AccountKind::VoucherLiability | AccountKind::Holds => {
            (Some(0), None)
        }
        // The maximum comes from the contact; a receivable never goes below zero (an
        // overpayment belongs on the credit balance).
        AccountKind::ContactDeferred => (Some(0), None),
        // Nobody owes less than nothing on an order paid in installments.
        AccountKind::InstallmentsReceivable => (Some(0), None),
        _ => (None, None),
    }
}
#[cfg(feature = "testing")]
pub mod testing;

//! The two SQL implementations of [`Store`](crate::Store), written once.
//!
//! `sql_store!` expands the same method bodies twice, once against `sqlx::Sqlite` and once
//! against `sqlx::Postgres`, so each query is compiled for its native driver (sqlx's `Any`
//! driver lacks UUID and time types). The SQL is written in the common dialect of both: `$N`
//! placeholders (SQLite accepts them), `ON CONFLICT`, `RETURNING`-free inserts. Where the
//! dialects differ the body branches on `BACKEND`.

use crate::crypto::{MasterKey, Secret};
use crate::model::*;
use crate::{Backend, ContactPatch, Result, Store, StoreError, default_bounds};
use async_trait::async_trait;
use guichet_domain::config::{
    ChannelKind, PaymentModeCode, PaymentModeStatus, PaymentModeType, ProviderKind, PublicNames,
    Role, ThreeDsPolicy,
};
use guichet_domain::installments::{InstallmentPlan, PlanMode};
use guichet_domain::{AccountKind, Currency, Money, Side, Transaction, natural_delta};
use sqlx::Row;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Timestamps are stored in UTC, truncated to microseconds (PostgreSQL's precision) so that a
/// value reads back equal on both backends.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    let micros = t.microsecond();
    t.replace_microsecond(micros).unwrap_or(t)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn currency(code: &str) -> Result<Currency> {
    Currency::from_code(code).map_err(corrupt)
}

fn side_str(side: Side) -> &'static str {
    match side {
        Side::Debit => "debit",
        Side::Credit => "credit",
    }
}

fn parse_side(s: &str) -> Result<Side> {
    match s {
        "debit" => Ok(Side::Debit),
        "credit" => Ok(Side::Credit),
        other => Err(corrupt(format!("unknown entry side {other:?}"))),
    }
}

fn parse_kind(s: &str) -> Result<AccountKind> {
    AccountKind::parse(s).ok_or_else(|| corrupt(format!("unknown account kind {s:?}")))
}

/// Maps a unique-constraint violation to `Conflict(what)`; other errors pass through.
fn conflict_on_unique(err: sqlx::Error, what: &str) -> StoreError {
    if let Some(db) = err.as_database_error()
        && db.kind() == sqlx::error::ErrorKind::UniqueViolation
    {
        return StoreError::Conflict(what.to_owned());
    }
    StoreError::Db(err)
}

fn limits_of(fields: &PaymentModeFields) -> Result<(Option<String>, Option<i64>, Option<i64>)> {
    let currency = match (fields.min_order, fields.max_order) {
        (Some(a), Some(b)) if a.currency() != b.currency() => {
            return Err(StoreError::Invalid(
                "minimum and maximum order amounts must be in one currency".into(),
            ));
        }
        (Some(a), _) | (None, Some(a)) => Some(a.currency().code().to_owned()),
        (None, None) => None,
    };
    Ok((
        currency,
        fields.min_order.map(Money::amount_minor),
        fields.max_order.map(Money::amount_minor),
    ))
}

/// After this long a `running` idempotency key belongs to a request that died (see
/// `idempotency_begin`).
const STALE_RUNNING_SECONDS: i64 = 300;

fn webhook_aad(shop_key_id: Uuid) -> Vec<u8> {
    format!("guichet:shop_webhook:{shop_key_id}").into_bytes()
}

/// Start of the fixed rate-limit window containing `now`.
fn window_start(now: OffsetDateTime, window_seconds: u32) -> OffsetDateTime {
    let w = i64::from(window_seconds.max(1));
    let t = now.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(t - t.rem_euclid(w)).unwrap_or(now)
}

fn sealed_aad(sales_channel_id: Uuid) -> Vec<u8> {
    format!("guichet:payment_system:{sales_channel_id}").into_bytes()
}

fn plan_mode_str(mode: PlanMode) -> &'static str {
    match mode {
        PlanMode::Restrictive => "restrictive",
        PlanMode::Free => "free",
    }
}

fn parse_plan_mode(s: &str) -> Result<PlanMode> {
    match s {
        "restrictive" => Ok(PlanMode::Restrictive),
        "free" => Ok(PlanMode::Free),
        other => Err(corrupt(format!("unknown installment plan mode {other:?}"))),
    }
}

/// The columns of an installment plan row, from a plan the domain accepts.
struct PlanColumns {
    count: i32,
    split: String,
    interval: String,
    min_amount_minor: i64,
    currency: &'static str,
    mode: &'static str,
}

fn plan_columns(plan: &InstallmentPlan) -> Result<PlanColumns> {
    plan.validate()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(PlanColumns {
        count: i32::from(plan.count),
        split: serde_json::to_string(&plan.split).map_err(corrupt)?,
        interval: serde_json::to_string(&plan.interval).map_err(corrupt)?,
        min_amount_minor: plan.min_amount.amount_minor(),
        currency: plan.min_amount.currency().code(),
        mode: plan_mode_str(plan.mode),
    })
}

/// The rows whose state moves are guarded by their status.
#[derive(Clone, Copy)]
enum Guarded {
    CardPayment,
    Installment,
}

/// `$first, $first+1, …` (`count` of them), for an `IN (…)` list of bound values. An empty
/// list gives `NULL`, which matches nothing.
fn placeholders(first: usize, count: usize) -> String {
    if count == 0 {
        return "NULL".to_owned();
    }
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `u32` limits and counters into the `INTEGER` columns that hold them.
fn int_column(value: u32, what: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} is too large")))
}

macro_rules! sql_store {
    ($Name:ident, $DB:ty, $BACKEND:expr, $MIGRATOR:ident) => {
        pub struct $Name {
            /// Reads. On PostgreSQL the same pool as `write`.
            read: sqlx::Pool<$DB>,
            /// Writes and transactions. On SQLite a single connection: SQLite has one writer
            /// anyway, and queueing in the pool is fairer than retrying on SQLITE_BUSY.
            write: sqlx::Pool<$DB>,
            key: MasterKey,
            /// Configuration read on every payment (crate::cache).
            cache: crate::cache::ConfigCache,
            account_ids: crate::cache::AccountIds,
        }

        type DbRow = <$DB as sqlx::Database>::Row;

        const BACKEND: Backend = $BACKEND;

        fn map_institution(row: &DbRow) -> Result<Institution> {
            Ok(Institution {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                default_currency: currency(row.try_get("default_currency")?)?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_organizer(row: &DbRow) -> Result<Organizer> {
            Ok(Organizer {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_channel(row: &DbRow) -> Result<SalesChannel> {
            Ok(SalesChannel {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                organizer_id: row.try_get("organizer_id")?,
                kind: ChannelKind::parse(row.try_get("kind")?).map_err(corrupt)?,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_pos(row: &DbRow) -> Result<PointOfSale> {
            Ok(PointOfSale {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                sales_channel_id: row.try_get("sales_channel_id")?,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_payment_mode(row: &DbRow) -> Result<PaymentMode> {
            let names: BTreeMap<String, String> =
                serde_json::from_str(row.try_get("public_names")?).map_err(corrupt)?;
            let limits_currency: Option<String> = row.try_get("limits_currency")?;
            let limit = |col: &str| -> Result<Option<Money>> {
                let minor: Option<i64> = row.try_get(col)?;
                match (minor, &limits_currency) {
                    (Some(m), Some(c)) => Ok(Some(Money::new(m, currency(c)?))),
                    (None, _) => Ok(None),
                    (Some(_), None) => Err(corrupt("order limit without currency")),
                }
            };
            Ok(PaymentMode {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                fields: PaymentModeFields {
                    code: PaymentModeCode::parse(row.try_get("code")?).map_err(corrupt)?,
                    internal_name: row.try_get("internal_name")?,
                    public_names: PublicNames::parse(&names).map_err(corrupt)?,
                    mode_type: PaymentModeType::parse(row.try_get("mode_type")?)
                        .map_err(corrupt)?,
                    status: PaymentModeStatus::parse(row.try_get("status")?).map_err(corrupt)?,
                    predetermined: row.try_get("predetermined")?,
                    available_for_payment: row.try_get("available_for_payment")?,
                    available_for_refund: row.try_get("available_for_refund")?,
                    min_order: limit("min_order_minor")?,
                    max_order: limit("max_order_minor")?,
                },
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_payment_system(row: &DbRow) -> Result<PaymentSystem> {
            let days: i32 = row.try_get("three_ds_days")?;
            Ok(PaymentSystem {
                sales_channel_id: row.try_get("sales_channel_id")?,
                provider: ProviderKind::parse(row.try_get("provider")?).map_err(corrupt)?,
                label: row.try_get("label")?,
                base_url: row.try_get("base_url")?,
                merchant_id: row.try_get("merchant_id")?,
                settings: serde_json::from_str(row.try_get("settings")?).map_err(corrupt)?,
                credential_names: serde_json::from_str(row.try_get("credential_names")?)
                    .map_err(corrupt)?,
                card_saving_enabled: row.try_get("card_saving_enabled")?,
                cvv_on_saved_cards: row.try_get("cvv_on_saved_cards")?,
                three_ds_policy: ThreeDsPolicy::parse(row.try_get("three_ds_policy")?)
                    .map_err(corrupt)?,
                three_ds_days: u32::try_from(days).map_err(corrupt)?,
                max_saved_cards: u32::try_from(row.try_get::<i32, _>("max_saved_cards")?)
                    .map_err(corrupt)?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_contact(row: &DbRow) -> Result<Contact> {
            let currency = currency(row.try_get("currency")?)?;
            Ok(Contact {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                external_ref: row.try_get("external_ref")?,
                first_name: row.try_get("first_name")?,
                last_name: row.try_get("last_name")?,
                email: row.try_get("email")?,
                language: row.try_get("language")?,
                currency,
                deferred_allowed: row.try_get("deferred_allowed")?,
                deferred_max: Money::new(row.try_get("deferred_max_minor")?, currency),
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_account(row: &DbRow) -> Result<LedgerAccount> {
            let currency = currency(row.try_get("currency")?)?;
            Ok(LedgerAccount {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                kind: parse_kind(row.try_get("kind")?)?,
                owner_id: row.try_get("owner_id")?,
                currency,
                balance: Money::new(row.try_get("balance_minor")?, currency),
                min_balance_minor: row.try_get("min_balance_minor")?,
                max_balance_minor: row.try_get("max_balance_minor")?,
            })
        }

        fn map_user(row: &DbRow) -> Result<User> {
            Ok(User {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                password_hash: row.try_get("password_hash")?,
                role: Role::parse(row.try_get("role")?).map_err(corrupt)?,
                disabled: row.try_get("disabled")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_shop_key(row: &DbRow) -> Result<ShopKey> {
            Ok(ShopKey {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

    /// Why a guarded move (`UPDATE … WHERE id AND order_id AND status IN (…)`) touched no
    /// row: the row is not the order's (`NotFound`), or it is in another state (`Conflict`).
    async fn not_moved(
        conn: &mut <$DB as sqlx::Database>::Connection,
        guarded: Guarded,
        id: Uuid,
        order_id: Uuid,
    ) -> Result<StoreError> {
        let (sql, moved, what) = match guarded {
            Guarded::CardPayment => (
                "SELECT 1 FROM card_payments WHERE id = $1 AND order_id = $2",
                "card_payment_moved",
                "card payment",
            ),
            Guarded::Installment => (
                "SELECT 1 FROM installments WHERE id = $1 AND order_id = $2",
                "installment_moved",
                "installment",
            ),
        };
        let exists = sqlx::query(sql)
            .bind(id)
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match exists {
            Some(_) => StoreError::Conflict(moved.into()),
            None => StoreError::NotFound(what),
        })
    }

    /// Writes a ledger transaction, its entries and the balance changes on `conn`, which
    /// must be inside a database transaction: the caller commits it with the state change
    /// the movement records.
    async fn post_in_tx(
        conn: &mut <$DB as sqlx::Database>::Connection,
        institution_id: Uuid,
        order_id: Option<Uuid>,
        transaction: &Transaction,
    ) -> Result<PostedTransaction> {
            // One balance update per account, in account-id order: a transaction touching an
            // account twice is judged on its net effect, and concurrent transactions lock
            // accounts in one order (no deadlock on PostgreSQL).
            let mut deltas: BTreeMap<Uuid, (AccountKind, Currency, i64)> = BTreeMap::new();
            for e in transaction.entries() {
                let d = natural_delta(e.kind, e.side, e.amount.amount_minor());
                let slot = deltas
                    .entry(e.account_id)
                    .or_insert((e.kind, e.amount.currency(), 0));
                if slot.0 != e.kind || slot.1 != e.amount.currency() {
                    return Err(StoreError::Invalid(format!(
                        "account {} appears with two kinds or currencies",
                        e.account_id
                    )));
                }
                slot.2 = slot.2.checked_add(d).ok_or_else(|| {
                    StoreError::Invalid("transaction amount overflows".into())
                })?;
            }

            let id = Uuid::now_v7();
            let at = now();
            sqlx::query(
                "INSERT INTO ledger_transactions (id, institution_id, kind, memo, order_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(institution_id)
            .bind(transaction.kind())
            .bind(transaction.memo())
            .bind(order_id)
            .bind(ts(at))
            .execute(&mut *conn)
            .await?;
            // Every entry in one statement (a transaction has a handful): one round trip.
            let rows: Vec<String> = (0..transaction.entries().len())
                .map(|i| {
                    let b = i * 5 + 2;
                    format!("(${}, $1, ${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3, b + 4)
                })
                .collect();
            let sql = format!(
                "INSERT INTO ledger_entries (id, transaction_id, account_id, side, amount_minor, currency) VALUES {}",
                rows.join(", ")
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
            for e in transaction.entries() {
                insert = insert
                    .bind(Uuid::now_v7())
                    .bind(e.account_id)
                    .bind(side_str(e.side))
                    .bind(e.amount.amount_minor())
                    .bind(e.amount.currency().code());
            }
            insert
                .execute(&mut *conn)
                .await
                .map_err(|err| match err.as_database_error().map(|d| d.kind()) {
                    Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
                        StoreError::NotFound("ledger account")
                    }
                    _ => StoreError::Db(err),
                })?;
            for (account_id, (kind, cur, delta)) in &deltas {
                if *delta == 0 {
                    continue;
                }
                // The bound is checked by the same statement that moves the balance, so two
                // concurrent postings cannot both pass it. The i64 guards stop SQLite from
                // silently turning an overflowing sum into a float.
                let done = sqlx::query(
                    "UPDATE ledger_accounts SET balance_minor = balance_minor + $1 \
                     WHERE id = $2 AND kind = $3 AND currency = $4 AND institution_id = $5 \
                     AND ($1 <= 0 OR balance_minor <= 9223372036854775807 - $1) \
                     AND ($1 >= 0 OR balance_minor >= (-9223372036854775807 - 1) - $1) \
                     AND ($1 <= 0 OR max_balance_minor IS NULL OR balance_minor + $1 <= max_balance_minor) \
                     AND ($1 >= 0 OR min_balance_minor IS NULL OR balance_minor + $1 >= min_balance_minor)",
                )
                .bind(*delta)
                .bind(*account_id)
                .bind(kind.as_str())
                .bind(cur.code())
                .bind(institution_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    let exists = sqlx::query(
                        "SELECT 1 FROM ledger_accounts WHERE id = $1 AND kind = $2 AND currency = $3 AND institution_id = $4",
                    )
                    .bind(*account_id)
                    .bind(kind.as_str())
                    .bind(cur.code())
                    .bind(institution_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    return Err(match exists {
                        Some(_) => StoreError::Bounds {
                            account_id: *account_id,
                            kind: kind.as_str().to_owned(),
                        },
                        None => StoreError::Invalid(format!(
                            "account {account_id} is not a {} account in {} of this institution",
                            kind.as_str(),
                            cur.code()
                        )),
                    });
                }
            }
            Ok(PostedTransaction {
                id,
                institution_id,
                kind: transaction.kind().to_owned(),
                memo: transaction.memo().to_owned(),
                order_id,
                created_at: at,
            })
        }

        fn map_promo(row: &DbRow) -> Result<PromoCodeRow> {
            Ok(PromoCodeRow {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                code: row.try_get("code")?,
                label: row.try_get("label")?,
                rule: serde_json::from_str(row.try_get("rule")?).map_err(corrupt)?,
                batch_id: row.try_get("batch_id")?,
                uses_count: i64::from(row.try_get::<i32, _>("uses_count")?),
                active: row.try_get("active")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn map_voucher_product(row: &DbRow) -> Result<VoucherProduct> {
            Ok(VoucherProduct {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                name: row.try_get("name")?,
                currency: currency(row.try_get("currency")?)?,
                rule: serde_json::from_str(row.try_get("rule")?).map_err(corrupt)?,
                created_at: row.try_get("created_at")?,
            })
        }

        const VOUCHER_SELECT_BY_ID: &str = "SELECT v.*, COALESCE(a.balance_minor, 0) AS balance_minor FROM vouchers v LEFT JOIN ledger_accounts a ON a.owner_id = v.id AND a.kind = 'voucher_liability' AND a.currency = v.currency WHERE v.id = $1";
        const VOUCHER_SELECT_BY_CODE: &str = "SELECT v.*, COALESCE(a.balance_minor, 0) AS balance_minor FROM vouchers v LEFT JOIN ledger_accounts a ON a.owner_id = v.id AND a.kind = 'voucher_liability' AND a.currency = v.currency WHERE v.code = $1";
        const VOUCHER_SELECT_LIST: &str = "SELECT v.*, COALESCE(a.balance_minor, 0) AS balance_minor FROM vouchers v LEFT JOIN ledger_accounts a ON a.owner_id = v.id AND a.kind = 'voucher_liability' AND a.currency = v.currency WHERE ($1 IS NULL OR v.institution_id = $1) ORDER BY v.created_at DESC, v.id LIMIT $2";

        fn map_voucher(row: &DbRow) -> Result<Voucher> {
            let currency = currency(row.try_get("currency")?)?;
            Ok(Voucher {
                id: row.try_get("id")?,
                institution_id: row.try_get("institution_id")?,
                code: row.try_get("code")?,
                product_id: row.try_get("product_id")?,
                face_value: Money::new(row.try_get("face_value_minor")?, currency),
                reusable: row.try_get("reusable")?,
                expires_at: row.try_get("expires_at")?,
                issued_order_id: row.try_get("issued_order_id")?,
                held_by_order_id: row.try_get("held_by_order_id")?,
                created_at: row.try_get("created_at")?,
                balance: Money::new(row.try_get("balance_minor")?, currency),
            })
        }

        fn map_webhook(row: &DbRow) -> Result<WebhookEvent> {
            Ok(WebhookEvent {
                id: row.try_get("id")?,
                shop_key_id: row.try_get("shop_key_id")?,
                event_type: row.try_get("event_type")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
            })
        }

        async fn insert_voucher(
            conn: &mut <$DB as sqlx::Database>::Connection,
            v: &NewVoucher,
            at: OffsetDateTime,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO vouchers (id, institution_id, code, product_id, currency, face_value_minor, reusable, expires_at, issued_order_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(v.id)
            .bind(v.institution_id)
            .bind(&v.code)
            .bind(v.product_id)
            .bind(v.face_value.currency().code())
            .bind(v.face_value.amount_minor())
            .bind(v.reusable)
            .bind(ts(v.expires_at))
            .bind(v.issued_order_id)
            .bind(ts(at))
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, "voucher code collision"))?;
            Ok(())
        }

        impl $Name {
            /// Reads an order with its codes and legs in one statement, so in one snapshot (a
            /// reader never sees the row before a change and its legs after it) and in one round
            /// trip: the codes and legs come as JSON arrays built by the database.
            async fn read_order(&self, key: OrderKey<'_>) -> Result<Order> {
                let condition = match key {
                    OrderKey::Id(_) => "o.id = $1",
                    OrderKey::TokenHash(_) => "o.checkout_token_hash = $1",
                };
                let sql = format!("{} WHERE {condition}", order_select_sql());
                let query = sqlx::query(sqlx::AssertSqlSafe(sql));
                let query = match key {
                    OrderKey::Id(id) => query.bind(id),
                    OrderKey::TokenHash(hash) => query.bind(hash.to_owned()),
                };
                let row = query
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("order"))?;
                order_from_row(&row)
            }
        }


        fn card_payment_from_row(row: &DbRow) -> Result<CardPayment> {
            let currency = currency(row.try_get("currency")?)?;
            let status: String = row.try_get("status")?;
            let initiator: String = row.try_get("initiator")?;
            Ok(CardPayment {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                leg_id: row.try_get("leg_id")?,
                sales_channel_id: row.try_get("sales_channel_id")?,
                provider: ProviderKind::parse(row.try_get("provider")?).map_err(corrupt)?,
                reference: row.try_get("reference")?,
                amount: Money::new(row.try_get("amount_minor")?, currency),
                status: CardPaymentStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                three_ds_required: row.try_get("three_ds_required")?,
                three_ds_reason: row.try_get("three_ds_reason")?,
                card: CardDetails {
                    alias: row.try_get("alias")?,
                    masked_pan: row.try_get("masked_pan")?,
                    brand: row.try_get("brand")?,
                    expiry: row.try_get("expiry")?,
                    holder: row.try_get("holder")?,
                },
                provider_payid: row.try_get("provider_payid")?,
                provider_status: row.try_get("provider_status")?,
                failure_reason: row.try_get("failure_reason")?,
                next_check_at: row.try_get("next_check_at")?,
                checks: row.try_get("checks")?,
                installment_id: row.try_get("installment_id")?,
                initiator: PaymentInitiator::parse(&initiator)
                    .ok_or_else(|| corrupt(initiator.clone()))?,
                save_card: row.try_get("save_card")?,
                installment_plan_id: row.try_get("installment_plan_id")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn refund_from_row(row: &DbRow) -> Result<Refund> {
            let currency = currency(row.try_get("currency")?)?;
            let status: String = row.try_get("status")?;
            let destination: String = row.try_get("destination")?;
            Ok(Refund {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                leg_id: row.try_get("leg_id")?,
                destination: RefundDestination::parse(&destination)
                    .ok_or_else(|| corrupt(destination.clone()))?,
                amount: Money::new(row.try_get("amount_minor")?, currency),
                status: RefundStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                card_payment_id: row.try_get("card_payment_id")?,
                provider_payidsub: row.try_get("provider_payidsub")?,
                failure_reason: row.try_get("failure_reason")?,
                requested_by: row.try_get("requested_by")?,
                next_check_at: row.try_get("next_check_at")?,
                checks: row.try_get("checks")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_saved_card(row: &DbRow) -> Result<SavedCard> {
            Ok(SavedCard {
                id: row.try_get("id")?,
                contact_id: row.try_get("contact_id")?,
                sales_channel_id: row.try_get("sales_channel_id")?,
                provider: ProviderKind::parse(row.try_get("provider")?).map_err(corrupt)?,
                alias: row.try_get("alias")?,
                masked_pan: row.try_get("masked_pan")?,
                brand: row.try_get("brand")?,
                expiry: row.try_get("expiry")?,
                holder: row.try_get("holder")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_installment_plan(row: &DbRow) -> Result<InstallmentPlanRow> {
            let count: i32 = row.try_get("count")?;
            let currency = currency(row.try_get("currency")?)?;
            Ok(InstallmentPlanRow {
                id: row.try_get("id")?,
                point_of_sale_id: row.try_get("point_of_sale_id")?,
                name: row.try_get("name")?,
                plan: InstallmentPlan {
                    count: u8::try_from(count).map_err(corrupt)?,
                    split: serde_json::from_str(row.try_get("split")?).map_err(corrupt)?,
                    interval: serde_json::from_str(row.try_get("interval")?).map_err(corrupt)?,
                    min_amount: Money::new(row.try_get("min_amount_minor")?, currency),
                    mode: parse_plan_mode(row.try_get("mode")?)?,
                },
                active: row.try_get("active")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn map_installment(row: &DbRow) -> Result<InstallmentRow> {
            let currency = currency(row.try_get("currency")?)?;
            let status: String = row.try_get("status")?;
            let number: i32 = row.try_get("number")?;
            let attempts: i32 = row.try_get("attempts")?;
            Ok(InstallmentRow {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                plan_id: row.try_get("plan_id")?,
                number: u8::try_from(number).map_err(corrupt)?,
                due_on: row.try_get("due_on")?,
                amount: Money::new(row.try_get("amount_minor")?, currency),
                status: InstallmentStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                attempts: u32::try_from(attempts).map_err(corrupt)?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                claimed_until: row.try_get("claimed_until")?,
                saved_card_id: row.try_get("saved_card_id")?,
                card_payment_id: row.try_get("card_payment_id")?,
                failure_reason: row.try_get("failure_reason")?,
                paid_at: row.try_get("paid_at")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        enum OrderKey<'a> {
            Id(Uuid),
            TokenHash(&'a str),
        }

        /// The order query without its condition: the order's columns, then its codes
        /// (`promos_json`) and legs (`legs_json`) as JSON arrays of arrays, in display order.
        /// Ids come as text (hexadecimal on SQLite, which keeps them as blobs), times as
        /// RFC 3339 text in UTC.
        fn order_select_sql() -> &'static str {
            match BACKEND {
                Backend::Sqlite => "SELECT o.*, \
                    (SELECT json_group_array(json_array(hex(a.id), hex(a.promo_code_id), a.position, a.status, p.code, p.label, p.rule) ORDER BY a.position, a.created_at, a.id) \
                        FROM promo_applications a JOIN promo_codes p ON p.id = a.promo_code_id WHERE a.order_id = o.id) AS promos_json, \
                    (SELECT json_group_array(json_array(hex(l.id), l.kind, hex(l.source_id), l.amount_minor, l.status, l.refunded_minor, l.created_at) ORDER BY l.created_at, l.id) \
                        FROM order_legs l WHERE l.order_id = o.id) AS legs_json \
                    FROM orders o",
                Backend::Postgres => "SELECT o.*, \
                    (SELECT COALESCE(json_agg(json_build_array(a.id, a.promo_code_id, a.position, a.status, p.code, p.label, p.rule) ORDER BY a.position, a.created_at, a.id), '[]'::json)::text \
                        FROM promo_applications a JOIN promo_codes p ON p.id = a.promo_code_id WHERE a.order_id = o.id) AS promos_json, \
                    (SELECT COALESCE(json_agg(json_build_array(l.id, l.kind, l.source_id, l.amount_minor, l.status, l.refunded_minor, to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) ORDER BY l.created_at, l.id), '[]'::json)::text \
                        FROM order_legs l WHERE l.order_id = o.id) AS legs_json \
                    FROM orders o",
            }
        }

        fn order_from_row(row: &DbRow) -> Result<Order> {
                let id: Uuid = row.try_get("id")?;
                let currency = currency(row.try_get("currency")?)?;
                let uuid = |text: &str| Uuid::parse_str(text).map_err(corrupt);
                type PromoJson = (String, String, i32, String, String, String, String);
                let promo_rows: Vec<PromoJson> =
                    serde_json::from_str(row.try_get("promos_json")?).map_err(corrupt)?;
                let mut promos = Vec::with_capacity(promo_rows.len());
                for (pid, code_id, position, status, code, label, rule) in promo_rows {
                    promos.push(PromoApplication {
                        id: uuid(&pid)?,
                        promo_code_id: uuid(&code_id)?,
                        code,
                        label,
                        rule: serde_json::from_str(&rule).map_err(corrupt)?,
                        position,
                        status: HoldStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                    });
                }
                type LegJson = (String, String, String, i64, String, i64, String);
                let leg_rows: Vec<LegJson> =
                    serde_json::from_str(row.try_get("legs_json")?).map_err(corrupt)?;
                let mut legs = Vec::with_capacity(leg_rows.len());
                for (lid, kind, source, amount, status, refunded, created) in leg_rows {
                    legs.push(OrderLeg {
                        id: uuid(&lid)?,
                        kind: LegKind::parse(&kind).ok_or_else(|| corrupt(kind.clone()))?,
                        source_id: uuid(&source)?,
                        amount: Money::new(amount, currency),
                        status: HoldStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                        refunded: Money::new(refunded, currency),
                        created_at: OffsetDateTime::parse(
                            &created,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .map_err(corrupt)?,
                    });
                }
                let status: String = row.try_get("status")?;
                Ok(Order {
                    id,
                    institution_id: row.try_get("institution_id")?,
                    point_of_sale_id: row.try_get("point_of_sale_id")?,
                    shop_key_id: row.try_get("shop_key_id")?,
                    contact_id: row.try_get("contact_id")?,
                    currency,
                    language: row.try_get("language")?,
                    status: OrderStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
                    total: Money::new(row.try_get("total_minor")?, currency),
                    lines: serde_json::from_str(row.try_get("lines")?).map_err(corrupt)?,
                    delivery: serde_json::from_str(row.try_get("delivery")?).map_err(corrupt)?,
                    first_event_at: row.try_get("first_event_at")?,
                    return_url: row.try_get("return_url")?,
                    cancel_url: row.try_get("cancel_url")?,
                    version: row.try_get("version")?,
                    hold_expires_at: row.try_get("hold_expires_at")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    paid_at: row.try_get("paid_at")?,
                    closed_at: row.try_get("closed_at")?,
                    promos,
                    legs,
                })
            }

        impl $Name {

            async fn rate_limit_hits_on(
                &self,
                pool: &sqlx::Pool<$DB>,
                bucket: &str,
                start: OffsetDateTime,
            ) -> Result<u32> {
                let row = sqlx::query(
                    "SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2",
                )
                .bind(bucket)
                .bind(ts(start))
                .fetch_optional(pool)
                .await?;
                match row {
                    Some(r) => Ok(u32::try_from(r.try_get::<i32, _>("hits")?).unwrap_or(0)),
                    None => Ok(0),
                }
            }
        }

        const PAYMENT_MODE_COLUMNS: &str = "id, institution_id, code, internal_name, public_names, mode_type, status, predetermined, available_for_payment, available_for_refund, limits_currency, min_order_minor, max_order_minor, created_at, updated_at";

        impl $Name {
            async fn open_credentials(
                &self,
                sales_channel_id: Uuid,
            ) -> Result<Option<BTreeMap<String, String>>> {
                let row = sqlx::query(
                    "SELECT credentials_sealed FROM payment_systems WHERE sales_channel_id = $1",
                )
                .bind(sales_channel_id)
                .fetch_optional(&self.read)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let sealed: Vec<u8> = row.try_get("credentials_sealed")?;
                let plain = self.key.open(&sealed, &sealed_aad(sales_channel_id))?;
                let map = serde_json::from_slice(&plain).map_err(corrupt)?;
                Ok(Some(map))
            }
        }

        #[async_trait]
        impl Store for $Name {
            fn backend(&self) -> Backend {
                BACKEND
            }

            async fn migrate(&self) -> Result<usize> {
                let before = self.applied_migrations().await?.len();
                $MIGRATOR.run(&self.write).await?;
                let after = self.applied_migrations().await?.len();
                Ok(after.saturating_sub(before))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn applied_migrations(&self) -> Result<Vec<i64>> {
                let rows = sqlx::query(
                    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
                )
                .fetch_all(&self.read)
                .await;
                match rows {
                    Ok(rows) => rows
                        .iter()
                        .map(|r| r.try_get::<i64, _>("version").map_err(StoreError::from))
                        .collect(),
                    // No migration table yet: nothing applied.
                    Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
                    Err(e) => Err(e.into()),
                }
            }

            async fn create_institution(
                &self,
                name: &str,
                currency: Currency,
            ) -> Result<Institution> {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO institutions (id, name, default_currency, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(name)
                .bind(currency.code())
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                self.get_institution(id).await
            }

            async fn list_institutions(&self) -> Result<Vec<Institution>> {
                let rows = sqlx::query("SELECT * FROM institutions ORDER BY created_at, id")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(map_institution).collect()
            }

            async fn get_institution(&self, id: Uuid) -> Result<Institution> {
                let row = sqlx::query("SELECT * FROM institutions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("institution"))?;
                map_institution(&row)
            }

            async fn create_organizer(&self, institution_id: Uuid, name: &str) -> Result<Organizer> {
                self.get_institution(institution_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO organizers (id, institution_id, name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(institution_id)
                .bind(name)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                self.get_organizer(id).await
            }

            async fn list_organizers(&self, institution_id: Option<Uuid>) -> Result<Vec<Organizer>> {
                let rows = sqlx::query(
                    "SELECT * FROM organizers WHERE ($1 IS NULL OR institution_id = $1) ORDER BY created_at, id",
                )
                .bind(institution_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_organizer).collect()
            }

            async fn get_organizer(&self, id: Uuid) -> Result<Organizer> {
                let row = sqlx::query("SELECT * FROM organizers WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("organizer"))?;
                map_organizer(&row)
            }

            async fn create_sales_channel(
                &self,
                organizer_id: Uuid,
                kind: ChannelKind,
                name: &str,
            ) -> Result<SalesChannel> {
                let _clear = self.cache.clear_on_return();
                let organizer = self.get_organizer(organizer_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO sales_channels (id, institution_id, organizer_id, kind, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(organizer.institution_id)
                .bind(organizer_id)
                .bind(kind.as_str())
                .bind(name)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                self.get_sales_channel(id).await
            }

            async fn list_sales_channels(
                &self,
                organizer_id: Option<Uuid>,
            ) -> Result<Vec<SalesChannel>> {
                let rows = sqlx::query(
                    "SELECT * FROM sales_channels WHERE ($1 IS NULL OR organizer_id = $1) ORDER BY created_at, id",
                )
                .bind(organizer_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_channel).collect()
            }

            async fn get_sales_channel(&self, id: Uuid) -> Result<SalesChannel> {
                self.cache
                    .get_or_load(crate::cache::Key::SalesChannel(id), || async {
                        let row = sqlx::query("SELECT * FROM sales_channels WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&self.read)
                            .await?
                            .ok_or(StoreError::NotFound("sales channel"))?;
                        map_channel(&row)
                    })
                    .await
            }

            async fn create_point_of_sale(
                &self,
                sales_channel_id: Uuid,
                name: &str,
            ) -> Result<PointOfSale> {
                let _clear = self.cache.clear_on_return();
                let channel = self.get_sales_channel(sales_channel_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO points_of_sale (id, institution_id, sales_channel_id, name, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(channel.institution_id)
                .bind(sales_channel_id)
                .bind(name)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                self.get_point_of_sale(id).await
            }

            async fn list_points_of_sale(
                &self,
                sales_channel_id: Option<Uuid>,
            ) -> Result<Vec<PointOfSale>> {
                let rows = sqlx::query(
                    "SELECT * FROM points_of_sale WHERE ($1 IS NULL OR sales_channel_id = $1) ORDER BY created_at, id",
                )
                .bind(sales_channel_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_pos).collect()
            }

            async fn get_point_of_sale(&self, id: Uuid) -> Result<PointOfSale> {
                self.cache
                    .get_or_load(crate::cache::Key::PointOfSale(id), || async {
                        let row = sqlx::query("SELECT * FROM points_of_sale WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&self.read)
                            .await?
                            .ok_or(StoreError::NotFound("point of sale"))?;
                        map_pos(&row)
                    })
                    .await
            }

            async fn create_payment_mode(
                &self,
                institution_id: Uuid,
                fields: &PaymentModeFields,
            ) -> Result<PaymentMode> {
                let _clear = self.cache.clear_on_return();
                self.get_institution(institution_id).await?;
                let (limits_currency, min, max) = limits_of(fields)?;
                let names = serde_json::to_string(fields.public_names.as_map()).map_err(corrupt)?;
                let id = Uuid::now_v7();
                let at = now();
                sqlx::query(
                    "INSERT INTO payment_modes (id, institution_id, code, internal_name, public_names, mode_type, status, predetermined, available_for_payment, available_for_refund, limits_currency, min_order_minor, max_order_minor, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
                )
                .bind(id)
                .bind(institution_id)
                .bind(fields.code.as_str())
                .bind(&fields.internal_name)
                .bind(names)
                .bind(fields.mode_type.as_str())
                .bind(fields.status.as_str())
                .bind(fields.predetermined)
                .bind(fields.available_for_payment)
                .bind(fields.available_for_refund)
                .bind(limits_currency)
                .bind(min)
                .bind(max)
                .bind(ts(at))
                .execute(&self.write)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, "a payment mode with this code already exists in this institution")
                })?;
                self.get_payment_mode(id).await
            }

            async fn update_payment_mode(
                &self,
                id: Uuid,
                fields: &PaymentModeFields,
            ) -> Result<PaymentMode> {
                let _clear = self.cache.clear_on_return();
                let (limits_currency, min, max) = limits_of(fields)?;
                let names = serde_json::to_string(fields.public_names.as_map()).map_err(corrupt)?;
                let done = sqlx::query(
                    "UPDATE payment_modes SET code = $2, internal_name = $3, public_names = $4, mode_type = $5, status = $6, predetermined = $7, available_for_payment = $8, available_for_refund = $9, limits_currency = $10, min_order_minor = $11, max_order_minor = $12, updated_at = $13 WHERE id = $1",
                )
                .bind(id)
                .bind(fields.code.as_str())
                .bind(&fields.internal_name)
                .bind(names)
                .bind(fields.mode_type.as_str())
                .bind(fields.status.as_str())
                .bind(fields.predetermined)
                .bind(fields.available_for_payment)
                .bind(fields.available_for_refund)
                .bind(limits_currency)
                .bind(min)
                .bind(max)
                .bind(ts(now()))
                .execute(&self.write)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, "a payment mode with this code already exists in this institution")
                })?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("payment mode"));
                }
                self.get_payment_mode(id).await
            }

            async fn delete_payment_mode(&self, id: Uuid) -> Result<()> {
                let _clear = self.cache.clear_on_return();
                let mut tx = self.write.begin().await?;
                sqlx::query("DELETE FROM point_of_sale_payment_modes WHERE payment_mode_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM payment_modes WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("payment mode"));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_payment_mode(&self, id: Uuid) -> Result<PaymentMode> {
                let sql = format!("SELECT {PAYMENT_MODE_COLUMNS} FROM payment_modes WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("payment mode"))?;
                map_payment_mode(&row)
            }

            async fn list_payment_modes(
                &self,
                institution_id: Option<Uuid>,
            ) -> Result<Vec<PaymentMode>> {
                let sql = format!(
                    "SELECT {PAYMENT_MODE_COLUMNS} FROM payment_modes WHERE ($1 IS NULL OR institution_id = $1) ORDER BY code"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(institution_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(map_payment_mode).collect()
            }

            async fn associate_payment_mode(
                &self,
                point_of_sale_id: Uuid,
                payment_mode_id: Uuid,
            ) -> Result<bool> {
                let _clear = self.cache.clear_on_return();
                let pos = self.get_point_of_sale(point_of_sale_id).await?;
                let mode = self.get_payment_mode(payment_mode_id).await?;
                if pos.institution_id != mode.institution_id {
                    return Err(StoreError::Invalid(
                        "the payment mode belongs to another institution than the point of sale"
                            .into(),
                    ));
                }
                let done = sqlx::query(
                    "INSERT INTO point_of_sale_payment_modes (point_of_sale_id, payment_mode_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(point_of_sale_id)
                .bind(payment_mode_id)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn dissociate_payment_mode(
                &self,
                point_of_sale_id: Uuid,
                payment_mode_id: Uuid,
            ) -> Result<()> {
                let _clear = self.cache.clear_on_return();
                let done = sqlx::query(
                    "DELETE FROM point_of_sale_payment_modes WHERE point_of_sale_id = $1 AND payment_mode_id = $2",
                )
                .bind(point_of_sale_id)
                .bind(payment_mode_id)
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("association"));
                }
                Ok(())
            }

            async fn point_of_sale_payment_modes(
                &self,
                point_of_sale_id: Uuid,
            ) -> Result<Vec<PaymentMode>> {
                self.get_point_of_sale(point_of_sale_id).await?;
                let key = crate::cache::Key::PointOfSaleModes(point_of_sale_id);
                self.cache
                    .get_or_load(key, || async {
                        let rows = sqlx::query(
                            "SELECT m.id, m.institution_id, m.code, m.internal_name, m.public_names, m.mode_type, m.status, m.predetermined, m.available_for_payment, m.available_for_refund, m.limits_currency, m.min_order_minor, m.max_order_minor, m.created_at, m.updated_at FROM payment_modes m JOIN point_of_sale_payment_modes a ON a.payment_mode_id = m.id WHERE a.point_of_sale_id = $1 ORDER BY m.code",
                        )
                        .bind(point_of_sale_id)
                        .fetch_all(&self.read)
                        .await?;
                        rows.iter().map(map_payment_mode).collect()
                    })
                    .await
            }

            async fn put_payment_system(
                &self,
                sales_channel_id: Uuid,
                input: &PaymentSystemInput,
            ) -> Result<PaymentSystem> {
                let _clear = self.cache.clear_on_return();
                self.get_sales_channel(sales_channel_id).await?;
                // Secrets are write-only: a value given replaces the stored one, an empty value
                // removes it, a name not given keeps its stored value.
                let mut secrets = self
                    .open_credentials(sales_channel_id)
                    .await?
                    .unwrap_or_default();
                for (name, value) in &input.credentials {
                    if value.expose().is_empty() {
                        secrets.remove(name);
                    } else {
                        secrets.insert(name.clone(), value.expose().to_owned());
                    }
                }
                let names: Vec<&String> = secrets.keys().collect();
                let names = serde_json::to_string(&names).map_err(corrupt)?;
                let plain = serde_json::to_vec(&secrets).map_err(corrupt)?;
                let sealed = self.key.seal(&plain, &sealed_aad(sales_channel_id))?;
                let settings = serde_json::to_string(&input.settings).map_err(corrupt)?;
                let days = i32::try_from(input.three_ds_days)
                    .map_err(|_| StoreError::Invalid("three_ds_days is too large".into()))?;
                let max_saved_cards = int_column(input.max_saved_cards, "max_saved_cards")?;
                sqlx::query(
                    "INSERT INTO payment_systems (sales_channel_id, provider, label, base_url, merchant_id, settings, credentials_sealed, credential_names, card_saving_enabled, cvv_on_saved_cards, three_ds_policy, three_ds_days, updated_at, max_saved_cards) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (sales_channel_id) DO UPDATE SET provider = excluded.provider, label = excluded.label, base_url = excluded.base_url, merchant_id = excluded.merchant_id, settings = excluded.settings, credentials_sealed = excluded.credentials_sealed, credential_names = excluded.credential_names, card_saving_enabled = excluded.card_saving_enabled, cvv_on_saved_cards = excluded.cvv_on_saved_cards, three_ds_policy = excluded.three_ds_policy, three_ds_days = excluded.three_ds_days, updated_at = excluded.updated_at, max_saved_cards = excluded.max_saved_cards",
                )
                .bind(sales_channel_id)
                .bind(input.provider.as_str())
                .bind(&input.label)
                .bind(&input.base_url)
                .bind(&input.merchant_id)
                .bind(settings)
                .bind(sealed)
                .bind(names)
                .bind(input.card_saving_enabled)
                .bind(input.cvv_on_saved_cards)
                .bind(input.three_ds_policy.as_str())
                .bind(days)
                .bind(ts(now()))
                .bind(max_saved_cards)
                .execute(&self.write)
                .await?;
                // Before the read below, which would otherwise be served the old copy.
                self.cache.clear();
                self.get_payment_system(sales_channel_id).await
            }

            async fn get_payment_system(&self, sales_channel_id: Uuid) -> Result<PaymentSystem> {
                let key = crate::cache::Key::PaymentSystem(sales_channel_id);
                self.cache
                    .get_or_load(key, || async {
                        let row =
                            sqlx::query("SELECT * FROM payment_systems WHERE sales_channel_id = $1")
                                .bind(sales_channel_id)
                                .fetch_optional(&self.read)
                                .await?
                                .ok_or(StoreError::NotFound("payment system"))?;
                        map_payment_system(&row)
                    })
                    .await
            }

            async fn payment_system_credentials(
                &self,
                sales_channel_id: Uuid,
            ) -> Result<BTreeMap<String, Secret>> {
                let key = crate::cache::Key::Credentials(sales_channel_id);
                self.cache
                    .get_or_load(key, || async {
                        let map = self
                            .open_credentials(sales_channel_id)
                            .await?
                            .ok_or(StoreError::NotFound("payment system"))?;
                        Ok(map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect())
                    })
                    .await
            }

            async fn create_contact(&self, c: &NewContact) -> Result<Contact> {
                self.get_institution(c.institution_id).await?;
                if c.deferred_max.currency() != c.currency || c.deferred_max.is_negative() {
                    return Err(StoreError::Invalid(
                        "the maximum outstanding must be a non-negative amount in the contact's currency".into(),
                    ));
                }
                let id = Uuid::now_v7();
                let at = now();
                sqlx::query(
                    "INSERT INTO contacts (id, institution_id, external_ref, first_name, last_name, email, language, currency, deferred_allowed, deferred_max_minor, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(id)
                .bind(c.institution_id)
                .bind(&c.external_ref)
                .bind(&c.first_name)
                .bind(&c.last_name)
                .bind(&c.email)
                .bind(&c.language)
                .bind(c.currency.code())
                .bind(c.deferred_allowed)
                .bind(c.deferred_max.amount_minor())
                .bind(ts(at))
                .execute(&self.write)
                .await
                .map_err(|e| conflict_on_unique(e, "a contact with this external reference already exists"))?;
                self.get_contact(id).await
            }

            async fn get_contact(&self, id: Uuid) -> Result<Contact> {
                let row = sqlx::query("SELECT * FROM contacts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("contact"))?;
                map_contact(&row)
            }

            async fn list_contacts(
                &self,
                institution_id: Option<Uuid>,
                limit: u32,
            ) -> Result<Vec<Contact>> {
                let rows = sqlx::query(
                    "SELECT * FROM contacts WHERE ($1 IS NULL OR institution_id = $1) ORDER BY last_name, first_name, id LIMIT $2",
                )
                .bind(institution_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_contact).collect()
            }

            async fn update_contact(&self, id: Uuid, patch: &ContactPatch) -> Result<Contact> {
                let current = self.get_contact(id).await?;
                if let Some(max) = patch.deferred_max
                    && (max.currency() != current.currency || max.is_negative())
                {
                    return Err(StoreError::Invalid(
                        "the maximum outstanding must be a non-negative amount in the contact's currency".into(),
                    ));
                }
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "UPDATE contacts SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), email = COALESCE($4, email), language = COALESCE($5, language), deferred_allowed = COALESCE($6, deferred_allowed), deferred_max_minor = COALESCE($7, deferred_max_minor), updated_at = $8 WHERE id = $1",
                )
                .bind(id)
                .bind(&patch.first_name)
                .bind(&patch.last_name)
                .bind(&patch.email)
                .bind(&patch.language)
                .bind(patch.deferred_allowed)
                .bind(patch.deferred_max.map(Money::amount_minor))
                .bind(ts(now()))
                .execute(&mut *tx)
                .await?;
                if let Some(max) = patch.deferred_max {
                    // The cap lives on the ledger account too, where postings check it.
                    sqlx::query(
                        "UPDATE ledger_accounts SET max_balance_minor = $1 WHERE kind = 'contact_deferred' AND owner_id = $2 AND currency = $3",
                    )
                    .bind(max.amount_minor())
                    .bind(id)
                    .bind(max.currency().code())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.get_contact(id).await
            }

            async fn accounting_tab(&self, contact_id: Uuid) -> Result<AccountingTab> {
                // The contact and both balances in one statement (one snapshot, one round trip).
                let row = sqlx::query(
                    "SELECT c.*, (SELECT a.balance_minor FROM ledger_accounts a WHERE a.owner_id = c.id AND a.currency = c.currency AND a.kind = 'contact_credit') AS credit_minor, (SELECT a.balance_minor FROM ledger_accounts a WHERE a.owner_id = c.id AND a.currency = c.currency AND a.kind = 'contact_deferred') AS deferred_minor FROM contacts c WHERE c.id = $1",
                )
                .bind(contact_id)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound("contact"))?;
                let contact = map_contact(&row)?;
                let credit: i64 = row.try_get::<Option<i64>, _>("credit_minor")?.unwrap_or(0);
                let deferred: i64 = row.try_get::<Option<i64>, _>("deferred_minor")?.unwrap_or(0);
                Ok(AccountingTab {
                    credit_balance: Money::new(credit, contact.currency),
                    deferred_allowed: contact.deferred_allowed,
                    deferred_balance: Money::new(deferred, contact.currency),
                    deferred_max: contact.deferred_max,
                })
            }

            async fn contact_history(&self, contact_id: Uuid) -> Result<Vec<HistoryLine>> {
                self.get_contact(contact_id).await?;
                let rows = sqlx::query(
                    "SELECT t.id AS transaction_id, t.kind AS transaction_kind, t.memo, t.order_id, t.created_at, a.kind AS account_kind, e.side, e.amount_minor, e.currency FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_transactions t ON t.id = e.transaction_id WHERE a.owner_id = $1 ORDER BY t.created_at, t.id, e.id",
                )
                .bind(contact_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let account_kind = parse_kind(row.try_get("account_kind")?)?;
                        let side = parse_side(row.try_get("side")?)?;
                        let amount_minor: i64 = row.try_get("amount_minor")?;
                        Ok(HistoryLine {
                            transaction_id: row.try_get("transaction_id")?,
                            kind: row.try_get("transaction_kind")?,
                            memo: row.try_get("memo")?,
                            order_id: row.try_get("order_id")?,
                            created_at: row.try_get("created_at")?,
                            account_kind,
                            side,
                            amount: Money::new(amount_minor, currency(row.try_get("currency")?)?),
                            delta_minor: natural_delta(account_kind, side, amount_minor),
                        })
                    })
                    .collect()
            }

            async fn ledger_account(
                &self,
                institution_id: Uuid,
                kind: AccountKind,
                owner_id: Uuid,
                currency: Currency,
            ) -> Result<LedgerAccount> {
                // Most calls find the account: a read, without queueing for the writer.
                let found = sqlx::query(
                    "SELECT * FROM ledger_accounts WHERE kind = $1 AND owner_id = $2 AND currency = $3",
                )
                .bind(kind.as_str())
                .bind(owner_id)
                .bind(currency.code())
                .fetch_optional(&self.read)
                .await?;
                if let Some(row) = found {
                    let account = map_account(&row)?;
                    if account.institution_id != institution_id {
                        return Err(StoreError::Invalid(
                            "this account belongs to another institution".into(),
                        ));
                    }
                    return Ok(account);
                }
                let (min, mut max) = default_bounds(kind);
                if kind == AccountKind::ContactDeferred {
                    let contact = self.get_contact(owner_id).await?;
                    if contact.currency != currency {
                        return Err(StoreError::Invalid(
                            "a deferred account is kept in the contact's currency".into(),
                        ));
                    }
                    max = Some(contact.deferred_max.amount_minor());
                }
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, institution_id, kind, owner_id, currency, balance_minor, min_balance_minor, max_balance_minor, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8) ON CONFLICT (kind, owner_id, currency) DO NOTHING",
                )
                .bind(Uuid::now_v7())
                .bind(institution_id)
                .bind(kind.as_str())
                .bind(owner_id)
                .bind(currency.code())
                .bind(min)
                .bind(max)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                let row = sqlx::query(
                    "SELECT * FROM ledger_accounts WHERE kind = $1 AND owner_id = $2 AND currency = $3",
                )
                .bind(kind.as_str())
                .bind(owner_id)
                .bind(currency.code())
                .fetch_one(&self.write)
                .await?;
                let account = map_account(&row)?;
                if account.institution_id != institution_id {
                    return Err(StoreError::Invalid(
                        "this account belongs to another institution".into(),
                    ));
                }
                Ok(account)
            }

            async fn ledger_account_id(
                &self,
                institution_id: Uuid,
                kind: AccountKind,
                owner_id: Uuid,
                currency: Currency,
            ) -> Result<Uuid> {
                if let Some((id, institution)) = self.account_ids.get(kind, owner_id, currency) {
                    if institution != institution_id {
                        return Err(StoreError::Invalid(
                            "this account belongs to another institution".into(),
                        ));
                    }
                    return Ok(id);
                }
                let account = self
                    .ledger_account(institution_id, kind, owner_id, currency)
                    .await?;
                self.account_ids
                    .put(kind, owner_id, currency, account.id, account.institution_id);
                Ok(account.id)
            }

            async fn get_ledger_account(&self, id: Uuid) -> Result<LedgerAccount> {
                let row = sqlx::query("SELECT * FROM ledger_accounts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("ledger account"))?;
                map_account(&row)
            }

            async fn post_transaction(
                &self,
                institution_id: Uuid,
                order_id: Option<Uuid>,
                transaction: &Transaction,
            ) -> Result<PostedTransaction> {
                let mut tx = self.write.begin().await?;
                let posted = post_in_tx(&mut tx, institution_id, order_id, transaction).await?;
                tx.commit().await?;
                Ok(posted)
            }

            async fn audit(&self) -> Result<AuditReport> {
                // Read everything in one transaction so the figures are one consistent snapshot.
                let mut tx = self.read.begin().await?;
                if BACKEND == Backend::Postgres {
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        .execute(&mut *tx)
                        .await?;
                }
                let mut report = AuditReport::default();

                let sums = sqlx::query(
                    "SELECT account_id, side, CAST(SUM(amount_minor) AS BIGINT) AS total FROM ledger_entries GROUP BY account_id, side",
                )
                .fetch_all(&mut *tx)
                .await?;
                let mut by_account: BTreeMap<Uuid, (i128, i128)> = BTreeMap::new();
                for row in &sums {
                    let account_id: Uuid = row.try_get("account_id")?;
                    let total: i64 = row.try_get("total")?;
                    let slot = by_account.entry(account_id).or_default();
                    match parse_side(row.try_get("side")?)? {
                        Side::Debit => slot.0 += i128::from(total),
                        Side::Credit => slot.1 += i128::from(total),
                    }
                }

                let accounts = sqlx::query("SELECT * FROM ledger_accounts ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &accounts {
                    report.accounts_checked += 1;
                    let id: Uuid = row.try_get("id")?;
                    let kind_text: String = row.try_get("kind")?;
                    let owner_id: Uuid = row.try_get("owner_id")?;
                    let currency_text: String = row.try_get("currency")?;
                    let recorded: i64 = row.try_get("balance_minor")?;
                    let min: Option<i64> = row.try_get("min_balance_minor")?;
                    let max: Option<i64> = row.try_get("max_balance_minor")?;
                    let Some(kind) = AccountKind::parse(&kind_text) else {
                        report.differences.push(AuditDifference::Malformed {
                            entry_id: id,
                            reason: format!("account has unknown kind {kind_text:?}"),
                        });
                        continue;
                    };
                    let (debits, credits) = by_account.get(&id).copied().unwrap_or((0, 0));
                    let natural = match kind.normal_side() {
                        Side::Debit => debits - credits,
                        Side::Credit => credits - debits,
                    };
                    if natural != i128::from(recorded) {
                        report.differences.push(AuditDifference::Balance {
                            account_id: id,
                            kind: kind_text.clone(),
                            owner_id,
                            currency: currency_text.clone(),
                            recorded_minor: recorded,
                            recomputed_minor: i64::try_from(natural).unwrap_or(i64::MAX),
                        });
                    }
                    if let Some(min) = min
                        && recorded < min
                    {
                        report.differences.push(AuditDifference::OutOfBounds {
                            account_id: id,
                            kind: kind_text.clone(),
                            owner_id,
                            balance_minor: recorded,
                            reason: format!("is below its minimum {min}"),
                        });
                    }
                    if let Some(max) = max
                        && recorded > max
                        && kind != AccountKind::ContactDeferred
                    {
                        // A deferred maximum may be lowered below the outstanding by the back
                        // office; it then blocks new charges but is not an inconsistency.
                        report.differences.push(AuditDifference::OutOfBounds {
                            account_id: id,
                            kind: kind_text.clone(),
                            owner_id,
                            balance_minor: recorded,
                            reason: format!("is above its maximum {max}"),
                        });
                    }
                }

                let unbalanced = sqlx::query(
                    "SELECT transaction_id, currency, \
                     CAST(SUM(CASE WHEN side = 'debit' THEN amount_minor ELSE 0 END) AS BIGINT) AS debits, \
                     CAST(SUM(CASE WHEN side = 'credit' THEN amount_minor ELSE 0 END) AS BIGINT) AS credits \
                     FROM ledger_entries GROUP BY transaction_id, currency \
                     HAVING SUM(CASE WHEN side = 'debit' THEN amount_minor ELSE 0 END) <> SUM(CASE WHEN side = 'credit' THEN amount_minor ELSE 0 END) \
                     ORDER BY transaction_id",
                )
                .fetch_all(&mut *tx)
                .await?;
                for row in &unbalanced {
                    report.differences.push(AuditDifference::Unbalanced {
                        transaction_id: row.try_get("transaction_id")?,
                        currency: row.try_get("currency")?,
                        debits_minor: row.try_get("debits")?,
                        credits_minor: row.try_get("credits")?,
                    });
                }

                let malformed = sqlx::query(
                    "SELECT e.id, e.currency AS entry_currency, a.currency AS account_currency, e.side FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id WHERE e.currency <> a.currency OR e.side NOT IN ('debit', 'credit') OR e.amount_minor <= 0",
                )
                .fetch_all(&mut *tx)
                .await?;
                for row in &malformed {
                    let entry_currency: String = row.try_get("entry_currency")?;
                    let account_currency: String = row.try_get("account_currency")?;
                    report.differences.push(AuditDifference::Malformed {
                        entry_id: row.try_get("id")?,
                        reason: format!(
                            "entry in {entry_currency} on an account in {account_currency}, or bad side/amount"
                        ),
                    });
                }

                let counts = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM ledger_transactions) AS t, (SELECT COUNT(*) FROM ledger_entries) AS e",
                )
                .fetch_one(&mut *tx)
                .await?;
                report.transactions_checked = u64::try_from(counts.try_get::<i64, _>("t")?).unwrap_or(0);
                report.entries_checked = u64::try_from(counts.try_get::<i64, _>("e")?).unwrap_or(0);
                tx.commit().await?;
                Ok(report)
            }

            async fn create_user(
                &self,
                username: &str,
                password_hash: &str,
                role: Role,
            ) -> Result<User> {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, role, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(username)
                .bind(password_hash)
                .bind(role.as_str())
                .bind(false)
                .bind(ts(now()))
                .execute(&self.write)
                .await
                .map_err(|e| conflict_on_unique(e, "this user name is taken"))?;
                self.find_user(username)
                    .await?
                    .ok_or(StoreError::NotFound("user"))
            }

            async fn find_user(&self, username: &str) -> Result<Option<User>> {
                let row = sqlx::query("SELECT * FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&self.write)
                    .await?;
                row.as_ref().map(map_user).transpose()
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                let rows = sqlx::query("SELECT * FROM users ORDER BY username")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(map_user).collect()
            }

            async fn create_session(
                &self,
                token_hash: &str,
                user_id: Uuid,
                expires_at: OffsetDateTime,
            ) -> Result<()> {
                let at = now();
                let mut tx = self.write.begin().await?;
                // Keep the table bounded: expired sessions go when new ones come.
                sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                    .bind(ts(at))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(ts(at))
                .bind(ts(expires_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_user(
                &self,
                token_hash: &str,
                now: OffsetDateTime,
            ) -> Result<Option<User>> {
                let row = sqlx::query(
                    "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled",
                )
                .bind(token_hash)
                .bind(ts(now))
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(map_user).transpose()
            }

            async fn delete_session(&self, token_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn create_shop_key(
                &self,
                institution_id: Uuid,
                name: &str,
                prefix: &str,
                key_hash: &str,
            ) -> Result<ShopKey> {
                self.get_institution(institution_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO shop_keys (id, institution_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(institution_id)
                .bind(name)
                .bind(prefix)
                .bind(key_hash)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                let row = sqlx::query("SELECT * FROM shop_keys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.write)
                    .await?;
                map_shop_key(&row)
            }

            async fn list_shop_keys(&self, institution_id: Option<Uuid>) -> Result<Vec<ShopKey>> {
                let rows = sqlx::query(
                    "SELECT * FROM shop_keys WHERE ($1 IS NULL OR institution_id = $1) ORDER BY created_at, id",
                )
                .bind(institution_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_shop_key).collect()
            }

            async fn revoke_shop_key(&self, id: Uuid) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE shop_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                )
                .bind(id)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("shop key"));
                }
                Ok(())
            }

            async fn shop_key_by_hash(&self, key_hash: &str) -> Result<Option<ShopKey>> {
                let row = sqlx::query(
                    "SELECT * FROM shop_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                )
                .bind(key_hash)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(map_shop_key).transpose()
            }

            async fn set_shop_webhook(
                &self,
                shop_key_id: Uuid,
                endpoint: Option<&WebhookEndpoint>,
            ) -> Result<()> {
                let (url, sealed) = match endpoint {
                    Some(e) => (
                        Some(e.url.clone()),
                        Some(self.key.seal(e.secret.expose().as_bytes(), &webhook_aad(shop_key_id))?),
                    ),
                    None => (None, None),
                };
                let done = sqlx::query(
                    "UPDATE shop_keys SET webhook_url = $2, webhook_secret_sealed = $3 WHERE id = $1",
                )
                .bind(shop_key_id)
                .bind(url)
                .bind(sealed)
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("shop key"));
                }
                Ok(())
            }

            async fn shop_webhook(&self, shop_key_id: Uuid) -> Result<Option<WebhookEndpoint>> {
                let row = sqlx::query(
                    "SELECT webhook_url, webhook_secret_sealed FROM shop_keys WHERE id = $1",
                )
                .bind(shop_key_id)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound("shop key"))?;
                let url: Option<String> = row.try_get("webhook_url")?;
                let sealed: Option<Vec<u8>> = row.try_get("webhook_secret_sealed")?;
                match (url, sealed) {
                    (Some(url), Some(sealed)) => {
                        let plain = self.key.open(&sealed, &webhook_aad(shop_key_id))?;
                        let secret = String::from_utf8(plain).map_err(corrupt)?;
                        Ok(Some(WebhookEndpoint {
                            url,
                            secret: Secret::new(secret),
                        }))
                    }
                    _ => Ok(None),
                }
            }

            async fn create_order(&self, o: &NewOrder) -> Result<Order> {
                let id = Uuid::now_v7();
                let at = now();
                let lines = serde_json::to_string(&o.lines).map_err(corrupt)?;
                let delivery = serde_json::to_string(&o.delivery).map_err(corrupt)?;
                sqlx::query(
                    "INSERT INTO orders (id, institution_id, point_of_sale_id, shop_key_id, contact_id, currency, language, status, total_minor, lines, delivery, first_event_at, return_url, cancel_url, checkout_token_hash, version, hold_expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'awaiting_payment', $8, $9, $10, $11, $12, $13, $14, 0, $15, $16, $16)",
                )
                .bind(id)
                .bind(o.institution_id)
                .bind(o.point_of_sale_id)
                .bind(o.shop_key_id)
                .bind(o.contact_id)
                .bind(o.currency.code())
                .bind(&o.language)
                .bind(o.total.amount_minor())
                .bind(lines)
                .bind(delivery)
                .bind(o.first_event_at.map(ts))
                .bind(&o.return_url)
                .bind(&o.cancel_url)
                .bind(&o.checkout_token_hash)
                .bind(ts(o.hold_expires_at))
                .bind(ts(at))
                .execute(&self.write)
                .await?;
                self.get_order(id).await
            }

            async fn get_order(&self, id: Uuid) -> Result<Order> {
                self.read_order(OrderKey::Id(id)).await
            }

            async fn order_by_token_hash(&self, token_hash: &str) -> Result<Order> {
                self.read_order(OrderKey::TokenHash(token_hash)).await
            }

            async fn apply_order_ops(
                &self,
                order_id: Uuid,
                expected_version: i64,
                ops: &[OrderOp],
            ) -> Result<Order> {
                let at = now();
                let mut tx = self.write.begin().await?;
                // First statement: takes the order's row lock (PostgreSQL) and checks that
                // nobody changed the order since the caller read it.
                let updated = sqlx::query(
                    "UPDATE orders SET version = version + 1, updated_at = $3 WHERE id = $1 AND version = $2 RETURNING institution_id",
                )
                .bind(order_id)
                .bind(expected_version)
                .bind(ts(at))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = updated else {
                    let exists = sqlx::query("SELECT 1 FROM orders WHERE id = $1")
                        .bind(order_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Err(match exists {
                        Some(_) => StoreError::Conflict("order_changed".into()),
                        None => StoreError::NotFound("order"),
                    });
                };
                let institution_id: Uuid = row.try_get("institution_id")?;
                // Saved cards kept under another id than the one asked for (see
                // `OrderOp::SavedCardInsert`): asked → kept.
                let mut kept_cards: BTreeMap<Uuid, Uuid> = BTreeMap::new();
                for op in ops {
                    match op {
                        OrderOp::PromoHold {
                            application_id,
                            promo_code_id,
                            contact_id,
                            position,
                            max_uses_per_contact,
                        } => {
                            let taken = sqlx::query(
                                "UPDATE promo_codes SET uses_count = uses_count + 1 WHERE id = $1 AND active AND (max_uses_total IS NULL OR uses_count < max_uses_total)",
                            )
                            .bind(*promo_code_id)
                            .execute(&mut *tx)
                            .await?;
                            if taken.rows_affected() == 0 {
                                return Err(StoreError::Conflict("promo_used_up".into()));
                            }
                            // The update above locks the code's row: per-contact counts are
                            // read one transaction at a time.
                            if let (Some(contact), Some(max)) = (contact_id, max_uses_per_contact) {
                                let row = sqlx::query(
                                    "SELECT COUNT(*) AS n FROM promo_applications WHERE promo_code_id = $1 AND contact_id = $2 AND status IN ('held', 'committed')",
                                )
                                .bind(*promo_code_id)
                                .bind(*contact)
                                .fetch_one(&mut *tx)
                                .await?;
                                let n: i64 = row.try_get("n")?;
                                if n >= i64::from(*max) {
                                    return Err(StoreError::Conflict("promo_used_up".into()));
                                }
                            }
                            sqlx::query(
                                "INSERT INTO promo_applications (id, order_id, promo_code_id, contact_id, position, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'held', $6, $6)",
                            )
                            .bind(*application_id)
                            .bind(order_id)
                            .bind(*promo_code_id)
                            .bind(*contact_id)
                            .bind(*position)
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                        }
                        OrderOp::PromoSettle { application_id, to } => {
                            let row = sqlx::query(
                                "SELECT promo_code_id FROM promo_applications WHERE id = $1 AND order_id = $2 AND status = 'held'",
                            )
                            .bind(*application_id)
                            .bind(order_id)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or_else(|| StoreError::Conflict("promo_not_held".into()))?;
                            let promo_code_id: Uuid = row.try_get("promo_code_id")?;
                            sqlx::query(
                                "UPDATE promo_applications SET status = $2, updated_at = $3 WHERE id = $1",
                            )
                            .bind(*application_id)
                            .bind(to.as_str())
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                            if *to == HoldStatus::Released {
                                sqlx::query(
                                    "UPDATE promo_codes SET uses_count = uses_count - 1 WHERE id = $1 AND uses_count > 0",
                                )
                                .bind(promo_code_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                        OrderOp::LegInsert {
                            leg_id,
                            kind,
                            source_id,
                            amount,
                            status,
                        } => {
                            if *kind == LegKind::Voucher {
                                let taken = sqlx::query(
                                    "UPDATE vouchers SET held_by_order_id = $2 WHERE id = $1 AND (reusable OR held_by_order_id IS NULL OR held_by_order_id = $2)",
                                )
                                .bind(*source_id)
                                .bind(order_id)
                                .execute(&mut *tx)
                                .await?;
                                if taken.rows_affected() == 0 {
                                    return Err(StoreError::Conflict("voucher_in_use".into()));
                                }
                            }
                            sqlx::query(
                                "INSERT INTO order_legs (id, order_id, kind, source_id, amount_minor, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                            )
                            .bind(*leg_id)
                            .bind(order_id)
                            .bind(kind.as_str())
                            .bind(*source_id)
                            .bind(amount.amount_minor())
                            .bind(status.as_str())
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                        }
                        OrderOp::LegUpdate { leg_id, to, amount } => {
                            let done = sqlx::query(
                                "UPDATE order_legs SET status = $3, amount_minor = $4, updated_at = $5 WHERE id = $1 AND order_id = $2 AND status = 'held'",
                            )
                            .bind(*leg_id)
                            .bind(order_id)
                            .bind(to.as_str())
                            .bind(amount.amount_minor())
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                            if done.rows_affected() == 0 {
                                return Err(StoreError::Conflict("leg_not_held".into()));
                            }
                        }
                        OrderOp::VoucherUnhold { voucher_id } => {
                            sqlx::query(
                                "UPDATE vouchers SET held_by_order_id = NULL WHERE id = $1 AND held_by_order_id = $2",
                            )
                            .bind(*voucher_id)
                            .bind(order_id)
                            .execute(&mut *tx)
                            .await?;
                        }
                        OrderOp::IssueVoucher(v) => {
                            insert_voucher(&mut tx, v, at).await?;
                        }
                        OrderOp::Post(transaction) => {
                            post_in_tx(&mut tx, institution_id, Some(order_id), transaction)
                                .await?;
                        }
                        OrderOp::SetStatus { to } => {
                            let paid_at = (*to == OrderStatus::Paid).then_some(at).map(ts);
                            let closed_at = to.is_final().then_some(at).map(ts);
                            let done = sqlx::query(
                                "UPDATE orders SET status = $2, paid_at = COALESCE($3, paid_at), closed_at = COALESCE($4, closed_at) WHERE id = $1 AND status = 'awaiting_payment'",
                            )
                            .bind(order_id)
                            .bind(to.as_str())
                            .bind(paid_at)
                            .bind(closed_at)
                            .execute(&mut *tx)
                            .await?;
                            if done.rows_affected() == 0 {
                                return Err(StoreError::Conflict("order_closed".into()));
                            }
                        }
                        OrderOp::CardPaymentInsert(p) => {
                            sqlx::query(
                                "INSERT INTO card_payments (id, order_id, leg_id, sales_channel_id, provider, reference, amount_minor, currency, status, three_ds_required, three_ds_reason, alias, masked_pan, brand, expiry, holder, next_check_at, checks, created_at, updated_at, installment_id, initiator, save_card, installment_plan_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending_provider', $9, $10, $11, $12, $13, $14, $15, $16, 0, $17, $17, $18, $19, $20, $21)",
                            )
                            .bind(p.id)
                            .bind(order_id)
                            .bind(p.leg_id)
                            .bind(p.sales_channel_id)
                            .bind(p.provider.as_str())
                            .bind(&p.reference)
                            .bind(p.amount.amount_minor())
                            .bind(p.amount.currency().code())
                            .bind(p.three_ds_required)
                            .bind(&p.three_ds_reason)
                            .bind(&p.card.alias)
                            .bind(&p.card.masked_pan)
                            .bind(&p.card.brand)
                            .bind(&p.card.expiry)
                            .bind(&p.card.holder)
                            .bind(ts(p.next_check_at))
                            .bind(ts(at))
                            .bind(p.installment_id)
                            .bind(p.initiator.as_str())
                            .bind(p.save_card)
                            .bind(p.installment_plan_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| conflict_on_unique(e, "card payment reference reused"))?;
                        }
                        OrderOp::CardPaymentSet {
                            id,
                            from,
                            to,
                            payid,
                            provider_status,
                            failure_reason,
                            next_check_at,
                        } => {
                            // The status guard is in the update itself: one statement.
                            let sql = format!(
                                "UPDATE card_payments SET status = $3, provider_payid = COALESCE($4, provider_payid), provider_status = COALESCE($5, provider_status), failure_reason = COALESCE($6, failure_reason), next_check_at = COALESCE($7, next_check_at), updated_at = $8 WHERE id = $1 AND order_id = $2 AND status IN ({})",
                                placeholders(9, from.len())
                            );
                            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .bind(*id)
                                .bind(order_id)
                                .bind(to.as_str())
                                .bind(payid)
                                .bind(provider_status)
                                .bind(failure_reason)
                                .bind(next_check_at.map(ts))
                                .bind(ts(at));
                            for f in from {
                                update = update.bind(f.as_str());
                            }
                            if update.execute(&mut *tx).await?.rows_affected() == 0 {
                                return Err(
                                    not_moved(&mut tx, Guarded::CardPayment, *id, order_id).await?
                                );
                            }
                        }
                        OrderOp::RefundInsert(r) => {
                            let taken = sqlx::query(
                                "UPDATE order_legs SET refunded_minor = refunded_minor + $3, updated_at = $4 WHERE id = $1 AND order_id = $2 AND status = 'committed' AND refunded_minor + $3 <= amount_minor",
                            )
                            .bind(r.leg_id)
                            .bind(order_id)
                            .bind(r.amount.amount_minor())
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                            if taken.rows_affected() == 0 {
                                return Err(StoreError::Conflict("refund_exceeds_leg".into()));
                            }
                            sqlx::query(
                                "INSERT INTO refunds (id, order_id, leg_id, destination, amount_minor, currency, status, card_payment_id, requested_by, next_check_at, checks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11)",
                            )
                            .bind(r.id)
                            .bind(order_id)
                            .bind(r.leg_id)
                            .bind(r.destination.as_str())
                            .bind(r.amount.amount_minor())
                            .bind(r.amount.currency().code())
                            .bind(r.status.as_str())
                            .bind(r.card_payment_id)
                            .bind(&r.requested_by)
                            .bind(ts(r.next_check_at))
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                        }
                        OrderOp::RefundSet {
                            id,
                            to,
                            payidsub,
                            failure_reason,
                        } => {
                            let row = sqlx::query(
                                "SELECT leg_id, amount_minor FROM refunds WHERE id = $1 AND order_id = $2 AND status = 'pending_provider'",
                            )
                            .bind(*id)
                            .bind(order_id)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or_else(|| StoreError::Conflict("refund_moved".into()))?;
                            let leg_id: Uuid = row.try_get("leg_id")?;
                            let amount: i64 = row.try_get("amount_minor")?;
                            sqlx::query(
                                "UPDATE refunds SET status = $2, provider_payidsub = COALESCE($3, provider_payidsub), failure_reason = COALESCE($4, failure_reason), updated_at = $5 WHERE id = $1",
                            )
                            .bind(*id)
                            .bind(to.as_str())
                            .bind(payidsub)
                            .bind(failure_reason)
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                            if *to == RefundStatus::Failed {
                                sqlx::query(
                                    "UPDATE order_legs SET refunded_minor = refunded_minor - $2, updated_at = $3 WHERE id = $1 AND refunded_minor >= $2",
                                )
                                .bind(leg_id)
                                .bind(amount)
                                .bind(ts(at))
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                        OrderOp::Webhook {
                            shop_key_id,
                            event_id,
                            event_type,
                            payload,
                        } => {
                            sqlx::query(
                                "INSERT INTO webhook_events (id, shop_key_id, event_type, payload, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
                            )
                            .bind(*event_id)
                            .bind(*shop_key_id)
                            .bind(event_type)
                            .bind(payload)
                            .bind(ts(at))
                            .execute(&mut *tx)
                            .await?;
                        }
                        OrderOp::SavedCardInsert { card, max } => {
                            // The contact's row lock (PostgreSQL; SQLite has one writer) makes
                            // concurrent saves for one contact count their cards one at a time.
                            let lock = match BACKEND {
                                Backend::Postgres => "SELECT id FROM contacts WHERE id = $1 FOR UPDATE",
                                Backend::Sqlite => "SELECT id FROM contacts WHERE id = $1",
                            };
                            sqlx::query(lock)
                                .bind(card.contact_id)
                                .fetch_optional(&mut *tx)
                                .await?
                                .ok_or(StoreError::NotFound("contact"))?;
                            let existing = sqlx::query(
                                "SELECT id, contact_id FROM saved_cards WHERE sales_channel_id = $1 AND alias = $2 AND deleted_at IS NULL",
                            )
                            .bind(card.sales_channel_id)
                            .bind(&card.alias)
                            .fetch_optional(&mut *tx)
                            .await?;
                            if let Some(existing) = existing {
                                let kept: Uuid = existing.try_get("id")?;
                                let owner: Uuid = existing.try_get("contact_id")?;
                                if owner != card.contact_id {
                                    return Err(StoreError::Conflict(
                                        "saved_card_alias_taken".into(),
                                    ));
                                }
                                sqlx::query(
                                    "UPDATE saved_cards SET masked_pan = $2, brand = $3, expiry = $4, holder = $5, updated_at = $6 WHERE id = $1",
                                )
                                .bind(kept)
                                .bind(&card.masked_pan)
                                .bind(&card.brand)
                                .bind(&card.expiry)
                                .bind(&card.holder)
                                .bind(ts(at))
                                .execute(&mut *tx)
                                .await?;
                                if kept != card.id {
                                    kept_cards.insert(card.id, kept);
                                }
                            } else {
                                let row = sqlx::query(
                                    "SELECT COUNT(*) AS n FROM saved_cards WHERE contact_id = $1 AND deleted_at IS NULL",
                                )
                                .bind(card.contact_id)
                                .fetch_one(&mut *tx)
                                .await?;
                                let n: i64 = row.try_get("n")?;
                                if n >= i64::from(*max) {
                                    return Err(StoreError::Conflict("saved_cards_limit".into()));
                                }
                                sqlx::query(
                                    "INSERT INTO saved_cards (id, contact_id, sales_channel_id, provider, alias, masked_pan, brand, expiry, holder, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                                )
                                .bind(card.id)
                                .bind(card.contact_id)
                                .bind(card.sales_channel_id)
                                .bind(card.provider.as_str())
                                .bind(&card.alias)
                                .bind(&card.masked_pan)
                                .bind(&card.brand)
                                .bind(&card.expiry)
                                .bind(&card.holder)
                                .bind(ts(at))
                                .execute(&mut *tx)
                                .await
                                // Another contact saved this alias meanwhile.
                                .map_err(|e| conflict_on_unique(e, "saved_card_alias_taken"))?;
                            }
                        }
                        OrderOp::InstallmentsInsert(installments) => {
                            for i in installments {
                                let saved_card_id = i
                                    .saved_card_id
                                    .map(|id| kept_cards.get(&id).copied().unwrap_or(id));
                                sqlx::query(
                                    "INSERT INTO installments (id, order_id, plan_id, number, due_on, amount_minor, currency, status, attempts, next_attempt_at, claimed_until, saved_card_id, card_payment_id, failure_reason, paid_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, NULL, $10, $11, NULL, $12, $13, $13)",
                                )
                                .bind(i.id)
                                .bind(order_id)
                                .bind(i.plan_id)
                                .bind(i32::from(i.number))
                                .bind(i.due_on)
                                .bind(i.amount.amount_minor())
                                .bind(i.amount.currency().code())
                                .bind(i.status.as_str())
                                .bind(ts(i.next_attempt_at))
                                .bind(saved_card_id)
                                .bind(i.card_payment_id)
                                .bind(i.paid_at.map(ts))
                                .bind(ts(at))
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| conflict_on_unique(e, "installment_exists"))?;
                            }
                        }
                        OrderOp::InstallmentSet {
                            id,
                            from,
                            to,
                            attempts_increment,
                            next_attempt_at,
                            card_payment_id,
                            failure_reason,
                            paid_at,
                        } => {
                            // The status guard is in the update itself: one statement.
                            let sql = format!(
                                "UPDATE installments SET status = $3, attempts = attempts + $4, next_attempt_at = COALESCE($5, next_attempt_at), card_payment_id = COALESCE($6, card_payment_id), failure_reason = COALESCE($7, failure_reason), paid_at = COALESCE($8, paid_at), claimed_until = NULL, updated_at = $9 WHERE id = $1 AND order_id = $2 AND status IN ({})",
                                placeholders(10, from.len())
                            );
                            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .bind(*id)
                                .bind(order_id)
                                .bind(to.as_str())
                                .bind(i32::from(*attempts_increment))
                                .bind(next_attempt_at.map(ts))
                                .bind(*card_payment_id)
                                .bind(failure_reason)
                                .bind(paid_at.map(ts))
                                .bind(ts(at));
                            for f in from {
                                update = update.bind(f.as_str());
                            }
                            if update.execute(&mut *tx).await?.rows_affected() == 0 {
                                return Err(
                                    not_moved(&mut tx, Guarded::Installment, *id, order_id).await?
                                );
                            }
                        }
                    }
                }
                if ops.iter().any(|op| {
                    matches!(op, OrderOp::CardPaymentSet { to: CardPaymentStatus::Captured, .. })
                }) {
                    crate::crash::point("card.before_commit").await;
                }
                if ops.iter().any(|op| {
                    matches!(op, OrderOp::RefundSet { to: RefundStatus::Succeeded, .. })
                }) {
                    crate::crash::point("refund.before_commit").await;
                }
                tx.commit().await?;
                self.get_order(order_id).await
            }

            async fn expired_orders(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Uuid>> {
                let rows = sqlx::query(
                    "SELECT id FROM orders WHERE status = 'awaiting_payment' AND hold_expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM order_legs l WHERE l.order_id = orders.id AND l.kind = 'card' AND l.status = 'held') ORDER BY hold_expires_at LIMIT $2",
                )
                .bind(ts(now))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<Uuid, _>("id").map_err(StoreError::from))
                    .collect()
            }

            async fn card_payments_of_order(&self, order_id: Uuid) -> Result<Vec<CardPayment>> {
                let rows = sqlx::query(
                    "SELECT * FROM card_payments WHERE order_id = $1 ORDER BY created_at, id",
                )
                .bind(order_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(card_payment_from_row).collect()
            }

            async fn get_card_payment(&self, id: Uuid) -> Result<CardPayment> {
                let row = sqlx::query("SELECT * FROM card_payments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("card payment"))?;
                card_payment_from_row(&row)
            }

            async fn card_payment_by_reference(&self, reference: &str) -> Result<CardPayment> {
                let row = sqlx::query("SELECT * FROM card_payments WHERE reference = $1")
                    .bind(reference)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("card payment"))?;
                card_payment_from_row(&row)
            }

            async fn card_payments_to_check(
                &self,
                now: OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<CardPayment>> {
                let rows = sqlx::query(
                    "SELECT * FROM card_payments WHERE status IN ('pending_provider', 'awaiting_3ds') AND next_check_at <= $1 ORDER BY next_check_at, id LIMIT $2",
                )
                .bind(ts(now))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(card_payment_from_row).collect()
            }

            async fn card_payment_checked(&self, id: Uuid, next: OffsetDateTime) -> Result<()> {
                sqlx::query(
                    "UPDATE card_payments SET checks = checks + 1, next_check_at = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(ts(next))
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn refunds_of_order(&self, order_id: Uuid) -> Result<Vec<Refund>> {
                let rows = sqlx::query(
                    "SELECT * FROM refunds WHERE order_id = $1 ORDER BY created_at, id",
                )
                .bind(order_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(refund_from_row).collect()
            }

            async fn get_refund(&self, id: Uuid) -> Result<Refund> {
                let row = sqlx::query("SELECT * FROM refunds WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("refund"))?;
                refund_from_row(&row)
            }

            async fn refunds_to_check(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Refund>> {
                let rows = sqlx::query(
                    "SELECT * FROM refunds WHERE status = 'pending_provider' AND next_check_at <= $1 ORDER BY next_check_at, id LIMIT $2",
                )
                .bind(ts(now))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(refund_from_row).collect()
            }

            async fn refund_checked(&self, id: Uuid, next: OffsetDateTime) -> Result<()> {
                sqlx::query(
                    "UPDATE refunds SET checks = checks + 1, next_check_at = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(ts(next))
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn create_promo_code(
                &self,
                institution_id: Uuid,
                promo: &NewPromoCode,
            ) -> Result<PromoCodeRow> {
                let rows = self
                    .create_promo_codes(institution_id, std::slice::from_ref(promo))
                    .await?;
                rows.into_iter()
                    .next()
                    .ok_or_else(|| corrupt("promo code not created"))
            }

            async fn create_promo_codes(
                &self,
                institution_id: Uuid,
                promos: &[NewPromoCode],
            ) -> Result<Vec<PromoCodeRow>> {
                self.get_institution(institution_id).await?;
                let at = now();
                let mut ids = Vec::with_capacity(promos.len());
                let mut tx = self.write.begin().await?;
                for p in promos {
                    let id = Uuid::now_v7();
                    let rule = serde_json::to_string(&p.rule).map_err(corrupt)?;
                    let max_total = p.rule.effective_max_uses_total().map(i64::from);
                    sqlx::query(
                        "INSERT INTO promo_codes (id, institution_id, code, label, rule, batch_id, max_uses_total, uses_count, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
                    )
                    .bind(id)
                    .bind(institution_id)
                    .bind(&p.code)
                    .bind(&p.label)
                    .bind(rule)
                    .bind(p.batch_id)
                    .bind(max_total)
                    .bind(true)
                    .bind(ts(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_on_unique(e, &format!("the promo code {} already exists", p.code)))?;
                    ids.push(id);
                }
                tx.commit().await?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(self.get_promo_code(id).await?);
                }
                Ok(out)
            }

            async fn get_promo_code(&self, id: Uuid) -> Result<PromoCodeRow> {
                let row = sqlx::query("SELECT * FROM promo_codes WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("promo code"))?;
                map_promo(&row)
            }

            async fn promo_code_by_code(
                &self,
                institution_id: Uuid,
                code: &str,
            ) -> Result<Option<PromoCodeRow>> {
                let row = sqlx::query(
                    "SELECT * FROM promo_codes WHERE institution_id = $1 AND code = $2",
                )
                .bind(institution_id)
                .bind(code)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(map_promo).transpose()
            }

            async fn list_promo_codes(
                &self,
                institution_id: Option<Uuid>,
                limit: u32,
            ) -> Result<Vec<PromoCodeRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM promo_codes WHERE ($1 IS NULL OR institution_id = $1) ORDER BY created_at, code LIMIT $2",
                )
                .bind(institution_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_promo).collect()
            }

            async fn set_promo_code_active(&self, id: Uuid, active: bool) -> Result<PromoCodeRow> {
                let done = sqlx::query("UPDATE promo_codes SET active = $2 WHERE id = $1")
                    .bind(id)
                    .bind(active)
                    .execute(&self.write)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("promo code"));
                }
                self.get_promo_code(id).await
            }

            async fn promo_uses_by_contact(&self, promo_code_id: Uuid, contact_id: Uuid) -> Result<u64> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM promo_applications WHERE promo_code_id = $1 AND contact_id = $2 AND status IN ('held', 'committed')",
                )
                .bind(promo_code_id)
                .bind(contact_id)
                .fetch_one(&self.read)
                .await?;
                Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
            }

            async fn create_voucher_product(
                &self,
                institution_id: Uuid,
                name: &str,
                currency: Currency,
                rule: &guichet_domain::voucher::VoucherProductRule,
            ) -> Result<VoucherProduct> {
                self.get_institution(institution_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO voucher_products (id, institution_id, name, currency, rule, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(institution_id)
                .bind(name)
                .bind(currency.code())
                .bind(serde_json::to_string(rule).map_err(corrupt)?)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                self.get_voucher_product(id).await
            }

            async fn get_voucher_product(&self, id: Uuid) -> Result<VoucherProduct> {
                let row = sqlx::query("SELECT * FROM voucher_products WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("voucher product"))?;
                map_voucher_product(&row)
            }

            async fn list_voucher_products(
                &self,
                institution_id: Option<Uuid>,
            ) -> Result<Vec<VoucherProduct>> {
                let rows = sqlx::query(
                    "SELECT * FROM voucher_products WHERE ($1 IS NULL OR institution_id = $1) ORDER BY created_at, id",
                )
                .bind(institution_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_voucher_product).collect()
            }

            async fn issue_voucher(&self, voucher: &NewVoucher, funding: &Transaction) -> Result<Voucher> {
                let mut tx = self.write.begin().await?;
                insert_voucher(&mut tx, voucher, now()).await?;
                post_in_tx(&mut tx, voucher.institution_id, None, funding).await?;
                tx.commit().await?;
                self.get_voucher(voucher.id).await
            }

            async fn get_voucher(&self, id: Uuid) -> Result<Voucher> {
                let row = sqlx::query(VOUCHER_SELECT_BY_ID)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("voucher"))?;
                map_voucher(&row)
            }

            async fn voucher_by_code(&self, code: &str) -> Result<Option<Voucher>> {
                let row = sqlx::query(VOUCHER_SELECT_BY_CODE)
                    .bind(code)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(map_voucher).transpose()
            }

            async fn list_vouchers(&self, institution_id: Option<Uuid>, limit: u32) -> Result<Vec<Voucher>> {
                let rows = sqlx::query(VOUCHER_SELECT_LIST)
                    .bind(institution_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(map_voucher).collect()
            }

            async fn idempotency_begin(
                &self,
                scope: &str,
                key: &str,
                request_hash: &str,
            ) -> Result<IdempotencyBegin> {
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (scope, idem_key, request_hash, state, created_at) VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (scope, idem_key) DO NOTHING",
                )
                .bind(scope)
                .bind(key)
                .bind(request_hash)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(IdempotencyBegin::Started);
                }
                let row = sqlx::query(
                    "SELECT request_hash, state, response_status, response_body FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
                )
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.write)
                .await?;
                // Abandoned between our insert and this read: the caller may simply retry.
                let Some(row) = row else {
                    return Ok(IdempotencyBegin::InProgress);
                };
                let stored_hash: String = row.try_get("request_hash")?;
                if stored_hash != request_hash {
                    return Ok(IdempotencyBegin::Mismatch);
                }
                let state: String = row.try_get("state")?;
                if state != "done" {
                    // A request that has "run" for longer than any request may (the server
                    // times requests out after 60 s) died with its process: this one takes the
                    // key over. Every change a request makes is one atomic transaction, so the
                    // rerun finds either nothing done or the finished state.
                    let stale_before = now() - time::Duration::seconds(STALE_RUNNING_SECONDS);
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET created_at = $3 WHERE scope = $1 AND idem_key = $2 AND state = 'running' AND created_at < $4",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(ts(now()))
                    .bind(ts(stale_before))
                    .execute(&self.write)
                    .await?;
                    if taken.rows_affected() == 1 {
                        return Ok(IdempotencyBegin::Started);
                    }
                    return Ok(IdempotencyBegin::InProgress);
                }
                let status: Option<i32> = row.try_get("response_status")?;
                let body: Option<String> = row.try_get("response_body")?;
                Ok(IdempotencyBegin::Replay {
                    status: u16::try_from(status.unwrap_or(500)).unwrap_or(500),
                    body: body.unwrap_or_default(),
                })
            }

            async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4 WHERE scope = $1 AND idem_key = $2",
                )
                .bind(scope)
                .bind(key)
                .bind(i32::from(status))
                .bind(body)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()> {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND state = 'running'",
                )
                .bind(scope)
                .bind(key)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn purge_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM idempotency_keys WHERE state = 'done' AND created_at < $1",
                )
                .bind(ts(before))
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected())
            }

            async fn rate_limit_hit(&self, bucket: &str, window_seconds: u32, now: OffsetDateTime) -> Result<u32> {
                let start = window_start(now, window_seconds);
                sqlx::query(
                    "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) ON CONFLICT (bucket) DO UPDATE SET hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END, window_start = excluded.window_start",
                )
                .bind(bucket)
                .bind(ts(start))
                .execute(&self.write)
                .await?;
                self.rate_limit_hits_on(&self.write, bucket, start).await
            }

            async fn rate_limit_hit_many(&self, buckets: &[String], window_seconds: u32, now: OffsetDateTime) -> Result<Vec<u32>> {
                let start = window_start(now, window_seconds);
                // Rows are taken in bucket order, so concurrent callers never wait on each
                // other in a cycle (PostgreSQL row locks).
                let mut order: Vec<usize> = (0..buckets.len()).collect();
                order.sort_by(|a, b| buckets[*a].cmp(&buckets[*b]));
                order.dedup_by(|a, b| buckets[*a] == buckets[*b]);
                if order.is_empty() {
                    return Ok(Vec::new());
                }
                // One statement for all the buckets: atomic on its own, one round trip.
                let values: Vec<String> = (0..order.len())
                    .map(|i| format!("(${}, $1, 1)", i + 2))
                    .collect();
                let sql = format!(
                    "INSERT INTO rate_limits (bucket, window_start, hits) VALUES {} ON CONFLICT (bucket) DO UPDATE SET hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END, window_start = excluded.window_start RETURNING bucket, hits",
                    values.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(start));
                for i in &order {
                    query = query.bind(&buckets[*i]);
                }
                let rows = query.fetch_all(&self.write).await?;
                let mut counted: BTreeMap<String, u32> = BTreeMap::new();
                for row in &rows {
                    let hits = u32::try_from(row.try_get::<i32, _>("hits")?).unwrap_or(0);
                    counted.insert(row.try_get("bucket")?, hits);
                }
                buckets
                    .iter()
                    .map(|b| {
                        counted
                            .get(b)
                            .copied()
                            .ok_or_else(|| corrupt("a rate-limit bucket was not counted"))
                    })
                    .collect()
            }

            async fn rate_limit_hits(&self, bucket: &str, window_seconds: u32, now: OffsetDateTime) -> Result<u32> {
                let start = window_start(now, window_seconds);
                self.rate_limit_hits_on(&self.read, bucket, start).await
            }

            async fn claim_webhooks(&self, now: OffsetDateTime, lease_seconds: u32, limit: u32) -> Result<Vec<WebhookEvent>> {
                let sql = match BACKEND {
                    // SKIP LOCKED: instances claim disjoint events without waiting on each other.
                    Backend::Postgres => "UPDATE webhook_events SET next_attempt_at = $2, attempts = attempts + 1 WHERE id IN (SELECT id FROM webhook_events WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, shop_key_id, event_type, payload, attempts, created_at",
                    // SQLite has one writer: the statement is atomic as it is.
                    Backend::Sqlite => "UPDATE webhook_events SET next_attempt_at = $2, attempts = attempts + 1 WHERE id IN (SELECT id FROM webhook_events WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) RETURNING id, shop_key_id, event_type, payload, attempts, created_at",
                };
                let lease = now + time::Duration::seconds(i64::from(lease_seconds));
                let rows = sqlx::query(sql)
                    .bind(ts(now))
                    .bind(ts(lease))
                    .bind(i64::from(limit))
                    .fetch_all(&self.write)
                    .await?;
                rows.iter().map(map_webhook).collect()
            }

            async fn webhook_attempted(
                &self,
                id: Uuid,
                delivered: bool,
                error: Option<&str>,
                next_attempt_at: Option<OffsetDateTime>,
            ) -> Result<()> {
                let at = now();
                if delivered {
                    sqlx::query(
                        "UPDATE webhook_events SET status = 'delivered', delivered_at = $2, last_error = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .bind(ts(at))
                    .execute(&self.write)
                    .await?;
                } else if let Some(next) = next_attempt_at {
                    sqlx::query(
                        "UPDATE webhook_events SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(ts(next))
                    .bind(error)
                    .execute(&self.write)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE webhook_events SET status = 'failed', last_error = $2 WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(error)
                    .execute(&self.write)
                    .await?;
                }
                Ok(())
            }

            async fn webhooks_delivered(&self, ids: &[Uuid]) -> Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let sql = format!(
                    "UPDATE webhook_events SET status = 'delivered', delivered_at = $1, last_error = NULL WHERE id IN ({})",
                    placeholders(2, ids.len())
                );
                let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(now()));
                for id in ids {
                    update = update.bind(*id);
                }
                update.execute(&self.write).await?;
                Ok(())
            }

            async fn list_webhook_events(&self, shop_key_id: Option<Uuid>, limit: u32) -> Result<Vec<(WebhookEvent, String)>> {
                let rows = sqlx::query(
                    "SELECT id, shop_key_id, event_type, payload, attempts, created_at, status FROM webhook_events WHERE ($1 IS NULL OR shop_key_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(shop_key_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| Ok((map_webhook(r)?, r.try_get::<String, _>("status")?)))
                    .collect()
            }

            async fn saved_cards_of_contact(&self, contact_id: Uuid) -> Result<Vec<SavedCard>> {
                let rows = sqlx::query(
                    "SELECT * FROM saved_cards WHERE contact_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                )
                .bind(contact_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_saved_card).collect()
            }

            async fn get_saved_card(&self, id: Uuid) -> Result<SavedCard> {
                let row = sqlx::query(
                    "SELECT * FROM saved_cards WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound("saved card"))?;
                map_saved_card(&row)
            }

            async fn saved_card_by_alias(
                &self,
                sales_channel_id: Uuid,
                alias: &str,
            ) -> Result<Option<SavedCard>> {
                let row = sqlx::query(
                    "SELECT * FROM saved_cards WHERE sales_channel_id = $1 AND alias = $2 AND deleted_at IS NULL",
                )
                .bind(sales_channel_id)
                .bind(alias)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(map_saved_card).transpose()
            }

            async fn update_saved_card(
                &self,
                id: Uuid,
                expiry: Option<&str>,
                holder: Option<&str>,
            ) -> Result<SavedCard> {
                let done = sqlx::query(
                    "UPDATE saved_cards SET expiry = COALESCE($2, expiry), holder = COALESCE($3, holder), updated_at = $4 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .bind(expiry)
                .bind(holder)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("saved card"));
                }
                let row = sqlx::query("SELECT * FROM saved_cards WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.write)
                    .await?;
                map_saved_card(&row)
            }

            async fn delete_saved_card(&self, id: Uuid) -> Result<()> {
                let at = now();
                let done = sqlx::query(
                    "UPDATE saved_cards SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .bind(ts(at))
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("saved card"));
                }
                Ok(())
            }

            async fn create_account_link(
                &self,
                token_hash: &str,
                contact_id: Uuid,
                expires_at: OffsetDateTime,
            ) -> Result<()> {
                self.get_contact(contact_id).await?;
                let at = now();
                let mut tx = self.write.begin().await?;
                // Keep the table bounded: expired links go when new ones come.
                sqlx::query("DELETE FROM account_links WHERE expires_at < $1")
                    .bind(ts(at))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO account_links (token_hash, contact_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(contact_id)
                .bind(ts(expires_at))
                .bind(ts(at))
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, "account link token reused"))?;
                tx.commit().await?;
                Ok(())
            }

            async fn account_link_contact(
                &self,
                token_hash: &str,
                now: OffsetDateTime,
            ) -> Result<Option<Uuid>> {
                let row = sqlx::query(
                    "SELECT contact_id FROM account_links WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(ts(now))
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| r.try_get::<Uuid, _>("contact_id").map_err(StoreError::from))
                    .transpose()
            }

            async fn create_installment_plan(
                &self,
                plan: &NewInstallmentPlan,
            ) -> Result<InstallmentPlanRow> {
                let _clear = self.cache.clear_on_return();
                let c = plan_columns(&plan.plan)?;
                self.get_point_of_sale(plan.point_of_sale_id).await?;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO installment_plans (id, point_of_sale_id, name, count, split, interval, min_amount_minor, currency, mode, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(id)
                .bind(plan.point_of_sale_id)
                .bind(&plan.name)
                .bind(c.count)
                .bind(c.split)
                .bind(c.interval)
                .bind(c.min_amount_minor)
                .bind(c.currency)
                .bind(c.mode)
                .bind(plan.active)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                let row = sqlx::query("SELECT * FROM installment_plans WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.write)
                    .await?;
                map_installment_plan(&row)
            }

            async fn update_installment_plan(
                &self,
                id: Uuid,
                plan: &NewInstallmentPlan,
            ) -> Result<InstallmentPlanRow> {
                let _clear = self.cache.clear_on_return();
                let c = plan_columns(&plan.plan)?;
                self.get_point_of_sale(plan.point_of_sale_id).await?;
                let done = sqlx::query(
                    "UPDATE installment_plans SET point_of_sale_id = $2, name = $3, count = $4, split = $5, interval = $6, min_amount_minor = $7, currency = $8, mode = $9, active = $10, updated_at = $11 WHERE id = $1",
                )
                .bind(id)
                .bind(plan.point_of_sale_id)
                .bind(&plan.name)
                .bind(c.count)
                .bind(c.split)
                .bind(c.interval)
                .bind(c.min_amount_minor)
                .bind(c.currency)
                .bind(c.mode)
                .bind(plan.active)
                .bind(ts(now()))
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("installment plan"));
                }
                let row = sqlx::query("SELECT * FROM installment_plans WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.write)
                    .await?;
                map_installment_plan(&row)
            }

            async fn get_installment_plan(&self, id: Uuid) -> Result<InstallmentPlanRow> {
                let row = sqlx::query("SELECT * FROM installment_plans WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("installment plan"))?;
                map_installment_plan(&row)
            }

            async fn list_installment_plans(
                &self,
                point_of_sale_id: Option<Uuid>,
            ) -> Result<Vec<InstallmentPlanRow>> {
                let key = crate::cache::Key::InstallmentPlans(point_of_sale_id);
                self.cache
                    .get_or_load(key, || async {
                        let rows = sqlx::query(
                            "SELECT * FROM installment_plans WHERE ($1 IS NULL OR point_of_sale_id = $1) ORDER BY created_at, id",
                        )
                        .bind(point_of_sale_id)
                        .fetch_all(&self.read)
                        .await?;
                        rows.iter().map(map_installment_plan).collect()
                    })
                    .await
            }

            async fn delete_installment_plan(&self, id: Uuid) -> Result<()> {
                let _clear = self.cache.clear_on_return();
                let mut tx = self.write.begin().await?;
                let used = sqlx::query("SELECT 1 FROM installments WHERE plan_id = $1 LIMIT 1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if used.is_some() {
                    return Err(StoreError::Conflict("plan_in_use".into()));
                }
                // The foreign key settles a race with an order scheduling installments with it.
                let done = sqlx::query("DELETE FROM installment_plans WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| match err.as_database_error().map(|d| d.kind()) {
                        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
                            StoreError::Conflict("plan_in_use".into())
                        }
                        _ => StoreError::Db(err),
                    })?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("installment plan"));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn installments_of_order(&self, order_id: Uuid) -> Result<Vec<InstallmentRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM installments WHERE order_id = $1 ORDER BY number",
                )
                .bind(order_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_installment).collect()
            }

            async fn get_installment(&self, id: Uuid) -> Result<InstallmentRow> {
                let row = sqlx::query("SELECT * FROM installments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound("installment"))?;
                map_installment(&row)
            }

            async fn claim_due_installments(
                &self,
                now: OffsetDateTime,
                lease_until: OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<InstallmentRow>> {
                let sql = match BACKEND {
                    // SKIP LOCKED: runners claim disjoint rows without waiting on each other; a
                    // row another runner leased meanwhile fails the re-checked condition.
                    Backend::Postgres => "UPDATE installments SET claimed_until = $2 WHERE id IN (SELECT id FROM installments WHERE status = 'open' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *",
                    // SQLite has one writer: the statement is atomic as it is.
                    Backend::Sqlite => "UPDATE installments SET claimed_until = $2 WHERE id IN (SELECT id FROM installments WHERE status = 'open' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_attempt_at, id LIMIT $3) RETURNING *",
                };
                let rows = sqlx::query(sql)
                    .bind(ts(now))
                    .bind(ts(lease_until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.write)
                    .await?;
                let mut claimed = rows
                    .iter()
                    .map(map_installment)
                    .collect::<Result<Vec<_>>>()?;
                claimed.sort_by_key(|i| (i.next_attempt_at, i.id));
                Ok(claimed)
            }

            async fn release_installment_claim(&self, id: Uuid) -> Result<()> {
                let done = sqlx::query("UPDATE installments SET claimed_until = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("installment"));
                }
                Ok(())
            }

            async fn list_installments(
                &self,
                institution_id: Option<Uuid>,
                status: Option<InstallmentStatus>,
                limit: u32,
            ) -> Result<Vec<InstallmentRow>> {
                let rows = sqlx::query(
                    "SELECT i.* FROM installments i JOIN orders o ON o.id = i.order_id WHERE ($1 IS NULL OR o.institution_id = $1) AND ($2 IS NULL OR i.status = $2) ORDER BY i.due_on DESC, i.created_at DESC, i.id DESC LIMIT $3",
                )
                .bind(institution_id)
                .bind(status.map(InstallmentStatus::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_installment).collect()
            }

            // ---- back office: refunds

            async fn recent_refunds(&self, limit: u32) -> Result<Vec<Refund>> {
                let rows = sqlx::query(
                    "SELECT * FROM refunds ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(refund_from_row).collect()
            }

            // ---- back office: dashboard
            async fn payments_by_means(
                &self,
                institution_id: Option<Uuid>,
                from: OffsetDateTime,
                to: OffsetDateTime,
            ) -> Result<Vec<MeansTotal>> {
                let legs = sqlx::query(
                    "SELECT l.kind AS means, o.currency AS currency, COUNT(DISTINCT o.id) AS orders, CAST(SUM(l.amount_minor) AS BIGINT) AS amount_minor FROM order_legs l JOIN orders o ON o.id = l.order_id WHERE ($1 IS NULL OR o.institution_id = $1) AND o.status = 'paid' AND o.paid_at >= $2 AND o.paid_at < $3 AND l.status = 'committed' AND l.amount_minor > 0 GROUP BY l.kind, o.currency ORDER BY l.kind, o.currency",
                )
                .bind(institution_id)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(&self.read)
                .await?;
                // What promo codes took off an order is what its legs do not cover: the order
                // commits total = discounts + holds + deferred + card + installments.
                let promos = sqlx::query(
                    "SELECT 'promo' AS means, o.currency AS currency, COUNT(*) AS orders, CAST(SUM(o.total_minor - COALESCE((SELECT SUM(l.amount_minor) FROM order_legs l WHERE l.order_id = o.id AND l.status = 'committed'), 0)) AS BIGINT) AS amount_minor FROM orders o WHERE ($1 IS NULL OR o.institution_id = $1) AND o.status = 'paid' AND o.paid_at >= $2 AND o.paid_at < $3 AND EXISTS (SELECT 1 FROM promo_applications p WHERE p.order_id = o.id AND p.status = 'committed') GROUP BY o.currency ORDER BY o.currency",
                )
                .bind(institution_id)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(&self.read)
                .await?;
                legs.iter()
                    .chain(promos.iter())
                    .map(|row| {
                        let amount_minor: i64 = row.try_get("amount_minor")?;
                        Ok(MeansTotal {
                            means: row.try_get("means")?,
                            amount: Money::new(amount_minor, currency(row.try_get("currency")?)?),
                            orders: row.try_get("orders")?,
                        })
                    })
                    .filter(|t: &Result<MeansTotal>| t.as_ref().map_or(true, |t| !t.amount.is_zero()))
                    .collect()
            }

            async fn promo_code_uses(&self, promo_code_id: Uuid) -> Result<Vec<PromoUse>> {
                self.get_promo_code(promo_code_id).await?;
                let rows = sqlx::query(
                    "SELECT order_id, contact_id, status, created_at, updated_at FROM promo_applications WHERE promo_code_id = $1 ORDER BY created_at, id",
                )
                .bind(promo_code_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let status: String = row.try_get("status")?;
                        Ok(PromoUse {
                            order_id: row.try_get("order_id")?,
                            contact_id: row.try_get("contact_id")?,
                            status: HoldStatus::parse(&status)
                                .ok_or_else(|| corrupt(format!("unknown promo use status {status:?}")))?,
                            created_at: row.try_get("created_at")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn promo_codes_of_batch(&self, batch_id: Uuid) -> Result<Vec<PromoCodeRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM promo_codes WHERE batch_id = $1 ORDER BY created_at, code",
                )
                .bind(batch_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(map_promo).collect()
            }

            async fn voucher_history(&self, voucher_id: Uuid) -> Result<Vec<HistoryLine>> {
                self.get_voucher(voucher_id).await?;
                let rows = sqlx::query(
                    "SELECT t.id AS transaction_id, t.kind AS transaction_kind, t.memo, t.order_id, t.created_at, a.kind AS account_kind, e.side, e.amount_minor, e.currency FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_transactions t ON t.id = e.transaction_id WHERE a.owner_id = $1 AND a.kind = 'voucher_liability' ORDER BY t.created_at, t.id, e.id",
                )
                .bind(voucher_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let account_kind = parse_kind(row.try_get("account_kind")?)?;
                        let side = parse_side(row.try_get("side")?)?;
                        let amount_minor: i64 = row.try_get("amount_minor")?;
                        Ok(HistoryLine {
                            transaction_id: row.try_get("transaction_id")?,
                            kind: row.try_get("transaction_kind")?,
                            memo: row.try_get("memo")?,
                            order_id: row.try_get("order_id")?,
                            created_at: row.try_get("created_at")?,
                            account_kind,
                            side,
                            amount: Money::new(amount_minor, currency(row.try_get("currency")?)?),
                            delta_minor: natural_delta(account_kind, side, amount_minor),
                        })
                    })
                    .collect()
            }
        }
    };
}

mod sqlite {
    use super::*;

    /// SQLite has no time type: timestamps are text, compared as text. A fixed-width UTC form
    /// (`2026-11-29T03:04:05.123456Z`) makes text order time order, whatever offset or precision
    /// the caller's value had.
    fn ts(t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
    sql_store!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, SQLITE_MIGRATOR);

    impl SqliteStore {
        pub async fn connect(path: &str, key: MasterKey) -> Result<Self> {
            use sqlx::sqlite::{
                SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
            };
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // A payment acknowledged to a buyer must survive a power cut.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await?;
            Ok(Self {
                read,
                write,
                key,
                cache: Default::default(),
                account_ids: Default::default(),
            })
        }
    }
}

mod pg {
    use super::*;

    /// PostgreSQL compares `TIMESTAMPTZ` as instants; only the offset is normalised.
    fn ts(t: OffsetDateTime) -> OffsetDateTime {
        t.to_offset(time::UtcOffset::UTC)
    }
    sql_store!(PgStore, sqlx::Postgres, Backend::Postgres, PG_MIGRATOR);

    impl PgStore {
        pub async fn connect(url: &str, key: MasterKey, max_connections: u32) -> Result<Self> {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(Duration::from_secs(60))
                .connect(url)
                .await?;
            Ok(Self {
                read: pool.clone(),
                write: pool,
                key,
                cache: Default::default(),
                account_ids: Default::default(),
            })
        }
    }
}

pub use pg::PgStore;
pub use sqlite::SqliteStore;

//! The store conformance suite: every case is written once, as an async function over a
//! [`TestDb`] (a fresh, migrated [`DynStore`] plus raw access to its database), and run on
//! SQLite always and on PostgreSQL when `GUICHET_TEST_PG_URL` is set. With
//! `GUICHET_REQUIRE_PG=1` a missing URL fails the PostgreSQL tests instead of skipping them.
//!
//! ```text
//! GUICHET_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p guichet-store
//! ```

use guichet_domain::config::{
    ChannelKind, PaymentModeCode, PaymentModeStatus, PaymentModeType, ProviderKind, PublicNames,
    Role, ThreeDsPolicy,
};
use guichet_domain::{AccountKind, Currency, Money, Side, TransactionBuilder};
use guichet_store::testing::{self, TempDirGuard};
use guichet_store::{
    AuditDifference, ContactPatch, DynStore, LedgerAccount, NewContact, PaymentModeFields,
    PaymentSystemInput, PostedTransaction, Secret, StoreError,
};
use sqlx::{Connection as _, Row as _};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// How to reach the database behind the store without the store.
enum Raw {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A fresh database for one test. Derefs to its [`DynStore`].
struct TestDb {
    store: DynStore,
    raw: Raw,
    // Dropped after `store` (field order): the directory outlives the store.
    _dir: Option<TempDirGuard>,
}

impl Deref for TestDb {
    type Target = DynStore;
    fn deref(&self) -> &DynStore {
        &self.store
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let (store, dir) = testing::fresh_sqlite().await;
        TestDb {
            store,
            raw: Raw::Sqlite(dir.db_path()),
            _dir: Some(dir),
        }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    async fn postgres() -> Option<TestDb> {
        let Some(base) = testing::pg_url() else {
            if testing::pg_required() {
                panic!("GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set");
            }
            println!("PostgreSQL conformance SKIPPED: GUICHET_TEST_PG_URL not set");
            return None;
        };
        let (store, url) = testing::fresh_pg_with_url(&base).await;
        Some(TestDb {
            store,
            raw: Raw::Postgres(url),
            _dir: None,
        })
    }

    fn migrations_dir(&self) -> PathBuf {
        let backend = match self.raw {
            Raw::Sqlite(_) => "sqlite",
            Raw::Postgres(_) => "postgres",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend)
    }

    /// A new database of the same backend migrated up to `version` only (by sqlx, from the
    /// migration files), and a store on it (the store does not migrate it further).
    async fn fresh_at_version(&self, version: i64) -> (DynStore, Option<TempDirGuard>) {
        let migrator = sqlx::migrate::Migrator::new(self.migrations_dir())
            .await
            .unwrap();
        let (url, dir) = match &self.raw {
            Raw::Sqlite(_) => {
                let dir = TempDirGuard::new().unwrap();
                let url = sqlite_url(&dir.db_path());
                let options =
                    <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
                        .unwrap()
                        .create_if_missing(true)
                        .foreign_keys(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                migrator.run_to(version, &mut conn).await.unwrap();
                conn.close().await.unwrap();
                (url, Some(dir))
            }
            Raw::Postgres(url) => {
                let url = testing::fresh_pg_url(url).await;
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                migrator.run_to(version, &mut conn).await.unwrap();
                conn.close().await.unwrap();
                (url, None)
            }
        };
        let store = guichet_store::connect(guichet_store::ConnectOptions {
            url,
            master_key: testing::test_key(),
            max_connections: 2,
        })
        .await
        .unwrap();
        (store, dir)
    }

    /// A second store on a new, empty database of the same backend (not migrated), with its
    /// own random master key.
    async fn fresh_unmigrated(&self) -> (DynStore, Option<TempDirGuard>) {
        let (url, dir) = match &self.raw {
            Raw::Sqlite(_) => {
                let dir = TempDirGuard::new().unwrap();
                (sqlite_url(&dir.db_path()), Some(dir))
            }
            Raw::Postgres(url) => (testing::fresh_pg_url(url).await, None),
        };
        let store = guichet_store::connect(guichet_store::ConnectOptions {
            url,
            master_key: testing::test_key(),
            max_connections: 2,
        })
        .await
        .unwrap();
        (store, dir)
    }

    /// Another store on this very database, under another (random) master key.
    async fn reopen_with_other_key(&self) -> DynStore {
        let url = match &self.raw {
            Raw::Sqlite(path) => sqlite_url(path),
            Raw::Postgres(url) => url.clone(),
        };
        testing::connect_migrated(&url).await
    }

    /// Runs one statement with uuid parameters on a raw connection; rows affected.
    async fn raw_execute(&self, sql: &'static str, binds: &[Uuid]) -> u64 {
        match &self.raw {
            Raw::Sqlite(path) => {
                let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(path))
                    .await
                    .unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.execute(&mut conn).await.unwrap().rows_affected()
            }
            Raw::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.execute(&mut conn).await.unwrap().rows_affected()
            }
        }
    }

    /// Fetches one uuid (first column of the one row) on a raw connection.
    async fn raw_uuid(&self, sql: &'static str, binds: &[Uuid]) -> Uuid {
        match &self.raw {
            Raw::Sqlite(path) => {
                let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(path))
                    .await
                    .unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.fetch_one(&mut conn).await.unwrap().get(0)
            }
            Raw::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.fetch_one(&mut conn).await.unwrap().get(0)
            }
        }
    }

    /// The sealed credentials column of a channel's payment system, as stored.
    async fn raw_sealed_credentials(&self, sales_channel_id: Uuid) -> Vec<u8> {
        let sql = "SELECT credentials_sealed FROM payment_systems WHERE sales_channel_id = $1";
        match &self.raw {
            Raw::Sqlite(path) => {
                let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(path))
                    .await
                    .unwrap();
                sqlx::query(sql)
                    .bind(sales_channel_id)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
                    .get(0)
            }
            Raw::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(sql)
                    .bind(sales_channel_id)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
                    .get(0)
            }
        }
    }

    /// Everything at rest that could hold a secret: on SQLite the database file and its WAL
    /// (a committed write is in the WAL until a checkpoint), on PostgreSQL the whole
    /// `payment_systems` row as text (bytea shows as hex there).
    async fn bytes_at_rest(&self, sales_channel_id: Uuid) -> Vec<u8> {
        match &self.raw {
            Raw::Sqlite(path) => {
                let mut bytes = std::fs::read(path).unwrap();
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if let Ok(more) = std::fs::read(&wal) {
                    bytes.extend_from_slice(&more);
                }
                bytes
            }
            Raw::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let text: String = sqlx::query(
                    "SELECT CAST(p AS TEXT) FROM payment_systems p WHERE sales_channel_id = $1",
                )
                .bind(sales_channel_id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
                text.into_bytes()
            }
        }
    }
}

/// Generates `#[tokio::test] sqlite_<case>` and `pg_<case>` for each case, so a failure names
/// its backend.
macro_rules! conformance {
    ($($case:ident => $sqlite:ident, $pg:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                let db = TestDb::sqlite().await;
                $case(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $pg() {
                let Some(db) = TestDb::postgres().await else { return };
                $case(&db).await;
            }
        )*
    };
}

conformance! {
    migrations => sqlite_migrations, pg_migrations;
    hierarchy => sqlite_hierarchy, pg_hierarchy;
    payment_modes => sqlite_payment_modes, pg_payment_modes;
    associations => sqlite_associations, pg_associations;
    payment_system => sqlite_payment_system, pg_payment_system;
    contacts => sqlite_contacts, pg_contacts;
    ledger => sqlite_ledger, pg_ledger;
    audit_detects_tampering => sqlite_audit_detects_tampering, pg_audit_detects_tampering;
    concurrent_credit_debits => sqlite_concurrent_credit_debits, pg_concurrent_credit_debits;
    concurrent_deferred_charges => sqlite_concurrent_deferred_charges, pg_concurrent_deferred_charges;
    users_and_sessions => sqlite_users_and_sessions, pg_users_and_sessions;
    session_expiry_subsecond => sqlite_session_expiry_subsecond, pg_session_expiry_subsecond;
    session_expiry_offset => sqlite_session_expiry_offset, pg_session_expiry_offset;
    shop_keys => sqlite_shop_keys, pg_shop_keys;
    idempotency_keys => sqlite_idempotency_keys, pg_idempotency_keys;
    rate_limits => sqlite_rate_limits, pg_rate_limits;
    migration_0004_keeps_legs_and_refunds => sqlite_migration_0004_keeps_legs_and_refunds, pg_migration_0004_keeps_legs_and_refunds;
    saved_cards => sqlite_saved_cards, pg_saved_cards;
    account_links => sqlite_account_links, pg_account_links;
    installment_plans => sqlite_installment_plans, pg_installment_plans;
    installments => sqlite_installments, pg_installments;
    installment_claims => sqlite_installment_claims, pg_installment_claims;
    concurrent_installment_claims => sqlite_concurrent_installment_claims, pg_concurrent_installment_claims;
}

/// `assert!(matches!(..))` that shows what came instead.
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!(
                "expected Err({}), got {:?}",
                stringify!($pattern $(if $guard)?),
                other
            ),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn code(raw: &str) -> PaymentModeCode {
    PaymentModeCode::parse(raw).unwrap()
}

fn names(pairs: &[(&str, &str)]) -> PublicNames {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(l, n)| ((*l).to_owned(), (*n).to_owned()))
        .collect();
    PublicNames::parse(&map).unwrap()
}

/// The seed's "CB WEB" payment mode, every field set.
fn cbweb() -> PaymentModeFields {
    PaymentModeFields {
        code: code("CBWEB"),
        internal_name: "FR * CB WEB".into(),
        public_names: names(&[("fr", "Carte bancaire"), ("en", "Credit card")]),
        mode_type: PaymentModeType::Card,
        status: PaymentModeStatus::Visible,
        predetermined: false,
        available_for_payment: true,
        available_for_refund: false,
        min_order: Some(eur(100)),
        max_order: Some(eur(500_000)),
    }
}

fn mode(raw_code: &str) -> PaymentModeFields {
    PaymentModeFields {
        code: code(raw_code),
        internal_name: format!("mode {raw_code}"),
        public_names: names(&[("fr", raw_code)]),
        mode_type: PaymentModeType::Voucher,
        status: PaymentModeStatus::Visible,
        predetermined: false,
        available_for_payment: true,
        available_for_refund: true,
        min_order: None,
        max_order: None,
    }
}

/// An institution with one organizer, one internet channel and one point of sale.
struct Shop {
    institution_id: Uuid,
    channel_id: Uuid,
    pos_id: Uuid,
}

async fn shop(db: &DynStore, name: &str) -> Shop {
    let inst = db.create_institution(name, Currency::EUR).await.unwrap();
    let org = db
        .create_organizer(inst.id, &format!("{name} organizer"))
        .await
        .unwrap();
    let channel = db
        .create_sales_channel(org.id, ChannelKind::Internet, &format!("{name} web"))
        .await
        .unwrap();
    let pos = db
        .create_point_of_sale(channel.id, &format!("{name} pos"))
        .await
        .unwrap();
    Shop {
        institution_id: inst.id,
        channel_id: channel.id,
        pos_id: pos.id,
    }
}

fn new_contact(
    institution_id: Uuid,
    external_ref: Option<&str>,
    first: &str,
    last: &str,
) -> NewContact {
    NewContact {
        institution_id,
        external_ref: external_ref.map(str::to_owned),
        first_name: first.into(),
        last_name: last.into(),
        email: format!("{}@example.org", first.to_lowercase()),
        language: "fr".into(),
        currency: Currency::EUR,
        deferred_allowed: false,
        deferred_max: eur(0),
    }
}

/// Posts `minor` from `debit` to `credit` (one debit entry, one credit entry).
async fn post(
    store: &DynStore,
    institution_id: Uuid,
    debit: &LedgerAccount,
    credit: &LedgerAccount,
    minor: i64,
) -> Result<PostedTransaction, StoreError> {
    let transaction = TransactionBuilder::new("test_posting", "conformance")
        .debit(debit.id, debit.kind, Money::new(minor, debit.currency))
        .credit(credit.id, credit.kind, Money::new(minor, credit.currency))
        .build()
        .unwrap();
    store
        .post_transaction(institution_id, None, &transaction)
        .await
}

async fn balance(db: &TestDb, account: &LedgerAccount) -> i64 {
    db.get_ledger_account(account.id)
        .await
        .unwrap()
        .balance
        .amount_minor()
}

async fn assert_audit_clean(db: &TestDb, accounts: u64, transactions: u64, entries: u64) {
    let report = db.audit().await.unwrap();
    assert!(
        report.differences.is_empty(),
        "audit differences: {:#?}",
        report.differences
    );
    assert_eq!(report.accounts_checked, accounts, "accounts checked");
    assert_eq!(report.transactions_checked, transactions, "transactions");
    assert_eq!(report.entries_checked, entries, "entries");
}

fn migration_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    files
}

fn migration_version(file: &str) -> i64 {
    file.split('_')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("migration file {file} has no numeric version prefix"))
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

async fn migrations(db: &TestDb) {
    let files = migration_files(&db.migrations_dir());
    assert!(!files.is_empty(), "no migration files found");
    let versions: Vec<i64> = files.iter().map(|f| migration_version(f)).collect();
    assert_eq!(db.applied_migrations().await.unwrap(), versions);
    assert_eq!(
        db.migrate().await.unwrap(),
        0,
        "a second migrate applies nothing"
    );
    assert_eq!(db.applied_migrations().await.unwrap(), versions);

    // From an empty database: nothing applied, then every file once.
    let (empty, _dir) = db.fresh_unmigrated().await;
    assert_eq!(empty.applied_migrations().await.unwrap(), Vec::<i64>::new());
    assert_eq!(empty.migrate().await.unwrap(), files.len());
    assert_eq!(empty.applied_migrations().await.unwrap(), versions);
    assert_eq!(empty.migrate().await.unwrap(), 0);
}

async fn hierarchy(db: &TestDb) {
    let unknown = Uuid::now_v7();
    assert!(db.list_institutions().await.unwrap().is_empty());

    // Institutions.
    let a = db
        .create_institution("Opéra de Lyon", Currency::EUR)
        .await
        .unwrap();
    let b = db
        .create_institution("Théâtre de Vidy", Currency::CHF)
        .await
        .unwrap();
    assert_eq!(a.name, "Opéra de Lyon");
    assert_eq!(a.default_currency, Currency::EUR);
    assert_eq!(b.default_currency, Currency::CHF);
    assert_eq!(a.created_at.offset(), UtcOffset::UTC);
    assert_eq!(a.created_at.nanosecond() % 1000, 0, "microsecond precision");
    assert!((OffsetDateTime::now_utc() - a.created_at).abs() < Duration::minutes(5));
    assert_eq!(db.get_institution(a.id).await.unwrap(), a);
    assert_eq!(
        db.list_institutions().await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_err!(db.get_institution(unknown).await, StoreError::NotFound(_));

    // Organizers.
    let oa = db.create_organizer(a.id, "Saison lyrique").await.unwrap();
    let oa2 = db.create_organizer(a.id, "Festival").await.unwrap();
    let ob = db.create_organizer(b.id, "Saison").await.unwrap();
    assert_eq!(oa.institution_id, a.id);
    assert_eq!(oa.name, "Saison lyrique");
    assert_eq!(db.get_organizer(oa.id).await.unwrap(), oa);
    assert_eq!(
        db.list_organizers(None).await.unwrap(),
        vec![oa.clone(), oa2.clone(), ob.clone()]
    );
    assert_eq!(
        db.list_organizers(Some(a.id)).await.unwrap(),
        vec![oa.clone(), oa2.clone()]
    );
    assert_eq!(
        db.list_organizers(Some(b.id)).await.unwrap(),
        vec![ob.clone()]
    );
    assert!(db.list_organizers(Some(unknown)).await.unwrap().is_empty());
    assert_err!(db.get_organizer(unknown).await, StoreError::NotFound(_));
    assert_err!(
        db.create_organizer(unknown, "Nobody's").await,
        StoreError::NotFound(_)
    );
    assert_eq!(db.list_organizers(None).await.unwrap().len(), 3);

    // Sales channels: the institution follows from the organizer.
    let ca = db
        .create_sales_channel(oa.id, ChannelKind::Internet, "Web")
        .await
        .unwrap();
    let ca2 = db
        .create_sales_channel(oa.id, ChannelKind::BoxOffice, "Guichet")
        .await
        .unwrap();
    let cb = db
        .create_sales_channel(ob.id, ChannelKind::Mobile, "App")
        .await
        .unwrap();
    assert_eq!(ca.institution_id, a.id);
    assert_eq!(ca.organizer_id, oa.id);
    assert_eq!(ca.kind, ChannelKind::Internet);
    assert_eq!(ca2.kind, ChannelKind::BoxOffice);
    assert_eq!(cb.kind, ChannelKind::Mobile);
    assert_eq!(cb.institution_id, b.id);
    assert_eq!(db.get_sales_channel(ca2.id).await.unwrap(), ca2);
    assert_eq!(
        db.list_sales_channels(Some(oa.id)).await.unwrap(),
        vec![ca.clone(), ca2.clone()]
    );
    assert!(
        db.list_sales_channels(Some(oa2.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.list_sales_channels(None).await.unwrap(),
        vec![ca.clone(), ca2.clone(), cb.clone()]
    );
    assert_err!(db.get_sales_channel(unknown).await, StoreError::NotFound(_));
    assert_err!(
        db.create_sales_channel(unknown, ChannelKind::Internet, "x")
            .await,
        StoreError::NotFound(_)
    );

    // Points of sale.
    let pa = db
        .create_point_of_sale(ca.id, "Billetterie web")
        .await
        .unwrap();
    let pb = db.create_point_of_sale(cb.id, "App iOS").await.unwrap();
    assert_eq!(pa.institution_id, a.id);
    assert_eq!(pa.sales_channel_id, ca.id);
    assert_eq!(pa.name, "Billetterie web");
    assert_eq!(pb.institution_id, b.id);
    assert_eq!(db.get_point_of_sale(pa.id).await.unwrap(), pa);
    assert_eq!(
        db.list_points_of_sale(None).await.unwrap(),
        vec![pa.clone(), pb.clone()]
    );
    assert_eq!(db.list_points_of_sale(Some(cb.id)).await.unwrap(), vec![pb]);
    assert!(
        db.list_points_of_sale(Some(ca2.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_err!(db.get_point_of_sale(unknown).await, StoreError::NotFound(_));
    assert_err!(
        db.create_point_of_sale(unknown, "x").await,
        StoreError::NotFound(_)
    );
    assert_eq!(db.list_points_of_sale(None).await.unwrap().len(), 2);
}

async fn payment_modes(db: &TestDb) {
    let a = shop(db, "A").await.institution_id;
    let b = shop(db, "B").await.institution_id;
    let unknown = Uuid::now_v7();

    let fields = cbweb();
    let created = db.create_payment_mode(a, &fields).await.unwrap();
    for read in [
        created.clone(),
        db.get_payment_mode(created.id).await.unwrap(),
    ] {
        assert_eq!(read.institution_id, a);
        assert_eq!(read.fields.code.as_str(), "CBWEB");
        assert_eq!(read.fields.internal_name, "FR * CB WEB");
        assert_eq!(read.fields.public_names.get("fr"), Some("Carte bancaire"));
        assert_eq!(read.fields.public_names.get("en"), Some("Credit card"));
        assert_eq!(read.fields.public_names.as_map().len(), 2);
        assert_eq!(read.fields.mode_type, PaymentModeType::Card);
        assert_eq!(read.fields.status, PaymentModeStatus::Visible);
        assert!(!read.fields.predetermined);
        assert!(read.fields.available_for_payment);
        assert!(!read.fields.available_for_refund);
        assert_eq!(read.fields.min_order, Some(eur(100)));
        assert_eq!(read.fields.max_order, Some(eur(500_000)));
        assert_eq!(read.fields, fields);
        assert_eq!(read.created_at, read.updated_at);
    }

    // Codes are unique per institution, not across institutions.
    assert_err!(
        db.create_payment_mode(a, &cbweb()).await,
        StoreError::Conflict(_)
    );
    let in_b = db.create_payment_mode(b, &cbweb()).await.unwrap();
    assert_eq!(in_b.institution_id, b);
    assert_err!(
        db.create_payment_mode(unknown, &cbweb()).await,
        StoreError::NotFound(_)
    );
    let mut mixed = mode("MIXED");
    mixed.min_order = Some(eur(100));
    mixed.max_order = Some(Money::new(100, Currency::CHF));
    assert_err!(
        db.create_payment_mode(a, &mixed).await,
        StoreError::Invalid(_)
    );

    let vad = db.create_payment_mode(a, &mode("VAD")).await.unwrap();
    let codes = |modes: Vec<guichet_store::PaymentMode>| -> Vec<(Uuid, String)> {
        modes
            .into_iter()
            .map(|m| (m.institution_id, m.fields.code.as_str().to_owned()))
            .collect()
    };
    assert_eq!(
        codes(db.list_payment_modes(Some(a)).await.unwrap()),
        vec![(a, "CBWEB".to_owned()), (a, "VAD".to_owned())]
    );
    assert_eq!(
        codes(db.list_payment_modes(Some(b)).await.unwrap()),
        vec![(b, "CBWEB".to_owned())]
    );
    assert_eq!(db.list_payment_modes(None).await.unwrap().len(), 3);

    // Update every field.
    let changed = PaymentModeFields {
        code: code("CB-WEB_2"),
        internal_name: "FR * CB WEB (3DS)".into(),
        public_names: names(&[("fr", "Carte")]),
        mode_type: PaymentModeType::DeferredAccount,
        status: PaymentModeStatus::Hidden,
        predetermined: true,
        available_for_payment: false,
        available_for_refund: false,
        min_order: None,
        max_order: Some(eur(30_000)),
    };
    let updated = db.update_payment_mode(created.id, &changed).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.institution_id, a);
    assert_eq!(updated.fields, changed);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    let read = db.get_payment_mode(created.id).await.unwrap();
    assert_eq!(read, updated);
    assert!(read.fields.predetermined);
    assert!(!read.fields.available_for_payment);
    assert!(!read.fields.available_for_refund);
    assert_eq!(read.fields.min_order, None);
    assert_eq!(read.fields.max_order, Some(eur(30_000)));
    assert_eq!(read.fields.status, PaymentModeStatus::Hidden);
    assert_eq!(read.fields.public_names.get("en"), None);

    // Updating to a taken code conflicts and changes nothing.
    let mut taken = mode("VAD");
    taken.internal_name = "stolen".into();
    assert_err!(
        db.update_payment_mode(created.id, &taken).await,
        StoreError::Conflict(_)
    );
    assert_eq!(db.get_payment_mode(created.id).await.unwrap(), updated);
    // Its own code, or the code of another institution's mode, is fine.
    db.update_payment_mode(created.id, &changed).await.unwrap();
    db.update_payment_mode(created.id, &cbweb()).await.unwrap();
    assert_err!(
        db.update_payment_mode(unknown, &mode("NEW")).await,
        StoreError::NotFound(_)
    );

    // Delete.
    db.delete_payment_mode(vad.id).await.unwrap();
    assert_err!(db.get_payment_mode(vad.id).await, StoreError::NotFound(_));
    assert_err!(
        db.delete_payment_mode(vad.id).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.update_payment_mode(vad.id, &mode("VAD")).await,
        StoreError::NotFound(_)
    );
    assert_eq!(
        codes(db.list_payment_modes(Some(a)).await.unwrap()),
        vec![(a, "CBWEB".to_owned())]
    );
    // The freed code can be used again.
    db.create_payment_mode(a, &mode("VAD")).await.unwrap();
}

async fn associations(db: &TestDb) {
    let a = shop(db, "A").await;
    let b = shop(db, "B").await;
    let other_pos = db
        .create_point_of_sale(a.channel_id, "second pos")
        .await
        .unwrap();
    let m1 = db
        .create_payment_mode(a.institution_id, &cbweb())
        .await
        .unwrap();
    let m2 = db
        .create_payment_mode(a.institution_id, &mode("VAD"))
        .await
        .unwrap();
    let mb = db
        .create_payment_mode(b.institution_id, &cbweb())
        .await
        .unwrap();
    let unknown = Uuid::now_v7();
    let ids = |modes: Vec<guichet_store::PaymentMode>| -> Vec<Uuid> {
        modes.into_iter().map(|m| m.id).collect()
    };

    assert!(
        db.point_of_sale_payment_modes(a.pos_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.associate_payment_mode(a.pos_id, m1.id).await.unwrap());
    assert!(
        !db.associate_payment_mode(a.pos_id, m1.id).await.unwrap(),
        "a second association is a no-op"
    );
    assert!(db.associate_payment_mode(a.pos_id, m2.id).await.unwrap());
    let listed = db.point_of_sale_payment_modes(a.pos_id).await.unwrap();
    assert_eq!(listed, vec![m1.clone(), m2.clone()]);
    assert!(
        db.point_of_sale_payment_modes(other_pos.id)
            .await
            .unwrap()
            .is_empty()
    );

    db.dissociate_payment_mode(a.pos_id, m1.id).await.unwrap();
    assert_eq!(
        ids(db.point_of_sale_payment_modes(a.pos_id).await.unwrap()),
        vec![m2.id]
    );
    assert_err!(
        db.dissociate_payment_mode(a.pos_id, m1.id).await,
        StoreError::NotFound(_)
    );
    // Associating again after a dissociation counts as new.
    assert!(db.associate_payment_mode(a.pos_id, m1.id).await.unwrap());

    // Across institutions: refused, nothing written.
    assert_err!(
        db.associate_payment_mode(a.pos_id, mb.id).await,
        StoreError::Invalid(_)
    );
    assert_err!(
        db.associate_payment_mode(b.pos_id, m1.id).await,
        StoreError::Invalid(_)
    );
    assert_eq!(
        ids(db.point_of_sale_payment_modes(a.pos_id).await.unwrap()),
        vec![m1.id, m2.id]
    );
    assert!(
        db.point_of_sale_payment_modes(b.pos_id)
            .await
            .unwrap()
            .is_empty()
    );

    // Unknown ids.
    assert_err!(
        db.associate_payment_mode(unknown, m1.id).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.associate_payment_mode(a.pos_id, unknown).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.point_of_sale_payment_modes(unknown).await,
        StoreError::NotFound(_)
    );

    // Deleting an associated mode removes its associations.
    db.delete_payment_mode(m2.id).await.unwrap();
    assert_eq!(
        ids(db.point_of_sale_payment_modes(a.pos_id).await.unwrap()),
        vec![m1.id]
    );
}

const PASSPHRASE: &str = "Mysecretsig1875!?";
const PASSWORD: &str = "guichet-test";

fn ogone_input(credentials: &[(&str, &str)]) -> PaymentSystemInput {
    PaymentSystemInput {
        provider: ProviderKind::Ogone,
        label: "Ogone (recette)".into(),
        base_url: "https://ogone.test.invalid/ncol/test".into(),
        merchant_id: "plaintext-merchant-4242".into(),
        settings: BTreeMap::from([
            ("alias_gateway".to_owned(), "hidden_post".to_owned()),
            ("hash".to_owned(), "sha512".to_owned()),
        ]),
        credentials: credentials
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect(),
        card_saving_enabled: true,
        cvv_on_saved_cards: true,
        three_ds_policy: ThreeDsPolicy::CloseToEvent,
        three_ds_days: 7,
        max_saved_cards: 3,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn exposed(map: &BTreeMap<String, Secret>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
        .collect()
}

async fn payment_system(db: &TestDb) {
    let s = shop(db, "A").await;
    let unknown = Uuid::now_v7();
    assert_err!(
        db.get_payment_system(s.channel_id).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.payment_system_credentials(s.channel_id).await,
        StoreError::NotFound(_)
    );
    let input = ogone_input(&[("sha_in", PASSPHRASE), ("password", PASSWORD)]);
    assert_err!(
        db.put_payment_system(unknown, &input).await,
        StoreError::NotFound(_)
    );

    let put = db.put_payment_system(s.channel_id, &input).await.unwrap();

    // At rest, checked first: sealed, never in clear. The merchant id (not a secret) proves
    // that the bytes read hold the freshly written row.
    let sealed = db.raw_sealed_credentials(s.channel_id).await;
    assert!(!sealed.is_empty());
    assert!(!contains(&sealed, PASSPHRASE.as_bytes()));
    assert!(!contains(&sealed, PASSWORD.as_bytes()));
    let at_rest = db.bytes_at_rest(s.channel_id).await;
    assert!(
        contains(&at_rest, b"plaintext-merchant-4242"),
        "the bytes read do not hold the payment system row"
    );
    assert!(
        !contains(&at_rest, PASSPHRASE.as_bytes()),
        "the SHA-IN passphrase is stored in clear"
    );
    assert!(!contains(
        &at_rest,
        hex::encode(PASSPHRASE.as_bytes()).as_bytes()
    ));
    assert!(!contains(&at_rest, PASSWORD.as_bytes()));

    let got = db.get_payment_system(s.channel_id).await.unwrap();
    assert_eq!(got, put);
    assert_eq!(got.sales_channel_id, s.channel_id);
    assert_eq!(got.provider, ProviderKind::Ogone);
    assert_eq!(got.label, input.label);
    assert_eq!(got.base_url, input.base_url);
    assert_eq!(got.merchant_id, input.merchant_id);
    assert_eq!(got.settings, input.settings);
    assert_eq!(got.credential_names, vec!["password", "sha_in"]);
    assert!(got.card_saving_enabled);
    assert!(got.cvv_on_saved_cards);
    assert_eq!(got.three_ds_policy, ThreeDsPolicy::CloseToEvent);
    assert_eq!(got.three_ds_days, 7);
    assert_eq!(got.max_saved_cards, 3);
    let shown = format!("{got:?}");
    assert!(!shown.contains(PASSPHRASE) && !shown.contains(PASSWORD));

    let secrets = db.payment_system_credentials(s.channel_id).await.unwrap();
    assert_eq!(
        exposed(&secrets),
        BTreeMap::from([
            ("password".to_owned(), PASSWORD.to_owned()),
            ("sha_in".to_owned(), PASSPHRASE.to_owned()),
        ])
    );

    // Under another master key the secrets do not open.
    let other = db.reopen_with_other_key().await;
    assert_eq!(
        other.get_payment_system(s.channel_id).await.unwrap(),
        got,
        "non-secret fields need no key"
    );
    assert_err!(
        other.payment_system_credentials(s.channel_id).await,
        StoreError::Crypto(_)
    );

    // A name not given keeps its value; a value given replaces it.
    let mut second = ogone_input(&[("sha_in", "new")]);
    second.label = "Ogone (production)".into();
    second.three_ds_policy = ThreeDsPolicy::Always;
    second.three_ds_days = 0;
    second.cvv_on_saved_cards = false;
    second.max_saved_cards = 0;
    let put2 = db.put_payment_system(s.channel_id, &second).await.unwrap();
    assert_eq!(put2.max_saved_cards, 0);
    assert_eq!(put2.label, "Ogone (production)");
    assert_eq!(put2.three_ds_policy, ThreeDsPolicy::Always);
    assert_eq!(put2.three_ds_days, 0);
    assert!(!put2.cvv_on_saved_cards);
    assert_eq!(put2.credential_names, vec!["password", "sha_in"]);
    assert_eq!(
        exposed(&db.payment_system_credentials(s.channel_id).await.unwrap()),
        BTreeMap::from([
            ("password".to_owned(), PASSWORD.to_owned()),
            ("sha_in".to_owned(), "new".to_owned()),
        ])
    );

    // An empty value removes the name.
    let third = ogone_input(&[("password", ""), ("sha_out", "out-secret")]);
    let put3 = db.put_payment_system(s.channel_id, &third).await.unwrap();
    assert_eq!(put3.credential_names, vec!["sha_in", "sha_out"]);
    assert_eq!(
        db.get_payment_system(s.channel_id)
            .await
            .unwrap()
            .credential_names,
        vec!["sha_in", "sha_out"]
    );
    assert_eq!(
        exposed(&db.payment_system_credentials(s.channel_id).await.unwrap()),
        BTreeMap::from([
            ("sha_in".to_owned(), "new".to_owned()),
            ("sha_out".to_owned(), "out-secret".to_owned()),
        ])
    );
    // The new secret is sealed too.
    assert!(!contains(
        &db.raw_sealed_credentials(s.channel_id).await,
        b"out-secret"
    ));
}

async fn contacts(db: &TestDb) {
    let a = shop(db, "A").await.institution_id;
    let b = shop(db, "B").await.institution_id;
    let unknown = Uuid::now_v7();

    let input = new_contact(a, Some("C-1"), "Ada", "Lovelace");
    let ada = db.create_contact(&input).await.unwrap();
    assert_eq!(ada.institution_id, a);
    assert_eq!(ada.external_ref.as_deref(), Some("C-1"));
    assert_eq!(ada.first_name, "Ada");
    assert_eq!(ada.last_name, "Lovelace");
    assert_eq!(ada.email, "ada@example.org");
    assert_eq!(ada.language, "fr");
    assert_eq!(ada.currency, Currency::EUR);
    assert!(!ada.deferred_allowed);
    assert_eq!(ada.deferred_max, eur(0));
    assert_eq!(db.get_contact(ada.id).await.unwrap(), ada);

    // external_ref is unique per institution; absent refs do not collide.
    assert_err!(
        db.create_contact(&new_contact(a, Some("C-1"), "Other", "Person"))
            .await,
        StoreError::Conflict(_)
    );
    let in_b = db
        .create_contact(&new_contact(b, Some("C-1"), "Alan", "Turing"))
        .await
        .unwrap();
    let charles = db
        .create_contact(&new_contact(a, None, "Charles", "Babbage"))
        .await
        .unwrap();
    let grace = db
        .create_contact(&new_contact(a, None, "Grace", "Hopper"))
        .await
        .unwrap();
    assert_eq!(grace.external_ref, None);
    assert_err!(
        db.create_contact(&new_contact(unknown, None, "No", "Body"))
            .await,
        StoreError::NotFound(_)
    );
    let mut wrong_currency = new_contact(a, None, "Wrong", "Currency");
    wrong_currency.deferred_max = Money::new(100, Currency::USD);
    assert_err!(
        db.create_contact(&wrong_currency).await,
        StoreError::Invalid(_)
    );
    assert_err!(db.get_contact(unknown).await, StoreError::NotFound(_));

    // Patch: given fields change, others stay; the deferred maximum reaches the ledger.
    let deferred = db
        .ledger_account(a, AccountKind::ContactDeferred, ada.id, Currency::EUR)
        .await
        .unwrap();
    assert_eq!(deferred.max_balance_minor, Some(0));
    let patch = ContactPatch {
        first_name: Some("Augusta Ada".into()),
        deferred_allowed: Some(true),
        deferred_max: Some(eur(20_000)),
        ..ContactPatch::default()
    };
    let patched = db.update_contact(ada.id, &patch).await.unwrap();
    assert_eq!(patched.first_name, "Augusta Ada");
    assert_eq!(patched.last_name, "Lovelace");
    assert_eq!(patched.email, "ada@example.org");
    assert_eq!(patched.external_ref.as_deref(), Some("C-1"));
    assert!(patched.deferred_allowed);
    assert_eq!(patched.deferred_max, eur(20_000));
    assert_eq!(patched.created_at, ada.created_at);
    assert!(patched.updated_at >= ada.updated_at);
    assert_eq!(db.get_contact(ada.id).await.unwrap(), patched);
    let account = db.get_ledger_account(deferred.id).await.unwrap();
    assert_eq!(account.max_balance_minor, Some(20_000));
    assert_eq!(account.min_balance_minor, Some(0));
    let tab = db.accounting_tab(ada.id).await.unwrap();
    assert!(tab.deferred_allowed);
    assert_eq!(tab.deferred_max, eur(20_000));
    assert_eq!(tab.deferred_balance, eur(0));
    assert_eq!(tab.credit_balance, eur(0));

    let patch = ContactPatch {
        email: Some("ada@lovelace.example".into()),
        language: Some("en".into()),
        last_name: Some("King".into()),
        ..ContactPatch::default()
    };
    let patched = db.update_contact(ada.id, &patch).await.unwrap();
    assert_eq!(patched.email, "ada@lovelace.example");
    assert_eq!(patched.language, "en");
    assert_eq!(patched.last_name, "King");
    assert_eq!(patched.first_name, "Augusta Ada");
    assert_eq!(patched.deferred_max, eur(20_000));
    assert_eq!(
        db.get_ledger_account(deferred.id)
            .await
            .unwrap()
            .max_balance_minor,
        Some(20_000)
    );
    let bad = ContactPatch {
        deferred_max: Some(Money::new(100, Currency::CHF)),
        ..ContactPatch::default()
    };
    assert_err!(
        db.update_contact(ada.id, &bad).await,
        StoreError::Invalid(_)
    );
    let bad = ContactPatch {
        deferred_max: Some(eur(-1)),
        ..ContactPatch::default()
    };
    assert_err!(
        db.update_contact(ada.id, &bad).await,
        StoreError::Invalid(_)
    );
    assert_eq!(db.get_contact(ada.id).await.unwrap(), patched);
    assert_err!(
        db.update_contact(unknown, &ContactPatch::default()).await,
        StoreError::NotFound(_)
    );

    // Lists: by last name, then first name; filtered; limited.
    let ids =
        |cs: Vec<guichet_store::Contact>| -> Vec<Uuid> { cs.into_iter().map(|c| c.id).collect() };
    assert_eq!(
        ids(db.list_contacts(Some(a), 10).await.unwrap()),
        vec![charles.id, grace.id, ada.id]
    );
    assert_eq!(
        ids(db.list_contacts(Some(b), 10).await.unwrap()),
        vec![in_b.id]
    );
    assert_eq!(db.list_contacts(None, 10).await.unwrap().len(), 4);
    assert_eq!(
        ids(db.list_contacts(Some(a), 2).await.unwrap()),
        vec![charles.id, grace.id]
    );
    assert!(
        db.list_contacts(Some(unknown), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn ledger(db: &TestDb) {
    let inst = shop(db, "A").await.institution_id;
    let other_inst = shop(db, "B").await.institution_id;
    let mut input = new_contact(inst, Some("L-1"), "Ledger", "Tester");
    input.deferred_allowed = true;
    input.deferred_max = eur(20_000);
    let contact = db.create_contact(&input).await.unwrap();

    // Get-or-create: the same account twice, with the bounds of its kind.
    let adj = db
        .ledger_account(inst, AccountKind::Adjustments, inst, Currency::EUR)
        .await
        .unwrap();
    let adj_again = db
        .ledger_account(inst, AccountKind::Adjustments, inst, Currency::EUR)
        .await
        .unwrap();
    assert_eq!(adj_again, adj);
    assert_eq!(adj.min_balance_minor, None);
    assert_eq!(adj.max_balance_minor, None);
    let credit = db
        .ledger_account(inst, AccountKind::ContactCredit, contact.id, Currency::EUR)
        .await
        .unwrap();
    assert_eq!(
        db.ledger_account(inst, AccountKind::ContactCredit, contact.id, Currency::EUR)
            .await
            .unwrap()
            .id,
        credit.id
    );
    assert_ne!(credit.id, adj.id);
    assert_eq!(credit.kind, AccountKind::ContactCredit);
    assert_eq!(credit.owner_id, contact.id);
    assert_eq!(credit.institution_id, inst);
    assert_eq!(credit.currency, Currency::EUR);
    assert_eq!(credit.balance, eur(0));
    assert_eq!(credit.min_balance_minor, Some(0));
    assert_eq!(credit.max_balance_minor, None);
    assert_eq!(db.get_ledger_account(credit.id).await.unwrap(), credit);
    assert_err!(
        db.get_ledger_account(Uuid::now_v7()).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.ledger_account(
            inst,
            AccountKind::ContactDeferred,
            contact.id,
            Currency::USD
        )
        .await,
        StoreError::Invalid(_)
    );
    assert_err!(
        db.ledger_account(
            other_inst,
            AccountKind::ContactCredit,
            contact.id,
            Currency::EUR
        )
        .await,
        StoreError::Invalid(_)
    );

    // Credit 15.00 EUR to the contact's credit balance from Adjustments.
    let order_id = Uuid::now_v7();
    let transaction = TransactionBuilder::new("credit_adjustment", "goodwill gesture")
        .debit(adj.id, AccountKind::Adjustments, eur(1500))
        .credit(credit.id, AccountKind::ContactCredit, eur(1500))
        .build()
        .unwrap();
    let posted = db
        .post_transaction(inst, Some(order_id), &transaction)
        .await
        .unwrap();
    assert_eq!(posted.institution_id, inst);
    assert_eq!(posted.kind, "credit_adjustment");
    assert_eq!(posted.memo, "goodwill gesture");
    assert_eq!(posted.order_id, Some(order_id));
    let tab = db.accounting_tab(contact.id).await.unwrap();
    assert_eq!(tab.credit_balance, eur(1500));
    assert_eq!(tab.deferred_balance, eur(0));
    assert_eq!(tab.deferred_max, eur(20_000));
    assert!(tab.deferred_allowed);
    assert_eq!(balance(db, &credit).await, 1500);
    assert_eq!(balance(db, &adj).await, 1500);

    let history = db.contact_history(contact.id).await.unwrap();
    assert_eq!(history.len(), 1, "{history:#?}");
    let line = &history[0];
    assert_eq!(line.transaction_id, posted.id);
    assert_eq!(line.kind, "credit_adjustment");
    assert_eq!(line.memo, "goodwill gesture");
    assert_eq!(line.order_id, Some(order_id));
    assert_eq!(line.created_at, posted.created_at);
    assert_eq!(line.account_kind, AccountKind::ContactCredit);
    assert_eq!(line.side, Side::Credit);
    assert_eq!(line.amount, eur(1500));
    assert_eq!(line.delta_minor, 1500);
    assert_err!(
        db.contact_history(Uuid::now_v7()).await,
        StoreError::NotFound(_)
    );

    // Overdrawing the credit balance: Bounds, and nothing written.
    let overdraw = post(db, inst, &credit, &adj, 2000).await;
    assert_err!(
        overdraw,
        StoreError::Bounds { account_id, ref kind } if account_id == credit.id && kind == "contact_credit"
    );
    assert_eq!(balance(db, &credit).await, 1500);
    assert_eq!(balance(db, &adj).await, 1500);
    assert_eq!(db.contact_history(contact.id).await.unwrap(), history);
    assert_audit_clean(db, 2, 1, 2).await;

    // Unknown account, or accounts of another institution: refused, nothing written.
    let ghost = LedgerAccount {
        id: Uuid::now_v7(),
        ..adj.clone()
    };
    assert_err!(
        post(db, inst, &ghost, &credit, 100).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        post(db, other_inst, &adj, &credit, 100).await,
        StoreError::Invalid(_)
    );
    let mislabelled = LedgerAccount {
        kind: AccountKind::Cash,
        ..adj.clone()
    };
    assert_err!(
        post(db, inst, &mislabelled, &credit, 100).await,
        StoreError::Invalid(_)
    );
    assert_eq!(balance(db, &credit).await, 1500);
    assert_eq!(balance(db, &adj).await, 1500);
    assert_audit_clean(db, 2, 1, 2).await;

    // The deferred account: maximum outstanding 200.00.
    let deferred = db
        .ledger_account(
            inst,
            AccountKind::ContactDeferred,
            contact.id,
            Currency::EUR,
        )
        .await
        .unwrap();
    assert_eq!(deferred.max_balance_minor, Some(20_000));
    assert_eq!(deferred.min_balance_minor, Some(0));
    let sales = db
        .ledger_account(inst, AccountKind::Sales, inst, Currency::EUR)
        .await
        .unwrap();
    post(db, inst, &deferred, &sales, 15_000).await.unwrap();
    assert_err!(
        post(db, inst, &deferred, &sales, 6_000).await,
        StoreError::Bounds { account_id, .. } if account_id == deferred.id
    );
    assert_eq!(balance(db, &deferred).await, 15_000);
    assert_eq!(balance(db, &sales).await, 15_000);
    // Up to the maximum exactly is fine.
    post(db, inst, &deferred, &sales, 5_000).await.unwrap();
    assert_err!(
        post(db, inst, &deferred, &sales, 1).await,
        StoreError::Bounds { .. }
    );
    let tab = db.accounting_tab(contact.id).await.unwrap();
    assert_eq!(tab.deferred_balance, eur(20_000));
    assert_eq!(tab.credit_balance, eur(1500));
    assert_eq!(db.contact_history(contact.id).await.unwrap().len(), 3);

    // Emptying the credit balance to exactly zero is fine.
    post(db, inst, &credit, &adj, 1500).await.unwrap();
    assert_eq!(balance(db, &credit).await, 0);
    assert_err!(
        post(db, inst, &credit, &adj, 1).await,
        StoreError::Bounds { .. }
    );

    // adjustments, contact credit, contact deferred, sales; 4 transactions of 2 entries.
    assert_audit_clean(db, 4, 4, 8).await;
}

async fn audit_detects_tampering(db: &TestDb) {
    let inst = shop(db, "A").await.institution_id;
    let contact = db
        .create_contact(&new_contact(inst, None, "Tamper", "Target"))
        .await
        .unwrap();
    let adj = db
        .ledger_account(inst, AccountKind::Adjustments, inst, Currency::EUR)
        .await
        .unwrap();
    let credit = db
        .ledger_account(inst, AccountKind::ContactCredit, contact.id, Currency::EUR)
        .await
        .unwrap();
    let first = post(db, inst, &adj, &credit, 1500).await.unwrap();
    let second = post(db, inst, &adj, &credit, 500).await.unwrap();
    assert_audit_clean(db, 2, 2, 4).await;

    let entry_id = db
        .raw_uuid(
            "SELECT id FROM ledger_entries WHERE transaction_id = $1 AND account_id = $2",
            &[first.id, credit.id],
        )
        .await;
    let changed = db
        .raw_execute(
            "UPDATE ledger_entries SET amount_minor = 1600 WHERE id = $1",
            &[entry_id],
        )
        .await;
    assert_eq!(changed, 1);

    let report = db.audit().await.unwrap();
    assert_eq!(report.accounts_checked, 2);
    assert_eq!(report.transactions_checked, 2);
    assert_eq!(report.entries_checked, 4);
    let balance_diff = report.differences.iter().find(|d| {
        matches!(d, AuditDifference::Balance { account_id, recorded_minor: 2000, recomputed_minor: 2100, .. } if *account_id == credit.id)
    });
    assert!(
        balance_diff.is_some(),
        "no Balance difference for the credit account: {:#?}",
        report.differences
    );
    let unbalanced = report.differences.iter().find(|d| {
        matches!(d, AuditDifference::Unbalanced { transaction_id, currency, debits_minor: 1500, credits_minor: 1600 } if *transaction_id == first.id && currency == "EUR")
    });
    assert!(
        unbalanced.is_some(),
        "no Unbalanced difference for the tampered transaction: {:#?}",
        report.differences
    );
    assert_eq!(
        report.differences.len(),
        2,
        "only the tampered account and transaction differ: {:#?}",
        report.differences
    );
    assert!(!report.differences.iter().any(|d| matches!(
        d,
        AuditDifference::Unbalanced { transaction_id, .. } if *transaction_id == second.id
    )));
    // The report names the account in words too.
    let text = balance_diff.unwrap().to_string();
    assert!(text.contains(&credit.id.to_string()), "{text}");
}

/// Posts `n` concurrent transactions, all at once; returns (successes, bounds refusals).
async fn concurrent_postings(
    db: &TestDb,
    n: usize,
    institution_id: Uuid,
    debit: &LedgerAccount,
    credit: &LedgerAccount,
    minor: i64,
) -> (usize, usize) {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let store = Arc::clone(&db.store);
        let barrier = Arc::clone(&barrier);
        let (debit, credit) = (debit.clone(), credit.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            post(&store, institution_id, &debit, &credit, minor).await
        }));
    }
    let (mut ok, mut bounds) = (0, 0);
    for task in tasks {
        match task.await.expect("posting task panicked") {
            Ok(_) => ok += 1,
            Err(StoreError::Bounds { account_id, .. }) => {
                assert!(account_id == debit.id || account_id == credit.id);
                bounds += 1;
            }
            Err(other) => panic!("unexpected error under concurrency: {other:?}"),
        }
    }
    (ok, bounds)
}

async fn concurrent_credit_debits(db: &TestDb) {
    let inst = shop(db, "A").await.institution_id;
    let contact = db
        .create_contact(&new_contact(inst, None, "Concurrent", "Credit"))
        .await
        .unwrap();
    let adj = db
        .ledger_account(inst, AccountKind::Adjustments, inst, Currency::EUR)
        .await
        .unwrap();
    let credit = db
        .ledger_account(inst, AccountKind::ContactCredit, contact.id, Currency::EUR)
        .await
        .unwrap();
    post(db, inst, &adj, &credit, 1000).await.unwrap();

    let (ok, bounds) = concurrent_postings(db, 50, inst, &credit, &adj, 100).await;
    assert_eq!((ok, bounds), (10, 40), "successes, bounds refusals");
    assert_eq!(balance(db, &credit).await, 0);
    assert_eq!(balance(db, &adj).await, 0);
    assert_eq!(
        db.accounting_tab(contact.id).await.unwrap().credit_balance,
        eur(0)
    );
    assert_eq!(db.contact_history(contact.id).await.unwrap().len(), 11);
    assert_audit_clean(db, 2, 11, 22).await;
}

async fn concurrent_deferred_charges(db: &TestDb) {
    let inst = shop(db, "A").await.institution_id;
    let mut input = new_contact(inst, None, "Concurrent", "Deferred");
    input.deferred_allowed = true;
    input.deferred_max = eur(1000);
    let contact = db.create_contact(&input).await.unwrap();
    let deferred = db
        .ledger_account(
            inst,
            AccountKind::ContactDeferred,
            contact.id,
            Currency::EUR,
        )
        .await
        .unwrap();
    assert_eq!(deferred.max_balance_minor, Some(1000));
    let sales = db
        .ledger_account(inst, AccountKind::Sales, inst, Currency::EUR)
        .await
        .unwrap();

    let (ok, bounds) = concurrent_postings(db, 50, inst, &deferred, &sales, 100).await;
    assert_eq!((ok, bounds), (10, 40), "successes, bounds refusals");
    assert_eq!(balance(db, &deferred).await, 1000);
    assert_eq!(balance(db, &sales).await, 1000);
    assert_eq!(
        db.accounting_tab(contact.id)
            .await
            .unwrap()
            .deferred_balance,
        eur(1000)
    );
    assert_audit_clean(db, 2, 10, 20).await;
}

async fn users_and_sessions(db: &TestDb) {
    assert!(db.list_users().await.unwrap().is_empty());
    let alice = db
        .create_user("alice", "$argon2id$v=19$fake-alice", Role::Admin)
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.password_hash, "$argon2id$v=19$fake-alice");
    assert_eq!(alice.role, Role::Admin);
    assert!(!alice.disabled);
    assert_err!(
        db.create_user("alice", "$argon2id$other", Role::Operator)
            .await,
        StoreError::Conflict(_)
    );
    let bob = db
        .create_user("bob", "$argon2id$v=19$fake-bob", Role::Operator)
        .await
        .unwrap();
    assert_eq!(bob.role, Role::Operator);
    assert_eq!(db.find_user("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.find_user("nobody").await.unwrap(), None);
    assert_eq!(
        db.list_users().await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );

    let now = OffsetDateTime::now_utc();
    db.create_session("token-hash-a", alice.id, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        db.session_user("token-hash-a", now).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        db.session_user("token-hash-a", now + Duration::minutes(59))
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        db.session_user("token-hash-a", now + Duration::hours(2))
            .await
            .unwrap(),
        None,
        "an expired session has no user"
    );
    assert_eq!(db.session_user("unknown", now).await.unwrap(), None);
    db.create_session("token-hash-old", bob.id, now - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(db.session_user("token-hash-old", now).await.unwrap(), None);
    db.create_session("token-hash-b", bob.id, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        db.session_user("token-hash-b", now).await.unwrap(),
        Some(bob.clone())
    );
    assert!(
        db.create_session("token-hash-x", Uuid::now_v7(), now + Duration::hours(1))
            .await
            .is_err(),
        "a session needs an existing user"
    );

    db.delete_session("token-hash-a").await.unwrap();
    assert_eq!(db.session_user("token-hash-a", now).await.unwrap(), None);
    db.delete_session("token-hash-a").await.unwrap();
    assert_eq!(
        db.session_user("token-hash-b", now).await.unwrap(),
        Some(bob),
        "deleting one session leaves the others"
    );
}

async fn session_user_at(db: &TestDb, token_hash: &str, at: OffsetDateTime) -> Option<Uuid> {
    db.session_user(token_hash, at).await.unwrap().map(|u| u.id)
}

/// A whole second from now, one day ahead (no sub-second digits).
fn whole_second_tomorrow() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::days(1)
}

/// Expiry compares instants: an expiry on a whole second (no fractional digits) against a
/// time with fractional digits.
async fn session_expiry_subsecond(db: &TestDb) {
    let user = db
        .create_user("carol", "$argon2id$fake", Role::Operator)
        .await
        .unwrap();
    let expires = whole_second_tomorrow();
    db.create_session("whole-second", user.id, expires)
        .await
        .unwrap();
    assert_eq!(
        session_user_at(db, "whole-second", expires - Duration::milliseconds(500)).await,
        Some(user.id),
        "live half a second before expiry"
    );
    assert_eq!(
        session_user_at(db, "whole-second", expires).await,
        None,
        "expired at the expiry instant"
    );
    assert_eq!(
        session_user_at(db, "whole-second", expires + Duration::milliseconds(500)).await,
        None,
        "expired half a second after expiry"
    );
}

/// Expiry compares instants: an expiry given in UTC+02:00, asked in UTC.
async fn session_expiry_offset(db: &TestDb) {
    let user = db
        .create_user("dave", "$argon2id$fake", Role::Operator)
        .await
        .unwrap();
    let expires = whole_second_tomorrow();
    let paris = UtcOffset::from_hms(2, 0, 0).unwrap();
    db.create_session("offset", user.id, expires.to_offset(paris))
        .await
        .unwrap();
    assert_eq!(
        session_user_at(db, "offset", expires - Duration::hours(1)).await,
        Some(user.id),
        "live one hour before expiry"
    );
    assert_eq!(
        session_user_at(db, "offset", expires + Duration::hours(1)).await,
        None,
        "expired one hour after expiry"
    );
    // And the other way round: expiry in UTC, asked in UTC+02:00.
    db.create_session("utc", user.id, expires).await.unwrap();
    assert_eq!(
        session_user_at(db, "utc", (expires - Duration::hours(1)).to_offset(paris)).await,
        Some(user.id),
        "live one hour before expiry (asked in UTC+02:00)"
    );
    assert_eq!(
        session_user_at(db, "utc", (expires + Duration::hours(1)).to_offset(paris)).await,
        None,
        "expired one hour after expiry (asked in UTC+02:00)"
    );
}

/// Several buckets counted in one transaction, each as `rate_limit_hit` counts it; a new
/// window starts again at 1.
async fn rate_limits(db: &TestDb) {
    let store = &db.store;
    let now = time::macros::datetime!(2026-11-29 10:00:05 UTC);
    let buckets = vec!["b:two".to_owned(), "a:one".to_owned()];
    assert_eq!(store.rate_limit_hit("a:one", 60, now).await.unwrap(), 1);
    assert_eq!(
        store.rate_limit_hit_many(&buckets, 60, now).await.unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        store.rate_limit_hit_many(&buckets, 60, now).await.unwrap(),
        vec![2, 3]
    );
    assert_eq!(store.rate_limit_hits("b:two", 60, now).await.unwrap(), 2);
    let later = now + time::Duration::seconds(60);
    assert_eq!(
        store
            .rate_limit_hit_many(&buckets, 60, later)
            .await
            .unwrap(),
        vec![1, 1]
    );
    assert_eq!(store.rate_limit_hit("a:one", 60, later).await.unwrap(), 2);
}

async fn idempotency_keys(db: &TestDb) {
    use guichet_store::IdempotencyBegin as B;
    let store = &db.store;
    assert_eq!(
        store.idempotency_begin("shop:a", "k1", "h1").await.unwrap(),
        B::Started
    );
    assert_eq!(
        store.idempotency_begin("shop:a", "k1", "h1").await.unwrap(),
        B::InProgress
    );
    assert_eq!(
        store.idempotency_begin("shop:a", "k1", "h2").await.unwrap(),
        B::Mismatch
    );
    assert_eq!(
        store.idempotency_begin("shop:b", "k1", "h2").await.unwrap(),
        B::Started,
        "scopes are apart"
    );
    store
        .idempotency_finish("shop:a", "k1", 201, "{\"id\":1}")
        .await
        .unwrap();
    assert_eq!(
        store.idempotency_begin("shop:a", "k1", "h1").await.unwrap(),
        B::Replay {
            status: 201,
            body: "{\"id\":1}".to_owned()
        }
    );
    // Abandoned (a retryable failure): the next request runs.
    store.idempotency_abandon("shop:b", "k1").await.unwrap();
    assert_eq!(
        store.idempotency_begin("shop:b", "k1", "h3").await.unwrap(),
        B::Started
    );
    // A request that died while running: after the stale delay its key is taken over.
    assert_eq!(
        store.idempotency_begin("shop:b", "k1", "h3").await.unwrap(),
        B::InProgress
    );
    db.raw_execute(
        "UPDATE idempotency_keys SET created_at = '2000-01-01T00:00:00.000000Z' WHERE state = 'running'",
        &[],
    )
    .await;
    assert_eq!(
        store.idempotency_begin("shop:b", "k1", "h3").await.unwrap(),
        B::Started
    );
    assert_eq!(
        store.idempotency_begin("shop:b", "k1", "h3").await.unwrap(),
        B::InProgress
    );
    // The purge forgets finished keys older than its bound, never running ones.
    let now = time::OffsetDateTime::now_utc();
    let purged = store.purge_idempotency_keys(now - time::Duration::hours(48));
    assert_eq!(purged.await.unwrap(), 0);
    let purged = store.purge_idempotency_keys(now + time::Duration::hours(1));
    assert_eq!(purged.await.unwrap(), 1);
    let again = store.idempotency_begin("shop:a", "k1", "h9").await.unwrap();
    assert_eq!(again, B::Started, "forgotten");
    let running = store.idempotency_begin("shop:b", "k1", "h3").await.unwrap();
    assert_eq!(running, B::InProgress, "still running");
}

async fn shop_keys(db: &TestDb) {
    let a = shop(db, "A").await.institution_id;
    let b = shop(db, "B").await.institution_id;
    let unknown = Uuid::now_v7();

    let k1 = db
        .create_shop_key(a, "Boutique", "gk_ab12", "hash-one")
        .await
        .unwrap();
    assert_eq!(k1.institution_id, a);
    assert_eq!(k1.name, "Boutique");
    assert_eq!(k1.prefix, "gk_ab12");
    assert_eq!(k1.revoked_at, None);
    let k2 = db
        .create_shop_key(b, "Autre", "gk_cd34", "hash-two")
        .await
        .unwrap();
    assert_err!(
        db.create_shop_key(unknown, "x", "gk_x", "hash-x").await,
        StoreError::NotFound(_)
    );
    assert!(
        db.create_shop_key(a, "dup", "gk_ab12", "hash-one")
            .await
            .is_err(),
        "a key hash is unique"
    );

    assert_eq!(
        db.list_shop_keys(None).await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );
    assert_eq!(db.list_shop_keys(Some(a)).await.unwrap(), vec![k1.clone()]);
    assert_eq!(db.list_shop_keys(Some(b)).await.unwrap(), vec![k2.clone()]);
    assert_eq!(
        db.shop_key_by_hash("hash-one").await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(db.shop_key_by_hash("hash-nope").await.unwrap(), None);

    db.revoke_shop_key(k1.id).await.unwrap();
    assert_eq!(db.shop_key_by_hash("hash-one").await.unwrap(), None);
    assert_eq!(
        db.shop_key_by_hash("hash-two").await.unwrap(),
        Some(k2.clone())
    );
    let listed = db.list_shop_keys(Some(a)).await.unwrap();
    assert_eq!(listed.len(), 1);
    let revoked_at = listed[0].revoked_at.expect("revoked_at is set");
    assert!(revoked_at >= k1.created_at);
    // Revoking again keeps the first revocation time.
    db.revoke_shop_key(k1.id).await.unwrap();
    assert_eq!(
        db.list_shop_keys(Some(a)).await.unwrap()[0].revoked_at,
        Some(revoked_at)
    );
    assert_err!(db.revoke_shop_key(unknown).await, StoreError::NotFound(_));
}

// ---------------------------------------------------------------------------------------------
// Migrations in lockstep (no database)
// ---------------------------------------------------------------------------------------------

/// One `CREATE TABLE` as parsed from a migration.
#[derive(Debug, PartialEq, Eq)]
struct Table {
    /// Column name -> (type, rest of the definition), in order.
    columns: Vec<(String, String, String)>,
    /// Table-level constraints (`PRIMARY KEY (..)`, `UNIQUE (..)`), whitespace-normalized.
    constraints: Vec<String>,
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits on commas outside parentheses.
fn split_top_level(body: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in body.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| normalize_ws(&p))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Tables and other statements (indexes...) of a migration, comments removed.
fn parse_schema(sql: &str) -> (BTreeMap<String, Table>, Vec<String>) {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut tables = BTreeMap::new();
    let mut others = Vec::new();
    for statement in without_comments.split(';') {
        let statement = normalize_ws(statement);
        if statement.is_empty() {
            continue;
        }
        let upper = statement.to_uppercase();
        let Some(rest) = upper
            .starts_with("CREATE TABLE ")
            .then(|| &statement["CREATE TABLE ".len()..])
        else {
            others.push(statement);
            continue;
        };
        let open = rest.find('(').expect("CREATE TABLE name (");
        let close = rest.rfind(')').expect("CREATE TABLE ... )");
        let name = rest[..open].trim().to_lowercase();
        let mut table = Table {
            columns: Vec::new(),
            constraints: Vec::new(),
        };
        for item in split_top_level(&rest[open + 1..close]) {
            let mut words = item.splitn(3, ' ');
            let first = words.next().unwrap_or_default();
            if ["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"]
                .contains(&first.to_uppercase().as_str())
            {
                table.constraints.push(item.clone());
                continue;
            }
            let ty = words.next().unwrap_or_default().to_uppercase();
            let rest = words.next().unwrap_or_default().to_owned();
            table.columns.push((first.to_lowercase(), ty, rest));
        }
        assert!(
            tables.insert(name.clone(), table).is_none(),
            "table {name} created twice"
        );
    }
    (tables, others)
}

/// Removes the blocks between `-- lockstep: dialect begin` and `-- lockstep: dialect end`
/// lines: one change made the backend's own way (SQLite rebuilds a table to widen a CHECK
/// constraint, PostgreSQL alters it). Returns the rest and how many blocks there were.
fn without_dialect_blocks(sql: &str) -> (String, usize) {
    let (mut kept, mut blocks, mut inside) = (String::new(), 0, false);
    for line in sql.lines() {
        match line.trim() {
            "-- lockstep: dialect begin" => {
                assert!(!inside, "nested dialect block");
                inside = true;
                blocks += 1;
            }
            "-- lockstep: dialect end" => {
                assert!(inside, "dialect block end without a begin");
                inside = false;
            }
            _ if !inside => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => {}
        }
    }
    assert!(!inside, "unterminated dialect block");
    (kept, blocks)
}

#[test]
fn migrations_lockstep() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite_files = migration_files(&root.join("sqlite"));
    let pg_files = migration_files(&root.join("postgres"));
    assert!(!sqlite_files.is_empty());
    assert_eq!(
        sqlite_files, pg_files,
        "the two migration folders hold the same file names"
    );
    let versions: BTreeSet<i64> = sqlite_files.iter().map(|f| migration_version(f)).collect();
    assert_eq!(versions.len(), sqlite_files.len(), "one file per version");

    // SQLite storage class -> the PostgreSQL types it may stand for.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("BLOB", &["UUID", "BYTEA"][..]),
        ("TEXT", &["TEXT", "TIMESTAMPTZ", "DATE", "JSONB"][..]),
        ("INTEGER", &["BIGINT", "INTEGER", "BOOLEAN", "SMALLINT"][..]),
    ]);

    for file in &sqlite_files {
        let read = |backend: &str| {
            std::fs::read_to_string(root.join(backend).join(file))
                .unwrap_or_else(|e| panic!("read {backend}/{file}: {e}"))
        };
        let (sqlite_sql, sqlite_blocks) = without_dialect_blocks(&read("sqlite"));
        let (pg_sql, pg_blocks) = without_dialect_blocks(&read("postgres"));
        assert_eq!(
            sqlite_blocks, pg_blocks,
            "{file}: the same number of dialect blocks on both backends"
        );
        let (sqlite_tables, sqlite_other) = parse_schema(&sqlite_sql);
        let (pg_tables, pg_other) = parse_schema(&pg_sql);
        // Other statements (indexes, ALTER TABLE) may name column types: compare them with
        // PostgreSQL's types written as SQLite's.
        let pg_other: Vec<String> = pg_other
            .iter()
            .map(|stmt| {
                stmt.split(' ')
                    .map(|word| match word {
                        "BYTEA" | "UUID" => "BLOB",
                        "TIMESTAMPTZ" => "TEXT",
                        "BIGINT" | "BOOLEAN" => "INTEGER",
                        other => other,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(
            sqlite_tables.keys().collect::<Vec<_>>(),
            pg_tables.keys().collect::<Vec<_>>(),
            "{file}: the same CREATE TABLE names"
        );
        for (name, sqlite_table) in &sqlite_tables {
            let pg_table = &pg_tables[name];
            let column_names = |t: &Table| -> Vec<String> {
                t.columns.iter().map(|(n, _, _)| n.clone()).collect()
            };
            assert_eq!(
                column_names(sqlite_table),
                column_names(pg_table),
                "{file}: table {name} has the same columns on both backends"
            );
            assert_eq!(
                sqlite_table.constraints, pg_table.constraints,
                "{file}: table {name} has the same table constraints"
            );
            for ((column, sqlite_type, sqlite_rest), (_, pg_type, pg_rest)) in
                sqlite_table.columns.iter().zip(&pg_table.columns)
            {
                assert_eq!(
                    sqlite_rest, pg_rest,
                    "{file}: {name}.{column} has the same constraints"
                );
                let ok = allowed
                    .get(sqlite_type.as_str())
                    .is_some_and(|pg| pg.contains(&pg_type.as_str()));
                assert!(
                    ok,
                    "{file}: {name}.{column} is {sqlite_type} on SQLite but {pg_type} on PostgreSQL"
                );
            }
        }
        assert_eq!(
            sqlite_other, pg_other,
            "{file}: the same indexes and other statements"
        );
    }
}

#[test]
fn lockstep_parser_sees_columns() {
    let (tables, others) = parse_schema(
        "-- comment; with semicolon\nCREATE TABLE t (\n  a BLOB PRIMARY KEY, -- x, y\n  b INTEGER CHECK (b IN (1, 2)),\n  UNIQUE (a, b)\n);\nCREATE INDEX t_b ON t(b);",
    );
    let t = &tables["t"];
    assert_eq!(
        t.columns,
        vec![
            ("a".into(), "BLOB".into(), "PRIMARY KEY".into()),
            ("b".into(), "INTEGER".into(), "CHECK (b IN (1, 2))".into()),
        ]
    );
    assert_eq!(t.constraints, vec!["UNIQUE (a, b)".to_owned()]);
    assert_eq!(others, vec!["CREATE INDEX t_b ON t(b)".to_owned()]);
}

// ---------------------------------------------------------------------------------------------
// Saved cards, account links, installment plans and installments (migration 0004)
// ---------------------------------------------------------------------------------------------

use guichet_domain::installments::{InstallmentPlan, Interval, PlanMode, Split};
use guichet_domain::order::{Delivery, LineKind, OrderLine};
use guichet_store::{
    CardDetails, HoldStatus, InstallmentPlanRow, InstallmentRow, InstallmentStatus, LegKind,
    NewCardPayment, NewInstallment, NewInstallmentPlan, NewOrder, NewRefund, NewSavedCard, Order,
    OrderOp, PaymentInitiator, RefundDestination, RefundStatus,
};
use time::macros::date;

/// A fresh order of `total_minor` EUR at the shop's point of sale.
async fn new_order(
    store: &DynStore,
    s: &Shop,
    contact_id: Option<Uuid>,
    total_minor: i64,
) -> Order {
    store
        .create_order(&NewOrder {
            institution_id: s.institution_id,
            point_of_sale_id: s.pos_id,
            shop_key_id: None,
            contact_id,
            currency: Currency::EUR,
            language: "fr".into(),
            total: eur(total_minor),
            lines: vec![OrderLine {
                kind: LineKind::Fee,
                label: "Frais".into(),
                quantity: 1,
                unit_amount: eur(total_minor),
                event: None,
                voucher_product_id: None,
            }],
            delivery: Delivery {
                mode: "electronic".into(),
                delay: "immediate".into(),
                fee: eur(0),
            },
            first_event_at: None,
            return_url: None,
            cancel_url: None,
            checkout_token_hash: Uuid::now_v7().simple().to_string(),
            hold_expires_at: OffsetDateTime::now_utc() + Duration::minutes(20),
        })
        .await
        .unwrap()
}

/// Applies `ops` to the order at its current version.
async fn apply(store: &DynStore, order_id: Uuid, ops: Vec<OrderOp>) -> Result<Order, StoreError> {
    let version = store.get_order(order_id).await.unwrap().version;
    store.apply_order_ops(order_id, version, &ops).await
}

fn card(contact_id: Uuid, channel_id: Uuid, alias: &str, last4: &str) -> NewSavedCard {
    NewSavedCard {
        id: Uuid::now_v7(),
        contact_id,
        sales_channel_id: channel_id,
        provider: ProviderKind::Ogone,
        alias: alias.into(),
        masked_pan: format!("XXXXXXXXXXXX{last4}"),
        brand: "VISA".into(),
        expiry: "1230".into(),
        holder: "Ada Lovelace".into(),
    }
}

fn save(card: &NewSavedCard, max: u32) -> OrderOp {
    OrderOp::SavedCardInsert {
        card: card.clone(),
        max,
    }
}

fn three_part_plan() -> InstallmentPlan {
    InstallmentPlan {
        count: 3,
        split: Split::Percentages(vec![50, 25, 25]),
        interval: Interval::Days(30),
        min_amount: eur(10_000),
        mode: PlanMode::Restrictive,
    }
}

async fn plan_at(db: &DynStore, pos_id: Uuid) -> InstallmentPlanRow {
    db.create_installment_plan(&NewInstallmentPlan {
        point_of_sale_id: pos_id,
        name: "3x".into(),
        plan: three_part_plan(),
        active: true,
    })
    .await
    .unwrap()
}

fn installment(
    plan_id: Uuid,
    number: u8,
    due_on: time::Date,
    minor: i64,
    next: OffsetDateTime,
) -> NewInstallment {
    NewInstallment {
        id: Uuid::now_v7(),
        plan_id,
        number,
        due_on,
        amount: eur(minor),
        status: InstallmentStatus::Open,
        next_attempt_at: next,
        saved_card_id: None,
        card_payment_id: None,
        paid_at: None,
    }
}

fn set(id: Uuid, from: &[InstallmentStatus], to: InstallmentStatus) -> OrderOp {
    OrderOp::InstallmentSet {
        id,
        from: from.to_vec(),
        to,
        attempts_increment: false,
        next_attempt_at: None,
        card_payment_id: None,
        failure_reason: None,
        paid_at: None,
    }
}

/// Microseconds, UTC: what a timestamp reads back as on both backends.
fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

async fn migration_0004_keeps_legs_and_refunds(db: &TestDb) {
    // A database at 0003 with a committed card leg, its payment and a refund of it.
    let (store, dir) = db.fresh_at_version(3).await;
    assert_eq!(store.applied_migrations().await.unwrap(), vec![1, 2, 3]);
    let s = shop(&store, "Old").await;
    let order = new_order(&store, &s, None, 5000).await;
    let leg_id = Uuid::now_v7();
    let refund_id = Uuid::now_v7();
    apply(
        &store,
        order.id,
        vec![
            OrderOp::LegInsert {
                leg_id,
                kind: LegKind::Card,
                source_id: s.channel_id,
                amount: eur(5000),
                status: HoldStatus::Committed,
            },
            OrderOp::RefundInsert(NewRefund {
                id: refund_id,
                leg_id,
                destination: RefundDestination::CreditBalance,
                amount: eur(1000),
                status: RefundStatus::PendingProvider,
                card_payment_id: None,
                requested_by: "admin".into(),
                next_check_at: OffsetDateTime::now_utc(),
            }),
        ],
    )
    .await
    .unwrap();
    let legs_before = store.get_order(order.id).await.unwrap().legs;
    let refunds_before = store.refunds_of_order(order.id).await.unwrap();
    assert_eq!(legs_before.len(), 1);
    assert_eq!(legs_before[0].refunded, eur(1000));
    assert_eq!(refunds_before.len(), 1);

    assert_eq!(store.migrate().await.unwrap(), 1, "0004 and nothing else");
    assert_eq!(store.applied_migrations().await.unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(store.get_order(order.id).await.unwrap().legs, legs_before);
    assert_eq!(
        store.refunds_of_order(order.id).await.unwrap(),
        refunds_before
    );

    // The rebuilt legs still guard refunds, and take the new kind.
    apply(
        &store,
        order.id,
        vec![OrderOp::RefundInsert(NewRefund {
            id: Uuid::now_v7(),
            leg_id,
            destination: RefundDestination::CreditBalance,
            amount: eur(4001),
            status: RefundStatus::PendingProvider,
            card_payment_id: None,
            requested_by: "admin".into(),
            next_check_at: OffsetDateTime::now_utc(),
        })],
    )
    .await
    .map(|_| ())
    .expect_err("more than the leg collected");
    let installments_leg = Uuid::now_v7();
    let after = apply(
        &store,
        order.id,
        vec![OrderOp::LegInsert {
            leg_id: installments_leg,
            kind: LegKind::Installments,
            source_id: order.id,
            amount: eur(2000),
            status: HoldStatus::Held,
        }],
    )
    .await
    .unwrap();
    assert_eq!(after.legs.len(), 2);
    assert_eq!(after.legs[1].kind, LegKind::Installments);
    let other_order = new_order(&store, &s, None, 100).await;

    if let Some(dir) = &dir {
        let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(&dir.db_path()))
            .await
            .unwrap();
        let violations = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(violations.is_empty(), "foreign keys hold after the rebuild");
        let parents: Vec<String> =
            sqlx::query("SELECT \"table\" FROM pragma_foreign_key_list('refunds')")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
        assert!(parents.contains(&"order_legs".to_owned()), "{parents:?}");
        let temp: i64 = sqlx::query("SELECT COUNT(*) FROM sqlite_temp_master")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(temp, 0);
        let bad = sqlx::query(
            "INSERT INTO order_legs (id, order_id, kind, source_id, amount_minor, status, created_at, updated_at) VALUES ($1, $2, 'bogus', $2, 1, 'held', 'x', 'x')",
        )
        .bind(Uuid::now_v7())
        .bind(other_order.id)
        .execute(&mut conn)
        .await;
        assert!(bad.is_err(), "the kind CHECK is kept");
        let orphan = sqlx::query(
            "INSERT INTO refunds (id, order_id, leg_id, destination, amount_minor, currency, status, requested_by, next_check_at, created_at, updated_at) VALUES ($1, $2, $3, 'card', 1, 'EUR', 'failed', 'x', 'x', 'x', 'x')",
        )
        .bind(Uuid::now_v7())
        .bind(other_order.id)
        .bind(Uuid::now_v7())
        .execute(&mut conn)
        .await;
        assert!(
            orphan.is_err(),
            "refunds.leg_id still references order_legs"
        );
    }
}

async fn saved_cards(db: &TestDb) {
    let s = shop(db, "A").await;
    let other_shop = shop(db, "B").await;
    let ada = db
        .create_contact(&new_contact(s.institution_id, None, "Ada", "Lovelace"))
        .await
        .unwrap();
    let bob = db
        .create_contact(&new_contact(s.institution_id, None, "Bob", "Morane"))
        .await
        .unwrap();
    let order = new_order(db, &s, Some(ada.id), 1000).await;
    let unknown = Uuid::now_v7();
    assert!(db.saved_cards_of_contact(ada.id).await.unwrap().is_empty());

    let first = card(ada.id, s.channel_id, "ALIAS-1", "4242");
    apply(db, order.id, vec![save(&first, 2)]).await.unwrap();
    let got = db.get_saved_card(first.id).await.unwrap();
    assert_eq!(got.id, first.id);
    assert_eq!(got.contact_id, ada.id);
    assert_eq!(got.sales_channel_id, s.channel_id);
    assert_eq!(got.provider, ProviderKind::Ogone);
    assert_eq!(got.alias, "ALIAS-1");
    assert_eq!(got.masked_pan, "XXXXXXXXXXXX4242");
    assert_eq!(got.brand, "VISA");
    assert_eq!(got.expiry, "1230");
    assert_eq!(got.holder, "Ada Lovelace");
    assert_eq!(got.created_at, got.updated_at);
    assert_eq!(
        db.saved_cards_of_contact(ada.id).await.unwrap(),
        vec![got.clone()]
    );
    assert_eq!(
        db.saved_card_by_alias(s.channel_id, "ALIAS-1")
            .await
            .unwrap(),
        Some(got.clone())
    );
    assert_eq!(
        db.saved_card_by_alias(other_shop.channel_id, "ALIAS-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.saved_card_by_alias(s.channel_id, "nope").await.unwrap(),
        None
    );

    // The same alias again updates the card (idempotent) and keeps its id; the limit does not
    // count it.
    let mut again = card(ada.id, s.channel_id, "ALIAS-1", "4242");
    again.expiry = "0131".into();
    again.brand = "MasterCard".into();
    again.masked_pan = "5555XXXXXXXX4444".into();
    again.holder = "A. Lovelace".into();
    apply(db, order.id, vec![save(&again, 1)]).await.unwrap();
    let cards = db.saved_cards_of_contact(ada.id).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].id, first.id);
    assert_eq!(cards[0].expiry, "0131");
    assert_eq!(cards[0].brand, "MasterCard");
    assert_eq!(cards[0].masked_pan, "5555XXXXXXXX4444");
    assert_eq!(cards[0].holder, "A. Lovelace");
    assert_eq!(cards[0].created_at, got.created_at);
    assert!(cards[0].updated_at >= got.updated_at);
    assert_err!(db.get_saved_card(again.id).await, StoreError::NotFound(_));

    // The limit counts live cards; a refused save writes nothing of its list.
    let second = card(ada.id, s.channel_id, "ALIAS-2", "1111");
    apply(db, order.id, vec![save(&second, 2)]).await.unwrap();
    let third = card(ada.id, other_shop.channel_id, "ALIAS-3", "0005");
    let version = db.get_order(order.id).await.unwrap().version;
    assert_err!(
        apply(db, order.id, vec![OrderOp::SetStatus { to: guichet_store::OrderStatus::Cancelled }, save(&third, 2)]).await,
        StoreError::Conflict(c) if c == "saved_cards_limit"
    );
    let after = db.get_order(order.id).await.unwrap();
    assert_eq!(after.version, version, "nothing written");
    assert_eq!(after.status, guichet_store::OrderStatus::AwaitingPayment);
    assert_err!(
        apply(db, order.id, vec![save(&third, 0)]).await,
        StoreError::Conflict(c) if c == "saved_cards_limit"
    );
    assert_eq!(db.saved_cards_of_contact(ada.id).await.unwrap().len(), 2);

    // Another contact's live alias on the same channel is refused; on another channel it is
    // another card.
    let bobs = card(bob.id, s.channel_id, "ALIAS-1", "9999");
    assert_err!(
        apply(db, order.id, vec![save(&bobs, 5)]).await,
        StoreError::Conflict(c) if c == "saved_card_alias_taken"
    );
    let bobs_elsewhere = card(bob.id, other_shop.channel_id, "ALIAS-1", "9999");
    apply(db, order.id, vec![save(&bobs_elsewhere, 5)])
        .await
        .unwrap();
    assert_eq!(db.saved_cards_of_contact(bob.id).await.unwrap().len(), 1);
    let ghost = card(unknown, s.channel_id, "ALIAS-X", "0000");
    assert_err!(
        apply(db, order.id, vec![save(&ghost, 5)]).await,
        StoreError::NotFound(_)
    );

    // Updates.
    let updated = db
        .update_saved_card(second.id, Some("0928"), None)
        .await
        .unwrap();
    assert_eq!(updated.expiry, "0928");
    assert_eq!(updated.holder, "Ada Lovelace");
    let updated = db
        .update_saved_card(second.id, None, Some("ADA L"))
        .await
        .unwrap();
    assert_eq!(updated.expiry, "0928");
    assert_eq!(updated.holder, "ADA L");
    assert_eq!(db.get_saved_card(second.id).await.unwrap(), updated);
    assert_err!(
        db.update_saved_card(unknown, Some("0101"), None).await,
        StoreError::NotFound(_)
    );

    // Deletion: gone from reads, frees a place, its alias may be saved again as a new card.
    db.delete_saved_card(first.id).await.unwrap();
    assert_err!(db.get_saved_card(first.id).await, StoreError::NotFound(_));
    assert_err!(
        db.delete_saved_card(first.id).await,
        StoreError::NotFound(_)
    );
    assert_err!(db.delete_saved_card(unknown).await, StoreError::NotFound(_));
    assert_err!(
        db.update_saved_card(first.id, Some("0101"), None).await,
        StoreError::NotFound(_)
    );
    assert_eq!(
        db.saved_card_by_alias(s.channel_id, "ALIAS-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.saved_cards_of_contact(ada.id)
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![second.id]
    );
    let resaved = card(ada.id, s.channel_id, "ALIAS-1", "4242");
    apply(db, order.id, vec![save(&resaved, 2)]).await.unwrap();
    assert_eq!(
        db.saved_card_by_alias(s.channel_id, "ALIAS-1")
            .await
            .unwrap()
            .map(|c| c.id),
        Some(resaved.id)
    );
    assert_eq!(
        db.saved_cards_of_contact(ada.id)
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![second.id, resaved.id],
        "oldest first"
    );
}

async fn account_links(db: &TestDb) {
    let s = shop(db, "A").await;
    let ada = db
        .create_contact(&new_contact(s.institution_id, None, "Ada", "Lovelace"))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let expires = now + Duration::minutes(30);
    db.create_account_link("hash-1", ada.id, expires)
        .await
        .unwrap();
    assert_eq!(
        db.account_link_contact("hash-1", now).await.unwrap(),
        Some(ada.id)
    );
    assert_eq!(
        db.account_link_contact("hash-1", expires - Duration::milliseconds(1))
            .await
            .unwrap(),
        Some(ada.id)
    );
    assert_eq!(
        db.account_link_contact("hash-1", expires).await.unwrap(),
        None
    );
    assert_eq!(
        db.account_link_contact("hash-1", expires + Duration::hours(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.account_link_contact("hash-unknown", now).await.unwrap(),
        None
    );
    assert_err!(
        db.create_account_link("hash-1", ada.id, expires).await,
        StoreError::Conflict(_)
    );
    assert_err!(
        db.create_account_link("hash-2", Uuid::now_v7(), expires)
            .await,
        StoreError::NotFound(_)
    );
    // An expired link is purged when another is created.
    db.create_account_link("hash-old", ada.id, now - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        db.account_link_contact("hash-old", now - Duration::minutes(2))
            .await
            .unwrap(),
        Some(ada.id)
    );
    db.create_account_link("hash-3", ada.id, expires)
        .await
        .unwrap();
    assert_eq!(
        db.account_link_contact("hash-old", now - Duration::minutes(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.account_link_contact("hash-3", now).await.unwrap(),
        Some(ada.id)
    );
}

async fn installment_plans(db: &TestDb) {
    let a = shop(db, "A").await;
    let b = shop(db, "B").await;
    let unknown = Uuid::now_v7();
    assert!(db.list_installment_plans(None).await.unwrap().is_empty());

    let three = plan_at(db, a.pos_id).await;
    assert_eq!(three.point_of_sale_id, a.pos_id);
    assert_eq!(three.name, "3x");
    assert_eq!(three.plan, three_part_plan());
    assert!(three.active);
    assert_eq!(three.created_at, three.updated_at);
    assert_eq!(db.get_installment_plan(three.id).await.unwrap(), three);

    let monthly = NewInstallmentPlan {
        point_of_sale_id: b.pos_id,
        name: "10 mois".into(),
        plan: InstallmentPlan {
            count: 10,
            split: Split::Equal,
            interval: Interval::Monthly,
            min_amount: Money::new(0, Currency::CHF),
            mode: PlanMode::Free,
        },
        active: false,
    };
    let ten = db.create_installment_plan(&monthly).await.unwrap();
    assert_eq!(ten.plan, monthly.plan);
    assert!(!ten.active);
    assert_eq!(db.get_installment_plan(ten.id).await.unwrap(), ten);
    assert_eq!(
        db.list_installment_plans(None).await.unwrap(),
        vec![three.clone(), ten.clone()]
    );
    assert_eq!(
        db.list_installment_plans(Some(a.pos_id)).await.unwrap(),
        vec![three.clone()]
    );
    assert_eq!(
        db.list_installment_plans(Some(unknown)).await.unwrap(),
        vec![]
    );

    // Refused: an invalid plan, an unknown point of sale.
    let mut invalid = monthly.clone();
    invalid.plan.count = 1;
    assert_err!(
        db.create_installment_plan(&invalid).await,
        StoreError::Invalid(_)
    );
    invalid.plan.count = 3;
    invalid.plan.split = Split::Percentages(vec![50, 50]);
    assert_err!(
        db.create_installment_plan(&invalid).await,
        StoreError::Invalid(_)
    );
    let mut nowhere = monthly.clone();
    nowhere.point_of_sale_id = unknown;
    assert_err!(
        db.create_installment_plan(&nowhere).await,
        StoreError::NotFound(_)
    );
    assert_eq!(db.list_installment_plans(None).await.unwrap().len(), 2);

    // Update every field.
    let changed = NewInstallmentPlan {
        point_of_sale_id: a.pos_id,
        name: "2x".into(),
        plan: InstallmentPlan {
            count: 2,
            split: Split::Percentages(vec![70, 30]),
            interval: Interval::Days(14),
            min_amount: eur(5_000),
            mode: PlanMode::Restrictive,
        },
        active: true,
    };
    let updated = db.update_installment_plan(ten.id, &changed).await.unwrap();
    assert_eq!(updated.id, ten.id);
    assert_eq!(updated.point_of_sale_id, a.pos_id);
    assert_eq!(updated.name, "2x");
    assert_eq!(updated.plan, changed.plan);
    assert!(updated.active);
    assert_eq!(updated.created_at, ten.created_at);
    assert!(updated.updated_at >= ten.updated_at);
    assert_eq!(db.get_installment_plan(ten.id).await.unwrap(), updated);
    assert_eq!(
        db.list_installment_plans(Some(b.pos_id)).await.unwrap(),
        vec![]
    );
    assert_err!(
        db.update_installment_plan(unknown, &changed).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.update_installment_plan(ten.id, &invalid).await,
        StoreError::Invalid(_)
    );
    assert_err!(
        db.update_installment_plan(ten.id, &nowhere).await,
        StoreError::NotFound(_)
    );

    // Deletion: an unused plan goes; a used one stays (deactivate it instead).
    db.delete_installment_plan(ten.id).await.unwrap();
    assert_err!(
        db.get_installment_plan(ten.id).await,
        StoreError::NotFound(_)
    );
    assert_err!(
        db.delete_installment_plan(ten.id).await,
        StoreError::NotFound(_)
    );
    let order = new_order(db, &a, None, 30_000).await;
    let now = OffsetDateTime::now_utc();
    apply(
        db,
        order.id,
        vec![OrderOp::InstallmentsInsert(vec![installment(
            three.id,
            2,
            date!(2026 - 01 - 31),
            7_500,
            now,
        )])],
    )
    .await
    .unwrap();
    assert_err!(
        db.delete_installment_plan(three.id).await,
        StoreError::Conflict(c) if c == "plan_in_use"
    );
    let off = db
        .update_installment_plan(
            three.id,
            &NewInstallmentPlan {
                point_of_sale_id: a.pos_id,
                name: "3x".into(),
                plan: three_part_plan(),
                active: false,
            },
        )
        .await
        .unwrap();
    assert!(!off.active);
    assert_eq!(db.list_installment_plans(None).await.unwrap(), vec![off]);
}

async fn installments(db: &TestDb) {
    let s = shop(db, "A").await;
    let other = shop(db, "B").await;
    let ada = db
        .create_contact(&new_contact(s.institution_id, None, "Ada", "Lovelace"))
        .await
        .unwrap();
    let plan = plan_at(db, s.pos_id).await;
    let order = new_order(db, &s, Some(ada.id), 30_000).await;
    let unknown = Uuid::now_v7();
    assert!(db.installments_of_order(order.id).await.unwrap().is_empty());

    // Checkout: the card is saved and the later installments scheduled in one list, the card
    // named by the id asked for.
    let first_card = card(ada.id, s.channel_id, "ALIAS-1", "4242");
    apply(db, order.id, vec![save(&first_card, 5)])
        .await
        .unwrap();
    let again = card(ada.id, s.channel_id, "ALIAS-1", "4242");
    let now = micros(OffsetDateTime::now_utc());
    let paid_at = now - Duration::minutes(5);
    let checkout_payment = Uuid::now_v7();
    let mut one = installment(plan.id, 1, date!(2026 - 01 - 31), 15_000, now);
    one.status = InstallmentStatus::Paid;
    one.card_payment_id = Some(checkout_payment);
    one.paid_at = Some(paid_at);
    let mut two = installment(
        plan.id,
        2,
        date!(2026 - 03 - 02),
        7_500,
        now + Duration::days(30),
    );
    two.saved_card_id = Some(again.id);
    let mut three = installment(
        plan.id,
        3,
        date!(2026 - 04 - 01),
        7_500,
        now + Duration::days(60),
    );
    three.saved_card_id = Some(again.id);
    let leg_id = Uuid::now_v7();
    let after = apply(
        db,
        order.id,
        vec![
            save(&again, 5),
            OrderOp::LegInsert {
                leg_id,
                kind: LegKind::Installments,
                source_id: ada.id,
                amount: eur(15_000),
                status: HoldStatus::Held,
            },
            // Listed out of order: read back by number.
            OrderOp::InstallmentsInsert(vec![three.clone(), one.clone(), two.clone()]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(after.legs.len(), 1);
    assert_eq!(after.legs[0].kind, LegKind::Installments);
    assert_eq!(after.legs[0].amount, eur(15_000));

    let rows = db.installments_of_order(order.id).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.number).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let r1 = &rows[0];
    assert_eq!(r1.id, one.id);
    assert_eq!(r1.order_id, order.id);
    assert_eq!(r1.plan_id, plan.id);
    assert_eq!(r1.due_on, date!(2026 - 01 - 31));
    assert_eq!(r1.amount, eur(15_000));
    assert_eq!(r1.status, InstallmentStatus::Paid);
    assert_eq!(r1.attempts, 0);
    assert_eq!(r1.next_attempt_at, now);
    assert_eq!(r1.claimed_until, None);
    assert_eq!(r1.saved_card_id, None);
    assert_eq!(r1.card_payment_id, Some(checkout_payment));
    assert_eq!(r1.failure_reason, None);
    assert_eq!(r1.paid_at, Some(paid_at));
    assert_eq!(r1.created_at, r1.updated_at);
    let r2 = &rows[1];
    assert_eq!(r2.status, InstallmentStatus::Open);
    assert_eq!(r2.due_on, date!(2026 - 03 - 02));
    assert_eq!(r2.next_attempt_at, now + Duration::days(30));
    assert_eq!(
        r2.saved_card_id,
        Some(first_card.id),
        "the card kept, not the id asked for"
    );
    assert_eq!(r2.paid_at, None);
    assert_eq!(rows[2].saved_card_id, Some(first_card.id));
    assert_eq!(db.get_installment(two.id).await.unwrap(), rows[1]);
    assert_err!(db.get_installment(unknown).await, StoreError::NotFound(_));

    // A number is taken once per order; a plan or card must exist.
    assert_err!(
        apply(db, order.id, vec![OrderOp::InstallmentsInsert(vec![installment(plan.id, 2, date!(2026 - 05 - 01), 1, now)])]).await,
        StoreError::Conflict(c) if c == "installment_exists"
    );
    assert!(
        apply(
            db,
            order.id,
            vec![OrderOp::InstallmentsInsert(vec![installment(
                unknown,
                4,
                date!(2026 - 05 - 01),
                1,
                now
            )])]
        )
        .await
        .is_err()
    );
    let mut ghost_card = installment(plan.id, 4, date!(2026 - 05 - 01), 1, now);
    ghost_card.saved_card_id = Some(unknown);
    assert!(
        apply(
            db,
            order.id,
            vec![OrderOp::InstallmentsInsert(vec![ghost_card])]
        )
        .await
        .is_err()
    );
    assert_eq!(db.installments_of_order(order.id).await.unwrap().len(), 3);

    // A failed attempt: one more attempt, the next one later, the reason kept.
    let retry_at = micros(now + Duration::days(31));
    let attempt_payment = Uuid::now_v7();
    apply(
        db,
        order.id,
        vec![OrderOp::InstallmentSet {
            id: two.id,
            from: vec![InstallmentStatus::Open],
            to: InstallmentStatus::Open,
            attempts_increment: true,
            next_attempt_at: Some(retry_at),
            card_payment_id: Some(attempt_payment),
            failure_reason: Some("declined".into()),
            paid_at: None,
        }],
    )
    .await
    .unwrap();
    let r2 = db.get_installment(two.id).await.unwrap();
    assert_eq!(r2.status, InstallmentStatus::Open);
    assert_eq!(r2.attempts, 1);
    assert_eq!(r2.next_attempt_at, retry_at);
    assert_eq!(r2.card_payment_id, Some(attempt_payment));
    assert_eq!(r2.failure_reason.as_deref(), Some("declined"));
    assert!(r2.updated_at >= r2.created_at);

    // Then paid: None leaves the reason and the next attempt as they were.
    let paid_payment = Uuid::now_v7();
    let paid_now = micros(OffsetDateTime::now_utc());
    apply(
        db,
        order.id,
        vec![OrderOp::InstallmentSet {
            id: two.id,
            from: vec![InstallmentStatus::Open, InstallmentStatus::Failed],
            to: InstallmentStatus::Paid,
            attempts_increment: true,
            next_attempt_at: None,
            card_payment_id: Some(paid_payment),
            failure_reason: None,
            paid_at: Some(paid_now),
        }],
    )
    .await
    .unwrap();
    let r2 = db.get_installment(two.id).await.unwrap();
    assert_eq!(r2.status, InstallmentStatus::Paid);
    assert_eq!(r2.attempts, 2);
    assert_eq!(r2.next_attempt_at, retry_at);
    assert_eq!(r2.card_payment_id, Some(paid_payment));
    assert_eq!(r2.failure_reason.as_deref(), Some("declined"));
    assert_eq!(r2.paid_at, Some(paid_now));

    // A duplicate changes nothing; an unknown or other order's installment is not found.
    let version = db.get_order(order.id).await.unwrap().version;
    assert_err!(
        apply(db, order.id, vec![set(two.id, &[InstallmentStatus::Open], InstallmentStatus::Paid)]).await,
        StoreError::Conflict(c) if c == "installment_moved"
    );
    assert_eq!(db.get_order(order.id).await.unwrap().version, version);
    assert_err!(
        apply(
            db,
            order.id,
            vec![set(
                unknown,
                &[InstallmentStatus::Open],
                InstallmentStatus::Paid
            )]
        )
        .await,
        StoreError::NotFound(_)
    );
    let other_order = new_order(db, &s, None, 100).await;
    assert_err!(
        apply(
            db,
            other_order.id,
            vec![set(
                three.id,
                &[InstallmentStatus::Open],
                InstallmentStatus::Paid
            )]
        )
        .await,
        StoreError::NotFound(_)
    );
    apply(
        db,
        order.id,
        vec![set(
            three.id,
            &[InstallmentStatus::Open],
            InstallmentStatus::Cancelled,
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        db.get_installment(three.id).await.unwrap().status,
        InstallmentStatus::Cancelled
    );

    // A merchant-initiated payment names its installment; a buyer's does not.
    let cp = |id: Uuid,
              installment_id: Option<Uuid>,
              initiator: PaymentInitiator,
              reference: &str| NewCardPayment {
        id,
        leg_id,
        sales_channel_id: s.channel_id,
        provider: ProviderKind::Ogone,
        reference: reference.into(),
        amount: eur(7_500),
        three_ds_required: false,
        three_ds_reason: "merchant_initiated".into(),
        card: CardDetails {
            alias: Some("ALIAS-1".into()),
            masked_pan: Some("XXXXXXXXXXXX4242".into()),
            brand: Some("VISA".into()),
            expiry: Some("1230".into()),
            holder: Some("Ada Lovelace".into()),
        },
        next_check_at: now,
        installment_id,
        initiator,
        save_card: installment_id.is_none(),
        installment_plan_id: installment_id.is_none().then_some(plan.id),
    };
    let mit = Uuid::now_v7();
    let cit = Uuid::now_v7();
    apply(
        db,
        order.id,
        vec![
            OrderOp::CardPaymentInsert(cp(
                mit,
                Some(two.id),
                PaymentInitiator::Merchant,
                "G-MIT-1",
            )),
            OrderOp::CardPaymentInsert(cp(cit, None, PaymentInitiator::Customer, "G-CIT-1")),
        ],
    )
    .await
    .unwrap();
    let read = db.get_card_payment(mit).await.unwrap();
    assert_eq!(read.installment_id, Some(two.id));
    assert_eq!(read.initiator, PaymentInitiator::Merchant);
    assert!(!read.save_card);
    assert_eq!(read.installment_plan_id, None);
    let read = db.card_payment_by_reference("G-CIT-1").await.unwrap();
    assert_eq!(read.installment_id, None);
    assert_eq!(read.initiator, PaymentInitiator::Customer);
    assert!(read.save_card);
    assert_eq!(read.installment_plan_id, Some(plan.id));
    assert_eq!(db.card_payments_of_order(order.id).await.unwrap().len(), 2);

    // The back office's list: newest due date first, by institution and status.
    let other_plan = plan_at(db, other.pos_id).await;
    let other_inst_order = new_order(db, &other, None, 10_000).await;
    apply(
        db,
        other_inst_order.id,
        vec![OrderOp::InstallmentsInsert(vec![installment(
            other_plan.id,
            2,
            date!(2027 - 01 - 01),
            5_000,
            now,
        )])],
    )
    .await
    .unwrap();
    let numbers = |rows: Vec<InstallmentRow>| {
        rows.iter()
            .map(|r| (r.order_id, r.number))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(
            db.list_installments(Some(s.institution_id), None, 100)
                .await
                .unwrap()
        ),
        vec![(order.id, 3), (order.id, 2), (order.id, 1)]
    );
    assert_eq!(
        numbers(db.list_installments(None, None, 100).await.unwrap()),
        vec![
            (other_inst_order.id, 2),
            (order.id, 3),
            (order.id, 2),
            (order.id, 1)
        ]
    );
    assert_eq!(
        numbers(db.list_installments(None, None, 2).await.unwrap()),
        vec![(other_inst_order.id, 2), (order.id, 3)]
    );
    assert_eq!(
        numbers(
            db.list_installments(Some(s.institution_id), Some(InstallmentStatus::Paid), 100)
                .await
                .unwrap()
        ),
        vec![(order.id, 2), (order.id, 1)]
    );
    assert_eq!(
        numbers(
            db.list_installments(None, Some(InstallmentStatus::Open), 100)
                .await
                .unwrap()
        ),
        vec![(other_inst_order.id, 2)]
    );
    assert!(
        db.list_installments(Some(unknown), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.list_installments(None, Some(InstallmentStatus::Failed), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn installment_claims(db: &TestDb) {
    let s = shop(db, "A").await;
    let plan = plan_at(db, s.pos_id).await;
    let order = new_order(db, &s, None, 30_000).await;
    let now = micros(OffsetDateTime::now_utc());
    let due_early = installment(
        plan.id,
        2,
        date!(2026 - 01 - 01),
        100,
        now - Duration::hours(2),
    );
    let due_late = installment(
        plan.id,
        3,
        date!(2026 - 02 - 01),
        100,
        now - Duration::hours(1),
    );
    let due_now = installment(plan.id, 4, date!(2026 - 03 - 01), 100, now);
    let future = installment(
        plan.id,
        5,
        date!(2026 - 04 - 01),
        100,
        now + Duration::seconds(1),
    );
    let mut paid = installment(
        plan.id,
        6,
        date!(2026 - 05 - 01),
        100,
        now - Duration::hours(3),
    );
    paid.status = InstallmentStatus::Paid;
    apply(
        db,
        order.id,
        vec![OrderOp::InstallmentsInsert(vec![
            due_late.clone(),
            future.clone(),
            paid.clone(),
            due_now.clone(),
            due_early.clone(),
        ])],
    )
    .await
    .unwrap();
    let lease = now + Duration::minutes(5);
    let ids = |rows: &[InstallmentRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();

    // Open and due only, earliest first, up to the limit, leased.
    let claimed = db.claim_due_installments(now, lease, 2).await.unwrap();
    assert_eq!(ids(&claimed), vec![due_early.id, due_late.id]);
    assert!(claimed.iter().all(|r| r.claimed_until == Some(lease)));
    assert_eq!(
        db.get_installment(due_early.id)
            .await
            .unwrap()
            .claimed_until,
        Some(lease)
    );
    let claimed = db.claim_due_installments(now, lease, 10).await.unwrap();
    assert_eq!(ids(&claimed), vec![due_now.id]);
    assert!(
        db.claim_due_installments(now, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.claim_due_installments(lease, lease + Duration::minutes(5), 0)
            .await
            .unwrap()
            .is_empty()
    );

    // A released claim and an ended lease are claimable again; a live lease is not.
    db.release_installment_claim(due_late.id).await.unwrap();
    assert_eq!(
        db.get_installment(due_late.id).await.unwrap().claimed_until,
        None
    );
    assert_err!(
        db.release_installment_claim(Uuid::now_v7()).await,
        StoreError::NotFound(_)
    );
    let claimed = db.claim_due_installments(now, lease, 10).await.unwrap();
    assert_eq!(ids(&claimed), vec![due_late.id]);
    let later = lease + Duration::seconds(1);
    let claimed = db
        .claim_due_installments(later, later + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        vec![due_early.id, due_late.id, due_now.id, future.id]
    );

    // Moving an installment ends its lease.
    apply(
        db,
        order.id,
        vec![set(
            due_now.id,
            &[InstallmentStatus::Open],
            InstallmentStatus::Open,
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        db.get_installment(due_now.id).await.unwrap().claimed_until,
        None
    );
    apply(
        db,
        order.id,
        vec![set(
            due_early.id,
            &[InstallmentStatus::Open],
            InstallmentStatus::Failed,
        )],
    )
    .await
    .unwrap();
    db.release_installment_claim(due_early.id).await.unwrap();
    let claimed = db
        .claim_due_installments(later, later + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        vec![due_now.id],
        "failed ones are not claimed"
    );
}

async fn concurrent_installment_claims(db: &TestDb) {
    const ORDERS: usize = 4;
    const PER_ORDER: u8 = 60;
    let s = shop(db, "A").await;
    let plan = plan_at(db, s.pos_id).await;
    let now = micros(OffsetDateTime::now_utc());
    let mut expected = BTreeSet::new();
    for o in 0..ORDERS {
        let order = new_order(db, &s, None, 100_000).await;
        let rows: Vec<NewInstallment> = (1..=PER_ORDER)
            .map(|n| {
                let offset = Duration::seconds(i64::from(n) + 100 * o as i64);
                installment(plan.id, n, date!(2026 - 01 - 01), 100, now - offset)
            })
            .collect();
        expected.extend(rows.iter().map(|r| r.id));
        apply(db, order.id, vec![OrderOp::InstallmentsInsert(rows)])
            .await
            .unwrap();
    }
    assert_eq!(expected.len(), ORDERS * usize::from(PER_ORDER));

    // Four runners, each with its own pool (as separate processes would be), claiming in
    // rounds that start together so that their statements overlap. Enough rounds for one
    // runner alone to claim everything.
    const LIMIT: u32 = 7;
    let rounds = expected.len() / LIMIT as usize + 2;
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.reopen_with_other_key().await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..rounds {
                barrier.wait().await;
                let claimed = store
                    .claim_due_installments(now, now + Duration::minutes(10), LIMIT)
                    .await
                    .unwrap();
                assert!(claimed.len() <= LIMIT as usize);
                mine.extend(claimed.into_iter().map(|r| r.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut runners_with_rows = 0;
    for task in tasks {
        let mine = task.await.unwrap();
        runners_with_rows += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let unique: BTreeSet<Uuid> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a row claimed twice");
    assert_eq!(unique, expected, "every due row claimed");
    assert!(runners_with_rows >= 1);
    assert!(
        db.claim_due_installments(now, now + Duration::minutes(10), LIMIT)
            .await
            .unwrap()
            .is_empty()
    );
}

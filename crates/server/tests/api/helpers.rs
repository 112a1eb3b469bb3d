use guichet_domain::config::Role;
use guichet_server::{AppState, ServerConfig};
use guichet_store::DynStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// Runs `$body` (an async fn taking `TestApp`) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut app = $crate::helpers::TestApp::sqlite().await;
                let after = app.audit_after();
                super::$name(app).await;
                after.check().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(mut app) = $crate::helpers::TestApp::postgres().await else {
                    return;
                };
                let after = app.audit_after();
                super::$name(app).await;
                after.check().await;
            }
        }
    };
}

pub struct TestApp {
    pub base: String,
    pub store: DynStore,
    pub client: reqwest::Client,
    /// An admin's bearer token.
    pub admin: String,
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

/// The structure every test starts from: one institution with an internet channel and point of sale.
pub struct Tenant {
    pub institution: String,
    pub organizer: String,
    pub channel: String,
    pub pos: String,
}

pub const ADMIN_PASSWORD: &str = "admin password 123";

impl TestApp {
    pub async fn sqlite() -> TestApp {
        let (store, guard) = guichet_store::testing::fresh_sqlite().await;
        Self::start(store, Some(Box::new(guard))).await
    }

    pub async fn postgres() -> Option<TestApp> {
        let Some(base) = guichet_store::testing::pg_url() else {
            assert!(
                std::env::var("GUICHET_REQUIRE_PG").as_deref() != Ok("1"),
                "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
            );
            eprintln!("PostgreSQL API test SKIPPED: GUICHET_TEST_PG_URL not set");
            return None;
        };
        let store = guichet_store::testing::fresh_pg(&base).await;
        Some(Self::start(store, None).await)
    }

    async fn start(store: DynStore, guard: Option<Box<dyn std::any::Any + Send>>) -> TestApp {
        guichet_server::telemetry::init();
        guichet_server::install_tls_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            store: store.clone(),
            config: Arc::new(test_config(base.clone())),
        };
        tokio::spawn(async move {
            // As in `guichet serve`: handlers see the client's address (rate limits).
            let app = guichet_server::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        let hash = guichet_server::auth::hash_password(ADMIN_PASSWORD).unwrap();
        store
            .create_user("admin", &hash, Role::Admin)
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let mut app = TestApp {
            base,
            store,
            client,
            admin: String::new(),
            _guard: guard,
        };
        app.admin = app.login("admin", ADMIN_PASSWORD).await;
        app
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/admin/login",
                None,
                Some(json!({"user": user, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// One request; returns the status and the JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.admin), Some(body))
            .await
    }

    /// POST that must succeed with 201; returns the body.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let (status, out) = self.admin_post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {out}");
        out
    }

    pub async fn tenant(&self) -> Tenant {
        let inst = self
            .created(
                "/api/v1/admin/institutions",
                json!({"name": "Théâtre de test", "default_currency": "EUR"}),
            )
            .await;
        let org = self
            .created(
                "/api/v1/admin/organizers",
                json!({"institution_id": inst["id"], "name": "Programmation"}),
            )
            .await;
        let channel = self
            .created(
                "/api/v1/admin/sales-channels",
                json!({"organizer_id": org["id"], "kind": "internet", "name": "Internet"}),
            )
            .await;
        let pos = self
            .created(
                "/api/v1/admin/points-of-sale",
                json!({"sales_channel_id": channel["id"], "name": "Billetterie en ligne"}),
            )
            .await;
        Tenant {
            institution: id(&inst),
            organizer: id(&org),
            channel: id(&channel),
            pos: id(&pos),
        }
    }

    /// Creates a user of `role` and returns its token.
    pub async fn user(&self, name: &str, role: &str) -> String {
        let password = format!("{name} password 123");
        self.created(
            "/api/v1/admin/users",
            json!({"username": name, "password": password, "role": role}),
        )
        .await;
        self.login(name, &password).await
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// The seed's payment mode (the "Mode de règlement > CB WEB" form).
pub fn cbweb(institution: &str) -> Value {
    json!({
        "institution_id": institution,
        "code": "CBWEB",
        "internal_name": "FR * CB WEB",
        "public_names": {"fr": "FR * CB WEB", "en": "EN * CB WEB"},
        "type": "card",
        "status": "visible",
        "predetermined": false
    })
}

/// A shop ready to sell: the tenant's internet point of sale accepts card, voucher, credit
/// balance and deferred account; a shop key; Karin (credit 15.00 EUR, deferred allowed up to
/// 200.00 EUR); the promo code NOUVEAUX-VENUS (5 %).
pub struct ShopFixture {
    pub t: Tenant,
    pub key: String,
    pub shop_key_id: String,
    pub karin: String,
}

impl TestApp {
    pub async fn shop(&self) -> ShopFixture {
        let t = self.tenant().await;
        for (code, kind) in [
            ("CBWEB", "card"),
            ("BON", "voucher"),
            ("AVOIR", "credit_balance"),
            ("COMPTE", "deferred_account"),
        ] {
            let mut body = cbweb(&t.institution);
            body["code"] = json!(code);
            body["type"] = json!(kind);
            let mode = self.created("/api/v1/admin/payment-modes", body).await;
            self.created(
                &format!("/api/v1/admin/points-of-sale/{}/payment-modes", t.pos),
                json!({"payment_mode_id": mode["id"]}),
            )
            .await;
        }
        let created = self
            .created(
                "/api/v1/admin/shop-keys",
                json!({"institution_id": t.institution, "name": "Boutique"}),
            )
            .await;
        let karin = self
            .created(
                "/api/v1/admin/contacts",
                json!({"institution_id": t.institution, "first_name": "Karin", "last_name": "DEU",
                       "email": "karin.deu@example.org", "deferred_allowed": true, "deferred_max_minor": 20000}),
            )
            .await;
        self.created(
            &format!("/api/v1/admin/contacts/{}/credit-adjustments", id(&karin)),
            json!({"amount_minor": 1500, "memo": "Avoir"}),
        )
        .await;
        self.promo(
            &t.institution,
            "NOUVEAUX-VENUS",
            guichet_domain::promo::PromoKind::DiscountCode,
            500,
        )
        .await;
        ShopFixture {
            key: created["key"].as_str().unwrap().to_owned(),
            shop_key_id: id(&created),
            karin: id(&karin),
            t,
        }
    }

    /// A promo code of `basis_points` on the whole order, straight into the store.
    pub async fn promo(
        &self,
        institution: &str,
        code: &str,
        kind: guichet_domain::promo::PromoKind,
        basis_points: u32,
    ) {
        self.store
            .create_promo_code(
                institution.parse().unwrap(),
                &guichet_store::NewPromoCode {
                    code: code.to_owned(),
                    label: code.to_owned(),
                    rule: guichet_domain::promo::PromoRule {
                        kind,
                        discount: guichet_domain::promo::Discount::Percent { basis_points },
                        valid_from: None,
                        valid_until: None,
                        channels: Vec::new(),
                        max_uses_total: None,
                        max_uses_per_contact: None,
                        min_order: None,
                    },
                    batch_id: None,
                },
            )
            .await
            .unwrap();
    }

    /// A voucher sold at the counter (funded from cash), reusable or single-use; returns its code.
    pub async fn voucher(
        &self,
        institution: &str,
        value_minor: i64,
        expires_in: time::Duration,
        reusable: bool,
    ) -> String {
        use guichet_domain::{AccountKind, Currency, Money};
        let inst: uuid::Uuid = institution.parse().unwrap();
        let value = Money::new(value_minor, Currency::EUR);
        let id = uuid::Uuid::now_v7();
        let liability = self
            .store
            .ledger_account(inst, AccountKind::VoucherLiability, id, Currency::EUR)
            .await
            .unwrap();
        let cash = self
            .store
            .ledger_account(inst, AccountKind::Cash, inst, Currency::EUR)
            .await
            .unwrap();
        let funding = guichet_domain::TransactionBuilder::new("voucher_sale", "test voucher")
            .debit(cash.id, cash.kind, value)
            .credit(liability.id, liability.kind, value)
            .build()
            .unwrap();
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).unwrap();
        let code = guichet_domain::voucher::VoucherCode::generate(random);
        self.store
            .issue_voucher(
                &guichet_store::NewVoucher {
                    id,
                    institution_id: inst,
                    code: code.as_str().to_owned(),
                    product_id: None,
                    face_value: value,
                    reusable,
                    expires_at: time::OffsetDateTime::now_utc() + expires_in,
                    issued_order_id: None,
                },
                &funding,
            )
            .await
            .unwrap();
        code.as_str().to_owned()
    }

    /// An order of one ticket line of `amount_minor` EUR (plus delivery fee 0); returns the
    /// creation response and the checkout token.
    pub async fn order(
        &self,
        shop: &ShopFixture,
        contact: Option<&str>,
        amount_minor: i64,
    ) -> (Value, String) {
        let body = json!({
            "point_of_sale": shop.t.pos,
            "contact": contact,
            "currency": "EUR",
            "language": "fr",
            "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 1, "unit_amount_minor": amount_minor,
                       "event": {"id": "EV-1", "name": "Le Misanthrope", "starts_at": "2026-12-24T20:00:00+01:00"}}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        });
        let (status, created) = self
            .call(Method::POST, "/api/v1/orders", Some(&shop.key), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let token = created["checkout_token"].as_str().unwrap().to_owned();
        (created, token)
    }

    /// A checkout call: `suffix` after `/api/v1/checkout/{token}`.
    pub async fn checkout(
        &self,
        token: &str,
        method: Method,
        suffix: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(
            method,
            &format!("/api/v1/checkout/{token}{suffix}"),
            None,
            body,
        )
        .await
    }

    pub async fn accounting(&self, contact: &str) -> Value {
        let (status, c) = self
            .admin_get(&format!("/api/v1/admin/contacts/{contact}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        c["accounting"].clone()
    }

    pub async fn voucher_balance(&self, code: &str) -> i64 {
        self.store
            .voucher_by_code(code)
            .await
            .unwrap()
            .unwrap()
            .balance
            .amount_minor()
    }

    /// Keeps the database (and, on SQLite, its directory) past the test, so that every API test
    /// ends with an audit of its ledger: [`AuditAfter::check`].
    pub fn audit_after(&mut self) -> AuditAfter {
        AuditAfter {
            store: self.store.clone(),
            _guard: self._guard.take(),
        }
    }

    pub async fn audit_clean(&self) {
        let report = self.store.audit().await.unwrap();
        assert!(
            report.differences.is_empty(),
            "audit: {:?}",
            report.differences
        );
    }
}

/// The database of a finished test, audited: `guichet audit` after every API test, so the
/// whole suite ends with every ledger it wrote recomputed and found equal.
pub struct AuditAfter {
    store: DynStore,
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

impl AuditAfter {
    pub async fn check(self) {
        let report = self.store.audit().await.expect("audit after the test");
        assert!(
            report.differences.is_empty(),
            "audit after the test: {:?}",
            report.differences
        );
    }
}

// ---- concurrency proofs and property tests ----

/// [`on_both!`] with a tweaked server configuration: `$tweak` is a `FnOnce(&mut ServerConfig)`.
#[macro_export]
macro_rules! on_both_with {
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut app = $crate::helpers::TestApp::sqlite_with($tweak).await;
                let after = app.audit_after();
                super::$name(app).await;
                after.check().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(mut app) = $crate::helpers::TestApp::postgres_with($tweak).await else {
                    return;
                };
                let after = app.audit_after();
                super::$name(app).await;
                after.check().await;
            }
        }
    };
}

/// [`on_both_with!`] for concurrency proofs: `$name` takes the app and a second instance to
/// send half of the requests to (on PostgreSQL another server on the same database, with its
/// own connection pool; on SQLite, embedded in one process, the same instance).
#[macro_export]
macro_rules! on_both_instances {
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut app = $crate::helpers::TestApp::sqlite_with($tweak).await;
                let peer = app.http();
                let after = app.audit_after();
                super::$name(app, peer).await;
                after.check().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((mut app, peer)) =
                    $crate::helpers::TestApp::postgres_pair_with($tweak).await
                else {
                    return;
                };
                let after = app.audit_after();
                super::$name(app, peer).await;
                after.check().await;
            }
        }
    };
}

/// The server's configuration in tests: as in production, except the card attempt and the
/// per-contact code limits, which tests from one address and one buyer would reach; the abuse
/// tests set their own.
pub fn test_config(base: String) -> ServerConfig {
    let mut config = ServerConfig::new(base);
    config.card_attempts_per_order = 1_000_000;
    config.card_attempts_per_contact = 1_000_000;
    config.card_attempts_per_ip = 1_000_000;
    // Codes tried per contact and per address: tests apply many from one buyer and one
    // address; the order's limit stays as in production.
    config.code_failures_per_contact = 1_000_000;
    config.code_failures_per_ip = 1_000_000;
    config
}

/// The configuration as it is (for [`on_both_instances!`]).
pub fn default_config(_: &mut ServerConfig) {}

/// Code attempts from one address are limited; tests that fire hundreds of refused codes from
/// 127.0.0.1 on purpose raise the limits.
pub fn lenient_code_limits(cfg: &mut ServerConfig) {
    cfg.code_failures_per_order = 100_000;
    cfg.code_failures_per_ip = 100_000;
    cfg.code_failures_per_contact = 100_000;
}

impl TestApp {
    pub async fn sqlite_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let (store, guard) = guichet_store::testing::fresh_sqlite().await;
        Self::start_with(store, Some(Box::new(guard)), tweak).await
    }

    pub async fn postgres_with(tweak: impl FnOnce(&mut ServerConfig)) -> Option<TestApp> {
        let Some(base) = guichet_store::testing::pg_url() else {
            assert!(
                std::env::var("GUICHET_REQUIRE_PG").as_deref() != Ok("1"),
                "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
            );
            eprintln!("PostgreSQL API test SKIPPED: GUICHET_TEST_PG_URL not set");
            return None;
        };
        let store = guichet_store::testing::fresh_pg(&base).await;
        Some(Self::start_with(store, None, tweak).await)
    }

    /// [`TestApp::start`] with `tweak` applied to the server's configuration.
    async fn start_with(
        store: DynStore,
        guard: Option<Box<dyn std::any::Any + Send>>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let base = serve_instance(store.clone(), tweak).await;
        let hash = guichet_server::auth::hash_password(ADMIN_PASSWORD).unwrap();
        store
            .create_user("admin", &hash, Role::Admin)
            .await
            .unwrap();
        let mut app = TestApp {
            base,
            store,
            client: reqwest::Client::new(),
            admin: String::new(),
            _guard: guard,
        };
        app.admin = app.login("admin", ADMIN_PASSWORD).await;
        app
    }

    /// Two server instances on one fresh PostgreSQL database, as PROOFS.md runs its concurrency
    /// proofs: this app, and a second instance with its own store (its own connection pool)
    /// and router, reached through the returned handle. Only the database is shared.
    pub async fn postgres_pair_with(tweak: impl Fn(&mut ServerConfig)) -> Option<(TestApp, Http)> {
        let Some(base) = guichet_store::testing::pg_url() else {
            assert!(
                std::env::var("GUICHET_REQUIRE_PG").as_deref() != Ok("1"),
                "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
            );
            eprintln!("PostgreSQL API test SKIPPED: GUICHET_TEST_PG_URL not set");
            return None;
        };
        let (store, url) = guichet_store::testing::fresh_pg_with_url(&base).await;
        let app = Self::start_with(store, None, &tweak).await;
        let second = guichet_store::testing::connect_migrated(&url).await;
        let peer = Http {
            base: serve_instance(second, &tweak).await,
            client: reqwest::Client::new(),
        };
        Some((app, peer))
    }

    /// This app on a fresh PostgreSQL database and a second store on the same database with its
    /// own connection pool (another process's, for the job runners' proofs).
    pub async fn postgres_with_second_store(
        tweak: impl Fn(&mut ServerConfig),
    ) -> Option<(TestApp, DynStore)> {
        let Some(base) = guichet_store::testing::pg_url() else {
            assert!(
                std::env::var("GUICHET_REQUIRE_PG").as_deref() != Ok("1"),
                "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
            );
            eprintln!("PostgreSQL API test SKIPPED: GUICHET_TEST_PG_URL not set");
            return None;
        };
        let (store, second) = guichet_store::testing::fresh_pg_pair(&base).await;
        let app = Self::start_with(store, None, &tweak).await;
        Some((app, second))
    }

    /// An application state on this app's store (default configuration), to call the server's
    /// functions directly (the job runner's `expire_due`, for instance).
    pub fn state(&self) -> AppState {
        AppState {
            store: self.store.clone(),
            config: Arc::new(ServerConfig::new(self.base.clone())),
        }
    }

    /// A cheap, `'static` handle on the HTTP client, for requests spawned as tasks.
    pub fn http(&self) -> Http {
        Http {
            base: self.base.clone(),
            client: self.client.clone(),
        }
    }
}

/// Serves the router on `store` on a new port (with the client's address, as in production);
/// returns its base URL.
async fn serve_instance(store: DynStore, tweak: impl FnOnce(&mut ServerConfig)) -> String {
    guichet_server::telemetry::init();
    guichet_server::install_tls_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = test_config(base.clone());
    tweak(&mut config);
    let state = AppState {
        store,
        config: Arc::new(config),
    };
    tokio::spawn(async move {
        axum::serve(
            listener,
            guichet_server::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}

/// The base URL and a shared client (its pool serves every spawned request).
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

/// A response as received: the raw body (to compare replays byte for byte) and its JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
    /// The `Idempotent-Replayed: true` header.
    pub replayed: bool,
}

impl Reply {
    /// The error code of an error body (`""` otherwise).
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// The body of [`TestApp::order`]: one ticket line of `amount_minor` EUR, electronic delivery.
pub fn order_body(shop: &ShopFixture, contact: Option<&str>, amount_minor: i64) -> Value {
    json!({
        "point_of_sale": shop.t.pos,
        "contact": contact,
        "currency": "EUR",
        "language": "fr",
        "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 1, "unit_amount_minor": amount_minor,
                   "event": {"id": "EV-1", "name": "Le Misanthrope", "starts_at": "2026-12-24T20:00:00+01:00"}}],
        "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
    })
}

impl Http {
    /// One request, with an optional bearer token and `Idempotency-Key`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let replayed = resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let text = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            text,
            json,
            replayed,
        }
    }

    /// Creates an order through the shop API ([`order_body`]); returns its id and checkout token.
    pub async fn order(&self, shop_key: &str, body: Value) -> (String, String) {
        let r = self
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(shop_key),
                None,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            id(&r.json),
            r.json["checkout_token"].as_str().unwrap().to_owned(),
        )
    }
}

//! Concurrency proofs across processes (PROOFS.md "Concurrency (on PostgreSQL with two server
//! instances…)"; issue 7 item 5): one `guichet psp-sim`, two `guichet serve` processes on one
//! fresh PostgreSQL database (each with its own connection pool and job runner), and one test
//! client whose requests alternate between the two instances, at most [`IN_FLIGHT`] at a time.
//!
//! 1. 1,000 identical card payments with one `Idempotency-Key` → 1 charge at the provider,
//!    1 ledger transaction, identical responses;
//! 2. the same key with another request (another means; a refund of another amount) →
//!    refused, nothing charged or refunded;
//! 3. 100 redemptions at once of one single-use coupon, and of one voucher worth one order →
//!    exactly 1 succeeds each;
//! 4. 1,000 deferred-account purchases of a = 7.00 at once under a maximum L = 200.00 →
//!    exactly ⌊L/a⌋ = 28 succeed, outstanding ≤ L;
//! 5. 10 full refunds of one card payment at once → exactly 1 succeeds;
//! 6. two `guichet jobs --once --now <due date>` processes started together over the due
//!    installments of many orders → each charged exactly once.
//!
//! Then `guichet audit` exits 0. Each figure is printed on one line starting with
//! `TWO-INSTANCE` (for docs/TRUST.md).
//!
//! The buyers who try codes come from distinct loopback addresses (127.0.1.x, 127.0.2.x), as
//! distinct buyers would: the per-address limit on failed code attempts is another proof
//! (PROOFS.md "Abuse") and must not stand in for the single-use guard here.
//!
//! Needs `GUICHET_TEST_PG_URL`; without it the test prints `SKIPPED` (and fails when
//! `GUICHET_REQUIRE_PG=1`).

mod support;

use guichet_domain::promo::{Discount, PromoKind, PromoRule};
use guichet_domain::{AccountKind, Currency, Money};
use guichet_store::testing::{fresh_pg_url, pg_required, pg_url};
use guichet_store::{ConnectOptions, DynStore, HoldStatus, LegKind, MasterKey};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Requests the client keeps in flight at most (2 cores run the two servers, PostgreSQL, the
/// simulator and the client).
const IN_FLIGHT: usize = 200;
const ADMIN_PASSWORD: &str = "two instances admin password";
/// The card attempt limits are raised: one buyer pays many orders here.
const NO_LIMIT: &str = "1000000";
const VISA_OK: &str = "4111111111111111";

// ---- the client -----------------------------------------------------------------------------

/// A reply as received.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    text: String,
    json: Value,
    /// `Idempotent-Replayed: true`.
    replayed: bool,
}

impl Reply {
    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// The two instances and the clients that reach them.
#[derive(Clone)]
struct Instances {
    bases: Arc<Vec<String>>,
    client: reqwest::Client,
    shop_key: Arc<String>,
}

impl Instances {
    /// The instance that serves request `i`.
    fn base(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }

    /// `path` on the instance of request `i`.
    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.base(i))
    }
}

fn client_from(address: Option<IpAddr>) -> reqwest::Client {
    guichet_server::install_tls_provider();
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    key: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut req = client.request(method.clone(), url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: body: {e}"));
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        text,
        json,
        replayed,
    }
}

/// `n` requests, request `i` made by `make(i)`, at most [`IN_FLIGHT`] at a time (the first
/// ones released together); returns the replies in index order.
async fn burst<F, Fut>(n: usize, make: F) -> Vec<Reply>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(0));
    let mut set = JoinSet::new();
    for i in 0..n {
        let fut = make(i);
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            (i, fut.await)
        });
    }
    // Every task is waiting: open the gate.
    gate.add_permits(IN_FLIGHT);
    let mut out: Vec<Option<Reply>> = vec![None; n];
    while let Some(joined) = set.join_next().await {
        let (i, reply) = joined.expect("a request task panicked");
        out[i] = Some(reply);
    }
    out.into_iter()
        .map(|r| r.expect("every request answered"))
        .collect()
}

/// How many replies had each (status, error code).
fn tally(replies: &[Reply]) -> BTreeMap<(u16, String), usize> {
    let mut t = BTreeMap::new();
    for r in replies {
        *t.entry((r.status, r.code().to_owned())).or_insert(0) += 1;
    }
    t
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

// ---- the deployment -------------------------------------------------------------------------

struct Deployment {
    dir: TempDir,
    url: String,
    sim: String,
    servers: Instances,
    admin: String,
    store: DynStore,
    db: sqlx::PgConnection,
    processes: Vec<Running>,
}

/// What the test sells with: the ids of the back office's structure and two buyers.
struct Shop {
    institution: String,
    pos: String,
    /// Pays by card (and in installments).
    karin: String,
    /// Buys on the deferred account (maximum 200.00).
    bruno: String,
}

async fn start(base: &str) -> Deployment {
    let url = fresh_pg_url(base).await;
    let dir = TempDir::new("two-instances");
    let mut processes = Vec::new();

    let sim_listen = format!("127.0.0.1:{}", free_port());
    let sim = format!("http://{sim_listen}");
    let mut simulator = Running::spawn(
        guichet(dir.path(), &["psp-sim", "--listen", &sim_listen]),
        dir.path(),
        "psp-sim",
    );
    let probe = http();
    let mut up = false;
    for _ in 0..300 {
        simulator.assert_running();
        if let Ok(r) = probe.get(format!("{sim}/__sim/transactions")).send().await
            && r.status().is_success()
        {
            up = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(up, "the simulator did not start");
    processes.push(simulator);

    // The database is migrated once by the first command; the admin exists before the servers.
    let mut create = guichet(
        dir.path(),
        &[
            "create-user",
            "admin",
            "--role",
            "admin",
            "--database-url",
            &url,
        ],
    );
    create
        .env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY)
        .env("GUICHET_NEW_PASSWORD", ADMIN_PASSWORD);
    let done = run(create, dir.path(), "create-user", Duration::from_secs(60)).await;
    assert!(done.status.success(), "{}", done.describe());

    // Both servers spawned before either is waited on; each runs its job runner.
    let listens = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let mut servers: Vec<Running> = listens
        .iter()
        .enumerate()
        .map(|(i, listen)| {
            let mut cmd = guichet(
                dir.path(),
                &["serve", "--database-url", &url, "--listen", listen],
            );
            cmd.env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY)
                .env("GUICHET_CARD_ATTEMPTS_PER_ORDER", NO_LIMIT)
                .env("GUICHET_CARD_ATTEMPTS_PER_CONTACT", NO_LIMIT)
                .env("GUICHET_CARD_ATTEMPTS_PER_IP", NO_LIMIT);
            Running::spawn(cmd, dir.path(), &format!("serve-{i}"))
        })
        .collect();
    let mut bases = Vec::new();
    for (server, listen) in servers.iter_mut().zip(&listens) {
        let base = format!("http://{listen}");
        wait_healthy(&probe, &base, server, 600).await;
        bases.push(base);
    }
    processes.extend(servers);

    let client = client_from(None);
    let login = call(
        &client,
        Method::POST,
        &format!("{}/api/v1/admin/login", bases[0]),
        None,
        None,
        Some(&json!({"user": "admin", "password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let admin = login.json["token"].as_str().unwrap().to_owned();
    let store = guichet_store::connect(ConnectOptions {
        url: url.clone(),
        master_key: MasterKey::parse(FIXED_MASTER_KEY).expect("the fixed key"),
        max_connections: 4,
    })
    .await
    .expect("connect to the test database");
    let db = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    Deployment {
        dir,
        url,
        sim,
        servers: Instances {
            bases: Arc::new(bases),
            client,
            shop_key: Arc::new(String::new()),
        },
        admin,
        store,
        db,
        processes,
    }
}

impl Deployment {
    /// A back-office call on instance `i` that must succeed; returns the body.
    async fn admin(&self, i: usize, method: Method, path: &str, body: Value) -> Value {
        let r = call(
            &self.servers.client,
            method.clone(),
            &self.servers.url(i, path),
            Some(&self.admin),
            None,
            Some(&body),
        )
        .await;
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        r.json
    }

    /// The structure, the payment modes, the payment system at the simulator, a shop key and
    /// two buyers, through the back office (alternating instances).
    async fn shop(&mut self) -> Shop {
        let inst = self
            .admin(
                0,
                Method::POST,
                "/api/v1/admin/institutions",
                json!({"name": "Théâtre des deux instances", "default_currency": "EUR"}),
            )
            .await;
        let institution = str_field(&inst, "/id").to_owned();
        let org = self
            .admin(
                1,
                Method::POST,
                "/api/v1/admin/organizers",
                json!({"institution_id": institution, "name": "Programmation"}),
            )
            .await;
        let channel = self
            .admin(
                0,
                Method::POST,
                "/api/v1/admin/sales-channels",
                json!({"organizer_id": org["id"], "kind": "internet", "name": "Internet"}),
            )
            .await;
        let channel = str_field(&channel, "/id").to_owned();
        let pos = self
            .admin(
                1,
                Method::POST,
                "/api/v1/admin/points-of-sale",
                json!({"sales_channel_id": channel, "name": "Billetterie en ligne"}),
            )
            .await;
        let pos = str_field(&pos, "/id").to_owned();
        for (i, (code, kind)) in [
            ("CBWEB", "card"),
            ("BON", "voucher"),
            ("AVOIR", "credit_balance"),
            ("COMPTE", "deferred_account"),
        ]
        .into_iter()
        .enumerate()
        {
            let mode = self
                .admin(
                    i,
                    Method::POST,
                    "/api/v1/admin/payment-modes",
                    json!({"institution_id": institution, "code": code,
                           "internal_name": format!("FR * {code}"),
                           "public_names": {"fr": code, "en": code},
                           "type": kind, "status": "visible", "predetermined": false}),
                )
                .await;
            self.admin(
                i + 1,
                Method::POST,
                &format!("/api/v1/admin/points-of-sale/{pos}/payment-modes"),
                json!({"payment_mode_id": mode["id"]}),
            )
            .await;
        }
        self.admin(
            0,
            Method::PUT,
            &format!("/api/v1/admin/sales-channels/{channel}/payment-system"),
            json!({
                "provider": "ogone",
                "label": "Ogone (simulator)",
                "base_url": format!("{}/ncol/test", self.sim),
                "merchant_id": "GUICHETTEST",
                "settings": {"userid": "API", "hash_algorithm": "SHA-512"},
                "credentials": {"password": "guichet-test", "sha_in": "Mysecretsig1875!?",
                                "sha_out": "Mysecretsig1875!?"},
                "card_saving_enabled": true,
                "cvv_on_saved_cards": false,
                "max_saved_cards": 3,
                "three_ds_policy": "never",
                "three_ds_days": 0
            }),
        )
        .await;
        let key = self
            .admin(
                1,
                Method::POST,
                "/api/v1/admin/shop-keys",
                json!({"institution_id": institution, "name": "Boutique"}),
            )
            .await;
        self.servers.shop_key = Arc::new(str_field(&key, "/key").to_owned());
        let karin = self.contact(0, &institution, "Karin", false).await;
        let bruno = self.contact(1, &institution, "Bruno", true).await;
        Shop {
            institution,
            pos,
            karin,
            bruno,
        }
    }

    /// A contact (deferred account allowed up to 200.00 when `deferred`); its id.
    async fn contact(&self, i: usize, institution: &str, first: &str, deferred: bool) -> String {
        let body = json!({"institution_id": institution, "first_name": first, "last_name": "DEU",
                          "email": format!("{}@example.org", first.to_lowercase()),
                          "deferred_allowed": deferred,
                          "deferred_max_minor": if deferred { 20000 } else { 0 }});
        let c = self
            .admin(i, Method::POST, "/api/v1/admin/contacts", body)
            .await;
        str_field(&c, "/id").to_owned()
    }

    async fn sim_transactions(&self) -> Vec<Value> {
        let (status, txs) = get_json(
            &self.servers.client,
            &format!("{}/__sim/transactions", self.sim),
            None,
        )
        .await;
        assert_eq!(status, 200);
        txs.as_array().cloned().unwrap_or_default()
    }

    async fn count(&mut self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn ledger_transactions(&mut self) -> i64 {
        self.count("SELECT COUNT(*) FROM ledger_transactions").await
    }

    /// Ledger transactions of `kind` of an order.
    async fn ledger_transactions_of(&mut self, order: &str, kind: &str) -> i64 {
        let order: Uuid = order.parse().unwrap();
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM ledger_transactions WHERE order_id = $1 AND kind = $2",
        )
        .bind(order)
        .bind(kind)
        .fetch_one(&mut self.db)
        .await
        .expect("count ledger transactions")
    }

    async fn order(&self, i: usize, id: &str) -> Value {
        let r = call(
            &self.servers.client,
            Method::GET,
            &self.servers.url(i, &format!("/api/v1/orders/{id}")),
            Some(&self.servers.shop_key),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }
}

/// The body of an order of one ticket line of `amount` for an event `days` ahead.
fn order_body(shop: &Shop, contact: Option<&str>, amount: i64, days: i64) -> Value {
    let starts = (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({
        "point_of_sale": shop.pos,
        "contact": contact,
        "currency": "EUR",
        "language": "fr",
        "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 1, "unit_amount_minor": amount,
                   "event": {"id": "EV-2", "name": "Le Misanthrope", "starts_at": starts}}],
        "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
    })
}

/// `n` orders created at once (alternating instances); returns (id, checkout token).
async fn orders_at_once(servers: &Instances, body: Value, n: usize) -> Vec<(String, String)> {
    let body = Arc::new(body);
    let replies = burst(n, |i| {
        let (servers, body) = (servers.clone(), body.clone());
        async move {
            call(
                &servers.client,
                Method::POST,
                &servers.url(i, "/api/v1/orders"),
                Some(&servers.shop_key),
                None,
                Some(&body),
            )
            .await
        }
    })
    .await;
    replies
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            (
                str_field(&r.json, "/id").to_owned(),
                str_field(&r.json, "/checkout_token").to_owned(),
            )
        })
        .collect()
}

/// The provider's signed return after the buyer posted a card to the form `which` of the
/// checkout summary (`card_form`, or `card_form_save` to keep the card).
async fn card_return(servers: &Instances, i: usize, token: &str, which: &str) -> String {
    let summary = call(
        &servers.client,
        Method::GET,
        &servers.url(i, &format!("/api/v1/checkout/{token}")),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let form = &summary.json["means"][which];
    let mut fields: Vec<(String, String)> = form["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no {which}: {}", summary.text))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    for (k, v) in [
        ("CN", "Karin Deu"),
        ("CARDNO", VISA_OK),
        ("ED", "1230"),
        ("CVC", "123"),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let resp = browser()
        .post(str_field(form, "/url"))
        .form(&fields)
        .send()
        .await
        .expect("the provider's card form");
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    location.split_once('?').expect("a query").1.to_owned()
}

async fn pay(servers: &Instances, i: usize, token: &str, key: &str, body: &Value) -> Reply {
    call(
        &servers.client,
        Method::POST,
        &servers.url(i, &format!("/api/v1/checkout/{token}/pay")),
        None,
        Some(key),
        Some(body),
    )
    .await
}

fn card_reference(order: &Value) -> String {
    order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l["kind"] == "card")
        .and_then(|l| l["card"]["reference"].as_str())
        .unwrap_or_else(|| panic!("no card leg: {order}"))
        .to_owned()
}

/// A card order of Karin's for 24.00, paid at once (instance `i`); returns its id and the
/// card payment's reference.
async fn paid_card_order(d: &Deployment, shop: &Shop, i: usize, key: &str) -> (String, String) {
    let (id, token) = orders_at_once(
        &d.servers,
        order_body(shop, Some(&shop.karin), 2400, 100),
        1,
    )
    .await
    .remove(0);
    let alias = card_return(&d.servers, i, &token, "card_form").await;
    let r = pay(&d.servers, i + 1, &token, key, &pay_body(&alias)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "paid", "{}", r.text);
    let order = d.order(i, &id).await;
    (id, card_reference(&order))
}

// ---- the proofs ---------------------------------------------------------------------------

const IDENTICAL_PAYS: usize = 1000;

/// Proofs 1 and 2: one key, 1,000 identical card payments; then the same key with another request.
async fn one_key_one_charge(d: &mut Deployment, shop: &Shop) -> (String, String) {
    let servers = d.servers.clone();
    let (order_id, token) =
        orders_at_once(&servers, order_body(shop, Some(&shop.karin), 2400, 100), 1)
            .await
            .remove(0);
    let alias = card_return(&servers, 1, &token, "card_form").await;
    let body = Arc::new(pay_body(&alias));
    let token = Arc::new(token);
    const KEY: &str = "two-instances-one-key-pay";
    let charges_before = d.sim_transactions().await.len();
    let ledger_before = d.ledger_transactions().await;

    let started = Instant::now();
    let make = |i: usize| {
        let (servers, token, body) = (servers.clone(), token.clone(), body.clone());
        async move { pay(&servers, i, &token, KEY, &body).await }
    };
    let mut replies = burst(IDENTICAL_PAYS, &make).await;
    let first_burst = tally(&replies);
    let replayed_at_once = replies.iter().filter(|r| r.replayed).count();
    let in_progress_at_once = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "idempotency_in_progress")
        .count();
    // Those told "still running" (409) ask again, as a client does, until every one has the
    // stored response.
    let mut rounds = 0;
    loop {
        let waiting: Vec<usize> = (0..replies.len())
            .filter(|&i| replies[i].status == 409 && replies[i].code() == "idempotency_in_progress")
            .collect();
        if waiting.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds <= 100, "still in progress after 100 rounds");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = burst(waiting.len(), |j| make(waiting[j])).await;
        for (j, reply) in again.into_iter().enumerate() {
            replies[waiting[j]] = reply;
        }
    }
    let elapsed = secs(started);

    let ran: Vec<&Reply> = replies.iter().filter(|r| !r.replayed).collect();
    assert_eq!(ran.len(), 1, "exactly one request ran: {first_burst:?}");
    let first = ran[0].clone();
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["status"], "paid", "{}", first.text);
    let identical = replies
        .iter()
        .filter(|r| r.status == first.status && r.text == first.text)
        .count();
    assert_eq!(identical, IDENTICAL_PAYS, "every response is the first one");

    let order = d.order(0, &order_id).await;
    assert_eq!(order["status"], "paid");
    let reference = card_reference(&order);
    let sim = d.sim_transactions().await;
    let charges: Vec<&Value> = sim.iter().filter(|t| t["reference"] == reference).collect();
    assert_eq!(charges.len(), 1, "{sim:?}");
    assert_eq!(charges[0]["captured_minor"], 2400);
    assert_eq!(
        sim.len(),
        charges_before + 1,
        "one new charge at the provider"
    );
    let commits = d.ledger_transactions_of(&order_id, "order_commit").await;
    assert_eq!(commits, 1);
    let ledger_after = d.ledger_transactions().await;
    assert_eq!(ledger_after, ledger_before + 1, "one ledger transaction");
    println!(
        "TWO-INSTANCE same-key pays: {IDENTICAL_PAYS} requests, {} charge, {commits} transaction, {identical} identical responses (at once: 1 ran, {replayed_at_once} replayed, {in_progress_at_once} told 409 idempotency_in_progress and replayed on retry, {rounds} retry round(s); {elapsed:.1}s)",
        charges.len()
    );

    // 2. The same key with another request: refused, no charge, no ledger movement.
    let bruno_before = d
        .store
        .accounting_tab(shop.bruno.parse().unwrap())
        .await
        .unwrap();
    let other = pay(
        &servers,
        1,
        &token,
        KEY,
        &json!({"means": "deferred_account", "accept_terms": true}),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(d.sim_transactions().await.len(), sim.len());
    assert_eq!(d.ledger_transactions().await, ledger_after);
    assert_eq!(
        d.store
            .accounting_tab(shop.bruno.parse().unwrap())
            .await
            .unwrap(),
        bruno_before
    );

    // And on refunds, whose body carries the amount: the same key with another amount.
    let (refunded, refunded_ref) = paid_card_order(d, shop, 0, "two-instances-pay-2").await;
    let refund = |i: usize, amount: i64| {
        let servers = servers.clone();
        let path = format!("/api/v1/orders/{refunded}/refunds");
        async move {
            call(
                &servers.client,
                Method::POST,
                &servers.url(i, &path),
                Some(&servers.shop_key),
                Some("two-instances-refund-key"),
                Some(&json!({"amount_minor": amount, "destination": "card"})),
            )
            .await
        }
    };
    let r = refund(0, 500).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ledger_mid = d.ledger_transactions().await;
    let r = refund(1, 600).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "idempotency_key_reused");
    let refunds_at_sim: Vec<i64> = d
        .sim_transactions()
        .await
        .iter()
        .filter(|t| t["reference"] == refunded_ref)
        .flat_map(|t| t["refunds"].as_array().cloned().unwrap_or_default())
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(refunds_at_sim, vec![500]);
    assert_eq!(d.ledger_transactions().await, ledger_mid);
    println!(
        "TWO-INSTANCE same key, other request: pay with another means 422 {}, refund of another amount (600 after 500) 422 {}; 0 charges, 0 refunds, 0 ledger transactions",
        other.code(),
        r.code()
    );
    (order_id, reference)
}

const CODE_ORDERS: usize = 100;

/// Clients from distinct loopback addresses, one per buyer.
fn buyers(subnet: u8, n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|i| {
            let host = u8::try_from(i + 1).expect("at most 254 buyers");
            client_from(Some(IpAddr::V4(Ipv4Addr::new(127, 0, subnet, host))))
        })
        .collect()
}

/// Proof 3: one single-use coupon, and one voucher worth one order, each tried by 100 orders at once.
async fn one_coupon_one_voucher(d: &mut Deployment, shop: &Shop) {
    let servers = d.servers.clone();
    let institution: Uuid = shop.institution.parse().unwrap();
    const COUPON: &str = "TWO-INSTANCES-COUPON";
    d.store
        .create_promo_code(
            institution,
            &guichet_store::NewPromoCode {
                code: COUPON.to_owned(),
                label: COUPON.to_owned(),
                rule: PromoRule {
                    kind: PromoKind::Coupon,
                    discount: Discount::Percent { basis_points: 1000 },
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
    let voucher = voucher(&d.store, institution, 3000).await;

    for (what, code, amount, subnet) in [
        ("coupon", COUPON.to_owned(), 4000, 1),
        ("voucher", voucher.clone(), 3000, 2),
    ] {
        let orders =
            orders_at_once(&servers, order_body(shop, None, amount, 100), CODE_ORDERS).await;
        let clients = Arc::new(buyers(subnet, CODE_ORDERS));
        let orders = Arc::new(orders);
        let code = Arc::new(code);
        let started = Instant::now();
        let replies = burst(CODE_ORDERS, |i| {
            let (servers, clients, orders, code) = (
                servers.clone(),
                clients.clone(),
                orders.clone(),
                code.clone(),
            );
            async move {
                let path = format!("/api/v1/checkout/{}/codes", orders[i].1);
                call(
                    &clients[i],
                    Method::POST,
                    &servers.url(i, &path),
                    None,
                    None,
                    Some(&json!({"code": *code})),
                )
                .await
            }
        })
        .await;
        let elapsed = secs(started);
        let t = tally(&replies);
        let ok = replies.iter().filter(|r| r.status == 200).count();
        let refused = replies
            .iter()
            .filter(|r| r.status == 422 && r.code() == "code_not_applicable")
            .count();
        assert_eq!(ok, 1, "{what}: {t:?}");
        assert_eq!(refused, CODE_ORDERS - 1, "{what}: {t:?}");
        // What the database holds: one use, one hold.
        let mut holds = Vec::new();
        for (id, _) in orders.iter() {
            let order = d.store.get_order(id.parse().unwrap()).await.unwrap();
            for p in order.promos.iter().filter(|p| p.status == HoldStatus::Held) {
                holds.push(("promo", p.promo_code_id.to_string(), 0));
            }
            for l in order.legs.iter().filter(|l| l.kind == LegKind::Voucher) {
                assert_eq!(l.status, HoldStatus::Held);
                holds.push(("voucher", String::new(), l.amount.amount_minor()));
            }
        }
        if what == "coupon" {
            let promo = d
                .store
                .promo_code_by_code(institution, COUPON)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(promo.uses_count, 1);
            assert_eq!(holds.len(), 1, "{holds:?}");
            println!(
                "TWO-INSTANCE single-use coupon: {CODE_ORDERS} concurrent redemptions, {ok} succeeded, {refused} refused (422 code_not_applicable), uses_count {} ({elapsed:.1}s)",
                promo.uses_count
            );
        } else {
            let held: i64 = holds.iter().map(|h| h.2).sum();
            assert_eq!(holds.len(), 1, "{holds:?}");
            assert_eq!(held, 3000);
            let balance = d
                .store
                .voucher_by_code(&voucher)
                .await
                .unwrap()
                .unwrap()
                .balance
                .amount_minor();
            assert_eq!(balance, 0);
            println!(
                "TWO-INSTANCE voucher worth one order: {CODE_ORDERS} concurrent redemptions, {ok} succeeded, {refused} refused (422 code_not_applicable), Σ used {held} ≤ 3000, balance {balance} ({elapsed:.1}s)"
            );
        }
    }
}

/// A reusable voucher of `value_minor` EUR sold at the counter (funded from cash); its code.
async fn voucher(store: &DynStore, institution: Uuid, value_minor: i64) -> String {
    let value = Money::new(value_minor, Currency::EUR);
    let id = Uuid::now_v7();
    let liability = store
        .ledger_account(
            institution,
            AccountKind::VoucherLiability,
            id,
            Currency::EUR,
        )
        .await
        .unwrap();
    let cash = store
        .ledger_account(institution, AccountKind::Cash, institution, Currency::EUR)
        .await
        .unwrap();
    let funding = guichet_domain::TransactionBuilder::new("voucher_sale", "two-instance voucher")
        .debit(cash.id, cash.kind, value)
        .credit(liability.id, liability.kind, value)
        .build()
        .unwrap();
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).unwrap();
    let code = guichet_domain::voucher::VoucherCode::generate(random);
    store
        .issue_voucher(
            &guichet_store::NewVoucher {
                id,
                institution_id: institution,
                code: code.as_str().to_owned(),
                product_id: None,
                face_value: value,
                reusable: true,
                expires_at: time::OffsetDateTime::now_utc() + time::Duration::days(30),
                issued_order_id: None,
            },
            &funding,
        )
        .await
        .unwrap();
    code.as_str().to_owned()
}

const DEFERRED_PURCHASES: usize = 1000;
const DEFERRED_AMOUNT: i64 = 700;

/// Proof 4: 1,000 deferred-account purchases of 7.00 at once under a maximum of 200.00.
async fn deferred_purchases_stop_at_the_maximum(d: &mut Deployment, shop: &Shop) {
    let servers = d.servers.clone();
    let bruno: Uuid = shop.bruno.parse().unwrap();
    let before = d.store.accounting_tab(bruno).await.unwrap();
    let max = before.deferred_max.amount_minor();
    assert_eq!(max, 20000);
    assert_eq!(before.deferred_balance.amount_minor(), 0);
    let expected = usize::try_from(max / DEFERRED_AMOUNT).unwrap();
    let started = Instant::now();
    let orders = Arc::new(
        orders_at_once(
            &servers,
            order_body(shop, Some(&shop.bruno), DEFERRED_AMOUNT, 100),
            DEFERRED_PURCHASES,
        )
        .await,
    );
    let creating = secs(started);
    let started = Instant::now();
    let replies = burst(DEFERRED_PURCHASES, |i| {
        let (servers, orders) = (servers.clone(), orders.clone());
        async move {
            pay(
                &servers,
                i,
                &orders[i].1,
                &format!("two-instances-deferred-{i}"),
                &json!({"means": "deferred_account", "accept_terms": true}),
            )
            .await
        }
    })
    .await;
    let elapsed = secs(started);
    let t = tally(&replies);
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 422 && r.code() == "deferred_over_maximum")
        .count();
    assert_eq!(ok, expected, "{t:?}");
    assert_eq!(refused, DEFERRED_PURCHASES - expected, "{t:?}");
    let after = d.store.accounting_tab(bruno).await.unwrap();
    let outstanding = after.deferred_balance.amount_minor();
    assert_eq!(
        outstanding,
        i64::try_from(expected).unwrap() * DEFERRED_AMOUNT
    );
    assert!(outstanding <= max);
    let charges = d
        .store
        .contact_history(bruno)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.account_kind == AccountKind::ContactDeferred)
        .count();
    assert_eq!(charges, expected, "one deferred entry per purchase");
    println!(
        "TWO-INSTANCE deferred purchases: {DEFERRED_PURCHASES} concurrent purchases of a = 7.00 under L = 200.00, {ok} succeeded (⌊L/a⌋ = {expected}), {refused} refused (422 deferred_over_maximum), outstanding {outstanding} ≤ {max} minor (orders created in {creating:.1}s, paid in {elapsed:.1}s)"
    );
}

const REFUNDS: usize = 10;

/// Proof 5: 10 full refunds at once of the payment of proof 1.
async fn one_full_refund(d: &mut Deployment, order_id: &str, reference: &str) {
    let servers = d.servers.clone();
    let path = Arc::new(format!("/api/v1/orders/{order_id}/refunds"));
    let replies = burst(REFUNDS, |i| {
        let (servers, path) = (servers.clone(), path.clone());
        async move {
            call(
                &servers.client,
                Method::POST,
                &servers.url(i, &path),
                Some(&servers.shop_key),
                Some(&format!("two-instances-full-refund-{i}")),
                Some(&json!({"amount_minor": 2400, "destination": "card"})),
            )
            .await
        }
    })
    .await;
    let t = tally(&replies);
    let ok = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies
        .iter()
        .filter(|r| (400..500).contains(&r.status))
        .count();
    assert_eq!(ok, 1, "{t:?}");
    assert_eq!(refused, REFUNDS - 1, "{t:?}");
    let refunds_at_sim: Vec<i64> = d
        .sim_transactions()
        .await
        .iter()
        .filter(|t| t["reference"] == reference)
        .flat_map(|t| t["refunds"].as_array().cloned().unwrap_or_default())
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(refunds_at_sim, vec![2400]);
    let ledger = d.ledger_transactions_of(order_id, "refund").await;
    assert_eq!(ledger, 1);
    let order = d.order(1, order_id).await;
    let refunds = order["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{order}");
    println!(
        "TWO-INSTANCE full refunds: {REFUNDS} concurrent refunds of one 24.00 card payment, {ok} succeeded, {refused} refused {:?}; 1 refund at the provider, {ledger} ledger transaction",
        t.keys()
            .filter(|(s, _)| *s != 201)
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
    );
}

const INSTALLMENT_ORDERS: usize = 91;
const INSTALLMENTS: usize = 12;

/// Proof 6: two job runners (two `guichet jobs` processes) over the due installments of
/// the [`INSTALLMENT_ORDERS`] orders paid in 12.
async fn installments_charged_once(d: &mut Deployment, shop: &Shop) {
    let servers = d.servers.clone();
    let plan = d
        .admin(
            0,
            Method::POST,
            "/api/v1/admin/installment-plans",
            json!({"point_of_sale_id": shop.pos, "name": "12x", "count": INSTALLMENTS,
                   "split": "equal", "interval": "monthly",
                   "min_amount": {"amount_minor": 0, "currency": "EUR"}, "mode": "free"}),
        )
        .await;
    let plan = str_field(&plan, "/id").to_owned();
    let started = Instant::now();
    let mut orders = Vec::new();
    for n in 0..INSTALLMENT_ORDERS {
        let (id, token) =
            orders_at_once(&servers, order_body(shop, Some(&shop.karin), 12000, 400), 1)
                .await
                .remove(0);
        let body = if n == 0 {
            let alias = card_return(&servers, n, &token, "card_form_save").await;
            json!({"means": "card", "accept_terms": true, "card_alias_return": alias,
                   "installment_plan": plan})
        } else {
            let summary = call(
                &servers.client,
                Method::GET,
                &servers.url(n, &format!("/api/v1/checkout/{token}")),
                None,
                None,
                None,
            )
            .await;
            let saved = summary.json["means"]["saved_cards"][0]["id"].clone();
            assert!(saved.is_string(), "{}", summary.text);
            json!({"means": "saved_card", "accept_terms": true, "saved_card": saved,
                   "installment_plan": plan})
        };
        let r = pay(
            &servers,
            n + 1,
            &token,
            &format!("two-instances-plan-{n}"),
            &body,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "paid", "{}", r.text);
        orders.push(id);
    }
    let paying = secs(started);
    let first = d.order(0, &orders[0]).await;
    let last_due = first["installments"][INSTALLMENTS - 1]["due_on"]
        .as_str()
        .unwrap_or_else(|| panic!("no schedule: {first}"));
    let now = format!("{last_due}T09:00:00Z");
    let due = INSTALLMENT_ORDERS * (INSTALLMENTS - 1);
    let mit_before = d
        .sim_transactions()
        .await
        .iter()
        .filter(|t| t["eci"] == "9")
        .count();
    assert_eq!(mit_before, 0);

    // Two job runners started together, each with its own pool, at the last due date.
    let started = Instant::now();
    let runners: Vec<Running> = (0..2)
        .map(|i| {
            let mut cmd = guichet(
                d.dir.path(),
                &["jobs", "--once", "--now", &now, "--database-url", &d.url],
            );
            cmd.env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY);
            Running::spawn(cmd, d.dir.path(), &format!("jobs-{i}"))
        })
        .collect();
    let mut charged = Vec::new();
    for runner in runners {
        let done = runner.finish(Duration::from_secs(150)).await;
        assert!(done.status.success(), "{}", done.describe());
        let line = done
            .stdout
            .lines()
            .find(|l| l.starts_with("jobs: "))
            .unwrap_or_else(|| panic!("no jobs line\n{}", done.describe()))
            .to_owned();
        let n: usize = line
            .split("; ")
            .nth(1)
            .and_then(|part| part.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unreadable: {line}"));
        charged.push(n);
    }
    let charging = secs(started);

    let mit: Vec<Value> = d
        .sim_transactions()
        .await
        .into_iter()
        .filter(|t| t["eci"] == "9")
        .collect();
    let distinct: BTreeSet<&str> = mit
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    let twice = d
        .count(
            "SELECT COUNT(*) FROM (SELECT installment_id FROM card_payments \
             WHERE installment_id IS NOT NULL AND status = 'captured' \
             GROUP BY installment_id HAVING COUNT(*) > 1) AS t",
        )
        .await;
    let captured = d
        .count(
            "SELECT COUNT(*) FROM card_payments WHERE installment_id IS NOT NULL AND status = 'captured'",
        )
        .await;
    let mut paid = 0;
    for (i, id) in orders.iter().enumerate() {
        let order = d.order(i, id).await;
        for inst in order["installments"].as_array().unwrap() {
            assert_eq!(inst["status"], "paid", "{order}");
            paid += 1;
        }
        let receivable = d
            .store
            .ledger_account(
                shop.institution.parse().unwrap(),
                AccountKind::InstallmentsReceivable,
                id.parse().unwrap(),
                Currency::EUR,
            )
            .await
            .unwrap()
            .balance
            .amount_minor();
        assert_eq!(receivable, 0, "order {id}");
    }
    println!(
        "TWO-INSTANCE installments: {due} due installments ({INSTALLMENT_ORDERS} orders in {INSTALLMENTS}), two job runners charged {} + {} = {}, {} merchant-initiated captures at the provider ({} distinct), {twice} charged twice (orders paid in {paying:.1}s, charged in {charging:.1}s)",
        charged[0],
        charged[1],
        charged[0] + charged[1],
        mit.len(),
        distinct.len()
    );
    assert!(
        charged[0] > 0 && charged[1] > 0,
        "both runners took part: {charged:?}"
    );
    assert_eq!(charged[0] + charged[1], due);
    assert_eq!(mit.len(), due);
    assert_eq!(distinct.len(), due);
    assert_eq!(twice, 0);
    assert_eq!(usize::try_from(captured).unwrap(), due);
    assert_eq!(paid, INSTALLMENT_ORDERS * INSTALLMENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_keep_the_concurrency_proofs() {
    let Some(base) = pg_url() else {
        assert!(
            !pg_required(),
            "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
        );
        println!("SKIPPED: GUICHET_TEST_PG_URL not set");
        return;
    };
    let started = Instant::now();
    let mut d = start(&base).await;
    let shop = d.shop().await;
    println!(
        "two instances {:?} on one PostgreSQL database, simulator {} (ready in {:.1}s)",
        d.servers.bases,
        d.sim,
        secs(started)
    );
    // Installments first: their job runners run at the last due date, eleven months ahead,
    // when every order still unpaid would be expired too.
    installments_charged_once(&mut d, &shop).await;
    let (order_id, reference) = one_key_one_charge(&mut d, &shop).await;
    one_coupon_one_voucher(&mut d, &shop).await;
    deferred_purchases_stop_at_the_maximum(&mut d, &shop).await;
    one_full_refund(&mut d, &order_id, &reference).await;

    let mut cmd = guichet(d.dir.path(), &["audit", "--database-url", &d.url]);
    cmd.env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY);
    let audit = run(cmd, d.dir.path(), "audit", Duration::from_secs(60)).await;
    assert_eq!(audit.status.code(), Some(0), "{}", audit.describe());
    let summary = audit
        .stdout
        .lines()
        .find(|l| l.contains("differences"))
        .unwrap_or("")
        .trim()
        .to_owned();
    println!(
        "TWO-INSTANCE audit: guichet audit exit 0 ({summary}); whole test {:.1}s",
        secs(started)
    );
    for server in d.processes.iter_mut() {
        server.assert_running();
    }
}

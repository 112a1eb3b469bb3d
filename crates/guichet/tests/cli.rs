//! Process-level tests of the `guichet` binary (API.md, "Command line"): each test runs the
//! compiled binary in its own temporary directory, with a clean `GUICHET_*` environment, and
//! kills whatever it started when it ends (a failing test keeps its directory and prints the
//! children's output).
//!
//! The PostgreSQL test needs `GUICHET_TEST_PG_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`); without it, it prints `SKIPPED`, or fails
//! when `GUICHET_REQUIRE_PG=1`.

use guichet_store::testing::{fresh_pg_url, pg_url};
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::collections::BTreeMap;
use uuid::Uuid;

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_health_login_and_the_four_payment_modes() {
    let dir = TempDir::new("demo");
    let mut demo = Running::spawn(demo_command(&dir, false), dir.path(), "demo");

    // demo.json is written before serving; it may be caught half-written, hence the parse.
    let mut info = None;
    for _ in 0..600 {
        demo.assert_running();
        info = read_demo_json(&dir);
        if info.is_some() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let info = info.expect("demo.json within 60 s");
    for key in [
        "base_url",
        "database_url",
        "shop_api_key",
        "admin_user",
        "admin_password",
        "points_of_sale",
        "contacts",
        "promo_codes",
        "vouchers",
        "events",
    ] {
        assert!(info.get(key).is_some(), "demo.json lacks {key}: {info:#}");
    }
    // The settlement seeds (issue 3): promo code, a 20.00 EUR voucher, events in 2, 20, 100 days.
    assert_eq!(info["promo_codes"]["nouveaux_venus"], "NOUVEAUX-VENUS");
    assert_eq!(info["vouchers"][0]["balance_minor"], 2000);
    assert_eq!(info["vouchers"][0]["code"].as_str().map(str::len), Some(19));
    let events = info["events"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    let now = time::OffsetDateTime::now_utc();
    for (event, days) in events.iter().zip([2, 20, 100]) {
        let at = time::OffsetDateTime::parse(
            event["starts_at"].as_str().expect("starts_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339");
        let ahead = (at - now).whole_days();
        assert!(
            (days - 1..=days).contains(&ahead),
            "{event} is {ahead} days ahead, not {days}"
        );
    }
    let base = str_field(&info, "/base_url").to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "base_url must name the port actually bound: {base}"
    );

    // The "service" line printed on stdout names the same URL.
    let mut printed = None;
    for _ in 0..100 {
        printed = demo.stdout().lines().find_map(|l| {
            l.trim_start()
                .strip_prefix("service")
                .map(|rest| rest.trim().to_owned())
        });
        if printed.is_some() {
            break;
        }
        demo.assert_running();
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        printed.as_deref(),
        Some(base.as_str()),
        "stdout:\n{}",
        demo.stdout()
    );

    let client = http();
    let health = wait_healthy(&client, &base, &mut demo, 100).await;
    assert_eq!(health, json!({"status": "ok"}));

    // Back-office login: the wrong password is refused, the right one yields a token.
    let login_url = format!("{base}/api/v1/admin/login");
    let user = str_field(&info, "/admin_user");
    let password = str_field(&info, "/admin_password");
    let refused = client
        .post(&login_url)
        .json(&json!({"user": user, "password": format!("{password}x")}))
        .send()
        .await
        .expect("POST login");
    assert_eq!(
        refused.status().as_u16(),
        401,
        "wrong password must be refused"
    );
    let resp = client
        .post(&login_url)
        .json(&json!({"user": user, "password": password}))
        .send()
        .await
        .expect("POST login");
    assert_eq!(resp.status().as_u16(), 200, "login as {user}");
    let login: Value = resp.json().await.expect("login JSON");
    let token = str_field(&login, "/token").to_owned();
    assert!(!token.is_empty());
    let token = Some(token.as_str());

    let modes_url = format!("{base}/api/v1/admin/payment-modes");
    let (status, _) = get_json(&client, &modes_url, None).await;
    assert_eq!(status, 401, "payment modes need a back-office token");
    let (status, modes) = get_json(&client, &modes_url, token).await;
    assert_eq!(status, 200, "{modes:#}");
    let by_code: BTreeMap<String, Value> = modes
        .as_array()
        .unwrap_or_else(|| panic!("payment modes: not an array: {modes:#}"))
        .iter()
        .map(|m| (str_field(m, "/code").to_owned(), m.clone()))
        .collect();
    for (code, mode_type) in [
        ("CBWEB", "card"),
        ("BON", "voucher"),
        ("AVOIR", "credit_balance"),
        ("COMPTE", "deferred_account"),
    ] {
        let mode = by_code
            .get(code)
            .unwrap_or_else(|| panic!("no payment mode {code} in {modes:#}"));
        assert_eq!(str_field(mode, "/type"), mode_type, "{code}: {mode:#}");
        for lang in ["fr", "en"] {
            let name = str_field(mode, &format!("/public_names/{lang}"));
            assert!(!name.trim().is_empty(), "{code}: empty {lang} name");
        }
    }
    assert_eq!(
        str_field(&by_code["CBWEB"], "/public_names/fr"),
        "FR * CB WEB"
    );
    assert_eq!(
        str_field(&by_code["CBWEB"], "/public_names/en"),
        "EN * CB WEB"
    );

    let internet = str_field(&info, "/points_of_sale/internet");
    let (status, associated) = get_json(
        &client,
        &format!("{base}/api/v1/admin/points-of-sale/{internet}/payment-modes"),
        token,
    )
    .await;
    assert_eq!(status, 200, "{associated:#}");
    let mut codes: Vec<&str> = associated
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {associated:#}"))
        .iter()
        .map(|m| str_field(m, "/code"))
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["AVOIR", "BON", "CBWEB", "COMPTE"]);

    let karin = str_field(&info, "/contacts/karin");
    let (status, contact) = get_json(
        &client,
        &format!("{base}/api/v1/admin/contacts/{karin}"),
        token,
    )
    .await;
    assert_eq!(status, 200, "{contact:#}");
    assert_eq!(
        i64_field(&contact, "/accounting/credit_balance/amount_minor"),
        1500,
        "{contact:#}"
    );
    assert_eq!(
        contact.pointer("/accounting/deferred_allowed"),
        Some(&json!(true)),
        "{contact:#}"
    );
    assert_eq!(
        i64_field(&contact, "/accounting/deferred_max/amount_minor"),
        20000,
        "{contact:#}"
    );

    let (status, history) = get_json(
        &client,
        &format!("{base}/api/v1/admin/contacts/{karin}/history"),
        token,
    )
    .await;
    assert_eq!(status, 200, "{history:#}");
    let lines = history
        .as_array()
        .unwrap_or_else(|| panic!("history: not an array: {history:#}"));
    assert_eq!(lines.len(), 1, "{history:#}");
    assert_eq!(str_field(&lines[0], "/kind"), "credit_adjustment");
    assert_eq!(i64_field(&lines[0], "/balance_change_minor"), 1500);

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(metrics.status().as_u16(), 200);
    let metrics = metrics.text().await.expect("metrics text");
    assert!(
        metrics.contains("guichet_http_requests_total"),
        "/metrics:\n{metrics}"
    );

    let (status, openapi) = get_json(&client, &format!("{base}/api/openapi.json"), None).await;
    assert_eq!(status, 200);
    assert!(
        openapi.get("openapi").is_some_and(Value::is_string),
        "no openapi version"
    );
    assert!(
        openapi
            .pointer("/paths/~1api~1v1~1admin~1payment-modes")
            .is_some(),
        "the document lacks /api/v1/admin/payment-modes; paths: {:?}",
        openapi
            .get("paths")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect::<Vec<_>>())
    );

    // The seed's checkout against the running demo, as the README walks through it: the shop
    // creates 36.00, the buyer applies NOUVEAUX-VENUS, the demo voucher, 10.00 of credit, and
    // pays the rest on the deferred account; the demo's receiver page then shows order.paid.
    let key = str_field(&info, "/shop_api_key").to_owned();
    let send = |method: reqwest::Method, path: String, bearer: Option<String>, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let mut req = client.request(method, url).json(&body);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, order) = send(
        reqwest::Method::POST,
        "/api/v1/orders".to_owned(),
        Some(key),
        json!({
            "point_of_sale": info["points_of_sale"]["internet"],
            "contact": info["contacts"]["karin"],
            "currency": "EUR",
            "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 2, "unit_amount_minor": 1800,
                       "event": info["events"][0]}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        }),
    )
    .await;
    assert_eq!(status, 201, "{order:#}");
    let t = str_field(&order, "/checkout_token").to_owned();
    let steps = [
        (
            reqwest::Method::POST,
            "/codes",
            json!({"code": "NOUVEAUX-VENUS"}),
            "/checkout/order/amount_due_minor",
            3420,
        ),
        (
            reqwest::Method::POST,
            "/codes",
            json!({"code": info["vouchers"][0]["code"]}),
            "/checkout/order/amount_due_minor",
            1420,
        ),
        (
            reqwest::Method::PUT,
            "/credit-balance",
            json!({"amount_minor": 1000}),
            "/order/amount_due_minor",
            420,
        ),
        (
            reqwest::Method::POST,
            "/pay",
            json!({"means": "deferred_account", "accept_terms": true}),
            "/order/amount_due_minor",
            0,
        ),
    ];
    for (method, suffix, body, pointer, due) in steps {
        let (status, out) = send(method, format!("/api/v1/checkout/{t}{suffix}"), None, body).await;
        assert_eq!(status, 200, "{suffix}: {out:#}");
        assert_eq!(i64_field(&out, pointer), due, "{suffix}: {out:#}");
    }
    // The demo's job runner delivers the webhook within a few seconds.
    let mut page = String::new();
    for _ in 0..150 {
        page = client
            .get(format!("{base}/demo/webhook-receiver"))
            .send()
            .await
            .expect("receiver page")
            .text()
            .await
            .expect("page text");
        if page.contains("order.paid") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        page.contains("order.paid"),
        "the receiver page shows no order.paid:\n{page}"
    );
    assert!(
        page.contains("class=\"yes\"") && !page.contains("class=\"no\""),
        "the delivery's signature must verify:\n{page}"
    );

    // A second order paid by card through the demo's built-in provider simulator: the card
    // fields go to the simulator's card form, never to Guichet.
    let sim = str_field(&info, "/psp_sim_url").to_owned();
    let (status, order) = send(
        reqwest::Method::POST,
        "/api/v1/orders".to_owned(),
        Some(str_field(&info, "/shop_api_key").to_owned()),
        json!({
            "point_of_sale": info["points_of_sale"]["internet"],
            "contact": info["contacts"]["anne"],
            "currency": "EUR",
            "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 1, "unit_amount_minor": 2400,
                       "event": info["events"][2]}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        }),
    )
    .await;
    assert_eq!(status, 201, "{order:#}");
    let t = str_field(&order, "/checkout_token").to_owned();
    let (status, summary) = send(
        reqwest::Method::GET,
        format!("/api/v1/checkout/{t}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{summary:#}");
    let form_url = str_field(&summary, "/means/card_form/url").to_owned();
    assert!(form_url.starts_with(&sim), "{form_url}");
    let mut fields: Vec<(String, String)> = summary["means"]["card_form"]["fields"]
        .as_object()
        .expect("card form fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    for (k, v) in [
        ("CN", "Anne Licatese"),
        ("CARDNO", "4111111111111111"),
        ("ED", "1230"),
        ("CVC", "123"),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = browser
        .post(&form_url)
        .form(&fields)
        .send()
        .await
        .expect("card form");
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let alias_return = location.split_once('?').expect("query").1.to_owned();
    let (status, paid) = send(
        reqwest::Method::POST,
        format!("/api/v1/checkout/{t}/pay"),
        None,
        json!({"means": "card", "accept_terms": true, "card_alias_return": alias_return}),
    )
    .await;
    assert_eq!(status, 200, "{paid:#}");
    assert_eq!(paid["status"], "paid", "{paid:#}");
}

/// Whether `needle` occurs in `haystack`.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_database_holds_no_provider_secret_in_clear() {
    let dir = TempDir::new("secrets");
    seed_demo(&dir).await;

    let mut bytes = Vec::new();
    let mut scanned = Vec::new();
    for name in ["guichet.db", "guichet.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            scanned.push(format!("{name} ({} bytes)", b.len()));
            bytes.extend_from_slice(&b);
        }
    }
    assert!(
        scanned.iter().any(|s| s.starts_with("guichet.db ")),
        "no guichet.db in {}",
        dir.path().display()
    );
    // The scan reads the data: the merchant id, not a secret, is there in clear.
    assert!(
        contains_bytes(&bytes, b"GUICHETTEST"),
        "the merchant id GUICHETTEST is not found in {scanned:?}: the scan misses the data"
    );
    for secret in DEMO_SECRETS {
        assert!(
            !contains_bytes(&bytes, secret.as_bytes()),
            "provider secret {secret:?} stored in clear in {scanned:?}"
        );
    }
}

async fn audit(dir: &TempDir, database_url: &str, name: &str) -> Finished {
    let mut cmd = guichet(dir.path(), &["audit", "--database-url", database_url]);
    cmd.env("GUICHET_MASTER_KEY_FILE", dir.join("master.key"));
    run(cmd, dir.path(), name, Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_is_clean_on_the_demo_and_names_a_tampered_account() {
    let dir = TempDir::new("audit");
    let info = seed_demo(&dir).await;
    let database_url = str_field(&info, "/database_url").to_owned();

    let clean = audit(&dir, &database_url, "audit-clean").await;
    assert_eq!(clean.status.code(), Some(0), "{}", clean.describe());
    assert!(
        clean.stdout.contains("0 differences"),
        "{}",
        clean.describe()
    );

    // Alter one ledger entry behind the service's back.
    let mut conn = sqlx::SqliteConnection::connect(&database_url)
        .await
        .unwrap_or_else(|e| panic!("open {database_url}: {e}"));
    let (entry_id, account_id): (Vec<u8>, Uuid) =
        sqlx::query_as("SELECT id, account_id FROM ledger_entries LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .expect("the demo has ledger entries");
    let changed =
        sqlx::query("UPDATE ledger_entries SET amount_minor = amount_minor + 1 WHERE id = ?")
            .bind(&entry_id)
            .execute(&mut conn)
            .await
            .expect("update a ledger entry")
            .rows_affected();
    assert_eq!(changed, 1);
    conn.close().await.expect("close SQLite");

    let tampered = audit(&dir, &database_url, "audit-tampered").await;
    assert_eq!(tampered.status.code(), Some(1), "{}", tampered.describe());
    let account = account_id.hyphenated().to_string();
    let named = tampered
        .stdout
        .lines()
        .any(|l| l.contains("DIFFERENCE") && l.contains(&account));
    assert!(
        named,
        "the report does not name account {account} on a DIFFERENCE line\n{}",
        tampered.describe()
    );
    assert!(
        !tampered.stdout.contains(" 0 differences"),
        "{}",
        tampered.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_start_together_on_one_empty_postgres() {
    let Some(base) = pg_url() else {
        assert!(
            std::env::var("GUICHET_REQUIRE_PG").as_deref() != Ok("1"),
            "GUICHET_REQUIRE_PG=1 but GUICHET_TEST_PG_URL is not set"
        );
        println!("SKIPPED: GUICHET_TEST_PG_URL not set");
        return;
    };
    let url = fresh_pg_url(&base).await;
    let dir = TempDir::new("pg");
    let ports = [free_port(), free_port()];
    assert_ne!(ports[0], ports[1]);

    // Both spawned before either is waited on.
    let mut servers: Vec<Running> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let listen = format!("127.0.0.1:{port}");
            let mut cmd = guichet(
                dir.path(),
                &[
                    "--log-format",
                    "json",
                    "serve",
                    "--database-url",
                    &url,
                    "--listen",
                    &listen,
                ],
            );
            cmd.env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY);
            Running::spawn(cmd, dir.path(), &format!("serve-{i}"))
        })
        .collect();

    let client = http();
    for (server, port) in servers.iter_mut().zip(ports) {
        let health = wait_healthy(&client, &format!("http://127.0.0.1:{port}"), server, 600).await;
        assert_eq!(health, json!({"status": "ok"}));
    }
    for server in &mut servers {
        server.assert_running();
    }

    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, COUNT(*) FROM _sqlx_migrations GROUP BY version ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read _sqlx_migrations");
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(&mut conn)
        .await
        .expect("read _sqlx_migrations");
    let _ = conn.close().await;

    for (version, count) in &rows {
        assert_eq!(*count, 1, "migration {version} recorded {count} times");
    }
    assert_eq!(failed, 0, "failed migrations recorded");
    let expected = migration_files("postgres");
    assert_eq!(
        rows.len(),
        expected,
        "versions recorded {rows:?}, migration files {expected}"
    );
    // What each instance says it applied. Not asserted: `Store::migrate` counts the versions
    // before taking sqlx's migration lock, so when both start together both report the
    // migrations as applied by themselves (seen: [1, 1]); the table above is the proof.
    let applied: Vec<u64> = servers
        .iter()
        .map(|s| {
            applied_in_log(&s.stderr()).unwrap_or_else(|| {
                panic!("{}: no `database ready` log line:\n{}", s.name, s.stderr())
            })
        })
        .collect();
    println!(
        "FIGURE {} instances healthy, {} migrations recorded once each (reported applied per instance: {applied:?})",
        servers.len(),
        rows.len()
    );
}

/// The `applied` field of the `database ready` JSON log line.
fn applied_in_log(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.pointer("/fields/message") == Some(&json!("database ready")))
        .and_then(|v| v.pointer("/fields/applied").and_then(Value::as_u64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_command_applies_and_is_idempotent() {
    let dir = TempDir::new("migrate");
    let database_url = format!("sqlite://{}", dir.join("x.db").display());
    let expected = migration_files("sqlite");

    for (round, applied) in [(1, expected as u64), (2, 0)] {
        let mut cmd = guichet(
            dir.path(),
            &[
                "--log-format",
                "json",
                "migrate",
                "--database-url",
                &database_url,
            ],
        );
        cmd.env("GUICHET_MASTER_KEY", FIXED_MASTER_KEY);
        let done = run(
            cmd,
            dir.path(),
            &format!("migrate-{round}"),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(done.status.code(), Some(0), "{}", done.describe());
        assert_eq!(
            applied_in_log(&done.stderr),
            Some(applied),
            "run {round}: migrations applied\n{}",
            done.describe()
        );
    }

    let mut conn = sqlx::SqliteConnection::connect(&database_url)
        .await
        .unwrap_or_else(|e| panic!("open {database_url}: {e}"));
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, COUNT(*) FROM _sqlx_migrations WHERE success GROUP BY version",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read _sqlx_migrations");
    let _ = conn.close().await;
    assert!(rows.iter().all(|(_, n)| *n == 1), "{rows:?}");
    assert_eq!(rows.len(), expected, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_without_a_master_key() {
    let dir = TempDir::new("nokey");
    let database_url = format!("sqlite://{}", dir.join("x.db").display());
    let mut cmd = guichet(
        dir.path(),
        &[
            "serve",
            "--database-url",
            &database_url,
            "--listen",
            "127.0.0.1:0",
        ],
    );
    cmd.env("GUICHET_MASTER_KEY_FILE", dir.join("missing.key"));
    let done = run(cmd, dir.path(), "serve-nokey", Duration::from_secs(30)).await;
    assert!(!done.status.success(), "{}", done.describe());
    assert!(
        done.stderr.to_lowercase().contains("master key"),
        "{}",
        done.describe()
    );
}

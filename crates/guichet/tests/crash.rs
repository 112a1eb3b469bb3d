//! Crash proof (PROOFS.md; issue 4): Guichet killed with SIGKILL at each step of a card
//! checkout and of a card refund, restarted, the recovery job run; then every capture and
//! refund the provider holds matches exactly one ledger movement on the provider clearing
//! account, and the reverse.
//!
//! Three processes, as in production: `guichet psp-sim` (the provider, never restarted),
//! `guichet serve` (armed with `GUICHET_CRASH_AT=<point>`, it stops at that point and prints
//! `GUICHET_CRASH_POINT <point>`; the test then kills it with SIGKILL) and `guichet jobs --once
//! --now <later>` for the recovery. The database is the demo's SQLite file.

mod support;

use serde_json::{Value, json};
use sqlx::{Connection as _, Row as _};
use std::time::Duration;
use support::*;

/// Waits until the server reports it stopped at `point`, then kills it with SIGKILL.
async fn kill_at(mut serve: Running, point: &str) {
    let marker = format!("GUICHET_CRASH_POINT {point}");
    for _ in 0..300 {
        if serve.stderr().contains(&marker) {
            // `Child::kill` sends SIGKILL on Unix.
            serve.child.kill().expect("SIGKILL");
            serve.child.wait().expect("reap");
            return;
        }
        serve.assert_running();
        tokio::time::sleep(POLL).await;
    }
    panic!("{} never reached {point}\n{}", serve.name, serve.stderr());
}

/// (reference, "capture" | "refund", amount) for every movement the simulator holds.
async fn provider_movements(client: &reqwest::Client, info: &Value) -> Vec<(String, String, i64)> {
    let sim = str_field(info, "/psp_sim_url");
    let (status, txs) = get_json(client, &format!("{sim}/__sim/transactions"), None).await;
    assert_eq!(status, 200);
    let mut out = Vec::new();
    for t in txs.as_array().expect("transactions") {
        let reference = t["reference"].as_str().unwrap_or_default().to_owned();
        let captured = t["captured_minor"].as_i64().unwrap_or(0);
        if captured > 0 {
            out.push((reference.clone(), "capture".to_owned(), captured));
        }
        for r in t["refunds"].as_array().into_iter().flatten() {
            out.push((
                reference.clone(),
                "refund".to_owned(),
                r["amount_minor"].as_i64().expect("refund amount"),
            ));
        }
    }
    out.sort();
    out
}

/// The same, from the ledger: every entry on a provider clearing account (a debit is money
/// the provider took for us, a credit money it gave back), named by the order's captured card
/// payment. Also returns how many clearing entries there are in all.
async fn ledger_movements(dir: &TempDir) -> (Vec<(String, String, i64)>, i64) {
    let url = format!("sqlite://{}", dir.join("guichet.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    let rows = sqlx::query(
        "SELECT p.reference, e.side, e.amount_minor FROM ledger_entries e \
         JOIN ledger_accounts a ON a.id = e.account_id \
         JOIN ledger_transactions t ON t.id = e.transaction_id \
         JOIN card_payments p ON p.order_id = t.order_id AND p.status = 'captured' \
         WHERE a.kind = 'provider_clearing'",
    )
    .fetch_all(&mut db)
    .await
    .expect("ledger movements");
    let mut out: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            let side: String = r.get(1);
            let kind = if side == "debit" { "capture" } else { "refund" };
            (r.get(0), kind.to_owned(), r.get(2))
        })
        .collect();
    out.sort();
    let all: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE a.kind = 'provider_clearing'",
    )
    .fetch_one(&mut db)
    .await
    .expect("count");
    let open: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM card_payments WHERE status IN ('pending_provider', 'awaiting_3ds')) \
              + (SELECT COUNT(*) FROM refunds WHERE status = 'pending_provider')",
    )
    .fetch_one(&mut db)
    .await
    .expect("open count");
    assert_eq!(open, 0, "payments or refunds left pending after recovery");
    (out, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_each_step_of_a_card_checkout_and_refund_then_recovery_reconciles() {
    let dir = TempDir::new("crash");
    let info = seed_demo(&dir).await;
    let client = http();
    let _sim = start_simulator(&dir, &info);
    let mut runs = 0;

    // Card checkout: a crash at each step, then a restart and one recovery pass.
    let mut paid_order = None;
    for (point, recovered, paid) in [
        ("card.before_call", 1, false),
        ("card.after_provider", 1, true),
        ("card.before_commit", 1, true),
        ("card.after_commit", 0, true),
    ] {
        runs += 1;
        let (serve, base) = start_serve(&dir, &client, Some(point), runs).await;
        let (id, token) = new_order(&client, &base, &info).await;
        let alias = card_return(&client, &base, &token).await;
        let url = format!("{base}/api/v1/checkout/{token}/pay");
        let paying = {
            let client = client.clone();
            let body = pay_body(&alias);
            tokio::spawn(async move { client.post(url).json(&body).send().await })
        };
        kill_at(serve, point).await;
        let reply = paying.await.expect("join");
        assert!(
            reply.is_err(),
            "{point}: the buyer got an answer from a killed server: {reply:?}"
        );

        runs += 1;
        let (_serve, base) = start_serve(&dir, &client, None, runs).await;
        assert_eq!(
            recover(&dir, &format!("jobs-{point}")).await,
            recovered,
            "{point}: payments settled by the recovery pass"
        );
        let order = order_of(&client, &base, &info, &id).await;
        let payments: Vec<Value> = order["legs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("card").cloned())
            .collect();
        if paid {
            assert_eq!(order["status"], "paid", "{point}: {order:#}");
            assert_eq!(order["amount_due_minor"], 0, "{point}: {order:#}");
            paid_order = Some(id.clone());
        } else {
            // Never reached the provider: the card leg is closed, the order can be paid again.
            assert_eq!(order["status"], "awaiting_payment", "{point}: {order:#}");
            assert!(
                !payments.is_empty() && payments.iter().all(|p| p["status"] == "failed"),
                "{point}: {order:#}"
            );
            let alias = card_return(&client, &base, &token).await;
            let (status, out) = send(
                &client,
                reqwest::Method::POST,
                format!("{base}/api/v1/checkout/{token}/pay"),
                None,
                pay_body(&alias),
            )
            .await;
            assert_eq!(status, 200, "{point}: {out:#}");
            assert_eq!(out["status"], "paid", "{point}: {out:#}");
        }
    }

    // Card refunds of 5.00 on a paid order: a crash at each step.
    let id = paid_order.expect("a paid order");
    for (point, status) in [
        ("refund.before_call", "failed"),
        ("refund.after_provider", "succeeded"),
        ("refund.before_commit", "succeeded"),
    ] {
        runs += 1;
        let (serve, base) = start_serve(&dir, &client, Some(point), runs).await;
        let refunding = {
            let client = client.clone();
            let key = str_field(&info, "/shop_api_key").to_owned();
            let url = format!("{base}/api/v1/orders/{id}/refunds");
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({"amount_minor": 500, "destination": "card"}))
                    .send()
                    .await
            })
        };
        kill_at(serve, point).await;
        assert!(refunding.await.expect("join").is_err(), "{point}");

        runs += 1;
        let (_serve, base) = start_serve(&dir, &client, None, runs).await;
        assert_eq!(recover(&dir, &format!("jobs-{point}")).await, 1, "{point}");
        let order = order_of(&client, &base, &info, &id).await;
        let refunds = order["refunds"].as_array().cloned().unwrap_or_default();
        let last = refunds
            .last()
            .unwrap_or_else(|| panic!("{point}: {order:#}"));
        assert_eq!(last["status"], status, "{point}: {order:#}");
    }

    // The rest of the order refunded without a crash: 24.00 − 2 × 5.00.
    runs += 1;
    let (_serve, base) = start_serve(&dir, &client, None, runs).await;
    let (status, out) = send(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/orders/{id}/refunds"),
        Some(str_field(&info, "/shop_api_key")),
        json!({"amount_minor": 1400, "destination": "card"}),
    )
    .await;
    assert_eq!(status, 201, "{out:#}");

    // Reconciliation: the provider's captures and refunds, one for one with the ledger's.
    let provider = provider_movements(&client, &info).await;
    let (ledger, clearing_entries) = ledger_movements(&dir).await;
    assert_eq!(
        provider.iter().filter(|m| m.1 == "capture").count(),
        4,
        "{provider:?}"
    );
    assert_eq!(
        provider.iter().filter(|m| m.1 == "refund").count(),
        3,
        "{provider:?}"
    );
    assert_eq!(
        provider, ledger,
        "provider movements (left) against ledger movements (right)"
    );
    assert_eq!(
        clearing_entries as usize,
        ledger.len(),
        "a clearing entry without a captured payment"
    );
    println!(
        "FIGURE crash proof: {} provider movements, {} ledger movements, matched one for one",
        provider.len(),
        ledger.len()
    );

    let mut args = vec!["audit".to_owned()];
    args.extend(db_args(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let audit = run(
        guichet(dir.path(), &args),
        dir.path(),
        "audit",
        Duration::from_secs(60),
    )
    .await;
    assert!(audit.status.success(), "{}", audit.describe());
}

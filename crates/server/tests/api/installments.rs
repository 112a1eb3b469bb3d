//! Payment in installments (issue 5, SPEC F10, F15): plans of the back office, eligibility and
//! schedules offered at checkout, the first installment paid at checkout with a card that is
//! kept, the next ones charged by the job runner on their due dates (once each), a card that
//! starts declining retried on the configured schedule then flagged failed with its webhook.

use crate::cards::{CardEnv, card_env};
use crate::helpers::TestApp;
use crate::on_both_with;
use crate::saved_cards::{NEW_CARD, pay, post_form, summary};
use guichet_domain::{AccountKind, Currency};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

pub fn retries(c: &mut guichet_server::ServerConfig) {
    c.installment_retry_hours = vec![1, 2];
}

/// A plan at the shop's point of sale, through the back office.
async fn plan(
    env: &CardEnv,
    name: &str,
    split: Value,
    interval: Value,
    min: i64,
    mode: &str,
) -> String {
    let (status, p) = env
        .app
        .call(
            Method::POST,
            "/api/v1/admin/installment-plans",
            Some(&env.app.admin),
            Some(json!({
                "point_of_sale_id": env.shop.t.pos,
                "name": name,
                "count": 3,
                "split": split,
                "interval": interval,
                "min_amount": {"amount_minor": min, "currency": "EUR"},
                "mode": mode
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

/// Karin's order of `amount` for an event `days` ahead; returns it and its checkout token.
async fn order_for_event(env: &CardEnv, amount: i64, days: i64) -> (Value, String) {
    let starts = (OffsetDateTime::now_utc() + Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({
        "point_of_sale": env.shop.t.pos,
        "contact": env.shop.karin,
        "currency": "EUR",
        "language": "fr",
        "lines": [{"kind": "ticket", "label": "Cyrano", "quantity": 1, "unit_amount_minor": amount,
                   "event": {"id": "EV-9", "name": "Cyrano", "starts_at": starts}}],
        "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
    });
    let (status, created) = env
        .app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&env.shop.key),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["checkout_token"].as_str().unwrap().to_owned();
    (created, token)
}

/// The plans a checkout offers: name → the schedule's amounts.
async fn offered(env: &CardEnv, token: &str) -> Vec<(String, Vec<i64>)> {
    let s = summary(env, token).await;
    s["means"]["installment_plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["schedule"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["amount"]["amount_minor"].as_i64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

fn names(offers: &[(String, Vec<i64>)]) -> Vec<&str> {
    offers.iter().map(|(n, _)| n.as_str()).collect()
}

/// Below the minimum → not offered; restrictive with an event in 20 days and 3 monthly
/// installments → not offered, free → offered; restrictive with an event in 100 days →
/// offered. Schedules add up exactly (100.00 in 3 → 33.34, 33.33, 33.33; 50/25/25).
async fn eligibility_and_schedules(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    plan(
        &env,
        "3x restrictive",
        json!("equal"),
        json!("monthly"),
        5000,
        "restrictive",
    )
    .await;
    plan(
        &env,
        "3x free",
        json!("equal"),
        json!("monthly"),
        5000,
        "free",
    )
    .await;
    plan(
        &env,
        "50/25/25",
        json!([50, 25, 25]),
        json!({"days": 30}),
        0,
        "free",
    )
    .await;

    let (_, token) = order_for_event(&env, 3000, 100).await;
    assert_eq!(
        names(&offered(&env, &token).await),
        ["50/25/25"],
        "below the minimum"
    );

    let (_, token) = order_for_event(&env, 10000, 20).await;
    let offers = offered(&env, &token).await;
    assert_eq!(
        names(&offers),
        ["3x free", "50/25/25"],
        "an event in 20 days"
    );
    assert_eq!(offers[0].1, [3334, 3333, 3333]);
    assert_eq!(offers[1].1, [5000, 2500, 2500]);

    let (_, token) = order_for_event(&env, 10000, 100).await;
    let mut offers = names(&offered(&env, &token).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    offers.sort();
    assert_eq!(
        offers,
        ["3x free", "3x restrictive", "50/25/25"],
        "an event in 100 days"
    );

    // A plan not offered for the order is refused at payment, nothing written.
    let (created, token) = order_for_event(&env, 10000, 20).await;
    let s = summary(&env, &token).await;
    let restrictive = {
        let (_, list) = env.app.admin_get("/api/v1/admin/installment-plans").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "3x restrictive")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ret = post_form(&env, &s["means"]["card_form_save"], NEW_CARD).await;
    let (status, e) = pay(
        &env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret, "installment_plan": restrictive}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "installment_plan_not_offered");
    assert!(
        env.order(&created).await["legs"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The back office refuses a split that does not add up.
    let (status, e) = env
        .app
        .call(
            Method::POST,
            "/api/v1/admin/installment-plans",
            Some(&env.app.admin),
            Some(
                json!({"point_of_sale_id": env.shop.t.pos, "name": "bad", "count": 3,
                        "split": [50, 25, 15], "interval": "monthly",
                        "min_amount": {"amount_minor": 0, "currency": "EUR"}, "mode": "free"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}
on_both_with!(eligibility_and_schedules, crate::helpers::default_config);

/// One pass of the job runner at `at`, as `guichet jobs --once --now` runs it.
async fn jobs_at(env: &CardEnv, at: OffsetDateTime) -> usize {
    let mut config = guichet_server::ServerConfig::new(env.app.base.clone());
    retries(&mut config);
    let state = guichet_server::AppState {
        store: env.app.store.clone(),
        config: std::sync::Arc::new(config),
    };
    let client = reqwest::Client::new();
    guichet_server::jobs::run_once(&state, &client, at)
        .await
        .installments_charged
}

async fn balance(env: &CardEnv, kind: AccountKind, owner: &str) -> i64 {
    env.app
        .store
        .ledger_account(
            env.shop.t.institution.parse().unwrap(),
            kind,
            owner.parse().unwrap(),
            Currency::EUR,
        )
        .await
        .unwrap()
        .balance
        .amount_minor()
}

fn statuses(order: &Value) -> Vec<String> {
    order["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The due date of installment `n` of an order, at 09:00 UTC that day.
fn due(order: &Value, n: usize) -> OffsetDateTime {
    let text = order["installments"][n - 1]["due_on"].as_str().unwrap();
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    date.with_hms(9, 0, 0).unwrap().assume_utc()
}

/// Karin pays `amount` in 3 with a new card (kept for the later installments).
async fn pay_in_three(env: &CardEnv, plan_id: &str, card: &[(&str, &str)]) -> Value {
    let (created, token) = order_for_event(env, 10000, 120).await;
    let s = summary(env, &token).await;
    let ret = post_form(env, &s["means"]["card_form_save"], card).await;
    let (status, out) = pay(
        env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret, "installment_plan": plan_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    env.order(&created).await
}

/// Each installment charged once on its due date; a card that starts declining at the second
/// installment is retried (1 h, then 2 h later), then flagged failed with `installment.failed`
/// and listed by the back office. Ledger: clearing = what the provider captured; each order's
/// receivable = what is still owed; audit clean.
async fn installments_charged_on_their_due_dates(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let plan_id = plan(&env, "3x", json!("equal"), json!("monthly"), 5000, "free").await;
    let good = pay_in_three(&env, &plan_id, NEW_CARD).await;
    let order_id = good["id"].as_str().unwrap().to_owned();
    assert_eq!(statuses(&good), ["paid", "open", "open"], "{good}");
    let amounts: Vec<i64> = good["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount"]["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3334, 3333, 3333]);
    assert_eq!(
        balance(&env, AccountKind::InstallmentsReceivable, &order_id).await,
        6666
    );
    assert_eq!(
        balance(&env, AccountKind::ProviderClearing, &env.shop.t.channel).await,
        3334
    );

    // A second buyer card (Mastercard) that will decline from the second installment on.
    let mastercard: &[(&str, &str)] = &[
        ("CN", "Karin Deu"),
        ("CARDNO", "5399999999999999"),
        ("ED", "1230"),
        ("CVC", "123"),
    ];
    let bad = pay_in_three(&env, &plan_id, mastercard).await;
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let bad_alias = env.sim_transactions().await.last().unwrap()["alias"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = env
        .browser
        .post(format!("{}/__sim/aliases/{bad_alias}/behaviour", env.sim))
        .json(&json!({"behaviour": "decline"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    // Nothing is due today.
    assert_eq!(jobs_at(&env, OffsetDateTime::now_utc()).await, 0);
    // The second due date: both charged, once; again at the same time: nothing.
    let t2 = due(&good, 2);
    assert_eq!(jobs_at(&env, t2).await, 2);
    assert_eq!(jobs_at(&env, t2).await, 0);
    let good = env.order(&good).await;
    assert_eq!(statuses(&good), ["paid", "paid", "open"]);
    let last = env.sim_transactions().await;
    let mit: Vec<&Value> = last.iter().filter(|t| t["eci"] == "9").collect();
    assert_eq!(mit.len(), 2, "two merchant-initiated charges: {last:?}");
    let bad_now = env.order(&bad).await;
    assert_eq!(statuses(&bad_now), ["paid", "open", "open"]);
    assert_eq!(bad_now["installments"][1]["attempts"], 1);
    // Retried an hour later, then two hours after that: failed.
    assert_eq!(
        jobs_at(&env, t2 + Duration::minutes(30)).await,
        0,
        "not yet"
    );
    assert_eq!(jobs_at(&env, t2 + Duration::hours(1)).await, 1);
    assert_eq!(jobs_at(&env, t2 + Duration::hours(3)).await, 1);
    let bad_now = env.order(&bad).await;
    assert_eq!(statuses(&bad_now), ["paid", "failed", "open"], "{bad_now}");
    assert_eq!(bad_now["installments"][1]["attempts"], 3);
    assert_eq!(
        jobs_at(&env, t2 + Duration::hours(10)).await,
        0,
        "a failed one rests"
    );

    // The third due date: the good card pays its last; the bad one declines again.
    let t3 = due(&good, 3);
    assert_eq!(jobs_at(&env, t3).await, 2);
    let good = env.order(&good).await;
    assert_eq!(statuses(&good), ["paid", "paid", "paid"]);
    assert_eq!(
        balance(&env, AccountKind::InstallmentsReceivable, &order_id).await,
        0
    );
    assert_eq!(
        balance(&env, AccountKind::InstallmentsReceivable, &bad_id).await,
        6666
    );
    assert_eq!(
        balance(&env, AccountKind::ProviderClearing, &env.shop.t.channel).await,
        10000 + 3334
    );

    // The back office's follow-up and the shop's webhooks.
    let (status, failed) = env
        .app
        .admin_get("/api/v1/admin/installments?status=failed")
        .await;
    assert_eq!(status, StatusCode::OK);
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["order_id"], bad_id.as_str());
    assert_eq!(failed[0]["number"], 2);
    let (_, events) = env
        .app
        .admin_get("/api/v1/admin/webhook-events?limit=100")
        .await;
    let count = |t: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == t)
            .count()
    };
    assert_eq!(
        count("installment.paid"),
        2,
        "the later two of the good card"
    );
    assert_eq!(count("installment.failed"), 1);
    env.app.audit_clean().await;
}
on_both_with!(installments_charged_on_their_due_dates, super::retries);

/// Two job runners, each with its own connection pool on one PostgreSQL database, over 1,001
/// due installments (91 orders in 12): each installment is charged exactly once — one
/// merchant-initiated capture at the provider per installment, every installment paid, every
/// receivable back to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_charge_each_due_installment_once_postgres() {
    let Some((app, second)) =
        TestApp::postgres_with_second_store(crate::helpers::default_config).await
    else {
        return;
    };
    let env = card_env(app, "never", 0).await;
    let (status, p) = env
        .app
        .call(
            Method::POST,
            "/api/v1/admin/installment-plans",
            Some(&env.app.admin),
            Some(
                json!({"point_of_sale_id": env.shop.t.pos, "name": "12x", "count": 12,
                        "split": "equal", "interval": "monthly",
                        "min_amount": {"amount_minor": 0, "currency": "EUR"}, "mode": "free"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let plan_id = p["id"].as_str().unwrap().to_owned();
    let mut orders = Vec::new();
    for _ in 0..91 {
        let (created, token) = order_for_event(&env, 12000, 400).await;
        let s = summary(&env, &token).await;
        let form = if s["means"]["saved_cards"].as_array().unwrap().is_empty() {
            s["means"]["card_form_save"].clone()
        } else {
            Value::Null
        };
        let body = if form.is_null() {
            // The card saved by the first order, without its CVV (policy below).
            json!({"means": "saved_card", "accept_terms": true, "installment_plan": plan_id,
                   "saved_card": s["means"]["saved_cards"][0]["id"]})
        } else {
            let ret = post_form(&env, &form, NEW_CARD).await;
            crate::saved_cards::policy(&env, true, false).await;
            json!({"means": "card", "accept_terms": true, "card_alias_return": ret,
                   "installment_plan": plan_id})
        };
        let (status, out) = pay(&env, &token, body).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["status"], "paid", "{out}");
        orders.push(created);
    }
    let last = env.order(&orders[0]).await;
    let at = due(&last, 12);
    let runner = |store: guichet_store::DynStore| {
        let base = env.app.base.clone();
        async move {
            let state = guichet_server::AppState {
                store,
                config: std::sync::Arc::new(guichet_server::ServerConfig::new(base)),
            };
            guichet_server::jobs::run_once(&state, &reqwest::Client::new(), at)
                .await
                .installments_charged
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(runner(env.app.store.clone())),
        tokio::spawn(runner(second))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a > 0 && b > 0, "both runners took part: {a} and {b}");
    let mit: Vec<Value> = env
        .sim_transactions()
        .await
        .into_iter()
        .filter(|t| t["eci"] == "9")
        .collect();
    let mut references: Vec<&str> = mit
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    references.sort_unstable();
    references.dedup();
    let mut paid = 0;
    let mut payments = std::collections::HashSet::new();
    for o in &orders {
        let order = env.order(o).await;
        for i in order["installments"].as_array().unwrap() {
            assert_eq!(i["status"], "paid", "{order}");
            paid += 1;
        }
        let id = order["id"].as_str().unwrap();
        assert_eq!(
            balance(&env, AccountKind::InstallmentsReceivable, id).await,
            0
        );
    }
    for o in &orders {
        for p in env
            .app
            .store
            .card_payments_of_order(o["id"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap()
        {
            if let Some(inst) = p.installment_id {
                assert!(payments.insert(inst), "installment {inst} charged twice");
            }
        }
    }
    println!(
        "FIGURE two runners: {} due installments; runner A charged {a}, runner B {b}; {} merchant-initiated captures at the provider, {} distinct; {} installments paid",
        91 * 11,
        mit.len(),
        references.len(),
        paid - 91
    );
    assert_eq!(a + b, 1001);
    assert_eq!(mit.len(), 1001);
    assert_eq!(references.len(), 1001);
    assert_eq!(payments.len(), 1001);
    assert_eq!(paid, 91 * 12);
    env.app.audit_clean().await;
}

/// Refund of an installment order: what the installments collected is refundable (spread over
/// their payments, each refunded at the provider), the open ones are cancelled; never more
/// than was collected.
async fn refund_of_an_installment_order(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let plan_id = plan(&env, "3x", json!("equal"), json!("monthly"), 5000, "free").await;
    let order = pay_in_three(&env, &plan_id, NEW_CARD).await;
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(jobs_at(&env, due(&order, 2)).await, 1);
    let refund = |amount: i64| {
        let env = &env;
        let id = id.clone();
        async move {
            env.app
                .call(
                    Method::POST,
                    &format!("/api/v1/orders/{id}/refunds"),
                    Some(&env.shop.key),
                    Some(json!({"amount_minor": amount, "destination": "card"})),
                )
                .await
        }
    };
    // Collected 33.34 + 33.33: 70.00 is too much, and nothing changes.
    let (status, e) = refund(7000).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(statuses(&env.order(&order).await), ["paid", "paid", "open"]);

    let (status, r) = refund(5000).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let now = env.order(&order).await;
    assert_eq!(statuses(&now), ["paid", "paid", "cancelled"], "{now}");
    let refunds: Vec<(i64, String)> = now["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["amount_minor"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refunds,
        [
            (3334, "succeeded".to_owned()),
            (1666, "succeeded".to_owned())
        ]
    );
    assert_eq!(
        balance(&env, AccountKind::InstallmentsReceivable, &id).await,
        0
    );
    assert_eq!(
        balance(&env, AccountKind::ProviderClearing, &env.shop.t.channel).await,
        6667 - 5000
    );
    // The rest, then nothing more.
    let (status, r) = refund(1667).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, _) = refund(1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        balance(&env, AccountKind::ProviderClearing, &env.shop.t.channel).await,
        0
    );
    // The cancelled installment is never charged.
    assert_eq!(jobs_at(&env, due(&order, 3)).await, 0);
    let refunded: i64 = env
        .sim_transactions()
        .await
        .iter()
        .flat_map(|t| t["refunds"].as_array().cloned().unwrap_or_default())
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(refunded, 6667, "the provider refunded what the ledger says");
    env.app.audit_clean().await;
}
on_both_with!(
    refund_of_an_installment_order,
    crate::helpers::default_config
);

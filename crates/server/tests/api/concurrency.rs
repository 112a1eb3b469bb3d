//! Concurrency proofs (PROOFS.md "Concurrency"; issue 3's acceptance): many identical or
//! competing requests fired at once through the real router, on SQLite (one instance) and on
//! PostgreSQL with two server instances sharing the database (requests alternate between them).
//! Each test prints its figures.

use crate::helpers::{Http, Reply, TestApp, id, order_body};
use crate::on_both_instances;
use guichet_domain::AccountKind;
use guichet_domain::promo::PromoKind;
use guichet_store::{HoldStatus, LegKind, OrderStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Runs `n` futures as tasks released together (a barrier), so that they really race;
/// returns their outputs in index order.
async fn all_at_once<T, F, Fut>(n: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut set = JoinSet::new();
    for i in 0..n {
        let fut = make(i);
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            (i, fut.await)
        });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, value) = joined.expect("a request task panicked");
        out[i] = Some(value);
    }
    out.into_iter()
        .map(|v| v.expect("every task answered"))
        .collect()
}

/// How many replies had each (status, error code).
fn tally(replies: &[Reply]) -> BTreeMap<(u16, String), usize> {
    let mut t = BTreeMap::new();
    for r in replies {
        *t.entry((r.status.as_u16(), r.code().to_owned()))
            .or_insert(0) += 1;
    }
    t
}

/// The app and its second instance (the same one on SQLite), taking requests in turn.
#[derive(Clone)]
struct Instances {
    each: Vec<Http>,
}

impl Instances {
    fn new(app: &TestApp, peer: Http) -> Instances {
        let mut each = vec![app.http()];
        if peer.base != app.base {
            each.push(peer);
        }
        Instances { each }
    }

    /// The instance that serves request `i`.
    fn of(&self, i: usize) -> Http {
        self.each[i % self.each.len()].clone()
    }

    fn count(&self) -> usize {
        self.each.len()
    }
}

/// `n` orders created at once through the shop API; returns (order id, checkout token).
async fn orders_at_once(
    servers: &Instances,
    shop_key: &str,
    body: Value,
    n: usize,
) -> Vec<(String, String)> {
    let shop_key = Arc::new(shop_key.to_owned());
    all_at_once(n, |i| {
        let http = servers.of(i);
        let key = shop_key.clone();
        let body = body.clone();
        async move { http.order(&key, body).await }
    })
    .await
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

const IDENTICAL_PAYS: usize = 1000;

/// 1,000 identical `pay` requests with one Idempotency-Key → one charge, one ledger
/// transaction, identical responses; the same key with another body → refused, no charge.
async fn one_idempotency_key_one_effect(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    let karin: uuid::Uuid = shop.karin.parse().unwrap();
    let (created, token) = app.order(&shop, Some(&shop.karin), 1000).await;
    let order_id: uuid::Uuid = id(&created).parse().unwrap();
    let before = app.store.accounting_tab(karin).await.unwrap();
    let path = Arc::new(format!("/api/v1/checkout/{token}/pay"));
    let body = json!({"means": "deferred_account", "accept_terms": true});
    const KEY: &str = "pay-7c1e0f3a-one-key";

    let started = Instant::now();
    let replies = all_at_once(IDENTICAL_PAYS, |i| {
        let (http, path, body) = (servers.of(i), path.clone(), body.clone());
        async move {
            http.send(Method::POST, &path, None, Some(KEY), Some(body))
                .await
        }
    })
    .await;
    let burst = secs(started);

    let in_progress = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT && r.code() == "idempotency_in_progress")
        .count();
    let answered: Vec<&Reply> = replies
        .iter()
        .filter(|r| !(r.status == StatusCode::CONFLICT && r.code() == "idempotency_in_progress"))
        .collect();
    let first: Vec<&&Reply> = answered.iter().filter(|r| !r.replayed).collect();
    assert_eq!(
        first.len(),
        1,
        "exactly one request runs: {:?}",
        tally(&replies)
    );
    let first = (*first[0]).clone();
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["status"], "paid");
    let replayed = answered.len() - 1;
    for r in &answered {
        assert_eq!(r.status, first.status);
        assert_eq!(
            r.text, first.text,
            "a replay differs from the first response"
        );
    }
    // Clients told "still running" retry (all at once again): they get the stored response.
    let retried = replies.len() - answered.len();
    let again = all_at_once(retried, |i| {
        let (http, path, body) = (servers.of(i), path.clone(), body.clone());
        async move {
            http.send(Method::POST, &path, None, Some(KEY), Some(body))
                .await
        }
    })
    .await;
    for r in &again {
        assert!(r.replayed, "{} {}", r.status, r.text);
        assert_eq!(r.status, first.status);
        assert_eq!(
            r.text, first.text,
            "a replay differs from the first response"
        );
    }

    let after = app.store.accounting_tab(karin).await.unwrap();
    let moved = after.deferred_balance.amount_minor() - before.deferred_balance.amount_minor();
    assert_eq!(
        moved, 1000,
        "Karin's deferred balance moves by exactly 10.00"
    );
    assert_eq!(after.credit_balance, before.credit_balance);
    let history = app.store.contact_history(karin).await.unwrap();
    let commits: BTreeSet<_> = history
        .iter()
        .filter(|l| l.kind == "order_commit" && l.order_id == Some(order_id))
        .map(|l| l.transaction_id)
        .collect();
    let charges = history
        .iter()
        .filter(|l| l.account_kind == AccountKind::ContactDeferred && l.order_id == Some(order_id))
        .count();
    assert_eq!(commits.len(), 1, "one order_commit transaction");
    assert_eq!(charges, 1, "one deferred-account charge");
    let order = app.store.get_order(order_id).await.unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    let deferred_legs = order
        .legs
        .iter()
        .filter(|l| l.kind == LegKind::DeferredAccount)
        .count();
    assert_eq!(deferred_legs, 1);

    // The same key with another request: refused, nothing charged.
    let other = servers
        .of(1)
        .send(
            Method::POST,
            &path,
            None,
            Some(KEY),
            Some(json!({"means": "none", "accept_terms": true})),
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.code(), "idempotency_key_reused");
    let last = app.store.accounting_tab(karin).await.unwrap();
    assert_eq!(last.deferred_balance, after.deferred_balance);
    assert_eq!(
        app.store.contact_history(karin).await.unwrap().len(),
        history.len()
    );
    app.audit_clean().await;

    println!(
        "FIGURE [{backend}, {instances} instance(s)] {IDENTICAL_PAYS} pay requests, one key: 1 charge ({moved} minor on the deferred account), \
         {} ledger transaction, {IDENTICAL_PAYS} identical responses in the end (burst: 1 ran, {replayed} \
         replayed, {in_progress} got 409 idempotency_in_progress; their {retried} retries at once: all \
         replayed); burst {burst:.2}s",
        commits.len()
    );
    println!(
        "FIGURE [{backend}] same key, other body: {} {}, 0 charges",
        other.status.as_u16(),
        other.code()
    );
}

on_both_instances!(
    one_idempotency_key_one_effect,
    crate::helpers::default_config
);

const COUPON_ORDERS: usize = 100;

/// 100 orders apply one single-use coupon at once → exactly 1 gets it.
async fn one_coupon_one_use(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    const CODE: &str = "COUPON-UNIQUE-42";
    app.promo(&shop.t.institution, CODE, PromoKind::Coupon, 1000)
        .await;
    let started = Instant::now();
    let orders = orders_at_once(
        &servers,
        &shop.key,
        order_body(&shop, None, 4000),
        COUPON_ORDERS,
    )
    .await;
    let creating = secs(started);

    let started = Instant::now();
    let replies = all_at_once(COUPON_ORDERS, |i| {
        let http = servers.of(i);
        let path = format!("/api/v1/checkout/{}/codes", orders[i].1);
        async move {
            http.send(Method::POST, &path, None, None, Some(json!({"code": CODE})))
                .await
        }
    })
    .await;
    let burst = secs(started);
    let t = tally(&replies);
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::UNPROCESSABLE_ENTITY && r.code() == "code_not_applicable"
        })
        .count();
    assert_eq!(ok, 1, "{t:?}");
    assert_eq!(refused, COUPON_ORDERS - 1, "{t:?}");
    let winner = replies.iter().find(|r| r.status == StatusCode::OK).unwrap();
    assert_eq!(winner.json["checkout"]["order"]["amount_due_minor"], 3600);

    let inst = shop.t.institution.parse().unwrap();
    let promo = app
        .store
        .promo_code_by_code(inst, CODE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promo.uses_count, 1);
    let mut holding = 0;
    for (order_id, _) in &orders {
        let order = app
            .store
            .get_order(order_id.parse().unwrap())
            .await
            .unwrap();
        holding += order
            .promos
            .iter()
            .filter(|p| p.promo_code_id == promo.id && p.status == HoldStatus::Held)
            .count();
    }
    assert_eq!(holding, 1);
    app.audit_clean().await;
    println!(
        "FIGURE [{backend}, {instances} instance(s)] {COUPON_ORDERS} concurrent uses of one single-use coupon: {ok} applied, {refused} refused \
         (422 code_not_applicable), uses_count {}; orders created in {creating:.2}s, burst {burst:.2}s",
        promo.uses_count
    );
}

on_both_instances!(one_coupon_one_use, crate::helpers::lenient_code_limits);

const VOUCHER_ORDERS: usize = 100;

/// 100 orders of 30.00 redeem one voucher of 30.00 at once → exactly one gets it, for 30.00.
async fn one_voucher_one_order(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    let code = app
        .voucher(&shop.t.institution, 3000, time::Duration::days(30), true)
        .await;
    let started = Instant::now();
    let orders = orders_at_once(
        &servers,
        &shop.key,
        order_body(&shop, None, 3000),
        VOUCHER_ORDERS,
    )
    .await;
    let creating = secs(started);

    let code = Arc::new(code);
    let started = Instant::now();
    let replies = all_at_once(VOUCHER_ORDERS, |i| {
        let http = servers.of(i);
        let path = format!("/api/v1/checkout/{}/codes", orders[i].1);
        let code = code.clone();
        async move {
            http.send(
                Method::POST,
                &path,
                None,
                None,
                Some(json!({"code": *code})),
            )
            .await
        }
    })
    .await;
    let burst = secs(started);
    let t = tally(&replies);
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::UNPROCESSABLE_ENTITY && r.code() == "code_not_applicable"
        })
        .count();
    assert_eq!(ok, 1, "{t:?}");
    assert_eq!(refused, VOUCHER_ORDERS - 1, "{t:?}");

    let mut held_total = 0;
    let mut holding = Vec::new();
    for (order_id, _) in &orders {
        let order = app
            .store
            .get_order(order_id.parse().unwrap())
            .await
            .unwrap();
        for leg in order.legs.iter().filter(|l| l.kind == LegKind::Voucher) {
            assert_eq!(leg.status, HoldStatus::Held);
            held_total += leg.amount.amount_minor();
            holding.push(leg.amount.amount_minor());
        }
    }
    assert_eq!(holding, vec![3000], "one order holds the whole voucher");
    assert!(held_total <= 3000);
    let balance = app.voucher_balance(&code).await;
    assert_eq!(balance, 0);
    app.audit_clean().await;
    println!(
        "FIGURE [{backend}, {instances} instance(s)] {VOUCHER_ORDERS} concurrent redemptions of one 30.00 voucher on 30.00 orders: {ok} applied \
         (30.00), {refused} refused (422 code_not_applicable), Σ held {held_total} ≤ 3000 minor, voucher \
         balance {balance}; orders created in {creating:.2}s, burst {burst:.2}s"
    );
}

on_both_instances!(one_voucher_one_order, crate::helpers::lenient_code_limits);

const DEFERRED_PURCHASES: usize = 1000;
const DEFERRED_AMOUNT: i64 = 700;

/// 1,000 deferred-account purchases of 7.00 at once under a maximum of 200.00 → exactly
/// ⌊200/7⌋ = 28 go through and the outstanding stays ≤ 200.00.
async fn deferred_purchases_stop_at_the_maximum(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    let karin: uuid::Uuid = shop.karin.parse().unwrap();
    let before = app.store.accounting_tab(karin).await.unwrap();
    let max = before.deferred_max.amount_minor();
    assert_eq!(max, 20000);
    assert_eq!(before.deferred_balance.amount_minor(), 0);
    let expected = usize::try_from(max / DEFERRED_AMOUNT).unwrap();

    let started = Instant::now();
    let orders = orders_at_once(
        &servers,
        &shop.key,
        order_body(&shop, Some(&shop.karin), DEFERRED_AMOUNT),
        DEFERRED_PURCHASES,
    )
    .await;
    let creating = secs(started);

    let started = Instant::now();
    let replies = all_at_once(DEFERRED_PURCHASES, |i| {
        let http = servers.of(i);
        let path = format!("/api/v1/checkout/{}/pay", orders[i].1);
        async move {
            let key = format!("deferred-{i}");
            http.send(
                Method::POST,
                &path,
                None,
                Some(&key),
                Some(json!({"means": "deferred_account", "accept_terms": true})),
            )
            .await
        }
    })
    .await;
    let burst = secs(started);
    let t = tally(&replies);
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::UNPROCESSABLE_ENTITY && r.code() == "deferred_over_maximum"
        })
        .count();
    assert_eq!(ok, expected, "{t:?}");
    assert_eq!(refused, DEFERRED_PURCHASES - expected, "{t:?}");

    let after = app.store.accounting_tab(karin).await.unwrap();
    let outstanding = after.deferred_balance.amount_minor();
    assert_eq!(
        outstanding,
        i64::try_from(expected).unwrap() * DEFERRED_AMOUNT
    );
    assert!(outstanding <= max);
    assert_eq!(after.credit_balance, before.credit_balance);
    let charges = app
        .store
        .contact_history(karin)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.account_kind == AccountKind::ContactDeferred)
        .count();
    assert_eq!(charges, expected, "one deferred-account entry per purchase");
    let mut paid = 0;
    for (order_id, _) in &orders {
        let order = app
            .store
            .get_order(order_id.parse().unwrap())
            .await
            .unwrap();
        match order.status {
            OrderStatus::Paid => paid += 1,
            OrderStatus::AwaitingPayment => assert!(order.legs.is_empty()),
            other => panic!("order {order_id} is {other:?}"),
        }
    }
    assert_eq!(paid, expected);
    app.audit_clean().await;
    println!(
        "FIGURE [{backend}, {instances} instance(s)] {DEFERRED_PURCHASES} concurrent deferred purchases of 7.00 under a maximum of 200.00: \
         {ok} paid (⌊L/a⌋ = {expected}), {refused} refused (422 deferred_over_maximum), outstanding \
         {outstanding} ≤ {max} minor; orders created in {creating:.2}s, burst {burst:.2}s"
    );
}

on_both_instances!(
    deferred_purchases_stop_at_the_maximum,
    crate::helpers::default_config
);

const CREDIT_ORDERS: usize = 100;

/// 100 of Karin's orders each ask for her whole credit balance (15.00) at once → Σ held
/// never exceeds it, and the balance never goes below zero.
async fn credit_balance_never_overdrawn(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    let karin: uuid::Uuid = shop.karin.parse().unwrap();
    let credit = app
        .store
        .accounting_tab(karin)
        .await
        .unwrap()
        .credit_balance
        .amount_minor();
    assert_eq!(credit, 1500);
    let orders = orders_at_once(
        &servers,
        &shop.key,
        order_body(&shop, Some(&shop.karin), 3000),
        CREDIT_ORDERS,
    )
    .await;
    let started = Instant::now();
    let replies = all_at_once(CREDIT_ORDERS, |i| {
        let http = servers.of(i);
        let path = format!("/api/v1/checkout/{}/credit-balance", orders[i].1);
        async move {
            http.send(
                Method::PUT,
                &path,
                None,
                None,
                Some(json!({"amount_minor": credit})),
            )
            .await
        }
    })
    .await;
    let burst = secs(started);
    let t = tally(&replies);
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::OK || r.status.is_client_error()),
        "{t:?}"
    );
    let mut held = Vec::new();
    for (order_id, _) in &orders {
        let order = app
            .store
            .get_order(order_id.parse().unwrap())
            .await
            .unwrap();
        for leg in order
            .legs
            .iter()
            .filter(|l| l.kind == LegKind::CreditBalance)
        {
            assert_eq!(leg.status, HoldStatus::Held);
            held.push(leg.amount.amount_minor());
        }
    }
    let held_total: i64 = held.iter().sum();
    let after = app
        .store
        .accounting_tab(karin)
        .await
        .unwrap()
        .credit_balance
        .amount_minor();
    assert!(after >= 0);
    assert!(
        held_total <= credit,
        "Σ held {held_total} > credit {credit}"
    );
    assert_eq!(after + held_total, credit, "credit conserved");
    app.audit_clean().await;
    println!(
        "FIGURE [{backend}, {instances} instance(s)] {CREDIT_ORDERS} concurrent uses of one 15.00 credit balance: \
         {} order(s) hold {held_total} minor in all (≤ {credit}), balance left {after}; answers {t:?}; burst {burst:.2}s",
        held.len()
    );
}

on_both_instances!(
    credit_balance_never_overdrawn,
    crate::helpers::default_config
);

const RACED_ORDERS: usize = 100;

/// Each of 100 orders (voucher, credit and a promo code applied) is paid on the deferred
/// account, cancelled by the buyer, cancelled by the shop and expired by the job runner, all
/// at once → every order ends in exactly one state, with everything committed or everything
/// released, and exactly one webhook.
async fn pay_cancel_and_expire_race(app: TestApp, peer: Http) {
    let backend = app.store.backend().as_str();
    let servers = Instances::new(&app, peer);
    let instances = servers.count();
    let shop = app.shop().await;
    let karin: uuid::Uuid = shop.karin.parse().unwrap();
    // Enough credit for 0.50 on each order.
    app.created(
        &format!("/api/v1/admin/contacts/{karin}/credit-adjustments"),
        json!({"amount_minor": 3500, "memo": "Avoir"}),
    )
    .await;
    let voucher = Arc::new(
        app.voucher(&shop.t.institution, 100_000, time::Duration::days(30), true)
            .await,
    );
    let orders = orders_at_once(
        &servers,
        &shop.key,
        order_body(&shop, Some(&shop.karin), 200),
        RACED_ORDERS,
    )
    .await;
    // 2.00 − 5 % = 1.90, credit 0.50 → 1.40 due; on even orders the voucher takes the 1.40
    // (paid with means "none"), on odd ones the deferred account does (50 × 1.40 ≤ 200.00).
    for (i, (_, token)) in orders.iter().enumerate() {
        let http = servers.of(i);
        let base = format!("/api/v1/checkout/{token}");
        let r = http
            .send(
                Method::POST,
                &format!("{base}/codes"),
                None,
                None,
                Some(json!({"code": "NOUVEAUX-VENUS"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = http
            .send(
                Method::PUT,
                &format!("{base}/credit-balance"),
                None,
                None,
                Some(json!({"amount_minor": 50})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if i % 2 == 0 {
            let r = http
                .send(
                    Method::POST,
                    &format!("{base}/codes"),
                    None,
                    None,
                    Some(json!({"code": *voucher})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    }
    let before = app.store.accounting_tab(karin).await.unwrap();

    let state = app.state();
    let shop_key = Arc::new(shop.key.clone());
    let started = Instant::now();
    let expiry = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        guichet_server::checkout::expire_due(&state, later, 1000)
            .await
            .expect("expire_due")
    });
    let replies = all_at_once(RACED_ORDERS * 3, |j| {
        let (i, what) = (j / 3, j % 3);
        let http = servers.of(j);
        let (order_id, token) = orders[i].clone();
        let shop_key = shop_key.clone();
        let means = if i % 2 == 0 {
            "none"
        } else {
            "deferred_account"
        };
        // The closers come a little later on some orders than on others, so that both the
        // payment and the cancellations win some races.
        let stagger = std::time::Duration::from_millis(100 * u64::try_from(i % 10).unwrap());
        async move {
            if what > 0 {
                tokio::time::sleep(stagger).await;
            }
            match what {
                0 => {
                    http.send(
                        Method::POST,
                        &format!("/api/v1/checkout/{token}/pay"),
                        None,
                        Some(&format!("race-{i}")),
                        Some(json!({"means": means, "accept_terms": true})),
                    )
                    .await
                }
                1 => {
                    http.send(
                        Method::POST,
                        &format!("/api/v1/checkout/{token}/cancel"),
                        None,
                        None,
                        None,
                    )
                    .await
                }
                _ => {
                    http.send(
                        Method::POST,
                        &format!("/api/v1/orders/{order_id}/cancel"),
                        Some(&shop_key),
                        None,
                        None,
                    )
                    .await
                }
            }
        }
    })
    .await;
    let expired_by_job = expiry.await.unwrap();
    let burst = secs(started);
    let t = tally(&replies);
    assert!(replies.iter().all(|r| !r.status.is_server_error()), "{t:?}");
    // A payment that lost the race answers 409 order_closed. An answer computed from an order
    // read half before and half after the cancellation (status still awaiting payment, holds
    // already released) would be a 422: orders are read in one snapshot, so there is none.
    let mut stale = 0;
    for (j, r) in replies.iter().enumerate().filter(|(j, _)| j % 3 == 0) {
        if r.status == StatusCode::UNPROCESSABLE_ENTITY {
            let order = app
                .store
                .get_order(orders[j / 3].0.parse().unwrap())
                .await
                .unwrap();
            assert_ne!(order.status, OrderStatus::Paid, "{}", r.text);
            stale += 1;
        }
    }
    assert_eq!(
        stale, 0,
        "payments answered from a torn read of their order"
    );

    let shop_key_id: uuid::Uuid = shop.shop_key_id.parse().unwrap();
    let events = app
        .store
        .list_webhook_events(Some(shop_key_id), 10_000)
        .await
        .unwrap();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut deferred_expected = 0;
    let mut credit_committed = 0;
    let mut voucher_committed = 0;
    for (i, (order_id, _)) in orders.iter().enumerate() {
        let order = app
            .store
            .get_order(order_id.parse().unwrap())
            .await
            .unwrap();
        *by_status.entry(order.status.as_str()).or_insert(0) += 1;
        let webhooks = events
            .iter()
            .filter(|(e, _)| e.payload.contains(order_id.as_str()))
            .count();
        assert_eq!(
            webhooks, 1,
            "order {i} ({:?}) has {webhooks} webhooks",
            order.status
        );
        match order.status {
            OrderStatus::Paid => {
                assert!(order.legs.iter().all(|l| l.status == HoldStatus::Committed));
                assert!(
                    order
                        .promos
                        .iter()
                        .all(|p| p.status == HoldStatus::Committed)
                );
                for l in &order.legs {
                    match l.kind {
                        LegKind::DeferredAccount => deferred_expected += l.amount.amount_minor(),
                        LegKind::CreditBalance => credit_committed += l.amount.amount_minor(),
                        LegKind::Voucher => voucher_committed += l.amount.amount_minor(),
                        LegKind::Card | LegKind::Installments => panic!("no card here"),
                    }
                }
            }
            OrderStatus::Cancelled | OrderStatus::Expired => {
                assert!(order.legs.iter().all(|l| l.status == HoldStatus::Released));
                assert!(
                    order
                        .promos
                        .iter()
                        .all(|p| p.status == HoldStatus::Released)
                );
            }
            OrderStatus::AwaitingPayment => panic!("order {i} is still open"),
        }
    }
    let after = app.store.accounting_tab(karin).await.unwrap();
    assert_eq!(after.deferred_balance.amount_minor(), deferred_expected);
    // Held credit (0.50 per order) came back unless its order was paid.
    let held_before = 50 * i64::try_from(RACED_ORDERS).unwrap();
    assert_eq!(
        after.credit_balance.amount_minor(),
        before.credit_balance.amount_minor() + held_before - credit_committed
    );
    assert_eq!(
        app.voucher_balance(&voucher).await,
        100_000 - voucher_committed
    );
    let inst = shop.t.institution.parse().unwrap();
    let promo = app
        .store
        .promo_code_by_code(inst, "NOUVEAUX-VENUS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        promo.uses_count,
        i64::try_from(*by_status.get("paid").unwrap_or(&0)).unwrap()
    );
    app.audit_clean().await;
    println!(
        "FIGURE [{backend}, {instances} instance(s)] {RACED_ORDERS} orders each paid, cancelled by the buyer, cancelled \
         by the shop and expired at once: final states {by_status:?} (job expired {expired_by_job}), 1 webhook \
         per order, every hold committed or released; deferred {deferred_expected}, credit committed \
         {credit_committed}, voucher committed {voucher_committed} minor; answers {t:?} ({stale} payment(s) \
         answered 422 instead of 409 order_closed); burst {burst:.2}s"
    );
}

on_both_instances!(pay_cancel_and_expire_race, crate::helpers::default_config);

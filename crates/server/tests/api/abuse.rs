//! Abuse resistance (issue 7, OWASP OAT-001 carding and OAT-010 card cracking): card payment
//! attempts are counted per order, per contact and per client address in the database and
//! refused past their limits before anything reaches the provider.

use crate::cards::{CardEnv, card_env};
use crate::helpers::TestApp;
use crate::on_both_with;
use crate::saved_cards::{pay, post_form, summary};
use reqwest::StatusCode;
use serde_json::json;

pub fn card_limits(c: &mut guichet_server::ServerConfig) {
    c.card_attempts_per_order = 5;
    c.card_attempts_per_contact = 8;
    c.card_attempts_per_ip = 1_000;
}

/// The `n`-th Luhn-valid Visa number of a series: `4970 10xx xxxx xxxC`.
fn visa(n: u32) -> String {
    let body = format!("497010{n:09}");
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// One attempt with a new card that the issuer declines: the card through the provider's
/// form, its alias made to decline at the simulator, then `pay`.
async fn attempt(env: &CardEnv, token: &str, number: &str) -> (StatusCode, serde_json::Value) {
    let s = summary(env, token).await;
    let ret = post_form(
        env,
        &s["means"]["card_form"],
        &[
            ("CN", "Mallory"),
            ("CARDNO", number),
            ("ED", "1230"),
            ("CVC", "123"),
        ],
    )
    .await;
    let alias = ret
        .split('&')
        .find_map(|kv| kv.strip_prefix("ALIAS="))
        .unwrap()
        .to_owned();
    let resp = env
        .browser
        .post(format!("{}/__sim/aliases/{alias}/behaviour", env.sim))
        .json(&json!({"behaviour": "decline"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    pay(
        env,
        token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret}),
    )
    .await
}

/// 50 attempts with 50 different cards on one order: the provider sees at most the order's
/// limit; the contact's limit then holds on another order of the same buyer; another buyer
/// is not affected.
async fn card_attempts_are_limited_before_the_provider(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2000).await;
    let (mut declined, mut refused) = (0, 0);
    for n in 0..50 {
        let (status, out) = attempt(&env, &token, &visa(n)).await;
        match status {
            StatusCode::OK => {
                assert_eq!(out["status"], "declined", "{out}");
                declined += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(out["error"]["code"], "too_many_card_attempts", "{out}");
                refused += 1;
            }
            other => panic!("attempt {n}: {other} {out}"),
        }
    }
    let calls = env.sim_transactions().await.len();
    println!(
        "FIGURE carding: 50 attempts with 50 cards on one order: {calls} reached the provider (limit 5), {refused} refused with 429"
    );
    assert_eq!(declined, 5);
    assert_eq!(refused, 45);
    assert_eq!(calls, 5);

    // Every attempt counted, refused ones too: the same buyer on a new order is over the
    // contact's limit (8) at once; nothing more reaches the provider.
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2000).await;
    for n in 100..103 {
        let (status, _) = attempt(&env, &token, &visa(n)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(env.sim_transactions().await.len(), 5);
    // Another buyer from the same address still pays (the address limit is higher).
    let anne = crate::saved_cards::new_contact(&env, "Anne").await;
    let (_, token) = env.app.order(&env.shop, Some(&anne), 2000).await;
    let s = summary(&env, &token).await;
    let ret = post_form(&env, &s["means"]["card_form"], crate::saved_cards::NEW_CARD).await;
    let (status, out) = pay(
        &env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    env.app.audit_clean().await;
}
on_both_with!(
    card_attempts_are_limited_before_the_provider,
    super::card_limits
);

pub fn code_limits(c: &mut guichet_server::ServerConfig) {
    c.code_failures_per_order = 10;
    c.code_failures_per_contact = 20;
    c.code_failures_per_ip = 50;
}

/// A random guess at a code: 12 letters and digits.
fn guess() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).unwrap();
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Code guessing (OWASP OAT-002): codes tried are counted per order, per contact (across their
/// orders) and per client address — counted before they are checked, so concurrent guesses
/// cannot slip past — then refused with 429; every refused code gets the same answer, no
/// sooner than the refusal floor; 10,000 random guesses, 200 at a time, find nothing.
async fn code_guessing_is_locked_out(app: TestApp) {
    let shop = app.shop().await;
    let code = |token: String, code: String| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let (status, body) = app
                .checkout(
                    &token,
                    reqwest::Method::POST,
                    "/codes",
                    Some(json!({"code": code})),
                )
                .await;
            (status, body, started.elapsed())
        }
    };
    // One buyer: 10 failures lock an order; 20 lock the buyer's other orders too.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (_, token) = app.order(&shop, Some(&shop.karin), 3600).await;
        let mut per_order = Vec::new();
        for _ in 0..11 {
            per_order.push(code(token.clone(), guess()).await.0.as_u16());
        }
        statuses.push(per_order);
    }
    assert_eq!(statuses[0][..10], [422; 10]);
    assert_eq!(statuses[0][10], 429, "the order's limit");
    // Every try counts (11 on the first order, so the buyer has 9 left on the second).
    assert_eq!(statuses[1][..9], [422; 9]);
    assert_eq!(statuses[1][9..], [429; 2], "the buyer's limit");
    assert_eq!(
        statuses[2], [429; 11],
        "the buyer's limit, on a fresh order"
    );

    // The same answer for an unknown code and a real one that does not apply (a promo code
    // of the shop on an order below its minimum would do; here: a voucher code already used
    // up is not at hand, so an unknown one and NOUVEAUX-VENUS twice on one order).
    let (_, token) = app.order(&shop, None, 3600).await;
    let (s1, unknown, t1) = code(token.clone(), "NOPE-NOPE-NOPE".to_owned()).await;
    let (s2, _, _) = code(token.clone(), "NOUVEAUX-VENUS".to_owned()).await;
    let (s3, again, t3) = code(token.clone(), "NOUVEAUX-VENUS".to_owned()).await;
    assert_eq!((s1.as_u16(), s2.as_u16(), s3.as_u16()), (422, 200, 422));
    assert_eq!(
        unknown["error"], again["error"],
        "one answer for every refusal"
    );
    let floor = guichet_server::checkout_api::CODE_REFUSAL_FLOOR;
    assert!(t1 >= floor && t3 >= floor, "{t1:?} {t3:?}");

    // 10,000 random guesses over 1,000 anonymous orders from one address.
    let mut tokens = Vec::new();
    for _ in 0..1000 {
        tokens.push(app.order(&shop, None, 3600).await.1);
    }
    let (mut hits, mut refused, mut locked) = (0, 0, 0);
    let started = std::time::Instant::now();
    let http = app.http();
    for chunk in tokens.chunks(20) {
        let mut calls = tokio::task::JoinSet::new();
        for token in chunk {
            for _ in 0..10 {
                let http = http.clone();
                let path = format!("/api/v1/checkout/{token}/codes");
                calls.spawn(async move {
                    http.send(
                        reqwest::Method::POST,
                        &path,
                        None,
                        None,
                        Some(json!({"code": guess()})),
                    )
                    .await
                    .status
                });
            }
        }
        for status in calls.join_all().await {
            match status.as_u16() {
                200 => hits += 1,
                422 => refused += 1,
                429 => locked += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    println!(
        "FIGURE code guessing: 10000 random guesses: {hits} hits, {refused} refused (422) before the lockout, {locked} locked out (429), in {:?}",
        started.elapsed()
    );
    assert_eq!(hits, 0);
    assert_eq!(hits + refused + locked, 10_000);
    assert!(refused <= 50, "the address limit: {refused}");
    assert!(locked >= 9_950);
}
on_both_with!(code_guessing_is_locked_out, super::code_limits);

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
        "carding: 50 attempts with 50 cards on one order: {calls} reached the provider (limit 5), {refused} refused with 429"
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

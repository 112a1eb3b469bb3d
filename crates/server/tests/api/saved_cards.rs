//! Saved cards (issue 5, SPEC F8): saving a card at checkout, paying with it and its CVV (the
//! CVV goes from the browser to the provider), the security policy (CVV asked or not, saving
//! off), and the buyer's account (change expiry and holder, delete — at the provider too;
//! another contact's card is "not found").

use super::cards::{CardEnv, card_env, put_payment_system};
use crate::helpers::TestApp;
use crate::on_both;
use guichet_psp_sim::test_cards::VISA_OK;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Posts the browser's fields with a form of the checkout summary to the provider; returns
/// the query of its redirect back to Guichet.
pub async fn post_form(env: &CardEnv, form: &Value, extra: &[(&str, &str)]) -> String {
    let url = form["url"].as_str().expect("form url").to_owned();
    assert!(url.starts_with(&env.sim), "{url}");
    let mut fields: Vec<(String, String)> = form["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    for (k, v) in extra {
        fields.push(((*k).to_owned(), (*v).to_owned()));
    }
    let resp = env.browser.post(&url).form(&fields).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&env.app.base), "{location}");
    location.split_once('?').unwrap().1.to_owned()
}

pub const NEW_CARD: &[(&str, &str)] = &[
    ("CN", "Karin Deu"),
    ("CARDNO", VISA_OK),
    ("ED", "1230"),
    ("CVC", "123"),
];

/// The channel's payment system with this security policy.
pub async fn policy(env: &CardEnv, saving: bool, cvv: bool) {
    put_payment_system(
        &env.app,
        &env.shop.t.channel,
        json!({
            "provider": "ogone",
            "label": "Ogone (simulator)",
            "base_url": format!("{}/ncol/test", env.sim),
            "merchant_id": "GUICHETTEST",
            "settings": {"userid": "API", "hash_algorithm": "SHA-512"},
            "card_saving_enabled": saving,
            "cvv_on_saved_cards": cvv,
            "max_saved_cards": 3,
            "three_ds_policy": "never",
            "three_ds_days": 0
        }),
    )
    .await;
}

pub async fn summary(env: &CardEnv, token: &str) -> Value {
    let (status, s) = env.app.checkout(token, Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    s
}

pub async fn pay(env: &CardEnv, token: &str, body: Value) -> (StatusCode, Value) {
    env.app
        .checkout(token, Method::POST, "/pay", Some(body))
        .await
}

/// Karin pays a new order of `amount` with a new card through the form that saves it.
pub async fn pay_and_save(env: &CardEnv, amount: i64) -> Value {
    let (created, token) = env
        .app
        .order(&env.shop, Some(&env.shop.karin), amount)
        .await;
    let s = summary(env, &token).await;
    let ret = post_form(env, &s["means"]["card_form_save"], NEW_CARD).await;
    let (status, out) = pay(
        env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    created
}

/// A new contact of the shop; returns its id.
pub async fn new_contact(env: &CardEnv, first_name: &str) -> String {
    let (status, c) = env
        .app
        .call(
            Method::POST,
            "/api/v1/contacts",
            Some(&env.shop.key),
            Some(json!({"first_name": first_name, "last_name": "LICATESE",
                        "email": format!("{}@example.org", first_name.to_lowercase())})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn sim_aliases(env: &CardEnv) -> Vec<Value> {
    let v: Value = env
        .browser
        .get(format!("{}/__sim/aliases", env.sim))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// Save a card, pay a second order with it and its CVV; a policy without CVV pays without.
async fn save_then_pay_with_the_saved_card(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    policy(&env, true, true).await;
    pay_and_save(&env, 2500).await;
    let aliases = sim_aliases(&env).await;
    assert_eq!(aliases.len(), 1, "{aliases:?}");
    assert_eq!(aliases[0]["persisted"], true, "{aliases:?}");

    // The second order offers the card, masked, with its CVV form.
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 4000).await;
    let s = summary(&env, &token).await;
    let offered = s["means"]["saved_cards"].as_array().unwrap().clone();
    assert_eq!(offered.len(), 1, "{s}");
    let card = &offered[0];
    assert_eq!(card["masked"], "XXXX XXXX XXXX 1111");
    assert_eq!(card["expiry"], "12/2030");
    assert_eq!(card["holder"], "Karin Deu");
    assert_eq!(card["expired"], false);
    assert_eq!(s["means"]["cvv_required"], true);
    let card_id = card["id"].as_str().unwrap().to_owned();
    // Without its CVV: refused, nothing written.
    let (status, e) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card_id, "accept_terms": true}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "cvv_required");
    assert!(
        env.order(&created).await["legs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The CVV to the provider, then pay.
    let ret = post_form(&env, &card["cvv_form"], &[("CVC", "123")]).await;
    let (status, out) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card_id, "accept_terms": true, "card_alias_return": ret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    let txs = env.sim_transactions().await;
    let last = txs.last().unwrap();
    assert_eq!(last["cvc_check"], "OK", "{last}");
    assert_eq!(last["eci"], "7", "{last}");

    // A policy without the CVV: the saved card pays in one tap.
    policy(&env, true, false).await;
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 1500).await;
    let s = summary(&env, &token).await;
    assert_eq!(s["means"]["cvv_required"], false);
    assert!(s["means"]["saved_cards"][0]["cvv_form"].is_null(), "{s}");
    let (status, out) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card_id, "accept_terms": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    assert_eq!(
        env.sim_transactions().await.last().unwrap()["cvc_check"],
        "NO"
    );

    // An expired card is shown as such, without a CVV form, and cannot pay.
    env.app
        .store
        .update_saved_card(card_id.parse().unwrap(), Some("0120"), None)
        .await
        .unwrap();
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 1500).await;
    let s = summary(&env, &token).await;
    assert_eq!(s["means"]["saved_cards"][0]["expired"], true, "{s}");
    assert!(s["means"]["saved_cards"][0]["cvv_form"].is_null(), "{s}");
    let (status, e) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card_id, "accept_terms": true}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "card_expired");
    env.app
        .store
        .update_saved_card(card_id.parse().unwrap(), Some("1230"), None)
        .await
        .unwrap();

    // Another contact cannot pay with Karin's card.
    let other = new_contact(&env, "Anne").await;
    let (_, token) = env.app.order(&env.shop, Some(&other), 1500).await;
    let (status, _) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card_id, "accept_terms": true}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.app.audit_clean().await;
}
on_both!(save_then_pay_with_the_saved_card);

/// Saving off: no form that keeps the card, no saved card offered, and the alias the
/// provider holds is the one-off kind (deleted after use).
async fn saving_off_keeps_nothing(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    policy(&env, false, true).await;
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2500).await;
    let s = summary(&env, &token).await;
    assert!(s["means"]["card_form_save"].is_null(), "{s}");
    assert_eq!(s["means"]["saved_cards"], json!([]));
    assert_eq!(
        s["means"]["card_form"]["fields"]["ALIASPERSISTEDAFTERUSE"],
        "N"
    );
    let ret = post_form(&env, &s["means"]["card_form"], NEW_CARD).await;
    let (_, out) = pay(
        &env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret}),
    )
    .await;
    assert_eq!(out["status"], "paid", "{out}");
    let aliases = sim_aliases(&env).await;
    assert!(
        aliases.iter().all(|a| a["persisted"] == false),
        "{aliases:?}"
    );
    let (_, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2500).await;
    assert_eq!(
        summary(&env, &token).await["means"]["saved_cards"],
        json!([])
    );
    let (_, cards) = env
        .app
        .admin_get(&format!(
            "/api/v1/admin/contacts/{}/saved-cards",
            env.shop.karin
        ))
        .await;
    assert_eq!(cards, json!([]));
}
on_both!(saving_off_keeps_nothing);

async fn account_link(env: &CardEnv, contact: &str) -> String {
    let (status, link) = env
        .app
        .call(
            Method::POST,
            &format!("/api/v1/contacts/{contact}/account-link"),
            Some(&env.shop.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(link["url"].as_str().unwrap().contains("/account?token="));
    link["token"].as_str().unwrap().to_owned()
}

/// The buyer changes the expiry date and the holder name, then deletes the card: each at the
/// provider too. Another contact's account link reaches none of it (404, nothing changed).
async fn account_changes_and_deletes_cards(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    policy(&env, true, true).await;
    pay_and_save(&env, 2500).await;
    let karin = account_link(&env, &env.shop.karin).await;
    let (status, cards) = env
        .app
        .call(Method::GET, "/api/v1/account/cards", Some(&karin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cards}");
    let id = cards[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/account/cards/{id}");

    // Anne's link: Karin's card is not found, and stays as it is.
    let anne = new_contact(&env, "Anne").await;
    let anne = account_link(&env, &anne).await;
    let (_, hers) = env
        .app
        .call(Method::GET, "/api/v1/account/cards", Some(&anne), None)
        .await;
    assert_eq!(hers, json!([]));
    let (status, _) = env
        .app
        .call(
            Method::PATCH,
            &path,
            Some(&anne),
            Some(json!({"holder": "Mallory"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.app.call(Method::DELETE, &path, Some(&anne), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env
        .app
        .call(
            Method::GET,
            "/api/v1/account/cards",
            Some("acc_forged"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let alias = &sim_aliases(&env).await[0];
    assert_eq!(alias["holder"], "Karin Deu");
    assert_eq!(alias["ed"], "1230");

    // A bad date: refused, nothing changed.
    let (status, e) = env
        .app
        .call(
            Method::PATCH,
            &path,
            Some(&karin),
            Some(json!({"expiry": "13/2031"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // Karin's own change: at the provider and in Guichet.
    let (status, card) = env
        .app
        .call(
            Method::PATCH,
            &path,
            Some(&karin),
            Some(json!({"expiry": "11/2031", "holder": "K. Deu"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["expiry"], "11/2031");
    assert_eq!(card["holder"], "K. Deu");
    let alias = &sim_aliases(&env).await[0];
    assert_eq!(alias["holder"], "K. Deu", "{alias}");
    assert_eq!(alias["ed"], "1131", "{alias}");

    let (status, _) = env
        .app
        .call(Method::DELETE, &path, Some(&karin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sim_aliases(&env).await.is_empty());
    let (_, cards) = env
        .app
        .call(Method::GET, "/api/v1/account/cards", Some(&karin), None)
        .await;
    assert_eq!(cards, json!([]));
    let (status, _) = env
        .app
        .call(Method::DELETE, &path, Some(&karin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(account_changes_and_deletes_cards);

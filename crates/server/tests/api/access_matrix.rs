//! The access-control matrix (issue 7, PROOFS.md): every credential against what it must not
//! reach — shop key A against shop B's orders and contacts, a checkout token against another
//! order's saved cards, an account link against another contact's cards and after it expired,
//! an operator against the admin's configuration, a GET against a state change. Each denied
//! case is checked to leave everything as it was (a snapshot of what both shops and the back
//! office can read, compared before and after).

use crate::cards::card_env;
use crate::helpers::TestApp;
use crate::on_both;
use crate::saved_cards::{new_contact, pay, pay_and_save, policy, summary};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One denied request: who, what, and the answer it must get.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    bearer: Option<String>,
    body: Option<Value>,
    expect: StatusCode,
}

async fn access_control_matrix(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    policy(&env, true, false).await;
    let order_a = pay_and_save(&env, 2500).await;
    let a_id = order_a["id"].as_str().unwrap().to_owned();
    let karin = env.shop.karin.clone();
    let (_, cards) = env
        .app
        .admin_get(&format!("/api/v1/admin/contacts/{karin}/saved-cards"))
        .await;
    let card = cards[0]["id"].as_str().unwrap().to_owned();
    let shop_b = env.app.shop().await;
    let (order_b, token_b) = env.app.order(&shop_b, Some(&shop_b.karin), 1800).await;
    let b_id = order_b["id"].as_str().unwrap().to_owned();
    let anne = new_contact(&env, "Anne").await;
    let (_, anne_token) = env.app.order(&env.shop, Some(&anne), 1500).await;
    let operator = env.app.user("olga", "operator").await;
    // An account link of Anne's, one of Karin's that has expired.
    let link = |contact: String| {
        let env = &env;
        async move {
            let (_, l) = env
                .app
                .call(
                    Method::POST,
                    &format!("/api/v1/contacts/{contact}/account-link"),
                    Some(&env.shop.key),
                    None,
                )
                .await;
            l["token"].as_str().unwrap().to_owned()
        }
    };
    let anne_link = link(anne.clone()).await;
    let expired = "acc_expired-link-of-karin";
    env.app
        .store
        .create_account_link(
            &guichet_server::auth::sha256_hex(expired),
            karin.parse().unwrap(),
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
        )
        .await
        .unwrap();

    let snapshot = || {
        let env = &env;
        let shop_b_key = shop_b.key.clone();
        let (a_id, b_id, karin) = (a_id.clone(), b_id.clone(), karin.clone());
        async move {
            let mut all = Vec::new();
            for (path, key) in [
                (format!("/api/v1/orders/{a_id}"), Some(env.shop.key.clone())),
                (format!("/api/v1/orders/{b_id}"), Some(shop_b_key)),
                (
                    format!("/api/v1/admin/contacts/{karin}"),
                    Some(env.app.admin.clone()),
                ),
                (
                    format!("/api/v1/admin/contacts/{karin}/saved-cards"),
                    Some(env.app.admin.clone()),
                ),
                (
                    "/api/v1/admin/installment-plans".to_owned(),
                    Some(env.app.admin.clone()),
                ),
                (
                    "/api/v1/admin/payment-modes".to_owned(),
                    Some(env.app.admin.clone()),
                ),
                (
                    format!(
                        "/api/v1/admin/sales-channels/{}/payment-system",
                        env.shop.t.channel
                    ),
                    Some(env.app.admin.clone()),
                ),
                (
                    "/api/v1/admin/webhook-events?limit=500".to_owned(),
                    Some(env.app.admin.clone()),
                ),
                (
                    "/api/v1/admin/users".to_owned(),
                    Some(env.app.admin.clone()),
                ),
            ] {
                let (status, body) = env.app.call(Method::GET, &path, key.as_deref(), None).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
                all.push(body);
            }
            all.push(json!(env.sim_transactions().await.len()));
            all
        }
    };

    let shop_a = Some(env.shop.key.clone());
    let shop_b_key = Some(shop_b.key.clone());
    let cases = vec![
        Case {
            name: "shop B reads shop A's order",
            method: Method::GET,
            path: format!("/api/v1/orders/{a_id}"),
            bearer: shop_b_key.clone(),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop B cancels shop A's order",
            method: Method::POST,
            path: format!("/api/v1/orders/{a_id}/cancel"),
            bearer: shop_b_key.clone(),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop B refunds shop A's order",
            method: Method::POST,
            path: format!("/api/v1/orders/{a_id}/refunds"),
            bearer: shop_b_key.clone(),
            body: Some(json!({"amount_minor": 100, "destination": "card"})),
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop B reads shop A's contact",
            method: Method::GET,
            path: format!("/api/v1/contacts/{karin}"),
            bearer: shop_b_key.clone(),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop B opens shop A's contact's account",
            method: Method::POST,
            path: format!("/api/v1/contacts/{karin}/account-link"),
            bearer: shop_b_key.clone(),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop B sells at shop A's point of sale",
            method: Method::POST,
            path: "/api/v1/orders".to_owned(),
            bearer: shop_b_key.clone(),
            body: Some(
                json!({"point_of_sale": env.shop.t.pos, "currency": "EUR", "lines": [{"kind": "ticket", "label": "x", "quantity": 1, "unit_amount_minor": 100, "event": {"id": "E", "name": "E", "starts_at": "2027-01-10T20:00:00+01:00"}}], "delivery": {"mode": "m", "delay": "d", "fee_minor": 0}}),
            ),
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "shop A reads shop B's order",
            method: Method::GET,
            path: format!("/api/v1/orders/{b_id}"),
            bearer: shop_a.clone(),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "no key",
            method: Method::POST,
            path: format!("/api/v1/orders/{a_id}/refunds"),
            bearer: None,
            body: Some(json!({"amount_minor": 100, "destination": "card"})),
            expect: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "a back-office session as a shop key",
            method: Method::POST,
            path: format!("/api/v1/orders/{a_id}/refunds"),
            bearer: Some(env.app.admin.clone()),
            body: Some(json!({"amount_minor": 100, "destination": "card"})),
            expect: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "a shop key in the back office",
            method: Method::GET,
            path: "/api/v1/admin/users".to_owned(),
            bearer: shop_a.clone(),
            body: None,
            expect: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "Anne's checkout pays with Karin's saved card",
            method: Method::POST,
            path: format!("/api/v1/checkout/{anne_token}/pay"),
            bearer: None,
            body: Some(json!({"means": "saved_card", "saved_card": card, "accept_terms": true})),
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "an unknown checkout token",
            method: Method::POST,
            path: "/api/v1/checkout/not-a-token/cancel".to_owned(),
            bearer: None,
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "Anne's account link changes Karin's card",
            method: Method::PATCH,
            path: format!("/api/v1/account/cards/{card}"),
            bearer: Some(anne_link.clone()),
            body: Some(json!({"holder": "Mallory"})),
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "Anne's account link deletes Karin's card",
            method: Method::DELETE,
            path: format!("/api/v1/account/cards/{card}"),
            bearer: Some(anne_link.clone()),
            body: None,
            expect: StatusCode::NOT_FOUND,
        },
        Case {
            name: "an expired account link",
            method: Method::DELETE,
            path: format!("/api/v1/account/cards/{card}"),
            bearer: Some(expired.to_owned()),
            body: None,
            expect: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "a shop key as an account link",
            method: Method::GET,
            path: "/api/v1/account/cards".to_owned(),
            bearer: shop_a.clone(),
            body: None,
            expect: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "an operator changes the payment system",
            method: Method::PUT,
            path: format!(
                "/api/v1/admin/sales-channels/{}/payment-system",
                env.shop.t.channel
            ),
            bearer: Some(operator.clone()),
            body: Some(
                json!({"provider": "ogone", "label": "x", "base_url": "http://127.0.0.1:9/x", "merchant_id": "X", "three_ds_policy": "never"}),
            ),
            expect: StatusCode::FORBIDDEN,
        },
        Case {
            name: "an operator creates an installment plan",
            method: Method::POST,
            path: "/api/v1/admin/installment-plans".to_owned(),
            bearer: Some(operator.clone()),
            body: Some(
                json!({"point_of_sale_id": env.shop.t.pos, "name": "x", "count": 2, "split": "equal", "interval": "monthly", "min_amount": {"amount_minor": 0, "currency": "EUR"}, "mode": "free"}),
            ),
            expect: StatusCode::FORBIDDEN,
        },
        Case {
            name: "an operator creates a user",
            method: Method::POST,
            path: "/api/v1/admin/users".to_owned(),
            bearer: Some(operator.clone()),
            body: Some(
                json!({"username": "mallory", "password": "mallory password 123", "role": "admin"}),
            ),
            expect: StatusCode::FORBIDDEN,
        },
        Case {
            name: "a GET cannot cancel",
            method: Method::GET,
            path: format!("/api/v1/orders/{a_id}/cancel"),
            bearer: shop_a.clone(),
            body: None,
            expect: StatusCode::METHOD_NOT_ALLOWED,
        },
        Case {
            name: "a GET cannot pay",
            method: Method::GET,
            path: format!("/api/v1/checkout/{token_b}/pay"),
            bearer: None,
            body: None,
            expect: StatusCode::METHOD_NOT_ALLOWED,
        },
        Case {
            name: "a GET cannot refund",
            method: Method::GET,
            path: format!("/api/v1/orders/{a_id}/refunds"),
            bearer: shop_a.clone(),
            body: None,
            expect: StatusCode::METHOD_NOT_ALLOWED,
        },
    ];
    let before = snapshot().await;
    for case in &cases {
        let (status, body) = env
            .app
            .call(
                case.method.clone(),
                &case.path,
                case.bearer.as_deref(),
                case.body.clone(),
            )
            .await;
        assert_eq!(status, case.expect, "{}: {body}", case.name);
        assert_eq!(snapshot().await, before, "{} changed something", case.name);
    }
    println!(
        "FIGURE access matrix: {} denied cases, 0 changes",
        cases.len()
    );

    // The same requests with the right credentials do work (the matrix is not vacuous).
    let (status, _) = env
        .app
        .call(
            Method::GET,
            &format!("/api/v1/orders/{a_id}"),
            shop_a.as_deref(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let s = summary(&env, &anne_token).await;
    assert_eq!(
        s["means"]["saved_cards"],
        json!([]),
        "Anne is not offered Karin's card"
    );
    let (_, token) = env.app.order(&env.shop, Some(&karin), 1500).await;
    let (status, out) = pay(
        &env,
        &token,
        json!({"means": "saved_card", "saved_card": card, "accept_terms": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    env.app.audit_clean().await;
}
on_both!(access_control_matrix);

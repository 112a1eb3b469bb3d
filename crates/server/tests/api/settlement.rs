//! Issue 3's acceptance scenarios through the real router, on SQLite and PostgreSQL.

use crate::helpers::{TestApp, cbweb, id};
use crate::on_both;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn the_seed_screen_promo_code_then_removed(app: TestApp) {
    let shop = app.shop().await;
    let (order, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    assert_eq!(order["amount_due_minor"], 3600);
    assert!(order["payment_url"].as_str().unwrap().contains(&token));
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "nouveaux-venus"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], "promo_code");
    let o = &body["checkout"]["order"];
    assert_eq!(o["applied_codes"][0]["label"], "NOUVEAUX-VENUS");
    assert_eq!(o["applied_codes"][0]["amount_minor"], 180);
    assert_eq!(o["amount_due_minor"], 3420, "36.00 − 1.80 = 34.20");
    let (status, body) = app
        .checkout(&token, Method::DELETE, "/codes/NOUVEAUX-VENUS", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["amount_due_minor"], 3600);
    assert_eq!(body["order"]["applied_codes"], json!([]));
    let (status, _) = app
        .checkout(&token, Method::DELETE, "/codes/NOUVEAUX-VENUS", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(the_seed_screen_promo_code_then_removed);

/// A receiver standing in for the shop: records every webhook delivery.
async fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sig = headers
                    .get("guichet-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                sink.lock().unwrap().push((sig, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn the_seed_order_paid_with_promo_voucher_credit_and_deferred(app: TestApp) {
    let shop = app.shop().await;
    let (url, got) = receiver().await;
    let secret = "whsec_test_secret_for_the_shop";
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/shop-keys/{}/webhook", shop.shop_key_id),
            Some(&app.admin),
            Some(json!({"url": url, "secret": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let voucher = app
        .voucher(&shop.t.institution, 2000, time::Duration::days(30), true)
        .await;
    let (order, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    let before = app.accounting(&shop.karin).await;
    assert_eq!(before["credit_balance"]["amount_minor"], 1500);

    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": "NOUVEAUX-VENUS"})),
    )
    .await;
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": voucher})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], "voucher");
    assert_eq!(
        body["checkout"]["order"]["amount_due_minor"], 1420,
        "34.20 − 20.00"
    );
    let (status, body) = app
        .checkout(
            &token,
            Method::PUT,
            "/credit-balance",
            Some(json!({"amount_minor": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["amount_due_minor"], 420, "14.20 − 10.00");
    assert_eq!(
        body["means"]["credit_balance"]["available"]["amount_minor"],
        500
    );

    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "terms first: {body}"
    );
    assert!(body["error"]["fields"]["accept_terms"].is_string());
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "paid");
    assert_eq!(body["order"]["amount_due_minor"], 0);

    assert_eq!(
        app.voucher_balance(&voucher).await,
        0,
        "the voucher keeps 0.00"
    );
    let after = app.accounting(&shop.karin).await;
    assert_eq!(
        after["credit_balance"]["amount_minor"], 500,
        "15.00 − 10.00"
    );
    assert_eq!(
        after["deferred_balance"]["amount_minor"], 420,
        "0.00 + 4.20"
    );
    app.audit_clean().await;

    let (status, read) = app
        .call(
            Method::GET,
            &format!("/api/v1/orders/{}", id(&order)),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["status"], "paid");
    let kinds: Vec<_> = read["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["voucher", "credit_balance", "deferred_account"]);

    // The job runner delivers order.paid to the shop, signed.
    let client = guichet_server::webhooks::http_client().unwrap();
    let stats =
        guichet_server::webhooks::deliver_due(&app.store, &client, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (sig, body) = &received[0];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    guichet_server::webhooks::verify(secret, sig, body.as_bytes(), now, 300)
        .expect("a valid signature");
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "order.paid");
    assert_eq!(event["data"]["order_id"], order["id"]);
    assert!(event["id"].is_string());
}
on_both!(the_seed_order_paid_with_promo_voucher_credit_and_deferred);

async fn cancelling_restores_voucher_credit_and_promo_exactly(app: TestApp) {
    let shop = app.shop().await;
    let voucher = app
        .voucher(&shop.t.institution, 2000, time::Duration::days(30), true)
        .await;
    let (order, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": "NOUVEAUX-VENUS"})),
    )
    .await;
    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": voucher})),
    )
    .await;
    app.checkout(
        &token,
        Method::PUT,
        "/credit-balance",
        Some(json!({"amount_minor": 1000})),
    )
    .await;
    assert_eq!(app.voucher_balance(&voucher).await, 0, "held");
    assert_eq!(
        app.accounting(&shop.karin).await["credit_balance"]["amount_minor"],
        500,
        "held"
    );
    let promo = app
        .store
        .promo_code_by_code(shop.t.institution.parse().unwrap(), "NOUVEAUX-VENUS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promo.uses_count, 1);

    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/orders/{}/cancel", id(&order)),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(app.voucher_balance(&voucher).await, 2000);
    assert_eq!(
        app.accounting(&shop.karin).await["credit_balance"]["amount_minor"],
        1500
    );
    let promo = app.store.get_promo_code(promo.id).await.unwrap();
    assert_eq!(promo.uses_count, 0);
    app.audit_clean().await;
    // A cancelled order takes nothing more.
    let (status, _) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": voucher})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
on_both!(cancelling_restores_voucher_credit_and_promo_exactly);

async fn a_voucher_keeps_its_rest_and_expired_ones_are_refused(app: TestApp) {
    let shop = app.shop().await;
    let fifty = app
        .voucher(&shop.t.institution, 5000, time::Duration::days(30), true)
        .await;
    let (_, token) = app.order(&shop, None, 3000).await;
    let (status, body) = app
        .checkout(&token, Method::POST, "/codes", Some(json!({"code": fifty})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checkout"]["order"]["amount_due_minor"], 0);
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "none", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.voucher_balance(&fifty).await,
        2000,
        "50.00 − 30.00 stays on the voucher"
    );

    let expired = app
        .voucher(
            &shop.t.institution,
            5000,
            time::Duration::seconds(-60),
            true,
        )
        .await;
    let (_, token) = app.order(&shop, None, 3000).await;
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": expired})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "code_not_applicable");
    // Unknown codes answer exactly alike.
    let (_, unknown) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"})),
        )
        .await;
    assert_eq!(unknown, body);
    let (_, unknown_promo) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOPE"})),
        )
        .await;
    assert_eq!(unknown_promo, body);
    assert_eq!(app.voucher_balance(&expired).await, 5000);
    app.audit_clean().await;
}
on_both!(a_voucher_keeps_its_rest_and_expired_ones_are_refused);

async fn deferred_account_refusals(app: TestApp) {
    let shop = app.shop().await;
    let pay = json!({"means": "deferred_account", "accept_terms": true});
    // Over the maximum (200.00).
    let (_, token) = app.order(&shop, Some(&shop.karin), 20001).await;
    let (status, body) = app
        .checkout(&token, Method::POST, "/pay", Some(pay.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "deferred_over_maximum");
    assert_eq!(
        app.accounting(&shop.karin).await["deferred_balance"]["amount_minor"],
        0
    );
    // Exactly the maximum is fine.
    let (_, token) = app.order(&shop, Some(&shop.karin), 20000).await;
    let (status, body) = app
        .checkout(&token, Method::POST, "/pay", Some(pay.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Not allowed for the contact.
    let anne = app
        .created(
            "/api/v1/admin/contacts",
            json!({"institution_id": shop.t.institution, "last_name": "LICATESE", "email": "anne@example.org", "deferred_max_minor": 100000}),
        )
        .await;
    let (_, token) = app.order(&shop, Some(&id(&anne)), 1000).await;
    let (status, body) = app
        .checkout(&token, Method::POST, "/pay", Some(pay.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "deferred_not_allowed");

    // The payment mode is not associated with the point of sale.
    let (_, modes) = app
        .admin_get(&format!(
            "/api/v1/admin/points-of-sale/{}/payment-modes",
            shop.t.pos
        ))
        .await;
    let compte = modes
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "COMPTE")
        .unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/admin/points-of-sale/{}/payment-modes/{}",
                shop.t.pos,
                id(compte)
            ),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.call(
        Method::PATCH,
        &format!("/api/v1/admin/contacts/{}", shop.karin),
        Some(&app.admin),
        Some(json!({"deferred_max_minor": 100000})),
    )
    .await;
    let (_, token) = app.order(&shop, Some(&shop.karin), 1000).await;
    let (status, body) = app.checkout(&token, Method::POST, "/pay", Some(pay)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "payment_mode_unavailable");
    assert_eq!(
        app.accounting(&shop.karin).await["deferred_balance"]["amount_minor"],
        20000
    );
    app.audit_clean().await;
}
on_both!(deferred_account_refusals);

async fn a_discount_after_a_voucher_gives_back_the_excess(app: TestApp) {
    let shop = app.shop().await;
    let voucher = app
        .voucher(&shop.t.institution, 5000, time::Duration::days(30), true)
        .await;
    let (_, token) = app.order(&shop, None, 3600).await;
    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": voucher})),
    )
    .await;
    assert_eq!(app.voucher_balance(&voucher).await, 1400, "36.00 held");
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOUVEAUX-VENUS"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["checkout"]["order"]["amount_due_minor"], 0,
        "never negative"
    );
    assert_eq!(
        app.voucher_balance(&voucher).await,
        1580,
        "1.80 given back to the voucher"
    );
    app.audit_clean().await;
}
on_both!(a_discount_after_a_voucher_gives_back_the_excess);

async fn bad_orders_are_refused_and_write_nothing(app: TestApp) {
    let shop = app.shop().await;
    let good = || {
        json!({
            "point_of_sale": shop.t.pos, "currency": "EUR",
            "lines": [{"kind": "fee", "label": "Frais", "quantity": 1, "unit_amount_minor": 100}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        })
    };
    let cases = [
        (
            "negative quantity",
            json!({"lines": [{"kind": "fee", "label": "x", "quantity": -1, "unit_amount_minor": 100}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "negative amount",
            json!({"lines": [{"kind": "fee", "label": "x", "quantity": 1, "unit_amount_minor": -100}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown currency",
            json!({"currency": "XXX"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "amount beyond range",
            json!({"lines": [{"kind": "fee", "label": "x", "quantity": 1000, "unit_amount_minor": 9_223_372_036_854_775_000i64}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "ticket without event",
            json!({"lines": [{"kind": "ticket", "label": "x", "quantity": 1, "unit_amount_minor": 100}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no lines",
            json!({"lines": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown point of sale",
            json!({"point_of_sale": "0190f4c4-0000-7000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown contact",
            json!({"contact": "0190f4c4-0000-7000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (what, patch, expected) in cases {
        let mut body = good();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = app
            .call(Method::POST, "/api/v1/orders", Some(&shop.key), Some(body))
            .await;
        assert_eq!(status, expected, "{what}: {err}");
        assert!(err["error"]["message"].is_string(), "{what}: {err}");
    }
    let resp = app
        .client
        .post(format!("{}/api/v1/orders", app.base))
        .bearer_auth(&shop.key)
        .header("content-type", "application/json")
        .body("{\"lines\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Mixed currencies: a line in another currency cannot even be expressed, and a contact
    // kept in another currency is refused.
    let chf = app
        .created(
            "/api/v1/admin/contacts",
            json!({"institution_id": shop.t.institution, "last_name": "Suisse", "email": "ch@example.org", "currency": "CHF"}),
        )
        .await;
    let mut body = good();
    body["contact"] = json!(id(&chf));
    let (status, _) = app
        .call(Method::POST, "/api/v1/orders", Some(&shop.key), Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was written: the shop has no order.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&shop.key),
            Some(good()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let n = app
        .store
        .expired_orders(
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
            100,
        )
        .await
        .unwrap();
    assert_eq!(n.len(), 1, "only the good order exists");
    let _ = cbweb;
}
on_both!(bad_orders_are_refused_and_write_nothing);

async fn expired_holds_are_released_by_the_job_runner(app: TestApp) {
    let shop = app.shop().await;
    let voucher = app
        .voucher(&shop.t.institution, 2000, time::Duration::days(30), true)
        .await;
    let (order, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": voucher})),
    )
    .await;
    app.checkout(
        &token,
        Method::PUT,
        "/credit-balance",
        Some(json!({"amount_minor": 1500})),
    )
    .await;
    assert_eq!(app.voucher_balance(&voucher).await, 0);
    let state = guichet_server::AppState {
        store: app.store.clone(),
        config: std::sync::Arc::new(guichet_server::ServerConfig::new(app.base.clone())),
    };
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(21);
    let n = guichet_server::checkout::expire_due(&state, later, 100)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (_, read) = app
        .call(
            Method::GET,
            &format!("/api/v1/orders/{}", id(&order)),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(read["status"], "expired");
    assert_eq!(app.voucher_balance(&voucher).await, 2000);
    assert_eq!(
        app.accounting(&shop.karin).await["credit_balance"]["amount_minor"],
        1500
    );
    app.audit_clean().await;
}
on_both!(expired_holds_are_released_by_the_job_runner);

async fn vouchers_bought_are_issued_when_the_order_is_paid(app: TestApp) {
    let shop = app.shop().await;
    let product = app
        .store
        .create_voucher_product(
            shop.t.institution.parse().unwrap(),
            "Bon 50",
            guichet_domain::Currency::EUR,
            &guichet_domain::voucher::VoucherProductRule {
                value: guichet_domain::voucher::VoucherValue::Fixed {
                    value: guichet_domain::Money::new(5000, guichet_domain::Currency::EUR),
                    price: guichet_domain::Money::new(4500, guichet_domain::Currency::EUR),
                },
                validity: guichet_domain::voucher::VoucherValidity::Days(365),
                reusable: true,
            },
        )
        .await
        .unwrap();
    let body = json!({
        "point_of_sale": shop.t.pos, "contact": shop.karin, "currency": "EUR",
        "lines": [{"kind": "voucher", "label": "Bon 50", "quantity": 2, "unit_amount_minor": 4500, "voucher_product": product.id}],
        "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
    });
    let (status, order) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&shop.key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let mut wrong = body;
    wrong["lines"][0]["unit_amount_minor"] = json!(4000);
    let (status, _) = app
        .call(Method::POST, "/api/v1/orders", Some(&shop.key), Some(wrong))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a fixed voucher sells at its price"
    );
    let token = order["checkout_token"].as_str().unwrap();
    let (status, body) = app
        .checkout(
            token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let issued = app
        .store
        .list_vouchers(Some(shop.t.institution.parse().unwrap()), 10)
        .await
        .unwrap();
    let issued: Vec<_> = issued
        .iter()
        .filter(|v| {
            v.issued_order_id.map(|o| o.to_string()) == order["id"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(issued.len(), 2);
    for v in issued {
        assert_eq!(v.balance.amount_minor(), 5000);
        assert!(guichet_domain::voucher::VoucherCode::looks_like(&v.code));
    }
    app.audit_clean().await;
}
on_both!(vouchers_bought_are_issued_when_the_order_is_paid);

async fn failed_code_attempts_are_rate_limited(app: TestApp) {
    let shop = app.shop().await;
    let (_, token) = app.order(&shop, None, 3600).await;
    let limit = guichet_server::ServerConfig::new("x").code_failures_per_order;
    for i in 0..limit {
        let (status, _) = app
            .checkout(
                &token,
                Method::POST,
                "/codes",
                Some(json!({"code": format!("GUESS-{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, body) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOUVEAUX-VENUS"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even a valid code waits: {body}"
    );
    assert_eq!(body["error"]["code"], "too_many_attempts");
    // Another order is not blocked by this one's failures.
    let (_, other) = app.order(&shop, None, 3600).await;
    let (status, _) = app
        .checkout(
            &other,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOUVEAUX-VENUS"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
on_both!(failed_code_attempts_are_rate_limited);

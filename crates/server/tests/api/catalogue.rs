//! The catalogue of the back office: promo codes (discount codes, generated and imported
//! coupons), voucher products, issued vouchers, and deferred-account settlements.

use crate::helpers::{TestApp, id};
use crate::on_both;
use guichet_domain::order::{Delivery, LineKind, OrderLine};
use guichet_domain::voucher::VoucherCode;
use guichet_domain::{AccountKind, Currency, Money, TransactionBuilder};
use guichet_store::{NewOrder, NewVoucher, OrderOp, OrderStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const PROMO: &str = "/api/v1/admin/promo-codes";

/// The seed's code: "Nouveaux venus", 5 % on the whole order.
fn nouveaux_venus(institution: &str) -> Value {
    json!({
        "institution_id": institution,
        "code": " nouveaux-venus ",
        "label": "Nouveaux venus",
        "kind": "discount_code",
        "discount": {"type": "percent", "basis_points": 500},
        "valid_from": "2026-01-01T00:00:00+01:00",
        "valid_until": "2027-01-01T00:00:00+01:00",
        "channels": ["internet", "box_office"],
        "max_uses_total": 1000,
        "max_uses_per_contact": 1,
        "min_order": {"amount_minor": 1000, "currency": "EUR"}
    })
}

async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let (status, body) = app.admin_get(path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body.as_array().expect("a list").clone()
}

async fn audit_clean(app: &TestApp) {
    let (status, audit) = app.admin_get("/api/v1/admin/audit").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit["differences"], json!([]), "{audit}");
}

#[track_caller]
fn assert_fields(status: StatusCode, body: &Value, fields: &[&str]) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    for field in fields {
        assert!(
            body["error"]["fields"][field].is_string(),
            "expected an error on {field}: {body}"
        );
    }
}

async fn discount_code_created_read_back_and_unique(app: TestApp) {
    let t = app.tenant().await;
    let created = app.created(PROMO, nouveaux_venus(&t.institution)).await;
    assert_eq!(created["code"], "NOUVEAUX-VENUS", "normalised");
    assert_eq!(created["label"], "Nouveaux venus");
    assert_eq!(created["kind"], "discount_code");
    assert_eq!(
        created["discount"],
        json!({"type": "percent", "basis_points": 500})
    );
    assert_eq!(created["uses_count"], 0);
    assert_eq!(created["active"], true);

    let path = format!("{PROMO}/{}", id(&created));
    let (status, read) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["code"], "NOUVEAUX-VENUS");
    assert_eq!(read["valid_from"], "2026-01-01T00:00:00+01:00");
    assert_eq!(read["valid_until"], "2027-01-01T00:00:00+01:00");
    assert_eq!(read["channels"], json!(["internet", "box_office"]));
    assert_eq!(read["max_uses_total"], 1000);
    assert_eq!(read["max_uses_per_contact"], 1);
    assert_eq!(
        read["min_order"],
        json!({"amount_minor": 1000, "currency": "EUR"})
    );
    assert_eq!(read["uses_count"], 0);
    assert_eq!(read["active"], true);
    assert!(read["batch_id"].is_null());
    let listed = list(&app, &format!("{PROMO}?institution_id={}", t.institution)).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);

    // The same code, typed otherwise, is taken in this institution...
    let mut again = nouveaux_venus(&t.institution);
    again["code"] = json!("NOUVEAUX-VENUS");
    again["label"] = json!("Another label");
    let (status, err) = app.admin_post(PROMO, again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "conflict");
    assert_eq!(
        list(&app, &format!("{PROMO}?institution_id={}", t.institution))
            .await
            .len(),
        1
    );
    // ...but free in another one.
    let other = app
        .created(
            "/api/v1/admin/institutions",
            json!({"name": "Autre salle", "default_currency": "EUR"}),
        )
        .await;
    app.created(PROMO, nouveaux_venus(&id(&other))).await;

    let (status, off) = app
        .admin_post(&format!("{path}/deactivate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["active"], false);
    assert_eq!(app.admin_get(&path).await.1["active"], false);
    let (status, on) = app.admin_post(&format!("{path}/activate"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["active"], true);

    // A single coupon with a fixed discount.
    let coupon = app
        .created(
            PROMO,
            json!({"institution_id": t.institution, "code": "merci-2026", "label": "Merci",
                   "kind": "coupon", "discount": {"type": "fixed", "amount_minor": 180, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(coupon["kind"], "coupon");
    assert_eq!(coupon["max_uses_total"], 1, "a coupon is single-use");
    assert_eq!(
        coupon["discount"],
        json!({"type": "fixed", "amount_minor": 180, "currency": "EUR"})
    );

    let (status, _) = app
        .admin_get(&format!("{PROMO}/0190f4c4-0000-7000-8000-000000000000"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .admin_post(
            &format!("{PROMO}/0190f4c4-0000-7000-8000-000000000000/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Operators read the catalogue but do not change it.
    let operator = app.user("guichetiere", "operator").await;
    let (status, body) = app.call(Method::GET, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut third = nouveaux_venus(&t.institution);
    third["code"] = json!("BIENVENUE");
    let (status, body) = app
        .call(Method::POST, PROMO, Some(&operator), Some(third))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("{path}/deactivate"),
            Some(&operator),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::GET, PROMO, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    audit_clean(&app).await;
}
on_both!(discount_code_created_read_back_and_unique);

async fn promo_code_validation(app: TestApp) {
    let t = app.tenant().await;
    let with = |patch: Value| {
        let mut body = nouveaux_venus(&t.institution);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for discount in [
        json!({"type": "percent", "basis_points": 0}),
        json!({"type": "percent", "basis_points": 10001}),
        json!({"type": "percent", "basis_points": -5}),
        json!({"type": "percent"}),
        json!({"type": "fixed", "amount_minor": 0, "currency": "EUR"}),
        json!({"type": "fixed", "amount_minor": -100, "currency": "EUR"}),
        json!({"type": "fixed", "amount_minor": 100, "currency": "EURO"}),
        json!({"type": "gift"}),
    ] {
        let (status, err) = app
            .admin_post(PROMO, with(json!({"discount": discount})))
            .await;
        assert_fields(status, &err, &["discount"]);
    }
    let (status, err) = app
        .admin_post(
            PROMO,
            with(json!({"valid_from": "2026-07-01T00:00:00Z", "valid_until": "2026-06-30T00:00:00Z"})),
        )
        .await;
    assert_fields(status, &err, &["valid_until"]);
    // Every bad field at once, the domain's checks included.
    let (status, err) = app
        .admin_post(
            PROMO,
            json!({"institution_id": t.institution, "code": "NOËL", "kind": "voucher",
                   "discount": {"type": "percent", "basis_points": 0},
                   "valid_from": "tomorrow", "channels": ["internet", "cinema"],
                   "max_uses_total": 0, "max_uses_per_contact": -1,
                   "min_order": {"amount_minor": -1, "currency": "EUR"}}),
        )
        .await;
    assert_fields(
        status,
        &err,
        &[
            "code",
            "label",
            "kind",
            "discount",
            "valid_from",
            "channels[1]",
            "max_uses_total",
            "max_uses_per_contact",
            "min_order",
        ],
    );
    for code in [
        "AB",
        "NOUVEAUX VENUS",
        &"A".repeat(33),
        "7K3Q-X9M2-PA4T-RB6W",
    ] {
        let (status, err) = app.admin_post(PROMO, with(json!({"code": code}))).await;
        assert_fields(status, &err, &["code"]);
    }
    let (status, err) = app
        .admin_post(
            PROMO,
            with(
                json!({"discount": {"type": "fixed", "amount_minor": 500, "currency": "EUR"},
                        "min_order": {"amount_minor": 1000, "currency": "CHF"}}),
            ),
        )
        .await;
    assert_fields(status, &err, &["min_order"]);
    let (status, err) = app
        .admin_post(PROMO, with(json!({"channels": ["internet", "internet"]})))
        .await;
    assert_fields(status, &err, &["channels"]);
    let (status, err) = app
        .admin_post(PROMO, with(json!({"kind": "coupon", "max_uses_total": 5})))
        .await;
    assert_fields(status, &err, &["max_uses_total"]);
    let (status, _) = app
        .admin_post(
            PROMO,
            with(json!({"institution_id": "0190f4c4-0000-7000-8000-000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = app.admin_post(PROMO, json!({"discount": 5})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        list(&app, PROMO).await.is_empty(),
        "nothing written by refused requests"
    );
}
on_both!(promo_code_validation);

async fn coupon_batch_generated(app: TestApp) {
    let t = app.tenant().await;
    let batch = app
        .created(
            &format!("{PROMO}/coupons"),
            json!({"institution_id": t.institution, "prefix": "nv", "count": 50,
                   "label": "Nouveaux venus (coupons)",
                   "discount": {"type": "percent", "basis_points": 500},
                   "valid_until": "2027-01-01T00:00:00+01:00", "channels": ["internet"],
                   "min_order": {"amount_minor": 2000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(batch["count"], 50);
    let codes: Vec<&str> = batch["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 50);
    let distinct: HashSet<&str> = codes.iter().copied().collect();
    assert_eq!(distinct.len(), 50, "distinct codes");
    for code in &codes {
        assert!(code.starts_with("NV-") && code.len() == 19, "{code}");
        assert!(!VoucherCode::looks_like(code), "{code}");
    }
    let listed = list(&app, &format!("{PROMO}?institution_id={}", t.institution)).await;
    assert_eq!(listed.len(), 50, "all listed");
    let listed_codes: HashSet<&str> = listed.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(listed_codes, distinct);
    for p in &listed {
        assert_eq!(p["kind"], "coupon", "{p}");
        assert_eq!(p["max_uses_total"], 1, "{p}");
        assert_eq!(p["batch_id"], batch["batch_id"], "{p}");
        assert_eq!(p["label"], "Nouveaux venus (coupons)");
        assert_eq!(p["active"], true);
        assert_eq!(p["channels"], json!(["internet"]));
    }
    assert_eq!(list(&app, &format!("{PROMO}?limit=10")).await.len(), 10);

    for (patch, field) in [
        (json!({"count": 0}), "count"),
        (json!({"count": 10001}), "count"),
        (json!({"prefix": "N-V"}), "prefix"),
        (json!({"prefix": ""}), "prefix"),
        (json!({"max_uses_total": 3}), "max_uses_total"),
        (
            json!({"discount": {"type": "fixed", "amount_minor": 0, "currency": "EUR"}}),
            "discount",
        ),
    ] {
        let mut body = json!({"institution_id": t.institution, "prefix": "NV", "count": 5,
                              "label": "x", "discount": {"type": "percent", "basis_points": 500}});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = app.admin_post(&format!("{PROMO}/coupons"), body).await;
        assert_fields(status, &err, &[field]);
    }
    let operator = app.user("guichetier", "operator").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("{PROMO}/coupons"),
            Some(&operator),
            Some(
                json!({"institution_id": t.institution, "prefix": "NV", "count": 5,
                        "label": "x", "discount": {"type": "percent", "basis_points": 500}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(list(&app, PROMO).await.len(), 50, "nothing more written");
}
on_both!(coupon_batch_generated);

async fn coupon_import_all_or_nothing(app: TestApp) {
    let t = app.tenant().await;
    let import = |codes: Value| {
        json!({"institution_id": t.institution, "label": "Partenaire CE",
               "discount": {"type": "fixed", "amount_minor": 500, "currency": "EUR"},
               "codes": codes})
    };
    let path = format!("{PROMO}/import");
    let (status, err) = app
        .admin_post(
            &path,
            import(json!(["CE-0001", "CE-0002", "CE 0003", "CE-0004"])),
        )
        .await;
    assert_fields(status, &err, &["codes[2]"]);
    assert_eq!(
        err["error"]["fields"].as_object().unwrap().len(),
        1,
        "only the bad code is named: {err}"
    );
    let (status, err) = app
        .admin_post(
            &path,
            import(json!(["CE-0001", "CE-0002", "x", "ce-0001 "])),
        )
        .await;
    assert_fields(status, &err, &["codes[2]", "codes[3]"]);
    assert!(
        err["error"]["fields"]["codes[3]"]
            .as_str()
            .unwrap()
            .contains("codes[0]"),
        "{err}"
    );
    for codes in [json!([]), Value::Null] {
        let (status, err) = app.admin_post(&path, import(codes)).await;
        assert_fields(status, &err, &["codes"]);
    }
    let too_many: Vec<String> = (0..10_001).map(|i| format!("C{i}")).collect();
    let (status, err) = app.admin_post(&path, import(json!(too_many))).await;
    assert_fields(status, &err, &["codes"]);
    assert!(list(&app, PROMO).await.is_empty(), "nothing written");

    let batch = app
        .created(&path, import(json!(["ce-0001", " CE-0002", "CE-0003"])))
        .await;
    assert_eq!(batch["count"], 3);
    assert_eq!(batch["codes"], json!(["CE-0001", "CE-0002", "CE-0003"]));
    // One code already taken: 409 and none of the others written.
    let (status, err) = app
        .admin_post(&path, import(json!(["CE-0004", "CE-0005", "CE-0002"])))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let listed = list(&app, PROMO).await;
    assert_eq!(listed.len(), 3, "all or nothing");
    for p in &listed {
        assert_eq!(p["kind"], "coupon");
        assert_eq!(p["max_uses_total"], 1);
        assert_eq!(p["batch_id"], batch["batch_id"]);
    }
}
on_both!(coupon_import_all_or_nothing);

async fn voucher_products(app: TestApp) {
    let t = app.tenant().await;
    let path = "/api/v1/admin/voucher-products";
    let fixed = app
        .created(
            path,
            json!({"institution_id": t.institution, "name": "Chèque cadeau 50 €", "currency": "EUR",
                   "value": {"type": "fixed", "value": {"amount_minor": 5000, "currency": "EUR"},
                             "price": {"amount_minor": 4500, "currency": "EUR"}},
                   "validity": {"days": 365}, "reusable": true}),
        )
        .await;
    assert_eq!(fixed["name"], "Chèque cadeau 50 €");
    assert_eq!(fixed["currency"], "EUR");
    assert_eq!(
        fixed["value"],
        json!({"type": "fixed", "value": {"amount_minor": 5000, "currency": "EUR"},
               "price": {"amount_minor": 4500, "currency": "EUR"}})
    );
    assert_eq!(fixed["validity"], json!({"days": 365}));
    assert_eq!(fixed["reusable"], true);
    let until = (OffsetDateTime::now_utc() + Duration::days(400))
        .replace_nanosecond(0)
        .unwrap();
    let until_text = until
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let open = app
        .created(
            path,
            json!({"institution_id": t.institution, "name": "Chèque cadeau libre", "currency": "EUR",
                   "value": {"type": "open", "min": {"amount_minor": 1000, "currency": "EUR"},
                             "max": {"amount_minor": 20000, "currency": "EUR"}},
                   "validity": {"until_date": until_text}, "reusable": false}),
        )
        .await;
    assert_eq!(open["value"]["type"], "open");
    assert_eq!(open["value"]["min"]["amount_minor"], 1000);
    assert_eq!(open["value"]["max"]["amount_minor"], 20000);
    assert_eq!(open["reusable"], false);
    let read_until = OffsetDateTime::parse(
        open["validity"]["until_date"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(read_until, until);

    let (status, read) = app.admin_get(&format!("{path}/{}", id(&fixed))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["value"], fixed["value"]);
    let listed = list(&app, &format!("{path}?institution_id={}", t.institution)).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], fixed["id"]);
    assert_eq!(listed[1]["id"], open["id"]);

    let base = |patch: Value| {
        let mut body = json!({"institution_id": t.institution, "name": "Bon", "currency": "EUR",
                              "value": {"type": "fixed", "value": {"amount_minor": 5000, "currency": "EUR"},
                                        "price": {"amount_minor": 5000, "currency": "EUR"}},
                              "validity": {"days": 365}, "reusable": true});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (patch, fields) in [
        (
            json!({"value": {"type": "fixed", "value": {"amount_minor": 0, "currency": "EUR"},
                             "price": {"amount_minor": -1, "currency": "EUR"}}}),
            vec!["value.value", "value.price"],
        ),
        (
            json!({"value": {"type": "fixed", "value": {"amount_minor": 5000, "currency": "EUR"},
                             "price": {"amount_minor": 5000, "currency": "USD"}}}),
            vec!["value.price"],
        ),
        (
            json!({"value": {"type": "open", "min": {"amount_minor": 5000, "currency": "EUR"},
                             "max": {"amount_minor": 1000, "currency": "EUR"}}}),
            vec!["value.max"],
        ),
        (
            json!({"value": {"type": "open", "min": {"amount_minor": 0, "currency": "EUR"},
                             "max": {"amount_minor": 1000, "currency": "EUR"}}}),
            vec!["value.min"],
        ),
        (
            json!({"value": {"type": "open"}}),
            vec!["value.min", "value.max"],
        ),
        (json!({"value": {"type": "gift"}}), vec!["value"]),
        (json!({"validity": {"days": 0}}), vec!["validity"]),
        (json!({"validity": {"days": 5000}}), vec!["validity"]),
        (json!({"validity": {}}), vec!["validity"]),
        (
            json!({"validity": {"until_date": "2020-01-01T00:00:00Z"}}),
            vec!["validity.until_date"],
        ),
        (
            json!({"validity": {"until_date": "next year"}}),
            vec!["validity.until_date"],
        ),
        (
            json!({"name": " ", "currency": "EURO", "reusable": null}),
            vec!["name", "currency", "reusable"],
        ),
    ] {
        let (status, err) = app.admin_post(path, base(patch.clone())).await;
        assert_fields(status, &err, &fields);
    }
    let operator = app.user("caissier", "operator").await;
    let (status, _) = app
        .call(Method::POST, path, Some(&operator), Some(base(json!({}))))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.call(Method::GET, path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), 2, "nothing more written");
}
on_both!(voucher_products);

/// Issues a voucher as a paid order would: the voucher row and its funding, in one store call.
async fn issue_voucher(
    app: &TestApp,
    institution: Uuid,
    pos: Uuid,
    product: Uuid,
    value_minor: i64,
) -> (Uuid, String) {
    let eur = |a| Money::new(a, Currency::EUR);
    let store = &app.store;
    let order = store
        .create_order(&NewOrder {
            institution_id: institution,
            point_of_sale_id: pos,
            shop_key_id: None,
            contact_id: None,
            currency: Currency::EUR,
            language: "fr".into(),
            total: eur(value_minor),
            lines: vec![OrderLine {
                kind: LineKind::Voucher,
                label: "Chèque cadeau".into(),
                quantity: 1,
                unit_amount: eur(value_minor),
                event: None,
                voucher_product_id: Some(product),
            }],
            delivery: Delivery {
                mode: "electronic".into(),
                delay: "immediate".into(),
                fee: eur(0),
            },
            first_event_at: None,
            return_url: None,
            cancel_url: None,
            checkout_token_hash: Uuid::now_v7().simple().to_string(),
            hold_expires_at: OffsetDateTime::now_utc() + Duration::minutes(20),
        })
        .await
        .unwrap();
    let voucher_id = Uuid::now_v7();
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).unwrap();
    let code = VoucherCode::generate(random).to_string();
    let liability = store
        .ledger_account(
            institution,
            AccountKind::VoucherLiability,
            voucher_id,
            Currency::EUR,
        )
        .await
        .unwrap();
    let cash = store
        .ledger_account(institution, AccountKind::Cash, institution, Currency::EUR)
        .await
        .unwrap();
    let sale = TransactionBuilder::new("voucher_sale", "test voucher")
        .debit(cash.id, AccountKind::Cash, eur(value_minor))
        .credit(
            liability.id,
            AccountKind::VoucherLiability,
            eur(value_minor),
        )
        .build()
        .unwrap();
    store
        .apply_order_ops(
            order.id,
            order.version,
            &[
                OrderOp::IssueVoucher(NewVoucher {
                    id: voucher_id,
                    institution_id: institution,
                    code: code.clone(),
                    product_id: Some(product),
                    face_value: eur(value_minor),
                    reusable: true,
                    expires_at: OffsetDateTime::now_utc() + Duration::days(365),
                    issued_order_id: Some(order.id),
                }),
                OrderOp::Post(sale),
                OrderOp::SetStatus {
                    to: OrderStatus::Paid,
                },
            ],
        )
        .await
        .unwrap();
    (voucher_id, code)
}

async fn vouchers_listed_with_codes_for_admins_only(app: TestApp) {
    let t = app.tenant().await;
    let product = app
        .created(
            "/api/v1/admin/voucher-products",
            json!({"institution_id": t.institution, "name": "Chèque cadeau", "currency": "EUR",
                   "value": {"type": "open", "min": {"amount_minor": 1000, "currency": "EUR"},
                             "max": {"amount_minor": 20000, "currency": "EUR"}},
                   "validity": {"days": 365}, "reusable": true}),
        )
        .await;
    let institution: Uuid = t.institution.parse().unwrap();
    let pos: Uuid = t.pos.parse().unwrap();
    let product_id: Uuid = id(&product).parse().unwrap();
    let (first, first_code) = issue_voucher(&app, institution, pos, product_id, 2000).await;
    let (second, second_code) = issue_voucher(&app, institution, pos, product_id, 5000).await;

    let path = format!("/api/v1/admin/vouchers?institution_id={}", t.institution);
    let vouchers = list(&app, &path).await;
    assert_eq!(vouchers.len(), 2);
    assert_eq!(vouchers[0]["id"], second.to_string(), "newest first");
    assert_eq!(vouchers[1]["id"], first.to_string());
    assert_eq!(vouchers[0]["code"], second_code);
    assert_eq!(
        vouchers[0]["face_value"],
        json!({"amount_minor": 5000, "currency": "EUR"})
    );
    assert_eq!(
        vouchers[0]["balance"],
        json!({"amount_minor": 5000, "currency": "EUR"})
    );
    assert_eq!(vouchers[1]["balance"]["amount_minor"], 2000);
    assert_eq!(vouchers[0]["reusable"], true);
    assert_eq!(vouchers[0]["expired"], false);
    assert!(vouchers[0]["issued_order_id"].is_string());
    assert!(vouchers[0]["held_by_order_id"].is_null());
    assert_eq!(vouchers[0]["product_id"], product["id"]);

    let (status, one) = app
        .admin_get(&format!("/api/v1/admin/vouchers/{first}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["code"], first_code);

    let operator = app.user("guichetiere", "operator").await;
    let (status, masked) = app.call(Method::GET, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK);
    let last_group = second_code.rsplit('-').next().unwrap();
    assert_eq!(
        masked[0]["code"],
        format!("****-****-****-{last_group}"),
        "operators see the last group only"
    );
    assert_eq!(masked[0]["balance"]["amount_minor"], 5000);
    let (_, one) = app
        .call(
            Method::GET,
            &format!("/api/v1/admin/vouchers/{first}"),
            Some(&operator),
            None,
        )
        .await;
    assert!(one["code"].as_str().unwrap().starts_with("****-"), "{one}");
    let (status, _) = app
        .admin_get("/api/v1/admin/vouchers/0190f4c4-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    audit_clean(&app).await;
}
on_both!(vouchers_listed_with_codes_for_admins_only);

async fn deferred_settlements(app: TestApp) {
    let t = app.tenant().await;
    let karin = app
        .created(
            "/api/v1/admin/contacts",
            json!({"institution_id": t.institution, "first_name": "Karin", "last_name": "DEU",
                   "email": "karin.deu@example.org", "deferred_allowed": true, "deferred_max_minor": 20000}),
        )
        .await;
    let contact_path = format!("/api/v1/admin/contacts/{}", id(&karin));
    let settle = format!("{contact_path}/deferred-settlements");

    // Nothing outstanding: nothing to settle.
    let (status, err) = app
        .admin_post(&settle, json!({"amount_minor": 100, "memo": "Virement"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "insufficient_balance");

    // A deferred purchase of 50.00, posted directly through the store.
    let institution: Uuid = t.institution.parse().unwrap();
    let contact: Uuid = id(&karin).parse().unwrap();
    let eur = |a| Money::new(a, Currency::EUR);
    let deferred = app
        .store
        .ledger_account(
            institution,
            AccountKind::ContactDeferred,
            contact,
            Currency::EUR,
        )
        .await
        .unwrap();
    let sales = app
        .store
        .ledger_account(institution, AccountKind::Sales, institution, Currency::EUR)
        .await
        .unwrap();
    let charge = TransactionBuilder::new("deferred_charge", "Spectacle du 12 mars")
        .debit(deferred.id, AccountKind::ContactDeferred, eur(5000))
        .credit(sales.id, AccountKind::Sales, eur(5000))
        .build()
        .unwrap();
    app.store
        .post_transaction(institution, None, &charge)
        .await
        .unwrap();
    let (_, before) = app.admin_get(&contact_path).await;
    assert_eq!(
        before["accounting"]["deferred_balance"]["amount_minor"],
        5000
    );

    let (status, after) = app
        .admin_post(
            &settle,
            json!({"amount_minor": 2000, "memo": "Chèque n° 1234567"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    assert_eq!(after["id"], karin["id"]);
    assert_eq!(
        after["accounting"]["deferred_balance"],
        json!({"amount_minor": 3000, "currency": "EUR"})
    );
    assert_eq!(after["accounting"]["deferred_room"]["amount_minor"], 17000);

    // More than the outstanding: refused, nothing moved.
    let (status, err) = app
        .admin_post(&settle, json!({"amount_minor": 3001, "memo": "Trop"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "insufficient_balance");
    let (_, read) = app.admin_get(&contact_path).await;
    assert_eq!(
        read["accounting"]["deferred_balance"]["amount_minor"], 3000,
        "nothing moved"
    );

    for (body, fields) in [
        (
            json!({"amount_minor": 0, "memo": "x"}),
            vec!["amount_minor"],
        ),
        (
            json!({"amount_minor": -500, "memo": "x"}),
            vec!["amount_minor"],
        ),
        (json!({}), vec!["amount_minor", "memo"]),
        (json!({"amount_minor": 100, "memo": "  "}), vec!["memo"]),
    ] {
        let (status, err) = app.admin_post(&settle, body).await;
        assert_fields(status, &err, &fields);
    }
    let operator = app.user("comptable", "operator").await;
    let (status, _) = app
        .call(
            Method::POST,
            &settle,
            Some(&operator),
            Some(json!({"amount_minor": 100, "memo": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .admin_post(
            "/api/v1/admin/contacts/0190f4c4-0000-7000-8000-000000000000/deferred-settlements",
            json!({"amount_minor": 100, "memo": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // With an Idempotency-Key, a repeated click records the payment once.
    let keyed = |key: &str, body: Value| {
        app.client
            .post(format!("{}{settle}", app.base))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", key.to_owned())
            .json(&body)
    };
    let first = keyed(
        "settle-1",
        json!({"amount_minor": 1000, "memo": "Virement 42"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        first["accounting"]["deferred_balance"]["amount_minor"],
        2000
    );
    let replay = keyed(
        "settle-1",
        json!({"amount_minor": 1000, "memo": "Virement 42"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first, "the stored response");
    let other = keyed(
        "settle-1",
        json!({"amount_minor": 500, "memo": "Virement 42"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, read) = app.admin_get(&contact_path).await;
    assert_eq!(
        read["accounting"]["deferred_balance"]["amount_minor"], 2000,
        "settled once"
    );

    let (status, history) = app.admin_get(&format!("{contact_path}/history")).await;
    assert_eq!(status, StatusCode::OK);
    let changes: Vec<(String, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["balance_change_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("deferred_charge".to_owned(), 5000),
            ("deferred_settlement".to_owned(), -2000),
            ("deferred_settlement".to_owned(), -1000),
        ]
    );
    let cash = app
        .store
        .ledger_account(institution, AccountKind::Cash, institution, Currency::EUR)
        .await
        .unwrap();
    assert_eq!(cash.balance, eur(3000), "the cash received");
    audit_clean(&app).await;
}
on_both!(deferred_settlements);

async fn catalogue_is_documented(app: TestApp) {
    let (status, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/admin/promo-codes", "post"),
        ("/api/v1/admin/promo-codes", "get"),
        ("/api/v1/admin/promo-codes/{id}", "get"),
        ("/api/v1/admin/promo-codes/{id}/activate", "post"),
        ("/api/v1/admin/promo-codes/{id}/deactivate", "post"),
        ("/api/v1/admin/promo-codes/coupons", "post"),
        ("/api/v1/admin/promo-codes/import", "post"),
        ("/api/v1/admin/voucher-products", "post"),
        ("/api/v1/admin/voucher-products", "get"),
        ("/api/v1/admin/voucher-products/{id}", "get"),
        ("/api/v1/admin/vouchers", "get"),
        ("/api/v1/admin/vouchers/{id}", "get"),
        ("/api/v1/admin/contacts/{id}/deferred-settlements", "post"),
    ] {
        assert!(
            paths.get(path).is_some_and(|p| p.get(method).is_some()),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "CreatePromoCodeRequest",
        "PromoCodeJson",
        "DiscountJson",
        "CouponBatchJson",
        "VoucherProductRequest",
        "VoucherJson",
        "DeferredSettlementRequest",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    // The shared rule fields are part of the requests' schemas (flattened).
    let rule = serde_json::to_string(&schemas["RuleInput"]).unwrap();
    assert!(
        rule.contains("valid_until") && rule.contains("max_uses_per_contact"),
        "{rule}"
    );
    for request in [
        "CreatePromoCodeRequest",
        "GenerateCouponsRequest",
        "ImportCouponsRequest",
    ] {
        let schema = serde_json::to_string(&schemas[request]).unwrap();
        assert!(
            schema.contains("#/components/schemas/RuleInput"),
            "{schema}"
        );
    }
}
on_both!(catalogue_is_documented);

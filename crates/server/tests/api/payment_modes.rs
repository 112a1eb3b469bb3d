use crate::helpers::{TestApp, cbweb, id};
use crate::on_both;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn the_seed_payment_mode_is_created_and_read_back(app: TestApp) {
    let t = app.tenant().await;
    let created = app
        .created("/api/v1/admin/payment-modes", cbweb(&t.institution))
        .await;
    assert_eq!(created["code"], "CBWEB");
    assert_eq!(created["internal_name"], "FR * CB WEB");
    assert_eq!(created["public_names"]["fr"], "FR * CB WEB");
    assert_eq!(created["public_names"]["en"], "EN * CB WEB");
    assert_eq!(created["type"], "card");
    assert_eq!(created["status"], "visible");
    assert_eq!(created["predetermined"], false);
    let (status, read) = app
        .admin_get(&format!("/api/v1/admin/payment-modes/{}", id(&created)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let (_, list) = app
        .admin_get(&format!(
            "/api/v1/admin/payment-modes?institution_id={}",
            t.institution
        ))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, channels) = app
        .admin_get(&format!(
            "/api/v1/admin/sales-channels?organizer_id={}",
            t.organizer
        ))
        .await;
    assert_eq!(channels[0]["kind"], "internet");
    let (_, points) = app
        .admin_get(&format!(
            "/api/v1/admin/points-of-sale?sales_channel_id={}",
            t.channel
        ))
        .await;
    assert_eq!(points[0]["id"], t.pos.as_str());
}
on_both!(the_seed_payment_mode_is_created_and_read_back);

async fn a_duplicate_code_is_a_conflict(app: TestApp) {
    let t = app.tenant().await;
    app.created("/api/v1/admin/payment-modes", cbweb(&t.institution))
        .await;
    let (status, body) = app
        .admin_post("/api/v1/admin/payment-modes", cbweb(&t.institution))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    // The same code in another institution is another mode.
    let other = app.tenant().await;
    app.created("/api/v1/admin/payment-modes", cbweb(&other.institution))
        .await;
    let (_, list) = app.admin_get("/api/v1/admin/payment-modes").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}
on_both!(a_duplicate_code_is_a_conflict);

async fn empty_or_lower_case_codes_are_refused_naming_the_field(app: TestApp) {
    let t = app.tenant().await;
    for bad in ["", "cbweb", "CbWeb"] {
        let mut body = cbweb(&t.institution);
        body["code"] = json!(bad);
        let (status, err) = app.admin_post("/api/v1/admin/payment-modes", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {err}");
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(err["error"]["fields"]["code"].is_string(), "{err}");
    }
    let mut body = cbweb(&t.institution);
    body.as_object_mut().unwrap().remove("code");
    body["type"] = json!("bitcoin");
    body["public_names"] = json!({});
    let (status, err) = app.admin_post("/api/v1/admin/payment-modes", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = err["error"]["fields"].as_object().unwrap();
    assert_eq!(fields["code"], "is required");
    assert!(
        fields.contains_key("type") && fields.contains_key("public_names"),
        "{err}"
    );
    // Nothing was written.
    let (_, list) = app.admin_get("/api/v1/admin/payment-modes").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}
on_both!(empty_or_lower_case_codes_are_refused_naming_the_field);

async fn order_limits_are_checked(app: TestApp) {
    let t = app.tenant().await;
    let mut body = cbweb(&t.institution);
    body["min_order"] = json!({"amount_minor": 5000, "currency": "EUR"});
    body["max_order"] = json!({"amount_minor": 1000, "currency": "EUR"});
    let (status, err) = app
        .admin_post("/api/v1/admin/payment-modes", body.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["error"]["fields"]["max_order.amount_minor"].is_string());
    body["max_order"] = json!({"amount_minor": 100000, "currency": "XXX"});
    let (status, err) = app
        .admin_post("/api/v1/admin/payment-modes", body.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["error"]["fields"]["max_order.currency"].is_string());
    body["max_order"] = json!({"amount_minor": 100000, "currency": "EUR"});
    let created = app.created("/api/v1/admin/payment-modes", body).await;
    assert_eq!(created["min_order"]["amount_minor"], 5000);
    assert_eq!(created["max_order"]["currency"], "EUR");
}
on_both!(order_limits_are_checked);

async fn update_and_delete(app: TestApp) {
    let t = app.tenant().await;
    let mode = app
        .created("/api/v1/admin/payment-modes", cbweb(&t.institution))
        .await;
    let mut other = cbweb(&t.institution);
    other["code"] = json!("BON");
    other["type"] = json!("voucher");
    app.created("/api/v1/admin/payment-modes", other).await;
    let path = format!("/api/v1/admin/payment-modes/{}", id(&mode));
    let mut changed = cbweb(&t.institution);
    changed["status"] = json!("hidden");
    changed["predetermined"] = json!(true);
    let (status, body) = app
        .call(Method::PUT, &path, Some(&app.admin), Some(changed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "hidden");
    assert_eq!(body["predetermined"], true);
    let mut taken = cbweb(&t.institution);
    taken["code"] = json!("BON");
    let (status, _) = app
        .call(Method::PUT, &path, Some(&app.admin), Some(taken))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(update_and_delete);

async fn association_with_the_internet_point_of_sale(app: TestApp) {
    let t = app.tenant().await;
    let mode = app
        .created("/api/v1/admin/payment-modes", cbweb(&t.institution))
        .await;
    let assoc = format!("/api/v1/admin/points-of-sale/{}/payment-modes", t.pos);
    let (status, list) = app
        .admin_post(&assoc, json!({"payment_mode_id": mode["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{list}");
    assert_eq!(list[0]["code"], "CBWEB");
    let (status, _) = app
        .admin_post(&assoc, json!({"payment_mode_id": mode["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "associating twice is harmless");
    let (_, list) = app.admin_get(&assoc).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let one = format!("{assoc}/{}", id(&mode));
    let (status, _) = app.call(Method::DELETE, &one, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.admin_get(&assoc).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (status, _) = app.call(Method::DELETE, &one, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Unknown mode, unknown point of sale, another institution's mode.
    let (status, _) = app
        .admin_post(
            &assoc,
            json!({"payment_mode_id": "0190f4c4-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .admin_post(
            "/api/v1/admin/points-of-sale/0190f4c4-0000-7000-8000-000000000000/payment-modes",
            json!({"payment_mode_id": mode["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = app.tenant().await;
    let foreign = app
        .created("/api/v1/admin/payment-modes", cbweb(&other.institution))
        .await;
    let (status, body) = app
        .admin_post(&assoc, json!({"payment_mode_id": foreign["id"]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
on_both!(association_with_the_internet_point_of_sale);

async fn payment_system_secrets_are_write_only(app: TestApp) {
    let t = app.tenant().await;
    let path = format!("/api/v1/admin/sales-channels/{}/payment-system", t.channel);
    let (status, _) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body = json!({
        "provider": "ogone",
        "label": "Ogone Hidden POST (ePC) v6u2",
        "base_url": "https://secure.ogone.com/ncol/test",
        "merchant_id": "GUICHETTEST",
        "settings": {"userid": "API"},
        "credentials": {"password": "guichet-test", "sha_in": "Mysecretsig1875!?", "sha_out": "Mysecretsig1875!?"},
        "three_ds_policy": "close_to_event",
        "three_ds_days": 3
    });
    let (status, saved) = app
        .call(Method::PUT, &path, Some(&app.admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = app.admin_get(&path).await;
    for doc in [&saved, &read] {
        let text = doc.to_string();
        assert!(
            !text.contains("Mysecretsig1875") && !text.contains("guichet-test"),
            "{text}"
        );
        assert_eq!(
            doc["credential_names"],
            json!(["password", "sha_in", "sha_out"])
        );
        assert_eq!(doc["missing_credentials"], json!([]));
        assert_eq!(doc["three_ds_policy"], "close_to_event");
        assert!(
            doc["features"]
                .as_array()
                .unwrap()
                .contains(&json!("refund"))
        );
    }
    let secrets = app
        .store
        .payment_system_credentials(t.channel.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(secrets["sha_in"].expose(), "Mysecretsig1875!?");

    let bad = json!({"provider": "paypal", "label": "", "base_url": "ftp://x", "merchant_id": "M", "three_ds_policy": "sometimes"});
    let (status, err) = app
        .call(Method::PUT, &path, Some(&app.admin), Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["provider", "label", "base_url", "three_ds_policy"] {
        assert!(err["error"]["fields"][field].is_string(), "{field}: {err}");
    }
}
on_both!(payment_system_secrets_are_write_only);

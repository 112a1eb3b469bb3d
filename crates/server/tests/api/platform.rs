use crate::helpers::TestApp;
use crate::on_both;
use reqwest::StatusCode;

async fn health_metrics_and_openapi(app: TestApp) {
    let (status, body) = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let (status, doc) = app
        .call(reqwest::Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/admin/login",
        "/api/v1/admin/payment-modes",
        "/api/v1/admin/payment-modes/{id}",
        "/api/v1/admin/points-of-sale/{id}/payment-modes",
        "/api/v1/admin/sales-channels/{id}/payment-system",
        "/api/v1/admin/contacts/{id}",
        "/api/v1/admin/shop-keys",
        "/api/v1/contacts",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("guichet_http_requests_total"), "{metrics}");
}
on_both!(health_metrics_and_openapi);

async fn malformed_requests_get_the_error_shape(app: TestApp) {
    let url = format!("{}/api/v1/admin/payment-modes", app.base);
    let resp = app
        .client
        .post(&url)
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let resp = app
        .client
        .post(&url)
        .bearer_auth(&app.admin)
        .body("code=X")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let resp = app
        .client
        .post(&url)
        .bearer_auth(&app.admin)
        .json(&serde_json::json!({"code": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let resp = app
        .client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let big = "x".repeat(guichet_server::BODY_LIMIT_BYTES + 10);
    let resp = app
        .client
        .post(&url)
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
on_both!(malformed_requests_get_the_error_shape);

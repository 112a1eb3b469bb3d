use crate::helpers::{ADMIN_PASSWORD, TestApp, cbweb};
use crate::on_both;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn credentials_are_required_and_roles_enforced(app: TestApp) {
    let t = app.tenant().await;
    let path = "/api/v1/admin/payment-modes";
    let (status, body) = app.call(Method::GET, path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app
        .call(Method::GET, path, Some("gbo_not-a-session"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let operator = app.user("olga", "operator").await;
    let (status, _) = app.call(Method::GET, path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK, "operators read");
    let (status, body) = app
        .call(
            Method::POST,
            path,
            Some(&operator),
            Some(cbweb(&t.institution)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(Method::GET, "/api/v1/admin/users", Some(&operator), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = app.admin_get(path).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "the forbidden call wrote nothing"
    );
}
on_both!(credentials_are_required_and_roles_enforced);

async fn login_logout_and_wrong_passwords(app: TestApp) {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/admin/login",
            None,
            Some(json!({"user": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["token"].is_null());
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/login",
            None,
            Some(json!({"user": "nobody", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let token = app.login("admin", ADMIN_PASSWORD).await;
    let (status, me) = app
        .call(Method::GET, "/api/v1/admin/me", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none());
    let (status, _) = app
        .call(Method::POST, "/api/v1/admin/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, "/api/v1/admin/me", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");

    let (status, err) = app
        .admin_post(
            "/api/v1/admin/users",
            json!({"username": "x", "password": "short", "role": "boss"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["username", "password", "role"] {
        assert!(err["error"]["fields"][f].is_string(), "{f}: {err}");
    }
    app.user("paul", "operator").await;
    let (status, _) = app
        .admin_post(
            "/api/v1/admin/users",
            json!({"username": "paul", "password": "another password", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
on_both!(login_logout_and_wrong_passwords);

async fn shop_keys_are_shown_once_and_work_until_revoked(app: TestApp) {
    let t = app.tenant().await;
    let created = app
        .created(
            "/api/v1/admin/shop-keys",
            json!({"institution_id": t.institution, "name": "Boutique"}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gsk_") && key.len() > 40);
    let (_, list) = app.admin_get("/api/v1/admin/shop-keys").await;
    let text = list.to_string();
    assert!(!text.contains(&key), "the key is not shown again");
    assert!(text.contains(&key[..12]), "its prefix is");

    let contact = json!({"external_ref": "C-1", "first_name": "Anne", "last_name": "LICATESE", "email": "anne.licatese@secutixtest.com"});
    let (status, c) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            Some(&key),
            Some(contact.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["institution_id"], t.institution.as_str());
    assert_eq!(c["accounting"]["deferred_allowed"], false);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::POST, "/api/v1/contacts", Some(&key), Some(contact))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "same external reference");
    // A back-office token is not a shop key, and a key is not a session.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            Some(&app.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(Method::GET, "/api/v1/admin/me", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another institution's shop sees nothing of this one.
    let other = app.tenant().await;
    let other_key = app
        .created(
            "/api/v1/admin/shop-keys",
            json!({"institution_id": other.institution, "name": "Autre"}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/admin/shop-keys/{}",
                created["id"].as_str().unwrap()
            ),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
}
on_both!(shop_keys_are_shown_once_and_work_until_revoked);

//! The back office in HTML through the router: sign-in and the guard, the payment-mode form
//! and the association with a point of sale, a contact's "Gestion" tab (admin vs operator), and
//! forms refused without their CSRF token (403, nothing changed).

use crate::helpers::*;
use crate::on_both;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn get(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = browser().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
    origin: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut req = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", origin)
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

pub(crate) fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let start = html
        .find(key)
        .unwrap_or_else(|| panic!("no csrf in {html}"))
        + key.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// `name=value` of a Set-Cookie named `name`.
pub(crate) fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Signs in through the login form; returns the session cookie (`guichet_admin=…`).
pub(crate) async fn sign_in(app: &TestApp, user: &str, password: &str) -> String {
    let (status, headers, html) = get(app, "/admin/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let pre = cookie_of(&headers, "guichet_admin_login").expect("pre-session cookie");
    let csrf = csrf_of(&html);
    let (status, headers, body) = post(
        app,
        "/admin/login",
        &[("csrf", &csrf), ("user", user), ("password", password)],
        Some(&pre),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let set: Vec<&str> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = set
        .iter()
        .find(|v| v.starts_with("guichet_admin=gbo_"))
        .unwrap_or_else(|| panic!("{set:?}"));
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(session.contains(attr), "{session}");
    }
    cookie_of(&headers, "guichet_admin").unwrap()
}

async fn the_back_office_needs_a_session_and_a_csrf_token(app: TestApp) {
    // The guard: no session, or a made-up one, goes to the login page.
    for cookie in [None, Some("guichet_admin=gbo_nothing")] {
        for path in ["/admin/payment-modes", "/admin/contacts"] {
            let (status, headers, _) = get(&app, path, cookie).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(headers[LOCATION], "/admin/login");
        }
    }
    // The login page has the buyer pages' headers.
    let (status, headers, html) = get(&app, "/admin/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("form-action 'self';"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("name=\"password\""));

    // A wrong password: the form again, 401, no session.
    let pre = cookie_of(&headers, "guichet_admin_login").unwrap();
    let (status, headers, html) = post(
        &app,
        "/admin/login",
        &[
            ("csrf", &csrf_of(&html)),
            ("user", "admin"),
            ("password", "wrong"),
        ],
        Some(&pre),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("incorrect"));
    assert!(cookie_of(&headers, "guichet_admin").is_none());
    // A cross-origin login without the token: 403.
    let (status, _, _) = post(
        &app,
        "/admin/login",
        &[("user", "admin"), ("password", ADMIN_PASSWORD)],
        None,
        "https://evil.example",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let t = app.tenant().await;
    let (status, _, html) = get(&app, "/admin/payment-modes", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Billetterie en ligne"));
    let csrf = csrf_of(&html);

    // Cross-origin posts without the token (or with a forged one) change nothing.
    for token in ["", "1.2.3"] {
        let (status, _, _) = post(
            &app,
            "/admin/payment-modes",
            &[
                ("csrf", token),
                ("institution_id", &t.institution),
                ("code", "FORGED"),
                ("internal_name", "Forged"),
                ("name_fr", "Forged"),
                ("type", "card"),
            ],
            Some(&session),
            "https://evil.example",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (_, modes) = app.admin_get("/api/v1/admin/payment-modes").await;
    assert_eq!(modes.as_array().unwrap().len(), 0, "{modes}");

    // The seed's form, then the association.
    let (status, headers, body) = post(
        &app,
        "/admin/payment-modes",
        &[
            ("csrf", &csrf),
            ("institution_id", &t.institution),
            ("internal_name", "FR * CB WEB"),
            ("name_fr", "FR * CB WEB"),
            ("name_en", "EN * CB WEB"),
            ("code", "CBWEB"),
            ("type", "card"),
            ("status", "visible"),
        ],
        Some(&session),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[LOCATION], "/admin/payment-modes?notice=created");
    let (_, modes) = app.admin_get("/api/v1/admin/payment-modes").await;
    let mode = &modes[0];
    assert_eq!(mode["code"], "CBWEB");
    assert_eq!(mode["public_names"]["en"], "EN * CB WEB");
    assert_eq!(mode["predetermined"], false);
    let (status, _, _) = post(
        &app,
        "/admin/payment-modes/associate",
        &[
            ("csrf", &csrf),
            ("point_of_sale_id", &t.pos),
            ("payment_mode_id", mode["id"].as_str().unwrap()),
        ],
        Some(&session),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, at) = app
        .admin_get(&format!(
            "/api/v1/admin/points-of-sale/{}/payment-modes",
            t.pos
        ))
        .await;
    assert_eq!(at[0]["code"], "CBWEB");

    // A token of another session is refused.
    let other = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let (status, _, _) = post(
        &app,
        "/admin/payment-modes/associate",
        &[("csrf", &csrf), ("point_of_sale_id", &t.pos)],
        Some(&other),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Logout ends the session.
    let (status, headers, _) = post(
        &app,
        "/admin/logout",
        &[("csrf", &csrf)],
        Some(&session),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/admin/login");
    let (status, _, _) = get(&app, "/admin/payment-modes", Some(&session)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

on_both!(the_back_office_needs_a_session_and_a_csrf_token);

async fn the_gestion_tab_is_changed_by_admins_only(app: TestApp) {
    let shop = app.shop().await;
    let contact = app
        .created(
            "/api/v1/admin/contacts",
            serde_json::json!({"institution_id": shop.t.institution, "first_name": "Léa",
                               "last_name": "MARTIN", "email": "lea@example.org"}),
        )
        .await;
    let contact = id(&contact);
    let path = format!("/admin/contacts/{contact}");
    let post_path = format!("{path}/accounting");

    app.user("olga", "operator").await;
    let operator = sign_in(&app, "olga", "olga password 123").await;
    let (status, _, html) = get(&app, &path, Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Gestion") && html.contains("Solde avoir"));
    assert!(
        html.contains("<fieldset disabled>"),
        "read-only for an operator"
    );
    let csrf = csrf_of(&html);
    let (status, _, _) = post(
        &app,
        &post_path,
        &[
            ("csrf", &csrf),
            ("deferred_allowed", "yes"),
            ("deferred_max", "150"),
        ],
        Some(&operator),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let tab = app.accounting(&contact).await;
    assert_eq!(tab["deferred_allowed"], false, "{tab}");

    let admin = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let (_, _, html) = get(&app, &path, Some(&admin)).await;
    let csrf = csrf_of(&html);
    // Without the token: 403, nothing changed.
    let (status, _, _) = post(
        &app,
        &post_path,
        &[("deferred_allowed", "yes"), ("deferred_max", "150")],
        Some(&admin),
        "https://evil.example",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.accounting(&contact).await["deferred_allowed"], false);
    // A bad amount: the form again with the error.
    let (status, _, html) = post(
        &app,
        &post_path,
        &[
            ("csrf", &csrf),
            ("deferred_allowed", "yes"),
            ("deferred_max", "abc"),
        ],
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Montant invalide"));
    let (status, headers, _) = post(
        &app,
        &post_path,
        &[
            ("csrf", &csrf),
            ("deferred_allowed", "yes"),
            ("deferred_max", "150,50"),
        ],
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], format!("{path}?notice=saved"));
    let tab = app.accounting(&contact).await;
    assert_eq!(tab["deferred_allowed"], true, "{tab}");
    assert_eq!(tab["deferred_max"]["amount_minor"], 15050, "{tab}");
    let (_, _, html) = get(&app, &format!("{path}?notice=saved"), Some(&admin)).await;
    assert!(html.contains("150.50"), "{html}");
}

on_both!(the_gestion_tab_is_changed_by_admins_only);

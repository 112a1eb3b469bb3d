//! Back-office pages through the router: payment systems and their security policy,
//! installment plans, the installment follow-up and refunds. For each page: it renders for an
//! operator and an admin, in French and in English; an admin's change takes effect (checked
//! through the JSON API or the store); an operator's change is refused (403) and a post
//! without its CSRF token too (403), changing nothing; bad input is answered 422 with the error
//! next to its field, changing nothing.

use crate::helpers::*;
use crate::on_both;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let resp = browser()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// A page that must render (200); returns its HTML.
async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let (status, html) = get(app, path, cookie).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {html}");
    html
}

async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: &str,
) -> (StatusCode, HeaderMap, String) {
    let resp = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", &app.base)
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let start = html
        .find(key)
        .unwrap_or_else(|| panic!("no csrf in {html}"))
        + key.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Signs in through the login form; returns the session cookie.
async fn sign_in(app: &TestApp, user: &str, password: &str) -> String {
    let resp = browser()
        .get(format!("{}/admin/login", app.base))
        .send()
        .await
        .unwrap();
    let pre = cookie_of(resp.headers(), "guichet_admin_login").unwrap();
    let csrf = csrf_of(&resp.text().await.unwrap());
    let (status, headers, body) = post(
        app,
        "/admin/login",
        &[("csrf", &csrf), ("user", user), ("password", password)],
        &pre,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    cookie_of(&headers, "guichet_admin").unwrap()
}

/// An admin's and an operator's session cookies.
async fn sessions(app: &TestApp) -> (String, String) {
    app.user("olga", "operator").await;
    let admin = sign_in(app, "admin", ADMIN_PASSWORD).await;
    let operator = sign_in(app, "olga", "olga password 123").await;
    (admin, operator)
}

/// The error paragraph of input `id` and whether the input is marked invalid.
fn field_error(html: &str, id: &str) -> (bool, String) {
    let input = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let tag_start = html[..input].rfind('<').unwrap();
    let tag_end = html[input..].find('>').unwrap() + input;
    let invalid = html[tag_start..tag_end].contains("aria-invalid=\"true\"");
    let key = format!("id=\"{id}-error\"");
    let p = html.find(&key).unwrap_or_else(|| panic!("no #{id}-error"));
    let start = html[p..].find('>').unwrap() + p + 1;
    let end = html[start..].find("</p>").unwrap() + start;
    let text = html[start..end].trim().to_owned();
    assert!(html[..start].ends_with("role=\"alert\">"), "{id}: role=alert");
    (invalid, text)
}

// ---- payment systems ---------------------------------------------------------------------------

const SECRET: &str = "Sup3r-Secret-Value!";

async fn system_json(app: &TestApp, channel: &str) -> Value {
    let (status, v) = app
        .admin_get(&format!(
            "/api/v1/admin/sales-channels/{channel}/payment-system"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn payment_systems_and_their_policy(app: TestApp) {
    let t = app.tenant().await;
    let (admin, operator) = sessions(&app).await;
    let path = format!("/admin/payment-systems/{}", t.channel);

    // Not set up yet: listed as such, the channel page says so.
    let html = page(&app, "/admin/payment-systems", &operator).await;
    assert!(html.contains("Systèmes de paiement") && html.contains("Pas encore configuré"));
    let html = page(&app, &path, &admin).await;
    assert!(html.contains("id=\"not-configured\""), "{html}");

    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/sales-channels/{}/payment-system", t.channel),
            Some(&app.admin),
            Some(json!({
                "provider": "ogone", "label": "Ogone Hidden POST (ePC) v6u2",
                "base_url": "https://ogone.test.v-psp.com/ncol/test", "merchant_id": "THEATRE1",
                "settings": {"userid": "API"},
                "credentials": {"password": SECRET, "sha_in": SECRET},
                "three_ds_policy": "always"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Both roles read it, in French and in English; secrets are "set"/"not set", never shown.
    for (who, cookie) in [("operator", &operator), ("admin", &admin)] {
        let html = page(&app, "/admin/payment-systems", cookie).await;
        assert!(html.contains("THEATRE1") && html.contains("Test"), "{who}");
        let html = page(&app, &path, cookie).await;
        assert!(html.contains("Politique 3-D Secure"), "{who}: {html}");
        assert!(html.contains("Ogone Hidden POST (ePC) v6u2"));
        assert!(html.contains("id=\"secret-password\">défini<"), "{html}");
        assert!(html.contains("id=\"secret-sha_out\">non défini<"), "{html}");
        assert!(!html.contains(SECRET), "{who}: a secret on the page");
        let en = page(&app, &format!("{path}?lang=en"), cookie).await;
        assert!(en.contains("3-D Secure policy") && en.contains("Security policy"));
        assert!(en.contains("id=\"secret-password\">set<"));
        assert!(!en.contains(SECRET));
    }
    let html = page(&app, &path, &operator).await;
    assert!(html.contains("<fieldset disabled>"), "read-only for an operator");
    assert!(!html.contains("id=\"system\""), "no account form for an operator");
    let admin_html = page(&app, &path, &admin).await;
    assert!(admin_html.contains("type=\"password\""));
    assert!(!admin_html.contains(SECRET));

    let policy_path = format!("{path}/policy");
    let near = [
        ("max_saved_cards", "3"),
        ("three_ds_policy", "close_to_event"),
        ("three_ds_days", "7"),
        ("cvv_on_saved_cards", "yes"),
    ];
    // An operator: 403, nothing changed.
    let csrf = csrf_of(&html);
    let mut form = near.to_vec();
    form.push(("csrf", &csrf));
    let (status, _, _) = post(&app, &policy_path, &form, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An admin without the token: 403, nothing changed.
    let (status, _, _) = post(&app, &policy_path, &near, &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let v = system_json(&app, &t.channel).await;
    assert_eq!(v["three_ds_policy"], "always");
    assert_eq!(v["card_saving_enabled"], true);
    assert_eq!(v["max_saved_cards"], 5);

    // Bad input: 422, each error next to its field, nothing changed.
    let csrf = csrf_of(&admin_html);
    let (status, _, html) = post(
        &app,
        &policy_path,
        &[
            ("csrf", &csrf),
            ("max_saved_cards", "51"),
            ("three_ds_policy", "close_to_event"),
            ("three_ds_days", "abc"),
        ],
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (invalid, text) = field_error(&html, "three_ds_days");
    assert!(invalid && text.contains("de 0 à 365"), "{text}");
    let (invalid, text) = field_error(&html, "max_saved_cards");
    assert!(invalid && text.contains("de 0 à 50"), "{text}");
    let (invalid, _) = field_error(&html, "label");
    assert!(!invalid, "the other form is not in error");
    assert!(html.contains("value=\"abc\""), "the typed value is kept");
    assert_eq!(
        system_json(&app, &t.channel).await["three_ds_policy"],
        "always"
    );

    // The admin's change: "only when the event is near", 7 days, no card saving.
    let mut form = near.to_vec();
    form.push(("csrf", &csrf));
    let (status, headers, body) = post(&app, &policy_path, &form, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[LOCATION], format!("{path}?notice=policy"));
    let v = system_json(&app, &t.channel).await;
    assert_eq!(v["three_ds_policy"], "close_to_event");
    assert_eq!(v["three_ds_days"], 7);
    assert_eq!(v["card_saving_enabled"], false);
    assert_eq!(v["cvv_on_saved_cards"], true);
    assert_eq!(v["max_saved_cards"], 3);
    assert_eq!(v["merchant_id"], "THEATRE1", "the account is kept");
    assert_eq!(v["settings"]["userid"], "API");
    let secrets = app
        .store
        .payment_system_credentials(t.channel.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(secrets["password"].expose(), SECRET, "secrets are kept");
    let html = page(&app, &format!("{path}?notice=policy&lang=en"), &admin).await;
    assert!(html.contains("Event within 7 days") && html.contains("Security policy saved"));

    // The account: another PSPID, a setting removed and one added, one secret replaced (the
    // others kept); the new value is never echoed.
    let csrf = csrf_of(&html);
    let system_form = |pspid: &'static str, url: &'static str| {
        vec![
            ("provider", "ogone"),
            ("label", "Ogone Hidden POST (ePC) v6u2"),
            ("base_url", url),
            ("merchant_id", pspid),
            ("setting.userid", ""),
            ("new_setting_key", "hash_algorithm"),
            ("new_setting_value", "SHA-512"),
            ("credential.password", ""),
            ("credential.sha_out", "new-sha-out-value"),
        ]
    };
    let mut bad = system_form("THEATRE2", "ftp://nowhere");
    bad.push(("csrf", &csrf));
    let (status, _, html) = post(&app, &path, &bad, &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (invalid, text) = field_error(&html, "base_url");
    assert!(invalid && text.contains("URL http(s)"), "{text}");
    assert!(!html.contains("new-sha-out-value"), "a secret is never echoed");
    assert_eq!(system_json(&app, &t.channel).await["merchant_id"], "THEATRE1");
    let mut form = system_form("THEATRE2", "https://secure.ogone.com/ncol/prod");
    let (status, _, _) = post(&app, &path, &form, &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    form.push(("csrf", &csrf));
    let (status, _, _) = post(&app, &path, &form, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator");
    assert_eq!(system_json(&app, &t.channel).await["merchant_id"], "THEATRE1");
    let (status, headers, body) = post(&app, &path, &form, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[LOCATION], format!("{path}?notice=system"));
    let v = system_json(&app, &t.channel).await;
    assert_eq!(v["merchant_id"], "THEATRE2");
    assert_eq!(v["settings"], json!({"hash_algorithm": "SHA-512"}));
    assert_eq!(v["three_ds_policy"], "close_to_event", "the policy is kept");
    let secrets = app
        .store
        .payment_system_credentials(t.channel.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(secrets["password"].expose(), SECRET);
    assert_eq!(secrets["sha_out"].expose(), "new-sha-out-value");
    let html = page(&app, &path, &admin).await;
    assert!(html.contains("id=\"secret-sha_out\">défini<"));
    assert!(html.contains("Production"));
    assert!(!html.contains("new-sha-out-value") && !html.contains(SECRET));
}

on_both!(payment_systems_and_their_policy);

// ---- installment plans -------------------------------------------------------------------------

async fn plans_json(app: &TestApp) -> Vec<Value> {
    let (status, v) = app.admin_get("/api/v1/admin/installment-plans").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

async fn installment_plans_pages(app: TestApp) {
    let t = app.tenant().await;
    let (admin, operator) = sessions(&app).await;
    let existing = app
        .created(
            "/api/v1/admin/installment-plans",
            json!({"point_of_sale_id": t.pos, "name": "En trois fois", "count": 3,
                   "split": "equal", "interval": "monthly",
                   "min_amount": {"amount_minor": 5000, "currency": "EUR"}, "mode": "restrictive"}),
        )
        .await;
    let plan_path = format!("/admin/installment-plans/{}", id(&existing));

    // Both roles read the list and a plan, with the example schedule the domain computes.
    for cookie in [&operator, &admin] {
        let html = page(&app, "/admin/installment-plans", cookie).await;
        assert!(html.contains("En trois fois") && html.contains("Paiements en plusieurs fois"));
        for amount in ["33.34 EUR", "33.33 EUR"] {
            assert!(html.contains(amount), "{amount}: {html}");
        }
        let html = page(&app, "/admin/installment-plans?sample=150,01&lang=en", cookie).await;
        assert!(html.contains("Installment plans") && html.contains("Monthly"));
        assert!(html.contains("50.01 EUR") && html.contains("50.00 EUR"), "{html}");
        let html = page(&app, &format!("{plan_path}?sample=20"), cookie).await;
        assert!(html.contains("Non proposée sous 50.00 EUR"), "{html}");
    }
    let html = page(&app, "/admin/installment-plans", &operator).await;
    assert!(!html.contains("id=\"plan-form\""), "no form for an operator");
    let (status, html) = get(&app, "/admin/installment-plans?sample=abc", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&html, "sample").0);

    let html = page(&app, "/admin/installment-plans", &admin).await;
    let csrf = csrf_of(&html);
    let fifty = [
        ("point_of_sale_id", t.pos.as_str()),
        ("name", "50/25/25"),
        ("count", "3"),
        ("split", "percentages"),
        ("percentages", "50/25/25"),
        ("interval", "days"),
        ("days", "30"),
        ("min_amount", "100,00"),
        ("mode", "free"),
        ("active", "yes"),
    ];
    // Refused: an operator, a post without the token.
    let mut form = fifty.to_vec();
    form.push(("csrf", &csrf));
    let (status, _, _) = post(&app, "/admin/installment-plans", &form, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&app, "/admin/installment-plans", &fifty, &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(plans_json(&app).await.len(), 1);
    // Bad input: the percentages do not add up, the interval is not a number.
    let mut bad = fifty.to_vec();
    bad[4] = ("percentages", "50/25/15");
    bad[6] = ("days", "x");
    bad.push(("csrf", &csrf));
    let (status, _, html) = post(&app, "/admin/installment-plans", &bad, &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (invalid, text) = field_error(&html, "days");
    assert!(invalid && text.contains("1 à 365"), "{text}");
    let mut bad = fifty.to_vec();
    bad[4] = ("percentages", "50/25/15");
    bad.push(("csrf", &csrf));
    let (status, _, html) = post(&app, "/admin/installment-plans", &bad, &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (invalid, text) = field_error(&html, "percentages");
    assert!(invalid && text.contains("100 en tout (ici 90)"), "{text}");
    assert!(html.contains("value=\"50/25/15\""));
    assert!(!field_error(&html, "name").0);
    assert_eq!(plans_json(&app).await.len(), 1);

    // Created.
    let (status, headers, body) = post(&app, "/admin/installment-plans", &form, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[LOCATION], "/admin/installment-plans?notice=created");
    let plans = plans_json(&app).await;
    let new = plans.iter().find(|p| p["name"] == "50/25/25").unwrap();
    assert_eq!(new["split"], json!([50, 25, 25]));
    assert_eq!(new["interval"], json!({"days": 30}));
    assert_eq!(new["min_amount"]["amount_minor"], 10000);
    assert_eq!(new["mode"], "free");
    assert_eq!(new["active"], true);

    // Changed: archived (inactive) and in four equal monthly parts.
    let new_path = format!("/admin/installment-plans/{}", id(new));
    let html = page(&app, &new_path, &admin).await;
    assert!(html.contains("value=\"50/25/25\""), "the form holds the plan");
    let csrf = csrf_of(&html);
    let edit = [
        ("csrf", csrf.as_str()),
        ("point_of_sale_id", t.pos.as_str()),
        ("name", "En quatre fois"),
        ("count", "4"),
        ("split", "equal"),
        ("interval", "monthly"),
        ("min_amount", "100"),
        ("mode", "restrictive"),
    ];
    let (status, _, _) = post(&app, &new_path, &edit, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = post(&app, &new_path, &edit, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], format!("{new_path}?notice=saved"));
    let (_, v) = app
        .admin_get(&format!("/api/v1/admin/installment-plans/{}", id(new)))
        .await;
    assert_eq!(v["name"], "En quatre fois");
    assert_eq!(v["count"], 4);
    assert_eq!(v["split"], "equal");
    assert_eq!(v["active"], false);

    // Deleted (no order uses it); an operator cannot.
    let delete_path = format!("{new_path}/delete");
    let (status, _, _) = post(&app, &delete_path, &[("csrf", &csrf)], &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&app, &delete_path, &[], &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(plans_json(&app).await.len(), 2);
    let (status, headers, _) = post(&app, &delete_path, &[("csrf", &csrf)], &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/admin/installment-plans?notice=deleted");
    assert_eq!(plans_json(&app).await.len(), 1);
}

on_both!(installment_plans_pages);

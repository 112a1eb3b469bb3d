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
    assert!(
        html[..start].ends_with("role=\"alert\">"),
        "{id}: role=alert"
    );
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
    assert!(
        html.contains("<fieldset disabled>"),
        "read-only for an operator"
    );
    assert!(
        !html.contains("id=\"system\""),
        "no account form for an operator"
    );
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
    assert!(
        !html.contains("new-sha-out-value"),
        "a secret is never echoed"
    );
    assert_eq!(
        system_json(&app, &t.channel).await["merchant_id"],
        "THEATRE1"
    );
    let mut form = system_form("THEATRE2", "https://secure.ogone.com/ncol/prod");
    let (status, _, _) = post(&app, &path, &form, &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    form.push(("csrf", &csrf));
    let (status, _, _) = post(&app, &path, &form, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator");
    assert_eq!(
        system_json(&app, &t.channel).await["merchant_id"],
        "THEATRE1"
    );
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
        let html = page(
            &app,
            "/admin/installment-plans?sample=150,01&lang=en",
            cookie,
        )
        .await;
        assert!(html.contains("Installment plans") && html.contains("Monthly"));
        assert!(
            html.contains("50.01 EUR") && html.contains("50.00 EUR"),
            "{html}"
        );
        let html = page(&app, &format!("{plan_path}?sample=20"), cookie).await;
        assert!(html.contains("Non proposée sous 50.00 EUR"), "{html}");
    }
    let html = page(&app, "/admin/installment-plans", &operator).await;
    assert!(
        !html.contains("id=\"plan-form\""),
        "no form for an operator"
    );
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
    assert!(
        html.contains("value=\"50/25/25\""),
        "the form holds the plan"
    );
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

// ---- the installment follow-up -----------------------------------------------------------------

/// One retry an hour after a decline, then the installment fails (the server and the job
/// runner share it).
fn one_retry(c: &mut guichet_server::ServerConfig) {
    c.installment_retry_hours = vec![1];
}

async fn jobs_at(env: &crate::cards::CardEnv, at: time::OffsetDateTime) -> usize {
    let mut config = guichet_server::ServerConfig::new(env.app.base.clone());
    one_retry(&mut config);
    let state = guichet_server::AppState {
        store: env.app.store.clone(),
        config: std::sync::Arc::new(config),
    };
    guichet_server::jobs::run_once(&state, &reqwest::Client::new(), at)
        .await
        .installments_charged
}

async fn balance(
    env: &crate::cards::CardEnv,
    kind: guichet_domain::AccountKind,
    owner: &str,
) -> i64 {
    env.app
        .store
        .ledger_account(
            env.shop.t.institution.parse().unwrap(),
            kind,
            owner.parse().unwrap(),
            guichet_domain::Currency::EUR,
        )
        .await
        .unwrap()
        .balance
        .amount_minor()
}

fn statuses(order: &Value) -> Vec<String> {
    order["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Installment `n`'s due date, 09:00 UTC.
fn due(order: &Value, n: usize) -> time::OffsetDateTime {
    let text = order["installments"][n - 1]["due_on"].as_str().unwrap();
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    date.with_hms(9, 0, 0).unwrap().assume_utc()
}

/// Karin pays 100.00 EUR in three with `number`, a card kept for the later installments;
/// returns the order and the card's alias at the simulator.
async fn pay_in_three(env: &crate::cards::CardEnv, plan: &str, number: &str) -> (Value, String) {
    use crate::saved_cards::{pay, post_form, summary};
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 10000).await;
    let s = summary(env, &token).await;
    let card = [
        ("CN", "Karin Deu"),
        ("CARDNO", number),
        ("ED", "1230"),
        ("CVC", "123"),
    ];
    let ret = post_form(env, &s["means"]["card_form_save"], &card).await;
    let (status, out) = pay(
        env,
        &token,
        json!({"means": "card", "accept_terms": true, "card_alias_return": ret, "installment_plan": plan}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "paid", "{out}");
    let alias = env.sim_transactions().await.last().unwrap()["alias"]
        .as_str()
        .unwrap()
        .to_owned();
    (env.order(&created).await, alias)
}

async fn card_behaviour(env: &crate::cards::CardEnv, alias: &str, behaviour: &str) {
    let resp = env
        .browser
        .post(format!("{}/__sim/aliases/{alias}/behaviour", env.sim))
        .json(&json!({"behaviour": behaviour}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn installment_follow_up_and_its_actions(app: TestApp) {
    use guichet_domain::AccountKind::{Cash, InstallmentsReceivable, ProviderClearing, Refunds};
    let env = crate::cards::card_env(app, "never", 0).await;
    let app = &env.app;
    let plan = app
        .created(
            "/api/v1/admin/installment-plans",
            json!({"point_of_sale_id": env.shop.t.pos, "name": "3x", "count": 3, "split": "equal",
                   "interval": "monthly", "min_amount": {"amount_minor": 5000, "currency": "EUR"},
                   "mode": "free"}),
        )
        .await;
    let (bad, alias) = pay_in_three(&env, &id(&plan), "5399999999999999").await;
    let (good, _) = pay_in_three(&env, &id(&plan), crate::cards::VISA_OK).await;
    let (bad_id, good_id) = (id(&bad), id(&good));
    card_behaviour(&env, &alias, "decline").await;
    // Declined on its due date, then an hour later: failed.
    let t2 = due(&bad, 2);
    assert_eq!(jobs_at(&env, t2).await, 2);
    assert_eq!(jobs_at(&env, t2 + time::Duration::hours(1)).await, 1);
    let bad = env.order(&bad).await;
    assert_eq!(statuses(&bad), ["paid", "failed", "open"], "{bad}");
    let failed_id = bad["installments"][1]["id"].as_str().unwrap().to_owned();
    let clearing = balance(&env, ProviderClearing, &env.shop.t.channel).await;
    assert_eq!(
        clearing,
        3334 * 2 + 3333,
        "two first installments and one second"
    );

    let (admin, operator) = sessions(app).await;
    // The follow-up, both roles, both languages, with its filters.
    for cookie in [&operator, &admin] {
        let html = page(app, "/admin/installments", cookie).await;
        assert!(html.contains("Suivi des échéances") && html.contains("Karin DEU"));
        assert_eq!(html.matches("<tr id=\"installment-").count(), 6, "{html}");
        let html = page(app, "/admin/installments?status=failed", cookie).await;
        assert_eq!(html.matches("<tr id=\"installment-").count(), 1, "{html}");
        let row_start = html
            .find(&format!("id=\"installment-{failed_id}\""))
            .unwrap();
        let row = &html[row_start..html[row_start..].find("</tr>").unwrap() + row_start];
        assert!(row.contains("En échec") && row.contains("2/3") && row.contains("33.33 EUR"));
        assert!(row.contains("<td>2</td>"), "attempts: {row}");
        assert!(row.contains(&format!("/admin/installments/orders/{bad_id}")));
        let html = page(app, "/admin/installments?status=paid&lang=en", cookie).await;
        assert!(html.contains("Installment follow-up") && html.contains("Last error"));
        assert_eq!(html.matches("<tr id=\"installment-").count(), 3, "{html}");
        let html = page(app, &format!("/admin/installments/orders/{bad_id}"), cookie).await;
        assert!(html.contains("Échéancier de la commande") && html.contains("En échec"));
        let html = page(
            app,
            &format!("/admin/installments/orders/{bad_id}?lang=en"),
            cookie,
        )
        .await;
        assert!(html.contains("id=\"h-schedule\">The order") && html.contains("Failed"));
    }
    let (status, html) = get(app, "/admin/installments?status=late", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&html, "status").0);
    let html = page(
        app,
        &format!("/admin/installments/orders/{bad_id}"),
        &operator,
    )
    .await;
    assert!(!html.contains("/retry\"") && !html.contains("id=\"other-payment\""));
    let admin_html = page(app, &format!("/admin/installments/orders/{bad_id}"), &admin).await;
    assert!(admin_html.contains(&format!("/admin/installments/{failed_id}/retry")));
    let csrf = csrf_of(&admin_html);

    // Refused: an operator, no token. Nothing charged, nothing moved.
    let retry = format!("/admin/installments/{failed_id}/retry");
    let cancel = format!("/admin/installments/{failed_id}/cancel");
    let charges = env.sim_transactions().await.len();
    for path in [&retry, &cancel] {
        let (status, _, _) = post(app, path, &[("csrf", &csrf)], &operator).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _, _) = post(app, path, &[], &admin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(env.sim_transactions().await.len(), charges);
    let now = env.order(&bad).await;
    assert_eq!(statuses(&now), ["paid", "failed", "open"]);
    assert_eq!(now["installments"][1]["attempts"], 2);

    // Retry now, the card still declining: charged once more, failed again.
    let (status, headers, body) = post(app, &retry, &[("csrf", &csrf)], &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        headers[LOCATION],
        format!("/admin/installments/orders/{bad_id}?notice=retry_failed")
    );
    assert_eq!(env.sim_transactions().await.len(), charges + 1);
    let now = env.order(&bad).await;
    assert_eq!(statuses(&now), ["paid", "failed", "open"]);
    assert_eq!(now["installments"][1]["attempts"], 3);
    // The card works again: retry now pays it (clearing up, receivable down).
    card_behaviour(&env, &alias, "card").await;
    let (status, headers, _) = post(app, &retry, &[("csrf", &csrf)], &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        format!("/admin/installments/orders/{bad_id}?notice=retry_paid")
    );
    assert_eq!(statuses(&env.order(&bad).await), ["paid", "paid", "open"]);
    assert_eq!(
        balance(&env, ProviderClearing, &env.shop.t.channel).await,
        clearing + 3333
    );
    assert_eq!(balance(&env, InstallmentsReceivable, &bad_id).await, 3333);
    app.audit_clean().await;
    // Twice: it is not failed any more (409), nothing charged.
    let charges = env.sim_transactions().await.len();
    let (status, _, _) = post(app, &retry, &[("csrf", &csrf)], &admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(env.sim_transactions().await.len(), charges);

    // Another payment at the box office, on the good order's oldest unpaid installment (the
    // third: the second was paid on its due date), before the third's due date.
    let good_now = env.order(&good).await;
    assert_eq!(statuses(&good_now), ["paid", "paid", "open"]);
    let pay_path = format!("/admin/installments/orders/{good_id}/payment");
    let html = page(
        app,
        &format!("/admin/installments/orders/{good_id}"),
        &admin,
    )
    .await;
    assert!(html.contains("id=\"next-unpaid\">3 · "), "{html}");
    let cash = balance(&env, Cash, &env.shop.t.institution).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("means", "cheque"),
        ("reference", "CHQ 0042"),
    ];
    let (status, _, _) = post(app, &pay_path, &form, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(app, &pay_path, &form[1..], &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, html) = post(
        app,
        &pay_path,
        &[("csrf", &csrf), ("means", "bitcoin")],
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(
            "id=\"means-error\" class=\"field-error\" role=\"alert\">Choisissez espèces ou chèque.<"
        ),
        "{html}"
    );
    let radio = html.find("id=\"means-cash\"").unwrap();
    assert!(html[radio..radio + 200].contains("aria-invalid=\"true\""));
    assert_eq!(statuses(&env.order(&good).await), ["paid", "paid", "open"]);
    assert_eq!(balance(&env, Cash, &env.shop.t.institution).await, cash);
    let (status, headers, _) = post(app, &pay_path, &form, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        format!("/admin/installments/orders/{good_id}?notice=recorded")
    );
    assert_eq!(statuses(&env.order(&good).await), ["paid", "paid", "paid"]);
    assert_eq!(
        balance(&env, Cash, &env.shop.t.institution).await,
        cash + 3333
    );
    assert_eq!(balance(&env, InstallmentsReceivable, &good_id).await, 0);
    // The third fails too; it is cancelled: Dr refunds, Cr receivable.
    card_behaviour(&env, &alias, "decline").await;
    let t3 = due(&bad, 3);
    jobs_at(&env, t3).await;
    jobs_at(&env, t3 + time::Duration::hours(1)).await;
    let now = env.order(&bad).await;
    assert_eq!(statuses(&now), ["paid", "paid", "failed"], "{now}");
    let third = now["installments"][2]["id"].as_str().unwrap().to_owned();
    let refunds = balance(&env, Refunds, &env.shop.t.institution).await;
    let (status, headers, _) = post(
        app,
        &format!("/admin/installments/{third}/cancel"),
        &[("csrf", &csrf)],
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        format!("/admin/installments/orders/{bad_id}?notice=cancelled")
    );
    assert_eq!(
        statuses(&env.order(&bad).await),
        ["paid", "paid", "cancelled"]
    );
    assert_eq!(balance(&env, InstallmentsReceivable, &bad_id).await, 0);
    assert_eq!(
        balance(&env, Refunds, &env.shop.t.institution).await,
        refunds + 3333
    );
    app.audit_clean().await;

    // Nothing left to pay: refused.
    let (status, _, _) = post(app, &pay_path, &form, &admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The job runner charges nothing more for either order.
    assert_eq!(jobs_at(&env, t3 + time::Duration::days(30)).await, 0);
    app.audit_clean().await;
}

crate::on_both_with!(installment_follow_up_and_its_actions, super::one_retry);

// ---- refunds -----------------------------------------------------------------------------------

async fn refunds_page_finds_an_order_and_refunds_it(app: TestApp) {
    use crate::cards::{VISA_OK, card, card_env};
    let env = card_env(app, "never", 0).await;
    let app = &env.app;
    let (created, token) = app.order(&env.shop, Some(&env.shop.karin), 6000).await;
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (_, paid) = env.pay(&token, &alias).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let order_id = id(&created);
    let order = env.order(&created).await;
    let card_leg = order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "card")
        .unwrap()
        .clone();
    let reference = card_leg["card"]["reference"].as_str().unwrap().to_owned();
    let clearing = || async {
        app.store
            .ledger_account(
                env.shop.t.institution.parse().unwrap(),
                guichet_domain::AccountKind::ProviderClearing,
                env.shop.t.channel.parse().unwrap(),
                guichet_domain::Currency::EUR,
            )
            .await
            .unwrap()
            .balance
            .amount_minor()
    };
    let sim_refunded = || async {
        env.sim_transactions()
            .await
            .iter()
            .filter(|t| t["reference"] == reference.as_str())
            .flat_map(|t| t["refunds"].as_array().cloned().unwrap_or_default())
            .map(|r| r["amount_minor"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(clearing().await, 6000);

    let (admin, operator) = sessions(app).await;
    let path = format!("/admin/refunds?order={order_id}");
    for cookie in [&operator, &admin] {
        let html = page(app, "/admin/refunds", cookie).await;
        assert!(html.contains("Remboursements") && html.contains("Aucun remboursement."));
        let html = page(app, &path, cookie).await;
        assert!(html.contains("Moyens de paiement") && html.contains("Carte bancaire"));
        let leg = html
            .find(&format!("id=\"leg-{}\"", card_leg["id"].as_str().unwrap()))
            .unwrap();
        let row = &html[leg..html[leg..].find("</tr>").unwrap() + leg];
        assert_eq!(
            row.matches("60.00 EUR").count(),
            2,
            "collected, refundable: {row}"
        );
        assert!(row.contains("XXXXXXXXXXXX1111"), "{row}");
        assert!(html.contains(&reference));
        // By the payment's reference, in English.
        let html = page(
            app,
            &format!("/admin/refunds?order={reference}&lang=en"),
            cookie,
        )
        .await;
        assert!(html.contains("Means of payment") && html.contains(&order_id));
    }
    assert!(!page(app, &path, &operator).await.contains("id=\"refund\""));
    let (status, html) = get(app, "/admin/refunds?order=nothing-like-it", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (invalid, text) = field_error(&html, "order");
    assert!(invalid && text.contains("Aucune commande"), "{text}");

    let html = page(app, &path, &admin).await;
    let csrf = csrf_of(&html);
    let post_path = format!("/admin/refunds/orders/{order_id}");
    let partial = [
        ("csrf", csrf.as_str()),
        ("amount", "12,50"),
        ("destination", "card"),
    ];
    // Refused: an operator (the page and the JSON API), no token; nothing refunded.
    let (status, _, _) = post(app, &post_path, &partial, &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let olga = app.login("olga", "olga password 123").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/admin/orders/{order_id}/refunds"),
            Some(&olga),
            Some(json!({"amount_minor": 100, "destination": "card"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(app, &post_path, &partial[1..], &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad input: not an amount; more than the card collected.
    for (amount, says) in [("abc", "Montant invalide"), ("70", "dépasse")] {
        let (status, _, html) = post(
            app,
            &post_path,
            &[("csrf", &csrf), ("amount", amount), ("destination", "card")],
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}");
        let (invalid, text) = field_error(&html, "amount");
        assert!(invalid && text.contains(says), "{amount}: {text}");
        assert!(html.contains(&format!("value=\"{amount}\"")));
    }
    let (status, _, html) = post(
        app,
        &post_path,
        &[("csrf", &csrf), ("amount", "1"), ("destination", "cash")],
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"destination-error\" class=\"field-error\" role=\"alert\">Choisissez")
    );
    assert_eq!(sim_refunded().await, 0);
    assert_eq!(clearing().await, 6000);
    assert_eq!(
        env.order(&created).await["refunds"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // 12.50 back to the card: the provider refunds it, the ledger follows.
    let (status, headers, body) = post(app, &post_path, &partial, &admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        headers[LOCATION],
        format!("/admin/refunds?order={order_id}&notice=refunded")
    );
    assert_eq!(sim_refunded().await, 1250);
    assert_eq!(clearing().await, 6000 - 1250);
    let order = env.order(&created).await;
    let refunds = order["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["status"], "succeeded");
    assert_eq!(refunds[0]["destination"], "card");
    // 5.00 to Karin's credit balance.
    let credit = app.accounting(&env.shop.karin).await["credit_balance"]["amount_minor"]
        .as_i64()
        .unwrap();
    let (status, _, _) = post(
        app,
        &post_path,
        &[
            ("csrf", &csrf),
            ("amount", "5"),
            ("destination", "credit_balance"),
        ],
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let after = app.accounting(&env.shop.karin).await["credit_balance"]["amount_minor"]
        .as_i64()
        .unwrap();
    assert_eq!(after - credit, 500);
    app.audit_clean().await;

    // The page shows what is left and the refunds, newest first.
    let html = page(app, &format!("{path}&notice=refunded"), &admin).await;
    assert!(html.contains("Remboursement effectué."));
    let leg = html
        .find(&format!("id=\"leg-{}\"", card_leg["id"].as_str().unwrap()))
        .unwrap();
    let row = &html[leg..html[leg..].find("</tr>").unwrap() + leg];
    assert!(
        row.contains("17.50 EUR") && row.contains("42.50 EUR"),
        "{row}"
    );
    let recent = &html[html.find("id=\"recent-refunds\"").unwrap()..];
    let five = recent.find("5.00 EUR").unwrap();
    let twelve = recent.find("12.50 EUR").unwrap();
    assert!(five < twelve, "newest first");
    assert!(recent.contains("user:admin") && recent.contains("Effectué"));
    let html = page(app, "/admin/refunds?lang=en", &operator).await;
    assert!(html.contains("Latest refunds") && html.contains("Credit balance"));
}

on_both!(refunds_page_finds_an_order_and_refunds_it);

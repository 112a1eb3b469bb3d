//! The buyer's pages through the router (the card flows, which need the provider and a
//! browser, are in `crates/guichet/tests/browser.rs`): the payment page's content and
//! headers, its forms (codes, credit balance, deferred account, cancel) with and without their
//! CSRF token, and the account pages' session.

use crate::helpers::*;
use crate::on_both;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

/// A browser that shows each answer as it is (no redirect followed).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = browser().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

/// The CSRF token of a page's forms.
fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let start = html
        .find(key)
        .unwrap_or_else(|| panic!("no csrf in {html}"))
        + key.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn location(headers: &HeaderMap) -> String {
    headers[LOCATION].to_str().unwrap().to_owned()
}

/// PROOFS.md: every script of a page is served by Guichet, listed, with an integrity hash:
/// no inline script, no script from elsewhere, and each `integrity` is the SHA-384 of the
/// bytes served at its `src`. An unlisted script fails this test (and CI).
async fn scripts_are_listed_with_their_hashes(app: &TestApp, html: &str) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut checked = 0;
    for tag in html.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').expect("a closed script tag")];
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|i| {
                let rest = &tag[i + key.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
        };
        let src = attr("src").unwrap_or_else(|| panic!("an inline script: <script{tag}>"));
        assert!(
            src.starts_with("/static/"),
            "a script from elsewhere: {src}"
        );
        let integrity = attr("integrity").unwrap_or_else(|| panic!("no integrity: {src}"));
        let bytes = app
            .client
            .get(format!("{}{src}", app.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&bytes));
        assert_eq!(integrity, format!("sha384-{hash}"), "{src}");
        checked += 1;
    }
    assert!(checked > 0, "no script in the page");
}

async fn due(app: &TestApp, token: &str) -> i64 {
    let (status, s) = app.checkout(token, Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    s["order"]["amount_due_minor"].as_i64().unwrap()
}

async fn payment_page_settles_an_order_with_codes_credit_and_the_deferred_account(app: TestApp) {
    let shop = app.shop().await;
    let (_, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    let pay = format!("/pay/{token}");

    let (status, headers, html) = get(&app, &pay, None).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "form-action 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    for text in [
        "Paiement de votre commande",
        "Le Misanthrope",
        "Électronique",
        "Immédiat",
        "karin.deu@example.org",
        "36.00 EUR",
        "Compte d&#x27;attente",
        "Solde avoir",
        "integrity=\"sha384-",
    ] {
        assert!(
            html.contains(text) || html.contains(&text.replace("&#x27;", "&#39;")),
            "no {text} in the page"
        );
    }
    scripts_are_listed_with_their_hashes(&app, &html).await;
    let (_, _, english) = get(&app, &format!("{pay}?lang=en"), None).await;
    assert!(english.contains("Pay for your order"), "{english}");
    assert!(english.contains("lang=\"en\""));

    // Without its CSRF token a form changes nothing.
    let (status, _, _) = post(
        &app,
        &format!("{pay}/codes"),
        &[("code", "NOUVEAUX-VENUS")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        &app,
        &format!("{pay}/codes"),
        &[("code", "NOUVEAUX-VENUS"), ("csrf", "1.2.3")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(due(&app, &token).await, 3600);

    let csrf = csrf_of(&html);
    let (status, headers, _) = post(
        &app,
        &format!("{pay}/codes?lang=fr"),
        &[("code", "NOUVEAUX-VENUS"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location(&headers).contains("notice=code_applied"));
    assert_eq!(due(&app, &token).await, 3420);
    let (_, _, html) = get(&app, &location(&headers), None).await;
    assert!(
        html.contains("Le code promotionnel a été appliqué."),
        "{html}"
    );
    assert!(html.contains("-1.80 EUR"));

    // A refused code is said next to its field.
    let (status, _, html) = post(
        &app,
        &format!("{pay}/codes"),
        &[("code", "NOPE-NOPE"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"code-error\" class=\"field-error\" role=\"alert\">Ce code ne peut pas"),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\""));

    // Part of the credit balance (a comma is a decimal point too).
    let (status, _, _) = post(
        &app,
        &format!("{pay}/credit"),
        &[("amount", "10,00"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(due(&app, &token).await, 2420);
    let (status, _, html) = post(
        &app,
        &format!("{pay}/credit"),
        &[("amount", "ten"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Montant invalide"), "{html}");

    // The deferred account: terms first.
    let (status, _, html) = post(
        &app,
        &format!("{pay}/pay"),
        &[("means", "deferred_account"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Vous devez accepter les conditions générales"));
    let (status, headers, _) = post(
        &app,
        &format!("{pay}/pay?lang=fr"),
        &[
            ("means", "deferred_account"),
            ("accept_terms", "true"),
            ("csrf", &csrf),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{pay}/result?lang=fr"));
    let (status, _, html) = get(&app, &location(&headers), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Paiement accepté"), "{html}");
    assert!(html.contains("Compte d&#x27;attente") || html.contains("Compte d&#39;attente"));
    assert!(html.contains("24.20 EUR"));
    let accounting = app.accounting(&shop.karin).await;
    assert_eq!(
        accounting["deferred_balance"]["amount_minor"], 2420,
        "{accounting}"
    );
    // The page of a paid order is its result.
    let (status, _, html) = get(&app, &pay, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Paiement accepté"));
    app.audit_clean().await;
}
on_both!(payment_page_settles_an_order_with_codes_credit_and_the_deferred_account);

async fn cancelling_from_the_page_releases_the_voucher(app: TestApp) {
    let shop = app.shop().await;
    let code = app
        .voucher(&shop.t.institution, 2000, time::Duration::days(30), true)
        .await;
    let (_, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    let pay = format!("/pay/{token}");
    let (_, _, html) = get(&app, &pay, None).await;
    let csrf = csrf_of(&html);
    let (status, _, _) = post(
        &app,
        &format!("{pay}/codes"),
        &[("code", &code), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.voucher_balance(&code).await, 0);
    let (_, _, html) = get(&app, &pay, None).await;
    assert!(html.contains("-20.00 EUR"), "{html}");
    assert!(!html.contains(&code), "the voucher's code is shown masked");

    let (status, _, _) = post(&app, &format!("{pay}/cancel"), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = post(&app, &format!("{pay}/cancel"), &[("csrf", &csrf)], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = get(&app, &location(&headers), None).await;
    assert!(html.contains("Commande annulée"), "{html}");
    assert_eq!(app.voucher_balance(&code).await, 2000);
    app.audit_clean().await;
}
on_both!(cancelling_from_the_page_releases_the_voucher);

async fn an_unknown_payment_link_is_a_page_not_found(app: TestApp) {
    let (status, headers, html) = get(&app, "/pay/no-such-token", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Lien inconnu"));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (status, _, _) = get(&app, "/static/guichet.js", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&app, "/static/../Cargo.toml", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(an_unknown_payment_link_is_a_page_not_found);

async fn the_account_pages_open_with_the_link_and_refuse_forged_forms(app: TestApp) {
    let shop = app.shop().await;
    let (status, link) = app
        .call(
            Method::POST,
            &format!("/api/v1/contacts/{}/account-link", shop.karin),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().unwrap();
    let path = url.strip_prefix(&app.base).unwrap();

    let (status, _, _) = get(&app, "/account?token=acc_nope", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, html) = get(&app, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("url=/account/cards"), "{html}");
    let set = headers[SET_COOKIE].to_str().unwrap().to_owned();
    for part in [
        "guichet_account=acc_",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/account",
    ] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();

    let (status, _, _) = get(&app, "/account/cards", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, html) = get(&app, "/account/cards", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self';")
    );
    assert!(
        html.contains("Vous n&#x27;avez aucune carte")
            || html.contains("Vous n&#39;avez aucune carte"),
        "{html}"
    );
    assert!(html.contains("Karin DEU"));
    let (_, _, html_balance) = get(&app, "/account/balance?lang=en", Some(&cookie)).await;
    assert!(html_balance.contains("15.00 EUR"), "{html_balance}");
    assert!(html_balance.contains("200.00 EUR"));
    assert!(html_balance.contains("My balance"));
    let (status, _, html_inst) = get(&app, "/account/installments", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html_inst.contains("plusieurs fois"), "{html_inst}");

    let (status, _, _) = post(&app, "/account/logout", &[], Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        &app,
        &format!("/account/cards/{}/delete", uuid::Uuid::now_v7()),
        &[("csrf", "1.2.3")],
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = csrf_of(&html);
    let (status, headers, _) =
        post(&app, "/account/logout", &[("csrf", &csrf)], Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
}
on_both!(the_account_pages_open_with_the_link_and_refuse_forged_forms);

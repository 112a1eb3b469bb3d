//! The back office's promo codes, vouchers and dashboard pages through the router: each page
//! for an operator and an admin, in French and English; an admin's change lands (checked
//! through the JSON API), an operator's is refused (403) and changes nothing, a post without its
//! CSRF token is refused (403) and changes nothing, bad input answers 422 with the error next to
//! its field and changes nothing; the dashboard's figures per means are the sums paid, to the cent.

use crate::admin_pages::{csrf_of, get, post, sign_in};
use crate::cards::{VISA_OK, card, card_env};
use crate::helpers::*;
use crate::on_both;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The text of the element whose `id` is `id` (up to its closing tag); panics when absent.
fn text_of(html: &str, id: &str) -> String {
    let key = format!("id=\"{id}\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open_end = html[at..].find('>').unwrap() + at + 1;
    let close = html[open_end..].find("</").unwrap() + open_end;
    html[open_end..close].trim().to_owned()
}

/// Everything inside the table whose `id` is `id`.
fn table_of<'a>(html: &'a str, id: &str) -> &'a str {
    let key = format!("id=\"{id}\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let end = html[at..].find("</table>").unwrap() + at;
    &html[at..end]
}

/// The opening tag of the element whose `id` is `id`.
fn tag_of<'a>(html: &'a str, id: &str) -> &'a str {
    let key = format!("id=\"{id}\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = html[at..].find('>').unwrap() + at + 1;
    &html[start..end]
}

/// A bad field: the input is marked invalid and its error, next to it, says something.
fn assert_field_error(html: &str, input_id: &str) -> String {
    let tag = tag_of(html, input_id);
    assert!(tag.contains("aria-invalid=\"true\""), "{tag}");
    assert!(
        tag.contains(&format!("aria-describedby=\"{input_id}-error\"")),
        "{tag}"
    );
    assert!(
        tag_of(html, &format!("{input_id}-error")).contains("role=\"alert\""),
        "{input_id}"
    );
    let message = text_of(html, &format!("{input_id}-error"));
    assert!(!message.is_empty(), "no message for {input_id}");
    message
}

async fn promo_codes(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.admin_get("/api/v1/admin/promo-codes").await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().clone()
}

async fn sessions(app: &TestApp) -> (String, String) {
    app.user("olga", "operator").await;
    let operator = sign_in(app, "olga", "olga password 123").await;
    let admin = sign_in(app, "admin", ADMIN_PASSWORD).await;
    (operator, admin)
}

// ---- promo codes -----------------------------------------------------------------------------

async fn promo_code_pages(app: TestApp) {
    let shop = app.shop().await;
    let inst = shop.t.institution.clone();
    let (operator, admin) = sessions(&app).await;

    // Both roles read the list, in French and in English; only admins get the forms.
    let (status, _, html) = get(&app, "/admin/promo-codes", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Codes promotionnels"), "{html}");
    assert!(html.contains("NOUVEAUX-VENUS"));
    assert!(!html.contains("id=\"new-code\""), "operators get no form");
    let (status, _, html) = get(&app, "/admin/promo-codes?lang=en", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Promo codes") && html.contains("Reusable code"));
    let (status, _, html) = get(&app, "/admin/promo-codes", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    for form in ["new-code", "generate", "import"] {
        assert!(html.contains(&format!("id=\"{form}\"")), "{form}");
    }
    let (_, _, html_en) = get(&app, "/admin/promo-codes?lang=en", Some(&admin)).await;
    assert!(html_en.contains("Generate single-use coupons"));
    let csrf = csrf_of(&html);
    let before = promo_codes(&app).await.len();

    let create = |code: &'static str, value: &'static str| {
        vec![
            ("institution_id", inst.clone()),
            ("code", code.to_owned()),
            ("label", "Été 2026".to_owned()),
            ("kind", "discount_code".to_owned()),
            ("discount_type", "percent".to_owned()),
            ("discount_value", value.to_owned()),
            ("valid_from", "2026-06-01T00:00".to_owned()),
            ("valid_until", "2026-09-01T00:00".to_owned()),
            ("channels", "internet".to_owned()),
            ("max_uses_total", "100".to_owned()),
            ("max_uses_per_contact", "".to_owned()),
            ("min_order", "".to_owned()),
        ]
    };
    let with = |fields: &[(&'static str, String)], csrf: &str| {
        let mut f: Vec<(&str, String)> = fields.to_vec();
        f.push(("csrf", csrf.to_owned()));
        f
    };
    let as_refs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };

    // An operator's post: 403, nothing created.
    let form = with(
        &create("ETE-2026", "10"),
        &csrf_of(&get(&app, "/admin/promo-codes", Some(&operator)).await.2),
    );
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = post(
        &app,
        "/admin/promo-codes",
        &refs,
        Some(&operator),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(promo_codes(&app).await.len(), before);

    // Without the token: 403, nothing created.
    let form = as_refs(&create("ETE-2026", "10"));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = post(
        &app,
        "/admin/promo-codes",
        &refs,
        Some(&admin),
        "https://evil.example",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(promo_codes(&app).await.len(), before);

    // Bad input: 422, the errors next to their fields, what was typed kept, nothing created.
    let mut form = with(&create("ETE-2026", "dix"), &csrf);
    form.retain(|(k, _)| *k != "label");
    form.push(("label", String::new()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "c-discount_value");
    assert_field_error(&html, "c-label");
    assert!(tag_of(&html, "c-code").contains("value=\"ETE-2026\""));
    // A percentage the domain refuses (over 100 %): its message, next to the field.
    let form = with(&create("ETE-2026", "150"), &csrf);
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(assert_field_error(&html, "c-discount_value").contains('%'));
    // The end before the start.
    let mut form = with(&create("ETE-2026", "10"), &csrf);
    form.retain(|(k, _)| *k != "valid_until");
    form.push(("valid_until", "2026-05-01T00:00".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "c-valid_until");
    assert_eq!(promo_codes(&app).await.len(), before);

    // The admin's code: created as typed (10 %, Paris time, internet only, 100 uses).
    let form = with(&create("ete-2026", "10"), &csrf);
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, headers, body) =
        post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let codes = promo_codes(&app).await;
    assert_eq!(codes.len(), before + 1);
    let ete = codes
        .iter()
        .find(|c| c["code"] == "ETE-2026")
        .expect("created");
    assert_eq!(ete["kind"], "discount_code");
    assert_eq!(ete["discount"]["basis_points"], 1000, "{ete}");
    assert_eq!(ete["max_uses_total"], 100);
    assert_eq!(ete["channels"], json!(["internet"]));
    assert_eq!(
        ete["valid_from"], "2026-05-31T22:00:00Z",
        "Paris summer time"
    );
    assert_eq!(ete["label"], "Été 2026");
    let ete_id = id(ete);
    assert_eq!(
        headers[LOCATION],
        format!("/admin/promo-codes/{ete_id}?notice=created")
    );
    // The same code again: refused next to the code, nothing created.
    let (status, _, html) = post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_field_error(&html, "c-code");
    assert_eq!(promo_codes(&app).await.len(), before + 1);

    // A fixed discount: 1,80 typed, 180 cents in the institution's currency.
    let mut form = with(&create("MOINS-180", "1,80"), &csrf);
    form.retain(|(k, _)| *k != "discount_type" && *k != "valid_from" && *k != "valid_until");
    form.push(("discount_type", "fixed".to_owned()));
    form.push(("valid_from", String::new()));
    form.push(("valid_until", String::new()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(&app, "/admin/promo-codes", &refs, Some(&admin), &app.base).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let fixed = promo_codes(&app).await;
    let fixed = fixed.iter().find(|c| c["code"] == "MOINS-180").unwrap();
    assert_eq!(
        fixed["discount"],
        json!({"type": "fixed", "amount_minor": 180, "currency": "EUR"})
    );

    // Deactivate: an operator cannot, an admin can; then activate again.
    let active_path = format!("/admin/promo-codes/{ete_id}/active");
    let (_, _, detail) = get(
        &app,
        &format!("/admin/promo-codes/{ete_id}"),
        Some(&operator),
    )
    .await;
    assert!(detail.contains("ETE-2026"));
    assert!(
        !detail.contains("id=\"toggle-active\""),
        "no button for an operator"
    );
    let (status, _, _) = post(
        &app,
        &active_path,
        &[("csrf", &csrf_of(&detail)), ("active", "no")],
        Some(&operator),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, code) = app
        .admin_get(&format!("/api/v1/admin/promo-codes/{ete_id}"))
        .await;
    assert_eq!(code["active"], true);
    let (status, _, _) = post(
        &app,
        &active_path,
        &[("active", "no")],
        Some(&admin),
        "https://evil.example",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, code) = app
        .admin_get(&format!("/api/v1/admin/promo-codes/{ete_id}"))
        .await;
    assert_eq!(code["active"], true);
    let (status, headers, _) = post(
        &app,
        &active_path,
        &[("csrf", &csrf), ("active", "no")],
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        format!("/admin/promo-codes/{ete_id}?notice=deactivated")
    );
    let (_, code) = app
        .admin_get(&format!("/api/v1/admin/promo-codes/{ete_id}"))
        .await;
    assert_eq!(code["active"], false);
    let (_, _, detail) = get(
        &app,
        &format!("/admin/promo-codes/{ete_id}?notice=deactivated&lang=en"),
        Some(&admin),
    )
    .await;
    assert!(detail.contains("Code deactivated."), "{detail}");
    post(
        &app,
        &active_path,
        &[("csrf", &csrf), ("active", "yes")],
        Some(&admin),
        &app.base,
    )
    .await;
    let (_, code) = app
        .admin_get(&format!("/api/v1/admin/promo-codes/{ete_id}"))
        .await;
    assert_eq!(code["active"], true);

    // Generate 5 single-use coupons of a campaign: the campaign's page lists them, and its
    // CSV holds exactly them.
    let mut form = with(&create("", "5"), &csrf);
    form.retain(|(k, _)| !matches!(*k, "code" | "kind" | "max_uses_total" | "label"));
    form.push(("label", "Nouveaux venus 2026".to_owned()));
    form.push(("prefix", "nv".to_owned()));
    form.push(("count", "0".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(
        &app,
        "/admin/promo-codes/coupons",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "count 0");
    assert_field_error(&html, "g-count");
    assert_eq!(promo_codes(&app).await.len(), before + 2);
    form.retain(|(k, _)| *k != "count");
    form.push(("count", "5".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = post(
        &app,
        "/admin/promo-codes/coupons",
        &refs,
        Some(&operator),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "csrf of another session");
    let (status, headers, body) = post(
        &app,
        "/admin/promo-codes/coupons",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let coupons: Vec<Value> = promo_codes(&app)
        .await
        .into_iter()
        .filter(|c| c["kind"] == "coupon")
        .collect();
    assert_eq!(coupons.len(), 5);
    let batch = coupons[0]["batch_id"].as_str().unwrap().to_owned();
    assert!(coupons.iter().all(|c| c["batch_id"] == batch.as_str()));
    assert!(
        coupons
            .iter()
            .all(|c| c["code"].as_str().unwrap().starts_with("NV-"))
    );
    assert!(coupons.iter().all(|c| c["max_uses_total"] == 1));
    let batch_page = format!("/admin/promo-codes/batches/{batch}");
    assert_eq!(headers[LOCATION], format!("{batch_page}?notice=generated"));
    // The list shows the campaign once, not each coupon.
    let (_, _, list) = get(&app, "/admin/promo-codes", Some(&operator)).await;
    assert!(list.contains(&format!("id=\"batch-{batch}\"")));
    assert!(!list.contains(coupons[0]["code"].as_str().unwrap()));
    let (status, _, page) = get(&app, &batch_page, Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    for c in &coupons {
        assert!(page.contains(c["code"].as_str().unwrap()));
    }
    let resp = browser_get(&app, &format!("{batch_page}/codes.csv"), &operator).await;
    assert_eq!(resp.0, StatusCode::OK);
    assert!(resp.1.starts_with("text/csv"), "{}", resp.1);
    let lines: Vec<&str> = resp.2.lines().collect();
    assert_eq!(lines[0], "code,label,active,uses");
    assert_eq!(lines.len(), 6, "{}", resp.2);
    for c in &coupons {
        assert!(
            lines.contains(
                &format!("{},Nouveaux venus 2026,yes,0", c["code"].as_str().unwrap()).as_str()
            ),
            "{}",
            resp.2
        );
    }
    let (status, _, _) = get(&app, &format!("{batch_page}/codes.csv"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the CSV needs a session");

    // Import: a repeated code is refused next to the list; a good list makes a campaign.
    let mut form = with(&create("", "5"), &csrf);
    form.retain(|(k, _)| !matches!(*k, "code" | "kind" | "max_uses_total" | "label"));
    form.push(("label", "Partenaires".to_owned()));
    form.push(("codes", "PART-001\r\npart-002\r\nPART-001\r\n".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(
        &app,
        "/admin/promo-codes/import",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        assert_field_error(&html, "i-codes").contains('3'),
        "line 3 named"
    );
    assert_eq!(promo_codes(&app).await.len(), before + 7);
    form.retain(|(k, _)| *k != "codes");
    form.push(("codes", "PART-001\r\npart-002\r\n\r\nPART-003".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(
        &app,
        "/admin/promo-codes/import",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let all = promo_codes(&app).await;
    assert_eq!(all.len(), before + 10);
    for code in ["PART-001", "PART-002", "PART-003"] {
        let c = all.iter().find(|c| c["code"] == code).unwrap();
        assert_eq!(c["kind"], "coupon");
        assert_eq!(c["label"], "Partenaires");
    }

    // A code's uses: NOUVEAUX-VENUS applied to an order shows it, held.
    let (order, token) = app.order(&shop, Some(&shop.karin), 3600).await;
    let (s, _) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOUVEAUX-VENUS"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let nv = all.iter().find(|c| c["code"] == "NOUVEAUX-VENUS").unwrap();
    let (status, _, html) = get(
        &app,
        &format!("/admin/promo-codes/{}", id(nv)),
        Some(&operator),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let uses = table_of(&html, "uses");
    let short = &id(&order)[..8];
    assert!(uses.contains(short), "{uses}");
    assert!(html.contains("Réservé"), "held use shown");
    assert!(html.contains("Karin DEU"));
    let (status, _, _) = get(
        &app,
        "/admin/promo-codes/00000000-0000-0000-0000-000000000000",
        Some(&operator),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both!(promo_code_pages);

/// A GET with the session cookie: status, content type, body.
async fn browser_get(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String, String) {
    let resp = crate::admin_pages::browser()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

// ---- vouchers --------------------------------------------------------------------------------

async fn voucher_products(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.admin_get("/api/v1/admin/voucher-products").await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().clone()
}

async fn voucher_pages(app: TestApp) {
    let shop = app.shop().await;
    let inst = shop.t.institution.clone();
    let (operator, admin) = sessions(&app).await;

    let (status, _, html) = get(&app, "/admin/vouchers", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Bons d'achat")
            || html.contains("Bons d&#x27;achat")
            || html.contains("Bons d&#39;achat"),
        "{html}"
    );
    assert!(!html.contains("id=\"new-product\""));
    let (status, _, html) = get(&app, "/admin/vouchers?lang=en", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Voucher products") && html.contains("Issued vouchers"));
    let (_, _, html) = get(&app, "/admin/vouchers", Some(&admin)).await;
    assert!(html.contains("id=\"new-product\""));
    let csrf = csrf_of(&html);

    let product = |value: &'static str| {
        vec![
            ("institution_id", inst.clone()),
            ("name", "Chèque cadeau 50 €".to_owned()),
            ("value_type", "fixed".to_owned()),
            ("value", value.to_owned()),
            ("price", "45,00".to_owned()),
            ("min", String::new()),
            ("max", String::new()),
            ("validity", "days".to_owned()),
            ("days", "365".to_owned()),
            ("until_date", String::new()),
            ("reusable", "yes".to_owned()),
        ]
    };
    let refs_of = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };

    // An operator: 403; no token: 403; bad value: 422 next to the field; nothing created.
    let op_csrf = csrf_of(&get(&app, "/admin/vouchers", Some(&operator)).await.2);
    let mut form = refs_of(&product("50"));
    form.push(("csrf", op_csrf));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&operator),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let form = refs_of(&product("50"));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&admin),
        "https://evil.example",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut form = refs_of(&product("cinquante"));
    form.push(("csrf", csrf.clone()));
    form.retain(|(k, _)| *k != "days");
    form.push(("days", "0".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "p-value");
    assert!(tag_of(&html, "p-name").contains("value=\"Chèque cadeau 50 €\""));
    // A value the domain refuses (0): its message next to the field.
    let mut form = refs_of(&product("0"));
    form.push(("csrf", csrf.clone()));
    form.retain(|(k, _)| *k != "days");
    form.push(("days", "0".to_owned()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "p-value");
    assert_field_error(&html, "p-days");
    assert!(voucher_products(&app).await.is_empty());

    // The admin's product.
    let mut form = refs_of(&product("50"));
    form.push(("csrf", csrf.clone()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, headers, body) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[LOCATION], "/admin/vouchers?notice=product-created");
    let products = voucher_products(&app).await;
    assert_eq!(products.len(), 1);
    let p = &products[0];
    assert_eq!(p["name"], "Chèque cadeau 50 €");
    assert_eq!(p["value"]["value"]["amount_minor"], 5000);
    assert_eq!(p["value"]["price"]["amount_minor"], 4500);
    assert_eq!(p["validity"]["days"], 365);
    assert_eq!(p["reusable"], true);
    // An open value until a date: until the end of that day, Paris time.
    let form = [
        ("csrf", csrf.clone()),
        ("institution_id", inst.clone()),
        ("name", "Bon libre".to_owned()),
        ("value_type", "open".to_owned()),
        ("min", "10".to_owned()),
        ("max", "200".to_owned()),
        ("validity", "date".to_owned()),
        ("until_date", "2099-12-31".to_owned()),
    ];
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(
        &app,
        "/admin/vouchers/products",
        &refs,
        Some(&admin),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let products = voucher_products(&app).await;
    let open = products.iter().find(|p| p["name"] == "Bon libre").unwrap();
    assert_eq!(open["value"]["min"]["amount_minor"], 1000);
    assert_eq!(open["value"]["max"]["amount_minor"], 20000);
    assert_eq!(open["reusable"], false);
    assert_eq!(open["validity"]["until_date"], "2099-12-31T23:00:00Z");
    let (_, _, html) = get(
        &app,
        "/admin/vouchers?notice=product-created",
        Some(&operator),
    )
    .await;
    assert!(html.contains("Chèque cadeau 50 €") && html.contains("50.00 EUR"));
    assert!(html.contains("Produit créé."));

    // Issued vouchers: the list never shows a whole code, to anyone.
    let live = app
        .voucher(&inst, 3000, time::Duration::days(30), true)
        .await;
    let old = app
        .voucher(&inst, 1000, time::Duration::seconds(-60), true)
        .await;
    let last = |code: &str| code.rsplit('-').next().unwrap().to_owned();
    for session in [&operator, &admin] {
        let (_, _, html) = get(&app, "/admin/vouchers", Some(session)).await;
        assert!(!html.contains(&live) && !html.contains(&old));
        assert!(html.contains(&format!("****-****-****-{}", last(&live))));
        assert!(html.contains(&format!("****-****-****-{}", last(&old))));
    }
    // Filters: expired only, usable only.
    let (_, _, html) = get(&app, "/admin/vouchers?state=expired", Some(&operator)).await;
    assert!(html.contains(&last(&old)) && !html.contains(&last(&live)));
    let (_, _, html) = get(&app, "/admin/vouchers?state=usable", Some(&operator)).await;
    assert!(!html.contains(&last(&old)) && html.contains(&last(&live)));
    let (status, _, html) = get(&app, "/admin/vouchers?state=nonsense", Some(&operator)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "f-state");

    // A voucher's detail: part of it held by an order shows in its ledger lines and balance.
    let (order, token) = app.order(&shop, Some(&shop.karin), 1250).await;
    let (s, _) = app
        .checkout(&token, Method::POST, "/codes", Some(json!({"code": live})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let voucher = app.store.voucher_by_code(&live).await.unwrap().unwrap();
    let path = format!("/admin/vouchers/{}", voucher.id);
    let (status, _, html) = get(&app, &path, Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&live), "operators never see the whole code");
    assert_eq!(text_of(&html, "face-value"), "30.00 EUR");
    assert_eq!(text_of(&html, "balance"), "17.50 EUR");
    let lines = table_of(&html, "ledger");
    assert!(lines.contains("-12.50 EUR"), "{lines}");
    assert!(lines.contains("30.00 EUR"), "{lines}");
    assert!(lines.contains(&id(&order)[..8]), "{lines}");
    let (_, _, html) = get(&app, &format!("{path}?lang=en"), Some(&admin)).await;
    assert!(
        html.contains(&live),
        "admins see it whole on the detail, as in the API"
    );
    assert!(html.contains("Balance left"));
    let (status, _, _) = get(
        &app,
        "/admin/vouchers/00000000-0000-0000-0000-000000000000",
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both!(voucher_pages);

// ---- dashboard -------------------------------------------------------------------------------

/// The figures of the dashboard's table: `(means, amount in minor units, orders)`.
fn table_figures(html: &str) -> Vec<(String, i64, i64)> {
    let table = &html[html.find("id=\"by-means\"").expect("the table")..];
    let table = &table[..table.find("</table>").unwrap()];
    let mut out = Vec::new();
    let mut rest = table;
    while let Some(at) = rest.find("<tr data-means=\"") {
        let row = &rest[at + 16..];
        let means = row[..row.find('"').unwrap()].to_owned();
        let minor = attr_num(row, "data-minor");
        let orders = attr_num(row, "data-orders");
        out.push((means, minor, orders));
        rest = &row[1..];
    }
    out
}

fn attr_num(s: &str, name: &str) -> i64 {
    let key = format!("{name}=\"");
    let at = s.find(&key).unwrap_or_else(|| panic!("{name} in {s}")) + key.len();
    s[at..at + s[at..].find('"').unwrap()].parse().unwrap()
}

/// The bars of the chart: `(means, height)`.
/// The bars of the day's chart: means and height in hundredths of a unit (the page writes
/// heights with two decimals, from exact integer arithmetic).
fn bars(html: &str) -> Vec<(String, i64)> {
    let svg = &html[html.find("<svg class=\"chart\"").expect("a chart")..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(at) = rest.find("<rect data-means=\"") {
        let tag = &rest[at..at + rest[at..].find('>').unwrap()];
        let means = tag[18..18 + tag[18..].find('"').unwrap()].to_owned();
        let key = "height=\"";
        let h = tag.find(key).unwrap() + key.len();
        let raw = &tag[h..h + tag[h..].find('"').unwrap()];
        let (units, hundredths) = raw.split_once('.').unwrap_or((raw, "00"));
        assert_eq!(hundredths.len(), 2, "height {raw}");
        let height = units.parse::<i64>().unwrap() * 100 + hundredths.parse::<i64>().unwrap();
        out.push((means, height));
        rest = &rest[at + 1..];
    }
    out
}

async fn the_dashboard_shows_the_days_payments_by_means(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let app = &env.app;
    let shop = &env.shop;
    let (operator, admin) = sessions(app).await;

    // Signing in lands on the dashboard.
    let (_, headers, html) = get(app, "/admin/login", None).await;
    let pre = crate::admin_pages::cookie_of(&headers, "guichet_admin_login").unwrap();
    let (status, headers, _) = post(
        app,
        "/admin/login",
        &[
            ("csrf", &csrf_of(&html)),
            ("user", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
        Some(&pre),
        &app.base,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/admin/dashboard");

    // Nothing paid yet.
    let (status, _, html) = get(app, "/admin/dashboard", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Tableau de bord"));
    assert!(!html.contains("id=\"by-means\"") || table_figures(&html).is_empty());

    // 1. A voucher pays a whole order: 30.00.
    let voucher = app
        .voucher(&shop.t.institution, 5000, time::Duration::days(30), true)
        .await;
    let (_, token) = app.order(shop, Some(&shop.karin), 3000).await;
    let (s, b) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": voucher})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "none", "accept_terms": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // 2. NOUVEAUX-VENUS (5 % of 33.30 = 1.67) and a card for the 31.63 left.
    let (_, token) = app.order(shop, None, 3330).await;
    let (s, b) = app
        .checkout(
            &token,
            Method::POST,
            "/codes",
            Some(json!({"code": "NOUVEAUX-VENUS"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (s, b) = env.pay(&token, &alias).await;
    assert_eq!(b["status"], "paid", "{s} {b}");
    // 3. Karin's credit (15.00) and a card for the 27.00 left.
    let (_, token) = app.order(shop, Some(&shop.karin), 4200).await;
    let (s, b) = app
        .checkout(
            &token,
            Method::PUT,
            "/credit-balance",
            Some(json!({"amount_minor": 1500})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (s, b) = env.pay(&token, &alias).await;
    assert_eq!(b["status"], "paid", "{s} {b}");
    // 4. Karin's deferred account: 10.00.
    let (_, token) = app.order(shop, Some(&shop.karin), 1000).await;
    let (s, b) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account", "accept_terms": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // 5. An order left unpaid, with a voucher held: not a payment.
    let (_, token) = app.order(shop, None, 800).await;
    app.checkout(
        &token,
        Method::POST,
        "/codes",
        Some(json!({"code": voucher})),
    )
    .await;

    let expected: Vec<(String, i64, i64)> = vec![
        ("card".into(), 3163 + 2700, 2),
        ("voucher".into(), 3000, 1),
        ("promo".into(), 167, 1),
        ("credit_balance".into(), 1500, 1),
        ("deferred_account".into(), 1000, 1),
    ];
    for (session, lang) in [(&operator, ""), (&admin, "?lang=en")] {
        let (status, _, html) = get(app, &format!("/admin/dashboard{lang}"), Some(session)).await;
        assert_eq!(status, StatusCode::OK);
        let mut got = table_figures(&html);
        let mut want = expected.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{html}");
        // The chart: accessible, one bar per means, heights proportional to the amounts.
        assert!(html.contains("role=\"img\""));
        assert!(html.contains("<title id=\"chart-title-EUR\">"));
        let bars = bars(&html);
        assert_eq!(bars.len(), expected.len(), "{bars:?}");
        // height / tallest = amount / max, to one hundredth: |height·max − tallest·amount| ≤ max.
        let max = i128::from(expected.iter().map(|e| e.1).max().unwrap());
        let tallest = bars.iter().map(|b| b.1).max().unwrap();
        assert!(tallest > 5_000, "{bars:?}");
        for (means, height) in &bars {
            let amount = i128::from(expected.iter().find(|e| &e.0 == means).unwrap().1);
            let off = i128::from(*height) * max - i128::from(tallest) * amount;
            assert!(
                off.abs() <= max,
                "{means}: {height} of {tallest} for {amount} of {max}"
            );
        }
        // The total of the day, and the 7-day trend ending today.
        assert_eq!(text_of(&html, "day-total"), "113.63 EUR");
        let trend = table_of(&html, "trend");
        assert!(trend.contains("113.63 EUR"), "{trend}");
    }
    let (_, _, html) = get(app, "/admin/dashboard?lang=en", Some(&admin)).await;
    assert!(html.contains("Dashboard") && html.contains("Credit balance"));

    // Another day: nothing; a bad date: 422 next to the field.
    let (status, _, html) = get(app, "/admin/dashboard?date=2020-01-15", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("id=\"by-means\"") || table_figures(&html).is_empty());
    assert!(bars_or_none(&html));
    let (status, _, html) = get(app, "/admin/dashboard?date=2026-13-45", Some(&admin)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&html, "date");
    env.app.audit_clean().await;
}

fn bars_or_none(html: &str) -> bool {
    !html.contains("<rect data-means=")
}

on_both!(the_dashboard_shows_the_days_payments_by_means);

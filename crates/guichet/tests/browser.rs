//! Browser tests (issue 6, DESIGN.md "Testing"): a real headless Chromium, driven through
//! chromedriver (WebDriver, the fantoccini client), against `guichet serve` and the provider
//! simulator (`guichet psp-sim`) started from a `guichet demo --seed-only` data directory, at
//! desktop size and at 360 px phone size.
//!
//! The buyer (Karin, 15.00 EUR of credit) applies "NOUVEAUX-VENUS" and the demo's voucher,
//! uses 10.00 of her credit, pays the rest with a new card through a 3-D Secure challenge
//! (approved on the simulator's page) and saves it; pays a second order with the saved card
//! and its CVV (at desktop size in three installments: the plan chosen on the page survives the
//! trip to the provider); then opens her account link, changes the card's expiry and holder,
//! and deletes it. Another buyer refuses the challenge: the order is released, still payable,
//! and the result page leads back to the payment page. Every request Guichet's server received
//! goes through a recording proxy (its public URL is the proxy's): neither the card number nor
//! the CVV may be in it. The payment page's CSP header, its requests (Guichet only), its weight
//! (under 100 KB), its labels and, at phone size, its width and thumb-sized controls are
//! checked, and forms posted without their CSRF token are refused with 403, changing nothing.
//!
//! Without Chromium and chromedriver (Debian: `apt-get install chromium chromium-driver`) the
//! tests print SKIPPED and pass, unless `GUICHET_REQUIRE_BROWSER=1` (CI), where they fail.
//! `GUICHET_SCREENSHOTS=DIR` saves screenshots of the pages there.

mod support;

use fantoccini::Client;
use serde_json::{Value, json};
use std::time::Instant;
use support::browser::*;
use support::*;

/// Visa, 3-D Secure challenge (docs/PROVIDERS.md).
const CARD: &str = "4000000000000002";
const CVV: &str = "917";

/// A new order of Karin's, with a return URL; returns its id and checkout token.
async fn karin_order(
    client: &reqwest::Client,
    base: &str,
    info: &Value,
    quantity: u32,
    unit_minor: i64,
    event: usize,
) -> (String, String) {
    let (status, order) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/orders"),
        Some(str_field(info, "/shop_api_key")),
        json!({
            "point_of_sale": info["points_of_sale"]["internet"],
            "contact": info["contacts"]["karin"],
            "currency": "EUR",
            "language": "fr",
            "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": quantity,
                       "unit_amount_minor": unit_minor, "event": info["events"][event]}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0},
            "return_url": "https://boutique.example/merci",
        }),
    )
    .await;
    assert_eq!(status, 201, "{order:#}");
    (
        str_field(&order, "/id").to_owned(),
        str_field(&order, "/checkout_token").to_owned(),
    )
}

/// A plan in three monthly installments at the internet point of sale, through the back-office
/// API; returns its id.
async fn installment_plan(client: &reqwest::Client, base: &str, info: &Value) -> String {
    let (status, login) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/admin/login"),
        None,
        json!({"user": str_field(info, "/admin_user"), "password": str_field(info, "/admin_password")}),
    )
    .await;
    assert_eq!(status, 200, "{login:#}");
    let (status, plan) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/admin/installment-plans"),
        Some(str_field(&login, "/token")),
        json!({
            "point_of_sale_id": info["points_of_sale"]["internet"],
            "name": "En 3 fois sans frais",
            "count": 3,
            "split": "equal",
            "interval": "monthly",
            "min_amount": {"amount_minor": 2000, "currency": "EUR"},
            "mode": "free",
        }),
    )
    .await;
    assert_eq!(status, 201, "{plan:#}");
    str_field(&plan, "/id").to_owned()
}

/// Karin's account API token (a fresh account link).
async fn account_link(client: &reqwest::Client, base: &str, info: &Value) -> Value {
    let karin = str_field(info, "/contacts/karin");
    let (status, link) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/contacts/{karin}/account-link"),
        Some(str_field(info, "/shop_api_key")),
        Value::Null,
    )
    .await;
    assert_eq!(status, 201, "{link:#}");
    link
}

async fn saved_cards(client: &reqwest::Client, base: &str, info: &Value) -> Vec<Value> {
    let link = account_link(client, base, info).await;
    let (status, cards) = get_json(
        client,
        &format!("{base}/api/v1/account/cards"),
        Some(str_field(&link, "/token")),
    )
    .await;
    assert_eq!(status, 200, "{cards:#}");
    cards.as_array().cloned().unwrap_or_default()
}

/// The simulator's persisted aliases (saved cards at the provider).
async fn provider_aliases(client: &reqwest::Client, sim: &str) -> Vec<Value> {
    let (status, list) = get_json(client, &format!("{sim}/__sim/aliases"), None).await;
    assert_eq!(status, 200, "{list:#}");
    list.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["persisted"] == true)
        .collect()
}

/// Checks the page just loaded: every resource from Guichet, the whole under 100 KB, and at
/// phone size nothing wider than the screen.
async fn check_first_load(c: &Client, base: &str, phone: bool) {
    let loaded = js(
        c,
        "const nav = performance.getEntriesByType('navigation')[0];
         const res = performance.getEntriesByType('resource')
           .map(r => ({name: r.name, bytes: Math.max(r.transferSize, r.encodedBodySize)}));
         return {page: Math.max(nav.transferSize, nav.encodedBodySize), resources: res,
                 width: document.documentElement.scrollWidth, screen: window.innerWidth};",
    )
    .await;
    let resources = loaded["resources"].as_array().cloned().unwrap_or_default();
    assert!(
        !resources.is_empty(),
        "no resource timing entries: {loaded:#}"
    );
    let mut total = loaded["page"].as_u64().unwrap_or(0);
    for r in &resources {
        let name = r["name"].as_str().unwrap_or("");
        assert!(
            name.starts_with(base),
            "the payment page loaded {name}, outside Guichet"
        );
        total += r["bytes"].as_u64().unwrap_or(0);
    }
    eprintln!(
        "FIGURE payment page, first load: {total} bytes in {} requests",
        resources.len() + 1
    );
    assert!(
        total < 100 * 1024,
        "first load weighs {total} bytes: {loaded:#}"
    );
    if phone {
        let width = loaded["width"].as_u64().unwrap_or(0);
        let screen = loaded["screen"].as_u64().unwrap_or(0);
        assert_eq!(screen, 360, "phone viewport");
        assert!(
            width <= screen,
            "the page is {width} px wide on a {screen} px screen"
        );
    }
}

/// Every field has its label; at phone size every control is at least 44 px high (a thumb's).
async fn check_controls(c: &Client, phone: bool) {
    let unlabelled = js(
        c,
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(i => !i.labels || i.labels.length === 0).map(i => i.id || i.name);",
    )
    .await;
    assert_eq!(unlabelled, json!([]), "fields without a label");
    if phone {
        let small = js(
            c,
            "return [...document.querySelectorAll(
                 'button, a.button, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), label.option')]
               .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
               .map(e => e.outerHTML.slice(0, 80));",
        )
        .await;
        assert_eq!(small, json!([]), "controls too small for a thumb");
    }
}

/// The payment page's headers: a strict CSP naming only Guichet and the provider.
async fn check_headers(client: &reqwest::Client, url: &str, sim: &str) {
    let resp = client.get(url).send().await.expect("payment page");
    assert_eq!(resp.status().as_u16(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = header("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        &format!("form-action 'self' {sim}"),
    ] {
        assert!(csp.contains(part), "CSP without {part}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let html = resp.text().await.expect("page");
    let scripts = html.matches("<script").count();
    let with_integrity = html.matches("<script src=\"/static/").count();
    assert!(scripts >= 1 && scripts == with_integrity, "{html}");
    assert!(html.contains("integrity=\"sha384-"), "{html}");
    for autocomplete in ["cc-name", "cc-number", "cc-exp", "cc-csc"] {
        assert!(
            html.contains(&format!("autocomplete=\"{autocomplete}\"")),
            "no {autocomplete}"
        );
    }
}

/// A form posted from another site (no CSRF token): 403, nothing changed.
async fn check_forged_post(client: &reqwest::Client, url: &str, body: &str) {
    let resp = client
        .post(url)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("forged post");
    assert_eq!(resp.status().as_u16(), 403, "{url}");
}

/// Guichet (behind the recording proxy) and the provider simulator, from a fresh demo seed.
struct Stack {
    dir: TempDir,
    info: Value,
    client: reqwest::Client,
    sim: String,
    proxy: Recorder,
    base: String,
    _sim: Running,
    _serve: Running,
}

impl Stack {
    async fn start(label: &str) -> Stack {
        let dir = TempDir::new(label);
        let info = seed_demo(&dir).await;
        let client = http();
        let sim = str_field(&info, "/psp_sim_url").to_owned();
        let mut sim_process = start_simulator(&dir, &info);
        let listen = format!("127.0.0.1:{}", free_port());
        let proxy = recording_proxy(listen.clone()).await;
        let serve = start_serve_on(&dir, &client, &listen, Some(&proxy.url), &[], "serve").await;
        let base = proxy.url.clone();
        // The simulator is up, and its post-sale feedback goes through the recorder too.
        let mut up = false;
        for _ in 0..100 {
            sim_process.assert_running();
            if let Ok(r) = client.get(format!("{sim}/__sim/transactions")).send().await
                && r.status().is_success()
            {
                up = true;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        assert!(up, "the simulator did not start");
        let (status, _) = send(
            &client,
            reqwest::Method::POST,
            format!("{sim}/__sim/feedback-url"),
            None,
            json!({"pspid": "GUICHETTEST", "url": format!("{base}/psp/ogone/feedback")}),
        )
        .await;
        assert_eq!(status, 200);
        Stack {
            dir,
            info,
            client,
            sim,
            proxy,
            base,
            _sim: sim_process,
            _serve: serve,
        }
    }
}

async fn buyer_journey(label: &str, phone: bool) {
    let Some((browser_bin, driver_bin)) = browser_tools(label) else {
        return;
    };
    let started = Instant::now();
    let stack = Stack::start(label).await;
    let (dir, info, client, sim, proxy, base) = (
        &stack.dir,
        &stack.info,
        &stack.client,
        &stack.sim,
        &stack.proxy,
        &stack.base,
    );

    // ---- first order: 36.00 EUR, an event in 2 days (3-D Secure asked) ----------------
    let (order1, token1) = karin_order(client, base, info, 2, 1800, 0).await;
    let pay1 = format!("{base}/pay/{token1}");
    check_headers(client, &pay1, sim).await;

    let browser = Browser::open(dir, &browser_bin, &driver_bin, phone).await;
    let c = &browser.client;
    c.goto(&pay1).await.expect("open the payment page");
    wait_text(c, "h1", "Paiement de votre commande").await;
    check_first_load(c, base, phone).await;
    check_controls(c, phone).await;
    wait_text(c, ".due", "36.00 EUR").await;
    screenshot(&browser, &format!("payment-page-{label}")).await;

    // The promo code, typed and sent with the keyboard.
    type_into(c, "#code", &format!("NOUVEAUX-VENUS{ENTER}")).await;
    wait_text(c, ".notice", "Le code promotionnel a été appliqué").await;
    let codes = wait_text(c, "#codes", "Nouveaux venus").await;
    assert!(codes.contains("-1.80 EUR"), "{codes}");
    wait_text(c, ".due", "34.20 EUR").await;
    // The voucher.
    let voucher = str_field(info, "/vouchers/0/code").to_owned();
    type_into(c, "#code", &voucher).await;
    click(c, "form[action*='/codes?'] button[type=submit]").await;
    wait_text(c, ".notice", "Le bon a été appliqué").await;
    let codes = wait_text(c, "#codes", "-20.00 EUR").await;
    assert!(codes.contains("Bon"), "{codes}");
    wait_text(c, ".due", "14.20 EUR").await;
    // Part of the credit balance.
    let credit = wait_text(c, "#credit", "15.00 EUR").await;
    assert!(credit.contains("Solde avoir"), "{credit}");
    type_into(c, "#credit-amount", "10.00").await;
    click(c, "form[action*='/credit?'] button[type=submit]").await;
    wait_text(c, ".notice", "Votre avoir est utilisé").await;
    wait_text(c, ".due", "4.20 EUR").await;

    // A form posted from elsewhere changes nothing.
    check_forged_post(client, &format!("{pay1}/credit?lang=fr"), "amount=0").await;
    check_forged_post(client, &format!("{pay1}/cancel"), "").await;
    let (_, summary) = get_json(client, &format!("{base}/api/v1/checkout/{token1}"), None).await;
    assert_eq!(
        i64_field(&summary, "/means/credit_balance/in_use/amount_minor"),
        1000
    );
    assert_eq!(str_field(&summary, "/order/status"), "awaiting_payment");

    // A new card (the default means: Karin has no saved card yet).
    let new = wait_css(c, "input[name=means][value=new]").await;
    assert!(
        new.is_selected().await.expect("selected"),
        "new card not chosen"
    );
    wait_css(c, "#panel-new:not([hidden])").await;
    // A mistyped number is caught before it leaves, next to its field.
    type_into(c, "#cc-number", "4000 0000 0000 0001").await;
    type_into(c, "#cc-exp", "1230").await;
    type_into(c, "#cc-csc", CVV).await;
    click(c, "#panel-new button.primary").await;
    let error = wait_text(c, "#cc-number-error", "n'est pas valide").await;
    assert!(!error.is_empty());
    let number = wait_css(c, "#cc-number").await;
    assert_eq!(
        number.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    wait_text(c, "#terms-new-error", "conditions générales").await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/pay/"),
        "the card form left with an invalid number"
    );
    type_into(c, "#cc-number", &spaced(CARD)).await;
    let exp = wait_css(c, "#cc-exp").await;
    assert_eq!(
        exp.prop("value").await.expect("value").as_deref(),
        Some("12/30")
    );
    click(c, "#cc-save").await;
    click(c, "#terms-new").await;
    screenshot(&browser, &format!("payment-card-{label}")).await;
    click(c, "#panel-new button.primary").await;

    // The provider's 3-D Secure challenge, approved.
    click(c, "button[value=approve]").await;
    let done = wait_text(c, "main", "Paiement accepté").await;
    screenshot(&browser, &format!("payment-result-{label}")).await;
    assert!(done.contains("4.20 EUR"), "{done}");
    assert!(done.contains("XXXX XXXX XXXX 0002"), "{done}");
    assert!(done.contains("Retour à la boutique"), "{done}");
    let order = order_of(client, base, info, &order1).await;
    assert_eq!(str_field(&order, "/status"), "paid", "{order:#}");
    let cards = saved_cards(client, base, info).await;
    assert_eq!(cards.len(), 1, "{cards:#?}");
    assert_eq!(cards[0]["masked"], "XXXX XXXX XXXX 0002");
    let card_id = str_field(&cards[0], "/id").to_owned();

    // ---- second order: 24.00 EUR, an event in 100 days, with the saved card and its CVV ----
    // At desktop size in three installments: the plan chosen on the page survives the CVV's
    // trip to the provider.
    let plan = if phone {
        None
    } else {
        Some(installment_plan(client, base, info).await)
    };
    let (order2, token2) = karin_order(client, base, info, 1, 2400, 2).await;
    c.goto(&format!("{base}/pay/{token2}"))
        .await
        .expect("second order");
    wait_text(c, ".due", "24.00 EUR").await;
    let saved = wait_css(c, &format!("input[name=means][value=saved-{card_id}]")).await;
    assert!(
        saved.is_selected().await.expect("selected"),
        "the saved card is not the default"
    );
    let panel = format!("#panel-saved-{card_id}");
    wait_css(c, &format!("{panel}:not([hidden])")).await;
    screenshot(&browser, &format!("payment-saved-card-{label}")).await;
    if let Some(plan) = &plan {
        let schedule = wait_text(c, &format!("{panel} .plans"), "8.00 EUR").await;
        assert!(schedule.contains("aujourd'hui"), "{schedule}");
        click(c, &format!("{panel} input[data-plan][value='{plan}']")).await;
        wait_text(
            c,
            &format!("{panel} button.primary"),
            "Payer 8.00 EUR maintenant",
        )
        .await;
    }
    type_into(c, &format!("{panel} input[name=CVC]"), CVV).await;
    click(c, &format!("{panel} input[data-terms]")).await;
    click(c, &format!("{panel} button.primary")).await;
    let done = wait_text(c, "main", "Paiement accepté").await;
    let order = order_of(client, base, info, &order2).await;
    assert_eq!(str_field(&order, "/status"), "paid", "{order:#}");
    if plan.is_some() {
        assert!(done.contains("Vos échéances"), "{done}");
        assert!(done.contains("8.00 EUR"), "{done}");
        let installments = order["installments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(installments.len(), 3, "{order:#}");
        assert_eq!(installments[0]["status"], "paid");
        assert_eq!(installments[1]["status"], "open");
    } else {
        assert!(done.contains("24.00 EUR"), "{done}");
    }

    // ---- the account pages: change the card, then delete it ---------------------------------
    let link = account_link(client, base, info).await;
    c.goto(str_field(&link, "/url"))
        .await
        .expect("account link");
    let page = wait_text(c, "main", "Mes cartes sauvegardées").await;
    assert!(page.contains("XXXX XXXX XXXX 0002"), "{page}");
    assert!(page.contains("12/2030"), "{page}");
    let url = c.current_url().await.expect("url");
    assert_eq!(
        url.path(),
        "/account/cards",
        "the token stays out of the URL"
    );
    check_controls(c, phone).await;
    screenshot(&browser, &format!("account-cards-{label}")).await;
    check_forged_post(
        client,
        &format!("{base}/account/cards/{card_id}/delete"),
        "",
    )
    .await;
    assert_eq!(saved_cards(client, base, info).await.len(), 1);

    if plan.is_some() {
        click(c, "nav.tabs a[href^='/account/installments']").await;
        let page = wait_text(c, "main", "Payée").await;
        assert_eq!(page.matches("À venir").count(), 2, "{page}");
        assert!(page.contains("8.00 EUR"), "{page}");
        click(c, "nav.tabs a[href^='/account/cards']").await;
        wait_text(c, "main", "Mes cartes sauvegardées").await;
    }
    click(c, &format!("#card-{card_id} summary")).await;
    type_into(c, &format!("#exp-{card_id}"), "11/2031").await;
    type_into(c, &format!("#holder-{card_id}"), "Karin Deu").await;
    click(c, &format!("#card-{card_id} form button.primary")).await;
    wait_text(c, ".notice", "La carte a été modifiée").await;
    let page = wait_text(c, "main", "11/2031").await;
    assert!(page.contains("Karin Deu"), "{page}");
    let aliases = provider_aliases(client, sim).await;
    assert_eq!(aliases.len(), 1, "{aliases:#?}");
    assert_eq!(aliases[0]["ed"], "1131", "changed at the provider too");
    assert_eq!(aliases[0]["holder"], "Karin Deu");

    click(c, &format!("#card-{card_id} a.button.danger")).await;
    wait_text(c, "main", "Voulez-vous vraiment supprimer cette carte").await;
    click(c, "button.danger.primary").await;
    wait_text(c, ".notice", "La carte a été supprimée").await;
    wait_text(c, "main", "Vous n'avez aucune carte sauvegardée").await;
    assert!(saved_cards(client, base, info).await.is_empty());
    assert!(
        provider_aliases(client, sim).await.is_empty(),
        "deleted at the provider too"
    );
    browser.close().await;

    // ---- every request Guichet received: no card number, no CVV -------------------------------
    let requests = proxy.bytes.lock().expect("record").clone();
    for (needle, what) in [
        ("GET /pay/", "the payment page"),
        ("/card-return?", "the provider's return"),
        ("POST /pay/", "the page's forms"),
        ("3ds-return", "the 3-D Secure return"),
        ("/account/cards", "the account pages"),
        ("NOUVEAUX-VENUS", "the promo code typed"),
    ] {
        assert!(
            occurs(&requests, needle.as_bytes()),
            "positive control: {what} not recorded"
        );
    }
    assert!(
        !occurs(&requests, CARD.as_bytes()) && !occurs(&requests, spaced(CARD).as_bytes()),
        "the card number reached Guichet"
    );
    assert!(
        !occurs(&requests, spaced(CARD).replace(' ', "+").as_bytes()),
        "the card number (form-encoded) reached Guichet"
    );
    assert!(
        !occurs_as_token(&requests, CVV.as_bytes()),
        "the CVV reached Guichet"
    );
    assert!(
        !field_with_digits(&requests, b"CVC=") && !field_with_digits(&requests, b"CARDNO="),
        "card fields reached Guichet"
    );
    eprintln!(
        "FIGURE {label}: {} bytes of requests scanned; journey in {:.1} s",
        requests.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_pays_with_codes_credit_3ds_and_saved_card_then_manages_it_desktop() {
    buyer_journey("desktop", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_pays_with_codes_credit_3ds_and_saved_card_then_manages_it_phone() {
    buyer_journey("phone", true).await;
}

/// A 3-D Secure challenge refused: nothing is charged, the order is released and stays
/// payable, the result page offers to try again, and the payment page comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_3ds_releases_the_order_and_offers_to_try_again() {
    let label = "refused";
    let Some((browser_bin, driver_bin)) = browser_tools(label) else {
        return;
    };
    let stack = Stack::start(label).await;
    let (client, base, info) = (&stack.client, &stack.base, &stack.info);
    let (order, token) = karin_order(client, base, info, 1, 1800, 0).await;
    let browser = Browser::open(&stack.dir, &browser_bin, &driver_bin, false).await;
    let c = &browser.client;
    c.goto(&format!("{base}/pay/{token}?lang=en"))
        .await
        .expect("payment page");
    wait_text(c, "h1", "Pay for your order").await;
    type_into(c, "#credit-amount", "5.00").await;
    click(c, "form[action*='/credit?'] button[type=submit]").await;
    wait_text(c, ".due", "13.00 EUR").await;
    type_into(c, "#cc-number", CARD).await;
    type_into(c, "#cc-exp", "12/30").await;
    type_into(c, "#cc-csc", CVV).await;
    click(c, "#terms-new").await;
    click(c, "#panel-new button.primary").await;
    click(c, "button[value=refuse]").await;
    // The provider's return page is in the order's language (French here).
    wait_text(c, "main", "Paiement refusé").await;
    let order_json = order_of(client, base, info, &order).await;
    assert_eq!(str_field(&order_json, "/status"), "awaiting_payment");
    let (_, summary) = get_json(client, &format!("{base}/api/v1/checkout/{token}"), None).await;
    assert_eq!(
        i64_field(&summary, "/means/credit_balance/in_use/amount_minor"),
        0,
        "the credit was released"
    );
    assert_eq!(i64_field(&summary, "/order/amount_due_minor"), 1800);
    let retry = wait_css(c, "a[data-retry]:not([hidden])").await;
    retry.click().await.expect("try again");
    wait_text(c, ".due", "18.00 EUR").await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with(&format!("/pay/{token}")),
        "back on the payment page"
    );
    browser.close().await;
    let requests = stack.proxy.bytes.lock().expect("record").clone();
    assert!(occurs(&requests, b"3ds-return"));
    assert!(!occurs(&requests, CARD.as_bytes()));
    assert!(!occurs_as_token(&requests, CVV.as_bytes()));
}

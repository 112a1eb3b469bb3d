//! The back office in a real browser (headless Chromium through chromedriver), on the demo
//! (`guichet demo --seed-only`, then `guichet serve`): sign in with the demo's admin, open a
//! contact's "Gestion" tab and allow the deferred account with a maximum outstanding, see it
//! offered on that buyer's payment page with the room left; create a deferred-account payment
//! mode with the seed's form, associate it with the box office's point of sale, and see the
//! payment page of an order there offer it.
//!
//! Without Chromium and chromedriver the test prints SKIPPED and passes, unless
//! `GUICHET_REQUIRE_BROWSER=1` (CI), where it fails.

mod support;

use fantoccini::{Client, Locator};
use support::browser::*;
use support::*;

/// Whether the payment page at `url` offers the deferred account; its text.
async fn payment_page(c: &Client, url: &str) -> (bool, String) {
    c.goto(url).await.expect("open the payment page");
    let text = wait_text(c, "h1", "Paiement").await;
    let _ = text;
    let offered = c
        .find(Locator::Css("input[name=means][value=deferred]"))
        .await
        .is_ok();
    let body = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .unwrap_or_default();
    (offered, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_allows_the_deferred_account_and_adds_a_payment_mode_seen_by_the_buyer() {
    let label = "admin-browser";
    let Some((browser_bin, driver_bin)) = browser_tools(label) else {
        return;
    };
    let dir = TempDir::new(label);
    let info = seed_demo(&dir).await;
    let client = http();
    let (_serve, base) = start_serve(&dir, &client, None, 0).await;
    let anne = str_field(&info, "/contacts/anne").to_owned();
    let box_office = str_field(&info, "/points_of_sale/box_office").to_owned();

    let browser = Browser::open(&dir, &browser_bin, &driver_bin, false).await;
    let c = &browser.client;

    // Sign in; without a session the back office sends to the login page. The back office
    // follows the browser's language (English in headless Chromium): the switch makes it
    // French, the seed's.
    c.goto(&format!(
        "{base}/admin/lang?to=fr&back=/admin/contacts/{anne}"
    ))
    .await
    .expect("open the back office");
    wait_text(c, "h1", "Connexion").await;
    type_into(c, "#user", str_field(&info, "/admin_user")).await;
    type_into(c, "#password", str_field(&info, "/admin_password")).await;
    click(c, "#login").await;
    // Signing in lands on the dashboard; the payment modes are one click away.
    wait_text(c, "h1", "Tableau de bord").await;
    c.goto(&format!("{base}/admin/payment-modes"))
        .await
        .expect("open the payment modes");
    wait_text(c, "h1", "Modes de règlement").await;

    // Before: Anne has no deferred account.
    let (_, token) = new_order_at(&client, &base, &info, "internet", 2).await;
    let internet_page = format!("{base}/pay/{token}");
    let (offered, _) = payment_page(c, &internet_page).await;
    assert!(!offered, "deferred account offered before it is allowed");

    // The contact's Gestion tab: allow the deferred account, 150.00 at most.
    c.goto(&format!("{base}/admin/contacts/{anne}"))
        .await
        .expect("open the contact");
    wait_text(c, "h2#h-accounting", "Comptabilité").await;
    click(c, "#deferred-yes").await;
    type_into(c, "#deferred_max", "150,00").await;
    click(c, "#save-accounting").await;
    wait_text(c, "#notice", "enregistrées").await;
    wait_text(c, "#deferred-room", "150.00").await;

    let (offered, text) = payment_page(c, &internet_page).await;
    assert!(offered, "deferred account not offered: {text}");
    assert!(text.contains("150.00"), "room not shown: {text}");

    // The box office's point of sale has no deferred-account mode: not offered there.
    let (_, token) = new_order_at(&client, &base, &info, "box_office", 2).await;
    let counter_page = format!("{base}/pay/{token}");
    let (offered, _) = payment_page(c, &counter_page).await;
    assert!(
        !offered,
        "deferred account offered at the box office before the mode exists"
    );

    // The seed's payment-mode form, then the association with the box office.
    c.goto(&format!("{base}/admin/payment-modes"))
        .await
        .expect("open the payment modes");
    type_into(c, "#internal_name", "Compte client guichet").await;
    type_into(c, "#name_fr", "Compte client").await;
    type_into(c, "#name_en", "Customer account").await;
    type_into(c, "#code", "COMPTE2").await;
    wait_css(c, "#type")
        .await
        .select_by_value("deferred_account")
        .await
        .expect("type");
    wait_css(c, "#status")
        .await
        .select_by_value("visible")
        .await
        .expect("status");
    click(c, "#create-mode").await;
    wait_text(c, "#notice", "créé").await;
    wait_text(c, "#modes", "COMPTE2").await;
    wait_css(c, "#point_of_sale_id")
        .await
        .select_by_value(&box_office)
        .await
        .expect("point of sale");
    wait_css(c, "#payment_mode_id")
        .await
        .select_by_label("COMPTE2 — Compte client guichet")
        .await
        .expect("payment mode");
    click(c, "#associate-mode").await;
    wait_text(c, "#notice", "associé").await;
    wait_text(c, "#points-of-sale", "COMPTE2").await;

    let (offered, text) = payment_page(c, &counter_page).await;
    assert!(
        offered,
        "the new mode is not offered at the box office: {text}"
    );
    assert!(text.contains("150.00"), "room not shown: {text}");

    // Logout: the back office asks to sign in again.
    c.goto(&format!("{base}/admin/payment-modes"))
        .await
        .expect("open the payment modes");
    click(c, "#logout").await;
    wait_text(c, "h1", "Connexion").await;
    browser.close().await;
}

//! Card payments end to end (issue 4): the test is the buyer's browser — it posts card fields
//! to the provider simulator's Alias Gateway, follows its redirects and the 3-D Secure page —
//! and the shop; Guichet talks to the simulator over real HTTP in Ogone's wire format.

use crate::helpers::{ShopFixture, TestApp, id};
use crate::{on_both, on_both_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const VISA_OK: &str = "4111111111111111";
pub const VISA_3DS: &str = "4000000000000002";

/// The simulator's decline card (docs/PROVIDERS.md, simulator test cards).
pub fn decline_card() -> String {
    guichet_psp_sim::test_cards::DECLINED.to_owned()
}

pub struct CardEnv {
    pub app: TestApp,
    pub shop: ShopFixture,
    pub sim: String,
    /// A browser: no automatic redirects, so each hop is checked.
    pub browser: reqwest::Client,
}

/// A simulator on its own port whose post-sale feedback goes to this Guichet, and the
/// internet channel paying through it with `policy` (3-D Secure).
pub async fn card_env(app: TestApp, policy: &str, days: u32) -> CardEnv {
    let shop = app.shop().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = format!("http://{}", listener.local_addr().unwrap());
    let mut config = guichet_psp_sim::SimConfig {
        hang: std::time::Duration::from_secs(3),
        ..Default::default()
    };
    for a in &mut config.ogone_accounts {
        a.feedback_url = Some(format!("{}/psp/ogone/feedback", app.base));
    }
    let simulator = guichet_psp_sim::Simulator::new(config, sim.clone());
    tokio::spawn(simulator.serve(listener));
    put_payment_system(
        &app,
        &shop.t.channel,
        json!({
            "provider": "ogone",
            "label": "Ogone (simulator)",
            "base_url": format!("{sim}/ncol/test"),
            "merchant_id": "GUICHETTEST",
            "settings": {"userid": "API", "hash_algorithm": "SHA-512"},
            "credentials": {"password": "guichet-test", "sha_in": "Mysecretsig1875!?", "sha_out": "Mysecretsig1875!?"},
            "three_ds_policy": policy,
            "three_ds_days": days
        }),
    )
    .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    CardEnv {
        app,
        shop,
        sim,
        browser,
    }
}

/// The channel's payment system, as the back office sets it.
pub async fn put_payment_system(app: &TestApp, channel: &str, body: Value) {
    let path = format!("/api/v1/admin/sales-channels/{channel}/payment-system");
    let (status, saved) = app
        .call(Method::PUT, &path, Some(&app.admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
}

/// The hidden fields and inputs of the first form of an HTML page, with its action.
pub fn form_of(html: &str, base: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'"),
        )
    };
    let form_start = html.find("<form").expect("a form");
    let form_tag_end = html[form_start..].find('>').unwrap() + form_start;
    let action = attr(&html[form_start..=form_tag_end], "action").unwrap_or_default();
    let action = if action.starts_with("http") {
        action
    } else {
        format!("{base}{action}")
    };
    let form_end = html[form_start..]
        .find("</form>")
        .map_or(html.len(), |e| e + form_start);
    let mut fields = Vec::new();
    let mut rest = &html[form_tag_end..form_end];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..=end];
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    (action, fields)
}

pub struct Card<'a> {
    pub number: &'a str,
    pub expiry: &'a str,
    pub cvc: &'a str,
    pub holder: &'a str,
}

pub fn card(number: &str) -> Card<'_> {
    Card {
        number,
        expiry: "1230",
        cvc: "123",
        holder: "Karin Deu",
    }
}

impl CardEnv {
    /// Posts the card to the provider's form as the payment page would, and returns the query
    /// string of the provider's redirect back to Guichet.
    pub async fn register_card(&self, token: &str, card: &Card<'_>) -> String {
        let (status, summary) = self.app.checkout(token, Method::GET, "", None).await;
        assert_eq!(status, StatusCode::OK, "{summary}");
        let form = &summary["means"]["card_form"];
        let url = form["url"].as_str().expect("card form").to_owned();
        assert!(url.starts_with(&self.sim), "{url}");
        let mut fields: Vec<(String, String)> = form["fields"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        fields.push(("CN".into(), card.holder.into()));
        fields.push(("CARDNO".into(), card.number.into()));
        fields.push(("ED".into(), card.expiry.into()));
        fields.push(("CVC".into(), card.cvc.into()));
        let resp = self.browser.post(&url).form(&fields).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{}/pay/{token}/card-return", self.app.base)),
            "{location}"
        );
        location.split_once('?').unwrap().1.to_owned()
    }

    pub async fn pay(&self, token: &str, alias_return: &str) -> (StatusCode, Value) {
        self.app
            .checkout(
                token,
                Method::POST,
                "/pay",
                Some(json!({"means": "card", "accept_terms": true, "card_alias_return": alias_return})),
            )
            .await
    }

    /// Plays the 3-D Secure page the provider gave: approve or refuse, then follows the
    /// provider's redirect to Guichet; returns Guichet's page.
    pub async fn three_ds(&self, html: &str, approve: bool) -> String {
        let location = self.three_ds_return(html, approve).await;
        self.browser
            .get(&location)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The issuer's page answered: the signed return URL the browser is sent to.
    pub async fn three_ds_return(&self, html: &str, approve: bool) -> String {
        let (action, fields) = form_of(html, &self.sim);
        let page = self
            .browser
            .post(&action)
            .form(&fields)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (action, mut fields) = form_of(&page, &self.sim);
        fields.retain(|(k, _)| k != "decision");
        fields.push((
            "decision".into(),
            if approve { "approve" } else { "refuse" }.into(),
        ));
        let resp = self
            .browser
            .post(&action)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&self.app.base), "{location}");
        location
    }

    pub async fn order(&self, token_order: &Value) -> Value {
        let (status, o) = self
            .app
            .call(
                Method::GET,
                &format!("/api/v1/orders/{}", id(token_order)),
                Some(&self.shop.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        o
    }

    pub async fn sim_transactions(&self) -> Vec<Value> {
        let v: Value = self
            .browser
            .get(format!("{}/__sim/transactions", self.sim))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    pub async fn refund(&self, order: &Value, body: Value) -> (StatusCode, Value) {
        self.app
            .call(
                Method::POST,
                &format!("/api/v1/orders/{}/refunds", id(order)),
                Some(&self.shop.key),
                Some(body),
            )
            .await
    }
}

fn card_leg(order: &Value) -> Value {
    order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l["kind"] == "card")
        .cloned()
        .expect("a card leg")
}

async fn card_success(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 4200).await;
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (status, paid) = env.pay(&token, &alias).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid", "{paid}");
    let order = env.order(&created).await;
    assert_eq!(order["status"], "paid");
    let leg = card_leg(&order);
    assert_eq!(leg["status"], "committed");
    assert_eq!(leg["amount_minor"], 4200);
    assert_eq!(leg["card"]["status"], "captured");
    assert_eq!(leg["card"]["masked_pan"], "XXXXXXXXXXXX1111");
    assert_eq!(leg["card"]["three_ds_required"], false);
    assert_eq!(leg["card"]["three_ds_reason"], "policy_never");
    // The simulator captured exactly that, once.
    let tx = env.sim_transactions().await;
    let mine: Vec<&Value> = tx
        .iter()
        .filter(|t| t["reference"] == leg["card"]["reference"])
        .collect();
    assert_eq!(mine.len(), 1, "{tx:?}");
    assert_eq!(mine[0]["captured_minor"], 4200);
    // Paying again answers the same: paid, no second charge.
    let (status, again) = env.pay(&token, &alias).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "paid");
    assert_eq!(env.sim_transactions().await.len(), tx.len());
    env.app.audit_clean().await;
}
on_both!(card_success);

async fn card_declined_releases_everything(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let shop = &env.shop;
    let code = env
        .app
        .voucher(&shop.t.institution, 1000, time::Duration::days(30), false)
        .await;
    let (created, token) = env.app.order(shop, Some(&shop.karin), 5000).await;
    let (s, _) = env
        .app
        .checkout(&token, Method::POST, "/codes", Some(json!({"code": code})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env
        .app
        .checkout(
            &token,
            Method::PUT,
            "/credit-balance",
            Some(json!({"amount_minor": 700})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(env.app.voucher_balance(&code).await, 0);
    assert_eq!(
        env.app.accounting(&shop.karin).await["credit_balance"]["amount_minor"],
        800
    );

    let alias = env.register_card(&token, &card(&decline_card())).await;
    let (status, out) = env.pay(&token, &alias).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "declined", "{out}");
    assert!(out["reason"].as_str().is_some_and(|r| !r.is_empty()));
    // Voucher and credit back, every leg released, the order still payable.
    assert_eq!(env.app.voucher_balance(&code).await, 1000);
    assert_eq!(
        env.app.accounting(&shop.karin).await["credit_balance"]["amount_minor"],
        1500
    );
    let order = env.order(&created).await;
    assert_eq!(order["status"], "awaiting_payment");
    assert!(
        order["legs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "released"),
        "{order}"
    );
    assert_eq!(card_leg(&order)["card"]["status"], "declined");
    assert_eq!(order["amount_due_minor"], 5000);
    env.app.audit_clean().await;
}
on_both!(card_declined_releases_everything);

/// The provider's answer for one payment arriving many times at once (the browser's return,
/// its reloads and the server-to-server feedback race each other): each is answered with the
/// payment's result, the payment is captured once. A decision taken on a payment read before
/// the order once turned the losers of that race into internal errors.
async fn one_answer_arriving_many_times_at_once(app: TestApp) {
    let env = card_env(app, "always", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 3000).await;
    let alias = env.register_card(&token, &card(VISA_3DS)).await;
    let (status, out) = env.pay(&token, &alias).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "requires_action", "{out}");
    let location = env
        .three_ds_return(out["action"]["html"].as_str().unwrap(), true)
        .await;
    let mut answers = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (browser, location) = (env.browser.clone(), location.clone());
        answers.spawn(async move {
            let resp = browser.get(&location).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        });
    }
    while let Some(answer) = answers.join_next().await {
        let (status, page) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Paiement accepté"), "{page}");
    }
    let order = env.order(&created).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(card_leg(&order)["card"]["status"], "captured");
    env.app.audit_clean().await;
}
on_both!(one_answer_arriving_many_times_at_once);

async fn three_ds_challenge_approved_and_refused(app: TestApp) {
    let env = card_env(app, "always", 0).await;
    for approve in [true, false] {
        let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 3000).await;
        let alias = env.register_card(&token, &card(VISA_3DS)).await;
        let (status, out) = env.pay(&token, &alias).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["status"], "requires_action", "{out}");
        assert_eq!(out["action"]["type"], "html");
        let order = env.order(&created).await;
        assert_eq!(card_leg(&order)["card"]["status"], "awaiting_3ds");
        assert_eq!(card_leg(&order)["card"]["three_ds_reason"], "policy_always");
        let page = env
            .three_ds(out["action"]["html"].as_str().unwrap(), approve)
            .await;
        let order = env.order(&created).await;
        if approve {
            assert!(page.contains("Paiement accepté"), "{page}");
            assert_eq!(order["status"], "paid");
            assert_eq!(card_leg(&order)["card"]["status"], "captured");
        } else {
            assert!(page.contains("Paiement refusé"), "{page}");
            assert_eq!(order["status"], "awaiting_payment");
            assert_eq!(card_leg(&order)["card"]["status"], "declined");
        }
    }
    // The post-sale feedback (sent by the simulator too) changed nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    env.app.audit_clean().await;
}
on_both!(three_ds_challenge_approved_and_refused);

/// Policy "close to the event" (3 days): an event in 2 days asks 3-D Secure, one in 60 not.
async fn three_ds_near_event_policy(app: TestApp) {
    let env = card_env(app, "close_to_event", 3).await;
    for (days, required) in [(2, true), (60, false)] {
        let starts = time::OffsetDateTime::now_utc() + time::Duration::days(days);
        let starts = starts
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let body = json!({
            "point_of_sale": env.shop.t.pos,
            "contact": env.shop.karin,
            "currency": "EUR",
            "language": "fr",
            "lines": [{"kind": "ticket", "label": "Tartuffe", "quantity": 1, "unit_amount_minor": 2500,
                       "event": {"id": "EV-2", "name": "Tartuffe", "starts_at": starts}}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        });
        let (s, created) = env
            .app
            .call(
                Method::POST,
                "/api/v1/orders",
                Some(&env.shop.key),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let token = created["checkout_token"].as_str().unwrap();
        let alias = env.register_card(token, &card(VISA_3DS)).await;
        let (_, out) = env.pay(token, &alias).await;
        let order = env.order(&created).await;
        let leg = card_leg(&order);
        assert_eq!(leg["card"]["three_ds_required"], required, "{order}");
        let sim = env.sim_transactions().await;
        let t = sim
            .iter()
            .find(|t| t["reference"] == leg["card"]["reference"])
            .unwrap();
        assert_eq!(t["flag3d"], required, "{t}");
        if required {
            assert_eq!(out["status"], "requires_action", "{out}");
            assert_eq!(leg["card"]["three_ds_reason"], "event_within_days");
        } else {
            assert_eq!(out["status"], "paid", "{out}");
            assert_eq!(leg["card"]["three_ds_reason"], "no_event_close");
        }
    }
}
on_both!(three_ds_near_event_policy);

async fn refunds_to_card_and_credit(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 6000).await;
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (_, paid) = env.pay(&token, &alias).await;
    assert_eq!(paid["status"], "paid", "{paid}");

    // Partial, then the rest, to the card.
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 1000, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["refund"]["status"], "succeeded");
    // Beyond what the card leg has left: refused, nothing changes.
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 5001, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert_eq!(r["error"]["code"], "refund_exceeds_collected");
    // Part to the credit balance, the rest to the card.
    let before = env.app.accounting(&env.shop.karin).await["credit_balance"]["amount_minor"]
        .as_i64()
        .unwrap();
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 500, "destination": "credit_balance"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let after = env.app.accounting(&env.shop.karin).await["credit_balance"]["amount_minor"]
        .as_i64()
        .unwrap();
    assert_eq!(after - before, 500);
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 4500, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, r) = env
        .refund(&created, json!({"amount_minor": 1, "destination": "card"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");

    let order = env.order(&created).await;
    assert_eq!(card_leg(&order)["refunded_minor"], 6000);
    assert_eq!(order["refunds"].as_array().unwrap().len(), 3);
    // The simulator refunded 1000 + 4500 to the card, nothing more.
    let sim = env.sim_transactions().await;
    let t = sim
        .iter()
        .find(|t| t["reference"] == card_leg(&order)["card"]["reference"])
        .unwrap();
    let refunded: i64 = t["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(refunded, 5500, "{t}");
    env.app.audit_clean().await;
}
on_both!(refunds_to_card_and_credit);

/// PROOFS.md: 10 concurrent refunds of one payment, each of its full amount → exactly 1
/// succeeds; the provider refunds once, the ledger holds one refund.
async fn ten_full_refunds_at_once_one_succeeds(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 6000).await;
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (_, paid) = env.pay(&token, &alias).await;
    assert_eq!(paid["status"], "paid", "{paid}");

    let url = format!("{}/api/v1/orders/{}/refunds", env.app.base, id(&created));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, url, key, barrier) = (
            env.app.client.clone(),
            url.clone(),
            env.shop.key.clone(),
            barrier.clone(),
        );
        set.spawn(async move {
            barrier.wait().await;
            let resp = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"amount_minor": 6000, "destination": "card"}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut created_count = 0;
    let mut refused = 0;
    while let Some(done) = set.join_next().await {
        let (status, body) = done.unwrap();
        if status == StatusCode::CREATED {
            assert_eq!(body["refund"]["status"], "succeeded", "{body}");
            created_count += 1;
        } else {
            assert!(
                status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
                "{status} {body}"
            );
            refused += 1;
        }
    }
    assert_eq!((created_count, refused), (1, 9));

    let order = env.order(&created).await;
    assert_eq!(card_leg(&order)["refunded_minor"], 6000);
    assert_eq!(order["refunds"].as_array().unwrap().len(), 1, "{order:#}");
    let sim = env.sim_transactions().await;
    let t = sim
        .iter()
        .find(|t| t["reference"] == card_leg(&order)["card"]["reference"])
        .unwrap();
    let refunds = t["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{t}");
    assert_eq!(refunds[0]["amount_minor"], 6000, "{t}");
    println!(
        "FIGURE refunds: 10 concurrent full refunds, 1 succeeded, 9 refused, 1 provider refund"
    );
    env.app.audit_clean().await;
}
on_both!(ten_full_refunds_at_once_one_succeeds);

// ---- faults and recovery ----------------------------------------------------------------

fn short_timeout(c: &mut guichet_server::ServerConfig) {
    c.provider_timeout = std::time::Duration::from_secs(1);
}

/// The job runner as `guichet jobs` runs it: another state on the same database, later.
async fn run_recovery(env: &CardEnv, minutes_later: i64) -> usize {
    let state = guichet_server::AppState {
        store: env.app.store.clone(),
        config: std::sync::Arc::new(
            guichet_server::ServerConfig::new(env.app.base.clone())
                .with_provider_timeout(std::time::Duration::from_secs(5)),
        ),
    };
    let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes_later);
    guichet_server::cards::recover_due(&state, at, 100).await
}

/// What the ledger holds as owed by the provider for the channel (captures less card refunds).
async fn clearing_balance(env: &CardEnv) -> i64 {
    env.app
        .store
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
}

/// What the simulator captured less what it refunded, over every transaction.
async fn sim_net(env: &CardEnv) -> i64 {
    env.sim_transactions()
        .await
        .iter()
        .map(|t| {
            let refunded: i64 = t["refunds"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x["amount_minor"].as_i64()).sum())
                .unwrap_or(0);
            t["captured_minor"].as_i64().unwrap_or(0) - refunded
        })
        .sum()
}

/// Timeout, lost reply after capture, malformed reply after capture: the payment stays pending
/// (nothing committed, the order cannot be cancelled under it), then the recovery job asks the
/// provider and commits what it holds. A 500 before anything was recorded: recovery learns the
/// provider never took it and frees the order for another card.
async fn unknown_outcomes_are_recovered(app: TestApp) {
    use guichet_psp_sim::test_cards::{HTTP_500, LOST_REPLY, MALFORMED, TIMEOUT};
    let env = card_env(app, "never", 0).await;
    for (number, captured) in [
        (TIMEOUT, true),
        (LOST_REPLY, true),
        (MALFORMED, true),
        (HTTP_500, false),
    ] {
        let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2100).await;
        let alias = env.register_card(&token, &card(number)).await;
        let (status, out) = env.pay(&token, &alias).await;
        assert_eq!(status, StatusCode::OK, "{number}: {out}");
        assert_eq!(out["status"], "pending", "{number}: {out}");
        let order = env.order(&created).await;
        assert_eq!(order["status"], "awaiting_payment");
        assert_eq!(card_leg(&order)["status"], "held");
        assert_eq!(card_leg(&order)["card"]["status"], "pending_provider");
        // Nothing moves under a payment in flight.
        let (s, e) = env
            .app
            .checkout(&token, Method::POST, "/cancel", None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(e["error"]["code"], "payment_in_progress");
        // Not yet due: the recovery job leaves a call that may still be in flight alone.
        assert_eq!(run_recovery(&env, 0).await, 0);
        if number == TIMEOUT {
            // Let the simulator finish holding its reply back.
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
        assert_eq!(run_recovery(&env, 5).await, 1, "{number}");
        let order = env.order(&created).await;
        if captured {
            assert_eq!(order["status"], "paid", "{number}: {order}");
            assert_eq!(card_leg(&order)["card"]["status"], "captured");
        } else {
            assert_eq!(order["status"], "awaiting_payment", "{number}: {order}");
            assert_eq!(card_leg(&order)["status"], "released");
            assert_eq!(card_leg(&order)["card"]["status"], "failed");
            // The buyer can pay with another card.
            let alias = env.register_card(&token, &card(VISA_OK)).await;
            let (_, out) = env.pay(&token, &alias).await;
            assert_eq!(out["status"], "paid", "{out}");
        }
        assert_eq!(
            clearing_balance(&env).await,
            sim_net(&env).await,
            "{number}"
        );
    }
    env.app.audit_clean().await;
}
on_both_with!(unknown_outcomes_are_recovered, super::short_timeout);

/// A card refund whose reply is lost (the provider refunded) and one that failed before the
/// provider processed it (HTTP 500): both stay pending without a history line; recovery walks
/// the payment's history at the provider and settles the first as succeeded (one ledger
/// movement), the second as failed (its room given back).
async fn lost_refund_replies_are_recovered(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 6000).await;
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (_, paid) = env.pay(&token, &alias).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let mut pending = Vec::new();
    for (kind, amount) in [("lost_reply_after_commit", 1000), ("http500", 500)] {
        let resp = env
            .browser
            .post(format!("{}/__sim/faults", env.sim))
            .json(&json!({"path": "maintenancedirect", "kind": kind}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{kind}: {}", resp.status());
        let (s, r) = env
            .refund(
                &created,
                json!({"amount_minor": amount, "destination": "card"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{kind}: {r}");
        assert_eq!(r["refund"]["status"], "pending_provider", "{kind}: {r}");
        pending.push(r["refund"]["id"].as_str().unwrap().to_owned());
    }
    // Not more than what the leg collected, pending refunds included.
    let (s, e) = env
        .refund(
            &created,
            json!({"amount_minor": 4501, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    assert_eq!(run_recovery(&env, 10).await, 2);
    let order = env.order(&created).await;
    let status_of = |id: &str| {
        order["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(status_of(&pending[0]), "succeeded", "{order}");
    assert_eq!(status_of(&pending[1]), "failed", "{order}");
    assert_eq!(card_leg(&order)["refunded_minor"], 1000, "{order}");
    assert_eq!(clearing_balance(&env).await, 5000);
    assert_eq!(sim_net(&env).await, 5000);
    // The failed refund's room is back: the rest can be refunded.
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 5000, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(clearing_balance(&env).await, sim_net(&env).await);
    env.app.audit_clean().await;
}
on_both_with!(lost_refund_replies_are_recovered, super::short_timeout);

/// A feedback or return with a flipped signature byte is rejected and changes nothing; a
/// duplicated post-sale feedback is processed once.
async fn bad_signatures_and_duplicate_feedback(app: TestApp) {
    let env = card_env(app, "always", 0).await;
    env.browser
        .post(format!("{}/__sim/feedback-mode", env.sim))
        .json(&json!({"mode": "duplicate"}))
        .send()
        .await
        .unwrap();
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 3300).await;
    let alias = env.register_card(&token, &card(VISA_3DS)).await;

    // The card form's return, tampered: refused, nothing written.
    let flipped = alias.replacen("SHASIGN=", "SHASIGN=0", 1);
    let (s, e) = env.pay(&token, &flipped).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "card_return_invalid");
    assert!(
        env.order(&created).await["legs"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let (_, out) = env.pay(&token, &alias).await;
    assert_eq!(out["status"], "requires_action", "{out}");
    let reference = card_leg(&env.order(&created).await)["card"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    // A forged "accepted" feedback for it: rejected, the payment still waits for 3-D Secure.
    let forged = [
        ("orderID", reference.as_str()),
        ("amount", "33"),
        ("currency", "EUR"),
        ("PM", "CreditCard"),
        ("STATUS", "9"),
        ("PAYID", "123"),
        ("NCERROR", "0"),
        (
            "SHASIGN",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ),
    ];
    let resp = env
        .browser
        .post(format!("{}/psp/ogone/feedback", env.app.base))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let order = env.order(&created).await;
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(card_leg(&order)["card"]["status"], "awaiting_3ds");

    let page = env
        .three_ds(out["action"]["html"].as_str().unwrap(), true)
        .await;
    assert!(page.contains("Paiement accepté"), "{page}");
    // The simulator sends its feedback twice; give it time to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(env.order(&created).await["status"], "paid");
    assert_eq!(clearing_balance(&env).await, 3300);
    assert_eq!(sim_net(&env).await, 3300);
    env.app.audit_clean().await;
}
on_both!(bad_signatures_and_duplicate_feedback);

// ---- Sips ---------------------------------------------------------------------------------

/// A Sips payment: Paypage init from the server, the buyer on the hosted page, the sealed
/// return and automatic response; then a partial refund through the Office API.
async fn sips_payment_and_refund(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    put_payment_system(
        &env.app,
        &env.shop.t.channel,
        json!({
            "provider": "sips",
            "label": "Sips (simulator)",
            "base_url": env.sim,
            "merchant_id": "002001000000001",
            "settings": {"key_version": "1"},
            "credentials": {"secret_key": "002001000000001_KEY1"},
            "three_ds_policy": "never",
            "three_ds_days": 0
        }),
    )
    .await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 2700).await;
    let (_, summary) = env.app.checkout(&token, Method::GET, "", None).await;
    assert!(summary["means"]["card_form"].is_null(), "{summary}");
    let (status, out) = env
        .app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "card", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "requires_action", "{out}");
    assert_eq!(out["action"]["type"], "form_post");
    let url = out["action"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&env.sim), "{url}");
    let fields: Vec<(String, String)> = out["action"]["fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    // The hosted card form, then the card, as the browser would.
    let page = env
        .browser
        .post(&url)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, mut fields) = form_of(&page, &env.sim);
    fields.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "cardNumber" | "cardExpiryDate" | "cardCSCValue" | "holderName" | "cancel"
        )
    });
    for (k, v) in [
        ("cardNumber", VISA_OK),
        ("cardExpiryDate", "203012"),
        ("cardCSCValue", "123"),
        ("holderName", "Karin Deu"),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let result = env
        .browser
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (back, fields) = form_of(&result, &env.sim);
    assert!(back.starts_with(&env.app.base), "{back}");
    let page = env
        .browser
        .post(&back)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Paiement accepté"), "{page}");
    let order = env.order(&created).await;
    assert_eq!(order["status"], "paid", "{order}");
    let leg = card_leg(&order);
    assert_eq!(leg["card"]["provider"], "sips");
    assert_eq!(leg["card"]["status"], "captured");

    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 700, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(clearing_balance(&env).await, 2000);
    assert_eq!(sim_net(&env).await, 2000);
    env.app.audit_clean().await;
}
on_both!(sips_payment_and_refund);

/// The back office refunds too (with its idempotency key); each refund queues one
/// `refund.succeeded` event for the shop; an unpaid order cannot be refunded.
async fn back_office_refunds_and_webhooks(app: TestApp) {
    let env = card_env(app, "never", 0).await;
    let (created, token) = env.app.order(&env.shop, Some(&env.shop.karin), 1800).await;
    let (s, e) = env
        .refund(
            &created,
            json!({"amount_minor": 100, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "order_not_paid");
    let alias = env.register_card(&token, &card(VISA_OK)).await;
    let (_, paid) = env.pay(&token, &alias).await;
    assert_eq!(paid["status"], "paid", "{paid}");

    let path = format!("/api/v1/admin/orders/{}/refunds", id(&created));
    let send = || {
        env.app
            .client
            .post(format!("{}{path}", env.app.base))
            .bearer_auth(&env.app.admin)
            .header("Idempotency-Key", "bo-refund-1")
            .json(&json!({"amount_minor": 800, "destination": "card"}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first, again, "a replay returns the stored response");
    let (s, r) = env
        .refund(
            &created,
            json!({"amount_minor": 1000, "destination": "credit_balance"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let (s, list) = env
        .app
        .admin_get(&format!(
            "/api/v1/admin/webhook-events?shop_key_id={}",
            env.shop.shop_key_id
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let refunds = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "refund.succeeded")
        .count();
    assert_eq!(refunds, 2, "{list}");
    assert_eq!(clearing_balance(&env).await, 1000);
    assert_eq!(sim_net(&env).await, 1000);
    env.app.audit_clean().await;
}
on_both!(back_office_refunds_and_webhooks);

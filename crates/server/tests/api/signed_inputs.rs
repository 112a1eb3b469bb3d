//! Signed inputs (issue 7 item 3; PROOFS.md "Abuse": webhook or post-sale feedback with a
//! flipped byte, or a timestamp older than 5 minutes → rejected; "Faults": bad signature,
//! duplicate or late post-sale feedback → bad signatures rejected and logged, duplicates
//! processed once).
//!
//! What comes in signed, and how each test gets a genuine message to tamper with:
//! - Ogone post-sale feedback and the 3-D Secure browser return (SHA-OUT `SHASIGN`): the
//!   simulator's feedback is sent to a recording endpoint of the test instead of Guichet, and
//!   the browser's redirect back is not followed; the test then posts them itself.
//! - Sips Paypage results (`Data` + `Seal`): the simulator sends no automatic response (mode
//!   `off`); the test takes the sealed form the hosted page gives the browser.
//! - Guichet's own webhooks (`Guichet-Signature`) into the demo shop's receiver, the reference
//!   a shop can copy.
//!
//! Every rejected message is checked three ways: the HTTP status, nothing changed in the
//! database (order, card payment, legs, number of ledger transactions, clearing balance), and a
//! WARN line in the log (captured by a small tracing subscriber installed for this binary).
//! Each test prints its figures on lines starting with `FIGURE signed inputs` (gathered by
//! `scripts/proofs`).

use crate::cards::{CardEnv, VISA_3DS, VISA_OK, card, card_env, form_of, put_payment_system};
use crate::helpers::{TestApp, id};
use crate::on_both;
use guichet_domain::config::ProviderKind;
use guichet_server::webhooks::{self, DemoReceiver, EVENT_ID_HEADER, SIGNATURE_HEADER};
use guichet_server::{AppState, ServerConfig};
use guichet_store::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

// ---- WARN lines of the log ----------------------------------------------------------------

/// A tracing subscriber for this test binary that keeps every WARN and ERROR event as one
/// line (`LEVEL target: field=value …`), so that a test can check that a rejection was logged.
mod logs {
    use std::fmt::Write as _;
    use std::sync::{Mutex, OnceLock};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// Lines kept at most (the whole binary logs through this subscriber once installed).
    const MAX_LINES: usize = 200_000;
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    struct Line(String);

    impl Visit for Line {
        fn record_str(&mut self, field: &Field, value: &str) {
            let _ = write!(self.0, " {}={value}", field.name());
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.is_event() && *metadata.level() <= Level::WARN
        }

        fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
            Some(tracing::level_filters::LevelFilter::WARN)
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let meta = event.metadata();
            let mut line = Line(format!("{} {}:", meta.level(), meta.target()));
            event.record(&mut line);
            let mut lines = LINES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if lines.len() < MAX_LINES {
                lines.push(line.0);
            }
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Installs the subscriber as the global default (once per binary; nothing else in the API
    /// tests installs one).
    pub fn install() {
        static ONCE: OnceLock<bool> = OnceLock::new();
        let installed =
            *ONCE.get_or_init(|| tracing::subscriber::set_global_default(Capture).is_ok());
        assert!(installed, "another global tracing subscriber is installed");
    }

    /// WARN (or ERROR) lines containing every one of `needles`.
    pub fn count(needles: &[&str]) -> usize {
        LINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|l| l.starts_with("WARN") || l.starts_with("ERROR"))
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }
}

// ---- helpers ------------------------------------------------------------------------------

/// Forms as received, each a list of (name, value).
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// An endpoint of the test that records the forms POSTed to it (the provider's post-sale
/// feedback, sent here instead of to Guichet) and answers 200.
#[derive(Clone)]
struct FormRecorder {
    url: String,
    forms: Forms,
}

impl FormRecorder {
    async fn start() -> FormRecorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/feedback", listener.local_addr().unwrap());
        let forms: Forms = Arc::default();
        let keep = forms.clone();
        let app = axum::Router::new().route(
            "/feedback",
            axum::routing::post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
                let keep = keep.clone();
                async move {
                    keep.lock().unwrap().push(form);
                    "OK"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FormRecorder { url, forms }
    }

    /// The first form received (waits up to 10 s).
    async fn first(&self) -> Vec<(String, String)> {
        for _ in 0..100 {
            if let Some(form) = self.forms.lock().unwrap().first() {
                return form.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the provider sent no post-sale feedback");
    }
}

/// What a rejected message must leave as it was: the order, its card payment and legs, the
/// number of ledger transactions in the database, the provider clearing balance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    order_status: String,
    legs: Vec<(String, String, i64)>,
    card_status: String,
    refunds: usize,
    ledger_transactions: u64,
    clearing_minor: i64,
}

async fn snapshot(env: &CardEnv, order_id: &str) -> Snapshot {
    let order = env.order(&json!({"id": order_id})).await;
    let legs: Vec<(String, String, i64)> = order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
                l["refunded_minor"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let card_status = order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l["kind"] == "card")
        .map(|l| l["card"]["status"].as_str().unwrap().to_owned())
        .unwrap_or_default();
    let audit = env.app.store.audit().await.unwrap();
    assert!(audit.differences.is_empty(), "{:?}", audit.differences);
    Snapshot {
        order_status: order["status"].as_str().unwrap().to_owned(),
        legs,
        card_status,
        refunds: order["refunds"].as_array().map_or(0, Vec::len),
        ledger_transactions: audit.transactions_checked,
        clearing_minor: clearing(env).await,
    }
}

async fn clearing(env: &CardEnv) -> i64 {
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

/// Karin's order of `amount`, 5.00 of it from her credit balance (so that the card leg
/// commits with another leg); returns its id and token.
async fn order_with_credit(env: &CardEnv, amount: i64) -> (String, String) {
    let (created, token) = env
        .app
        .order(&env.shop, Some(&env.shop.karin), amount)
        .await;
    let (status, out) = env
        .app
        .checkout(
            &token,
            Method::PUT,
            "/credit-balance",
            Some(json!({"amount_minor": 500})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    (id(&created), token)
}

/// `value` with the low bit of its byte `i` flipped, when that is still text.
fn flip(value: &str, i: usize) -> Option<String> {
    let mut bytes = value.as_bytes().to_vec();
    bytes[i] ^= 0x01;
    String::from_utf8(bytes).ok()
}

/// Posts a form to Guichet; returns the status and the body.
async fn post_form(env: &CardEnv, path: &str, form: &[(String, String)]) -> (StatusCode, String) {
    let resp = env
        .browser
        .post(format!("{}{path}", env.app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

fn query_of(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn encode(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// How many rejections answered each status.
fn tally_line(tally: &BTreeMap<u16, usize>) -> String {
    tally
        .iter()
        .map(|(s, n)| format!("{n}× {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plays the 3-D Secure page and approves, without following the provider's redirect back;
/// returns that redirect's URL (Guichet's 3-D Secure return with the signed parameters).
async fn approve_three_ds(env: &CardEnv, html: &str) -> String {
    let (action, fields) = form_of(html, &env.sim);
    let page = env
        .browser
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, mut fields) = form_of(&page, &env.sim);
    fields.retain(|(k, _)| k != "decision");
    fields.push(("decision".into(), "approve".into()));
    let resp = env
        .browser
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&env.app.base), "{location}");
    location
}

// ---- Ogone --------------------------------------------------------------------------------

/// Ogone post-sale feedback and the 3-D Secure browser return, both signed with SHA-OUT:
///
/// - a copy of the genuine feedback with one byte flipped — every byte of every signed
///   parameter's name and value, and every character of `SHASIGN` — is rejected (400; 404 when
///   the flipped byte is in `orderID`, which then names no payment), changes nothing, and is
///   logged at WARN; the same on the browser's return (a few flips: the page answers 400/404);
/// - the genuine feedback settles the payment (one `order_commit` transaction); the same
///   feedback again, ten times at once, and the browser's return arriving after it answer 200
///   and change nothing;
/// - late: the same feedback replayed after part of the payment was refunded changes nothing
///   (it cannot capture again, nor undo the refund).
///
/// Staleness cannot be judged on Ogone: its feedback carries no signed timestamp (`TRXDATE`
/// is the transaction's date, `MM/DD/YY`), so a replayed genuine feedback is indistinguishable
/// from a late one. Guichet relies on idempotency instead: `orderID` is unique per payment
/// attempt, and `settle` only moves a payment that is still open.
async fn ogone_feedback_flipped_duplicate_and_late(app: TestApp) {
    logs::install();
    let env = card_env(app, "always", 0).await;
    let recorder = FormRecorder::start().await;
    let resp = env
        .browser
        .post(format!("{}/__sim/feedback-url", env.sim))
        .json(&json!({"pspid": "GUICHETTEST", "url": recorder.url}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    let (order_id, token) = order_with_credit(&env, 3300).await;
    let alias = env.register_card(&token, &card(VISA_3DS)).await;
    let (status, out) = env.pay(&token, &alias).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "requires_action", "{out}");
    let browser_return = approve_three_ds(&env, out["action"]["html"].as_str().unwrap()).await;
    let feedback = recorder.first().await;
    let reference = feedback
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("orderID"))
        .map(|(_, v)| v.clone())
        .unwrap();

    let before = snapshot(&env, &order_id).await;
    assert_eq!(before.order_status, "awaiting_payment");
    assert_eq!(before.card_status, "awaiting_3ds", "{before:?}");

    // Every byte of every signed name and value, and of SHASIGN.
    use guichet_psp::ogone::signature::is_sha_out_parameter;
    let mut tally: BTreeMap<u16, usize> = BTreeMap::new();
    let mut cases = 0;
    for (index, (name, value)) in feedback.iter().enumerate() {
        let upper = name.to_ascii_uppercase();
        if upper != "SHASIGN" && !is_sha_out_parameter(&upper) {
            continue;
        }
        for (part, text) in [("name", name), ("value", value)] {
            for i in 0..text.len() {
                let Some(flipped) = flip(text, i) else {
                    continue;
                };
                let mut tampered = feedback.clone();
                if part == "name" {
                    tampered[index].0 = flipped.clone();
                } else {
                    tampered[index].1 = flipped.clone();
                }
                // The log names the payment the message claims to be about.
                let named = if upper == "ORDERID" && part == "value" {
                    flipped
                } else {
                    reference.clone()
                };
                let needle = if upper == "ORDERID" && part == "name" {
                    "without a reference".to_owned()
                } else {
                    named
                };
                let warned = logs::count(&[&needle]);
                let (status, body) = post_form(&env, "/psp/ogone/feedback", &tampered).await;
                assert!(
                    status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
                    "{name} {part} byte {i}: {status} {body}"
                );
                assert!(
                    logs::count(&[&needle]) > warned,
                    "{name} {part} byte {i}: no WARN line naming {needle}"
                );
                *tally.entry(status.as_u16()).or_default() += 1;
                cases += 1;
            }
        }
        assert_eq!(
            snapshot(&env, &order_id).await,
            before,
            "a tampered {name} changed something"
        );
    }
    assert!(cases > 200, "{cases} cases");

    // The browser's return, tampered: the first byte of each signed value, and of SHASIGN.
    let returned = query_of(&browser_return);
    let mut return_tally: BTreeMap<u16, usize> = BTreeMap::new();
    for (index, (name, value)) in returned.iter().enumerate() {
        let upper = name.to_ascii_uppercase();
        if value.is_empty() || (upper != "SHASIGN" && !is_sha_out_parameter(&upper)) {
            continue;
        }
        let mut tampered = returned.clone();
        tampered[index].1 = flip(value, 0).unwrap();
        let resp = env
            .browser
            .get(format!(
                "{}/psp/ogone/3ds-return?{}",
                env.app.base,
                encode(&tampered)
            ))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let page = resp.text().await.unwrap();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "return {name}: {status}"
        );
        assert!(!page.contains("Paiement accepté"), "return {name}: {page}");
        *return_tally.entry(status.as_u16()).or_default() += 1;
    }
    assert_eq!(snapshot(&env, &order_id).await, before);

    // The genuine feedback: paid, one ledger transaction.
    let (status, body) = post_form(&env, "/psp/ogone/feedback", &feedback).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let paid = snapshot(&env, &order_id).await;
    assert_eq!(paid.order_status, "paid", "{paid:?}");
    assert_eq!(paid.card_status, "captured");
    assert_eq!(paid.ledger_transactions, before.ledger_transactions + 1);
    assert_eq!(paid.clearing_minor, before.clearing_minor + 2800);

    // Duplicates, ten at once, then the browser's return after them: 200, nothing more.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = env.browser.clone();
        let url = format!("{}/psp/ogone/feedback", env.app.base);
        let form = feedback.clone();
        set.spawn(async move { client.post(url).form(&form).send().await.unwrap().status() });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let page = env
        .browser
        .get(&browser_return)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Paiement accepté"), "{page}");
    assert_eq!(snapshot(&env, &order_id).await, paid);

    // Late: replayed after a partial refund, it neither captures again nor undoes the refund.
    let (s, r) = env
        .refund(
            &json!({"id": order_id}),
            json!({"amount_minor": 1000, "destination": "card"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let refunded = snapshot(&env, &order_id).await;
    assert_eq!(refunded.clearing_minor, paid.clearing_minor - 1000);
    let (status, _) = post_form(&env, "/psp/ogone/feedback", &feedback).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot(&env, &order_id).await, refunded);
    env.app.audit_clean().await;

    let backend = env.app.store.backend().as_str();
    println!(
        "FIGURE signed inputs [{backend}] Ogone post-sale feedback with one flipped byte ({cases} cases: every byte of every signed name and value, every SHASIGN character): rejected {}, nothing changed, each logged at WARN",
        tally_line(&tally)
    );
    println!(
        "FIGURE signed inputs [{backend}] Ogone 3-D Secure return with one flipped byte ({} cases): rejected {}, nothing changed",
        return_tally.values().sum::<usize>(),
        tally_line(&return_tally)
    );
    println!(
        "FIGURE signed inputs [{backend}] Ogone genuine feedback: 200, 1 ledger transaction; 10 concurrent duplicates + the late browser return: 200, 0 more; replayed after a refund: 200, 0 more (no signed timestamp: idempotency, not staleness)"
    );
}
on_both!(ogone_feedback_flipped_duplicate_and_late);

// ---- Sips ---------------------------------------------------------------------------------

const SIPS_KEY: &str = "002001000000001_KEY1";

async fn use_sips(env: &CardEnv) {
    put_payment_system(
        &env.app,
        &env.shop.t.channel,
        json!({
            "provider": "sips",
            "label": "Sips (simulator)",
            "base_url": env.sim,
            "merchant_id": "002001000000001",
            "settings": {"key_version": "1"},
            "credentials": {"secret_key": SIPS_KEY},
            "three_ds_policy": "never",
            "three_ds_days": 0
        }),
    )
    .await;
    // No automatic response: the test delivers the results itself.
    let resp = env
        .browser
        .post(format!("{}/__sim/feedback-mode", env.sim))
        .json(&json!({"mode": "off"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// Pays on Sips' hosted page as the browser would, up to the sealed result form, which is not
/// posted; returns its fields.
async fn sips_result(env: &CardEnv, token: &str) -> Vec<(String, String)> {
    let (status, out) = env
        .app
        .checkout(
            token,
            Method::POST,
            "/pay",
            Some(json!({"means": "card", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["action"]["type"], "form_post", "{out}");
    let fields: Vec<(String, String)> = out["action"]["fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let page = env
        .browser
        .post(out["action"]["url"].as_str().unwrap())
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
    assert_eq!(back, format!("{}/psp/sips/return", env.app.base));
    fields
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {form:?}"))
}

/// Sips Paypage results (`Data` sealed by `Seal`):
///
/// - a copy of the genuine result with one byte flipped — every byte of `Data`, every
///   character of `Seal` — posted as the automatic response is rejected (400; 404 when the flip
///   lands in the `transactionReference`), changes nothing and is logged at WARN; a few of them
///   on the browser's return too;
/// - the genuine result settles the payment once; ten duplicates at once and the browser's
///   return after them change nothing.
///
/// Stale results: `Data` carries a signed `transactionDateTime`, but Guichet does not refuse a
/// result for its age. A result is final for its `transactionReference` (one per payment
/// attempt), so a replay can only repeat what is already true, and `settle` only moves a
/// payment that is still open: replays change nothing. Refusing old results would instead
/// leave a genuine late notification unprocessed (PROOFS.md: late feedback must end in a
/// definite state). The last part shows it: a result whose signed time is two hours old (sealed
/// with the test merchant's key, as Sips would send a late retry) settles its payment.
async fn sips_result_flipped_duplicate_and_late(app: TestApp) {
    logs::install();
    let env = card_env(app, "never", 0).await;
    use_sips(&env).await;
    let (order_id, token) = order_with_credit(&env, 2700).await;
    let result = sips_result(&env, &token).await;
    let data = field(&result, "Data").to_owned();
    let seal = field(&result, "Seal").to_owned();
    let reference = guichet_server::psp::reference_in(ProviderKind::Sips, &result).unwrap();
    let before = snapshot(&env, &order_id).await;
    assert_eq!(before.order_status, "awaiting_payment");
    assert_eq!(before.card_status, "pending_provider", "{before:?}");

    let mut tally: BTreeMap<u16, usize> = BTreeMap::new();
    let mut cases = 0;
    for (name, text) in [("Data", &data), ("Seal", &seal)] {
        for i in 0..text.len() {
            let Some(flipped) = flip(text, i) else {
                continue;
            };
            let tampered: Vec<(String, String)> = result
                .iter()
                .map(|(k, v)| {
                    if k == name {
                        (k.clone(), flipped.clone())
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect();
            // The log names the payment the message claims to be about, if it names one.
            let needle = guichet_server::psp::reference_in(ProviderKind::Sips, &tampered)
                .unwrap_or_else(|| "without a reference".to_owned());
            let warned = logs::count(&[&needle]);
            let (status, body) = post_form(&env, "/psp/sips/auto", &tampered).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
                "{name} byte {i}: {status} {body}"
            );
            assert!(
                logs::count(&[&needle]) > warned,
                "{name} byte {i}: no WARN line naming {needle}"
            );
            *tally.entry(status.as_u16()).or_default() += 1;
            cases += 1;
        }
        assert_eq!(
            snapshot(&env, &order_id).await,
            before,
            "a tampered {name} changed something"
        );
    }
    assert!(cases > 300, "{cases} cases");

    // The browser's return, tampered (a flip in the amount, one in the seal): the page refuses.
    let amount_at = data.find("amount=").unwrap() + "amount=".len();
    for (name, text, at) in [("Data", &data, amount_at), ("Seal", &seal, 0)] {
        let tampered: Vec<(String, String)> = result
            .iter()
            .map(|(k, v)| {
                if k == name {
                    (k.clone(), flip(text, at).unwrap())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        let (status, page) = post_form(&env, "/psp/sips/return", &tampered).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(!page.contains("Paiement accepté"), "{page}");
    }
    assert_eq!(snapshot(&env, &order_id).await, before);

    // The genuine result, then ten duplicates at once, then the browser's return.
    let (status, body) = post_form(&env, "/psp/sips/auto", &result).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let paid = snapshot(&env, &order_id).await;
    assert_eq!(paid.order_status, "paid", "{paid:?}");
    assert_eq!(paid.card_status, "captured");
    assert_eq!(paid.ledger_transactions, before.ledger_transactions + 1);
    assert_eq!(paid.clearing_minor, before.clearing_minor + 2200);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = env.browser.clone();
        let url = format!("{}/psp/sips/auto", env.app.base);
        let form = result.clone();
        set.spawn(async move { client.post(url).form(&form).send().await.unwrap().status() });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let (status, page) = post_form(&env, "/psp/sips/return", &result).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Paiement accepté"), "{page}");
    assert_eq!(snapshot(&env, &order_id).await, paid);
    assert!(
        logs::count(&[&reference]) > 0,
        "the rejections named the payment"
    );

    // A genuine result whose signed time is two hours old still settles its payment.
    let (late_order, token) = order_with_credit(&env, 1900).await;
    let result = sips_result(&env, &token).await;
    let data = field(&result, "Data");
    let old = (OffsetDateTime::now_utc() - time::Duration::hours(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let aged: String = data
        .split('|')
        .map(|pair| {
            if pair.starts_with("transactionDateTime=") {
                format!("transactionDateTime={old}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("|");
    assert_ne!(aged, data, "the result carries transactionDateTime");
    let aged_seal = guichet_psp::sips::seal::seal(
        &aged,
        SIPS_KEY,
        guichet_psp::sips::seal::SealAlgorithm::Sha256,
    );
    let late: Vec<(String, String)> = result
        .iter()
        .map(|(k, v)| match k.as_str() {
            "Data" => (k.clone(), aged.clone()),
            "Seal" => (k.clone(), aged_seal.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let before_late = snapshot(&env, &late_order).await;
    let (status, body) = post_form(&env, "/psp/sips/auto", &late).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let settled = snapshot(&env, &late_order).await;
    assert_eq!(settled.order_status, "paid", "{settled:?}");
    assert_eq!(
        settled.ledger_transactions,
        before_late.ledger_transactions + 1
    );
    // Its replay, later still: nothing more.
    let (status, _) = post_form(&env, "/psp/sips/auto", &late).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot(&env, &late_order).await, settled);
    env.app.audit_clean().await;

    let backend = env.app.store.backend().as_str();
    println!(
        "FIGURE signed inputs [{backend}] Sips result with one flipped byte ({cases} cases: every byte of Data, every Seal character): rejected {}, nothing changed, each logged at WARN; on the browser return: 400",
        tally_line(&tally)
    );
    println!(
        "FIGURE signed inputs [{backend}] Sips genuine result: 200, 1 ledger transaction; 10 concurrent duplicates + the browser return: 200, 0 more; a genuine result signed 2 h earlier: 200, settles once (age not refused, by decision)"
    );
}
on_both!(sips_result_flipped_duplicate_and_late);

// ---- Guichet's webhooks into the demo shop ------------------------------------------------

const DEMO_SECRET: &str = "whsec_signed-inputs-demo-secret";

/// One delivery to the receiver; returns the status and the JSON body.
async fn deliver_to(
    client: &reqwest::Client,
    url: &str,
    signature: Option<&str>,
    event_id: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header(EVENT_ID_HEADER, event_id)
        .body(body.to_vec());
    if let Some(signature) = signature {
        req = req.header(SIGNATURE_HEADER, signature);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Guichet's webhooks into the demo shop's receiver (the reference implementation for shops):
/// the genuine delivery is processed; a copy with one flipped byte of the body or of the
/// signature header, a signature whose timestamp is 301 s old or 301 s ahead, a missing or
/// garbled header are rejected with 400, logged at WARN and not processed; the same event
/// delivered again (a replay within the tolerance, or Guichet's retry after a lost answer) is
/// acknowledged with 200 `"duplicate": true` and not processed a second time.
async fn shop_webhooks_flipped_stale_and_replayed(app: TestApp) {
    logs::install();
    let receiver = DemoReceiver::new(Secret::new(DEMO_SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        store: app.store.clone(),
        config: Arc::new(ServerConfig::new(base.clone())),
    };
    let router = guichet_server::router_with_demo(state, Some(receiver.clone()))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("{base}{}", DemoReceiver::PATH);

    let shop = app.shop().await;
    let (status, out) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/shop-keys/{}/webhook", shop.shop_key_id),
            Some(&app.admin),
            Some(json!({"url": url, "secret": DEMO_SECRET})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    // An order paid on the deferred account queues `order.paid`; Guichet's worker delivers it.
    let (_, token) = app.order(&shop, Some(&shop.karin), 1200).await;
    let (status, out) = app
        .checkout(
            &token,
            Method::POST,
            "/pay",
            Some(json!({"means": "deferred_account", "accept_terms": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let client = guichet_server::webhooks::http_client().unwrap();
    let stats = webhooks::deliver_due(&app.store, &client, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].signature_valid);
    let body = received[0].body.clone().into_bytes();
    let event_id = received[0].event_id.clone().unwrap();

    /// How a case signs: a header as given, or a valid signature made at sending time plus
    /// an offset in seconds (so that the age is exact whatever the test's pace).
    enum Signed {
        Header(Option<String>),
        Offset(i64),
    }
    let now = || OffsetDateTime::now_utc().unix_timestamp();
    let good = webhooks::sign(DEMO_SECRET, now(), &body);
    let mut cases: Vec<(String, Signed, Vec<u8>)> = Vec::new();
    for i in 0..body.len() {
        let mut tampered = body.clone();
        tampered[i] ^= 0x01;
        cases.push((format!("body byte {i}"), Signed::Offset(0), tampered));
    }
    for i in 0..good.len() {
        if let Some(flipped) = flip(&good, i) {
            cases.push((
                format!("header byte {i}"),
                Signed::Header(Some(flipped)),
                body.clone(),
            ));
        }
    }
    cases.push(("301 s old".to_owned(), Signed::Offset(-301), body.clone()));
    cases.push(("301 s ahead".to_owned(), Signed::Offset(301), body.clone()));
    cases.push(("no header".to_owned(), Signed::Header(None), body.clone()));
    cases.push((
        "garbled header".to_owned(),
        Signed::Header(Some("garbage".to_owned())),
        body.clone(),
    ));
    cases.push((
        "another secret".to_owned(),
        Signed::Header(Some(webhooks::sign(
            "whsec_another-secret-entirely",
            now(),
            &body,
        ))),
        body.clone(),
    ));
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    for (label, signed, sent) in &cases {
        let signature = match signed {
            Signed::Header(h) => h.clone(),
            // Body flips are signed over the genuine body, as a tampered copy would be.
            Signed::Offset(offset) => Some(webhooks::sign(DEMO_SECRET, now() + offset, &body)),
        };
        // The log line names the event the body claims, or the header's.
        let claimed = serde_json::from_slice::<Value>(sent)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| event_id.clone());
        let warned = logs::count(&["delivery rejected", &claimed]);
        let (status, answer) =
            deliver_to(&client, &url, signature.as_deref(), &event_id, sent).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {answer}");
        assert!(
            logs::count(&["delivery rejected", &claimed]) > warned,
            "{label}: not logged"
        );
        let newest = &receiver.received()[0];
        assert!(
            !newest.signature_valid && newest.body == String::from_utf8_lossy(sent),
            "{label}: not shown as refused"
        );
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        *messages.entry(message).or_default() += 1;
    }
    assert_eq!(receiver.duplicates(), 0);
    assert!(messages.contains_key("the signature timestamp is outside the tolerance"));
    assert!(messages.contains_key("the signature timestamp is in the future"));

    // The same event again, freshly signed (Guichet's retry, or a replay within 5 minutes),
    // five times: acknowledged, not processed again.
    let shown = receiver.received();
    for n in 1..=5 {
        let signature = webhooks::sign(DEMO_SECRET, now() - 290, &body);
        let (status, answer) = deliver_to(&client, &url, Some(&signature), &event_id, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["duplicate"], true, "{answer}");
        assert_eq!(receiver.duplicates(), n);
    }
    assert_eq!(receiver.received(), shown, "nothing recorded again");
    let page = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("5 repeated deliveries"), "{page}");

    let backend = app.store.backend().as_str();
    println!(
        "FIGURE signed inputs [{backend}] shop webhook with one flipped byte, a timestamp 301 s old or ahead, no/garbled header or another secret ({} cases: every body byte, every header byte): 400 each, logged at WARN, 0 processed; reasons: {messages:?}",
        cases.len()
    );
    println!(
        "FIGURE signed inputs [{backend}] the same event delivered 5 more times (valid signatures): 200 \"duplicate\": true, processed once"
    );
}
on_both!(shop_webhooks_flipped_stale_and_replayed);

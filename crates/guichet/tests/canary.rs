//! Canary (DESIGN.md invariant 3; issue 4): every card flow is run with its own test card
//! number and CVV through `guichet serve` (debug logs), the provider simulator and a buyer
//! whose every request to Guichet goes through a recording proxy (so do the provider's
//! server-to-server notifications: Guichet's public URL is the proxy's). Then the database
//! files, every log Guichet wrote and every byte Guichet's server received are scanned: no
//! card number and no CVV may appear. Positive controls show each scan reads real data.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

/// A card flow: the card, where the order is sold, and what the buyer does.
struct Flow {
    name: &'static str,
    number: String,
    cvv: &'static str,
    /// `internet` (Ogone) or `mobile` (Sips).
    point_of_sale: &'static str,
    /// The demo's event: 0 is in 2 days (3-D Secure asked), 2 in 100 days (not asked).
    event: usize,
    /// On a 3-D Secure page: approve or refuse.
    approve: bool,
    /// The order's status at the end.
    expect: &'static str,
}

/// A Luhn-valid Visa number of this run: `4` + 14 random digits + the check digit.
fn unique_visa() -> String {
    let seed = uuid::Uuid::new_v4().as_u128();
    let body: String = std::iter::once('4')
        .chain((0..14).map(|i| char::from(b'0' + ((seed >> (i * 7)) % 10) as u8)))
        .collect();
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).expect("digit");
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Plays a 3-D Secure page given by Guichet (through the proxy): the provider's challenge,
/// the tester's decision, then the provider's redirect back to Guichet.
async fn three_ds(html: &str, sim: &str, approve: bool) {
    let web = browser();
    let (action, fields) = form_of(html, sim);
    let page = web
        .post(&action)
        .form(&fields)
        .send()
        .await
        .expect("3-D Secure")
        .text()
        .await
        .expect("page");
    let (action, mut fields) = form_of(&page, sim);
    fields.retain(|(k, _)| k != "decision");
    fields.push((
        "decision".into(),
        if approve { "approve" } else { "refuse" }.into(),
    ));
    let resp = web
        .post(&action)
        .form(&fields)
        .send()
        .await
        .expect("decision");
    assert_eq!(resp.status().as_u16(), 303);
    let back = resp.headers()["location"].to_str().expect("location");
    let page = web.get(back).send().await.expect("return to Guichet");
    assert!(page.status().is_success(), "{back}: {}", page.status());
}

/// The Sips hosted page: the buyer's card typed at the provider, then the provider's form
/// back to Guichet.
async fn sips_page(action: &Value, sim: &str, flow: &Flow) {
    let web = browser();
    let url = action["url"].as_str().expect("url");
    let fields: Vec<(String, String)> = action["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let page = web
        .post(url)
        .form(&fields)
        .send()
        .await
        .expect("paypage")
        .text()
        .await
        .expect("page");
    let (action, mut fields) = form_of(&page, sim);
    fields.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "cardNumber" | "cardExpiryDate" | "cardCSCValue" | "holderName" | "cancel"
        )
    });
    for (k, v) in [
        ("cardNumber", flow.number.as_str()),
        ("cardExpiryDate", "203012"),
        ("cardCSCValue", flow.cvv),
        ("holderName", "Anne Licatese"),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let result = web
        .post(&action)
        .form(&fields)
        .send()
        .await
        .expect("card")
        .text()
        .await
        .expect("page");
    let (back, fields) = form_of(&result, sim);
    let page = web
        .post(&back)
        .form(&fields)
        .send()
        .await
        .expect("back to Guichet");
    assert!(page.status().is_success(), "{back}: {}", page.status());
}

/// Runs one flow through the proxy; returns the order's id.
async fn run_flow(
    client: &reqwest::Client,
    base: &str,
    sim: &str,
    info: &Value,
    flow: &Flow,
) -> String {
    let (id, token) = new_order_at(client, base, info, flow.point_of_sale, flow.event).await;
    let body = if flow.point_of_sale == "mobile" {
        json!({"means": "card", "accept_terms": true})
    } else {
        // The buyer types the card into the provider's form, which sends the browser back to
        // Guichet's card-return page (a request the recorder sees).
        let location = card_redirect(client, base, &token, &flow.number, flow.cvv).await;
        let page = browser()
            .get(&location)
            .send()
            .await
            .expect("card-return page");
        assert!(page.status().is_success(), "{location}: {}", page.status());
        let alias = location.split_once('?').expect("query").1.to_owned();
        pay_body(&alias)
    };
    let (status, out) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/checkout/{token}/pay"),
        None,
        body,
    )
    .await;
    assert_eq!(status, 200, "{}: {out:#}", flow.name);
    if out["status"] == "requires_action" {
        match out["action"]["type"].as_str() {
            Some("html") => three_ds(str_field(&out, "/action/html"), sim, flow.approve).await,
            Some("form_post") => sips_page(&out["action"], sim, flow).await,
            other => panic!("{}: unknown action {other:?}", flow.name),
        }
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_card_number_or_cvv_reaches_guichet_its_logs_or_its_database() {
    use guichet_psp_sim::test_cards::{
        AMEX_OK, AUTHENTICATION_FAILED, DECLINED, INSUFFICIENT_FUNDS, LOST_REPLY, MASTERCARD_3DS,
        VISA_3DS, VISA_FRICTIONLESS,
    };
    let dir = TempDir::new("canary");
    let info = seed_demo(&dir).await;
    let client = http();
    let sim = str_field(&info, "/psp_sim_url").to_owned();
    let _sim = start_simulator(&dir, &info);

    let listen = format!("127.0.0.1:{}", free_port());
    let proxy = recording_proxy(listen.clone()).await;
    let _serve = start_serve_on(
        &dir,
        &client,
        &listen,
        Some(&proxy.url),
        // Ten flows of one buyer from one address: the card attempt limits stay out of the way.
        &[
            ("GUICHET_LOG", "debug"),
            ("GUICHET_CARD_ATTEMPTS_PER_CONTACT", "100"),
        ],
        "serve",
    )
    .await;
    // The provider's post-sale feedback goes to Guichet's public URL, i.e. the proxy.
    let (status, _) = send(
        &client,
        reqwest::Method::POST,
        format!("{sim}/__sim/feedback-url"),
        None,
        json!({"pspid": "GUICHETTEST", "url": format!("{}/psp/ogone/feedback", proxy.url)}),
    )
    .await;
    assert_eq!(status, 200);
    let base = proxy.url.clone();

    let flow = |name, number: &str, cvv, point_of_sale, event, approve, expect| Flow {
        name,
        number: number.to_owned(),
        cvv,
        point_of_sale,
        event,
        approve,
        expect,
    };
    let flows = [
        flow(
            "success",
            &unique_visa(),
            "917",
            "internet",
            2,
            true,
            "paid",
        ),
        flow(
            "declined",
            DECLINED,
            "828",
            "internet",
            2,
            true,
            "awaiting_payment",
        ),
        flow(
            "insufficient funds",
            INSUFFICIENT_FUNDS,
            "736",
            "internet",
            2,
            true,
            "awaiting_payment",
        ),
        flow(
            "3-D Secure approved",
            VISA_3DS,
            "645",
            "internet",
            0,
            true,
            "paid",
        ),
        flow(
            "3-D Secure refused",
            MASTERCARD_3DS,
            "554",
            "internet",
            0,
            false,
            "awaiting_payment",
        ),
        flow(
            "frictionless",
            VISA_FRICTIONLESS,
            "463",
            "internet",
            0,
            true,
            "paid",
        ),
        flow(
            "authentication failed",
            AUTHENTICATION_FAILED,
            "372",
            "internet",
            0,
            true,
            "awaiting_payment",
        ),
        flow(
            "American Express",
            AMEX_OK,
            "2819",
            "internet",
            2,
            true,
            "paid",
        ),
        flow(
            "lost reply, recovered",
            LOST_REPLY,
            "191",
            "internet",
            2,
            true,
            "paid",
        ),
        flow("Sips", &unique_visa(), "608", "mobile", 2, true, "paid"),
    ];
    let mut orders = Vec::new();
    for f in &flows {
        orders.push(run_flow(&client, &base, &sim, &info, f).await);
    }
    assert_eq!(
        recover(&dir, "jobs").await,
        1,
        "the lost reply is recovered"
    );
    for (f, id) in flows.iter().zip(&orders) {
        let order = order_of(&client, &base, &info, id).await;
        assert_eq!(order["status"], f.expect, "{}: {order:#}", f.name);
    }
    // Refunds: to the card on both providers, to the credit balance.
    for (order, body) in [
        (
            &orders[0],
            json!({"amount_minor": 500, "destination": "card"}),
        ),
        (
            &orders[0],
            json!({"amount_minor": 300, "destination": "credit_balance"}),
        ),
        (
            &orders[9],
            json!({"amount_minor": 700, "destination": "card"}),
        ),
    ] {
        let (status, out) = send(
            &client,
            reqwest::Method::POST,
            format!("{base}/api/v1/orders/{order}/refunds"),
            Some(str_field(&info, "/shop_api_key")),
            body,
        )
        .await;
        assert!(status == 201 || status == 202, "{out:#}");
    }
    // Let the provider's notifications and the server's logs land.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // What Guichet's server received, what it logged, what its database holds.
    let requests = proxy.bytes.lock().expect("record").clone();
    let mut logs = Vec::new();
    let mut database = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("guichet.db") {
            database.extend(std::fs::read(&path).expect("database file"));
        } else if (name.ends_with(".stdout") || name.ends_with(".stderr"))
            && !name.starts_with("psp-sim")
        {
            logs.extend(std::fs::read(&path).expect("log file"));
        }
    }

    // Positive controls: each source holds what it should, so the scans below read real data.
    let visa = &flows[0].number;
    let last4 = &visa[visa.len() - 4..];
    assert!(
        occurs(&requests, b"POST /api/v1/checkout/") && occurs(&requests, b"/card-return?"),
        "the recorder saw the buyer's requests"
    );
    assert!(
        occurs(&requests, b"POST /psp/ogone/3ds-return")
            || occurs(&requests, b"/psp/ogone/3ds-return?"),
        "the recorder saw the 3-D Secure returns"
    );
    assert!(
        occurs(&requests, b"POST /psp/sips/"),
        "the recorder saw Sips' responses"
    );
    assert!(
        occurs(&database, format!("XXXXXXXXXXXX{last4}").as_bytes()),
        "the database holds the masked card"
    );
    assert!(
        occurs(&logs, b"card payment sent to the provider"),
        "the logs hold the payments"
    );

    let sources: [(&str, &[u8]); 3] = [
        ("requests to Guichet", &requests),
        ("Guichet's logs", &logs),
        ("Guichet's database files", &database),
    ];
    let mut findings = Vec::new();
    for f in &flows {
        for (source, bytes) in &sources {
            for needle in [f.number.clone(), spaced(&f.number)] {
                if occurs(bytes, needle.as_bytes()) {
                    findings.push(format!("{}: card number {needle} in {source}", f.name));
                }
            }
            if occurs_as_token(bytes, f.cvv.as_bytes()) {
                findings.push(format!("{}: CVV {} in {source}", f.name, f.cvv));
            }
        }
    }
    // Nor any card field with digits in it (the masked `CARDNO=XXXXXXXXXXXX1111` of the
    // provider's signed return is expected).
    for field in [
        "CARDNO=",
        "CVC=",
        "cardNumber=",
        "cardCSCValue=",
        "\"cvv\":\"",
        "\"cvc\":\"",
    ] {
        if field_with_digits(&requests, field.as_bytes()) {
            findings.push(format!("a {field} field in the requests to Guichet"));
        }
    }
    assert!(findings.is_empty(), "{findings:#?}");
    println!(
        "FIGURE canary: {} flows, {} card numbers and {} CVVs; scanned {} bytes of requests, {} of logs, {} of database: 0 found",
        flows.len(),
        flows.len(),
        flows.len(),
        requests.len(),
        logs.len(),
        database.len()
    );
}

/// The scanners find what they must and skip what is not a card field.
#[test]
fn scanners_tell_a_cvv_from_noise() {
    assert!(occurs_as_token(b"a=1&CVC=917&b", b"917"));
    assert!(occurs_as_token(b"{\"cvc\":\"917\"}", b"917"));
    assert!(occurs_as_token(b"917", b"917"));
    assert!(!occurs_as_token(b"elapsed=51.917\xc2\xb5s", b"917"));
    assert!(!occurs_as_token(b"ref=A917B", b"917"));
    assert!(!occurs_as_token(b"amount=19170", b"917"));
    assert!(field_with_digits(b"x&CARDNO=4111111111111111", b"CARDNO="));
    assert!(!field_with_digits(b"x&CARDNO=XXXXXXXXXXXX1111", b"CARDNO="));
    assert!(!field_with_digits(b"NCERRORCVC=0", b"CVC="));
    assert!(field_with_digits(b"?CVC=123", b"CVC="));
    assert_eq!(spaced("4111111111111111"), "4111 1111 1111 1111");
    let n = unique_visa();
    assert_eq!(n.len(), 16);
    let sum: u32 = n
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    assert_eq!(sum % 10, 0, "{n} passes Luhn");
}

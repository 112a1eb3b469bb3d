//! Faults: fault cards, queued faults of every kind, latency, feedback modes, reset.

use std::time::{Duration, Instant};

use guichet_psp::sips::seal::verify_json_seal;
use serde_json::{Value, json};

use crate::common::*;

fn order_form(order_id: &str, alias: &str) -> Form {
    sign_in(&[
        ("PSPID", PSPID),
        ("USERID", USERID),
        ("PSWD", PSWD),
        ("ORDERID", order_id),
        ("AMOUNT", "1500"),
        ("CURRENCY", "EUR"),
        ("ALIAS", alias),
        ("OPERATION", "SAL"),
    ])
}

/// orderdirect with a short client timeout: `Err` when no complete reply came.
async fn try_order(
    h: &Harness,
    order_id: &str,
    alias: &str,
) -> Result<(u16, String), reqwest::Error> {
    let response = h
        .client
        .post(h.ogone("orderdirect.asp"))
        .form(&order_form(order_id, alias))
        .timeout(Duration::from_millis(500))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

async fn status_of(h: &Harness, reference: &str) -> Option<Value> {
    h.transactions()
        .await
        .into_iter()
        .find(|t| t["reference"] == reference)
}

#[tokio::test]
async fn fault_cards() {
    let h = start().await;
    // Timeout: recorded and captured, the reply does not come in time.
    let alias = h.alias("4000000000004087", "123").await;
    let started = Instant::now();
    assert!(try_order(&h, "f-timeout", &alias).await.is_err());
    assert!(started.elapsed() < Duration::from_millis(1400));
    let tx = status_of(&h, "f-timeout").await.unwrap();
    assert_eq!(
        (tx["status"].as_str(), tx["captured_minor"].as_u64()),
        (Some("9"), Some(1500))
    );
    assert_eq!(h.query(&[("ORDERID", "f-timeout")]).await.status, 9);

    // Lost reply after capture.
    let alias = h.alias("4000000000005027", "123").await;
    assert!(try_order(&h, "f-lost", &alias).await.is_err());
    assert_eq!(status_of(&h, "f-lost").await.unwrap()["status"], "9");

    // HTTP 500 before anything is recorded.
    let alias = h.alias("4000000000005001", "123").await;
    let (status, _) = try_order(&h, "f-500", &alias).await.unwrap();
    assert_eq!(status, 500);
    assert!(status_of(&h, "f-500").await.is_none());
    assert_eq!(
        h.query(&[("ORDERID", "f-500")]).await.nc_error.as_deref(),
        Some("50001130")
    );

    // Malformed: truncated XML, capture recorded.
    let alias = h.alias("4000000000004228", "123").await;
    let (status, xml) = try_order(&h, "f-malformed", &alias).await.unwrap();
    assert_eq!(status, 200);
    assert!(parse_nc(&xml).is_err(), "{xml}");
    assert_eq!(status_of(&h, "f-malformed").await.unwrap()["status"], "9");
}

#[tokio::test]
async fn queued_faults_of_each_kind_on_directlink() {
    let h = start().await;
    let alias = h.alias("4111111111111111", "123").await;

    h.fault(json!({"path": "orderdirect", "kind": "http500", "count": 2}))
        .await;
    for _ in 0..2 {
        assert_eq!(try_order(&h, "q-500", &alias).await.unwrap().0, 500);
    }
    assert!(status_of(&h, "q-500").await.is_none());
    let (status, xml) = try_order(&h, "q-500", &alias).await.unwrap();
    assert_eq!((status, parse_nc(&xml).unwrap().status), (200, 9));

    h.fault(json!({"path": "orderdirect", "kind": "timeout"}))
        .await;
    assert!(try_order(&h, "q-timeout", &alias).await.is_err());
    assert_eq!(status_of(&h, "q-timeout").await.unwrap()["status"], "9");

    h.fault(json!({"path": "orderdirect", "kind": "lost_reply_after_commit"}))
        .await;
    assert!(try_order(&h, "q-lost", &alias).await.is_err());
    assert_eq!(
        status_of(&h, "q-lost").await.unwrap()["captured_minor"],
        1500
    );

    h.fault(json!({"path": "querydirect_utf8.asp", "kind": "malformed"}))
        .await;
    let xml = h
        .client
        .post(h.ogone("querydirect.asp"))
        .form(&sign_in(&[
            ("PSPID", PSPID),
            ("USERID", USERID),
            ("PSWD", PSWD),
            ("ORDERID", "q-lost"),
        ]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(parse_nc(&xml).is_err(), "{xml}");

    // A refund whose reply is lost is still recorded.
    let payid = h.query(&[("ORDERID", "q-lost")]).await.pay_id.unwrap();
    h.fault(json!({"path": "maintenancedirect", "kind": "lost_reply_after_commit"}))
        .await;
    let lost = h
        .client
        .post(h.ogone("maintenancedirect.asp"))
        .form(&sign_in(&[
            ("PSPID", PSPID),
            ("USERID", USERID),
            ("PSWD", PSWD),
            ("PAYID", &payid),
            ("OPERATION", "RFD"),
            ("AMOUNT", "500"),
        ]))
        .send()
        .await;
    let failed = match lost {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(failed, "the reply must be lost");
    let line = h.query(&[("PAYID", &payid), ("PAYIDSUB", "1")]).await;
    assert_eq!((line.status, line.amount.as_deref()), (8, Some("5")));

    h.fault(json!({"path": "querydirect", "kind": "latency", "latency_ms": 300}))
        .await;
    let started = Instant::now();
    h.query(&[("ORDERID", "q-lost")]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    h.query(&[("ORDERID", "q-lost")]).await;
    assert!(started.elapsed() < Duration::from_millis(300), "used once");

    // Global latency on server-to-server calls.
    assert_eq!(h.admin("latency", json!({"ms": 200})).await.status(), 200);
    let started = Instant::now();
    h.query(&[("ORDERID", "q-lost")]).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    h.admin("latency", json!({"ms": 0})).await;

    // Nothing is left queued.
    let faults: Value = h
        .client
        .get(format!("{}/__sim/faults", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["faults"], json!([]));
}

#[tokio::test]
async fn bad_signature_faults() {
    let h = start().await;
    h.fault(json!({"path": "alias_gateway", "kind": "bad_signature"}))
        .await;
    let response = h
        .alias_gateway(
            &[
                ("PSPID", PSPID),
                ("ACCEPTURL", "http://shop.test/a"),
                ("EXCEPTIONURL", "http://shop.test/e"),
            ],
            &[
                ("CN", "A"),
                ("CARDNO", "4111111111111111"),
                ("ED", "1239"),
                ("CVC", "123"),
            ],
        )
        .await;
    let params = query_of(&location(&response));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("0"));
    assert!(!sha_out_ok(&params), "signed with a wrong key");
    // Only once.
    h.alias("4111111111111111", "123").await;

    // 3-D Secure result: redirect and feedback both badly signed.
    let alias = h.alias("4000000000000002", "123").await;
    h.fault(json!({"path": "acs", "kind": "bad_signature"}))
        .await;
    let mut form = order_form("b-3ds", &alias);
    form.pop();
    form.push(("FLAG3D".into(), "Y".into()));
    form.push(("ACCEPTURL".into(), "http://shop.test/a".into()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sign = guichet_psp::ogone::signature::sha_in(&refs, PASSPHRASE, ALG);
    form.push(("SHASIGN".into(), sign));
    let xml = h
        .client
        .post(h.ogone("orderdirect.asp"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = parse_nc(&xml).unwrap().html_answer.unwrap();
    let (action, mut fields) = form_of(&html);
    fields.push(("answer".into(), "approve".into()));
    let response = h.client.post(&action).form(&fields).send().await.unwrap();
    let params = query_of(&location(&response));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("9"));
    assert!(!sha_out_ok(&params));
    let feedback = h.inbox.wait("feedback", 1, Duration::from_secs(5)).await;
    assert!(!sha_out_ok(&feedback[0]));

    // Sips JSON answer.
    h.fault(json!({"path": "getTransactionData", "kind": "bad_signature"}))
        .await;
    let answer = h
        .sips(
            "diagnostic/getTransactionData",
            json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "x"}),
        )
        .await;
    assert_eq!(answer["responseCode"], "25");
    assert!(!verify_json_seal(&answer, SIPS_KEY));

    // Refused where nothing is signed.
    let response = h
        .admin(
            "faults",
            json!({"path": "orderdirect", "kind": "bad_signature"}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = h
        .admin("faults", json!({"path": "nowhere", "kind": "timeout"}))
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn sips_faults_and_fault_cards() {
    let h = start().await;
    let body = json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "x"});
    let sealed = |mut b: Value| {
        b["keyVersion"] = json!(1);
        b["seal"] = json!(guichet_psp::sips::seal::json_seal(&b, SIPS_KEY).unwrap());
        b
    };
    let url = format!("{}/rs-services/v2/diagnostic/getTransactionData", h.base);

    h.fault(json!({"path": "getTransactionData", "kind": "http500"}))
        .await;
    let r = h
        .client
        .post(&url)
        .json(&sealed(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);

    h.fault(json!({"path": "getTransactionData", "kind": "malformed"}))
        .await;
    let text = h
        .client
        .post(&url)
        .json(&sealed(body.clone()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    h.fault(json!({"path": "getTransactionData", "kind": "timeout"}))
        .await;
    let r = h
        .client
        .post(&url)
        .json(&sealed(body.clone()))
        .timeout(Duration::from_millis(400))
        .send()
        .await;
    assert!(r.is_err());

    // paymentInit whose reply is lost: the transaction exists (PENDING).
    h.fault(json!({"path": "paymentInit", "kind": "lost_reply_after_commit"}))
        .await;
    let init = sealed(json!({
        "amount": 100, "currencyCode": "978", "interfaceVersion": "IR_WS_2.35",
        "merchantId": MERCHANT, "normalReturnUrl": "http://shop.test/r",
        "transactionReference": "sf-lost", "orderChannel": "INTERNET",
    }));
    let r = h
        .client
        .post(format!("{}/rs-services/v2/paymentInit", h.base))
        .json(&init)
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(failed);
    let tx = h.transactions().await;
    assert_eq!(tx[0]["reference"], "sf-lost");
    assert_eq!(tx[0]["status"], "PENDING");

    // Sips fault cards: the lost-reply card is captured, nobody hears of it.
    let auto = format!("{}/auto", h.receiver);
    let init = h
        .sips(
            "paymentInit",
            json!({
                "amount": 100, "currencyCode": "978", "interfaceVersion": "IR_WS_2.35",
                "merchantId": MERCHANT, "normalReturnUrl": "http://shop.test/r",
                "automaticResponseUrl": auto, "transactionReference": "sf-card",
            }),
        )
        .await;
    let token = init["redirectionData"].as_str().unwrap().to_owned();
    let pay = |number: &'static str| {
        let client = h.client.clone();
        let url = format!("{}/paymentprovider/pay", h.base);
        let token = token.clone();
        async move {
            client
                .post(url)
                .form(&[
                    ("redirectionData", token.as_str()),
                    ("cardNumber", number),
                    ("cardExpiryDate", "203912"),
                    ("cardCSCValue", "123"),
                    ("holderName", "A"),
                ])
                .send()
                .await
        }
    };
    // HTTP 500 card: nothing recorded, the form can be posted again.
    assert_eq!(pay("4000000000005001").await.unwrap().status(), 500);
    let lost = pay("4000000000005027").await;
    let failed = match lost {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(failed);
    let tx = h.transactions().await;
    assert_eq!(tx[1]["status"], "CAPTURED");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.inbox.all("auto").is_empty(),
        "no automatic response either"
    );
}

#[tokio::test]
async fn feedback_modes_and_reset() {
    let h = start().await;
    let challenge = h.alias("4000000000000002", "123").await;
    let approve = |order_id: &'static str| {
        let h = &h;
        let alias = challenge.clone();
        async move {
            let mut form = order_form(order_id, &alias);
            form.pop();
            form.push(("FLAG3D".into(), "Y".into()));
            let refs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let sign = guichet_psp::ogone::signature::sha_in(&refs, PASSPHRASE, ALG);
            form.push(("SHASIGN".into(), sign));
            let xml = h
                .client
                .post(h.ogone("orderdirect.asp"))
                .form(&form)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let html = parse_nc(&xml).unwrap().html_answer.unwrap();
            let (action, mut fields) = form_of(&html);
            fields.push(("answer".into(), "approve".into()));
            let response = h.client.post(&action).form(&fields).send().await.unwrap();
            // No ACCEPTURL: a result page.
            assert_eq!(response.status(), 200);
        }
    };

    assert_eq!(
        h.admin("feedback-mode", json!({"mode": "duplicate"}))
            .await
            .status(),
        200
    );
    approve("m-dup").await;
    let got = h.inbox.wait("feedback", 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], got[1]);

    h.admin("feedback-mode", json!({"mode": "off"})).await;
    approve("m-off").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.inbox.all("feedback").len(), 2);

    h.admin("feedback-mode", json!({"mode": "late", "late_ms": 400}))
        .await;
    let started = Instant::now();
    approve("m-late").await;
    let got = h.inbox.wait("feedback", 3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(value(&got[2], "orderID").as_deref(), Some("m-late"));

    let bad = h.admin("feedback-mode", json!({"mode": "sometimes"})).await;
    assert_eq!(bad.status(), 400);

    assert_eq!(h.admin("reset", json!({})).await.status(), 200);
    assert!(h.transactions().await.is_empty());
    let q = h.query(&[("ORDERID", "m-dup")]).await;
    assert_eq!(q.nc_error.as_deref(), Some("50001130"));
    let unknown = h.pay("m-after", &challenge, &[]).await;
    assert_eq!(
        unknown.nc_error.as_deref(),
        Some("50001130"),
        "aliases are gone too"
    );
}

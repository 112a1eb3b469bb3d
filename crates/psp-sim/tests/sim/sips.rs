//! Sips 2.0: paymentInit, the Paypage (card form, ACS, sealed return, automatic response) and
//! Office.

use std::time::Duration;

use guichet_psp::sips::seal::{SealAlgorithm, verify_json_seal, verify_seal};
use serde_json::{Value, json};

use crate::common::*;

fn init_request(reference: &str, auto: &str, extra: Value) -> Value {
    let mut body = json!({
        "amount": 2500,
        "automaticResponseUrl": auto,
        "captureDay": 0,
        "captureMode": "AUTHOR_CAPTURE",
        "currencyCode": "978",
        "interfaceVersion": "IR_WS_2.35",
        "merchantId": MERCHANT,
        "normalReturnUrl": "http://shop.test/sips/return",
        "orderChannel": "INTERNET",
        "transactionReference": reference,
        "fraudData": {"challengeMode3DS": "NO_CHALLENGE_REQUESTED"},
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    body
}

/// paymentInit, then the browser's POST to redirectionUrl: returns the card form page.
async fn open_paypage(h: &Harness, reference: &str, extra: Value) -> String {
    let auto = format!("{}/auto", h.receiver);
    let init = h
        .sips("paymentInit", init_request(reference, &auto, extra))
        .await;
    assert!(verify_json_seal(&init, SIPS_KEY), "{init}");
    assert_eq!(init["redirectionStatusCode"], "00", "{init}");
    let url = init["redirectionUrl"].as_str().unwrap();
    assert_eq!(url, format!("{}/paymentprovider/init", h.base));
    let page = h
        .client
        .post(url)
        .form(&[
            (
                "redirectionVersion",
                init["redirectionVersion"].as_str().unwrap(),
            ),
            ("redirectionData", init["redirectionData"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// Fills the card form and submits it; returns the next page.
async fn submit_card(h: &Harness, form_page: &str, card: &[(&str, &str)]) -> (u16, String) {
    let (action, mut fields) = form_of(form_page);
    assert_eq!(action, format!("{}/paymentprovider/pay", h.base));
    fields.extend(owned(card));
    let response = h.client.post(&action).form(&fields).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn card(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("cardNumber", number),
        ("cardExpiryDate", "203912"),
        ("cardCSCValue", "123"),
        ("holderName", "Anne Licatese"),
    ]
}

/// The `key=value|…` Data as pairs.
fn data_of(data: &str) -> Vec<(String, String)> {
    data.split('|')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn data_value(data: &str, name: &str) -> Option<String> {
    value(&data_of(data), name)
}

/// Checks the return form page: posts to normalReturnUrl with a verified seal; returns Data.
fn check_return(page: &str, alg: SealAlgorithm) -> String {
    let (action, fields) = form_of(page);
    assert_eq!(action, "http://shop.test/sips/return");
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["Data", "Seal", "InterfaceVersion", "Encode"]);
    let data = value(&fields, "Data").unwrap();
    let seal = value(&fields, "Seal").unwrap();
    assert!(verify_seal(&data, SIPS_KEY, alg, &seal), "{data}");
    assert_eq!(
        value(&fields, "InterfaceVersion").as_deref(),
        Some("HP_2.35")
    );
    assert_eq!(value(&fields, "Encode").as_deref(), Some(""));
    data
}

#[tokio::test]
async fn paypage_payment_returns_a_sealed_result_and_an_automatic_response() {
    let h = start().await;
    let form = open_paypage(&h, "s-ok", json!({})).await;
    assert!(form.contains("name=\"cardNumber\"") && form.contains("25.00 EUR"));
    let (status, page) = submit_card(&h, &form, &card("4111111111111111")).await;
    assert_eq!(status, 200);
    assert!(!page.contains("4111111111111111"));
    let data = check_return(&page, SealAlgorithm::Sha256);
    for (name, expect) in [
        ("responseCode", "00"),
        ("acquirerResponseCode", "00"),
        ("amount", "2500"),
        ("currencyCode", "978"),
        ("merchantId", MERCHANT),
        ("transactionReference", "s-ok"),
        ("maskedPan", "411111######1111"),
        ("panExpiryDate", "203912"),
        ("paymentMeanBrand", "VISA"),
        ("keyVersion", "1"),
        ("captureMode", "AUTHOR_CAPTURE"),
        ("captureDay", "0"),
        ("orderChannel", "INTERNET"),
    ] {
        assert_eq!(
            data_value(&data, name).as_deref(),
            Some(expect),
            "{name} in {data}"
        );
    }
    assert_eq!(data_value(&data, "authorisationId").unwrap().len(), 6);

    let auto = h.inbox.wait("auto", 1, Duration::from_secs(5)).await;
    assert_eq!(auto.len(), 1);
    assert_eq!(value(&auto[0], "Data").as_deref(), Some(data.as_str()));
    let seal = value(&auto[0], "Seal").unwrap();
    assert!(verify_seal(&data, SIPS_KEY, SealAlgorithm::Sha256, &seal));

    let status = h
        .sips(
            "diagnostic/getTransactionData",
            json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "s-ok"}),
        )
        .await;
    assert!(verify_json_seal(&status, SIPS_KEY));
    assert_eq!(status["responseCode"], "00");
    assert_eq!(status["transactionStatus"], "CAPTURED");
    assert_eq!(status["amount"], 2500);
    assert_eq!(status["currentAmount"], 2500);
    assert_eq!(status["maskedPan"], "411111######1111");

    // The session is over: the form cannot be posted twice.
    let (status, _) = submit_card(&h, &form, &card("4111111111111111")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn paypage_init_refuses_bad_seals_and_reused_references() {
    let h = start().await;
    let auto = format!("{}/auto", h.receiver);
    let mut body = init_request("s-seal", &auto, json!({}));
    body["keyVersion"] = json!(1);
    body["seal"] = json!("00".repeat(32));
    let raw = h.sips_raw("paymentInit", body).await;
    let answer: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(answer["redirectionStatusCode"], "34");
    assert!(verify_json_seal(&answer, SIPS_KEY));

    let first = h
        .sips("paymentInit", init_request("s-dup", &auto, json!({})))
        .await;
    assert_eq!(first["redirectionStatusCode"], "00");
    let again = h
        .sips("paymentInit", init_request("s-dup", &auto, json!({})))
        .await;
    assert_eq!(again["redirectionStatusCode"], "94");
    assert!(verify_json_seal(&again, SIPS_KEY));

    let pending = h
        .sips(
            "diagnostic/getTransactionData",
            json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "s-dup"}),
        )
        .await;
    assert_eq!(pending["transactionStatus"], "PENDING");
    let unknown = h
        .sips(
            "diagnostic/getTransactionData",
            json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "nope"}),
        )
        .await;
    assert_eq!(unknown["responseCode"], "25");
}

#[tokio::test]
async fn paypage_challenge_decline_cancel_and_card_errors() {
    let h = start().await;
    // CHALLENGE_MANDATED with an ordinary card: the ACS page first; HMAC seal asked for.
    let form = open_paypage(
        &h,
        "s-3ds",
        json!({"fraudData": {"challengeMode3DS": "CHALLENGE_MANDATED"}, "sealAlgorithm": "HMAC-SHA-256"}),
    )
    .await;
    let (status, acs) = submit_card(&h, &form, &card("4111111111111111")).await;
    assert_eq!(status, 200);
    assert!(
        acs.contains(">Approve<") && acs.contains("411111######1111"),
        "{acs}"
    );
    let (action, mut fields) = form_of(&acs);
    assert_eq!(action, format!("{}/paymentprovider/acs", h.base));
    fields.push(("decision".into(), "approve".into()));
    let page = h
        .client
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = check_return(&page, SealAlgorithm::HmacSha256);
    assert_eq!(data_value(&data, "responseCode").as_deref(), Some("00"));
    assert_eq!(
        data_value(&data, "holderAuthentStatus").as_deref(),
        Some("SUCCESS")
    );

    // A challenge card, refused at the ACS.
    let form = open_paypage(&h, "s-3ds-ko", json!({})).await;
    let (_, acs) = submit_card(&h, &form, &card("4000000000000002")).await;
    let (action, mut fields) = form_of(&acs);
    fields.push(("decision".into(), "refuse".into()));
    let page = h
        .client
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = check_return(&page, SealAlgorithm::Sha256);
    assert_eq!(data_value(&data, "responseCode").as_deref(), Some("05"));
    assert_eq!(
        data_value(&data, "holderAuthentStatus").as_deref(),
        Some("FAILURE")
    );

    // Declines.
    for (reference, number, code) in [
        ("s-05", "4000000000000051", "05"),
        ("s-51", "4000000000000515", "51"),
    ] {
        let form = open_paypage(&h, reference, json!({})).await;
        let (_, page) = submit_card(&h, &form, &card(number)).await;
        let data = check_return(&page, SealAlgorithm::Sha256);
        assert_eq!(data_value(&data, "responseCode").as_deref(), Some(code));
    }

    // Card errors show the form again; "Cancel" ends with 17.
    let form = open_paypage(&h, "s-17", json!({})).await;
    let (status, again) = submit_card(&h, &form, &card("4111111111111112")).await;
    assert_eq!(status, 200);
    assert!(again.contains("class=\"error\"") && again.contains("name=\"cardNumber\""));
    assert!(!again.contains("4111111111111112"));
    let (_, page) = submit_card(&h, &again, &[("cancel", "1")]).await;
    let data = check_return(&page, SealAlgorithm::Sha256);
    assert_eq!(data_value(&data, "responseCode").as_deref(), Some("17"));
    assert_eq!(data_value(&data, "maskedPan"), None);

    // Three wrong entries: 75.
    let mut page = open_paypage(&h, "s-75", json!({})).await;
    for _ in 0..3 {
        page = submit_card(&h, &page, &card("5399999999999998")).await.1;
    }
    let data = check_return(&page, SealAlgorithm::Sha256);
    assert_eq!(data_value(&data, "responseCode").as_deref(), Some("75"));

    let auto = h.inbox.wait("auto", 6, Duration::from_secs(5)).await;
    assert_eq!(auto.len(), 6);
    let list = h.transactions().await;
    let statuses: Vec<&str> = list.iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "CAPTURED",
            "REFUSED",
            "REFUSED",
            "REFUSED",
            "CANCELLED",
            "REFUSED"
        ]
    );
    assert_eq!(list[0]["challenge"], "approved");
    assert_eq!(list[1]["challenge"], "refused");
}

#[tokio::test]
async fn office_refund_cancel_and_status() {
    let h = start().await;
    let form = open_paypage(&h, "s-office", json!({})).await;
    submit_card(&h, &form, &card("5399999999999999")).await;
    let refund = |amount: u64, reference: &str| {
        json!({
            "currencyCode": "978",
            "interfaceVersion": "CR_WS_2.3",
            "merchantId": MERCHANT,
            "operationAmount": amount,
            "operationOrigin": "guichet",
            "transactionReference": reference,
        })
    };
    let partial = h
        .sips("cashManagement/refund", refund(1000, "s-office"))
        .await;
    assert!(verify_json_seal(&partial, SIPS_KEY));
    assert_eq!(partial["responseCode"], "00");
    assert_eq!(partial["newAmount"], 1500);
    assert!(partial["operationDateTime"].is_string());

    let overflow = h
        .sips("cashManagement/refund", refund(1501, "s-office"))
        .await;
    assert_eq!(overflow["responseCode"], "51");
    let unknown = h.sips("cashManagement/refund", refund(1, "nope")).await;
    assert_eq!(unknown["responseCode"], "25");

    let status = h
        .sips(
            "diagnostic/getTransactionData",
            json!({"interfaceVersion": "DR_WS_2.23", "merchantId": MERCHANT, "transactionReference": "s-office"}),
        )
        .await;
    assert_eq!(status["currentAmount"], 1500);
    assert_eq!(status["amount"], 2500);

    let rest = h
        .sips("cashManagement/refund", refund(1500, "s-office"))
        .await;
    assert_eq!(
        (rest["responseCode"].as_str(), rest["newAmount"].as_u64()),
        (Some("00"), Some(0))
    );

    // Cancel of a second payment, in full.
    let form = open_paypage(&h, "s-cancel", json!({})).await;
    submit_card(&h, &form, &card("4111111111111111")).await;
    let cancel = h
        .sips("cashManagement/cancel", refund(2500, "s-cancel"))
        .await;
    assert_eq!(cancel["responseCode"], "00");
    assert_eq!(cancel["newStatus"], "CANCELLED");
    let again = h.sips("cashManagement/cancel", refund(1, "s-cancel")).await;
    assert_eq!(again["responseCode"], "24");

    // A bad seal on Office.
    let mut body = refund(1, "s-office");
    body["keyVersion"] = json!(1);
    body["seal"] = json!("bad");
    let raw = h.sips_raw("cashManagement/refund", body).await;
    let answer: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(answer["responseCode"], "34");

    let list = h.transactions().await;
    assert_eq!(list[0]["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(list[1]["status"], "CANCELLED");
}

//! Ogone: Alias Gateway, orderdirect, 3-D Secure, querydirect, maintenancedirect.

use std::time::Duration;

use crate::common::*;

const ACCEPT: &str = "http://shop.test/accept";
const EXCEPTION: &str = "http://shop.test/exception";

fn gateway_fields<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("PSPID", PSPID),
        ("ORDERID", "order-1"),
        ("ACCEPTURL", ACCEPT),
        ("EXCEPTIONURL", EXCEPTION),
        ("ALIASPERSISTEDAFTERUSE", "Y"),
        ("LANGUAGE", "fr_FR"),
        ("PARAMPLUS", "leg=42&x=y"),
    ];
    fields.extend_from_slice(extra);
    fields
}

#[tokio::test]
async fn alias_gateway_accepts_a_good_card_and_signs_the_redirect() {
    let h = start().await;
    let response = h
        .alias_gateway(
            &gateway_fields(&[]),
            &[
                ("CN", "Karin Deu"),
                ("CARDNO", "4111 1111 1111 1111"),
                ("ED", "1239"),
                ("CVC", "123"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = location(&response);
    assert!(location.starts_with(&format!("{ACCEPT}?")), "{location}");
    assert!(!location.contains("4111111111111111"));
    let params = query_of(&location);
    assert!(value(&params, "CVC").is_none());
    assert!(sha_out_ok(&params), "{params:?}");
    assert_eq!(value(&params, "STATUS").as_deref(), Some("0"));
    assert_eq!(value(&params, "NCERROR").as_deref(), Some("0"));
    assert_eq!(
        value(&params, "CARDNO").as_deref(),
        Some("XXXXXXXXXXXX1111")
    );
    assert_eq!(value(&params, "BRAND").as_deref(), Some("VISA"));
    assert_eq!(value(&params, "ED").as_deref(), Some("1239"));
    assert_eq!(value(&params, "CN").as_deref(), Some("Karin Deu"));
    assert_eq!(value(&params, "ORDERID").as_deref(), Some("order-1"));
    assert_eq!(
        value(&params, "leg").as_deref(),
        Some("42"),
        "PARAMPLUS pairs"
    );
    for name in ["NCERRORCARDNO", "NCERRORCN", "NCERRORCVC", "NCERRORED"] {
        assert_eq!(value(&params, name).as_deref(), Some("0"), "{name}");
    }
    let alias = value(&params, "ALIAS").unwrap();
    assert!(!alias.is_empty());

    // The alias is listed, masked.
    let aliases: serde_json::Value = h
        .client
        .get(format!("{}/__sim/aliases", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = aliases.to_string();
    assert!(
        text.contains(&alias) && text.contains("411111XXXXXX1111"),
        "{text}"
    );
    assert!(!text.contains("4111111111111111") && !text.contains("\"123\""));

    // Saved card: existing ALIAS + CVC only → the stored card, STATUS 0.
    let alias_field = [("ALIAS", alias.as_str())];
    let response = h
        .alias_gateway(&gateway_fields(&alias_field), &[("CVC", "456")])
        .await;
    let params = query_of(&location_ok(&response, ACCEPT));
    assert!(sha_out_ok(&params));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("0"));
    assert_eq!(value(&params, "ALIAS").as_deref(), Some(alias.as_str()));
    assert_eq!(
        value(&params, "CARDNO").as_deref(),
        Some("XXXXXXXXXXXX1111")
    );

    // Alias update: X-ed number and a new expiry → STATUS 2.
    let response = h
        .alias_gateway(
            &gateway_fields(&alias_field),
            &[
                ("CARDNO", "XXXXXXXXXXXX1111"),
                ("ED", "0140"),
                ("CN", "Karin Deu"),
            ],
        )
        .await;
    let params = query_of(&location_ok(&response, ACCEPT));
    assert!(sha_out_ok(&params));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("2"));
    assert_eq!(value(&params, "ED").as_deref(), Some("0140"));
}

fn location_ok(response: &reqwest::Response, prefix: &str) -> String {
    assert_eq!(response.status(), 303);
    let location = location(response);
    assert!(location.starts_with(prefix), "{location}");
    location
}

#[tokio::test]
async fn alias_gateway_refuses_bad_cards_field_by_field() {
    let h = start().await;
    // (card fields, field with the error, code)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("CN", "A"),
                ("CARDNO", "4111111111111112"),
                ("ED", "1239"),
                ("CVC", "123"),
            ],
            "NCERRORCARDNO",
            "50001054",
        ),
        (
            &[
                ("CN", "A"),
                ("CARDNO", "411111111111111"),
                ("ED", "1239"),
                ("CVC", "123"),
            ],
            "NCERRORCARDNO",
            "50001054",
        ),
        (
            &[
                ("CN", "A"),
                ("CARDNO", "4111111111111111"),
                ("ED", "0120"),
                ("CVC", "123"),
            ],
            "NCERRORED",
            "50001005",
        ),
        (
            &[
                ("CN", "A"),
                ("CARDNO", "374111111111111"),
                ("ED", "1239"),
                ("CVC", "123"),
            ],
            "NCERRORCVC",
            "50001066",
        ),
        (
            &[
                ("CN", "A"),
                ("CARDNO", "4111111111111111"),
                ("ED", "1239"),
                ("CVC", "1234"),
            ],
            "NCERRORCVC",
            "50001066",
        ),
    ];
    for (card, field, code) in cases {
        let response = h.alias_gateway(&gateway_fields(&[]), card).await;
        let location = location_ok(&response, EXCEPTION);
        let params = query_of(&location);
        assert!(sha_out_ok(&params), "{card:?}");
        assert_eq!(value(&params, "STATUS").as_deref(), Some("1"), "{card:?}");
        assert_eq!(value(&params, field).as_deref(), Some(*code), "{card:?}");
        assert_eq!(
            value(&params, "NCERROR").as_deref(),
            Some(*code),
            "{card:?}"
        );
        let number = card.iter().find(|(k, _)| *k == "CARDNO").unwrap().1;
        assert!(!location.contains(number), "{location}");
    }
    // Amex takes 4 digits.
    let response = h
        .alias_gateway(
            &gateway_fields(&[]),
            &[
                ("CN", "A"),
                ("CARDNO", "374111111111111"),
                ("ED", "1239"),
                ("CVC", "1234"),
            ],
        )
        .await;
    let params = query_of(&location_ok(&response, ACCEPT));
    assert_eq!(value(&params, "BRAND").as_deref(), Some("American Express"));
    assert_eq!(value(&params, "CARDNO").as_deref(), Some("XXXXXXXXXXX1111"));
}

#[tokio::test]
async fn alias_gateway_without_a_valid_signature_or_merchant_is_a_400_page() {
    let h = start().await;
    let card = [
        ("CN", "A"),
        ("CARDNO", "4111111111111111"),
        ("ED", "1239"),
        ("CVC", "123"),
    ];
    let mut form = sign_in(&gateway_fields(&[]));
    // Tamper with a signed field after signing.
    form.iter_mut().find(|(k, _)| k == "ACCEPTURL").unwrap().1 = "http://evil.test/".into();
    form.extend(owned(&card));
    let response = h
        .client
        .post(h.ogone("alias_gateway.asp"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("50001184"));

    let response = h
        .alias_gateway(
            &[
                ("PSPID", "NOBODY"),
                ("ACCEPTURL", ACCEPT),
                ("EXCEPTIONURL", EXCEPTION),
            ],
            &card,
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("50001118"));
    assert!(h.sim.config().ogone_account(PSPID).is_some());
}

#[tokio::test]
async fn orderdirect_sale_authorisation_declines_and_request_errors() {
    let h = start().await;
    let visa = h.alias("4111111111111111", "123").await;
    let sale = h.pay("o-sale", &visa, &[]).await;
    assert_eq!(sale.status, 9);
    assert_eq!(sale.nc_error.as_deref(), Some("0"));
    assert_eq!(sale.amount.as_deref(), Some("15"));
    assert_eq!(sale.currency.as_deref(), Some("EUR"));
    assert_eq!(sale.brand.as_deref(), Some("VISA"));
    assert_eq!(sale.pm.as_deref(), Some("CreditCard"));
    assert_eq!(sale.alias.as_deref(), Some(visa.as_str()));
    assert_ne!(sale.pay_id.as_deref(), Some("0"));

    let xml = h
        .direct_raw(
            "orderdirect_utf8.asp",
            &[
                ("PSPID", PSPID),
                ("USERID", USERID),
                ("PSWD", PSWD),
                ("ORDERID", "o-res"),
                ("AMOUNT", "450"),
                ("CURRENCY", "EUR"),
                ("ALIAS", &visa),
                ("OPERATION", "RES"),
            ],
        )
        .await;
    assert!(
        xml.starts_with("<?xml version=\"1.0\"?><ncresponse orderID=\"o-res\""),
        "{xml}"
    );
    assert!(xml.contains("CARDNO=\"XXXXXXXXXXXX1111\"") && xml.contains("amount=\"4.5\""));
    assert_eq!(parse_nc(&xml).unwrap().status, 5);

    let mc = h.alias("5399999999999999", "123").await;
    assert_eq!(h.pay("o-mc", &mc, &[]).await.status, 9);
    let amex = h.alias("374111111111111", "1234").await;
    assert_eq!(h.pay("o-amex", &amex, &[]).await.status, 9);

    let decline = h.alias("4000000000000051", "123").await;
    let declined = h.pay("o-decline", &decline, &[]).await;
    assert_eq!(
        (declined.status, declined.nc_error.as_deref()),
        (2, Some("30051001"))
    );
    let poor = h.alias("4000000000000515", "123").await;
    let refused = h.pay("o-poor", &poor, &[]).await;
    assert_eq!(
        (refused.status, refused.nc_error.as_deref()),
        (2, Some("30511001"))
    );

    // A reused ORDERID, even with another card.
    let dup = h.pay("o-sale", &mc, &[]).await;
    assert_eq!((dup.status, dup.nc_error.as_deref()), (0, Some("50001113")));
    assert_eq!(dup.pay_id.as_deref(), Some("0"));

    // Wrong password, unknown alias, no ORDERID.
    let wrong = h.pay("o-x1", &visa, &[("PSWD", "nope")]).await;
    assert_eq!(wrong.nc_error.as_deref(), Some("50001119"));
    let unknown = h.pay("o-x2", "NO-SUCH-ALIAS", &[]).await;
    assert_eq!(
        (unknown.status, unknown.nc_error.as_deref()),
        (0, Some("50001130"))
    );
    let missing = h.pay("", &visa, &[]).await;
    assert_eq!(missing.nc_error.as_deref(), Some("50001111"));

    // A bad SHASIGN: signed, then one field changed.
    let mut form = sign_in(&[
        ("PSPID", PSPID),
        ("USERID", USERID),
        ("PSWD", PSWD),
        ("ORDERID", "o-tampered"),
        ("AMOUNT", "1500"),
        ("CURRENCY", "EUR"),
        ("ALIAS", &visa),
    ]);
    form.iter_mut().find(|(k, _)| k == "AMOUNT").unwrap().1 = "1".into();
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
    let bad = parse_nc(&xml).unwrap();
    assert_eq!((bad.status, bad.nc_error.as_deref()), (0, Some("50001184")));
    assert_eq!(bad.pay_id.as_deref(), Some("0"));

    // Nothing failed was recorded; the listing never shows a full number.
    let list = h.transactions().await;
    let refs: Vec<&str> = list
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["o-sale", "o-res", "o-mc", "o-amex", "o-decline", "o-poor"]
    );
    assert_eq!(list[0]["captured_minor"], 1500);
    assert_eq!(list[1]["captured_minor"], 0);
    assert_eq!(list[0]["masked_pan"], "411111XXXXXX1111");
    assert!(
        !serde_json::Value::Array(list)
            .to_string()
            .contains("4111111111111111")
    );
}

/// orderdirect with 3-D Secure, as PROVIDERS.md has Guichet send it.
fn three_ds_request(order_id: &str, alias: &str, eci: &str) -> Form {
    sign_in(&[
        ("PSPID", PSPID),
        ("USERID", USERID),
        ("PSWD", PSWD),
        ("ORDERID", order_id),
        ("AMOUNT", "2590"),
        ("CURRENCY", "EUR"),
        ("ALIAS", alias),
        ("OPERATION", "SAL"),
        ("ECI", eci),
        ("FLAG3D", "Y"),
        ("WIN3DS", "MAINW"),
        ("ACCEPTURL", ACCEPT),
        ("DECLINEURL", "http://shop.test/decline"),
        ("EXCEPTIONURL", EXCEPTION),
        ("LANGUAGE", "fr_FR"),
        ("REMOTE_ADDR", "192.0.2.1"),
        ("BROWSERUSERAGENT", "Mozilla/5.0 (X11; Linux x86_64)"),
        ("BROWSERACCEPTHEADER", "text/html"),
    ])
}

async fn order_3ds(h: &Harness, order_id: &str, alias: &str, eci: &str) -> String {
    h.client
        .post(h.ogone("orderdirect.asp"))
        .form(&three_ds_request(order_id, alias, eci))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Follows HTML_ANSWER to the ACS page and answers; returns the final redirect.
async fn answer_challenge(h: &Harness, html_answer: &str, answer: &str) -> String {
    // The HTML_ANSWER form posts to the simulator's ACS page...
    let (action, fields) = form_of(html_answer);
    assert_eq!(action, h.ogone("acs.asp"));
    let page = h.client.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(">Approve<") && page.contains(">Refuse<"),
        "{page}"
    );
    assert!(page.contains("XXXXXXXXXXXX") && page.contains("25.90 EUR"));
    // ...whose buttons post the answer back.
    let (action, mut fields) = form_of(&page);
    fields.push(("decision".into(), answer.into()));
    let response = h.client.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(response.status(), 303);
    location(&response)
}

#[tokio::test]
async fn three_ds_challenge_approved_redirects_signed_and_sends_feedback() {
    let h = start().await;
    let alias = h.alias("4000000000000002", "111").await;
    let xml = order_3ds(&h, "o-3ds-ok", &alias, "7").await;
    assert!(xml.contains("<HTML_ANSWER>"), "{xml}");
    let reply = parse_nc(&xml).unwrap();
    assert_eq!((reply.status, reply.nc_error.as_deref()), (46, Some("0")));
    let html = reply.html_answer.clone().expect("HTML_ANSWER");
    let payid = reply.pay_id.unwrap();
    assert_eq!(h.query(&[("PAYID", &payid)]).await.status, 46);

    let location = answer_challenge(&h, &html, "approve").await;
    assert!(location.starts_with(&format!("{ACCEPT}?")), "{location}");
    let params = query_of(&location);
    assert!(sha_out_ok(&params), "{params:?}");
    assert_eq!(value(&params, "STATUS").as_deref(), Some("9"));
    assert_eq!(value(&params, "NCERROR").as_deref(), Some("0"));
    assert_eq!(value(&params, "PAYID").as_deref(), Some(payid.as_str()));
    assert_eq!(value(&params, "orderID").as_deref(), Some("o-3ds-ok"));
    assert_eq!(value(&params, "amount").as_deref(), Some("25.9"));
    assert_eq!(value(&params, "currency").as_deref(), Some("EUR"));
    assert_eq!(
        value(&params, "CARDNO").as_deref(),
        Some("XXXXXXXXXXXX0002")
    );
    assert_eq!(value(&params, "ECI").as_deref(), Some("5"));
    assert_eq!(value(&params, "ALIAS").as_deref(), Some(alias.as_str()));
    let trxdate = value(&params, "TRXDATE").unwrap();
    assert_eq!(trxdate.len(), 8);

    let feedback = h.inbox.wait("feedback", 1, Duration::from_secs(5)).await;
    assert_eq!(feedback.len(), 1);
    assert!(sha_out_ok(&feedback[0]));
    assert_eq!(feedback[0], params, "the same parameters as the redirect");

    let queried = h.query(&[("ORDERID", "o-3ds-ok")]).await;
    assert_eq!((queried.status, queried.eci.as_deref()), (9, Some("5")));
    let list = h.transactions().await;
    assert_eq!(list[0]["challenge"], "approved");
    assert_eq!(list[0]["flag3d"], true);

    // Answering again only redirects again: no second feedback.
    let (action, fields) = form_of(&html);
    let mut fields = fields;
    fields.push(("answer".into(), "refuse".into()));
    let again = h.client.post(&action).form(&fields).send().await.unwrap();
    assert!(location_is(&again, ACCEPT));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.inbox.all("feedback").len(), 1);
}

fn location_is(response: &reqwest::Response, prefix: &str) -> bool {
    response.status() == 303 && location(response).starts_with(prefix)
}

#[tokio::test]
async fn three_ds_challenge_refused_goes_to_declineurl() {
    let h = start().await;
    let alias = h.alias("5130257474533310", "123").await;
    let reply = parse_nc(&order_3ds(&h, "o-3ds-ko", &alias, "7").await).unwrap();
    assert_eq!(reply.status, 46);
    let location = answer_challenge(&h, reply.html_answer.as_deref().unwrap(), "refuse").await;
    assert!(
        location.starts_with("http://shop.test/decline?"),
        "{location}"
    );
    let params = query_of(&location);
    assert!(sha_out_ok(&params));
    assert_eq!(value(&params, "STATUS").as_deref(), Some("2"));
    assert_eq!(value(&params, "NCERROR").as_deref(), Some("40001134"));
    assert_eq!(value(&params, "BRAND").as_deref(), Some("MasterCard"));
    let feedback = h.inbox.wait("feedback", 1, Duration::from_secs(5)).await;
    assert_eq!(feedback, vec![params]);
    let queried = h.query(&[("ORDERID", "o-3ds-ko")]).await;
    assert_eq!(
        (queried.status, queried.nc_error.as_deref()),
        (2, Some("40001134"))
    );
    assert_eq!(h.transactions().await[0]["challenge"], "refused");
}

#[tokio::test]
async fn three_ds_frictionless_failed_and_merchant_initiated() {
    let h = start().await;
    let frictionless = h.alias("4186455175836497", "123").await;
    let reply = parse_nc(&order_3ds(&h, "o-fl", &frictionless, "7").await).unwrap();
    assert_eq!((reply.status, reply.eci.as_deref()), (9, Some("5")));
    assert!(reply.html_answer.is_none());

    let failing = h.alias("4419177274955460", "123").await;
    let reply = parse_nc(&order_3ds(&h, "o-af", &failing, "7").await).unwrap();
    assert_eq!(
        (reply.status, reply.nc_error.as_deref()),
        (2, Some("40001134"))
    );
    // Without FLAG3D the same card goes through.
    assert_eq!(h.pay("o-af-no3ds", &failing, &[]).await.status, 9);

    // A challenge card, merchant-initiated (ECI 9): never challenged.
    let challenge = h.alias("4000000000000002", "123").await;
    let reply = parse_nc(&order_3ds(&h, "o-mit", &challenge, "9").await).unwrap();
    assert_eq!((reply.status, reply.eci.as_deref()), (9, Some("9")));
    // And without FLAG3D, no challenge either.
    assert_eq!(h.pay("o-no3ds", &challenge, &[]).await.status, 9);
    // Amex 3-D Secure card is challenged.
    let amex = h.alias("371449635311004", "1234").await;
    let reply = parse_nc(&order_3ds(&h, "o-amex3ds", &amex, "7").await).unwrap();
    assert_eq!(reply.status, 46);
    assert!(h.inbox.all("feedback").is_empty());
}

#[tokio::test]
async fn querydirect_known_and_unknown() {
    let h = start().await;
    let alias = h.alias("4111111111111111", "123").await;
    let sale = h.pay("o-q", &alias, &[("AMOUNT", "111111")]).await;
    let payid = sale.pay_id.clone().unwrap();
    for by in [[("ORDERID", "o-q")], [("PAYID", payid.as_str())]] {
        let q = h.query(&by).await;
        assert_eq!(q.status, 9);
        assert_eq!(q.pay_id.as_deref(), Some(payid.as_str()));
        assert_eq!(q.order_id.as_deref(), Some("o-q"));
        assert_eq!(q.amount.as_deref(), Some("1111.11"));
    }
    for by in [[("ORDERID", "never-sent")], [("PAYID", "123")]] {
        let q = h.query(&by).await;
        assert_eq!(q.status, 0);
        assert_eq!(q.nc_error.as_deref(), Some("50001130"));
        assert_eq!(q.pay_id.as_deref(), Some("0"));
    }
    // querydirect_utf8 too, and the signature is checked.
    let q = h
        .direct(
            "querydirect_utf8.asp",
            &[
                ("PSPID", PSPID),
                ("USERID", USERID),
                ("PSWD", PSWD),
                ("ORDERID", "o-q"),
            ],
        )
        .await;
    assert_eq!(q.status, 9);
    let mut form = sign_in(&[
        ("PSPID", PSPID),
        ("USERID", USERID),
        ("PSWD", PSWD),
        ("ORDERID", "o-q"),
    ]);
    form.last_mut().unwrap().1 = "00".into();
    let xml = h
        .client
        .post(h.ogone("querydirect.asp"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        parse_nc(&xml).unwrap().nc_error.as_deref(),
        Some("50001184")
    );
}

#[tokio::test]
async fn refunds_partial_full_overflow_and_authorisation_operations() {
    let h = start().await;
    let alias = h.alias("4111111111111111", "123").await;
    let payid = h
        .pay("o-r", &alias, &[("AMOUNT", "1000")])
        .await
        .pay_id
        .unwrap();

    let partial = h.maintain(&payid, "RFD", "300").await;
    assert_eq!(
        (partial.status, partial.pay_id_sub.as_deref()),
        (81, Some("1"))
    );
    assert_eq!(partial.amount.as_deref(), Some("3"));
    // 81 becomes 8 when queried.
    let line = h.query(&[("PAYID", &payid), ("PAYIDSUB", "1")]).await;
    assert_eq!(line.status, 8);
    assert_eq!(h.query(&[("PAYID", &payid)]).await.status, 9);

    let overflow = h.maintain(&payid, "RFD", "701").await;
    assert_eq!(
        (overflow.status, overflow.nc_error.as_deref()),
        (0, Some("50001129"))
    );

    let full = h.maintain(&payid, "RFS", "700").await;
    assert_eq!((full.status, full.pay_id_sub.as_deref()), (81, Some("2")));
    assert_eq!(
        h.query(&[("PAYID", &payid), ("PAYIDSUB", "2")])
            .await
            .status,
        8
    );
    assert_eq!(
        h.query(&[("PAYID", &payid)]).await.status,
        8,
        "fully refunded"
    );
    let more = h.maintain(&payid, "RFD", "1").await;
    assert_ne!(more.nc_error.as_deref(), Some("0"));

    let list = h.transactions().await;
    let refunds = list[0]["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0]["amount_minor"], 300);
    assert_eq!(refunds[1]["status"], "8");

    // An authorisation cannot be refunded; it can be captured or cancelled.
    let res = h
        .pay("o-res", &alias, &[("OPERATION", "RES")])
        .await
        .pay_id
        .unwrap();
    let refused = h.maintain(&res, "RFD", "100").await;
    assert_eq!(refused.nc_error.as_deref(), Some("50001127"));
    let capture = h.maintain(&res, "SAS", "").await;
    assert_eq!(
        (capture.status, capture.amount.as_deref()),
        (91, Some("15"))
    );
    assert_eq!(h.query(&[("PAYID", &res)]).await.status, 9);
    assert_eq!(h.maintain(&res, "RFD", "1500").await.status, 81);

    let res2 = h
        .pay("o-res2", &alias, &[("OPERATION", "RES")])
        .await
        .pay_id
        .unwrap();
    let cancelled = h.maintain(&res2, "DES", "").await;
    assert_eq!(cancelled.status, 6);
    assert_eq!(h.query(&[("PAYID", &res2)]).await.status, 6);
    assert_eq!(
        h.maintain(&res2, "SAS", "").await.nc_error.as_deref(),
        Some("50001127")
    );

    let unknown = h.maintain("999", "RFD", "1").await;
    assert_eq!(
        (unknown.status, unknown.nc_error.as_deref()),
        (0, Some("50001130"))
    );
}

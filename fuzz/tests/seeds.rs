//! Writes the seed corpora (`corpus/<target>/`): valid inputs taken from the protocol
//! reference's vectors (shared/reference/psp-protocols.md), the crates' tests and the API tests,
//! signed or sealed with the keys the targets use. Run it again after changing a seed:
//! `cargo test --manifest-path fuzz/Cargo.toml --test seeds -- --ignored`.

use std::path::Path;

use base64::Engine as _;
use guichet_psp::ogone::signature::{HashAlgorithm, sha_out};
use guichet_psp::sips::seal::{SealAlgorithm, json_seal, seal};
use serde_json::{Value, json};

const OGONE_PASS: &str = guichet_fuzz::ogone_return::PASS;
const SIPS_KEY: &str = guichet_fuzz::sips_json::KEY;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn signed_query(pairs: &[(&str, &str)], pass: &str, alg: HashAlgorithm) -> String {
    let sig = sha_out(pairs, pass, alg);
    let mut all = pairs.to_vec();
    all.push(("SHASIGN", &sig));
    query(&all)
}

fn sealed_json(mut v: Value) -> String {
    let s = json_seal(&v, SIPS_KEY).unwrap();
    v["seal"] = json!(s);
    v.to_string()
}

fn ogone_ncresponse() {
    let t = "ogone_ncresponse";
    let seeds: &[(&str, &str)] = &[
        (
            "official-authorized",
            r#"<?xml version="1.0"?><ncresponse orderID="99999" PAYID="1111111" NCSTATUS="0" NCERROR="" NCERRORPLUS=""
 ACCEPTANCE="12345" STATUS="5" ECI="7" amount="125" currency="EUR" PM="CreditCard" BRAND="VISA"/>"#,
        ),
        (
            "authorize-real",
            "<?xml version=\"1.0\"?><ncresponse\n  orderID=\"1233680882919266242708828\" PAYID=\"3014726\" NCSTATUS=\"0\" NCERROR=\"0\" NCERRORPLUS=\"!\"\n  ACCEPTANCE=\"test123\" STATUS=\"5\" IPCTY=\"99\" CCCTY=\"99\" ECI=\"7\" CVCCheck=\"NO\" AAVCheck=\"NO\" VC=\"NO\"\n  amount=\"1\" currency=\"EUR\" PM=\"CreditCard\" BRAND=\"VISA\" ALIAS=\"2\">\n</ncresponse>",
        ),
        (
            "no-orderid",
            r#"<ncresponse orderID="" PAYID="0" NCSTATUS="5" NCERROR="50001111" NCERRORPLUS=" no orderid" ACCEPTANCE="" STATUS="0" amount="" currency="EUR" PM="" BRAND="" ALIAS="2"></ncresponse>"#,
        ),
        (
            "unknown-order",
            r##"<ncresponse orderID="#1019.22" PAYID="0" NCSTATUS="5" NCERROR="50001116" NCERRORPLUS="unknown order/1/i/67.192.100.64" ACCEPTANCE="" STATUS="0"/>"##,
        ),
        (
            "captured-full",
            r#"<?xml version="1.0"?><ncresponse orderID="G-1" PAYID="3014726" PAYIDSUB="2" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" ACCEPTANCE="test123" STATUS="9" amount="1111.11" currency="USD" PM="CreditCard" BRAND="VISA" CARDNO="XXXXXXXXXXXX1111" ED="1230" ECI="7" ALIAS="A1"></ncresponse>"#,
        ),
        (
            "query-uppercase",
            r#"<?xml version="1.0"?><ncresponse PAYID="1" STATUS="91" AMOUNT="4.5" CURRENCY="GBP" CARDNO="XXXXXXXXXXXX1111" IP="127.0.0.1"/>"#,
        ),
        (
            "refund-pending",
            r#"<ncresponse orderID="1" PAYID="3014726" PAYIDSUB="1" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" ACCEPTANCE="" STATUS="81" amount="1" currency="EUR"/>"#,
        ),
        (
            "3ds-failed",
            r#"<ncresponse orderID="x" PAYID="9" NCSTATUS="4" NCERROR="40001134" NCERRORPLUS="Authentication failed. Please retry or cancel." STATUS="2"/>"#,
        ),
        (
            "not-received",
            r#"<ncresponse orderID="G-1" PAYID="0" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown order" STATUS="0"/>"#,
        ),
        (
            "duplicate-orderid",
            r#"<ncresponse PAYID="0" NCERROR="50001113" STATUS="0"/>"#,
        ),
        (
            "alias-deleted",
            r#"<?xml version="1.0"?><ncresponse ALIAS="A1" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" STATUS="7"></ncresponse>"#,
        ),
        (
            "alias-unknown",
            r#"<ncresponse ALIAS="A1" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown alias" STATUS="0"/>"#,
        ),
        (
            "sha-mismatch",
            r#"<ncresponse orderID="" PAYID="0" NCSTATUS="5" NCERROR="50001184" NCERRORPLUS="SHA Mismatch" STATUS="0"/>"#,
        ),
        (
            "cvc-jpy-kwd",
            r#"<ncresponse STATUS="9" CVCCheck="OK" amount="1.234" currency="KWD"/>"#,
        ),
    ];
    for (name, xml) in seeds {
        write(t, name, xml.as_bytes());
    }
    let html = base64::engine::general_purpose::STANDARD.encode(
        "<html><body><form action=\"https://acs.example/\" method=\"post\"></form></body></html>",
    );
    let wrapped: String = html
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    write(
        t,
        "3ds-html-answer",
        format!(r#"<?xml version="1.0"?><ncresponse orderID="G-2" PAYID="3014727" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" STATUS="46" amount="19.99" currency="EUR"><HTML_ANSWER>{wrapped}</HTML_ANSWER></ncresponse>"#).as_bytes(),
    );
    // ISO-8859-1 bytes (the reply's declared encoding): "réf" with é = 0xE9.
    let mut latin1 =
        b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><ncresponse orderID=\"r".to_vec();
    latin1.push(0xE9);
    latin1.extend_from_slice(b"f\" NCERROR=\"0\" STATUS=\"8\" amount=\"15\" currency=\"JPY\"/>");
    write(t, "latin1-refunded", &latin1);
}

fn three_ds_accept() -> Vec<(&'static str, &'static str)> {
    vec![
        ("orderID", "G-42"),
        ("currency", "EUR"),
        ("amount", "19.99"),
        ("PM", "CreditCard"),
        ("ACCEPTANCE", "test123"),
        ("STATUS", "9"),
        ("CARDNO", "XXXXXXXXXXXX0002"),
        ("ED", "1230"),
        ("CN", "Jane Doe"),
        ("TRXDATE", "02/29/24"),
        ("PAYID", "3014726"),
        ("NCERROR", "0"),
        ("BRAND", "VISA"),
        ("ECI", "5"),
        ("ALIAS", "A1B2C3"),
    ]
}

fn ogone_return() {
    let t = "ogone_return";
    // V2 with its published SHA-1.
    let v2 = [
        ("ACCEPTANCE", "1234"),
        ("amount", "15"),
        ("BRAND", "VISA"),
        ("CARDNO", "XXXXXXXXXXXX1111"),
        ("currency", "EUR"),
        ("NCERROR", "0"),
        ("orderID", "12"),
        ("PAYID", "32100123"),
        ("PM", "CreditCard"),
        ("STATUS", "9"),
    ];
    let mut with_sig = v2.to_vec();
    with_sig.push(("SHASIGN", "209113288F93A9AB8E474EA78D899AFDBB874355"));
    write(t, "v2-sha1", query(&with_sig).as_bytes());
    // V3 extensive, with its published SHA-1 (foo is unsigned).
    let v3 = [
        ("orderID", "myorderid1678834094"),
        ("currency", "EUR"),
        ("amount", "99"),
        ("PM", "CreditCard"),
        ("ACCEPTANCE", "test123"),
        ("STATUS", "9"),
        ("CARDNO", "XXXXXXXXXXXX1111"),
        ("ED", "0312"),
        ("CN", "Some Name"),
        ("TRXDATE", "01/10/11"),
        ("PAYID", "9126297"),
        ("NCERROR", "0"),
        ("BRAND", "VISA"),
        ("COMPLUS", "my feedbackmessage"),
        ("IP", "12.123.12.123"),
        ("foo", "bar"),
        ("SHASIGN", "D58400479DCEDD6B6C7E67D61FDC0CC9E6ED65CB"),
    ];
    write(t, "v3-extensive-sha1", query(&v3).as_bytes());
    // V4 (passphrase `dummy` upstream: here it verifies only once re-signed by the target).
    let v4 = [
        ("AAVADDRESS", "NO"),
        ("amount", "1111.11"),
        ("CARDNO", "XXXXXXXXXXXX1111"),
        ("CN", "Dummy Customer Name"),
        ("currency", "USD"),
        ("IP", "101.00.111.22"),
        ("NCERROR", "0"),
        ("orderID", "Test Transaction"),
        ("PAYID", "01234567899"),
        ("PM", "CreditCard"),
        ("STATUS", "9"),
        ("TRXDATE", "01/31/22"),
        ("SHASIGN", "2CE444D2260D914EA7E56450B7B28F189238553B"),
    ];
    write(t, "v4-decimal-amount", query(&v4).as_bytes());
    // The 3-D Secure return of docs/PROVIDERS.md, with an unsigned PARAMPLUS pair.
    let mut accept = three_ds_accept();
    let sig = sha_out(&accept, OGONE_PASS, HashAlgorithm::Sha512);
    accept.push(("SHASIGN", &sig));
    accept.push(("attempt", "7"));
    write(
        t,
        "3ds-accept-sha512",
        format!("?{}", query(&accept)).as_bytes(),
    );
    let mut declined = three_ds_accept();
    declined[5].1 = "2";
    declined[11].1 = "40001134";
    declined[4].1 = "";
    write(
        t,
        "3ds-declined-sha256",
        signed_query(&declined, OGONE_PASS, HashAlgorithm::Sha256).as_bytes(),
    );
    let mut jpy = three_ds_accept();
    jpy[1].1 = "JPY";
    jpy[2].1 = "1500";
    write(
        t,
        "feedback-jpy-sha1",
        signed_query(&jpy, OGONE_PASS, HashAlgorithm::Sha1).as_bytes(),
    );
    // Alias Gateway returns: created, refused card data, updated.
    let created = [
        ("ALIAS", "A1B2C3"),
        ("BRAND", "VISA"),
        ("CARDNO", "XXXXXXXXXXXX1111"),
        ("CN", "Jane Doe"),
        ("ED", "1230"),
        ("NCERROR", "0"),
        ("NCERRORCARDNO", "0"),
        ("NCERRORCN", "0"),
        ("NCERRORCVC", "0"),
        ("NCERRORED", "0"),
        ("ORDERID", "G42S"),
        ("STATUS", "0"),
    ];
    let mut q = signed_query(&created, OGONE_PASS, HashAlgorithm::Sha512);
    q.push_str("&return=card");
    write(t, "alias-created-sha512", q.as_bytes());
    let refused = [
        ("ALIAS", ""),
        ("CARDNO", "4111111111111111"),
        ("CN", "Jane Doe"),
        ("ED", "1399"),
        ("NCERROR", "50001054"),
        ("NCERRORCARDNO", "50001054"),
        ("NCERRORCN", "0"),
        ("NCERRORCVC", "50001066"),
        ("NCERRORED", "50001005"),
        ("ORDERID", "G42"),
        ("STATUS", "1"),
    ];
    write(
        t,
        "alias-refused-sha256",
        signed_query(&refused, OGONE_PASS, HashAlgorithm::Sha256).as_bytes(),
    );
    let updated = [
        ("ALIAS", "A1B2C3"),
        ("CARDNO", "XXXXXXXXXXXX1111"),
        ("CN", "Jane Q. Doe"),
        ("ED", "0131"),
        ("NCERROR", "0"),
        ("ORDERID", "U1"),
        ("STATUS", "2"),
    ];
    write(
        t,
        "alias-updated-sha1",
        signed_query(&updated, OGONE_PASS, HashAlgorithm::Sha1).as_bytes(),
    );
}

const CANCEL_DATA: &str = "captureDay=0|captureMode=AUTHOR_CAPTURE|currencyCode=978|merchantId=002001000000001|orderChannel=INTERNET|responseCode=17|transactionDateTime=2018-01-04T10:11:13+01:00|transactionReference=2699c2a658d|keyVersion=1|amount=2|customerIpAddress=194.78.195.168|paymentPattern=ONE_SHOT";

fn accepted_data() -> String {
    [
        "amount=1999",
        "currencyCode=978",
        "merchantId=002001000000001",
        "transactionReference=G42A1",
        "responseCode=00",
        "acquirerResponseCode=00",
        "authorisationId=123456",
        "maskedPan=4100##########00",
        "panExpiryDate=202106",
        "paymentMeanBrand=VISA",
        "holderAuthentStatus=3D_SUCCESS",
        "transactionDateTime=2026-03-01T10:11:13+01:00",
        "keyVersion=1",
        "returnContext=null",
    ]
    .join("|")
}

fn sips_paypage() {
    let t = "sips_paypage";
    // Reference vector: SHA-256(Data ‖ key) = 2a67c516…
    let form = query(&[
        ("Data", CANCEL_DATA),
        (
            "Seal",
            "2a67c5160fd33b8439e5b3d09a4a5e02123786d7465864d95f8db089de6606eb",
        ),
        ("InterfaceVersion", "HP_2.0"),
        ("Encode", ""),
    ]);
    write(t, "cancel-vector-form", form.as_bytes());
    let data = accepted_data();
    let form = query(&[
        ("Data", &data),
        ("Seal", &seal(&data, SIPS_KEY, SealAlgorithm::Sha256)),
        ("InterfaceVersion", "HP_2.35"),
    ]);
    write(t, "accepted-form-sha256", form.as_bytes());
    let form = query(&[
        ("Data", &data),
        ("Seal", &seal(&data, SIPS_KEY, SealAlgorithm::HmacSha256)),
    ]);
    write(t, "accepted-form-hmac", form.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let form = query(&[
        ("Data", &encoded),
        ("Seal", &seal(&encoded, SIPS_KEY, SealAlgorithm::Sha256)),
        ("Encode", "base64"),
    ]);
    write(t, "accepted-form-base64", form.as_bytes());
    // Plain Data strings (the target seals them itself).
    write(t, "cancel-data", CANCEL_DATA.as_bytes());
    write(t, "accepted-data", data.as_bytes());
    write(
        t,
        "refused-data",
        b"amount=500|currencyCode=392|transactionReference=R1|responseCode=05|maskedPan=411111######1111",
    );
}

fn sips_json() {
    let t = "sips_json";
    write(
        t,
        "transaction-captured",
        sealed_json(json!({
            "responseCode": "00", "transactionReference": "G42A1", "transactionStatus": "CAPTURED",
            "amount": 1999, "currentAmount": "1499", "currencyCode": "978",
            "transactionDateTime": "2026-03-01T10:11:13+01:00", "maskedPan": "4100##########00",
            "paymentMeanBrand": "VISA", "acquirerResponseCode": "00", "keyVersion": 1
        }))
        .as_bytes(),
    );
    write(
        t,
        "transaction-unknown",
        sealed_json(json!({"responseCode": "25", "keyVersion": 1})).as_bytes(),
    );
    write(
        t,
        "init-accepted",
        sealed_json(json!({
            "redirectionStatusCode": "00", "redirectionStatusMessage": "Success",
            "redirectionUrl": "https://payment-webinit.simu.sips-services.com/paymentprovider/init",
            "redirectionVersion": "IR_WS_2.35", "redirectionData": "d5eWdZ7tjnjM6Ls1jxFUH2",
            "keyVersion": 1, "sealAlgorithm": "HMAC-SHA-256"
        }))
        .as_bytes(),
    );
    write(
        t,
        "init-format-error",
        sealed_json(json!({"redirectionStatusCode": "30", "errorFieldName": "amount"})).as_bytes(),
    );
    write(
        t,
        "cash-refund-ok",
        sealed_json(json!({
            "responseCode": "00", "acquirerResponseCode": "00", "newAmount": 1499,
            "newStatus": "CAPTURED", "operationDateTime": "2026-03-02T09:00:00+01:00",
            "authorisationId": "123456"
        }))
        .as_bytes(),
    );
    write(
        t,
        "cash-refund-too-much",
        sealed_json(json!({"responseCode": "51", "newAmount": "0", "nested": {"b": [1, 2.5, true, null], "a": "x"}})).as_bytes(),
    );
    // Unsealed error reply, as Sips sends for a seal it refuses.
    write(
        t,
        "unsealed-34",
        br#"{"responseCode":"34","errorFieldName":"seal"}"#,
    );
}

fn shop_json() {
    let t = "shop_json";
    let bodies = [
        (
            "create-order",
            json!({
                "point_of_sale": "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e6f", "currency": "EUR", "language": "fr",
                "lines": [
                    {"kind": "ticket", "label": "Le Misanthrope", "quantity": 2, "unit_amount_minor": 2500,
                     "event": {"id": "E1", "name": "Le Misanthrope", "starts_at": "2027-01-10T20:00:00+01:00"}},
                    {"kind": "voucher", "label": "Chèque cadeau", "quantity": 1, "unit_amount_minor": 5000,
                     "voucher_product": "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e70"},
                    {"kind": "fee", "label": "Frais", "quantity": 1, "unit_amount_minor": 150}
                ],
                "delivery": {"mode": "electronic", "delay": "immediate", "fee_minor": 0},
                "return_url": "https://shop.example/return", "cancel_url": "https://shop.example/cancel"
            }),
        ),
        (
            "create-order-jpy",
            json!({
                "point_of_sale": "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e6f", "currency": "JPY",
                "lines": [{"kind": "fee", "label": "x", "quantity": 1000, "unit_amount_minor": 9_223_372_036_854_775_i64}],
                "delivery": {"mode": "post", "delay": "5 days", "fee_minor": 500}
            }),
        ),
        ("code-promo", json!({"code": " nouveaux-venus "})),
        ("code-voucher", json!({"code": "7k3q-x9m2-pa4t-rb6w"})),
        (
            "pay-card",
            json!({
                "means": "card", "accept_terms": true,
                "card_alias_return": "?ALIAS=A1B2C3&CARDNO=XXXXXXXXXXXX1111&ED=1230&NCERROR=0&ORDERID=G42S&STATUS=0&SHASIGN=00",
                "browser": {"color_depth": 24, "java_enabled": false, "javascript_enabled": true,
                            "screen_height": 1080, "screen_width": 1920, "timezone_minutes": -60}
            }),
        ),
        (
            "pay-saved-card",
            json!({"means": "saved_card", "saved_card": "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e71",
                                  "installment_plan": "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e72"}),
        ),
        ("pay-deferred", json!({"means": "deferred_account"})),
        ("credit", json!({"amount_minor": 1500})),
        (
            "refund",
            json!({"amount_minor": 500, "destination": "credit_balance", "leg": null}),
        ),
        (
            "card-change",
            json!({"expiry": "12/2030", "holder": "Jane Doe"}),
        ),
    ];
    for (name, body) in bodies {
        write(t, name, body.to_string().as_bytes());
    }
}

fn admin_json() {
    let t = "admin_json";
    let pos = "0190d1a4-4a4b-7cc0-9f3e-1a2b3c4d5e6f";
    let bodies = [
        (
            "plan-equal-monthly",
            json!({"point_of_sale_id": pos, "name": "3x", "count": 3, "split": "equal",
            "interval": "monthly", "min_amount": {"amount_minor": 5000, "currency": "EUR"}, "mode": "restrictive"}),
        ),
        (
            "plan-percent-days",
            json!({"point_of_sale_id": pos, "name": "50/25/25", "count": 3, "split": [50, 25, 25],
            "interval": {"days": 30}, "min_amount": {"amount_minor": 0, "currency": "KWD"}, "mode": "free"}),
        ),
        (
            "plan-12x",
            json!({"point_of_sale_id": pos, "name": "12x", "count": 12, "split": "equal",
            "interval": "monthly", "min_amount": {"amount_minor": 0, "currency": "JPY"}, "mode": "free"}),
        ),
        ("money", json!({"amount_minor": 3420, "currency": "EUR"})),
        (
            "promo-percent",
            json!({"institution_id": pos, "code": "NOUVEAUX-VENUS", "label": "Nouveaux venus",
            "kind": "discount_code", "discount": {"type": "percent", "basis_points": 500},
            "valid_from": "2026-01-01T00:00:00+01:00", "channels": ["internet"], "max_uses_total": 100}),
        ),
        (
            "coupon-fixed",
            json!({"institution_id": pos, "code": "c-1", "label": "x", "kind": "coupon",
            "discount": {"type": "fixed", "amount_minor": 180, "currency": "EUR"},
            "min_order": {"amount_minor": 1000, "currency": "EUR"}}),
        ),
        (
            "coupons-generate",
            json!({"institution_id": pos, "prefix": "NV", "count": 10, "label": "x",
            "discount": {"type": "percent", "basis_points": 1000}}),
        ),
        (
            "coupons-import",
            json!({"institution_id": pos, "label": "x", "codes": ["A-123", "b_456"],
            "discount": {"type": "percent", "basis_points": 1000}}),
        ),
        (
            "voucher-fixed",
            json!({"institution_id": pos, "name": "Chèque cadeau 50 €", "currency": "EUR",
            "value": {"type": "fixed", "value": {"amount_minor": 5000, "currency": "EUR"},
                      "price": {"amount_minor": 4500, "currency": "EUR"}},
            "validity": {"days": 365}, "reusable": true}),
        ),
        (
            "voucher-open",
            json!({"institution_id": pos, "name": "Chèque cadeau", "currency": "EUR",
            "value": {"type": "open", "min": {"amount_minor": 1000, "currency": "EUR"},
                      "max": {"amount_minor": 20000, "currency": "EUR"}},
            "validity": {"until_date": "2026-12-31T23:59:59+01:00"}, "reusable": false}),
        ),
        (
            "contact",
            json!({"institution_id": pos, "external_ref": "K1", "first_name": "Karin", "last_name": "M",
            "email": "karin@example.org", "language": "fr", "currency": "EUR", "deferred_allowed": true,
            "deferred_max_minor": 20000}),
        ),
        (
            "credit-adjustment",
            json!({"amount_minor": -500, "memo": "geste"}),
        ),
        (
            "payment-mode",
            json!({"institution_id": pos, "code": "CBWEB", "internal_name": "Carte web",
            "public_names": {"fr": "Carte bancaire", "en": "Card"}, "type": "card", "status": "visible",
            "predetermined": false, "available_for_payment": true, "available_for_refund": true}),
        ),
        (
            "payment-system",
            json!({"provider": "ogone", "label": "Ogone test", "base_url": "https://ogone.test/ncol/test/",
            "merchant_id": "GUICHETTEST", "settings": {"algorithm": "SHA-512"},
            "credentials": {"sha_in": "x", "sha_out": ""}, "active": true}),
        ),
        (
            "institution",
            json!({"name": "Théâtre", "default_currency": "CHF"}),
        ),
        (
            "login",
            json!({"user": "admin", "password": "correct horse battery"}),
        ),
        (
            "webhook",
            json!({"url": "https://shop.example/guichet/webhooks", "secret": "0123456789abcdef"}),
        ),
    ];
    for (name, body) in bodies {
        write(t, name, body.to_string().as_bytes());
    }
}

fn money() {
    for s in [
        "34.20 EUR",
        "EUR 34.20",
        "€34.20",
        "-5.00 EUR",
        "-€5.00",
        "1234 JPY",
        "¥1234",
        "1.234 KWD",
        "34 EUR",
        "£0.01",
        "$1.5",
        "0.05 CHF",
        "-92233720368547758.08 EUR",
        "92233720368547758.07 USD",
    ] {
        let name: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        write("money", &name, s.as_bytes());
    }
}

fn psp_amount() {
    for (exp, s) in [
        (2u8, "15"),
        (2, "4.5"),
        (2, "1111.11"),
        (2, "17.89"),
        (0, "1500"),
        (3, "1.234"),
        (2, "184467440737095516.15"),
        (2, "15.00"),
        (0, "15.00"),
        (2, "978"),
    ] {
        let mut data = vec![exp];
        data.extend_from_slice(s.as_bytes());
        write(
            "psp_amount",
            &format!("e{exp}-{}", s.replace('.', "_")),
            &data,
        );
    }
}

#[test]
#[ignore = "writes the seed corpora; run it on purpose"]
fn write_seed_corpora() {
    ogone_ncresponse();
    ogone_return();
    sips_paypage();
    sips_json();
    shop_json();
    admin_json();
    money();
    psp_amount();
}

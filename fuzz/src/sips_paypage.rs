//! Sips Paypage results: `guichet_psp::sips::paypage::parse_data` and
//! `PaypageResult::verify` (`Data` + `Seal` form fields), with a fixed secret key and both seal
//! algorithms (SHA-256(Data ‖ key) and HMAC-SHA-256).
//!
//! Input: lossy UTF-8 text, used three ways: as the result form's query string, verified as
//! received (the seed corpus holds correctly sealed forms); as the `Data` value itself, sealed
//! by the target; and that `Data` base64- and base64url-encoded with `Encode`.
//!
//! Properties:
//! - `parse_data`: pairs split at the first `=`, keys non-empty and unique; joining the pairs
//!   back with `=` and `|` gives the input exactly;
//! - a result sealed with the right key is never refused for its seal; changing one byte of
//!   `Data`, another key or the other algorithm is `BadSeal`;
//! - encoding `Data` in base64 or base64url (`Encode`) gives the same result as plain text;
//! - the fields read equal the `Data` values (`null` and empty as absent): responseCode,
//!   transactionReference, currencyCode, amount (digits only, as minor units); panExpiryDate
//!   writes back to the same `YYYYMM`; a kept maskedPan is masked (at most BIN + last 4);
//! - `check_matches` accepts the result's own reference, amount and currency, refuses another
//!   amount; `is_accepted` exactly for `00`.

use base64::Engine as _;
use guichet_psp::amount::currency_by_numeric;
use guichet_psp::ogone::params::parse_query;
use guichet_psp::sips::paypage::{Mismatch, PaypageResult, PaypageResultError, parse_data};
use guichet_psp::sips::seal::{SealAlgorithm, seal};

use crate::util::assert_masked;

/// The key of the reference's Paypage seal vectors (section 7.2).
pub const KEY: &str = "002001000000001_KEY1";
const ALGS: [SealAlgorithm; 2] = [SealAlgorithm::Sha256, SealAlgorithm::HmacSha256];

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_parse_data(&text);

    // The form as received.
    let params = parse_query(&text);
    for alg in ALGS {
        if let Ok(r) = PaypageResult::verify(&params, KEY, alg) {
            check_result(&r);
        }
    }

    // The whole input as `Data`, sealed here.
    if text.is_empty() {
        return;
    }
    for alg in ALGS {
        let form = sealed_form(&text, alg, None);
        let plain = PaypageResult::verify(&form, KEY, alg);
        if matches!(plain, Err(PaypageResultError::BadSeal)) {
            panic!("a correctly sealed result was refused");
        }
        if let Ok(r) = &plain {
            check_result(r);
            assert_eq!(
                r.data,
                parse_data(&text).expect("verified Data parses"),
                "Data pairs"
            );
            check_tampering(&form, alg);
        }
        for (encode, encoded) in [
            (
                "base64",
                base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            ),
            (
                "base64url",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes()),
            ),
        ] {
            let form = sealed_form(&encoded, alg, Some(encode));
            let decoded = PaypageResult::verify(&form, KEY, alg);
            assert_eq!(decoded, plain, "Encode={encode} reads differently");
        }
    }
}

fn sealed_form(data: &str, alg: SealAlgorithm, encode: Option<&str>) -> Vec<(String, String)> {
    let mut form = vec![
        ("Data".to_owned(), data.to_owned()),
        ("Seal".to_owned(), seal(data, KEY, alg)),
        ("InterfaceVersion".to_owned(), "HP_2.35".to_owned()),
    ];
    if let Some(e) = encode {
        form.push(("Encode".to_owned(), e.to_owned()));
    }
    form
}

fn check_parse_data(text: &str) {
    let Ok(pairs) = parse_data(text) else {
        return;
    };
    let joined = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("|");
    assert_eq!(joined, text, "parse_data does not join back");
    let mut keys = std::collections::BTreeSet::new();
    for (k, _) in &pairs {
        assert!(!k.is_empty() && !k.contains('=') && !k.contains('|'));
        assert!(keys.insert(k.as_str()), "key {k:?} twice");
    }
}

fn check_tampering(form: &[(String, String)], alg: SealAlgorithm) {
    let mut p = form.to_vec();
    p[0].1.push('|');
    assert_eq!(
        PaypageResult::verify(&p, KEY, alg),
        Err(PaypageResultError::BadSeal)
    );
    let mut p = form.to_vec();
    p[0].1.insert(0, 'x');
    assert_eq!(
        PaypageResult::verify(&p, KEY, alg),
        Err(PaypageResultError::BadSeal)
    );
    assert_eq!(
        PaypageResult::verify(form, "another key", alg),
        Err(PaypageResultError::BadSeal)
    );
    let other = if alg == SealAlgorithm::Sha256 {
        SealAlgorithm::HmacSha256
    } else {
        SealAlgorithm::Sha256
    };
    assert_eq!(
        PaypageResult::verify(form, KEY, other),
        Err(PaypageResultError::BadSeal)
    );
    // A lower- or upper-case seal verifies the same.
    let mut p = form.to_vec();
    p[1].1 = p[1].1.to_ascii_uppercase();
    assert!(PaypageResult::verify(&p, KEY, alg).is_ok());
}

fn check_result(r: &PaypageResult) {
    let get = |name: &str| {
        r.data
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty() && *v != "null")
    };
    assert_eq!(get("responseCode"), Some(r.response_code.as_str()));
    assert_eq!(
        get("transactionReference"),
        Some(r.transaction_reference.as_str())
    );
    assert_eq!(get("currencyCode"), Some(r.currency_code.as_str()));
    let amount = get("amount").expect("amount");
    assert!(amount.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(amount.parse::<u64>().ok(), Some(r.amount_minor));
    assert_eq!(r.payment_mean_brand.as_deref(), get("paymentMeanBrand"));
    assert_eq!(r.authorisation_id.as_deref(), get("authorisationId"));
    assert_eq!(r.merchant_id.as_deref(), get("merchantId"));
    match &r.masked_pan {
        Some(m) => {
            assert_masked(m);
            assert_eq!(Some(m.as_str()), get("maskedPan"));
        }
        None => assert_eq!(get("maskedPan"), None),
    }
    match r.pan_expiry {
        Some(e) => assert_eq!(
            Some(format!("{:04}{:02}", e.year(), e.month()).as_str()),
            get("panExpiryDate")
        ),
        None => assert_eq!(get("panExpiryDate"), None),
    }
    assert_eq!(
        r.transaction_date_time.is_some(),
        get("transactionDateTime").is_some()
    );
    assert_eq!(r.is_accepted(), r.response_code == "00");
    assert_eq!(
        r.currency(),
        currency_by_numeric(&r.currency_code).map(|c| c.alpha)
    );
    if let Some(currency) = r.currency() {
        assert_eq!(
            r.check_matches(&r.transaction_reference, r.amount_minor, currency),
            Ok(())
        );
        if let Some(other) = r.amount_minor.checked_add(1) {
            assert!(matches!(
                r.check_matches(&r.transaction_reference, other, currency),
                Err(Mismatch::Amount { .. })
            ));
        }
        assert_eq!(
            r.check_matches(
                &format!("{}x", r.transaction_reference),
                r.amount_minor,
                currency
            ),
            Err(Mismatch::TransactionReference)
        );
    }
}

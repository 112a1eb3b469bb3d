//! Sips 2.0 JSON replies: `guichet_psp::sips::office::TransactionData::parse`
//! (`getTransactionData`), `guichet_psp::sips::paypage::PaymentInitResponse::parse`
//! (`paymentInit`) and `guichet_psp::sips::office::CashManagementResponse::parse` (refund,
//! cancel), each verifying the HMAC-SHA-256 `seal` with a fixed secret key.
//!
//! Input: the reply body, as UTF-8 text (the client refuses a body that is not UTF-8). Each
//! input is parsed as received (seed corpus: correctly sealed replies) and, when it is a JSON
//! object, sealed again by the target, which reaches the field checks behind the seal.
//!
//! Properties:
//! - a reply sealed with the right key is never refused as `NotJson`, `NotAnObject`,
//!   `MissingSeal` or `BadSeal`; adding a field, another key, or removing the seal refuses it
//!   (`BadSeal` / `MissingSeal`); a reply that parses carries a seal that verifies;
//! - the fields read equal the JSON values: responseCode (string or number), amounts in minor
//!   units (a non-negative integer or a digit string), `transactionStatus`;
//!   `currency()` is the table's alpha code of `currencyCode`; a kept maskedPan is masked;
//! - `is_unknown` exactly for `25`, `is_accepted` exactly for `00`; an accepted `paymentInit`
//!   has its redirect form (URL, `redirectionVersion`, `redirectionData`), another has none.

use guichet_psp::amount::currency_by_numeric;
use guichet_psp::sips::json::ReplyError;
use guichet_psp::sips::office::{CashManagementResponse, TransactionData, TransactionStatus};
use guichet_psp::sips::paypage::PaymentInitResponse;
use guichet_psp::sips::seal::{json_seal, verify_json_seal};
use serde_json::{Map, Value};

use crate::util::assert_masked;

/// The key of the reference's JSON seal vectors (section 7.2).
pub const KEY: &str = "002001000000001_KEY1";

pub fn run(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    parse_all(body, false);
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(body) else {
        return;
    };
    m.remove("seal");
    let seal = json_seal(&Value::Object(m.clone()), KEY).expect("an object seals");
    m.insert("seal".to_owned(), Value::String(seal));
    let sealed = Value::Object(m.clone()).to_string();
    parse_all(&sealed, true);

    // Tampering: one more field, another key, no seal.
    let mut more = m.clone();
    let name = (0..)
        .map(|i| format!("zzTampered{i}"))
        .find(|n| !m.contains_key(n))
        .expect("a free name");
    more.insert(name, Value::String("x".to_owned()));
    let tampered = Value::Object(more).to_string();
    let bad_seal = |e: Result<(), ReplyError>| matches!(e, Err(ReplyError::BadSeal { .. }));
    assert!(bad_seal(TransactionData::parse(&tampered, KEY).map(|_| ())));
    assert!(bad_seal(
        PaymentInitResponse::parse(&tampered, KEY).map(|_| ())
    ));
    assert!(bad_seal(
        CashManagementResponse::parse(&tampered, KEY).map(|_| ())
    ));
    assert!(bad_seal(
        TransactionData::parse(&sealed, "another key").map(|_| ())
    ));
    let mut unsealed = m;
    unsealed.remove("seal");
    assert!(matches!(
        TransactionData::parse(&Value::Object(unsealed).to_string(), KEY),
        Err(ReplyError::MissingSeal { .. })
    ));
}

fn parse_all(body: &str, sealed_here: bool) {
    let outcomes = [
        TransactionData::parse(body, KEY).map(|t| check_transaction(body, &t)),
        PaymentInitResponse::parse(body, KEY).map(|p| check_init(body, &p)),
        CashManagementResponse::parse(body, KEY).map(|c| check_cash(body, &c)),
    ];
    for outcome in outcomes {
        match outcome {
            Ok(()) => {}
            Err(
                e @ (ReplyError::NotJson(_)
                | ReplyError::NotAnObject
                | ReplyError::MissingSeal { .. }
                | ReplyError::BadSeal { .. }),
            ) if sealed_here => panic!("a correctly sealed reply was refused: {e}"),
            Err(_) => {}
        }
    }
}

fn object(body: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            assert!(
                verify_json_seal(&v, KEY),
                "a reply parsed without a valid seal"
            );
            match v {
                Value::Object(m) => m,
                _ => panic!("a reply parsed that is not an object"),
            }
        }
        Err(e) => panic!("a reply parsed that is not JSON: {e}"),
    }
}

/// The text the parsers read from a field: a string or a number; `None` when absent, null or
/// empty.
fn text(m: &Map<String, Value>, name: &str) -> Option<String> {
    match m.get(name)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => panic!("{name} = {other} was read as text"),
    }
}

fn minor(m: &Map<String, Value>, name: &str) -> Option<u64> {
    match m.get(name)? {
        Value::Number(n) => Some(n.as_u64().expect("a non-negative integer")),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            assert!(
                s.bytes().all(|b| b.is_ascii_digit()),
                "amount {s:?} accepted"
            );
            Some(s.parse().expect("digits that fit u64"))
        }
        Value::Null => None,
        other => panic!("{name} = {other} was read as an amount"),
    }
}

fn check_transaction(body: &str, t: &TransactionData) {
    let m = object(body);
    assert_eq!(text(&m, "responseCode").as_ref(), Some(&t.response_code));
    assert_eq!(t.is_unknown(), t.response_code == "25");
    assert_eq!(minor(&m, "amount"), t.amount_minor);
    assert_eq!(minor(&m, "currentAmount"), t.current_amount_minor);
    assert_eq!(text(&m, "currencyCode"), t.currency_code);
    assert_eq!(text(&m, "transactionReference"), t.transaction_reference);
    assert_eq!(
        t.currency(),
        t.currency_code
            .as_deref()
            .and_then(currency_by_numeric)
            .map(|c| c.alpha)
    );
    let status = text(&m, "transactionStatus");
    match (&t.transaction_status, status.as_deref()) {
        (None, None) => {}
        (Some(TransactionStatus::Captured), Some("CAPTURED"))
        | (Some(TransactionStatus::Refused), Some("REFUSED"))
        | (Some(TransactionStatus::Cancelled), Some("CANCELLED"))
        | (Some(TransactionStatus::Pending), Some("PENDING")) => {}
        (Some(TransactionStatus::Other(o)), Some(s)) => {
            assert_eq!(o, s);
            assert!(!matches!(
                s,
                "CAPTURED" | "REFUSED" | "CANCELLED" | "PENDING"
            ));
        }
        (read, sent) => panic!("transactionStatus {sent:?} read as {read:?}"),
    }
    match &t.masked_pan {
        Some(p) => {
            assert_masked(p);
            assert_eq!(Some(p.as_str()), text(&m, "maskedPan").as_deref());
        }
        None => assert_eq!(text(&m, "maskedPan"), None),
    }
}

fn check_init(body: &str, p: &PaymentInitResponse) {
    let m = object(body);
    assert_eq!(
        text(&m, "redirectionStatusCode").as_ref(),
        Some(&p.redirection_status_code)
    );
    assert_eq!(text(&m, "redirectionUrl"), p.redirection_url);
    assert_eq!(text(&m, "redirectionData"), p.redirection_data);
    assert_eq!(p.is_accepted(), p.redirection_status_code == "00");
    match p.redirect_form() {
        Some(form) => {
            assert!(p.is_accepted());
            assert_eq!(Some(&form.action), p.redirection_url.as_ref());
            assert_eq!(
                form.fields,
                vec![
                    (
                        "redirectionVersion".to_owned(),
                        p.redirection_version.clone().expect("version")
                    ),
                    (
                        "redirectionData".to_owned(),
                        p.redirection_data.clone().expect("data")
                    ),
                ]
            );
        }
        None => assert!(!p.is_accepted(), "an accepted paymentInit without its form"),
    }
}

fn check_cash(body: &str, c: &CashManagementResponse) {
    let m = object(body);
    assert_eq!(text(&m, "responseCode").as_ref(), Some(&c.response_code));
    assert_eq!(c.is_accepted(), c.response_code == "00");
    assert_eq!(minor(&m, "newAmount"), c.new_amount_minor);
    assert_eq!(text(&m, "newStatus"), c.new_status);
}

//! Ogone DirectLink `<ncresponse>` replies (`guichet_psp::ogone::directlink::parse_ncresponse`)
//! and what they mean: the STATUS → outcome table, the `querydirect` reading and the alias
//! deletion outcome (`guichet_psp::ogone::alias_delete::AliasDeleteOutcome`).
//!
//! Input: the reply's bytes, decoded as the client decodes them (UTF-8, else ISO-8859-1).
//!
//! Properties, for every reply that parses:
//! - STATUS → outcome follows the reference table (section 1.5 of the protocol reference):
//!   `Captured` only for 9, `Authorized` only for 5, `Pending3ds` only for 46 with an
//!   HTML_ANSWER (the same HTML), `Declined` for 0/2/93 (0 with NCERROR 50001113 is
//!   `Uncertain`), `Cancelled` for 1/6/64/7/74, `RefundPending` 81, `Refunded` 8/85,
//!   `RefundRefused` 83/94, and `Uncertain` for every other code; refusal reasons carry the
//!   reply's NCERROR and NCERRORPLUS;
//! - the outcome depends on nothing but STATUS, NCERROR and HTML_ANSWER;
//! - `query_outcome` is `NotReceived` exactly for STATUS 0, PAYID absent or `0`, NCERROR
//!   50001130, and otherwise `Known(outcome())`;
//! - alias deletion: `Deleted` exactly for NCERROR absent/`0` with STATUS 7, `UnknownAlias`
//!   exactly for NCERROR 50001130, `Uncertain` for NCERROR absent/`0` with another STATUS,
//!   `Refused` (with the reply's reason) otherwise; `is_gone` only for the first two;
//! - a kept `CARDNO` is masked (at most BIN + last 4); `ED` read as an expiry writes back to
//!   the same `MMYY`; an amount converted to minor units converts back to the same amount;
//! - rendering the parsed reply as XML again and parsing it gives the same reply.

use base64::Engine as _;
use guichet_psp::amount::{currency_by_alpha, decimal_to_minor_in, minor_to_decimal};
use guichet_psp::ogone::alias_delete::{AliasDeleteOutcome, STATUS_ALIAS_DELETED};
use guichet_psp::ogone::directlink::{
    NCERROR_DUPLICATE_ORDER_ID, NCERROR_UNKNOWN_ORDER, NcResponse, Outcome, QueryOutcome,
    parse_ncresponse,
};

use crate::util::{assert_masked, decode_text};

/// STATUS codes the reference documents as definite (anything else is `Uncertain`).
const DEFINITE: &[u16] = &[0, 1, 2, 5, 6, 7, 8, 9, 46, 64, 74, 81, 83, 85, 93, 94];

pub fn run(data: &[u8]) {
    let xml = decode_text(data);
    let Ok(reply) = parse_ncresponse(&xml) else {
        return;
    };
    check(&reply);
    let rendered = render(&reply);
    match parse_ncresponse(&rendered) {
        Ok(again) => assert_eq!(again, reply, "re-rendered reply differs: {rendered:?}"),
        Err(e) => panic!("re-rendered reply does not parse ({e}): {rendered:?}"),
    }
}

fn check(r: &NcResponse) {
    let outcome = r.outcome();
    let reason_ok = |reason: &guichet_psp::ogone::directlink::Reason| {
        assert_eq!(reason.nc_error, r.nc_error);
        assert_eq!(reason.text, r.nc_error_plus);
    };
    match &outcome {
        Outcome::Captured => assert_eq!(r.status, 9),
        Outcome::Authorized => assert_eq!(r.status, 5),
        Outcome::Pending3ds { html } => {
            assert_eq!(r.status, 46);
            assert_eq!(Some(html), r.html_answer.as_ref());
        }
        Outcome::Declined { reason } => {
            assert!(matches!(r.status, 0 | 2 | 93), "declined for {}", r.status);
            if r.status == 0 {
                assert_ne!(r.nc_error.as_deref(), Some(NCERROR_DUPLICATE_ORDER_ID));
            }
            reason_ok(reason);
        }
        Outcome::Cancelled => assert!(matches!(r.status, 1 | 6 | 64 | 7 | 74)),
        Outcome::RefundPending => assert_eq!(r.status, 81),
        Outcome::Refunded => assert!(matches!(r.status, 8 | 85)),
        Outcome::RefundRefused { reason } => {
            assert!(matches!(r.status, 83 | 94));
            reason_ok(reason);
        }
        Outcome::Uncertain => {
            let definite = DEFINITE.contains(&r.status)
                && !(r.status == 46 && r.html_answer.is_none())
                && !(r.status == 0 && r.nc_error.as_deref() == Some(NCERROR_DUPLICATE_ORDER_ID));
            assert!(!definite, "STATUS {} read as uncertain", r.status);
        }
    }
    if !DEFINITE.contains(&r.status) {
        assert_eq!(
            outcome,
            Outcome::Uncertain,
            "undocumented STATUS {}",
            r.status
        );
    }

    // Only STATUS, NCERROR (and NCERRORPLUS, the reason's text) and HTML_ANSWER matter.
    let other = NcResponse {
        order_id: Some("other".into()),
        pay_id: Some("123".into()),
        pay_id_sub: None,
        nc_status: None,
        acceptance: None,
        eci: None,
        amount: Some("1".into()),
        currency: Some("EUR".into()),
        pm: None,
        brand: None,
        alias: Some("other".into()),
        card_number: None,
        ed: None,
        cvc_check: None,
        ..r.clone()
    };
    assert_eq!(other.outcome(), outcome);

    // querydirect.
    let no_payid = matches!(r.pay_id.as_deref(), None | Some("0"));
    let not_received =
        r.status == 0 && no_payid && r.nc_error.as_deref() == Some(NCERROR_UNKNOWN_ORDER);
    match r.query_outcome() {
        QueryOutcome::NotReceived => assert!(not_received),
        QueryOutcome::Known(o) => {
            assert!(!not_received);
            assert_eq!(o, outcome);
        }
    }

    // Alias deletion.
    let ok_code = matches!(r.nc_error.as_deref(), None | Some("0"));
    let deletion = AliasDeleteOutcome::of(r);
    match &deletion {
        AliasDeleteOutcome::Deleted => assert!(ok_code && r.status == STATUS_ALIAS_DELETED),
        AliasDeleteOutcome::Uncertain => assert!(ok_code && r.status != STATUS_ALIAS_DELETED),
        AliasDeleteOutcome::UnknownAlias => {
            assert_eq!(r.nc_error.as_deref(), Some(NCERROR_UNKNOWN_ORDER))
        }
        AliasDeleteOutcome::Refused { reason } => {
            assert!(!ok_code);
            assert_ne!(r.nc_error.as_deref(), Some(NCERROR_UNKNOWN_ORDER));
            reason_ok(reason);
        }
    }
    assert_eq!(
        deletion.is_gone(),
        matches!(
            deletion,
            AliasDeleteOutcome::Deleted | AliasDeleteOutcome::UnknownAlias
        )
    );

    // Card data and amounts.
    if let Some(card) = &r.card_number {
        assert_masked(card);
    }
    if let Some(expiry) = r.expiry() {
        assert_eq!(Some(expiry.to_mmyy().as_str()), r.ed.as_deref());
    }
    match r.amount_minor() {
        Ok(Some(minor)) => {
            let currency = r.currency.as_deref().unwrap_or_default();
            let info = currency_by_alpha(currency).expect("converted with a known currency");
            let text = minor_to_decimal(minor, info.exponent);
            assert_eq!(decimal_to_minor_in(&text, currency), Ok(minor));
        }
        Ok(None) => assert!(r.amount.is_none()),
        Err(_) => assert!(r.amount.is_some()),
    }
    for text in [&r.nc_error, &r.nc_error_plus, &r.order_id, &r.alias] {
        assert_ne!(text.as_deref(), Some(""), "empty attributes are None");
    }
}

/// The reply as XML: every attribute escaped, HTML_ANSWER re-encoded in base64.
fn render(r: &NcResponse) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><ncresponse");
    let mut attr = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&apos;"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    };
    attr("orderID", r.order_id.as_deref());
    attr("PAYID", r.pay_id.as_deref());
    attr("PAYIDSUB", r.pay_id_sub.as_deref());
    attr("NCSTATUS", r.nc_status.as_deref());
    attr("NCERROR", r.nc_error.as_deref());
    attr("NCERRORPLUS", r.nc_error_plus.as_deref());
    attr("ACCEPTANCE", r.acceptance.as_deref());
    attr("STATUS", Some(&r.status.to_string()));
    attr("ECI", r.eci.as_deref());
    attr("amount", r.amount.as_deref());
    attr("currency", r.currency.as_deref());
    attr("PM", r.pm.as_deref());
    attr("BRAND", r.brand.as_deref());
    attr("ALIAS", r.alias.as_deref());
    attr(
        "CARDNO",
        r.card_number
            .as_ref()
            .map(guichet_psp::card::MaskedCardNumber::as_str),
    );
    attr("ED", r.ed.as_deref());
    attr("CVCCheck", r.cvc_check.as_deref());
    out.push('>');
    if let Some(html) = &r.html_answer {
        out.push_str("<HTML_ANSWER>");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(html.as_bytes()));
        out.push_str("</HTML_ANSWER>");
    }
    out.push_str("</ncresponse>");
    out
}

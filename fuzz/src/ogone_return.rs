//! Ogone return and feedback parameters: `guichet_psp::ogone::params::parse_query`,
//! `guichet_psp::ogone::feedback::Feedback::verify` (post-sale feedback, 3-D Secure return) and
//! `guichet_psp::ogone::alias::AliasReturn::verify` (Alias Gateway return), with a fixed SHA-OUT
//! passphrase and each of SHA-1, SHA-256 and SHA-512.
//!
//! Input: a query string (lossy UTF-8), as the browser or the provider sends it.
//!
//! Random bytes almost never carry a valid SHASIGN, so every input is tried twice: as received
//! (the seed corpus holds correctly signed messages, whose mutations keep their signature when
//! they touch unsigned parameters), and signed by the target itself with the right passphrase
//! (which reaches the field checks behind the signature).
//!
//! Properties:
//! - `parse_query`: encoding the pairs again and parsing gives the same pairs; a leading `?`
//!   changes nothing;
//! - a message signed with the right passphrase is never refused for its signature; it is
//!   refused as `DuplicateParameter` exactly when a signed name (case-insensitive) repeats;
//! - a verified message re-signs to its own SHASIGN (SHA-OUT over its signed parameters);
//!   a lower-case SHASIGN verifies the same; any changed signed value, a flipped SHASIGN
//!   character, another passphrase or another algorithm is `BadSignature`;
//! - the fields read equal the signed values (orderID, PAYID, STATUS, currency, amount in
//!   minor units by the currency's exponent, CN, ALIAS, COMPLUS…); NCERROR is `None` exactly
//!   when absent or all zeros; TRXDATE and ED write back to what was signed; the unsigned list
//!   is exactly the parameters outside the SHA-OUT list, never a signed one;
//! - a kept CARDNO is masked (at most BIN + last 4); with Alias Gateway STATUS 0 or 2 an
//!   unmasked CARDNO refuses the message; `is_usable` needs STATUS 0/2, an alias and no error;
//! - `Feedback::check_matches` accepts the feedback's own order, amount, currency and PAYID,
//!   and refuses another amount.

use std::collections::BTreeMap;

use guichet_psp::amount::{currency_by_alpha, decimal_to_minor};
use guichet_psp::card::MaskedCardNumber;
use guichet_psp::ogone::alias::{AliasReturn, AliasStatus};
use guichet_psp::ogone::feedback::{Expected, Feedback, Mismatch};
use guichet_psp::ogone::params::{VerifyError, parse_query};
use guichet_psp::ogone::signature::{HashAlgorithm, is_sha_out_parameter, sha_out};

use crate::util::{assert_masked, pick};

/// The SHA-OUT passphrase of the reference's vectors (section 2.2).
pub const PASS: &str = "Mysecretsig1875!?";
pub const ALGS: [HashAlgorithm; 3] = [
    HashAlgorithm::Sha1,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha512,
];

pub fn run(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let params = parse_query(&raw);
    check_parse_query(&raw, &params);
    for alg in ALGS {
        // As received.
        if let Ok(f) = Feedback::verify(&params, PASS, alg) {
            check_signature(&params, alg);
            check_feedback(&params, &f);
        }
        if let Ok(a) = AliasReturn::verify(&params, PASS, alg) {
            check_signature(&params, alg);
            check_alias(&params, &a);
        }
    }
    // Signed by us, with one algorithm per input (the tampering checks cost a dozen digests).
    let alg = ALGS[pick(data, ALGS.len())];
    let signed = sign(&params, alg);
    let duplicate = has_duplicate_signed_name(&signed);
    let feedback = Feedback::verify(&signed, PASS, alg);
    check_signed_result(feedback.as_ref().err(), duplicate);
    if let Ok(f) = &feedback {
        check_feedback(&signed, f);
        check_tampering(data, &signed, alg, |p, pass, alg| {
            Feedback::verify(p, pass, alg).map(|_| ())
        });
    }
    let alias = AliasReturn::verify(&signed, PASS, alg);
    check_signed_result(alias.as_ref().err(), duplicate);
    if let Ok(a) = &alias {
        check_alias(&signed, a);
        check_tampering(data, &signed, alg, |p, pass, alg| {
            AliasReturn::verify(p, pass, alg).map(|_| ())
        });
    }
}

fn check_parse_query(raw: &str, params: &[(String, String)]) {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    assert_eq!(parse_query(&encoded), params, "re-encoded query differs");
    if !raw.starts_with('?') {
        assert_eq!(parse_query(&format!("?{raw}")), params);
    }
}

/// `params` without any SHASIGN, then the right SHASIGN for `alg` and [`PASS`].
pub fn sign(params: &[(String, String)], alg: HashAlgorithm) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("SHASIGN"))
        .cloned()
        .collect();
    let sig = sha_out(&refs(&out), PASS, alg);
    out.push(("SHASIGN".to_owned(), sig));
    out
}

fn refs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn is_signed_name(name: &str) -> bool {
    is_sha_out_parameter(&name.to_ascii_uppercase())
}

fn has_duplicate_signed_name(params: &[(String, String)]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    params
        .iter()
        .map(|(k, _)| k.to_ascii_uppercase())
        .filter(|k| k == "SHASIGN" || is_sha_out_parameter(k))
        .any(|k| !seen.insert(k))
}

/// Signed parameters by upper-case name, non-empty values only (no duplicates: verified).
fn signed_map(params: &[(String, String)]) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, v)| is_signed_name(k) && !v.is_empty())
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect()
}

fn unsigned_list(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(k, _)| !is_signed_name(k) && !k.eq_ignore_ascii_case("SHASIGN"))
        .cloned()
        .collect()
}

fn check_signed_result(err: Option<&VerifyError>, duplicate: bool) {
    match err {
        Some(VerifyError::BadSignature | VerifyError::MissingSignature) => {
            panic!("a correctly signed message was refused: {err:?}")
        }
        Some(VerifyError::DuplicateParameter(_)) => assert!(duplicate),
        _ => assert!(!duplicate, "a repeated signed name was accepted: {err:?}"),
    }
}

/// A verified message's SHASIGN is the SHA-OUT of its signed parameters (hex case ignored).
fn check_signature(params: &[(String, String)], alg: HashAlgorithm) {
    let given = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("SHASIGN"))
        .map(|(_, v)| v.as_str())
        .expect("verified without SHASIGN");
    let resigned = sha_out(&refs(params), PASS, alg);
    assert!(
        resigned.eq_ignore_ascii_case(given),
        "SHASIGN {given} verified, SHA-OUT gives {resigned}"
    );
    assert_eq!(given.len(), alg.hex_len());
    assert!(!has_duplicate_signed_name(params));
}

fn check_tampering<F>(data: &[u8], signed: &[(String, String)], alg: HashAlgorithm, verify: F)
where
    F: Fn(&[(String, String)], &str, HashAlgorithm) -> Result<(), VerifyError>,
{
    let last = signed.len() - 1; // SHASIGN, pushed by `sign`.
    // A lower-case signature verifies the same.
    let mut lower = signed.to_vec();
    lower[last].1 = lower[last].1.to_ascii_lowercase();
    assert_eq!(
        verify(&lower, PASS, alg),
        Ok(()),
        "lower-case SHASIGN refused"
    );
    // A changed signed value.
    let candidates: Vec<usize> = signed[..last]
        .iter()
        .enumerate()
        .filter(|(_, (k, v))| is_signed_name(k) && !v.is_empty())
        .map(|(i, _)| i)
        .collect();
    if !candidates.is_empty() {
        let i = candidates[pick(data, candidates.len())];
        let mut p = signed.to_vec();
        p[i].1.push('0');
        assert_eq!(verify(&p, PASS, alg), Err(VerifyError::BadSignature));
        // An added signed field (a name the message does not have).
        let mut p = signed.to_vec();
        if let Some(name) = ["COMPLUS", "IP", "SUBBRAND", "TICKET"]
            .into_iter()
            .find(|n| !signed.iter().any(|(k, _)| k.eq_ignore_ascii_case(n)))
        {
            p.insert(0, (name.to_owned(), "x".to_owned()));
            assert_eq!(verify(&p, PASS, alg), Err(VerifyError::BadSignature));
        }
    }
    // A flipped signature character.
    let mut p = signed.to_vec();
    let sig = &mut p[last].1;
    let pos = pick(data, sig.len());
    let flipped: String = sig
        .char_indices()
        .map(|(j, c)| {
            if j == pos {
                if c == '0' { '1' } else { '0' }
            } else {
                c
            }
        })
        .collect();
    *sig = flipped;
    assert_eq!(verify(&p, PASS, alg), Err(VerifyError::BadSignature));
    // Another passphrase, another algorithm.
    assert_eq!(
        verify(signed, "another passphrase", alg),
        Err(VerifyError::BadSignature)
    );
    for other in ALGS.into_iter().filter(|a| *a != alg) {
        assert_eq!(verify(signed, PASS, other), Err(VerifyError::BadSignature));
    }
}

fn check_feedback(params: &[(String, String)], f: &Feedback) {
    let s = signed_map(params);
    let get = |n: &str| s.get(n).cloned();
    assert_eq!(Some(&f.order_id), s.get("ORDERID"));
    assert_eq!(Some(&f.pay_id), s.get("PAYID"));
    let status = s.get("STATUS").expect("STATUS");
    assert!(status.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(status.parse::<u16>().ok(), Some(f.status));
    assert_eq!(Some(&f.currency), s.get("CURRENCY"));
    let exponent = currency_by_alpha(&f.currency)
        .expect("a known currency")
        .exponent;
    assert_eq!(
        decimal_to_minor(s.get("AMOUNT").expect("AMOUNT"), exponent),
        Ok(f.amount_minor)
    );
    assert_eq!(f.holder, get("CN"));
    assert_eq!(f.alias, get("ALIAS"));
    assert_eq!(f.complus, get("COMPLUS"));
    assert_eq!(f.pm, get("PM"));
    assert_eq!(f.brand, get("BRAND"));
    assert_eq!(f.eci, get("ECI"));
    assert_eq!(f.acceptance, get("ACCEPTANCE"));
    assert_eq!(f.ip, get("IP"));
    check_error_code(f.nc_error.as_deref(), s.get("NCERROR"));
    if let Some(card) = &f.card_number {
        assert_masked(card);
        assert_eq!(Some(card.as_str()), s.get("CARDNO").map(String::as_str));
    } else {
        assert!(!s.contains_key("CARDNO"));
    }
    match f.expiry {
        Some(e) => assert_eq!(Some(&e.to_mmyy()), s.get("ED")),
        None => assert!(!s.contains_key("ED")),
    }
    match f.trx_date {
        Some(d) => {
            let written = format!(
                "{:02}/{:02}/{:02}",
                u8::from(d.month()),
                d.day(),
                d.year() - 2000
            );
            assert_eq!(Some(&written), s.get("TRXDATE"));
        }
        None => assert!(!s.contains_key("TRXDATE")),
    }
    assert_eq!(f.unsigned, unsigned_list(params));
    for (k, _) in &f.unsigned {
        assert!(!is_signed_name(k) && !k.eq_ignore_ascii_case("SHASIGN"));
    }
    let expected = Expected {
        order_id: &f.order_id,
        amount_minor: f.amount_minor,
        currency: &f.currency,
        pay_id: Some(&f.pay_id),
    };
    assert_eq!(f.check_matches(&expected), Ok(()));
    if let Some(other) = f.amount_minor.checked_add(1) {
        let e = Expected {
            amount_minor: other,
            ..expected
        };
        assert!(matches!(f.check_matches(&e), Err(Mismatch::Amount { .. })));
    }
}

/// An NCERROR-style code: `None` exactly when absent or all zeros, else the digits.
fn check_error_code(read: Option<&str>, signed: Option<&String>) {
    match signed {
        None => assert_eq!(read, None),
        Some(v) if v.bytes().all(|b| b == b'0') => assert_eq!(read, None),
        Some(v) => assert_eq!(read, Some(v.as_str())),
    }
}

fn check_alias(params: &[(String, String)], a: &AliasReturn) {
    let s = signed_map(params);
    let get = |n: &str| s.get(n).cloned();
    assert_eq!(Some(&a.order_id), s.get("ORDERID"));
    let status = s.get("STATUS").expect("STATUS");
    assert!(status.bytes().all(|b| b.is_ascii_digit()));
    let want = match status.parse::<u16>() {
        Ok(0) => AliasStatus::Ok,
        Ok(1) => AliasStatus::NotOk,
        Ok(2) => AliasStatus::Updated,
        other => panic!("STATUS {other:?} accepted"),
    };
    assert_eq!(a.status, want);
    assert_eq!(a.alias, get("ALIAS"));
    assert_eq!(a.brand, get("BRAND"));
    assert_eq!(a.holder, get("CN"));
    check_error_code(a.nc_error.as_deref(), s.get("NCERROR"));
    check_error_code(
        a.field_errors.card_number.as_deref(),
        s.get("NCERRORCARDNO"),
    );
    check_error_code(a.field_errors.holder.as_deref(), s.get("NCERRORCN"));
    check_error_code(a.field_errors.cvc.as_deref(), s.get("NCERRORCVC"));
    check_error_code(a.field_errors.expiry.as_deref(), s.get("NCERRORED"));
    let strict = a.status != AliasStatus::NotOk;
    if let Some(card) = &a.card_number {
        assert_masked(card);
        assert_eq!(Some(card.as_str()), s.get("CARDNO").map(String::as_str));
    } else if strict {
        assert!(!s.contains_key("CARDNO"), "an unmasked CARDNO was accepted");
    } else if let Some(raw) = s.get("CARDNO") {
        assert!(
            MaskedCardNumber::parse(raw).is_err(),
            "masked CARDNO dropped"
        );
    }
    if let Some(e) = a.expiry {
        assert_eq!(Some(&e.to_mmyy()), s.get("ED"));
    } else if strict {
        assert!(!s.contains_key("ED"), "an invalid ED was accepted");
    }
    if strict {
        assert!(a.alias.is_some(), "STATUS 0/2 without ALIAS accepted");
    }
    assert_eq!(a.unsigned, unsigned_list(params));
    if a.is_usable() {
        assert!(strict && a.alias.is_some() && a.nc_error.is_none());
        assert!(a.field_errors.is_empty());
    }
    if let Some(alias) = &a.alias {
        assert_eq!(a.is_usable_for(alias), a.is_usable());
        assert!(!a.is_usable_for(&format!("{alias}x")));
    }
}

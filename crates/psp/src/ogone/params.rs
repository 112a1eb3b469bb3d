//! Parameters Ogone sends through the buyer's browser (redirect query strings) or posts to the
//! merchant (post-sale feedback), authenticated by a SHA-OUT `SHASIGN`.
//!
//! Verification (shared/reference/psp-protocols.md, sections 2.1 and 5): names are
//! case-insensitive; the SHA-OUT signature covers the non-empty parameters of the SHA-OUT list;
//! the comparison is constant-time and case-insensitive. On top of that, this module refuses a
//! message in which a signed name (or `SHASIGN`) appears twice, so that no reader can pick a
//! different copy than the one that was checked. Parameters outside the SHA-OUT list (PARAMPLUS
//! passthrough, anything appended to the URL) are kept apart as **unsigned**.

use std::collections::BTreeMap;

use super::signature::{HashAlgorithm, is_sha_out_parameter, verify_sha_out};
use crate::amount::AmountError;
use crate::card::{CardDataError, CardExpiry, MaskedCardNumber};

/// Parses a raw query string (`a=1&b=x%20y`, with or without the leading `?`) or an
/// `application/x-www-form-urlencoded` body into name/value pairs: `&`-separated,
/// percent-decoded, `+` read as a space, in order, duplicates kept.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// Why a signed message from Ogone (Alias Gateway return, feedback) was refused. Messages name
/// fields, never their values (they may be card data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `SHASIGN`, or an empty one.
    #[error("SHASIGN missing")]
    MissingSignature,
    /// `SHASIGN` does not match the parameters (tampering, or a wrong SHA-OUT passphrase or
    /// algorithm).
    #[error("SHASIGN does not match")]
    BadSignature,
    /// A signed parameter (or SHASIGN) given more than once (upper-cased name).
    #[error("parameter {0} given more than once")]
    DuplicateParameter(String),
    /// A field the message must have is missing or empty.
    #[error("{0} missing")]
    MissingField(&'static str),
    /// A field has a value of the wrong shape.
    #[error("{0} is invalid")]
    InvalidField(&'static str),
    /// `CARDNO` is not masked: the message is refused and the value is not kept.
    #[error("CARDNO: {0}")]
    Card(CardDataError),
    /// `amount` could not be converted to minor units.
    #[error("amount: {0}")]
    Amount(AmountError),
}

/// A message whose SHA-OUT signature verified.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Signed parameters (SHA-OUT list), by upper-cased name, non-empty values only.
    signed: BTreeMap<String, String>,
    /// Everything else except `SHASIGN`, as received (not authenticated).
    pub(crate) unsigned: Vec<(String, String)>,
}

/// Checks `SHASIGN` over `params` with the SHA-OUT rule; see the module documentation.
pub(crate) fn verify(
    params: &[(String, String)],
    sha_out_passphrase: &str,
    alg: HashAlgorithm,
) -> Result<Verified, VerifyError> {
    let mut signature: Option<&str> = None;
    let mut signed = BTreeMap::new();
    let mut unsigned = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in params {
        let upper = name.to_ascii_uppercase();
        if upper == "SHASIGN" || is_sha_out_parameter(&upper) {
            if !seen.insert(upper.clone()) {
                return Err(VerifyError::DuplicateParameter(upper));
            }
            if upper == "SHASIGN" {
                signature = Some(value);
            } else if !value.is_empty() {
                signed.insert(upper, value.clone());
            }
        } else {
            unsigned.push((name.clone(), value.clone()));
        }
    }
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingSignature)?;
    let refs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !verify_sha_out(&refs, sha_out_passphrase, alg, signature) {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified { signed, unsigned })
}

impl Verified {
    /// A signed, non-empty value (`name` upper case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.signed.get(name).map(String::as_str)
    }

    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<&str, VerifyError> {
        self.get(name).ok_or(VerifyError::MissingField(name))
    }

    /// An NCERROR-style code: `None` when absent or `0` (however many zeros).
    pub(crate) fn error_code(&self, name: &'static str) -> Result<Option<String>, VerifyError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if !v.bytes().all(|b| b.is_ascii_digit()) => {
                Err(VerifyError::InvalidField(name))
            }
            Some(v) if v.bytes().all(|b| b == b'0') => Ok(None),
            Some(v) => Ok(Some(v.to_owned())),
        }
    }

    /// A masked `CARDNO`, refused (never kept) when it is not masked.
    pub(crate) fn card_number(&self) -> Result<Option<MaskedCardNumber>, VerifyError> {
        self.get("CARDNO")
            .map(MaskedCardNumber::parse)
            .transpose()
            .map_err(VerifyError::Card)
    }

    /// `ED` (`MMYY`).
    pub(crate) fn expiry(&self) -> Result<Option<CardExpiry>, VerifyError> {
        self.get("ED")
            .map(CardExpiry::parse_mmyy)
            .transpose()
            .map_err(|_| VerifyError::InvalidField("ED"))
    }
}

/// A number made of ASCII digits only, as `u16`.
pub(crate) fn parse_u16(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogone::signature::sha_out;

    fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            parse_query("?A=1&cn=Some+Name&ED=03%2F12&EMPTY=&x"),
            owned(&[
                ("A", "1"),
                ("cn", "Some Name"),
                ("ED", "03/12"),
                ("EMPTY", ""),
                ("x", "")
            ])
        );
        assert_eq!(parse_query(""), vec![]);
        assert_eq!(
            parse_query("CN=Ren%C3%A9&CN=2"),
            owned(&[("CN", "René"), ("CN", "2")])
        );
    }

    #[test]
    fn signed_and_unsigned_are_kept_apart() {
        let base = [("orderID", "1"), ("STATUS", "9"), ("return_url", "/x")];
        let sign = sha_out(&base, "k", HashAlgorithm::Sha256);
        let mut params = owned(&base);
        params.push(("shasign".into(), sign.to_ascii_lowercase()));
        let v = verify(&params, "k", HashAlgorithm::Sha256).unwrap();
        assert_eq!(v.get("ORDERID"), Some("1"));
        assert_eq!(v.get("RETURN_URL"), None);
        assert_eq!(v.unsigned, owned(&[("return_url", "/x")]));
    }

    #[test]
    fn duplicates_and_missing_signature() {
        let base = [("orderID", "1"), ("STATUS", "9")];
        let sign = sha_out(&base, "k", HashAlgorithm::Sha1);
        let mut params = owned(&base);
        params.push(("SHASIGN".into(), sign.clone()));
        assert!(verify(&params, "k", HashAlgorithm::Sha1).is_ok());
        let mut dup = params.clone();
        dup.push(("status".into(), "9".into()));
        assert_eq!(
            verify(&dup, "k", HashAlgorithm::Sha1).unwrap_err(),
            VerifyError::DuplicateParameter("STATUS".into())
        );
        let mut dup = params.clone();
        dup.push(("ShaSign".into(), sign));
        assert_eq!(
            verify(&dup, "k", HashAlgorithm::Sha1).unwrap_err(),
            VerifyError::DuplicateParameter("SHASIGN".into())
        );
        assert_eq!(
            verify(&owned(&base), "k", HashAlgorithm::Sha1).unwrap_err(),
            VerifyError::MissingSignature
        );
        let mut empty = owned(&base);
        empty.push(("SHASIGN".into(), String::new()));
        assert_eq!(
            verify(&empty, "k", HashAlgorithm::Sha1).unwrap_err(),
            VerifyError::MissingSignature
        );
        // Unsigned names may repeat (PARAMPLUS passthrough is the merchant's business).
        let mut rep = params.clone();
        rep.push(("x".into(), "1".into()));
        rep.push(("x".into(), "2".into()));
        assert!(verify(&rep, "k", HashAlgorithm::Sha1).is_ok());
    }

    #[test]
    fn error_codes() {
        let base = [
            ("NCERROR", "0"),
            ("NCERRORCN", "0000"),
            ("NCERRORED", "50001005"),
        ];
        let sign = sha_out(&base, "k", HashAlgorithm::Sha1);
        let mut params = owned(&base);
        params.push(("SHASIGN".into(), sign));
        let v = verify(&params, "k", HashAlgorithm::Sha1).unwrap();
        assert_eq!(v.error_code("NCERROR"), Ok(None));
        assert_eq!(v.error_code("NCERRORCN"), Ok(None));
        assert_eq!(v.error_code("NCERRORCVC"), Ok(None));
        assert_eq!(v.error_code("NCERRORED"), Ok(Some("50001005".into())));
    }
}

//! Ogone SHA-IN and SHA-OUT signatures ("new" method, the only one for accounts since 2010).
//!
//! Rule (shared/reference/psp-protocols.md, section 2.1 "Algorithm"):
//! 1. every parameter except `SHASIGN`;
//! 2. parameters with an empty value are dropped;
//! 3. names are upper-cased, values are left untouched (case-sensitive, not URL-encoded);
//! 4. only the names of the relevant list take part (see below);
//! 5. sorted by name, with `_` and `.` ordered before digits and letters
//!    (`SCO_CATEGORY` < `SCORING`, `OR_ORDERID` < `ORDERID`);
//! 6. `NAME=value` followed by the passphrase, for every parameter, concatenated;
//! 7. SHA-1, SHA-256 or SHA-512 (an account setting), upper-case hex;
//! 8. verification compares case-insensitively.
//!
//! Parameter selection:
//! - **SHA-IN** ([`sha_in`]): every parameter given except `SHASIGN`. The reference only gives
//!   an abridged SHA-IN list (about 200 names in full), so filtering by it could silently leave
//!   a sent parameter unsigned; like ActiveMerchant, the caller signs what it sends and sends
//!   only parameters Ogone knows.
//! - **SHA-OUT** ([`sha_out`]): only the names of [`SHA_OUT_PARAMETERS`]; anything else
//!   (PARAMPLUS passthrough, unknown fields) is ignored.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::ct::hex_eq_ignore_case;

/// The digest an Ogone account is configured with (back office, "Global security parameters").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// 40 hex characters. Still offered by Ogone; the reference's vectors V2 and V4 use it.
    Sha1,
    /// 64 hex characters.
    Sha256,
    /// 128 hex characters.
    Sha512,
}

impl HashAlgorithm {
    /// Reads an account's setting: `SHA-1`, `SHA-256`, `SHA-512` (also `sha1`, `SHA_256`, …).
    pub fn parse(text: &str) -> Option<HashAlgorithm> {
        let compact: String = text
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_uppercase();
        match compact.as_str() {
            "SHA1" => Some(HashAlgorithm::Sha1),
            "SHA256" => Some(HashAlgorithm::Sha256),
            "SHA512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Length of the hex signature this algorithm produces.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha512 => 128,
        }
    }

    fn digest_upper_hex(self, data: &[u8]) -> String {
        match self {
            HashAlgorithm::Sha1 => hex::encode_upper(Sha1::digest(data)),
            HashAlgorithm::Sha256 => hex::encode_upper(Sha256::digest(data)),
            HashAlgorithm::Sha512 => hex::encode_upper(Sha512::digest(data)),
        }
    }
}

/// Names that take part in the SHA-OUT signature, in byte order.
///
/// Source: shared/reference/psp-protocols.md, section 2.1, "SHA-OUT list [ING
/// `ShaOutParameterFilter.php`]", plus the names Odoo's list adds (IBAN, NCERRORCARDNO, NCERRORCN,
/// NCERRORCVC, NCERRORED), which section 3.1 says matter for the Alias Gateway output.
pub const SHA_OUT_PARAMETERS: &[&str] = &[
    "AAVADDRESS",
    "AAVCHECK",
    "AAVMAIL",
    "AAVNAME",
    "AAVPHONE",
    "AAVZIP",
    "ACCEPTANCE",
    "ALIAS",
    "AMOUNT",
    "BIC",
    "BIN",
    "BRAND",
    "CARDNO",
    "CCCTY",
    "CH_AUTHENTICATION_INFO",
    "CN",
    "COLLECTOR_BIC",
    "COLLECTOR_IBAN",
    "COMPLUS",
    "CREATION_STATUS",
    "CREDITDEBIT",
    "CURRENCY",
    "CVCCHECK",
    "DCC_COMMPERCENTAGE",
    "DCC_CONVAMOUNT",
    "DCC_CONVCCY",
    "DCC_EXCHRATE",
    "DCC_EXCHRATESOURCE",
    "DCC_EXCHRATETS",
    "DCC_INDICATOR",
    "DCC_MARGINPERCENTAGE",
    "DCC_VALIDHOURS",
    "DEVICEID",
    "DIGESTCARDNO",
    "ECI",
    "ED",
    "EMAIL",
    "ENCCARDNO",
    "FXAMOUNT",
    "FXCURRENCY",
    "IBAN",
    "IP",
    "IPCTY",
    "MANDATEID",
    "MOBILEMODE",
    "NBREMAILUSAGE",
    "NBRIPUSAGE",
    "NBRIPUSAGE_ALLTX",
    "NBRUSAGE",
    "NCERROR",
    "NCERRORCARDNO",
    "NCERRORCN",
    "NCERRORCVC",
    "NCERRORED",
    "ORDERID",
    "PAYID",
    "PAYIDSUB",
    "PAYMENT_REFERENCE",
    "PM",
    "SCORING",
    "SCO_CATEGORY",
    "SEQUENCETYPE",
    "SIGNDATE",
    "STATUS",
    "SUBBRAND",
    "SUBSCRIPTION_ID",
    "TICKET",
    "TRXDATE",
    "VC",
];

/// Whether an (upper-cased) name takes part in the SHA-OUT signature.
pub fn is_sha_out_parameter(upper_name: &str) -> bool {
    SHA_OUT_PARAMETERS.binary_search(&upper_name).is_ok()
}

/// Ogone's sort key: `_` and `.` sort before every digit and letter.
fn sort_key(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes()
        .map(|b| if b == b'_' || b == b'.' { 0x01 } else { b })
}

/// The string that is hashed: the selected pairs as `NAME=value` + passphrase, in Ogone's order.
fn signing_string<F>(params: &[(&str, &str)], passphrase: &str, take: F) -> String
where
    F: Fn(&str) -> bool,
{
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_ascii_uppercase(), *value))
        .filter(|(name, _)| name != "SHASIGN" && take(name))
        .collect();
    // Stable: a name given twice keeps the order it was given in.
    pairs.sort_by(|(a, _), (b, _)| sort_key(a).cmp(sort_key(b)));
    let mut out = String::new();
    for (name, value) in pairs {
        out.push_str(&name);
        out.push('=');
        out.push_str(value);
        out.push_str(passphrase);
    }
    out
}

/// The string hashed for a SHA-IN signature (exposed for diagnostics and tests; it contains the
/// passphrase, so never log it).
pub fn sha_in_string(params: &[(&str, &str)], passphrase: &str) -> String {
    signing_string(params, passphrase, |_| true)
}

/// The string hashed for a SHA-OUT signature (contains the passphrase: never log it).
pub fn sha_out_string(params: &[(&str, &str)], passphrase: &str) -> String {
    signing_string(params, passphrase, is_sha_out_parameter)
}

/// SHA-IN signature (`SHASIGN`) of a request to Ogone, upper-case hex.
pub fn sha_in(params: &[(&str, &str)], passphrase: &str, alg: HashAlgorithm) -> String {
    alg.digest_upper_hex(sha_in_string(params, passphrase).as_bytes())
}

/// SHA-OUT signature of a message from Ogone (redirect or post-sale feedback), upper-case hex.
pub fn sha_out(params: &[(&str, &str)], passphrase: &str, alg: HashAlgorithm) -> String {
    alg.digest_upper_hex(sha_out_string(params, passphrase).as_bytes())
}

/// Checks the `SHASIGN` of a request (what the provider simulator does), case-insensitively and
/// in constant time.
pub fn verify_sha_in(
    params: &[(&str, &str)],
    passphrase: &str,
    alg: HashAlgorithm,
    given: &str,
) -> bool {
    hex_eq_ignore_case(&sha_in(params, passphrase, alg), given)
}

/// Checks the `SHASIGN` of a message from Ogone, case-insensitively and in constant time.
/// `params` may contain `SHASIGN` itself; it is ignored.
pub fn verify_sha_out(
    params: &[(&str, &str)],
    passphrase: &str,
    alg: HashAlgorithm,
    given: &str,
) -> bool {
    hex_eq_ignore_case(&sha_out(params, passphrase, alg), given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_out_list_is_sorted_for_binary_search() {
        assert!(SHA_OUT_PARAMETERS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn underscore_sorts_before_letters_and_digits() {
        // shared/reference/psp-protocols.md, section 2.1 step 5.
        let params = [
            ("SCORING", "1"),
            ("SCO_CATEGORY", "G"),
            ("ORDERID", "2"),
            ("OR_ORDERID", "3"),
            ("ALIAS.ORDERID", "4"),
            ("ALIAS0", "5"),
        ];
        assert_eq!(
            sha_in_string(&params, "p"),
            "ALIAS.ORDERID=4pALIAS0=5pOR_ORDERID=3pORDERID=2pSCO_CATEGORY=GpSCORING=1p"
        );
    }

    #[test]
    fn names_upper_cased_values_untouched_empty_and_shasign_dropped() {
        let params = [
            ("orderID", "ab C"),
            ("EMPTY", ""),
            ("shasign", "X"),
            ("amount", "1"),
        ];
        assert_eq!(sha_in_string(&params, "k"), "AMOUNT=1kORDERID=ab Ck");
    }

    #[test]
    fn sha_out_ignores_unlisted_names() {
        let params = [("STATUS", "9"), ("return_url", "/x"), ("foo", "bar")];
        assert_eq!(sha_out_string(&params, "k"), "STATUS=9k");
    }

    #[test]
    fn hex_lengths() {
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
        ] {
            let s = sha_in(&[("A", "1")], "p", alg);
            assert_eq!(s.len(), alg.hex_len());
            assert_eq!(s, s.to_ascii_uppercase());
        }
    }
}

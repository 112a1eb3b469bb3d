//! Ogone Alias Gateway: the browser form that sends the buyer's card straight to Ogone, and the
//! signed redirect that comes back with the alias (docs/PROVIDERS.md, "Alias Gateway";
//! shared/reference/psp-protocols.md, section 3.1).
//!
//! Guichet renders [`AliasGatewayForm::build`]'s hidden fields in a form whose `action` is the
//! gateway; the buyer types `CN`, `CARDNO`, `ED`, `CVC` into that form (never into Guichet), and
//! Ogone redirects the browser to `ACCEPTURL` or `EXCEPTIONURL` with the result, which
//! [`AliasReturn::verify`] checks.

use super::params::{self, Verified, VerifyError, parse_u16};
use super::signature::{HashAlgorithm, sha_in, verify_sha_in};
use crate::call::parse_base_url;
use crate::card::{CardExpiry, MaskedCardNumber};

pub use super::params::parse_query;
pub use crate::form::HtmlForm;

/// The names the Alias Gateway's SHA-IN covers, and only these: the card fields the buyer types
/// are not signed (section 3.1 [ML `AliasShaInParameterFilter.php`]; docs/PROVIDERS.md).
pub const ALIAS_GATEWAY_SHA_IN_PARAMETERS: &[&str] = &[
    "ACCEPTURL",
    "ALIAS",
    "ALIASPERSISTEDAFTERUSE",
    "BRAND",
    "EXCEPTIONURL",
    "LANGUAGE",
    "ORDERID",
    "PARAMPLUS",
    "PSPID",
];

/// The page of the gateway below the Ogone base URL (`…/ncol/test/`); the UTF-8 variant
/// (section 3.1: "use `Alias_gateway_utf8.asp` to force UTF-8"; the simulator serves both).
pub const ALIAS_GATEWAY_PAGE: &str = "alias_gateway_utf8.asp";

fn alias_signed(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), (*v).to_owned()))
        .filter(|(k, _)| ALIAS_GATEWAY_SHA_IN_PARAMETERS.contains(&k.as_str()))
        .collect()
}

fn as_refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The Alias Gateway SHA-IN of a set of form fields: the SHA-IN rule over only the names of
/// [`ALIAS_GATEWAY_SHA_IN_PARAMETERS`] (names case-insensitive); any other field (card data,
/// `SHASIGN`) is ignored.
pub fn alias_gateway_sha_in(
    params: &[(&str, &str)],
    sha_in_passphrase: &str,
    alg: HashAlgorithm,
) -> String {
    sha_in(&as_refs(&alias_signed(params)), sha_in_passphrase, alg)
}

/// Checks a posted Alias Gateway form's `SHASIGN` (what the gateway, or the simulator, does):
/// constant time, case-insensitive hex.
pub fn verify_alias_gateway_sha_in(
    params: &[(&str, &str)],
    sha_in_passphrase: &str,
    alg: HashAlgorithm,
    given: &str,
) -> bool {
    verify_sha_in(
        &as_refs(&alias_signed(params)),
        sha_in_passphrase,
        alg,
        given,
    )
}

/// Why a gateway form could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasFormError {
    /// A mandatory field is empty (`PSPID`, `ORDERID`, `ACCEPTURL`, `EXCEPTIONURL`).
    #[error("{0} is mandatory")]
    MissingField(&'static str),
    /// The Ogone base URL is not usable.
    #[error(transparent)]
    BaseUrl(#[from] crate::call::BaseUrlError),
}

/// The hidden fields of an Alias Gateway form (docs/PROVIDERS.md, "Hidden fields given by
/// Guichet"). Build with [`AliasGatewayForm::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasGatewayForm {
    /// `PSPID`.
    pub pspid: String,
    /// `ORDERID`: ties the return to Guichet's payment attempt.
    pub order_id: String,
    /// `ACCEPTURL`: where the browser goes when the card data was accepted.
    pub accept_url: String,
    /// `EXCEPTIONURL`: where it goes when the card data was refused.
    pub exception_url: String,
    /// `ALIASPERSISTEDAFTERUSE`: `Y` keeps the alias (saved card), `N` lets Ogone delete it
    /// after use (section 3.1: after 2 hours).
    pub alias_persisted_after_use: bool,
    /// `ALIAS`: an existing alias (saved card: only the CVC is typed again).
    pub alias: Option<String>,
    /// `PARAMPLUS`: `k=v&k2=v2`, given back as extra (unsigned) parameters.
    pub param_plus: Option<String>,
    /// `LANGUAGE` (`en_US`, `fr_FR`).
    pub language: Option<String>,
    /// `BRAND` (`VISA`…).
    pub brand: Option<String>,
}

impl AliasGatewayForm {
    /// The mandatory fields.
    pub fn new(
        pspid: impl Into<String>,
        order_id: impl Into<String>,
        accept_url: impl Into<String>,
        exception_url: impl Into<String>,
        alias_persisted_after_use: bool,
    ) -> AliasGatewayForm {
        AliasGatewayForm {
            pspid: pspid.into(),
            order_id: order_id.into(),
            accept_url: accept_url.into(),
            exception_url: exception_url.into(),
            alias_persisted_after_use,
            alias: None,
            param_plus: None,
            language: None,
            brand: None,
        }
    }

    /// `ALIAS`: reuse a saved card.
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// `PARAMPLUS`.
    pub fn with_param_plus(mut self, param_plus: impl Into<String>) -> Self {
        self.param_plus = Some(param_plus.into());
        self
    }

    /// `LANGUAGE`.
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// `BRAND`.
    pub fn with_brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = Some(brand.into());
        self
    }

    /// The hidden fields, empty optional ones left out, in the order `PSPID, ORDERID,
    /// ACCEPTURL, EXCEPTIONURL, ALIASPERSISTEDAFTERUSE, ALIAS, PARAMPLUS, LANGUAGE, BRAND`,
    /// without `SHASIGN`.
    pub fn unsigned_fields(&self) -> Vec<(String, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let persisted = if self.alias_persisted_after_use {
            "Y"
        } else {
            "N"
        };
        [
            ("PSPID", self.pspid.clone()),
            ("ORDERID", self.order_id.clone()),
            ("ACCEPTURL", self.accept_url.clone()),
            ("EXCEPTIONURL", self.exception_url.clone()),
            ("ALIASPERSISTEDAFTERUSE", persisted.to_owned()),
            ("ALIAS", opt(&self.alias)),
            ("PARAMPLUS", opt(&self.param_plus)),
            ("LANGUAGE", opt(&self.language)),
            ("BRAND", opt(&self.brand)),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The form: `action` = `{base_url}alias_gateway_utf8.asp` (`base_url` is the Ogone base,
    /// `…/ncol/test/`; a missing final `/` is added), fields = [`Self::unsigned_fields`] then
    /// `SHASIGN` (Alias Gateway SHA-IN, [`alias_gateway_sha_in`]).
    pub fn build(
        &self,
        base_url: &str,
        sha_in_passphrase: &str,
        alg: HashAlgorithm,
    ) -> Result<HtmlForm, AliasFormError> {
        for (name, value) in [
            ("PSPID", &self.pspid),
            ("ORDERID", &self.order_id),
            ("ACCEPTURL", &self.accept_url),
            ("EXCEPTIONURL", &self.exception_url),
        ] {
            if value.is_empty() {
                return Err(AliasFormError::MissingField(name));
            }
        }
        let action = crate::call::endpoint(&parse_base_url(base_url)?, ALIAS_GATEWAY_PAGE);
        let mut fields = self.unsigned_fields();
        let sign = alias_gateway_sha_in(&as_refs(&fields), sha_in_passphrase, alg);
        fields.push(("SHASIGN".to_owned(), sign));
        Ok(HtmlForm {
            action: action.into(),
            fields,
        })
    }
}

/// `STATUS` of an Alias Gateway return (section 3.1 [P-AGUPD; ML]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AliasStatus {
    /// `0`: the alias was created (or the saved card's CVC taken).
    Ok,
    /// `1`: the card data was refused; see the NCERROR fields.
    NotOk,
    /// `2`: an existing alias was updated.
    Updated,
}

/// Per-field errors of a refused card (`NCERRORCARDNO`, `NCERRORCN`, `NCERRORCVC`,
/// `NCERRORED`); `None` when the field was fine (`0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasFieldErrors {
    /// `NCERRORCARDNO` (e.g. `50001054` bad number).
    pub card_number: Option<String>,
    /// `NCERRORCN`.
    pub holder: Option<String>,
    /// `NCERRORCVC` (e.g. `50001066` CVC format).
    pub cvc: Option<String>,
    /// `NCERRORED` (e.g. `50001005` expiry).
    pub expiry: Option<String>,
}

impl AliasFieldErrors {
    /// Whether every field is fine.
    pub fn is_empty(&self) -> bool {
        *self == AliasFieldErrors::default()
    }
}

/// The verified result of an Alias Gateway redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasReturn {
    /// `ORDERID`, as given in the form.
    pub order_id: String,
    /// `STATUS`.
    pub status: AliasStatus,
    /// `ALIAS`: present when the status is `Ok` or `Updated`.
    pub alias: Option<String>,
    /// `BRAND`.
    pub brand: Option<String>,
    /// `CARDNO`, masked.
    pub card_number: Option<MaskedCardNumber>,
    /// `CN`, the holder's name.
    pub holder: Option<String>,
    /// `ED`.
    pub expiry: Option<CardExpiry>,
    /// `NCERROR`; `None` when `0`.
    pub nc_error: Option<String>,
    /// The per-field errors.
    pub field_errors: AliasFieldErrors,
    /// Parameters outside the SHA-OUT list (the PARAMPLUS pairs): **not authenticated**.
    pub unsigned: Vec<(String, String)>,
}

/// Why an Alias Gateway return was refused.
pub type AliasReturnError = VerifyError;

impl AliasReturn {
    /// Verifies and reads the redirect's query parameters ([`parse_query`] turns a raw query
    /// string into them). Names are case-insensitive; `SHASIGN` is checked with the SHA-OUT
    /// rule, in constant time, before any field is read.
    ///
    /// Card fields: with `STATUS` 0 or 2 a `CARDNO` that is not masked, or an `ED` that is not
    /// `MMYY`, refuses the whole message. With `STATUS` 1 (the buyer's input was refused, and
    /// may be echoed back) such values are dropped (`None`) so that the error codes can still
    /// be read; an unmasked number is never kept either way.
    pub fn verify(
        params: &[(String, String)],
        sha_out_passphrase: &str,
        alg: HashAlgorithm,
    ) -> Result<AliasReturn, AliasReturnError> {
        let v: Verified = params::verify(params, sha_out_passphrase, alg)?;
        let order_id = v.required("ORDERID")?.to_owned();
        let status = match v.required("STATUS").map(parse_u16)? {
            Some(0) => AliasStatus::Ok,
            Some(1) => AliasStatus::NotOk,
            Some(2) => AliasStatus::Updated,
            _ => return Err(VerifyError::InvalidField("STATUS")),
        };
        let lenient = status == AliasStatus::NotOk;
        let card_number = match v.card_number() {
            Err(_) if lenient => None,
            other => other?,
        };
        let expiry = match v.expiry() {
            Err(_) if lenient => None,
            other => other?,
        };
        let alias = v.opt("ALIAS");
        if !lenient && alias.is_none() {
            return Err(VerifyError::MissingField("ALIAS"));
        }
        Ok(AliasReturn {
            order_id,
            status,
            alias,
            brand: v.opt("BRAND"),
            card_number,
            holder: v.opt("CN"),
            expiry,
            nc_error: v.error_code("NCERROR")?,
            field_errors: AliasFieldErrors {
                card_number: v.error_code("NCERRORCARDNO")?,
                holder: v.error_code("NCERRORCN")?,
                cvc: v.error_code("NCERRORCVC")?,
                expiry: v.error_code("NCERRORED")?,
            },
            unsigned: v.unsigned,
        })
    }

    /// Whether the alias can be used for a DirectLink order: status `Ok` or `Updated`, an
    /// alias, and no error code.
    pub fn is_usable(&self) -> bool {
        matches!(self.status, AliasStatus::Ok | AliasStatus::Updated)
            && self.alias.is_some()
            && self.nc_error.is_none()
            && self.field_errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardDataError;
    use crate::ogone::signature::{sha_in_string, sha_out};

    const PASS: &str = "Mysecretsig1875!?";

    fn form() -> AliasGatewayForm {
        AliasGatewayForm::new(
            "GUICHETTEST",
            "G-42",
            "https://guichet.example/ogone/accept",
            "https://guichet.example/ogone/exception",
            true,
        )
    }

    #[test]
    fn minimal_form_wire_format() {
        let f = form()
            .build(
                "http://127.0.0.1:8091/ncol/test/",
                PASS,
                HashAlgorithm::Sha512,
            )
            .unwrap();
        assert_eq!(
            f.action,
            "http://127.0.0.1:8091/ncol/test/alias_gateway_utf8.asp"
        );
        let names: Vec<&str> = f.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PSPID",
                "ORDERID",
                "ACCEPTURL",
                "EXCEPTIONURL",
                "ALIASPERSISTEDAFTERUSE",
                "SHASIGN"
            ]
        );
        assert_eq!(f.fields[4].1, "Y");
        let signed = &f.fields[..f.fields.len() - 1];
        assert_eq!(
            sha_in_string(&as_refs(signed), PASS),
            format!(
                "ACCEPTURL=https://guichet.example/ogone/accept{PASS}\
                 ALIASPERSISTEDAFTERUSE=Y{PASS}\
                 EXCEPTIONURL=https://guichet.example/ogone/exception{PASS}\
                 ORDERID=G-42{PASS}PSPID=GUICHETTEST{PASS}"
            )
        );
        assert_eq!(
            f.fields[5].1,
            sha_in(&as_refs(signed), PASS, HashAlgorithm::Sha512)
        );
        assert_eq!(f.fields[5].1.len(), 128);
        // Base URL without its final slash.
        let g = form()
            .build(
                "http://127.0.0.1:8091/ncol/test",
                PASS,
                HashAlgorithm::Sha512,
            )
            .unwrap();
        assert_eq!(g, f);
    }

    #[test]
    fn full_form_wire_format() {
        let f = AliasGatewayForm::new("P", "O", "https://a", "https://e", false)
            .with_alias("ALIAS-1")
            .with_param_plus("attempt=7&k=v")
            .with_language("fr_FR")
            .with_brand("VISA")
            .build("https://ogone.test/ncol/test/", "pp", HashAlgorithm::Sha256)
            .unwrap();
        let want: Vec<(String, String)> = [
            ("PSPID", "P"),
            ("ORDERID", "O"),
            ("ACCEPTURL", "https://a"),
            ("EXCEPTIONURL", "https://e"),
            ("ALIASPERSISTEDAFTERUSE", "N"),
            ("ALIAS", "ALIAS-1"),
            ("PARAMPLUS", "attempt=7&k=v"),
            ("LANGUAGE", "fr_FR"),
            ("BRAND", "VISA"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(&f.fields[..9], &want[..]);
        assert_eq!(
            sha_in_string(&as_refs(&want), "pp"),
            "ACCEPTURL=https://appALIAS=ALIAS-1ppALIASPERSISTEDAFTERUSE=NppBRAND=VISApp\
             EXCEPTIONURL=https://eppLANGUAGE=fr_FRppORDERID=OppPARAMPLUS=attempt=7&k=vppPSPID=Ppp"
        );
        assert_eq!(f.fields[9].0, "SHASIGN");
        assert!(verify_alias_gateway_sha_in(
            &as_refs(&f.fields),
            "pp",
            HashAlgorithm::Sha256,
            &f.fields[9].1
        ));
    }

    #[test]
    fn card_fields_are_not_signed() {
        let f = form()
            .build("https://o/ncol/test/", PASS, HashAlgorithm::Sha256)
            .unwrap();
        let sign = f.fields.last().unwrap().1.clone();
        // What the browser posts: the hidden fields plus the typed card fields.
        let mut posted = as_refs(&f.fields);
        posted.extend([
            ("CN", "Jane Doe"),
            ("CARDNO", "4111111111111111"),
            ("ED", "1230"),
            ("CVC", "123"),
        ]);
        assert!(verify_alias_gateway_sha_in(
            &posted,
            PASS,
            HashAlgorithm::Sha256,
            &sign
        ));
        assert!(verify_alias_gateway_sha_in(
            &posted,
            PASS,
            HashAlgorithm::Sha256,
            &sign.to_ascii_lowercase()
        ));
        // A signed field tampered with, a wrong passphrase: refused.
        let mut tampered = posted.clone();
        tampered[1].1 = "G-43";
        assert!(!verify_alias_gateway_sha_in(
            &tampered,
            PASS,
            HashAlgorithm::Sha256,
            &sign
        ));
        assert!(!verify_alias_gateway_sha_in(
            &posted,
            "other",
            HashAlgorithm::Sha256,
            &sign
        ));
    }

    #[test]
    fn form_rejects_missing_mandatory_fields() {
        let mut f = form();
        f.accept_url.clear();
        assert_eq!(
            f.build("https://o/ncol/test/", PASS, HashAlgorithm::Sha1),
            Err(AliasFormError::MissingField("ACCEPTURL"))
        );
        assert!(matches!(
            form().build("not a url", PASS, HashAlgorithm::Sha1),
            Err(AliasFormError::BaseUrl(_))
        ));
    }

    // --- Return --------------------------------------------------------------------------

    fn ok_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ORDERID", "G-42"),
            ("ALIAS", "A1B2C3"),
            ("BRAND", "VISA"),
            ("CARDNO", "XXXXXXXXXXXX1111"),
            ("CN", "Jane Doe"),
            ("ED", "1230"),
            ("STATUS", "0"),
            ("NCERROR", "0"),
            ("NCERRORCARDNO", "0"),
            ("NCERRORCN", "0"),
            ("NCERRORCVC", "0"),
            ("NCERRORED", "0"),
        ]
    }

    /// Signs like the gateway: SHA-OUT over the fields, then PARAMPLUS pairs, unsigned.
    fn redirect(fields: &[(&str, &str)], pass: &str, alg: HashAlgorithm) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        out.push(("SHASIGN".into(), sha_out(fields, pass, alg)));
        out.push(("attempt".into(), "7".into()));
        out
    }

    #[test]
    fn verifies_a_successful_return() {
        let params = redirect(&ok_params(), PASS, HashAlgorithm::Sha512);
        let r = AliasReturn::verify(&params, PASS, HashAlgorithm::Sha512).unwrap();
        assert_eq!(r.order_id, "G-42");
        assert_eq!(r.status, AliasStatus::Ok);
        assert_eq!(r.alias.as_deref(), Some("A1B2C3"));
        assert_eq!(r.brand.as_deref(), Some("VISA"));
        assert_eq!(r.card_number.as_ref().unwrap().as_str(), "XXXXXXXXXXXX1111");
        assert_eq!(r.holder.as_deref(), Some("Jane Doe"));
        let ed = r.expiry.unwrap();
        assert_eq!((ed.month(), ed.year()), (12, 2030));
        assert_eq!(r.nc_error, None);
        assert!(r.field_errors.is_empty());
        assert_eq!(r.unsigned, vec![("attempt".to_owned(), "7".to_owned())]);
        assert!(r.is_usable());
    }

    #[test]
    fn names_are_case_insensitive_and_raw_query_works() {
        let params = redirect(&ok_params(), PASS, HashAlgorithm::Sha256);
        let query: String = params
            .iter()
            .map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(&k, v)
                    .finish()
            })
            .collect::<Vec<_>>()
            .join("&");
        let parsed = parse_query(&format!("?{query}"));
        let r = AliasReturn::verify(&parsed, PASS, HashAlgorithm::Sha256).unwrap();
        assert_eq!(r.holder.as_deref(), Some("Jane Doe"));
        assert_eq!(r.status, AliasStatus::Ok);
    }

    #[test]
    fn updated_and_refused_returns() {
        let mut fields = ok_params();
        fields[6].1 = "2";
        let r = AliasReturn::verify(
            &redirect(&fields, PASS, HashAlgorithm::Sha1),
            PASS,
            HashAlgorithm::Sha1,
        )
        .unwrap();
        assert_eq!(r.status, AliasStatus::Updated);
        assert!(r.is_usable());

        // STATUS 1 with field errors; the buyer's bad expiry is echoed and dropped; the card
        // number was not a number and comes back empty.
        let refused = [
            ("ORDERID", "G-42"),
            ("ALIAS", ""),
            ("BRAND", ""),
            ("CARDNO", ""),
            ("CN", "Jane Doe"),
            ("ED", "1399"),
            ("STATUS", "1"),
            ("NCERROR", "50001005"),
            ("NCERRORCARDNO", "50001054"),
            ("NCERRORCN", "0"),
            ("NCERRORCVC", "50001066"),
            ("NCERRORED", "50001005"),
        ];
        let r = AliasReturn::verify(
            &redirect(&refused, PASS, HashAlgorithm::Sha512),
            PASS,
            HashAlgorithm::Sha512,
        )
        .unwrap();
        assert_eq!(r.status, AliasStatus::NotOk);
        assert_eq!(r.alias, None);
        assert_eq!(r.card_number, None);
        assert_eq!(r.expiry, None);
        assert_eq!(r.nc_error.as_deref(), Some("50001005"));
        assert_eq!(
            r.field_errors,
            AliasFieldErrors {
                card_number: Some("50001054".into()),
                holder: None,
                cvc: Some("50001066".into()),
                expiry: Some("50001005".into()),
            }
        );
        assert!(!r.is_usable());

        // STATUS 1 with an unmasked number echoed: dropped, never kept.
        let mut echoed = refused;
        echoed[3].1 = "4111111111111112";
        let r = AliasReturn::verify(
            &redirect(&echoed, PASS, HashAlgorithm::Sha512),
            PASS,
            HashAlgorithm::Sha512,
        )
        .unwrap();
        assert_eq!(r.card_number, None);
        assert!(!format!("{r:?}").contains("4111111111111112"));
    }

    #[test]
    fn rejections() {
        let alg = HashAlgorithm::Sha512;
        let good = redirect(&ok_params(), PASS, alg);
        assert!(AliasReturn::verify(&good, PASS, alg).is_ok());

        // Every flipped character of the signature.
        let sign_at = good.iter().position(|(k, _)| k == "SHASIGN").unwrap();
        for i in 0..good[sign_at].1.len() {
            let mut p = good.clone();
            let mut b = p[sign_at].1.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            p[sign_at].1 = String::from_utf8(b).unwrap();
            assert_eq!(
                AliasReturn::verify(&p, PASS, alg),
                Err(VerifyError::BadSignature)
            );
        }
        // One byte of a signed value.
        let mut p = good.clone();
        p[1].1 = "A1B2C4".into();
        assert_eq!(
            AliasReturn::verify(&p, PASS, alg),
            Err(VerifyError::BadSignature)
        );
        // Missing SHASIGN.
        let p: Vec<_> = good
            .iter()
            .filter(|(k, _)| k != "SHASIGN")
            .cloned()
            .collect();
        assert_eq!(
            AliasReturn::verify(&p, PASS, alg),
            Err(VerifyError::MissingSignature)
        );
        // Wrong passphrase, wrong algorithm.
        assert_eq!(
            AliasReturn::verify(&good, "other", alg),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            AliasReturn::verify(&good, PASS, HashAlgorithm::Sha256),
            Err(VerifyError::BadSignature)
        );
        // A second ALIAS appended to the URL.
        let mut p = good.clone();
        p.push(("alias".into(), "EVIL".into()));
        assert_eq!(
            AliasReturn::verify(&p, PASS, alg),
            Err(VerifyError::DuplicateParameter("ALIAS".into()))
        );
        // A full PAN, even signed, with STATUS 0.
        let mut fields = ok_params();
        fields[3].1 = "4111111111111111";
        let err = AliasReturn::verify(&redirect(&fields, PASS, alg), PASS, alg).unwrap_err();
        assert_eq!(err, VerifyError::Card(CardDataError::NotMasked));
        assert!(!err.to_string().contains("4111"));
        // Bad STATUS, missing ORDERID, STATUS 0 without alias, bad ED.
        let mut fields = ok_params();
        fields[6].1 = "3";
        assert_eq!(
            AliasReturn::verify(&redirect(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::InvalidField("STATUS"))
        );
        let fields: Vec<_> = ok_params().into_iter().skip(1).collect();
        assert_eq!(
            AliasReturn::verify(&redirect(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::MissingField("ORDERID"))
        );
        let mut fields = ok_params();
        fields[1].1 = "";
        assert_eq!(
            AliasReturn::verify(&redirect(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::MissingField("ALIAS"))
        );
        let mut fields = ok_params();
        fields[5].1 = "1330";
        assert_eq!(
            AliasReturn::verify(&redirect(&fields, PASS, alg), PASS, alg),
            Err(VerifyError::InvalidField("ED"))
        );
    }
}

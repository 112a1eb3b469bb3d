//! Ogone Alias Gateway: the browser form that sends the buyer's card straight to Ogone, and the
//! signed redirect that comes back with the alias (docs/PROVIDERS.md, "Alias Gateway";
//! shared/reference/psp-protocols.md, section 3.1).
//!
//! Guichet renders [`AliasGatewayForm::build`]'s hidden fields in a form whose `action` is the
//! gateway; the buyer types `CN`, `CARDNO`, `ED`, `CVC` into that form (never into Guichet), and
//! Ogone redirects the browser to `ACCEPTURL` or `EXCEPTIONURL` with the result, which
//! [`AliasReturn::verify`] checks.
//!
//! Saved cards (docs/PROVIDERS.md, "Saved cards"):
//! - `ALIASPERSISTEDAFTERUSE`: [`AliasGatewayForm::new`]'s `alias_persisted_after_use` —
//!   `true` (`Y`) keeps the alias (a saved card), `false` (`N`) lets Ogone delete it 2 hours
//!   later (a one-off card).
//! - CVC typed again for a saved card: [`AliasGatewayForm::saved_card_cvc`] (the existing
//!   `ALIAS`, the buyer types only `CVC`), then a DirectLink order with that alias; the return is
//!   checked with [`AliasReturn::is_usable_for`]. How the CVC reaches a stored alias is our
//!   reading of section 3.1, **\[UNCONFIRMED\]** there.
//! - Expiry date and holder name changed server to server ([`AliasUpdateRequest`], section
//!   3.1 [P-AGUPD]): the same gateway fields with the existing `ALIAS` and the X-ed `CARDNO`,
//!   no CVC; the redirect is not followed but read and verified ([`AliasUpdated::from_location`];
//!   the client is [`crate::ogone::client::DirectLink::update_alias`]).
//! - Deletion: [`super::alias_delete`] (**\[UNCONFIRMED — our design\]**).

use super::credentials::Credentials;
use super::params::{self, Verified, VerifyError, parse_u16};
use super::signature::{HashAlgorithm, sha_in, verify_sha_in};
use crate::call::{CallError, parse_base_url};
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

    /// The form that asks the buyer for the CVC of a saved card, before a customer-present
    /// DirectLink order with that alias (`ECI=7`). Hidden fields: the existing `ALIAS` and
    /// `ALIASPERSISTEDAFTERUSE=Y` (the card stays saved: `N` here would make it a temporary
    /// alias, deleted 2 hours later). The page shows a single `CVC` input (no card number, or
    /// the masked one as text); the gateway holds the CVC for the next order on that alias and
    /// redirects with `STATUS` 0 (or 2 if an expiry or name typed with it changed the card).
    /// Our reading of section 3.1, **\[UNCONFIRMED\]** there (docs/PROVIDERS.md, "Saved cards").
    pub fn saved_card_cvc(
        pspid: impl Into<String>,
        order_id: impl Into<String>,
        accept_url: impl Into<String>,
        exception_url: impl Into<String>,
        alias: impl Into<String>,
    ) -> AliasGatewayForm {
        AliasGatewayForm::new(pspid, order_id, accept_url, exception_url, true).with_alias(alias)
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

    /// [`Self::is_usable`], for this very alias: the check of a saved card's CVC return
    /// ([`AliasGatewayForm::saved_card_cvc`]). A return naming another alias is not the
    /// saved card's, whatever its status.
    pub fn is_usable_for(&self, alias: &str) -> bool {
        self.is_usable() && self.alias.as_deref() == Some(alias)
    }
}

// ---------------------------------------------------------------------------------------------
// Alias update (server to server)
// ---------------------------------------------------------------------------------------------

/// An alias update posted by Guichet's server to the Alias Gateway: new expiry date and holder
/// name for a saved card (section 3.1 [P-AGUPD]: "post the same fields with the existing ALIAS
/// and the X-ed CARDNO; CVC not needed; you get STATUS 2").
///
/// No card data is involved: the number sent is the masked one (`XXXXXXXXXXXX1111`), and no
/// CVC. The gateway answers with a `303` to `ACCEPTURL` (or `EXCEPTIONURL`), which is not
/// followed: its query string is read and verified ([`AliasUpdated::from_location`]). The URLs
/// are only ever seen in that `Location`; give Guichet's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasUpdateRequest {
    /// `ORDERID`: any reference; the return must carry it back.
    pub order_id: String,
    /// `ALIAS`: the saved card.
    pub alias: String,
    /// `CARDNO`: the saved card's masked number; sent X-ed (`X` for every position but the
    /// last 4), whatever mask it came with.
    pub card_number: MaskedCardNumber,
    /// `ED`: the new expiry (`MMYY`).
    pub expiry: CardExpiry,
    /// `CN`: the new holder name (send the current one if it does not change).
    pub holder: String,
    /// `ACCEPTURL`.
    pub accept_url: String,
    /// `EXCEPTIONURL`.
    pub exception_url: String,
    /// `BRAND` (optional; the gateway refuses one that does not match the card).
    pub brand: Option<String>,
    /// `LANGUAGE` (optional).
    pub language: Option<String>,
}

impl AliasUpdateRequest {
    /// The mandatory fields.
    pub fn new(
        order_id: impl Into<String>,
        alias: impl Into<String>,
        card_number: MaskedCardNumber,
        expiry: CardExpiry,
        holder: impl Into<String>,
        accept_url: impl Into<String>,
        exception_url: impl Into<String>,
    ) -> AliasUpdateRequest {
        AliasUpdateRequest {
            order_id: order_id.into(),
            alias: alias.into(),
            card_number,
            expiry,
            holder: holder.into(),
            accept_url: accept_url.into(),
            exception_url: exception_url.into(),
            brand: None,
            language: None,
        }
    }

    /// `BRAND`.
    pub fn with_brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = Some(brand.into());
        self
    }

    /// `LANGUAGE`.
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// `CARDNO` as sent: `X` for every position but the last 4.
    pub fn x_ed_card_number(&self) -> String {
        let masked = self.card_number.as_str();
        let len = masked.chars().count();
        masked
            .chars()
            .enumerate()
            .map(|(i, c)| if i + 4 >= len { c } else { 'X' })
            .collect()
    }

    /// The form to POST: the gateway's hidden fields `PSPID, ORDERID, ACCEPTURL, EXCEPTIONURL,
    /// ALIASPERSISTEDAFTERUSE=Y, ALIAS[, LANGUAGE][, BRAND]`, then `SHASIGN` (Alias Gateway
    /// SHA-IN over those only, [`alias_gateway_sha_in`]), then the card fields, unsigned as
    /// the buyer's would be: `CARDNO` (X-ed), `ED` (`MMYY`), `CN`. No `CVC`.
    pub fn to_form(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<(String, String)>, AliasFormError> {
        for (name, value) in [
            ("PSPID", &credentials.pspid),
            ("ORDERID", &self.order_id),
            ("ALIAS", &self.alias),
            ("ACCEPTURL", &self.accept_url),
            ("EXCEPTIONURL", &self.exception_url),
        ] {
            if value.trim().is_empty() {
                return Err(AliasFormError::MissingField(name));
            }
        }
        if self.holder.trim().is_empty() {
            return Err(AliasFormError::MissingField("CN"));
        }
        let mut gateway = AliasGatewayForm::new(
            credentials.pspid.clone(),
            self.order_id.clone(),
            self.accept_url.clone(),
            self.exception_url.clone(),
            true,
        )
        .with_alias(self.alias.clone());
        gateway.language = self.language.clone();
        gateway.brand = self.brand.clone();
        let mut fields = gateway.unsigned_fields();
        let sign = alias_gateway_sha_in(
            &as_refs(&fields),
            credentials.sha_in.expose(),
            credentials.algorithm,
        );
        fields.push(("SHASIGN".to_owned(), sign));
        fields.push(("CARDNO".to_owned(), self.x_ed_card_number()));
        fields.push(("ED".to_owned(), self.expiry.to_mmyy()));
        fields.push(("CN".to_owned(), self.holder.trim().to_owned()));
        Ok(fields)
    }
}

/// Why an alias update did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasUpdateError {
    /// The form could not be built (a mandatory field is empty).
    #[error("alias update form: {0}")]
    Form(#[from] AliasFormError),
    /// No redirect came back ([`CallError`]: `HttpStatus(400)` is the gateway's error page, a
    /// bad `SHASIGN` or `PSPID`). An update can be sent again as it is.
    #[error("alias update call: {0}")]
    Call(#[from] CallError),
    /// The redirect's parameters do not verify (SHA-OUT) or cannot be read.
    #[error("alias update return: {0}")]
    Verify(#[from] VerifyError),
    /// `STATUS` 1: the gateway refused the new data (e.g. `NCERRORED` 50001005: expiry in the
    /// past; `NCERROR` 50001130: the alias is unknown).
    #[error("alias update refused (NCERROR {nc_error:?})")]
    Refused {
        /// `NCERROR`.
        nc_error: Option<String>,
        /// The per-field errors.
        field_errors: AliasFieldErrors,
    },
    /// The return is about another `ORDERID` or `ALIAS` than the request's.
    #[error("alias update return is about another {0}")]
    Mismatch(&'static str),
    /// The return verifies but does not carry the requested `ED` or `CN`.
    #[error("alias update not applied: {0} differs")]
    NotApplied(&'static str),
}

/// A verified alias update: the card as the gateway now holds it (masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasUpdated {
    /// [`AliasStatus::Updated`] (`STATUS` 2), or [`AliasStatus::Ok`] when the data sent was
    /// already the stored data.
    pub status: AliasStatus,
    /// `ALIAS`.
    pub alias: String,
    /// `BRAND`.
    pub brand: Option<String>,
    /// `CARDNO`, masked.
    pub card_number: Option<MaskedCardNumber>,
    /// `ED`: the new expiry.
    pub expiry: CardExpiry,
    /// `CN`: the new holder name.
    pub holder: String,
}

impl AliasUpdated {
    /// Reads the gateway's redirect `location` (an absolute or relative URL; only its query
    /// string counts): verifies it like [`AliasReturn::verify`] (SHA-OUT), then checks that it
    /// answers `request` (same `ORDERID` and `ALIAS`, `STATUS` 0 or 2, the new `ED` and `CN`).
    pub fn from_location(
        location: &str,
        request: &AliasUpdateRequest,
        sha_out_passphrase: &str,
        alg: HashAlgorithm,
    ) -> Result<AliasUpdated, AliasUpdateError> {
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let ret = AliasReturn::verify(&parse_query(query), sha_out_passphrase, alg)?;
        if ret.order_id != request.order_id {
            return Err(AliasUpdateError::Mismatch("ORDERID"));
        }
        if !ret.is_usable() {
            return Err(AliasUpdateError::Refused {
                nc_error: ret.nc_error,
                field_errors: ret.field_errors,
            });
        }
        let Some(alias) = ret.alias.filter(|a| *a == request.alias) else {
            return Err(AliasUpdateError::Mismatch("ALIAS"));
        };
        let expiry = ret
            .expiry
            .filter(|e| *e == request.expiry)
            .ok_or(AliasUpdateError::NotApplied("ED"))?;
        let holder = ret
            .holder
            .filter(|h| h.trim() == request.holder.trim())
            .ok_or(AliasUpdateError::NotApplied("CN"))?;
        Ok(AliasUpdated {
            status: ret.status,
            alias,
            brand: ret.brand,
            card_number: ret.card_number,
            expiry,
            holder,
        })
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

    // --- Saved cards ---------------------------------------------------------------------

    #[test]
    fn saved_card_cvc_form_keeps_the_alias_persisted() {
        let f = AliasGatewayForm::saved_card_cvc(
            "GUICHETTEST",
            "G-42-cvc",
            "https://guichet.example/ok",
            "https://guichet.example/ko",
            "A1B2C3",
        )
        .with_language("fr_FR")
        .build("https://o/ncol/test/", PASS, HashAlgorithm::Sha512)
        .unwrap();
        let names: Vec<&str> = f.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PSPID",
                "ORDERID",
                "ACCEPTURL",
                "EXCEPTIONURL",
                "ALIASPERSISTEDAFTERUSE",
                "ALIAS",
                "LANGUAGE",
                "SHASIGN"
            ]
        );
        assert_eq!(f.fields[4].1, "Y");
        assert_eq!(f.fields[5].1, "A1B2C3");
        // No card field is among the hidden ones; the CVC the buyer types is not signed.
        let sign = f.fields.last().unwrap().1.clone();
        let mut posted = as_refs(&f.fields);
        posted.push(("CVC", "123"));
        assert!(verify_alias_gateway_sha_in(
            &posted,
            PASS,
            HashAlgorithm::Sha512,
            &sign
        ));
        assert_eq!(
            sha_in_string(&as_refs(&f.fields[..7]), PASS),
            format!(
                "ACCEPTURL=https://guichet.example/ok{PASS}ALIAS=A1B2C3{PASS}\
                 ALIASPERSISTEDAFTERUSE=Y{PASS}EXCEPTIONURL=https://guichet.example/ko{PASS}\
                 LANGUAGE=fr_FR{PASS}ORDERID=G-42-cvc{PASS}PSPID=GUICHETTEST{PASS}"
            )
        );
    }

    #[test]
    fn one_off_and_saved_card_forms() {
        let one_off = AliasGatewayForm::new("P", "O", "https://a", "https://e", false);
        let saved = AliasGatewayForm::new("P", "O", "https://a", "https://e", true);
        let flag = |f: &AliasGatewayForm| {
            f.unsigned_fields()
                .into_iter()
                .find(|(k, _)| k == "ALIASPERSISTEDAFTERUSE")
                .map(|(_, v)| v)
        };
        assert_eq!(flag(&one_off).as_deref(), Some("N"));
        assert_eq!(flag(&saved).as_deref(), Some("Y"));
        // The flag is signed: a browser turning N into Y breaks the signature.
        let f = one_off
            .build("https://o/ncol/test/", PASS, HashAlgorithm::Sha256)
            .unwrap();
        let sign = f.fields.last().unwrap().1.clone();
        let mut flipped = as_refs(&f.fields);
        flipped[4].1 = "Y";
        assert!(!verify_alias_gateway_sha_in(
            &flipped,
            PASS,
            HashAlgorithm::Sha256,
            &sign
        ));
    }

    #[test]
    fn usable_for_one_alias_only() {
        let r = AliasReturn::verify(
            &redirect(&ok_params(), PASS, HashAlgorithm::Sha512),
            PASS,
            HashAlgorithm::Sha512,
        )
        .unwrap();
        assert!(r.is_usable_for("A1B2C3"));
        assert!(!r.is_usable_for("A1B2C4"));
        assert!(!r.is_usable_for(""));
    }

    fn creds() -> Credentials {
        Credentials::new(
            "GUICHETTEST",
            "API",
            "guichet-test",
            PASS,
            PASS,
            HashAlgorithm::Sha512,
        )
    }

    fn update() -> AliasUpdateRequest {
        AliasUpdateRequest::new(
            "G-upd-1",
            "A1B2C3",
            MaskedCardNumber::parse("411111XXXXXX1111").unwrap(),
            CardExpiry::new(1, 2031).unwrap(),
            " Jane Q. Doe ",
            "https://guichet.example/ogone/alias-update",
            "https://guichet.example/ogone/alias-update",
        )
    }

    #[test]
    fn alias_update_wire_format() {
        let form = update().to_form(&creds()).unwrap();
        let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PSPID",
                "ORDERID",
                "ACCEPTURL",
                "EXCEPTIONURL",
                "ALIASPERSISTEDAFTERUSE",
                "ALIAS",
                "SHASIGN",
                "CARDNO",
                "ED",
                "CN"
            ]
        );
        let get = |n: &str| form.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("ALIASPERSISTEDAFTERUSE"), "Y");
        assert_eq!(get("CARDNO"), "XXXXXXXXXXXX1111");
        assert_eq!(get("ED"), "0131");
        assert_eq!(get("CN"), "Jane Q. Doe");
        assert!(form.iter().all(|(k, _)| k != "CVC" && k != "PSWD"));
        // SHASIGN: the Alias Gateway SHA-IN over the hidden fields only.
        let hidden = &form[..6];
        assert_eq!(
            sha_in_string(&as_refs(hidden), PASS),
            format!(
                "ACCEPTURL=https://guichet.example/ogone/alias-update{PASS}ALIAS=A1B2C3{PASS}\
                 ALIASPERSISTEDAFTERUSE=Y{PASS}\
                 EXCEPTIONURL=https://guichet.example/ogone/alias-update{PASS}\
                 ORDERID=G-upd-1{PASS}PSPID=GUICHETTEST{PASS}"
            )
        );
        assert_eq!(
            get("SHASIGN"),
            sha_in(&as_refs(hidden), PASS, HashAlgorithm::Sha512)
        );
        assert!(verify_alias_gateway_sha_in(
            &as_refs(&form),
            PASS,
            HashAlgorithm::Sha512,
            &get("SHASIGN")
        ));
        // With BRAND and LANGUAGE: signed too.
        let form = update()
            .with_brand("VISA")
            .with_language("fr_FR")
            .to_form(&creds())
            .unwrap();
        let sign = form.iter().find(|(k, _)| k == "SHASIGN").unwrap().1.clone();
        assert!(form.contains(&("BRAND".into(), "VISA".into())));
        let mut tampered = as_refs(&form);
        for pair in &mut tampered {
            if pair.0 == "BRAND" {
                pair.1 = "MasterCard";
            }
        }
        assert!(!verify_alias_gateway_sha_in(
            &tampered,
            PASS,
            HashAlgorithm::Sha512,
            &sign
        ));
        // Mandatory fields.
        let mut r = update();
        r.holder = "  ".into();
        assert_eq!(r.to_form(&creds()), Err(AliasFormError::MissingField("CN")));
        let mut r = update();
        r.alias.clear();
        assert_eq!(
            r.to_form(&creds()),
            Err(AliasFormError::MissingField("ALIAS"))
        );
    }

    fn update_location(fields: &[(&str, &str)], pass: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(redirect(fields, pass, HashAlgorithm::Sha512))
            .finish();
        format!("https://guichet.example/ogone/alias-update?{query}")
    }

    fn updated_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ORDERID", "G-upd-1"),
            ("ALIAS", "A1B2C3"),
            ("BRAND", "VISA"),
            ("CARDNO", "XXXXXXXXXXXX1111"),
            ("CN", "Jane Q. Doe"),
            ("ED", "0131"),
            ("STATUS", "2"),
            ("NCERROR", "0"),
            ("NCERRORCARDNO", "0"),
            ("NCERRORCN", "0"),
            ("NCERRORCVC", "0"),
            ("NCERRORED", "0"),
        ]
    }

    #[test]
    fn alias_update_return() {
        let alg = HashAlgorithm::Sha512;
        let read = |fields: &[(&str, &str)], pass: &str| {
            AliasUpdated::from_location(&update_location(fields, pass), &update(), PASS, alg)
        };
        let u = read(&updated_params(), PASS).unwrap();
        assert_eq!(u.status, AliasStatus::Updated);
        assert_eq!(u.alias, "A1B2C3");
        assert_eq!(u.expiry, CardExpiry::new(1, 2031).unwrap());
        assert_eq!(u.holder, "Jane Q. Doe");
        assert_eq!(u.card_number.unwrap().as_str(), "XXXXXXXXXXXX1111");
        assert_eq!(u.brand.as_deref(), Some("VISA"));
        // A relative Location works too; nothing changed → STATUS 0.
        let mut same = updated_params();
        same[6].1 = "0";
        let loc = update_location(&same, PASS);
        let relative = &loc[loc.find('?').unwrap()..];
        let u = AliasUpdated::from_location(relative, &update(), PASS, alg).unwrap();
        assert_eq!(u.status, AliasStatus::Ok);

        // Bad SHA-OUT, no query at all.
        assert_eq!(
            read(&updated_params(), "other"),
            Err(AliasUpdateError::Verify(VerifyError::BadSignature))
        );
        assert_eq!(
            AliasUpdated::from_location("https://guichet.example/x", &update(), PASS, alg),
            Err(AliasUpdateError::Verify(VerifyError::MissingSignature))
        );
        // Refused: expiry in the past; unknown alias.
        let mut refused = updated_params();
        refused[6].1 = "1";
        refused[7].1 = "50001005";
        refused[11].1 = "50001005";
        assert_eq!(
            read(&refused, PASS),
            Err(AliasUpdateError::Refused {
                nc_error: Some("50001005".into()),
                field_errors: AliasFieldErrors {
                    expiry: Some("50001005".into()),
                    ..AliasFieldErrors::default()
                },
            })
        );
        let mut unknown = updated_params();
        unknown[6].1 = "1";
        unknown[7].1 = "50001130";
        assert!(matches!(
            read(&unknown, PASS),
            Err(AliasUpdateError::Refused { nc_error: Some(e), .. }) if e == "50001130"
        ));
        // Another order, another alias, values not applied.
        let mut other = updated_params();
        other[0].1 = "G-upd-2";
        assert_eq!(
            read(&other, PASS),
            Err(AliasUpdateError::Mismatch("ORDERID"))
        );
        let mut other = updated_params();
        other[1].1 = "ZZZ";
        assert_eq!(read(&other, PASS), Err(AliasUpdateError::Mismatch("ALIAS")));
        let mut other = updated_params();
        other[5].1 = "1230";
        assert_eq!(read(&other, PASS), Err(AliasUpdateError::NotApplied("ED")));
        let mut other = updated_params();
        other[4].1 = "Jane Doe";
        assert_eq!(read(&other, PASS), Err(AliasUpdateError::NotApplied("CN")));
    }
}

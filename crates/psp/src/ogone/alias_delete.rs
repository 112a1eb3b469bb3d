//! Deleting an alias at Ogone — **\[UNCONFIRMED — our design\]**.
//!
//! shared/reference/psp-protocols.md gives no call that deletes an alias (section 3.1 only has
//! `ALIASPERSISTEDAFTERUSE=N`, "deleted after 2 h"). Guichet needs one to honour a buyer who
//! removes a saved card, so this is a wire form of our own, shaped like the DirectLink calls
//! the reference does document (section 1), and followed by both the connector and the
//! simulator (docs/PROVIDERS.md, "Alias deletion"). Against the real Ogone it has to be
//! checked, and replaced if Ogone's call differs.
//!
//! Request: `POST {base}aliasdirect_utf8.asp` (also `aliasdirect.asp`), form, server to server:
//! `PSPID, USERID, PSWD, ALIAS, ALIASOPERATION=DEL, SHASIGN` (SHA-IN over every field sent, as
//! for every DirectLink request, section 2.1; `ALIASOPERATION` is a SHA-IN name).
//!
//! Reply: an `<ncresponse>` (section 1.3 shape): `ALIAS, NCSTATUS, NCERROR, NCERRORPLUS,
//! STATUS`.
//! - deleted: `NCERROR=0`, `STATUS=7` (the STATUS table's "deleted", section 1.5);
//! - unknown alias (never created, already deleted, or a temporary alias past its 2 hours):
//!   `STATUS=0`, `NCERROR=50001130`;
//! - refused like any DirectLink request: `STATUS=0` with `50001118` (PSPID), `50001184`
//!   (SHA-IN), `50001119` (USERID/PSWD), `50001111` (missing ALIAS or ALIASOPERATION).

use super::credentials::Credentials;
use super::directlink::{NCERROR_UNKNOWN_ORDER, NcResponse, Reason};
use super::maintenance::signed_form;

/// The page below the Ogone base URL (the UTF-8 variant; the simulator serves both).
pub const ALIAS_DELETE_PAGE: &str = "aliasdirect_utf8.asp";
/// `ALIASOPERATION` of a deletion.
pub const ALIAS_OPERATION_DELETE: &str = "DEL";
/// `STATUS` of a deleted alias (section 1.5: 7, "payment deleted", borrowed).
pub const STATUS_ALIAS_DELETED: u16 = 7;

/// Deletes a saved card's alias at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasDeleteRequest {
    /// `ALIAS`.
    pub alias: String,
}

impl AliasDeleteRequest {
    /// Deletes `alias`.
    pub fn new(alias: impl Into<String>) -> AliasDeleteRequest {
        AliasDeleteRequest {
            alias: alias.into(),
        }
    }

    /// The form to POST: `PSPID, USERID, PSWD, ALIAS, ALIASOPERATION=DEL`, empty values left
    /// out, then `SHASIGN` (SHA-IN over the fields sent). Contains `PSWD`: never log it.
    pub fn to_form(&self, credentials: &Credentials) -> Vec<(String, String)> {
        signed_form(
            vec![
                ("PSPID", credentials.pspid.clone()),
                ("USERID", credentials.userid.clone()),
                ("PSWD", credentials.pswd.0.clone()),
                ("ALIAS", self.alias.trim().to_owned()),
                ("ALIASOPERATION", ALIAS_OPERATION_DELETE.to_owned()),
            ],
            credentials,
        )
    }
}

/// What a deletion reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasDeleteOutcome {
    /// `NCERROR=0`, `STATUS=7`: the alias is deleted.
    Deleted,
    /// `NCERROR=50001130`: the provider does not know the alias (already deleted, expired, or
    /// never created). The card is gone either way: a caller deleting a saved card can take
    /// this as done.
    UnknownAlias,
    /// Any other `NCERROR`: the request was refused (configuration: PSPID, SHA-IN, API user;
    /// or a missing field). The alias is still there.
    Refused {
        /// NCERROR and NCERRORPLUS.
        reason: Reason,
    },
    /// `NCERROR=0` with another `STATUS`: not a documented answer. Send the deletion again
    /// (it can be repeated: a second one answers [`AliasDeleteOutcome::UnknownAlias`]).
    Uncertain,
}

impl AliasDeleteOutcome {
    /// Reads a deletion reply.
    pub fn of(reply: &NcResponse) -> AliasDeleteOutcome {
        match reply.nc_error.as_deref() {
            None | Some("0") if reply.status == STATUS_ALIAS_DELETED => AliasDeleteOutcome::Deleted,
            None | Some("0") => AliasDeleteOutcome::Uncertain,
            Some(NCERROR_UNKNOWN_ORDER) => AliasDeleteOutcome::UnknownAlias,
            Some(_) => AliasDeleteOutcome::Refused {
                reason: reply.reason(),
            },
        }
    }

    /// Whether the alias no longer exists at the provider ([`AliasDeleteOutcome::Deleted`]
    /// or [`AliasDeleteOutcome::UnknownAlias`]).
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            AliasDeleteOutcome::Deleted | AliasDeleteOutcome::UnknownAlias
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogone::directlink::parse_ncresponse;
    use crate::ogone::signature::{HashAlgorithm, sha_in, sha_in_string, verify_sha_in};

    const P: &str = "Mysecretsig1875!?";

    fn creds(alg: HashAlgorithm) -> Credentials {
        Credentials::new("GUICHETTEST", "API", "guichet-test", P, P, alg)
    }

    fn refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn wire_format_and_signature() {
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
        ] {
            let form = AliasDeleteRequest::new(" A1B2C3 ").to_form(&creds(alg));
            let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                names,
                [
                    "PSPID",
                    "USERID",
                    "PSWD",
                    "ALIAS",
                    "ALIASOPERATION",
                    "SHASIGN"
                ]
            );
            assert_eq!(form[3].1, "A1B2C3");
            assert_eq!(form[4].1, "DEL");
            let fields = &form[..form.len() - 1];
            assert_eq!(
                sha_in_string(&refs(fields), P),
                format!(
                    "ALIAS=A1B2C3{P}ALIASOPERATION=DEL{P}PSPID=GUICHETTEST{P}\
                     PSWD=guichet-test{P}USERID=API{P}"
                )
            );
            let sign = &form.last().unwrap().1;
            assert_eq!(sign, &sha_in(&refs(fields), P, alg));
            assert_eq!(sign.len(), alg.hex_len());
            assert!(verify_sha_in(&refs(&form), P, alg, sign));
            // Another alias, another signature.
            let mut tampered = form.clone();
            tampered[3].1 = "A1B2C4".into();
            assert!(!verify_sha_in(&refs(&tampered), P, alg, sign));
        }
        // An empty alias is left out (the provider answers 50001111).
        let form = AliasDeleteRequest::new("").to_form(&creds(HashAlgorithm::Sha512));
        assert!(form.iter().all(|(k, _)| k != "ALIAS"));
        assert!(!format!("{:?}", AliasDeleteRequest::new("A")).contains("guichet-test"));
    }

    #[test]
    fn outcomes() {
        let of = |xml: &str| AliasDeleteOutcome::of(&parse_ncresponse(xml).unwrap());
        let deleted = of(
            r#"<?xml version="1.0"?><ncresponse ALIAS="A1" NCSTATUS="0" NCERROR="0" NCERRORPLUS="!" STATUS="7"></ncresponse>"#,
        );
        assert_eq!(deleted, AliasDeleteOutcome::Deleted);
        assert!(deleted.is_gone());
        let unknown = of(
            r#"<ncresponse ALIAS="A1" NCSTATUS="5" NCERROR="50001130" NCERRORPLUS="unknown alias" STATUS="0"/>"#,
        );
        assert_eq!(unknown, AliasDeleteOutcome::UnknownAlias);
        assert!(unknown.is_gone());
        let sha = of(
            r#"<ncresponse orderID="" PAYID="0" NCSTATUS="5" NCERROR="50001184" NCERRORPLUS="SHA Mismatch" STATUS="0"/>"#,
        );
        match &sha {
            AliasDeleteOutcome::Refused { reason } => assert!(reason.is_sha_mismatch()),
            other => panic!("{other:?}"),
        }
        assert!(!sha.is_gone());
        assert_eq!(
            of(r#"<ncresponse NCERROR="0" STATUS="9"/>"#),
            AliasDeleteOutcome::Uncertain
        );
        assert_eq!(
            of(r#"<ncresponse STATUS="7"/>"#),
            AliasDeleteOutcome::Deleted
        );
    }
}

//! DirectLink requests on an existing transaction: `maintenancedirect.asp` (capture, cancel,
//! refund) and `querydirect.asp` (status). Both replies are the `<ncresponse>` of
//! [`super::directlink`].
//!
//! Source: shared/reference/psp-protocols.md, sections 1.4 and 6; docs/PROVIDERS.md,
//! "Maintenance" and "Query". Signed like every DirectLink request: SHA-IN over every field
//! sent (non-empty), `PSWD` and `USERID` included (section 2.1).

use super::credentials::Credentials;
use super::signature::sha_in;

/// `OPERATION` of a maintenance request (section 1.4 [ML `MaintenanceOperation.php`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintenanceOperation {
    /// `RFD`: partial refund (more refunds possible).
    Refund,
    /// `RFS`: last or full refund (closes the transaction).
    RefundLast,
    /// `DES`: delete the authorisation and close the transaction (ActiveMerchant's "void").
    DeleteAndClose,
    /// `DEL`: delete the authorisation; the transaction stays open.
    Delete,
    /// `SAL`: partial capture (more captures possible).
    Capture,
    /// `SAS`: last or full capture (closes).
    CaptureLast,
}

impl MaintenanceOperation {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            MaintenanceOperation::Refund => "RFD",
            MaintenanceOperation::RefundLast => "RFS",
            MaintenanceOperation::DeleteAndClose => "DES",
            MaintenanceOperation::Delete => "DEL",
            MaintenanceOperation::Capture => "SAL",
            MaintenanceOperation::CaptureLast => "SAS",
        }
    }
}

/// A maintenance request on `PAYID` (`maintenancedirect.asp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceRequest {
    /// `PAYID` of the original transaction.
    pub pay_id: String,
    /// `OPERATION`.
    pub operation: MaintenanceOperation,
    /// `AMOUNT`, minor units (integer, "× 100" for EUR; section 1.2).
    pub amount_minor: u64,
    /// `CURRENCY`, ISO 4217 alpha-3.
    pub currency: String,
}

impl MaintenanceRequest {
    /// The form to POST: `PSPID, USERID, PSWD, PAYID, OPERATION, AMOUNT, CURRENCY`, empty
    /// values left out, then `SHASIGN`. Contains `PSWD`: never log it.
    pub fn to_form(&self, credentials: &Credentials) -> Vec<(String, String)> {
        signed_form(
            vec![
                ("PSPID", credentials.pspid.clone()),
                ("USERID", credentials.userid.clone()),
                ("PSWD", credentials.pswd.0.clone()),
                ("PAYID", self.pay_id.clone()),
                ("OPERATION", self.operation.code().to_owned()),
                ("AMOUNT", self.amount_minor.to_string()),
                ("CURRENCY", self.currency.clone()),
            ],
            credentials,
        )
    }
}

/// Which transaction a query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryBy {
    /// `ORDERID`: the merchant's reference (works even when the order reply was lost).
    OrderId(String),
    /// `PAYID`: Ogone's transaction id.
    PayId(String),
}

/// A status query (`querydirect.asp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// `ORDERID` or `PAYID`.
    pub by: QueryBy,
    /// `PAYIDSUB`: one history line (a maintenance operation) instead of the transaction.
    pub pay_id_sub: Option<String>,
}

impl QueryRequest {
    /// Query by `ORDERID`.
    pub fn by_order_id(order_id: impl Into<String>) -> QueryRequest {
        QueryRequest {
            by: QueryBy::OrderId(order_id.into()),
            pay_id_sub: None,
        }
    }

    /// Query by `PAYID`.
    pub fn by_pay_id(pay_id: impl Into<String>) -> QueryRequest {
        QueryRequest {
            by: QueryBy::PayId(pay_id.into()),
            pay_id_sub: None,
        }
    }

    /// Query one history line.
    pub fn with_pay_id_sub(mut self, pay_id_sub: impl Into<String>) -> QueryRequest {
        self.pay_id_sub = Some(pay_id_sub.into());
        self
    }

    /// The form to POST: `PSPID, USERID, PSWD, ORDERID | PAYID, PAYIDSUB`, empty values left
    /// out, then `SHASIGN`. Contains `PSWD`: never log it.
    pub fn to_form(&self, credentials: &Credentials) -> Vec<(String, String)> {
        let key = match &self.by {
            QueryBy::OrderId(id) => ("ORDERID", id.clone()),
            QueryBy::PayId(id) => ("PAYID", id.clone()),
        };
        signed_form(
            vec![
                ("PSPID", credentials.pspid.clone()),
                ("USERID", credentials.userid.clone()),
                ("PSWD", credentials.pswd.0.clone()),
                key,
                ("PAYIDSUB", self.pay_id_sub.clone().unwrap_or_default()),
            ],
            credentials,
        )
    }
}

/// Drops empty fields, appends `SHASIGN` (SHA-IN over the fields kept).
pub(crate) fn signed_form(
    fields: Vec<(&str, String)>,
    credentials: &Credentials,
) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sign = sha_in(&refs, credentials.sha_in.expose(), credentials.algorithm);
    form.push(("SHASIGN".to_owned(), sign));
    form
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogone::signature::{HashAlgorithm, sha_in_string, verify_sha_in};

    fn creds() -> Credentials {
        Credentials::new(
            "GUICHETTEST",
            "API",
            "guichet-test",
            "Mysecretsig1875!?",
            "Mysecretsig1875!?",
            HashAlgorithm::Sha512,
        )
    }

    fn refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn names(form: &[(String, String)]) -> Vec<&str> {
        form.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn operation_codes() {
        use MaintenanceOperation::*;
        let codes: Vec<&str> = [
            Refund,
            RefundLast,
            DeleteAndClose,
            Delete,
            Capture,
            CaptureLast,
        ]
        .iter()
        .map(|o| o.code())
        .collect();
        assert_eq!(codes, ["RFD", "RFS", "DES", "DEL", "SAL", "SAS"]);
    }

    #[test]
    fn maintenance_wire_format() {
        let req = MaintenanceRequest {
            pay_id: "3014726".into(),
            operation: MaintenanceOperation::Refund,
            amount_minor: 450,
            currency: "EUR".into(),
        };
        let form = req.to_form(&creds());
        assert_eq!(
            names(&form),
            [
                "PSPID",
                "USERID",
                "PSWD",
                "PAYID",
                "OPERATION",
                "AMOUNT",
                "CURRENCY",
                "SHASIGN"
            ]
        );
        let p = "Mysecretsig1875!?";
        assert_eq!(
            sha_in_string(&refs(&form), p),
            format!(
                "AMOUNT=450{p}CURRENCY=EUR{p}OPERATION=RFD{p}PAYID=3014726{p}\
                 PSPID=GUICHETTEST{p}PSWD=guichet-test{p}USERID=API{p}"
            )
        );
        let sign = &form.last().unwrap().1;
        assert_eq!(sign.len(), 128);
        assert!(verify_sha_in(&refs(&form), p, HashAlgorithm::Sha512, sign));
        // A changed amount no longer matches.
        let mut tampered = form.clone();
        tampered[5].1 = "451".into();
        assert!(!verify_sha_in(
            &refs(&tampered),
            p,
            HashAlgorithm::Sha512,
            sign
        ));
    }

    #[test]
    fn query_wire_format() {
        let by_order = QueryRequest::by_order_id("G-42").to_form(&creds());
        assert_eq!(
            names(&by_order),
            ["PSPID", "USERID", "PSWD", "ORDERID", "SHASIGN"]
        );
        assert_eq!(by_order[3].1, "G-42");
        let by_payid = QueryRequest::by_pay_id("3014726")
            .with_pay_id_sub("2")
            .to_form(&creds());
        assert_eq!(
            names(&by_payid),
            ["PSPID", "USERID", "PSWD", "PAYID", "PAYIDSUB", "SHASIGN"]
        );
        let p = "Mysecretsig1875!?";
        assert_eq!(
            sha_in_string(&refs(&by_payid), p),
            format!(
                "PAYID=3014726{p}PAYIDSUB=2{p}PSPID=GUICHETTEST{p}PSWD=guichet-test{p}USERID=API{p}"
            )
        );
        assert!(verify_sha_in(
            &refs(&by_payid),
            p,
            HashAlgorithm::Sha512,
            &by_payid.last().unwrap().1
        ));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let req = QueryRequest::by_order_id("G-42");
        let dbg = format!("{req:?} {:?}", creds());
        assert!(!dbg.contains("guichet-test"));
    }
}

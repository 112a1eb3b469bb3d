//! Sips Office: refund and cancel (`cashManagement`, `CR_WS_2.3`) and the status query
//! (`diagnostic/getTransactionData`, `DR_WS_2.23`). Sealed JSON both ways (docs/PROVIDERS.md,
//! "Office"; shared/reference/psp-protocols.md, sections 7.1 and 7.3).

use serde_json::{Map, Value, json};

use super::credentials::Credentials;
use super::json::{ReplyError, RequestError, sealed_request, verify_reply};
use crate::amount::{currency_by_alpha, currency_by_numeric};
use crate::card::MaskedCardNumber;

/// `interfaceVersion` of `cashManagement` requests.
pub const CASH_MANAGEMENT_INTERFACE_VERSION: &str = "CR_WS_2.3";
/// `interfaceVersion` of `getTransactionData`.
pub const DIAGNOSTIC_INTERFACE_VERSION: &str = "DR_WS_2.23";

/// A refund or a cancel (`cashManagement/refund`, `cashManagement/cancel`: the same fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashManagementRequest {
    /// `transactionReference` of the payment.
    pub transaction_reference: String,
    /// `operationAmount`, minor units.
    pub operation_amount_minor: u64,
    /// The currency, ISO 4217 alpha-3; sent as `currencyCode`, numeric.
    pub currency: String,
    /// `operationOrigin`: free text naming who asked (e.g. `GUICHET`).
    pub operation_origin: String,
}

impl CashManagementRequest {
    /// The sealed JSON body: `currencyCode, interfaceVersion, keyVersion, merchantId,
    /// operationAmount, operationOrigin, transactionReference, seal`.
    pub fn to_json(&self, credentials: &Credentials) -> Result<Value, RequestError> {
        let currency = currency_by_alpha(&self.currency)
            .ok_or_else(|| RequestError::UnknownCurrency(self.currency.clone()))?;
        if self.transaction_reference.is_empty() {
            return Err(RequestError::MissingField("transactionReference"));
        }
        let mut m = Map::new();
        m.insert("currencyCode".into(), json!(currency.numeric.to_string()));
        m.insert(
            "interfaceVersion".into(),
            json!(CASH_MANAGEMENT_INTERFACE_VERSION),
        );
        m.insert("operationAmount".into(), json!(self.operation_amount_minor));
        if !self.operation_origin.is_empty() {
            m.insert("operationOrigin".into(), json!(self.operation_origin));
        }
        m.insert(
            "transactionReference".into(),
            json!(self.transaction_reference),
        );
        Ok(sealed_request(m, credentials))
    }
}

/// A verified `cashManagement` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashManagementResponse {
    /// `responseCode`: `00` done; `51` more than what remains; `25` unknown reference; `57`
    /// refund refused (not captured); `24` already done; `34` seal refused (section 7.4).
    pub response_code: String,
    /// `acquirerResponseCode`.
    pub acquirer_response_code: Option<String>,
    /// `newAmount`: what remains on the transaction, minor units.
    pub new_amount_minor: Option<u64>,
    /// `newStatus` (e.g. `CAPTURED`, `CANCELLED`; the values are unconfirmed, section 7.3).
    pub new_status: Option<String>,
    /// `operationDateTime`.
    pub operation_date_time: Option<String>,
    /// `authorisationId`.
    pub authorisation_id: Option<String>,
    /// `errorFieldName` (on `12` / `30`).
    pub error_field_name: Option<String>,
}

impl CashManagementResponse {
    /// Parses a reply and verifies its `seal` before reading anything.
    pub fn parse(body: &str, secret_key: &str) -> Result<CashManagementResponse, ReplyError> {
        let r = verify_reply(body, secret_key, "responseCode")?;
        Ok(CashManagementResponse {
            response_code: r.required_text("responseCode")?,
            acquirer_response_code: r.text("acquirerResponseCode")?,
            new_amount_minor: r.minor("newAmount")?,
            new_status: r.text("newStatus")?,
            operation_date_time: r.text("operationDateTime")?,
            authorisation_id: r.text("authorisationId")?,
            error_field_name: r.text("errorFieldName")?,
        })
    }

    /// `00`.
    pub fn is_accepted(&self) -> bool {
        self.response_code == "00"
    }
}

/// A status query (`diagnostic/getTransactionData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTransactionDataRequest {
    /// `transactionReference`.
    pub transaction_reference: String,
}

impl GetTransactionDataRequest {
    /// The sealed JSON body: `interfaceVersion, keyVersion, merchantId, transactionReference,
    /// seal`.
    pub fn to_json(&self, credentials: &Credentials) -> Result<Value, RequestError> {
        if self.transaction_reference.is_empty() {
            return Err(RequestError::MissingField("transactionReference"));
        }
        let mut m = Map::new();
        m.insert(
            "interfaceVersion".into(),
            json!(DIAGNOSTIC_INTERFACE_VERSION),
        );
        m.insert(
            "transactionReference".into(),
            json!(self.transaction_reference),
        );
        Ok(sealed_request(m, credentials))
    }
}

/// `transactionStatus` (docs/PROVIDERS.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// `CAPTURED`.
    Captured,
    /// `REFUSED`.
    Refused,
    /// `CANCELLED`.
    Cancelled,
    /// `PENDING`: initialised; the buyer has not finished on the Paypage.
    Pending,
    /// Any other value, as sent.
    Other(String),
}

impl TransactionStatus {
    fn from_wire(s: &str) -> TransactionStatus {
        match s {
            "CAPTURED" => TransactionStatus::Captured,
            "REFUSED" => TransactionStatus::Refused,
            "CANCELLED" => TransactionStatus::Cancelled,
            "PENDING" => TransactionStatus::Pending,
            other => TransactionStatus::Other(other.to_owned()),
        }
    }
}

/// A verified `getTransactionData` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionData {
    /// `responseCode`: `00` found; `25` unknown to Sips.
    pub response_code: String,
    /// `transactionReference`.
    pub transaction_reference: Option<String>,
    /// `transactionStatus`.
    pub transaction_status: Option<TransactionStatus>,
    /// `amount`, minor units.
    pub amount_minor: Option<u64>,
    /// `currentAmount`: the amount less refunds, minor units.
    pub current_amount_minor: Option<u64>,
    /// `currencyCode`, ISO 4217 numeric.
    pub currency_code: Option<String>,
    /// `transactionDateTime`.
    pub transaction_date_time: Option<String>,
    /// `maskedPan` (an unmasked value refuses the reply).
    pub masked_pan: Option<MaskedCardNumber>,
    /// `paymentMeanBrand`.
    pub payment_mean_brand: Option<String>,
    /// `acquirerResponseCode`.
    pub acquirer_response_code: Option<String>,
}

impl TransactionData {
    /// Parses a reply and verifies its `seal` before reading anything.
    pub fn parse(body: &str, secret_key: &str) -> Result<TransactionData, ReplyError> {
        let r = verify_reply(body, secret_key, "responseCode")?;
        Ok(TransactionData {
            response_code: r.required_text("responseCode")?,
            transaction_reference: r.text("transactionReference")?,
            transaction_status: r
                .text("transactionStatus")?
                .map(|s| TransactionStatus::from_wire(&s)),
            amount_minor: r.minor("amount")?,
            current_amount_minor: r.minor("currentAmount")?,
            currency_code: r.text("currencyCode")?,
            transaction_date_time: r.text("transactionDateTime")?,
            masked_pan: r.masked_pan()?,
            payment_mean_brand: r.text("paymentMeanBrand")?,
            acquirer_response_code: r.text("acquirerResponseCode")?,
        })
    }

    /// `responseCode` `25`: Sips does not know the reference, so no payment was initialised
    /// under it.
    pub fn is_unknown(&self) -> bool {
        self.response_code == "25"
    }

    /// The currency's alpha-3 code, when known.
    pub fn currency(&self) -> Option<&'static str> {
        self.currency_code
            .as_deref()
            .and_then(currency_by_numeric)
            .map(|c| c.alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardDataError;
    use crate::sips::seal::{json_data_string, json_seal, verify_json_seal};

    const KEY: &str = "002001000000001_KEY1";

    fn creds() -> Credentials {
        Credentials::new("002001000000001", 1, KEY)
    }

    fn sealed(mut m: Value, key: &str) -> String {
        m["seal"] = json!(json_seal(&m, key).unwrap());
        m.to_string()
    }

    #[test]
    fn cash_management_wire_format() {
        let req = CashManagementRequest {
            transaction_reference: "G42A1".into(),
            operation_amount_minor: 500,
            currency: "EUR".into(),
            operation_origin: "GUICHET".into(),
        };
        let m = req.to_json(&creds()).unwrap();
        assert_eq!(
            m,
            json!({
                "currencyCode": "978",
                "interfaceVersion": "CR_WS_2.3",
                "keyVersion": 1,
                "merchantId": "002001000000001",
                "operationAmount": 500,
                "operationOrigin": "GUICHET",
                "transactionReference": "G42A1",
                "seal": m["seal"].clone(),
            })
        );
        assert_eq!(
            json_data_string(&m).unwrap(),
            "978CR_WS_2.3002001000000001500GUICHETG42A1"
        );
        assert!(verify_json_seal(&m, KEY));
        let mut bad = req.clone();
        bad.currency = "XYZ".into();
        assert_eq!(
            bad.to_json(&creds()),
            Err(RequestError::UnknownCurrency("XYZ".into()))
        );
    }

    #[test]
    fn get_transaction_data_wire_format() {
        let m = GetTransactionDataRequest {
            transaction_reference: "G42A1".into(),
        }
        .to_json(&creds())
        .unwrap();
        assert_eq!(
            m,
            json!({
                "interfaceVersion": "DR_WS_2.23",
                "keyVersion": 1,
                "merchantId": "002001000000001",
                "transactionReference": "G42A1",
                "seal": m["seal"].clone(),
            })
        );
        assert!(verify_json_seal(&m, KEY));
    }

    #[test]
    fn cash_management_replies() {
        let body = sealed(
            json!({
                "responseCode": "00",
                "acquirerResponseCode": "00",
                "newAmount": 1499,
                "newStatus": "CAPTURED",
                "operationDateTime": "2026-03-01T10:11:13+00:00",
            }),
            KEY,
        );
        let r = CashManagementResponse::parse(&body, KEY).unwrap();
        assert!(r.is_accepted());
        assert_eq!(r.new_amount_minor, Some(1499));
        assert_eq!(r.new_status.as_deref(), Some("CAPTURED"));
        assert!(matches!(
            CashManagementResponse::parse(&body, "wrong"),
            Err(ReplyError::BadSeal { .. })
        ));
        let tampered = body.replace("1499", "1498");
        assert!(matches!(
            CashManagementResponse::parse(&tampered, KEY),
            Err(ReplyError::BadSeal { .. })
        ));
        let over = CashManagementResponse::parse(&sealed(json!({"responseCode": "51"}), KEY), KEY)
            .unwrap();
        assert_eq!(over.response_code, "51");
        assert!(!over.is_accepted());
        assert_eq!(over.new_amount_minor, None);
        assert_eq!(
            CashManagementResponse::parse(&sealed(json!({"newAmount": 1}), KEY), KEY),
            Err(ReplyError::MissingField("responseCode"))
        );
    }

    #[test]
    fn transaction_data_replies() {
        let body = sealed(
            json!({
                "responseCode": "00",
                "transactionReference": "G42A1",
                "transactionStatus": "CAPTURED",
                "amount": 1999,
                "currentAmount": 1499,
                "currencyCode": "978",
                "transactionDateTime": "2026-03-01T10:11:13+00:00",
                "maskedPan": "411111######1111",
                "paymentMeanBrand": "VISA",
            }),
            KEY,
        );
        let r = TransactionData::parse(&body, KEY).unwrap();
        assert_eq!(r.transaction_status, Some(TransactionStatus::Captured));
        assert_eq!(r.amount_minor, Some(1999));
        assert_eq!(r.current_amount_minor, Some(1499));
        assert_eq!(r.currency(), Some("EUR"));
        assert_eq!(r.masked_pan.as_ref().unwrap().last_digits(), "1111");
        assert!(!r.is_unknown());
        for (wire, want) in [
            ("REFUSED", TransactionStatus::Refused),
            ("CANCELLED", TransactionStatus::Cancelled),
            ("PENDING", TransactionStatus::Pending),
            ("TO_CAPTURE", TransactionStatus::Other("TO_CAPTURE".into())),
        ] {
            let body = sealed(
                json!({"responseCode": "00", "transactionStatus": wire}),
                KEY,
            );
            assert_eq!(
                TransactionData::parse(&body, KEY)
                    .unwrap()
                    .transaction_status,
                Some(want)
            );
        }
        let unknown =
            TransactionData::parse(&sealed(json!({"responseCode": "25"}), KEY), KEY).unwrap();
        assert!(unknown.is_unknown());
        let unmasked = sealed(
            json!({"responseCode": "00", "maskedPan": "4111111111111111"}),
            KEY,
        );
        assert_eq!(
            TransactionData::parse(&unmasked, KEY),
            Err(ReplyError::Card(CardDataError::NotMasked))
        );
        assert!(matches!(
            TransactionData::parse(r#"{"responseCode":"25"}"#, KEY),
            Err(ReplyError::MissingSeal { .. })
        ));
    }
}

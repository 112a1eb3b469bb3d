//! Sips Paypage: the server-side `paymentInit` call that opens a hosted payment page, and the
//! sealed result the page posts back (docs/PROVIDERS.md, "Paypage"; shared/reference/
//! psp-protocols.md, sections 7.1 and 7.2).
//!
//! Flow: [`PaymentInitRequest`] → `paymentInit` → [`PaymentInitResponse`], whose
//! [`PaymentInitResponse::redirect_form`] the buyer's browser posts to Sips; the buyer pays on
//! Sips' page; Sips posts `Data`, `Seal`, `InterfaceVersion`, `Encode` to `normalReturnUrl`
//! (browser) and `automaticResponseUrl` (server to server), read by [`PaypageResult::verify`].

use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::credentials::Credentials;
use super::json::{ReplyError, RequestError, parse_minor, sealed_request, verify_reply};
use super::seal::{SealAlgorithm, verify_seal};
use crate::amount::{currency_by_alpha, currency_by_numeric};
use crate::card::{CardDataError, CardExpiry, MaskedCardNumber};
use crate::form::HtmlForm;

/// `interfaceVersion` of `paymentInit` (docs/PROVIDERS.md).
pub const PAYMENT_INIT_INTERFACE_VERSION: &str = "IR_WS_2.35";
/// `orderChannel` of a web payment.
pub const ORDER_CHANNEL_INTERNET: &str = "INTERNET";
/// The `sealAlgorithm` value that asks for an HMAC-SHA-256 seal on the Paypage result.
pub const SEAL_ALGORITHM_HMAC_SHA_256: &str = "HMAC-SHA-256";

/// `captureMode` (section 7.2: `AUTHOR_CAPTURE | VALIDATION | IMMEDIATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CaptureMode {
    /// `AUTHOR_CAPTURE`: captured automatically after `captureDay` days.
    #[default]
    AuthorCapture,
    /// `VALIDATION`: captured when the merchant validates.
    Validation,
    /// `IMMEDIATE`.
    Immediate,
}

impl CaptureMode {
    /// The wire value.
    pub fn code(self) -> &'static str {
        match self {
            CaptureMode::AuthorCapture => "AUTHOR_CAPTURE",
            CaptureMode::Validation => "VALIDATION",
            CaptureMode::Immediate => "IMMEDIATE",
        }
    }
}

/// `fraudData.challengeMode3DS` (docs/PROVIDERS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeMode3ds {
    /// `CHALLENGE_MANDATED`: always authenticate the buyer.
    ChallengeMandated,
    /// `NO_CHALLENGE_REQUESTED`.
    NoChallengeRequested,
}

impl ChallengeMode3ds {
    /// The wire value.
    pub fn code(self) -> &'static str {
        match self {
            ChallengeMode3ds::ChallengeMandated => "CHALLENGE_MANDATED",
            ChallengeMode3ds::NoChallengeRequested => "NO_CHALLENGE_REQUESTED",
        }
    }
}

/// A `paymentInit` request. `merchantId`, `keyVersion`, `interfaceVersion`, `orderChannel`
/// and `seal` are added by [`PaymentInitRequest::to_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInitRequest {
    /// `amount`, minor units.
    pub amount_minor: u64,
    /// The currency, ISO 4217 alpha-3 (`EUR`); sent as `currencyCode`, numeric (`"978"`).
    pub currency: String,
    /// `transactionReference`: unique per merchant (a reused one gets `94`).
    pub transaction_reference: String,
    /// `normalReturnUrl`: where the buyer's browser brings the result.
    pub normal_return_url: String,
    /// `automaticResponseUrl`: where Sips posts the result server to server.
    pub automatic_response_url: String,
    /// `captureDay` (0: the same day).
    pub capture_day: u32,
    /// `captureMode`.
    pub capture_mode: CaptureMode,
    /// `fraudData.challengeMode3DS`; left out when `None`.
    pub challenge_mode_3ds: Option<ChallengeMode3ds>,
    /// How the Paypage result will be sealed: [`SealAlgorithm::Sha256`] (the default:
    /// SHA-256(Data ‖ key), nothing sent) or [`SealAlgorithm::HmacSha256`] (sends
    /// `sealAlgorithm: "HMAC-SHA-256"`). Pass the same value to [`PaypageResult::verify`].
    pub result_seal: SealAlgorithm,
    /// `returnContext`: given back in the result's `Data`.
    pub return_context: Option<String>,
}

impl PaymentInitRequest {
    /// A request with the defaults of docs/PROVIDERS.md: `captureDay` 0, `AUTHOR_CAPTURE`, no
    /// `fraudData`, result sealed with SHA-256.
    pub fn new(
        amount_minor: u64,
        currency: impl Into<String>,
        transaction_reference: impl Into<String>,
        normal_return_url: impl Into<String>,
        automatic_response_url: impl Into<String>,
    ) -> PaymentInitRequest {
        PaymentInitRequest {
            amount_minor,
            currency: currency.into(),
            transaction_reference: transaction_reference.into(),
            normal_return_url: normal_return_url.into(),
            automatic_response_url: automatic_response_url.into(),
            capture_day: 0,
            capture_mode: CaptureMode::AuthorCapture,
            challenge_mode_3ds: None,
            result_seal: SealAlgorithm::Sha256,
            return_context: None,
        }
    }

    /// The sealed JSON body.
    pub fn to_json(&self, credentials: &Credentials) -> Result<Value, RequestError> {
        let currency = currency_by_alpha(&self.currency)
            .ok_or_else(|| RequestError::UnknownCurrency(self.currency.clone()))?;
        for (name, value) in [
            ("transactionReference", &self.transaction_reference),
            ("normalReturnUrl", &self.normal_return_url),
            ("automaticResponseUrl", &self.automatic_response_url),
        ] {
            if value.is_empty() {
                return Err(RequestError::MissingField(name));
            }
        }
        let mut m = Map::new();
        m.insert("amount".into(), json!(self.amount_minor));
        m.insert(
            "automaticResponseUrl".into(),
            json!(self.automatic_response_url),
        );
        m.insert("captureDay".into(), json!(self.capture_day));
        m.insert("captureMode".into(), json!(self.capture_mode.code()));
        m.insert("currencyCode".into(), json!(currency.numeric.to_string()));
        if let Some(mode) = self.challenge_mode_3ds {
            m.insert(
                "fraudData".into(),
                json!({ "challengeMode3DS": mode.code() }),
            );
        }
        m.insert(
            "interfaceVersion".into(),
            json!(PAYMENT_INIT_INTERFACE_VERSION),
        );
        m.insert("normalReturnUrl".into(), json!(self.normal_return_url));
        m.insert("orderChannel".into(), json!(ORDER_CHANNEL_INTERNET));
        if let Some(context) = self.return_context.as_deref().filter(|c| !c.is_empty()) {
            m.insert("returnContext".into(), json!(context));
        }
        if self.result_seal == SealAlgorithm::HmacSha256 {
            m.insert("sealAlgorithm".into(), json!(SEAL_ALGORITHM_HMAC_SHA_256));
        }
        m.insert(
            "transactionReference".into(),
            json!(self.transaction_reference),
        );
        Ok(sealed_request(m, credentials))
    }
}

/// A verified `paymentInit` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInitResponse {
    /// `redirectionStatusCode`: `00` accepted; `94` reused `transactionReference`; `30`
    /// format error (see `error_field_name`); `34` seal refused.
    pub redirection_status_code: String,
    /// `redirectionStatusMessage`.
    pub redirection_status_message: Option<String>,
    /// `redirectionUrl`: where the browser posts the redirect form.
    pub redirection_url: Option<String>,
    /// `redirectionVersion`.
    pub redirection_version: Option<String>,
    /// `redirectionData`.
    pub redirection_data: Option<String>,
    /// `errorFieldName` (on `30`).
    pub error_field_name: Option<String>,
}

impl PaymentInitResponse {
    /// Parses a reply and verifies its `seal` (HMAC-SHA-256 with `secret_key`) before reading
    /// anything. An accepted reply (`00`) must carry the three redirection fields.
    pub fn parse(body: &str, secret_key: &str) -> Result<PaymentInitResponse, ReplyError> {
        let r = verify_reply(body, secret_key, "redirectionStatusCode")?;
        let response = PaymentInitResponse {
            redirection_status_code: r.required_text("redirectionStatusCode")?,
            redirection_status_message: r.text("redirectionStatusMessage")?,
            redirection_url: r.text("redirectionUrl")?,
            redirection_version: r.text("redirectionVersion")?,
            redirection_data: r.text("redirectionData")?,
            error_field_name: r.text("errorFieldName")?,
        };
        if response.redirection_status_code == "00" {
            for (name, value) in [
                ("redirectionUrl", &response.redirection_url),
                ("redirectionVersion", &response.redirection_version),
                ("redirectionData", &response.redirection_data),
            ] {
                if value.is_none() {
                    return Err(ReplyError::MissingField(name));
                }
            }
        }
        Ok(response)
    }

    /// `00`.
    pub fn is_accepted(&self) -> bool {
        self.redirection_status_code == "00"
    }

    /// The form the buyer's browser posts to Sips: `redirectionVersion` and
    /// `redirectionData` to `redirectionUrl` (section 7.1). `None` unless accepted.
    pub fn redirect_form(&self) -> Option<HtmlForm> {
        if !self.is_accepted() {
            return None;
        }
        Some(HtmlForm {
            action: self.redirection_url.clone()?,
            fields: vec![
                (
                    "redirectionVersion".to_owned(),
                    self.redirection_version.clone()?,
                ),
                ("redirectionData".to_owned(), self.redirection_data.clone()?),
            ],
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

/// Why a Paypage result was refused. Messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaypageResultError {
    /// A form field (`Data`, `Seal`) or `Data` field is missing or empty.
    #[error("{0} missing")]
    MissingField(&'static str),
    /// `Seal` does not match `Data` (tampering, wrong key or wrong seal algorithm).
    #[error("Seal does not match Data")]
    BadSeal,
    /// A form field, or a key inside `Data`, is given twice.
    #[error("{0} given more than once")]
    Duplicate(String),
    /// A field has a value of the wrong shape.
    #[error("{0} is invalid")]
    InvalidField(&'static str),
    /// `maskedPan` is not masked: refused, not kept.
    #[error("maskedPan: {0}")]
    Card(CardDataError),
}

/// A verified Paypage result (the `Data` of the result form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaypageResult {
    /// `responseCode`: `00` accepted, `05` refused, `17` cancelled by the buyer, … (section 7.4).
    pub response_code: String,
    /// `acquirerResponseCode`.
    pub acquirer_response_code: Option<String>,
    /// `amount`, minor units.
    pub amount_minor: u64,
    /// `currencyCode`, ISO 4217 numeric (`"978"`); see [`PaypageResult::currency`].
    pub currency_code: String,
    /// `transactionReference`.
    pub transaction_reference: String,
    /// `maskedPan` (`411111######1111`).
    pub masked_pan: Option<MaskedCardNumber>,
    /// `panExpiryDate` (`YYYYMM`).
    pub pan_expiry: Option<CardExpiry>,
    /// `paymentMeanBrand` (`VISA`…).
    pub payment_mean_brand: Option<String>,
    /// `holderAuthentStatus` (3-D Secure result, e.g. `3D_SUCCESS`).
    pub holder_authent_status: Option<String>,
    /// `authorisationId`.
    pub authorisation_id: Option<String>,
    /// `transactionDateTime`.
    pub transaction_date_time: Option<OffsetDateTime>,
    /// `merchantId`.
    pub merchant_id: Option<String>,
    /// The form's `InterfaceVersion` (`HP_2.35`), not covered by the seal.
    pub interface_version: Option<String>,
    /// Every `Data` pair, in order, as received (covered by the seal).
    pub data: Vec<(String, String)>,
}

/// A result that is not about the expected payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Another `transactionReference`.
    #[error("transactionReference differs")]
    TransactionReference,
    /// Another amount.
    #[error("amount differs: expected {expected}, got {got} (minor units)")]
    Amount {
        /// Expected minor units.
        expected: u64,
        /// Received minor units.
        got: u64,
    },
    /// Another currency.
    #[error("currency differs")]
    Currency,
}

/// Splits a `Data` string, `key=value|key=value|…`, each pair at its first `=`. Every pair
/// must have a `=` and a non-empty key; a key given twice is refused.
pub fn parse_data(data: &str) -> Result<Vec<(String, String)>, PaypageResultError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in data.split('|') {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or(PaypageResultError::InvalidField("Data"))?;
        if out.iter().any(|(k, _)| k == key) {
            return Err(PaypageResultError::Duplicate(key.to_owned()));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// The one form field named `name` (case-insensitive).
fn form_field<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, PaypageResultError> {
    let mut found = None;
    for (k, v) in params {
        if k.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(PaypageResultError::Duplicate(name.to_owned()));
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

impl PaypageResult {
    /// Verifies and reads the result form (`Data`, `Seal`, `InterfaceVersion`, `Encode`; names
    /// case-insensitive). `Seal` is checked over `Data` exactly as received, in constant time,
    /// with `alg`: [`SealAlgorithm::Sha256`] (SHA-256(Data ‖ key), the default) or
    /// [`SealAlgorithm::HmacSha256`] when the payment was initialised with
    /// `sealAlgorithm: "HMAC-SHA-256"`. Then, if `Encode` is `base64` (or `base64url`), `Data`
    /// is decoded, and its fields are read.
    ///
    /// `Data` values `null` or empty count as absent. Required: `responseCode`,
    /// `transactionReference`, `amount`, `currencyCode`.
    pub fn verify(
        params: &[(String, String)],
        secret_key: &str,
        alg: SealAlgorithm,
    ) -> Result<PaypageResult, PaypageResultError> {
        let data = form_field(params, "Data")?
            .filter(|d| !d.is_empty())
            .ok_or(PaypageResultError::MissingField("Data"))?;
        let seal = form_field(params, "Seal")?
            .filter(|s| !s.is_empty())
            .ok_or(PaypageResultError::MissingField("Seal"))?;
        if !verify_seal(data, secret_key, alg, seal) {
            return Err(PaypageResultError::BadSeal);
        }
        let interface_version = form_field(params, "InterfaceVersion")?
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let decoded;
        let data = match form_field(params, "Encode")?.unwrap_or("") {
            "" => data,
            e if e.eq_ignore_ascii_case("base64") || e.eq_ignore_ascii_case("base64url") => {
                let engine = if e.eq_ignore_ascii_case("base64") {
                    &base64::engine::general_purpose::STANDARD
                } else {
                    &base64::engine::general_purpose::URL_SAFE
                };
                let padded = pad_base64(data.trim());
                let bytes = engine
                    .decode(padded.as_bytes())
                    .map_err(|_| PaypageResultError::InvalidField("Data"))?;
                decoded = String::from_utf8(bytes)
                    .map_err(|_| PaypageResultError::InvalidField("Data"))?;
                decoded.as_str()
            }
            _ => return Err(PaypageResultError::InvalidField("Encode")),
        };
        let pairs = parse_data(data)?;
        let get = |name: &str| -> Option<&str> {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty() && *v != "null")
        };
        let opt = |name: &str| get(name).map(str::to_owned);
        let required = |name: &'static str| get(name).ok_or(PaypageResultError::MissingField(name));
        let amount_minor =
            parse_minor(required("amount")?).ok_or(PaypageResultError::InvalidField("amount"))?;
        let masked_pan = get("maskedPan")
            .map(MaskedCardNumber::parse)
            .transpose()
            .map_err(PaypageResultError::Card)?;
        let pan_expiry = get("panExpiryDate")
            .map(CardExpiry::parse_yyyymm)
            .transpose()
            .map_err(|_| PaypageResultError::InvalidField("panExpiryDate"))?;
        let transaction_date_time = get("transactionDateTime")
            .map(|t| OffsetDateTime::parse(t, &Rfc3339))
            .transpose()
            .map_err(|_| PaypageResultError::InvalidField("transactionDateTime"))?;
        Ok(PaypageResult {
            response_code: required("responseCode")?.to_owned(),
            acquirer_response_code: opt("acquirerResponseCode"),
            amount_minor,
            currency_code: required("currencyCode")?.to_owned(),
            transaction_reference: required("transactionReference")?.to_owned(),
            masked_pan,
            pan_expiry,
            payment_mean_brand: opt("paymentMeanBrand"),
            holder_authent_status: opt("holderAuthentStatus"),
            authorisation_id: opt("authorisationId"),
            transaction_date_time,
            merchant_id: opt("merchantId"),
            interface_version,
            data: pairs.clone(),
        })
    }

    /// `responseCode` `00`.
    pub fn is_accepted(&self) -> bool {
        self.response_code == "00"
    }

    /// The currency's alpha-3 code, when `currencyCode` is one of
    /// [`crate::amount::CURRENCIES`].
    pub fn currency(&self) -> Option<&'static str> {
        currency_by_numeric(&self.currency_code).map(|c| c.alpha)
    }

    /// Checks that this result is about the expected payment (reference, amount, currency
    /// alpha-3).
    pub fn check_matches(
        &self,
        transaction_reference: &str,
        amount_minor: u64,
        currency: &str,
    ) -> Result<(), Mismatch> {
        if self.transaction_reference != transaction_reference {
            return Err(Mismatch::TransactionReference);
        }
        if self.currency() != Some(currency) {
            return Err(Mismatch::Currency);
        }
        if self.amount_minor != amount_minor {
            return Err(Mismatch::Amount {
                expected: amount_minor,
                got: self.amount_minor,
            });
        }
        Ok(())
    }
}

/// Adds the `=` padding base64 decoders expect when a sender left it out.
fn pad_base64(s: &str) -> String {
    let mut out = s.to_owned();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sips::seal::{json_data_string, json_seal, seal, verify_json_seal};

    const KEY: &str = "002001000000001_KEY1";

    fn creds() -> Credentials {
        Credentials::new("002001000000001", 1, KEY)
    }

    fn request() -> PaymentInitRequest {
        PaymentInitRequest::new(
            1999,
            "EUR",
            "G42A1",
            "https://guichet.example/sips/return",
            "https://guichet.example/sips/notify",
        )
    }

    #[test]
    fn payment_init_wire_format() {
        let m = request().to_json(&creds()).unwrap();
        let want = json!({
            "amount": 1999,
            "automaticResponseUrl": "https://guichet.example/sips/notify",
            "captureDay": 0,
            "captureMode": "AUTHOR_CAPTURE",
            "currencyCode": "978",
            "interfaceVersion": "IR_WS_2.35",
            "keyVersion": 1,
            "merchantId": "002001000000001",
            "normalReturnUrl": "https://guichet.example/sips/return",
            "orderChannel": "INTERNET",
            "transactionReference": "G42A1",
            "seal": m["seal"].clone(),
        });
        assert_eq!(m, want);
        assert_eq!(
            json_data_string(&m).unwrap(),
            "1999https://guichet.example/sips/notify0AUTHOR_CAPTURE978IR_WS_2.35002001000000001\
             https://guichet.example/sips/returnINTERNETG42A1"
        );
        assert_eq!(m["seal"], json!(json_seal(&m, KEY).unwrap()));
        assert!(verify_json_seal(&m, KEY));
    }

    #[test]
    fn payment_init_options() {
        let mut req = request();
        req.currency = "JPY".into();
        req.challenge_mode_3ds = Some(ChallengeMode3ds::ChallengeMandated);
        req.result_seal = SealAlgorithm::HmacSha256;
        req.return_context = Some("attempt=2".into());
        req.capture_mode = CaptureMode::Validation;
        req.capture_day = 3;
        let m = req.to_json(&creds()).unwrap();
        assert_eq!(m["currencyCode"], json!("392"));
        assert_eq!(
            m["fraudData"],
            json!({"challengeMode3DS": "CHALLENGE_MANDATED"})
        );
        assert_eq!(m["sealAlgorithm"], json!("HMAC-SHA-256"));
        assert_eq!(m["returnContext"], json!("attempt=2"));
        assert_eq!(m["captureMode"], json!("VALIDATION"));
        assert_eq!(m["captureDay"], json!(3));
        assert!(verify_json_seal(&m, KEY));
        req.challenge_mode_3ds = Some(ChallengeMode3ds::NoChallengeRequested);
        assert_eq!(
            req.to_json(&creds()).unwrap()["fraudData"]["challengeMode3DS"],
            json!("NO_CHALLENGE_REQUESTED")
        );
        for (alpha, numeric) in [
            ("EUR", "978"),
            ("CHF", "756"),
            ("GBP", "826"),
            ("USD", "840"),
            ("JPY", "392"),
            ("KWD", "414"),
        ] {
            req.currency = alpha.into();
            assert_eq!(
                req.to_json(&creds()).unwrap()["currencyCode"],
                json!(numeric)
            );
        }
        req.currency = "SEK".into();
        assert_eq!(
            req.to_json(&creds()),
            Err(RequestError::UnknownCurrency("SEK".into()))
        );
        let mut req = request();
        req.transaction_reference.clear();
        assert_eq!(
            req.to_json(&creds()),
            Err(RequestError::MissingField("transactionReference"))
        );
    }

    fn sealed(mut m: Value, key: &str) -> String {
        m["seal"] = json!(json_seal(&m, key).unwrap());
        m.to_string()
    }

    #[test]
    fn payment_init_response() {
        let body = sealed(
            json!({
                "redirectionStatusCode": "00",
                "redirectionStatusMessage": "INITIALISATION REQUEST ACCEPTED",
                "redirectionUrl": "http://127.0.0.1:8091/paymentprovider/init",
                "redirectionVersion": "IR_WS_2.35",
                "redirectionData": "abc123",
            }),
            KEY,
        );
        let r = PaymentInitResponse::parse(&body, KEY).unwrap();
        assert!(r.is_accepted());
        assert_eq!(
            r.redirect_form().unwrap(),
            HtmlForm {
                action: "http://127.0.0.1:8091/paymentprovider/init".into(),
                fields: vec![
                    ("redirectionVersion".into(), "IR_WS_2.35".into()),
                    ("redirectionData".into(), "abc123".into()),
                ],
            }
        );
        // Bad seal, flipped seal, tampered field, missing seal.
        assert!(matches!(
            PaymentInitResponse::parse(&body, "002001000000001_KEY2"),
            Err(ReplyError::BadSeal { .. })
        ));
        let tampered = body.replace("abc123", "abc124");
        assert!(matches!(
            PaymentInitResponse::parse(&tampered, KEY),
            Err(ReplyError::BadSeal { .. })
        ));
        let v: Value = serde_json::from_str(&body).unwrap();
        let s = v["seal"].as_str().unwrap();
        let flipped = body.replace(
            s,
            &format!("{}{}", if s.starts_with('0') { "1" } else { "0" }, &s[1..]),
        );
        assert!(matches!(
            PaymentInitResponse::parse(&flipped, KEY),
            Err(ReplyError::BadSeal { .. })
        ));
        let mut unsealed = v.clone();
        unsealed.as_object_mut().unwrap().remove("seal");
        assert!(matches!(
            PaymentInitResponse::parse(&unsealed.to_string(), KEY),
            Err(ReplyError::MissingSeal { .. })
        ));
        // 00 without the redirection fields.
        let body = sealed(json!({"redirectionStatusCode": "00"}), KEY);
        assert_eq!(
            PaymentInitResponse::parse(&body, KEY),
            Err(ReplyError::MissingField("redirectionUrl"))
        );
        // A refusal: reused transactionReference.
        let body = sealed(
            json!({"redirectionStatusCode": "94", "redirectionStatusMessage": "DUPLICATED TRANSACTION"}),
            KEY,
        );
        let r = PaymentInitResponse::parse(&body, KEY).unwrap();
        assert!(!r.is_accepted());
        assert_eq!(r.redirection_status_code, "94");
        assert_eq!(r.redirect_form(), None);
    }

    // --- Result: the reference's Paypage Data vectors (section 7.2) ---------------------------

    /// WLS-T `testPaymentResultCancel` (responseCode 17).
    const DATA_17: &str = "captureDay=0|captureMode=AUTHOR_CAPTURE|currencyCode=978|merchantId=002001000000001|orderChannel=INTERNET|responseCode=17|transactionDateTime=2018-01-04T10:11:13+01:00|transactionReference=2699c2a658d|keyVersion=1|amount=2|customerIpAddress=194.78.195.168|paymentPattern=ONE_SHOT";
    const SEAL_17: &str = "2a67c5160fd33b8439e5b3d09a4a5e02123786d7465864d95f8db089de6606eb";
    /// WLS-T `testPaymentResultExceedPANAttempts` (responseCode 75).
    const DATA_75: &str = "captureDay=0|captureMode=AUTHOR_CAPTURE|currencyCode=978|merchantId=002001000000001|orderChannel=INTERNET|responseCode=75|transactionDateTime=2018-01-04T11:52:37+01:00|transactionReference=127cf1c96f0|keyVersion=1|amount=2|paymentMeanBrand=MASTERCARD|paymentMeanType=CARD|customerIpAddress=194.78.195.168|maskedPan=0000##########00|holderAuthentRelegation=N|holderAuthentStatus=|transactionOrigin=INTERNET|paymentPattern=ONE_SHOT";
    const SEAL_75: &str = "b41b64780f3db9c3078bef60d56b7fc8d6c7724bb9f5b752cb7eec4097b9fb30";

    fn form(data: &str, seal: &str) -> Vec<(String, String)> {
        vec![
            ("Data".into(), data.into()),
            ("Seal".into(), seal.into()),
            ("InterfaceVersion".into(), "HP_2.0".into()),
            ("Encode".into(), String::new()),
        ]
    }

    #[test]
    fn reference_results_verify() {
        let r = PaypageResult::verify(&form(DATA_17, SEAL_17), KEY, SealAlgorithm::Sha256).unwrap();
        assert_eq!(r.response_code, "17");
        assert_eq!(r.amount_minor, 2);
        assert_eq!(r.currency_code, "978");
        assert_eq!(r.currency(), Some("EUR"));
        assert_eq!(r.transaction_reference, "2699c2a658d");
        assert_eq!(r.masked_pan, None);
        assert_eq!(r.merchant_id.as_deref(), Some("002001000000001"));
        assert_eq!(r.interface_version.as_deref(), Some("HP_2.0"));
        assert_eq!(
            r.transaction_date_time.unwrap().unix_timestamp(),
            1_515_057_073
        );
        assert!(!r.is_accepted());

        let r = PaypageResult::verify(&form(DATA_75, SEAL_75), KEY, SealAlgorithm::Sha256).unwrap();
        assert_eq!(r.response_code, "75");
        assert_eq!(r.masked_pan.unwrap().as_str(), "0000##########00");
        assert_eq!(r.payment_mean_brand.as_deref(), Some("MASTERCARD"));
        assert_eq!(r.holder_authent_status, None);
        assert_eq!(r.data.len(), 18);
    }

    #[test]
    fn reference_results_reject_tampering() {
        for (data, seal) in [(DATA_17, SEAL_17), (DATA_75, SEAL_75)] {
            // Any flipped seal character.
            for i in 0..seal.len() {
                let mut b = seal.as_bytes().to_vec();
                b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                let flipped = String::from_utf8(b).unwrap();
                assert_eq!(
                    PaypageResult::verify(&form(data, &flipped), KEY, SealAlgorithm::Sha256),
                    Err(PaypageResultError::BadSeal)
                );
            }
            // A flipped byte of Data (amount 2 → 3).
            let tampered = data.replace("amount=2", "amount=3");
            assert_eq!(
                PaypageResult::verify(&form(&tampered, seal), KEY, SealAlgorithm::Sha256),
                Err(PaypageResultError::BadSeal)
            );
            // Wrong key; HMAC instead of SHA-256; missing Seal; missing Data.
            assert_eq!(
                PaypageResult::verify(
                    &form(data, seal),
                    "002001000000001_KEY2",
                    SealAlgorithm::Sha256
                ),
                Err(PaypageResultError::BadSeal)
            );
            assert_eq!(
                PaypageResult::verify(&form(data, seal), KEY, SealAlgorithm::HmacSha256),
                Err(PaypageResultError::BadSeal)
            );
            let no_seal: Vec<_> = form(data, seal)
                .into_iter()
                .filter(|(k, _)| k != "Seal")
                .collect();
            assert_eq!(
                PaypageResult::verify(&no_seal, KEY, SealAlgorithm::Sha256),
                Err(PaypageResultError::MissingField("Seal"))
            );
            assert_eq!(
                PaypageResult::verify(&form(data, ""), KEY, SealAlgorithm::Sha256),
                Err(PaypageResultError::MissingField("Seal"))
            );
            assert_eq!(
                PaypageResult::verify(&form("", seal), KEY, SealAlgorithm::Sha256),
                Err(PaypageResultError::MissingField("Data"))
            );
            // A second Data field.
            let mut dup = form(data, seal);
            dup.push(("data".into(), "amount=1".into()));
            assert_eq!(
                PaypageResult::verify(&dup, KEY, SealAlgorithm::Sha256),
                Err(PaypageResultError::Duplicate("Data".into()))
            );
        }
    }

    /// A result as the simulator sends it (docs/PROVIDERS.md field list).
    fn sim_data() -> String {
        [
            "amount=1999",
            "authorisationId=123456",
            "captureDay=0",
            "captureMode=AUTHOR_CAPTURE",
            "currencyCode=978",
            "holderAuthentStatus=3D_SUCCESS",
            "keyVersion=1",
            "maskedPan=411111######1111",
            "merchantId=002001000000001",
            "orderChannel=INTERNET",
            "panExpiryDate=203012",
            "paymentMeanBrand=VISA",
            "responseCode=00",
            "acquirerResponseCode=00",
            "transactionDateTime=2026-03-01T10:11:13+00:00",
            "transactionReference=G42A1",
        ]
        .join("|")
    }

    #[test]
    fn reads_every_field_hmac_and_base64() {
        let data = sim_data();
        for alg in [SealAlgorithm::Sha256, SealAlgorithm::HmacSha256] {
            let s = seal(&data, KEY, alg);
            let r = PaypageResult::verify(&form(&data, &s), KEY, alg).unwrap();
            assert!(r.is_accepted());
            assert_eq!(r.acquirer_response_code.as_deref(), Some("00"));
            assert_eq!(r.amount_minor, 1999);
            assert_eq!(r.currency(), Some("EUR"));
            assert_eq!(r.transaction_reference, "G42A1");
            assert_eq!(r.masked_pan.as_ref().unwrap().as_str(), "411111######1111");
            assert_eq!(r.pan_expiry, Some(CardExpiry::new(12, 2030).unwrap()));
            assert_eq!(r.payment_mean_brand.as_deref(), Some("VISA"));
            assert_eq!(r.holder_authent_status.as_deref(), Some("3D_SUCCESS"));
            assert_eq!(r.authorisation_id.as_deref(), Some("123456"));
            r.check_matches("G42A1", 1999, "EUR").unwrap();
            assert_eq!(
                r.check_matches("G42A1", 2000, "EUR"),
                Err(Mismatch::Amount {
                    expected: 2000,
                    got: 1999
                })
            );
            assert_eq!(
                r.check_matches("G42A2", 1999, "EUR"),
                Err(Mismatch::TransactionReference)
            );
            assert_eq!(
                r.check_matches("G42A1", 1999, "USD"),
                Err(Mismatch::Currency)
            );
            // The other algorithm does not verify.
            let other = if alg == SealAlgorithm::Sha256 {
                SealAlgorithm::HmacSha256
            } else {
                SealAlgorithm::Sha256
            };
            assert_eq!(
                PaypageResult::verify(&form(&data, &s), KEY, other),
                Err(PaypageResultError::BadSeal)
            );
        }
        // Encode=base64: the seal covers Data as sent (encoded).
        let encoded = base64::engine::general_purpose::STANDARD.encode(data.as_bytes());
        let s = seal(&encoded, KEY, SealAlgorithm::Sha256);
        let mut f = form(&encoded, &s);
        f[3].1 = "base64".into();
        let r = PaypageResult::verify(&f, KEY, SealAlgorithm::Sha256).unwrap();
        assert_eq!(r.amount_minor, 1999);
        f[3].1 = "rot13".into();
        assert_eq!(
            PaypageResult::verify(&f, KEY, SealAlgorithm::Sha256),
            Err(PaypageResultError::InvalidField("Encode"))
        );
        // Names are case-insensitive.
        let lower: Vec<(String, String)> = form(&data, &seal(&data, KEY, SealAlgorithm::Sha256))
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        assert!(PaypageResult::verify(&lower, KEY, SealAlgorithm::Sha256).is_ok());
    }

    #[test]
    fn result_field_rejections() {
        let check = |data: &str| {
            let s = seal(data, KEY, SealAlgorithm::Sha256);
            PaypageResult::verify(&form(data, &s), KEY, SealAlgorithm::Sha256)
        };
        let data = sim_data();
        assert_eq!(
            check(&data.replace("411111######1111", "4111111111111111")),
            Err(PaypageResultError::Card(CardDataError::NotMasked))
        );
        assert_eq!(
            check(&data.replace("amount=1999", "amount=19.99")),
            Err(PaypageResultError::InvalidField("amount"))
        );
        assert_eq!(
            check(&data.replace("amount=1999|", "")),
            Err(PaypageResultError::MissingField("amount"))
        );
        assert_eq!(
            check(&data.replace("responseCode=00|", "responseCode=null|")),
            Err(PaypageResultError::MissingField("responseCode"))
        );
        assert_eq!(
            check(&data.replace("panExpiryDate=203012", "panExpiryDate=1230")),
            Err(PaypageResultError::InvalidField("panExpiryDate"))
        );
        assert_eq!(
            check(&format!("{data}|amount=1")),
            Err(PaypageResultError::Duplicate("amount".into()))
        );
        assert_eq!(
            check(&format!("{data}|junk")),
            Err(PaypageResultError::InvalidField("Data"))
        );
        assert_eq!(
            check(&data.replace("2026-03-01T10:11:13+00:00", "yesterday")),
            Err(PaypageResultError::InvalidField("transactionDateTime"))
        );
    }
}

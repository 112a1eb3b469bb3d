//! Sealed JSON messages shared by Paypage init and Office: requests get `merchantId`,
//! `keyVersion` and `seal`; replies must carry a `seal` that verifies before any field is read
//! (docs/PROVIDERS.md, "Sips 2.0"; shared/reference/psp-protocols.md, section 7.2).

use serde_json::{Map, Value};

use super::credentials::Credentials;
use super::seal::{json_seal, verify_json_seal};
use crate::call::CallError;
use crate::card::{CardDataError, MaskedCardNumber};

/// Why a Sips JSON reply was refused. Only [`ReplyError::MissingSeal`] and
/// [`ReplyError::BadSeal`] name a value (the unverified `responseCode`, for diagnostics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not JSON (or truncated).
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// No `seal` (an unsealed error reply, such as a format error or unknown merchant).
    #[error("no seal (unverified responseCode {response_code:?})")]
    MissingSeal {
        /// The `responseCode` / `redirectionStatusCode` it claims, unverified.
        response_code: Option<String>,
    },
    /// The `seal` does not verify (wrong key or key version, or tampering).
    #[error("seal does not verify (unverified responseCode {response_code:?})")]
    BadSeal {
        /// The code it claims, unverified.
        response_code: Option<String>,
    },
    /// A field the reply must have is missing.
    #[error("{0} missing")]
    MissingField(&'static str),
    /// A field has a value of the wrong type or shape.
    #[error("{0} is invalid")]
    InvalidField(&'static str),
    /// `maskedPan` is not masked: the reply is refused and the value not kept.
    #[error("maskedPan: {0}")]
    Card(CardDataError),
}

impl From<ReplyError> for CallError {
    fn from(e: ReplyError) -> CallError {
        match e {
            ReplyError::MissingSeal { .. } | ReplyError::BadSeal { .. } => {
                CallError::BadSeal(e.to_string())
            }
            other => CallError::Malformed(other.to_string()),
        }
    }
}

/// Why a request could not be built (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A currency without an ISO 4217 numeric code in [`crate::amount::CURRENCIES`].
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// A mandatory field is empty.
    #[error("{0} is mandatory")]
    MissingField(&'static str),
}

impl From<RequestError> for CallError {
    fn from(e: RequestError) -> CallError {
        CallError::NotSent(e.to_string())
    }
}

/// Adds `merchantId` and `keyVersion` to `fields`, then the HMAC-SHA-256 `seal` over the
/// result (the seal ignores `keyVersion`, `sealAlgorithm` and `seal`).
pub(crate) fn sealed_request(mut fields: Map<String, Value>, credentials: &Credentials) -> Value {
    fields.insert(
        "merchantId".to_owned(),
        Value::String(credentials.merchant_id.clone()),
    );
    fields.insert(
        "keyVersion".to_owned(),
        Value::from(credentials.key_version),
    );
    let mut message = Value::Object(fields);
    let seal = json_seal(&message, &credentials.secret_key).expect("an object can be sealed");
    message["seal"] = Value::String(seal);
    message
}

/// A reply whose seal verified.
pub(crate) struct SealedReply(Map<String, Value>);

/// Parses `body` and verifies its `seal` with `secret_key`. `code_field` names the field that
/// carries the reply's code (`responseCode`, `redirectionStatusCode`), quoted in seal errors.
pub(crate) fn verify_reply(
    body: &str,
    secret_key: &str,
    code_field: &str,
) -> Result<SealedReply, ReplyError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| ReplyError::NotJson(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(ReplyError::NotAnObject);
    };
    let response_code = map.get(code_field).and_then(scalar_text);
    match map.get("seal") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err(ReplyError::MissingSeal { response_code }),
    }
    if !verify_json_seal(&value, secret_key) {
        return Err(ReplyError::BadSeal { response_code });
    }
    let Value::Object(map) = value else {
        unreachable!("checked above")
    };
    Ok(SealedReply(map))
}

/// A string or a number as text; `None` for anything else.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl SealedReply {
    /// A string (or number) field; `None` when absent, null or empty.
    pub(crate) fn text(&self, name: &'static str) -> Result<Option<String>, ReplyError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => scalar_text(v)
                .map(|s| Some(s).filter(|s| !s.is_empty()))
                .ok_or(ReplyError::InvalidField(name)),
        }
    }

    pub(crate) fn required_text(&self, name: &'static str) -> Result<String, ReplyError> {
        self.text(name)?.ok_or(ReplyError::MissingField(name))
    }

    /// An amount in minor units: a non-negative integer, as a JSON number or a digit string.
    pub(crate) fn minor(&self, name: &'static str) -> Result<Option<u64>, ReplyError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(ReplyError::InvalidField(name)),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => parse_minor(s)
                .map(Some)
                .ok_or(ReplyError::InvalidField(name)),
            Some(_) => Err(ReplyError::InvalidField(name)),
        }
    }

    /// `maskedPan`, refused when it is not masked.
    pub(crate) fn masked_pan(&self) -> Result<Option<MaskedCardNumber>, ReplyError> {
        self.text("maskedPan")?
            .map(|m| MaskedCardNumber::parse(&m))
            .transpose()
            .map_err(ReplyError::Card)
    }
}

/// Minor units written as ASCII digits.
pub(crate) fn parse_minor(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn creds() -> Credentials {
        Credentials::new("002001000000001", 1, "002001000000001_KEY1")
    }

    fn sealed_reply(mut m: Value, key: &str) -> String {
        let seal = json_seal(&m, key).unwrap();
        m["seal"] = json!(seal);
        m.to_string()
    }

    #[test]
    fn requests_get_merchant_key_version_and_seal() {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(2));
        let m = sealed_request(fields, &creds());
        assert_eq!(m["merchantId"], json!("002001000000001"));
        assert_eq!(m["keyVersion"], json!(1));
        assert!(verify_json_seal(&m, "002001000000001_KEY1"));
        // keyVersion is not sealed; merchantId is.
        let mut other = m.clone();
        other["keyVersion"] = json!(2);
        assert!(verify_json_seal(&other, "002001000000001_KEY1"));
        other["merchantId"] = json!("002001000000002");
        assert!(!verify_json_seal(&other, "002001000000001_KEY1"));
    }

    #[test]
    fn replies_must_be_sealed() {
        let key = "002001000000001_KEY1";
        let body = sealed_reply(
            json!({"responseCode": "00", "newAmount": 500, "x": "7"}),
            key,
        );
        let r = verify_reply(&body, key, "responseCode").unwrap();
        assert_eq!(r.required_text("responseCode").unwrap(), "00");
        assert_eq!(r.minor("newAmount").unwrap(), Some(500));
        assert_eq!(r.minor("x").unwrap(), Some(7));
        assert_eq!(r.text("missing").unwrap(), None);
        assert_eq!(
            verify_reply(&body, "other", "responseCode").err(),
            Some(ReplyError::BadSeal {
                response_code: Some("00".into())
            })
        );
        assert_eq!(
            verify_reply(r#"{"responseCode":"03"}"#, key, "responseCode").err(),
            Some(ReplyError::MissingSeal {
                response_code: Some("03".into())
            })
        );
        let tampered = body.replace("500", "501");
        assert!(matches!(
            verify_reply(&tampered, key, "responseCode"),
            Err(ReplyError::BadSeal { .. })
        ));
        assert!(matches!(
            verify_reply("{\"responseCode\":", key, "responseCode"),
            Err(ReplyError::NotJson(_))
        ));
        assert_eq!(
            verify_reply("[1]", key, "responseCode").err(),
            Some(ReplyError::NotAnObject)
        );
        let bad_types = sealed_reply(json!({"newAmount": -5, "t": {"a": 1}, "s": "1.5"}), key);
        let r = verify_reply(&bad_types, key, "responseCode").unwrap();
        assert_eq!(
            r.minor("newAmount"),
            Err(ReplyError::InvalidField("newAmount"))
        );
        assert_eq!(r.text("t"), Err(ReplyError::InvalidField("t")));
        assert_eq!(r.minor("s"), Err(ReplyError::InvalidField("s")));
    }

    #[test]
    fn call_error_mapping() {
        assert!(matches!(
            CallError::from(ReplyError::BadSeal {
                response_code: None
            }),
            CallError::BadSeal(_)
        ));
        assert!(matches!(
            CallError::from(ReplyError::MissingField("x")),
            CallError::Malformed(_)
        ));
        assert!(matches!(
            CallError::from(RequestError::UnknownCurrency("XYZ".into())),
            CallError::NotSent(_)
        ));
    }
}

//! Worldline Sips 2.0 seals.
//!
//! Source: shared/reference/psp-protocols.md, section 7.2 "Seal computation".
//!
//! - **JSON messages** (Sips Office and Paypage JSON, requests and responses): the data string is
//!   the values of every top-level field except `seal`, `keyVersion` and `sealAlgorithm`, with
//!   object keys sorted by name (recursively), list items kept in their order, concatenated
//!   without separator ([`json_data_string`]). The seal is `HMAC-SHA-256(secretKey, data)`,
//!   lower-case hex ([`SealAlgorithm::HmacSha256`], the default).
//! - **Paypage POST results** (`Data`, `Seal`, `InterfaceVersion`, `Encode` form fields): the data
//!   string is the `Data` field as received (`key=value|key=value|…`). The seal is
//!   `SHA-256(Data ‖ secretKey)`, lower-case hex ([`SealAlgorithm::Sha256`]), unless the payment
//!   was initialised with `sealAlgorithm=HMAC-SHA-256`, in which case it is the HMAC.
//!
//! How the real server turns booleans and null into text is unconfirmed (section 7.2): this
//! module follows PHP's string conversion, as the reference SDKs do (`true` → `1`, `false` and
//! `null` → empty). Numbers are written as serde_json writes them (`2`, `2.5`).

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ct::hex_eq_ignore_case;

/// Top-level fields that are not part of a JSON seal (section 7.2 step 1, WLS `EXCLUDED_FIELD`).
pub const JSON_EXCLUDED_FIELDS: &[&str] = &["seal", "keyVersion", "sealAlgorithm"];

/// How a seal is computed from the data string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SealAlgorithm {
    /// `HMAC-SHA-256(key = secretKey, msg = data)`: JSON messages, and POST results when the
    /// payment was initialised with `sealAlgorithm=HMAC-SHA-256`.
    #[default]
    HmacSha256,
    /// `SHA-256(data ‖ secretKey)` (plain hash, not an HMAC): the default for Paypage POST results.
    Sha256,
}

/// Why a JSON message could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a Sips JSON message must be a JSON object")]
    NotAnObject,
}

/// The data string of a JSON message: see the module documentation.
pub fn json_data_string(message: &Value) -> Result<String, SealError> {
    let Value::Object(fields) = message else {
        return Err(SealError::NotAnObject);
    };
    let mut names: Vec<&String> = fields
        .keys()
        .filter(|name| !JSON_EXCLUDED_FIELDS.contains(&name.as_str()))
        .collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        flatten_into(&fields[name.as_str()], &mut out);
    }
    Ok(out)
}

fn flatten_into(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(false) => {}
        Value::Bool(true) => out.push('1'),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => items.iter().for_each(|item| flatten_into(item, out)),
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            for name in names {
                flatten_into(&fields[name.as_str()], out);
            }
        }
    }
}

/// The seal of a data string, lower-case hex.
pub fn seal(data: &str, secret_key: &str, alg: SealAlgorithm) -> String {
    match alg {
        SealAlgorithm::HmacSha256 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(data.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        SealAlgorithm::Sha256 => {
            let mut hash = Sha256::new();
            hash.update(data.as_bytes());
            hash.update(secret_key.as_bytes());
            hex::encode(hash.finalize())
        }
    }
}

/// Checks a seal over a data string, in constant time (hex case is not significant).
pub fn verify_seal(data: &str, secret_key: &str, alg: SealAlgorithm, given: &str) -> bool {
    hex_eq_ignore_case(&seal(data, secret_key, alg), given)
}

/// The HMAC-SHA-256 seal of a JSON message (request to, or response from, Sips).
pub fn json_seal(message: &Value, secret_key: &str) -> Result<String, SealError> {
    Ok(seal(
        &json_data_string(message)?,
        secret_key,
        SealAlgorithm::HmacSha256,
    ))
}

/// Checks the `seal` field of a JSON message against its other fields. `false` when the message
/// is not an object or has no string `seal`.
pub fn verify_json_seal(message: &Value, secret_key: &str) -> bool {
    let Some(given) = message.get("seal").and_then(Value::as_str) else {
        return false;
    };
    match json_data_string(message) {
        Ok(data) => verify_seal(&data, secret_key, SealAlgorithm::HmacSha256, given),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Found by fuzzing (fuzz/regressions/sips_json): a number with many digits, sealed, written
    /// and read back, must still verify: serde_json reads floats with exact rounding
    /// (`float_roundtrip`), so what is written is what is read.
    #[test]
    fn a_long_number_survives_being_written_and_read_back() {
        let digits = "1".repeat(84);
        let mut message: Value =
            serde_json::from_str(&format!("{{\"ste\":[{digits}],\"n\":0.1e-300}}")).unwrap();
        let seal = json_seal(&message, "key").unwrap();
        message["seal"] = Value::String(seal);
        let again: Value = serde_json::from_str(&message.to_string()).unwrap();
        assert!(verify_json_seal(&again, "key"));
    }

    #[test]
    fn excluded_fields_sorted_keys_ordered_lists() {
        let m = json!({
            "seal": "x", "keyVersion": 1, "sealAlgorithm": "HMAC-SHA-256",
            "b": {"z": "Z", "a": ["2", "1"]}, "a": 7, "c": true, "d": false, "e": null
        });
        assert_eq!(json_data_string(&m).unwrap(), "721Z1");
    }

    #[test]
    fn not_an_object() {
        assert_eq!(json_data_string(&json!([1])), Err(SealError::NotAnObject));
        assert!(!verify_json_seal(&json!("x"), "k"));
        assert!(!verify_json_seal(&json!({"a": "1"}), "k"));
    }

    #[test]
    fn lower_case_hex() {
        for alg in [SealAlgorithm::HmacSha256, SealAlgorithm::Sha256] {
            let s = seal("data", "key", alg);
            assert_eq!(s.len(), 64);
            assert_eq!(s, s.to_ascii_lowercase());
        }
    }
}

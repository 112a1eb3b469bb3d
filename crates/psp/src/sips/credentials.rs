//! The credentials of a Sips merchant.

use std::fmt;

/// A Sips merchant (docs/PROVIDERS.md, "Test merchants"): `merchantId`, the secret key and its
/// `keyVersion`. `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `merchantId`.
    pub merchant_id: String,
    /// `keyVersion` of `secret_key`.
    pub key_version: u32,
    /// The secret key (never log it).
    pub secret_key: String,
}

impl Credentials {
    /// Credentials from plain values.
    pub fn new(
        merchant_id: impl Into<String>,
        key_version: u32,
        secret_key: impl Into<String>,
    ) -> Credentials {
        Credentials {
            merchant_id: merchant_id.into(),
            key_version,
            secret_key: secret_key.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("merchant_id", &self.merchant_id)
            .field("key_version", &self.key_version)
            .field("secret_key", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let c = Credentials::new("002001000000001", 1, "002001000000001_KEY1");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("002001000000001") && !dbg.contains("KEY1"));
    }
}

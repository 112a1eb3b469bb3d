//! The simulator's merchants: Ogone accounts and Sips merchants, and the `--accounts` file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use guichet_psp::ogone::signature::HashAlgorithm;
use serde::Deserialize;

/// How long a `timeout` fault (card or API) holds the reply back: longer than any client
/// timeout Guichet uses.
pub const DEFAULT_HANG: Duration = Duration::from_secs(60);

/// An Ogone merchant account (PSPID) with its API user and its signature settings.
#[derive(Clone)]
pub struct OgoneAccount {
    /// `PSPID`.
    pub pspid: String,
    /// The API user (`USERID`).
    pub userid: String,
    /// The API user's password (`PSWD`).
    pub pswd: String,
    /// SHA-IN passphrase (requests to the provider).
    pub sha_in: String,
    /// SHA-OUT passphrase (redirects and feedback from the provider).
    pub sha_out: String,
    /// The account's digest.
    pub algorithm: HashAlgorithm,
    /// Where post-sale feedback (after 3-D Secure) is POSTed; none: no feedback is sent.
    pub feedback_url: Option<String>,
}

impl fmt::Debug for OgoneAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OgoneAccount")
            .field("pspid", &self.pspid)
            .field("userid", &self.userid)
            .field("pswd", &"***")
            .field("sha_in", &"***")
            .field("sha_out", &"***")
            .field("algorithm", &self.algorithm)
            .field("feedback_url", &self.feedback_url)
            .finish()
    }
}

/// A Worldline Sips 2.0 merchant.
#[derive(Clone)]
pub struct SipsMerchant {
    /// `merchantId`.
    pub merchant_id: String,
    /// The secret key the seals are computed with.
    pub secret_key: String,
    /// `keyVersion` (requests must carry it).
    pub key_version: u32,
}

impl fmt::Debug for SipsMerchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipsMerchant")
            .field("merchant_id", &self.merchant_id)
            .field("secret_key", &"***")
            .field("key_version", &self.key_version)
            .finish()
    }
}

/// Everything the simulator knows before it listens (see the crate documentation for the
/// JSON form read by [`SimConfig::from_json_file`]).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Ogone accounts, by PSPID.
    pub ogone_accounts: Vec<OgoneAccount>,
    /// Sips merchants, by merchantId.
    pub sips_merchants: Vec<SipsMerchant>,
    /// How long a `timeout` fault holds a reply back ([`DEFAULT_HANG`]; tests use a second).
    pub hang: Duration,
}

impl Default for SimConfig {
    /// The public test merchants of docs/PROVIDERS.md (and API.md, `guichet psp-sim`).
    fn default() -> Self {
        SimConfig {
            ogone_accounts: vec![OgoneAccount {
                pspid: "GUICHETTEST".to_owned(),
                userid: "API".to_owned(),
                pswd: "guichet-test".to_owned(),
                sha_in: "Mysecretsig1875!?".to_owned(),
                sha_out: "Mysecretsig1875!?".to_owned(),
                algorithm: HashAlgorithm::Sha512,
                feedback_url: None,
            }],
            sips_merchants: vec![SipsMerchant {
                merchant_id: "002001000000001".to_owned(),
                secret_key: "002001000000001_KEY1".to_owned(),
                key_version: 1,
            }],
            hang: DEFAULT_HANG,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, alias = "ogone_accounts")]
    ogone: Vec<RawOgone>,
    #[serde(default, alias = "sips_merchants")]
    sips: Vec<RawSips>,
    #[serde(default)]
    hang_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOgone {
    pspid: String,
    userid: String,
    pswd: String,
    sha_in: String,
    sha_out: String,
    #[serde(default = "default_algorithm")]
    algorithm: String,
    #[serde(default)]
    feedback_url: Option<String>,
}

fn default_algorithm() -> String {
    "SHA-512".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSips {
    #[serde(alias = "merchantId")]
    merchant_id: String,
    #[serde(alias = "secretKey")]
    secret_key: String,
    #[serde(alias = "keyVersion")]
    key_version: u32,
}

impl SimConfig {
    /// Reads the JSON form of the crate documentation (`--accounts FILE`).
    pub fn from_json_str(json: &str) -> anyhow::Result<SimConfig> {
        let raw: RawConfig = serde_json::from_str(json).context("reading the accounts JSON")?;
        let mut ogone = Vec::with_capacity(raw.ogone.len());
        for account in raw.ogone {
            let Some(algorithm) = HashAlgorithm::parse(&account.algorithm) else {
                bail!(
                    "Ogone account {}: algorithm must be SHA-1, SHA-256 or SHA-512, not {:?}",
                    account.pspid,
                    account.algorithm
                );
            };
            if account.pspid.is_empty() {
                bail!("an Ogone account has an empty pspid");
            }
            if ogone
                .iter()
                .any(|a: &OgoneAccount| a.pspid == account.pspid)
            {
                bail!("Ogone account {} is given twice", account.pspid);
            }
            ogone.push(OgoneAccount {
                pspid: account.pspid,
                userid: account.userid,
                pswd: account.pswd,
                sha_in: account.sha_in,
                sha_out: account.sha_out,
                algorithm,
                feedback_url: account.feedback_url.filter(|u| !u.is_empty()),
            });
        }
        let mut sips = Vec::with_capacity(raw.sips.len());
        for merchant in raw.sips {
            if merchant.merchant_id.is_empty() {
                bail!("a Sips merchant has an empty merchant_id");
            }
            if sips
                .iter()
                .any(|m: &SipsMerchant| m.merchant_id == merchant.merchant_id)
            {
                bail!("Sips merchant {} is given twice", merchant.merchant_id);
            }
            sips.push(SipsMerchant {
                merchant_id: merchant.merchant_id,
                secret_key: merchant.secret_key,
                key_version: merchant.key_version,
            });
        }
        Ok(SimConfig {
            ogone_accounts: ogone,
            sips_merchants: sips,
            hang: raw.hang_ms.map_or(DEFAULT_HANG, Duration::from_millis),
        })
    }

    /// Reads an `--accounts FILE` (JSON, see the crate documentation).
    pub fn from_json_file(path: impl AsRef<Path>) -> anyhow::Result<SimConfig> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        SimConfig::from_json_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The Ogone account with this PSPID.
    pub fn ogone_account(&self, pspid: &str) -> Option<&OgoneAccount> {
        self.ogone_accounts.iter().find(|a| a.pspid == pspid)
    }

    /// The Sips merchant with this merchantId.
    pub fn sips_merchant(&self, merchant_id: &str) -> Option<&SipsMerchant> {
        self.sips_merchants
            .iter()
            .find(|m| m.merchant_id == merchant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_documented_test_merchants() {
        let c = SimConfig::default();
        let o = c.ogone_account("GUICHETTEST").unwrap();
        assert_eq!(
            (o.userid.as_str(), o.pswd.as_str()),
            ("API", "guichet-test")
        );
        assert_eq!(o.sha_in, "Mysecretsig1875!?");
        assert_eq!(o.algorithm, HashAlgorithm::Sha512);
        let s = c.sips_merchant("002001000000001").unwrap();
        assert_eq!(s.secret_key, "002001000000001_KEY1");
        assert_eq!(s.key_version, 1);
        assert_eq!(c.hang, DEFAULT_HANG);
        let debug = format!("{c:?}");
        assert!(!debug.contains("Mysecretsig") && !debug.contains("KEY1"));
    }

    #[test]
    fn json_form() {
        let c = SimConfig::from_json_str(
            r#"{"ogone": [{"pspid": "P", "userid": "U", "pswd": "W", "sha_in": "i",
                 "sha_out": "o", "algorithm": "SHA-256", "feedback_url": "http://x/fb"}],
                "sips": [{"merchantId": "M", "secretKey": "K", "keyVersion": 2}],
                "hang_ms": 1500}"#,
        )
        .unwrap();
        assert_eq!(c.ogone_accounts[0].algorithm, HashAlgorithm::Sha256);
        assert_eq!(
            c.ogone_accounts[0].feedback_url.as_deref(),
            Some("http://x/fb")
        );
        assert_eq!(c.sips_merchants[0].key_version, 2);
        assert_eq!(c.hang, Duration::from_millis(1500));
        assert!(SimConfig::from_json_str(r#"{"ogone": [{"pspid": "P"}]}"#).is_err());
        assert!(
            SimConfig::from_json_str(
                r#"{"ogone": [{"pspid": "P", "userid": "U", "pswd": "W", "sha_in": "i",
                 "sha_out": "o", "algorithm": "MD5"}]}"#
            )
            .is_err()
        );
        let empty = SimConfig::from_json_str("{}").unwrap();
        assert!(empty.ogone_accounts.is_empty() && empty.sips_merchants.is_empty());
    }
}

//! The credentials of an Ogone merchant account.

use std::fmt;

use super::directlink::Password;
use super::signature::HashAlgorithm;

/// A SHA-IN or SHA-OUT passphrase. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(pub String);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

impl Passphrase {
    /// The passphrase (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An Ogone account as DirectLink sees it (docs/PROVIDERS.md, "Test merchants"): `PSPID`, the
/// API user (`USERID`, `PSWD`), the SHA-IN and SHA-OUT passphrases and the account's hash
/// algorithm. `Debug` never prints the password or the passphrases.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `PSPID`.
    pub pspid: String,
    /// `USERID` (API user).
    pub userid: String,
    /// `PSWD`.
    pub pswd: Password,
    /// SHA-IN passphrase (requests).
    pub sha_in: Passphrase,
    /// SHA-OUT passphrase (feedback, Alias Gateway returns).
    pub sha_out: Passphrase,
    /// The account's digest.
    pub algorithm: HashAlgorithm,
}

impl Credentials {
    /// Credentials from plain strings.
    pub fn new(
        pspid: impl Into<String>,
        userid: impl Into<String>,
        pswd: impl Into<String>,
        sha_in: impl Into<String>,
        sha_out: impl Into<String>,
        algorithm: HashAlgorithm,
    ) -> Credentials {
        Credentials {
            pspid: pspid.into(),
            userid: userid.into(),
            pswd: Password(pswd.into()),
            sha_in: Passphrase(sha_in.into()),
            sha_out: Passphrase(sha_out.into()),
            algorithm,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("pspid", &self.pspid)
            .field("userid", &self.userid)
            .field("pswd", &"***")
            .field("sha_in", &"***")
            .field("sha_out", &"***")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::new(
            "GUICHETTEST",
            "API",
            "guichet-test",
            "Mysecretsig1875!?",
            "other-out-pass",
            HashAlgorithm::Sha512,
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("GUICHETTEST") && dbg.contains("API") && dbg.contains("Sha512"));
        for secret in ["guichet-test", "Mysecretsig1875!?", "other-out-pass"] {
            assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
        }
        assert!(!format!("{:?}", c.sha_in).contains("Mysecret"));
        assert_eq!(c.sha_out.expose(), "other-out-pass");
    }
}

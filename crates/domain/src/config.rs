//! Back-office vocabulary (SPEC F13), as types that can only hold valid values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why a configuration value was refused; `field` is filled in by the caller at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// A payment-mode code such as `CBWEB`: 1 to 20 characters, upper-case letters, digits, `_`
/// or `-`, starting with a letter. Unique per institution (enforced by the store).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PaymentModeCode(String);

impl PaymentModeCode {
    pub const MAX_LEN: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return invalid("must not be empty");
        }
        if raw.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if raw.chars().any(|c| c.is_ascii_lowercase()) {
            return invalid("must be upper-case (e.g. CBWEB)");
        }
        let mut chars = raw.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_uppercase()) {
            return invalid("must start with a letter A-Z");
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return invalid("may contain only A-Z, 0-9, '_' and '-'");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentModeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => invalid(format!(
                        "must be one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What a payment mode does (SPEC vocabulary). `cash` and `cheque` are box-office only.
    PaymentModeType {
        Card => "card",
        Voucher => "voucher",
        CreditBalance => "credit_balance",
        DeferredAccount => "deferred_account",
        Cash => "cash",
        Cheque => "cheque",
    }
);

text_enum!(
    /// Whether buyers see a payment mode.
    PaymentModeStatus {
        Visible => "visible",
        Hidden => "hidden",
        Archived => "archived",
    }
);

text_enum!(
    /// The kind of a sales channel.
    ChannelKind {
        Internet => "internet",
        BoxOffice => "box_office",
        Mobile => "mobile",
    }
);

text_enum!(
    /// Which provider protocol a channel's payment system speaks.
    ProviderKind {
        Ogone => "ogone",
        Sips => "sips",
    }
);

text_enum!(
    /// Back-office roles: `admin` configures, `operator` follows up orders and contacts.
    Role {
        Admin => "admin",
        Operator => "operator",
    }
);

text_enum!(
    /// 3-D Secure policy of a sales channel (SPEC F11).
    ThreeDsPolicy {
        Always => "always",
        Never => "never",
        CloseToEvent => "close_to_event",
    }
);

impl ProviderKind {
    /// What each provider's integration offers (SPEC F7: shown per payment system).
    pub fn features(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Ogone => &[
                "card_payment",
                "saved_cards",
                "three_d_secure",
                "refund",
                "installments",
                "status_query",
                "post_sale_feedback",
            ],
            ProviderKind::Sips => &[
                "card_payment",
                "three_d_secure",
                "refund",
                "cancel",
                "status_query",
                "automatic_response",
            ],
        }
    }

    /// Secrets the provider needs, by name; the back office must supply them.
    pub fn credential_names(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Ogone => &["password", "sha_in", "sha_out"],
            ProviderKind::Sips => &["secret_key"],
        }
    }
}

/// A provider base URL: `https://…`, or `http://` for a local simulator.
pub fn parse_base_url(raw: &str) -> Result<String, Invalid> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !url.chars().any(|c| c.is_whitespace() || c.is_control())
                && url.len() <= 500 =>
        {
            Ok(url.to_owned())
        }
        _ => invalid("must be an http(s) URL such as https://secure.ogone.com"),
    }
}

impl PaymentModeType {
    /// Types that only make sense at a counter, never online.
    pub fn box_office_only(self) -> bool {
        matches!(self, PaymentModeType::Cash | PaymentModeType::Cheque)
    }
}

/// A language tag as used for public names: two lower-case ASCII letters (ISO 639-1).
pub fn parse_language(raw: &str) -> Result<String, Invalid> {
    if raw.len() == 2 && raw.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(raw.to_owned())
    } else {
        invalid("must be an ISO 639-1 language code such as \"fr\" or \"en\"")
    }
}

/// Public names of a payment mode per language; at least one, none empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PublicNames(BTreeMap<String, String>);

impl PublicNames {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return invalid("at least one language is required");
        }
        let mut names = BTreeMap::new();
        for (lang, name) in raw {
            let lang = parse_language(lang)?;
            let name = name.trim();
            if name.is_empty() {
                return invalid(format!("the {lang} name must not be empty"));
            }
            if name.chars().count() > Self::MAX_LEN {
                return invalid(format!(
                    "the {lang} name must be at most {} characters",
                    Self::MAX_LEN
                ));
            }
            names.insert(lang, name.to_owned());
        }
        Ok(Self(names))
    }

    pub fn get(&self, lang: &str) -> Option<&str> {
        self.0.get(lang).map(String::as_str)
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// A required human-readable name (institution, organizer, channel, internal name...).
pub fn parse_name(raw: &str, max_len: usize) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return invalid("must not be empty");
    }
    if name.chars().count() > max_len {
        return invalid(format!("must be at most {max_len} characters"));
    }
    if name.chars().any(|c| c.is_control()) {
        return invalid("must not contain control characters");
    }
    Ok(name.to_owned())
}

/// A plausible e-mail address: one `@`, non-empty local part, a dot in the domain, no spaces.
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let email = raw.trim();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok {
        Ok(email.to_owned())
    } else {
        invalid("must be an e-mail address such as anne@example.org")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_mode_codes() {
        let check = |raw: &str, ok: bool| {
            assert_eq!(PaymentModeCode::parse(raw).is_ok(), ok, "{raw:?}");
        };
        check("CBWEB", true);
        check("BON", true);
        check("CB_WEB-2", true);
        check("", false);
        check("cbweb", false);
        check("CBweb", false);
        check("1CB", false);
        check("CB WEB", false);
        check("ABCDEFGHIJKLMNOPQRSTU", false);
    }

    #[test]
    fn enums_round_trip() {
        for t in PaymentModeType::ALL {
            assert_eq!(PaymentModeType::parse(t.as_str()), Ok(*t));
        }
        assert!(PaymentModeType::parse("Card").is_err());
        assert!(PaymentModeStatus::parse("visible").is_ok());
    }

    #[test]
    fn public_names() {
        let mut m = BTreeMap::new();
        m.insert("fr".to_owned(), "FR * CB WEB".to_owned());
        m.insert("en".to_owned(), " EN * CB WEB ".to_owned());
        let names = PublicNames::parse(&m).unwrap();
        assert_eq!(names.get("en"), Some("EN * CB WEB"));
        m.insert("EN".to_owned(), "x".to_owned());
        assert!(PublicNames::parse(&m).is_err());
        assert!(PublicNames::parse(&BTreeMap::new()).is_err());
    }

    #[test]
    fn emails() {
        assert!(parse_email("anne.licatese@secutixtest.com").is_ok());
        assert!(parse_email("anne").is_err());
        assert!(parse_email("a@b").is_err());
        assert!(parse_email("a b@c.d").is_err());
    }
}

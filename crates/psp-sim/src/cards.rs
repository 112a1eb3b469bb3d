//! The simulator's test cards and the card data it keeps (in memory only).

use std::fmt;

use guichet_domain::card::{CardBrand, CardExpiry, MaskedPan};

/// What a card number makes the simulated acquirer and issuer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBehaviour {
    /// Authorised, no 3-D Secure.
    Approve,
    /// 3-D Secure challenge (Ogone: only with `FLAG3D=Y` and `ECI` other than 9).
    Challenge,
    /// 3-D Secure frictionless: authenticated without a challenge.
    Frictionless,
    /// 3-D Secure authentication failed (Ogone STATUS 2 / 40001134 when `FLAG3D=Y`).
    AuthenticationFailed,
    /// Refused by the issuer: Ogone STATUS 2 / 30051001, Sips 05.
    Decline,
    /// Insufficient funds: Ogone STATUS 2 / 30511001, Sips 51.
    InsufficientFunds,
    /// Recorded and captured, then the reply is held back for `SimConfig::hang`.
    Timeout,
    /// Recorded and captured, then the connection is closed without a reply.
    LostReply,
    /// HTTP 500 before anything is recorded.
    Http500,
    /// Recorded and captured, then a truncated reply.
    Malformed,
}

impl CardBehaviour {
    /// Every behaviour, in the order of the enum.
    pub const ALL: &'static [CardBehaviour] = &[
        CardBehaviour::Approve,
        CardBehaviour::Challenge,
        CardBehaviour::Frictionless,
        CardBehaviour::AuthenticationFailed,
        CardBehaviour::Decline,
        CardBehaviour::InsufficientFunds,
        CardBehaviour::Timeout,
        CardBehaviour::LostReply,
        CardBehaviour::Http500,
        CardBehaviour::Malformed,
    ];

    /// The name used by `/__sim` (`approve`, `decline`, `insufficient_funds`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CardBehaviour::Approve => "approve",
            CardBehaviour::Challenge => "challenge",
            CardBehaviour::Frictionless => "frictionless",
            CardBehaviour::AuthenticationFailed => "authentication_failed",
            CardBehaviour::Decline => "decline",
            CardBehaviour::InsufficientFunds => "insufficient_funds",
            CardBehaviour::Timeout => "timeout",
            CardBehaviour::LostReply => "lost_reply",
            CardBehaviour::Http500 => "http500",
            CardBehaviour::Malformed => "malformed",
        }
    }

    /// Reads a name of [`CardBehaviour::as_str`] (case and `-`/`_` ignored; `declined` and
    /// `funds` accepted too).
    pub fn parse(text: &str) -> Option<CardBehaviour> {
        let compact: String = text
            .trim()
            .chars()
            .filter(|c| *c != '_' && *c != '-' && *c != ' ')
            .collect::<String>()
            .to_ascii_lowercase();
        match compact.as_str() {
            "declined" => return Some(CardBehaviour::Decline),
            "funds" => return Some(CardBehaviour::InsufficientFunds),
            _ => {}
        }
        CardBehaviour::ALL
            .iter()
            .copied()
            .find(|b| b.as_str().replace('_', "") == compact)
    }
}

/// One line of the test-card table.
#[derive(Debug, Clone, Copy)]
pub struct TestCard {
    /// The number, digits only.
    pub number: &'static str,
    /// Its scheme.
    pub brand: CardBrand,
    /// What it does.
    pub behaviour: CardBehaviour,
}

const fn card(number: &'static str, brand: CardBrand, behaviour: CardBehaviour) -> TestCard {
    TestCard {
        number,
        brand,
        behaviour,
    }
}

/// The documented test card numbers, digits only (crate documentation and docs/PROVIDERS.md,
/// "Simulator test cards").
pub mod numbers {
    /// Visa, approved, no 3-D Secure.
    pub const VISA_OK: &str = "4111111111111111";
    /// Mastercard, approved.
    pub const MASTERCARD_OK: &str = "5399999999999999";
    /// American Express, approved (4-digit CVC).
    pub const AMEX_OK: &str = "374111111111111";
    /// Visa, 3-D Secure challenge.
    pub const VISA_3DS: &str = "4000000000000002";
    /// Mastercard, 3-D Secure challenge.
    pub const MASTERCARD_3DS: &str = "5130257474533310";
    /// Mastercard, 3-D Secure challenge (the ePDQ test card).
    pub const MASTERCARD_3DS_2: &str = "5555555555554444";
    /// American Express, 3-D Secure challenge.
    pub const AMEX_3DS: &str = "371449635311004";
    /// Visa, 3-D Secure frictionless (authenticated without a challenge).
    pub const VISA_FRICTIONLESS: &str = "4186455175836497";
    /// Visa, 3-D Secure authentication failed.
    pub const AUTHENTICATION_FAILED: &str = "4419177274955460";
    /// Visa, declined by the issuer (Ogone 30051001, Sips 05).
    pub const DECLINED: &str = "4000000000000051";
    /// Visa, insufficient funds (Ogone 30511001, Sips 51).
    pub const INSUFFICIENT_FUNDS: &str = "4000000000000515";
    /// Visa, captured then the reply is held back (`SimConfig::hang`).
    pub const TIMEOUT: &str = "4000000000004087";
    /// Visa, captured then the connection is closed without a reply.
    pub const LOST_REPLY: &str = "4000000000005027";
    /// Visa, HTTP 500 before anything is recorded.
    pub const HTTP_500: &str = "4000000000005001";
    /// Visa, captured then a truncated reply.
    pub const MALFORMED: &str = "4000000000004228";
}

/// The documented test cards. Every other Luhn-valid number of a known brand is approved
/// without 3-D Secure.
pub const TEST_CARDS: &[TestCard] = {
    use CardBehaviour::*;
    use CardBrand::*;
    use numbers::*;
    &[
        card(VISA_OK, Visa, Approve),
        card(MASTERCARD_OK, Mastercard, Approve),
        card(AMEX_OK, Amex, Approve),
        card(VISA_3DS, Visa, Challenge),
        card(MASTERCARD_3DS, Mastercard, Challenge),
        card(MASTERCARD_3DS_2, Mastercard, Challenge),
        card(AMEX_3DS, Amex, Challenge),
        card(VISA_FRICTIONLESS, Visa, Frictionless),
        card(AUTHENTICATION_FAILED, Visa, AuthenticationFailed),
        card(DECLINED, Visa, Decline),
        card(INSUFFICIENT_FUNDS, Visa, InsufficientFunds),
        card(TIMEOUT, Visa, Timeout),
        card(LOST_REPLY, Visa, LostReply),
        card(HTTP_500, Visa, Http500),
        card(MALFORMED, Visa, Malformed),
    ]
};

/// The behaviour of a (valid) card number, digits only.
pub fn behaviour_of(digits: &str) -> CardBehaviour {
    TEST_CARDS
        .iter()
        .find(|c| c.number == digits)
        .map_or(CardBehaviour::Approve, |c| c.behaviour)
}

/// A card as the buyer typed it, checked. Lives only in the simulator's memory; `Debug`
/// shows the masked number only.
#[derive(Clone)]
pub struct CardData {
    number: String,
    /// Expiry month.
    pub expiry: CardExpiry,
    /// The security code, when one was given (kept "for a limited time" by a real provider;
    /// here until the alias is gone).
    cvc: Option<String>,
    /// Holder name.
    pub holder: String,
    /// Scheme.
    pub brand: CardBrand,
}

impl CardData {
    /// `number` must be digits only, already checked (Luhn, length by brand).
    pub fn new(
        number: String,
        expiry: CardExpiry,
        cvc: Option<String>,
        holder: String,
        brand: CardBrand,
    ) -> CardData {
        CardData {
            number,
            expiry,
            cvc,
            holder,
            brand,
        }
    }

    /// The full number: only for comparing and for the behaviour table, never for output.
    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn set_cvc(&mut self, cvc: String) {
        self.cvc = Some(cvc);
    }

    /// Takes the security code out (a CVC is used once).
    pub fn take_cvc(&mut self) -> Option<String> {
        self.cvc.take()
    }

    /// This card without its security code.
    pub fn without_cvc(mut self) -> CardData {
        self.cvc = None;
        self
    }

    pub fn has_cvc(&self) -> bool {
        self.cvc.is_some()
    }

    pub fn behaviour(&self) -> CardBehaviour {
        behaviour_of(&self.number)
    }

    /// Ogone form: `XXXXXXXXXXXX1111` (X for every digit but the last 4).
    pub fn masked_ogone(&self) -> String {
        mask_last4(&self.number, 'X')
    }

    /// Sips form: `411111######1111`.
    pub fn masked_sips(&self) -> String {
        let len = self.number.len();
        let mut out = String::with_capacity(len);
        for (i, c) in self.number.chars().enumerate() {
            out.push(if i < 6 || i + 4 >= len { c } else { '#' });
        }
        out
    }

    /// Storage form of the domain (`411111XXXXXX1111`), used by `/__sim` listings.
    pub fn masked_pan(&self) -> String {
        MaskedPan::from_number(&self.number)
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|_| self.masked_ogone())
    }

    /// `MMYY`.
    pub fn ed(&self) -> String {
        format!("{:02}{:02}", self.expiry.month(), self.expiry.year() % 100)
    }

    /// `YYYYMM`.
    pub fn expiry_yyyymm(&self) -> String {
        format!("{:04}{:02}", self.expiry.year(), self.expiry.month())
    }
}

impl fmt::Debug for CardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardData")
            .field("number", &self.masked_pan())
            .field("expiry", &self.expiry)
            .field("cvc", &self.cvc.as_ref().map(|_| "***"))
            .field("brand", &self.brand)
            .finish()
    }
}

/// `X` for every character but the last 4.
pub fn mask_last4(digits: &str, with: char) -> String {
    let len = digits.chars().count();
    digits
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 4 >= len { c } else { with })
        .collect()
}

/// Ogone's brand names.
pub fn ogone_brand(brand: CardBrand) -> &'static str {
    match brand {
        CardBrand::Visa => "VISA",
        CardBrand::Mastercard => "MasterCard",
        CardBrand::Amex => "American Express",
    }
}

/// Sips' `paymentMeanBrand`.
pub fn sips_brand(brand: CardBrand) -> &'static str {
    match brand {
        CardBrand::Visa => "VISA",
        CardBrand::Mastercard => "MASTERCARD",
        CardBrand::Amex => "AMEX",
    }
}

/// Reads a `BRAND` field as sent by a merchant (`VISA`, `MasterCard`, `American Express`,
/// `AMEX`, ...).
pub fn parse_brand(text: &str) -> Option<CardBrand> {
    let compact: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    match compact.as_str() {
        "VISA" => Some(CardBrand::Visa),
        "MASTERCARD" | "MC" | "ECMC" => Some(CardBrand::Mastercard),
        "AMERICANEXPRESS" | "AMEX" => Some(CardBrand::Amex),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guichet_domain::card::{brand_of, luhn_valid};

    #[test]
    fn table_is_luhn_valid_with_the_right_brand_and_unique() {
        for (i, c) in TEST_CARDS.iter().enumerate() {
            assert!(luhn_valid(c.number), "{}", c.number);
            assert_eq!(brand_of(c.number), Some(c.brand), "{}", c.number);
            assert!(c.brand.lengths().contains(&c.number.len()), "{}", c.number);
            assert!(
                TEST_CARDS[i + 1..].iter().all(|o| o.number != c.number),
                "{} twice",
                c.number
            );
        }
        assert_eq!(behaviour_of("4242424242424242"), CardBehaviour::Approve);
    }

    #[test]
    fn behaviour_names() {
        for b in CardBehaviour::ALL {
            assert_eq!(CardBehaviour::parse(b.as_str()), Some(*b));
        }
        assert_eq!(
            CardBehaviour::parse("Insufficient-Funds"),
            Some(CardBehaviour::InsufficientFunds)
        );
        assert_eq!(
            CardBehaviour::parse("declined"),
            Some(CardBehaviour::Decline)
        );
        assert_eq!(CardBehaviour::parse("sometimes"), None);
    }

    #[test]
    fn masks() {
        let c = CardData::new(
            "4111111111111111".into(),
            CardExpiry::new(12, 2030).unwrap(),
            Some("123".into()),
            "A B".into(),
            CardBrand::Visa,
        );
        assert_eq!(c.masked_ogone(), "XXXXXXXXXXXX1111");
        assert_eq!(c.masked_sips(), "411111######1111");
        assert_eq!(c.masked_pan(), "411111XXXXXX1111");
        assert_eq!(c.ed(), "1230");
        assert_eq!(c.expiry_yyyymm(), "203012");
        let debug = format!("{c:?}");
        assert!(!debug.contains("4111111111111111") && !debug.contains("123\""));
        assert_eq!(mask_last4("371449635311004", 'X'), "XXXXXXXXXXX1004");
    }
}

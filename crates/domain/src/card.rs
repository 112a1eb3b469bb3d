//! Card rules (SPEC F7, F8; DESIGN invariant 3): brand, Luhn, length, expiry and CVV checks
//! made before anything is sent, and the masked number kept for a saved card.
//!
//! Guichet itself never receives a card number or a CVV: these checks run where the number is
//! (the provider simulator, the page's own validation mirrored here so both agree). Nothing in
//! this module keeps them: [`CardError`] messages and every `Debug` form carry neither, and
//! [`MaskedPan`] holds at most the BIN (first 6 digits) and the last 4.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

/// The card schemes Guichet accepts (SPEC F7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CardBrand {
    #[serde(rename = "visa")]
    Visa,
    #[serde(rename = "mastercard")]
    Mastercard,
    #[serde(rename = "amex")]
    Amex,
}

impl CardBrand {
    pub const ALL: &'static [CardBrand] =
        &[CardBrand::Visa, CardBrand::Mastercard, CardBrand::Amex];

    /// Stored and API form: `"visa"`, `"mastercard"`, `"amex"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
        }
    }

    /// What the buyer reads: `"VISA"`, `"Mastercard"`, `"American Express"`.
    pub fn display_name(self) -> &'static str {
        match self {
            CardBrand::Visa => "VISA",
            CardBrand::Mastercard => "Mastercard",
            CardBrand::Amex => "American Express",
        }
    }

    /// Number lengths the scheme issues.
    pub fn lengths(self) -> &'static [usize] {
        match self {
            CardBrand::Visa => &[13, 16, 19],
            CardBrand::Mastercard => &[16],
            CardBrand::Amex => &[15],
        }
    }

    /// Digits in the card security code: 4 for Amex, 3 otherwise.
    pub fn cvv_len(self) -> usize {
        match self {
            CardBrand::Amex => 4,
            CardBrand::Visa | CardBrand::Mastercard => 3,
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a card, expiry or masked number was refused. No variant carries, and no message
/// repeats, the card number or the CVV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the card number is empty")]
    Empty,
    #[error("the card number may contain only digits, spaces and dashes")]
    NotDigits,
    #[error("only VISA, Mastercard and American Express cards are accepted")]
    UnknownBrand,
    #[error("{} card numbers have {} digits", .0.display_name(), lengths_text(*.0))]
    WrongLength(CardBrand),
    #[error("the card number is mistyped (check digit does not match)")]
    Luhn,
    #[error("the expiry month must be between 1 and 12")]
    InvalidMonth,
    #[error("the expiry date must look like 12/2026, 12/26 or 1226")]
    InvalidExpiry,
    #[error("the card has expired")]
    Expired,
    #[error("the security code (CVV) may contain only digits")]
    CvvNotDigits,
    #[error("{} cards have a {}-digit security code (CVV)", .0.display_name(), .0.cvv_len())]
    WrongCvvLength(CardBrand),
    #[error(
        "a masked card number has 12 to 19 positions, digits only in the first 6 and last 4, \
         like XXXXXXXXXXXX4242"
    )]
    InvalidMasked,
}

fn lengths_text(brand: CardBrand) -> String {
    let lengths: Vec<String> = brand.lengths().iter().map(usize::to_string).collect();
    match lengths.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => lengths.concat(),
    }
}

/// The digits of a number as typed: spaces and dashes removed. An error when nothing is left
/// or anything but digits is.
fn normalize(number: &str) -> Result<String, CardError> {
    let digits: String = number
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    if digits.is_empty() {
        return Err(CardError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::NotDigits);
    }
    Ok(digits)
}

/// Luhn (mod 10) check over ASCII digits. False for an empty string or any non-digit.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (index, byte) in digits.bytes().rev().enumerate() {
        if !byte.is_ascii_digit() {
            return false;
        }
        let mut value = u32::from(byte - b'0');
        if index % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum.is_multiple_of(10)
}

/// The scheme of a number from its leading digits: Visa `4`; Mastercard `51`–`55` and
/// `2221`–`2720`; Amex `34`, `37`. `None` for anything else.
pub fn brand_of(digits: &str) -> Option<CardBrand> {
    let prefix = |n: usize| -> Option<u16> {
        let head = digits.get(..n)?;
        if head.bytes().all(|b| b.is_ascii_digit()) {
            head.parse().ok()
        } else {
            None
        }
    };
    if prefix(1) == Some(4) {
        return Some(CardBrand::Visa);
    }
    match prefix(2) {
        Some(34 | 37) => return Some(CardBrand::Amex),
        Some(51..=55) => return Some(CardBrand::Mastercard),
        _ => {}
    }
    match prefix(4) {
        Some(2221..=2720) => Some(CardBrand::Mastercard),
        _ => None,
    }
}

/// A card as typed on the payment page, checked by [`CardCheck::run`]. `Debug` hides the
/// number and the CVV.
#[derive(Clone, Copy)]
pub struct CardCheck<'a> {
    pub number: &'a str,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvv: &'a str,
}

impl CardCheck<'_> {
    /// Same as [`check_card`].
    pub fn run(&self, today: Date) -> Result<CardBrand, CardError> {
        check_card(self.number, self.exp_month, self.exp_year, self.cvv, today)
    }
}

impl fmt::Debug for CardCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardCheck")
            .field("number", &"<redacted>")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvv", &"<redacted>")
            .finish()
    }
}

/// Checks a card before anything is sent (SPEC F7), in this order: number (spaces and dashes
/// ignored, digits only, known brand, length for that brand, Luhn), expiry (month 1..=12, four-
/// digit year 2000..=2099, not before the month of `today`), CVV (digits, 3 or 4 for Amex).
/// Returns the brand. Errors never repeat the number or the CVV.
pub fn check_card(
    number: &str,
    exp_month: u8,
    exp_year: u16,
    cvv: &str,
    today: Date,
) -> Result<CardBrand, CardError> {
    let digits = normalize(number)?;
    let brand = brand_of(&digits).ok_or(CardError::UnknownBrand)?;
    if !brand.lengths().contains(&digits.len()) {
        return Err(CardError::WrongLength(brand));
    }
    if !luhn_valid(&digits) {
        return Err(CardError::Luhn);
    }
    let expiry = CardExpiry::new(exp_month, exp_year)?;
    if expiry.is_expired(today) {
        return Err(CardError::Expired);
    }
    if cvv.is_empty() || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::CvvNotDigits);
    }
    if cvv.len() != brand.cvv_len() {
        return Err(CardError::WrongCvvLength(brand));
    }
    Ok(brand)
}

/// Shortest and longest card numbers a [`MaskedPan`] stands for.
const PAN_MIN: usize = 12;
const PAN_MAX: usize = 19;
/// Digits a masked number may keep at each end (PCI DSS: BIN + last 4).
const BIN_LEN: usize = 6;
const LAST_LEN: usize = 4;

/// A masked card number keeping at most the BIN (first 6 digits) and the last 4.
///
/// Storage form ([`MaskedPan::as_str`], serde): one position per digit of the number, the hidden
/// ones as `X`, e.g. `"424242XXXXXX4242"`; providers may hide more (`"XXXXXXXXXXXX4242"`).
/// Buyer form ([`MaskedPan::display`], `Display`, `Debug`): only the last 4, grouped as on the
/// card: `"XXXX XXXX XXXX 4242"`; 15 positions (Amex) `"XXXX XXXXXX X0005"` (4-6-5); other
/// lengths in groups of 4 from the right, e.g. 13 → `"X XXXX XXXX 1881"`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MaskedPan(String);

impl MaskedPan {
    /// Masks a full number (spaces and dashes ignored; 12 to 19 digits): keeps the first 6 and
    /// last 4. Errors never repeat the number.
    pub fn from_number(digits: &str) -> Result<MaskedPan, CardError> {
        let digits = normalize(digits)?;
        let len = digits.len();
        if !(PAN_MIN..=PAN_MAX).contains(&len) {
            return Err(CardError::InvalidMasked);
        }
        let masked = digits
            .char_indices()
            .map(|(i, c)| {
                if i < BIN_LEN || i >= len - LAST_LEN {
                    c
                } else {
                    'X'
                }
            })
            .collect();
        Ok(MaskedPan(masked))
    }

    /// Reads a provider's masked number (`"XXXXXXXXXXXX4242"`, `"4242XXXXXXXX4242"`,
    /// `"424242******4242"`, spaces ignored): 12 to 19 positions; `X`, `x` or `*` anywhere,
    /// digits only in the first 6 and last 4 positions, and the last 4 must be digits.
    pub fn parse(provider_masked: &str) -> Result<MaskedPan, CardError> {
        let chars: Vec<char> = provider_masked
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let len = chars.len();
        if !(PAN_MIN..=PAN_MAX).contains(&len) {
            return Err(CardError::InvalidMasked);
        }
        let mut out = String::with_capacity(len);
        for (i, &c) in chars.iter().enumerate() {
            let in_bin = i < BIN_LEN;
            let in_last = i >= len - LAST_LEN;
            let normalized = match c {
                'X' | 'x' | '*' if !in_last => 'X',
                '0'..='9' if in_bin || in_last => c,
                _ => return Err(CardError::InvalidMasked),
            };
            out.push(normalized);
        }
        Ok(MaskedPan(out))
    }

    /// Storage form, `"424242XXXXXX4242"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last 4 digits, `"4242"`.
    pub fn last4(&self) -> &str {
        // The constructors guarantee at least 12 ASCII positions.
        self.0.get(self.0.len() - LAST_LEN..).unwrap_or("")
    }

    /// Buyer form, `"XXXX XXXX XXXX 4242"` (see the type's documentation for other lengths).
    pub fn display(&self) -> String {
        let len = self.0.len();
        let plain: String = "X".repeat(len - LAST_LEN) + self.last4();
        let groups: Vec<usize> = if len == 15 {
            vec![4, 6, 5]
        } else {
            let mut sizes = Vec::new();
            let head = len % 4;
            if head != 0 {
                sizes.push(head);
            }
            sizes.extend(std::iter::repeat_n(4, len / 4));
            sizes
        };
        let mut out = String::with_capacity(len + groups.len());
        let mut start = 0;
        for size in groups {
            if start > 0 {
                out.push(' ');
            }
            out.push_str(plain.get(start..start + size).unwrap_or(""));
            start += size;
        }
        out
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl fmt::Debug for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedPan({})", self.display())
    }
}

impl TryFrom<String> for MaskedPan {
    type Error = CardError;
    fn try_from(raw: String) -> Result<Self, CardError> {
        MaskedPan::parse(&raw)
    }
}

impl From<MaskedPan> for String {
    fn from(pan: MaskedPan) -> String {
        pan.0
    }
}

/// A card's expiry month: valid through the last day of `month`/`year`. Shown `"12/2016"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardExpiry {
    year: u16,
    month: u8,
}

impl CardExpiry {
    /// Month 1..=12 and a four-digit year 2000..=2099.
    pub fn new(month: u8, year: u16) -> Result<CardExpiry, CardError> {
        if !(1..=12).contains(&month) {
            return Err(CardError::InvalidMonth);
        }
        if !(2000..=2099).contains(&year) {
            return Err(CardError::InvalidExpiry);
        }
        Ok(CardExpiry { year, month })
    }

    /// Reads `"12/2016"`, `"12/16"`, `"1216"`, `"122016"` (also `"1/17"`, `"12-16"`, spaces
    /// ignored). A two-digit year is 20YY.
    pub fn parse(raw: &str) -> Result<CardExpiry, CardError> {
        let text: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let (month, year) = match text.split_once(['/', '-']) {
            Some((m, y)) if (1..=2).contains(&m.len()) => (m, y),
            Some(_) => return Err(CardError::InvalidExpiry),
            None if text.len() == 4 || text.len() == 6 => text.split_at(2),
            None => return Err(CardError::InvalidExpiry),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(month) || !all_digits(year) {
            return Err(CardError::InvalidExpiry);
        }
        let month: u8 = month.parse().map_err(|_| CardError::InvalidExpiry)?;
        let year: u16 = match year.len() {
            2 => 2000 + year.parse::<u16>().map_err(|_| CardError::InvalidExpiry)?,
            4 => year.parse().map_err(|_| CardError::InvalidExpiry)?,
            _ => return Err(CardError::InvalidExpiry),
        };
        CardExpiry::new(month, year)
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn year(self) -> u16 {
        self.year
    }

    /// True once the month has passed: a card expiring 12/2016 still works on 2016-12-31.
    pub fn is_expired(self, today: Date) -> bool {
        let current = (today.year(), u8::from(today.month()));
        (i32::from(self.year), self.month) < current
    }
}

impl fmt::Display for CardExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:04}", self.month, self.year)
    }
}

impl TryFrom<String> for CardExpiry {
    type Error = CardError;
    fn try_from(raw: String) -> Result<Self, CardError> {
        CardExpiry::parse(&raw)
    }
}

impl From<CardExpiry> for String {
    fn from(expiry: CardExpiry) -> String {
        expiry.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 15);

    #[test]
    fn brands_and_names() {
        for (brand, text, name) in [
            (CardBrand::Visa, "visa", "VISA"),
            (CardBrand::Mastercard, "mastercard", "Mastercard"),
            (CardBrand::Amex, "amex", "American Express"),
        ] {
            assert_eq!(brand.as_str(), text);
            assert_eq!(brand.to_string(), text);
            assert_eq!(brand.display_name(), name);
            let json = serde_json::to_string(&brand).unwrap();
            assert_eq!(json, format!("\"{text}\""));
        }
        assert_eq!(CardBrand::ALL.len(), 3);
    }

    #[test]
    fn brand_prefixes() {
        for (digits, expect) in [
            ("4242424242424242", Some(CardBrand::Visa)),
            ("4", Some(CardBrand::Visa)),
            ("5105105105105100", Some(CardBrand::Mastercard)),
            ("5555555555554444", Some(CardBrand::Mastercard)),
            ("5012345678901234", None),
            ("5612345678901234", None),
            ("2221000000000009", Some(CardBrand::Mastercard)),
            ("2223003122003222", Some(CardBrand::Mastercard)),
            ("2720990000000000", Some(CardBrand::Mastercard)),
            ("2220990000000000", None),
            ("2721000000000000", None),
            ("378282246310005", Some(CardBrand::Amex)),
            ("341111111111111", Some(CardBrand::Amex)),
            ("351111111111111", None),
            ("6011111111111117", None),
            ("", None),
            ("x4", None),
            ("3", None),
        ] {
            assert_eq!(brand_of(digits), expect, "{digits}");
        }
    }

    #[test]
    fn luhn() {
        for (digits, expect) in [
            ("4242424242424242", true),
            ("4242424242424241", false),
            ("378282246310005", true),
            ("0", true),
            ("18", true),
            ("", false),
            ("42a2", false),
        ] {
            assert_eq!(luhn_valid(digits), expect, "{digits}");
        }
    }

    #[test]
    fn check_cards() {
        use CardBrand::*;
        use CardError::*;
        type Case = (
            &'static str,
            u8,
            u16,
            &'static str,
            Result<CardBrand, CardError>,
        );
        let cases: &[Case] = &[
            ("4242424242424242", 12, 2030, "737", Ok(Visa)),
            ("4242 4242 4242 4242", 12, 2030, "737", Ok(Visa)),
            ("4242-4242-4242-4242", 3, 2026, "737", Ok(Visa)),
            ("5555555555554444", 1, 2027, "737", Ok(Mastercard)),
            ("2223003122003222", 1, 2027, "737", Ok(Mastercard)),
            ("378282246310005", 1, 2027, "7373", Ok(Amex)),
            ("4000000000000002", 1, 2027, "737", Ok(Visa)),
            ("4222222222222", 1, 2027, "737", Ok(Visa)),
            ("4111111111111111110", 1, 2027, "737", Ok(Visa)),
            ("", 1, 2027, "737", Err(Empty)),
            (" - ", 1, 2027, "737", Err(Empty)),
            ("4242.4242.4242.4242", 1, 2027, "737", Err(NotDigits)),
            ("6011111111111117", 1, 2027, "737", Err(UnknownBrand)),
            ("4242424242424241", 1, 2027, "737", Err(Luhn)),
            ("424242424242424", 1, 2027, "737", Err(WrongLength(Visa))),
            ("42424242424242428", 1, 2027, "737", Err(WrongLength(Visa))),
            (
                "555555555555444",
                1,
                2027,
                "737",
                Err(WrongLength(Mastercard)),
            ),
            ("3782822463100054", 1, 2027, "7373", Err(WrongLength(Amex))),
            ("4242424242424242", 2, 2026, "737", Err(Expired)),
            ("4242424242424242", 12, 2025, "737", Err(Expired)),
            ("4242424242424242", 0, 2027, "737", Err(InvalidMonth)),
            ("4242424242424242", 13, 2027, "737", Err(InvalidMonth)),
            ("4242424242424242", 12, 27, "737", Err(InvalidExpiry)),
            (
                "4242424242424242",
                1,
                2027,
                "7373",
                Err(WrongCvvLength(Visa)),
            ),
            ("4242424242424242", 1, 2027, "73", Err(WrongCvvLength(Visa))),
            (
                "5555555555554444",
                1,
                2027,
                "7373",
                Err(WrongCvvLength(Mastercard)),
            ),
            ("378282246310005", 1, 2027, "737", Err(WrongCvvLength(Amex))),
            ("4242424242424242", 1, 2027, "", Err(CvvNotDigits)),
            ("4242424242424242", 1, 2027, "7a7", Err(CvvNotDigits)),
        ];
        for &(number, month, year, cvv, expect) in cases {
            assert_eq!(
                check_card(number, month, year, cvv, TODAY),
                expect,
                "{number} {month}/{year} {cvv}"
            );
            let check = CardCheck {
                number,
                exp_month: month,
                exp_year: year,
                cvv,
            };
            assert_eq!(check.run(TODAY), expect);
        }
    }

    fn variant(e: CardError) -> &'static str {
        match e {
            CardError::Empty => "Empty",
            CardError::NotDigits => "NotDigits",
            CardError::UnknownBrand => "UnknownBrand",
            CardError::WrongLength(_) => "WrongLength",
            CardError::Luhn => "Luhn",
            CardError::InvalidMonth => "InvalidMonth",
            CardError::InvalidExpiry => "InvalidExpiry",
            CardError::Expired => "Expired",
            CardError::CvvNotDigits => "CvvNotDigits",
            CardError::WrongCvvLength(_) => "WrongCvvLength",
            CardError::InvalidMasked => "InvalidMasked",
        }
    }

    #[test]
    fn errors_never_show_number_or_cvv() {
        // One input per variant; `variant` is exhaustive, so a new variant fails to compile
        // until it is added there, and the count below fails until it is covered here.
        let cases: &[(&str, u8, u16, &str)] = &[
            ("4242 4242 4242 4242?", 1, 2027, "9172"),
            ("6011111111111117", 1, 2027, "918"),
            ("4242424242424241", 1, 2027, "918"),
            ("424242424242424", 1, 2027, "918"),
            ("378282246310005", 1, 2027, "918"),
            ("378282246310005", 1, 2027, "91a8"),
            ("4242424242424242", 13, 2027, "918"),
            ("4242424242424242", 12, 1999, "918"),
            ("4242424242424242", 1, 2025, "918"),
            ("  ", 1, 2027, "918"),
        ];
        let mut seen = BTreeSet::new();
        let mut assert_clean = |e: CardError, secrets: &[&str]| {
            seen.insert(variant(e));
            for text in [e.to_string(), format!("{e:?}")] {
                for secret in secrets.iter().filter(|s| !s.trim().is_empty()) {
                    let digits: String = secret.chars().filter(char::is_ascii_digit).collect();
                    assert!(!text.contains(secret), "{text:?} shows {secret:?}");
                    assert!(!text.contains(&digits), "{text:?} shows {digits:?}");
                    assert!(!text.contains(&digits[digits.len().saturating_sub(4)..]));
                }
            }
        };
        for &(number, month, year, cvv) in cases {
            let e = check_card(number, month, year, cvv, TODAY).unwrap_err();
            assert_clean(e, &[number, cvv]);
        }
        let masked = "91919191XXXX9191";
        assert_clean(MaskedPan::parse(masked).unwrap_err(), &[masked]);
        // The Debug of a check hides both too.
        let debug = format!(
            "{:?}",
            CardCheck {
                number: "4242424242424242",
                exp_month: 1,
                exp_year: 2027,
                cvv: "918"
            }
        );
        assert!(!debug.contains("4242") && !debug.contains("918"), "{debug}");
        assert_eq!(seen.len(), 11, "every CardError variant covered: {seen:?}");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            CardError::WrongLength(CardBrand::Visa).to_string(),
            "VISA card numbers have 13, 16 or 19 digits"
        );
        assert_eq!(
            CardError::WrongLength(CardBrand::Amex).to_string(),
            "American Express card numbers have 15 digits"
        );
        assert_eq!(
            CardError::WrongCvvLength(CardBrand::Amex).to_string(),
            "American Express cards have a 4-digit security code (CVV)"
        );
    }

    #[test]
    fn masked_from_number() {
        for (number, stored, shown, last4) in [
            (
                "4242424242424242",
                "424242XXXXXX4242",
                "XXXX XXXX XXXX 4242",
                "4242",
            ),
            (
                "5555 5555 5555 4444",
                "555555XXXXXX4444",
                "XXXX XXXX XXXX 4444",
                "4444",
            ),
            (
                "378282246310005",
                "378282XXXXX0005",
                "XXXX XXXXXX X0005",
                "0005",
            ),
            ("4222222222222", "422222XXX2222", "X XXXX XXXX 2222", "2222"),
            (
                "4111111111111111110",
                "411111XXXXXXXXX1110",
                "XXX XXXX XXXX XXXX 1110",
                "1110",
            ),
        ] {
            let pan = MaskedPan::from_number(number).unwrap();
            assert_eq!(pan.as_str(), stored);
            assert_eq!(pan.display(), shown);
            assert_eq!(pan.to_string(), shown);
            assert_eq!(format!("{pan:?}"), format!("MaskedPan({shown})"));
            assert_eq!(pan.last4(), last4);
            assert_eq!(MaskedPan::parse(stored), Ok(pan.clone()));
            let json = serde_json::to_string(&pan).unwrap();
            assert_eq!(json, format!("\"{stored}\""));
            assert_eq!(serde_json::from_str::<MaskedPan>(&json).unwrap(), pan);
        }
        for bad in [
            "",
            "42424242424",
            "42424242424242424242",
            "4242x42424242424",
        ] {
            assert!(MaskedPan::from_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masked_parse() {
        for (raw, stored) in [
            ("XXXXXXXXXXXX4242", "XXXXXXXXXXXX4242"),
            ("4242XXXXXXXX4242", "4242XXXXXXXX4242"),
            ("424242******4242", "424242XXXXXX4242"),
            ("xxxx xxxx xxxx 4242", "XXXXXXXXXXXX4242"),
            ("XXXXXXXXXXX0005", "XXXXXXXXXXX0005"),
        ] {
            let pan = MaskedPan::parse(raw).unwrap();
            assert_eq!(pan.as_str(), stored, "{raw}");
            assert_eq!(pan.last4(), &stored[stored.len() - 4..]);
        }
        for bad in [
            "4242424242424242",
            "4242424XXXXX4242",
            "XXXXXXXXXXXXX242",
            "XXXXXXXX424",
            "XXXXXXXXXXXXXXXXXXX4242",
            "XXXXXXXX#XXX4242",
            "",
        ] {
            assert_eq!(
                MaskedPan::parse(bad),
                Err(CardError::InvalidMasked),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<MaskedPan>("\"4242424242424242\"").is_err());
    }

    #[test]
    fn expiry() {
        for (raw, month, year) in [
            ("12/2016", 12, 2016),
            ("12/16", 12, 2016),
            ("1216", 12, 2016),
            ("122016", 12, 2016),
            ("1/17", 1, 2017),
            ("01/2017", 1, 2017),
            (" 12 - 16 ", 12, 2016),
        ] {
            let expiry = CardExpiry::parse(raw).unwrap();
            assert_eq!((expiry.month(), expiry.year()), (month, year), "{raw}");
        }
        assert_eq!(CardExpiry::parse("12/16").unwrap().to_string(), "12/2016");
        assert_eq!(CardExpiry::parse("1/17").unwrap().to_string(), "01/2017");
        for (raw, err) in [
            ("13/16", CardError::InvalidMonth),
            ("00/16", CardError::InvalidMonth),
            ("12/216", CardError::InvalidExpiry),
            ("121", CardError::InvalidExpiry),
            ("ab/cd", CardError::InvalidExpiry),
            ("123/16", CardError::InvalidExpiry),
            ("12/1999", CardError::InvalidExpiry),
            ("", CardError::InvalidExpiry),
            ("+1/16", CardError::InvalidExpiry),
        ] {
            assert_eq!(CardExpiry::parse(raw), Err(err), "{raw}");
        }
        let expiry = CardExpiry::parse("12/2016").unwrap();
        assert!(!expiry.is_expired(date!(2016 - 12 - 31)));
        assert!(!expiry.is_expired(date!(2016 - 01 - 01)));
        assert!(expiry.is_expired(date!(2017 - 01 - 01)));
        let json = serde_json::to_string(&expiry).unwrap();
        assert_eq!(json, "\"12/2016\"");
        assert_eq!(serde_json::from_str::<CardExpiry>(&json).unwrap(), expiry);
    }

    proptest! {
        #[test]
        fn masking_keeps_at_most_bin_and_last4(
            digits in prop::sample::select(vec![12usize, 13, 14, 15, 16, 17, 18, 19])
                .prop_flat_map(|len| prop::collection::vec(0u8..10, len))
        ) {
            let number: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let pan = MaskedPan::from_number(&number).unwrap();
            let kept: String = pan.as_str().chars().filter(char::is_ascii_digit).collect();
            prop_assert!(kept.len() <= 10);
            let expect = format!("{}{}", &number[..6], &number[number.len() - 4..]);
            prop_assert_eq!(&kept, &expect);
            prop_assert_eq!(pan.as_str().len(), number.len());
            prop_assert_eq!(pan.last4(), &number[number.len() - 4..]);
            for shown in [pan.display(), format!("{pan:?}"), pan.to_string()] {
                let shown_digits: String = shown.chars().filter(char::is_ascii_digit).collect();
                prop_assert_eq!(shown_digits.as_str(), pan.last4());
            }
            prop_assert_eq!(MaskedPan::parse(pan.as_str()), Ok(pan.clone()));
        }
    }
}

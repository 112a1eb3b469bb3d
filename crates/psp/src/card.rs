//! Card data as providers send it back: a masked number and an expiry. Guichet never sends or
//! keeps a full card number (PAN); anything that could be one is refused here, and no error
//! message repeats the refused value.

use std::fmt;

/// Visible digits a masked number may keep at each end (PCI DSS: BIN + last 4).
const FIRST_VISIBLE: usize = 6;
const LAST_VISIBLE: usize = 4;
/// Shortest and longest card numbers (positions of the masked form).
const MIN_LEN: usize = 12;
const MAX_LEN: usize = 19;

/// Why a card field from a provider was refused. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardDataError {
    /// The card number is not masked (or not a card number): it is dropped, not kept.
    #[error(
        "card number is not masked (12 to 19 positions; digits only in the first 6 and last 4; \
         the others X, *, or #)"
    )]
    NotMasked,
    /// The expiry is not a valid month and year in the expected format.
    #[error("invalid card expiry")]
    InvalidExpiry,
}

/// A masked card number as a provider returned it: `XXXXXXXXXXXX1111` (Ogone),
/// `411111######1111` or `4100##########00` (Sips).
///
/// Accepted: 12 to 19 positions; digits only in the first 6 and the last 4 positions; every
/// other position one of `X`, `x`, `*`, `#` (mask characters may also appear in the first 6
/// and last 4). So at most 10 digits are ever visible and at least two positions are masked.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskedCardNumber(String);

impl MaskedCardNumber {
    /// Checks a provider's masked number; see the type documentation.
    pub fn parse(masked: &str) -> Result<MaskedCardNumber, CardDataError> {
        let bytes = masked.as_bytes();
        let len = bytes.len();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(CardDataError::NotMasked);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let visible_position = i < FIRST_VISIBLE || i >= len - LAST_VISIBLE;
            let ok = match b {
                b'X' | b'x' | b'*' | b'#' => true,
                b'0'..=b'9' => visible_position,
                _ => false,
            };
            if !ok {
                return Err(CardDataError::NotMasked);
            }
        }
        Ok(MaskedCardNumber(masked.to_owned()))
    }

    /// As received (`XXXXXXXXXXXX1111`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The visible digits at the end (`1111`; `00` for `4100##########00`; empty if none).
    pub fn last_digits(&self) -> &str {
        let tail = self.0.len()
            - self
                .0
                .bytes()
                .rev()
                .take_while(|b| b.is_ascii_digit())
                .count();
        &self.0[tail..]
    }
}

impl fmt::Debug for MaskedCardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedCardNumber({:?})", self.0)
    }
}

impl fmt::Display for MaskedCardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card expiry: month 1-12 and four-digit year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardExpiry {
    /// Year first so that the derived order is chronological.
    year: u16,
    month: u8,
}

impl CardExpiry {
    /// `month` 1-12, `year` 2000-2099.
    pub fn new(month: u8, year: u16) -> Result<CardExpiry, CardDataError> {
        if !(1..=12).contains(&month) || !(2000..=2099).contains(&year) {
            return Err(CardDataError::InvalidExpiry);
        }
        Ok(CardExpiry { year, month })
    }

    /// Ogone `ED`: `MMYY` (section 1.2: `0919`), year 20YY.
    pub fn parse_mmyy(text: &str) -> Result<CardExpiry, CardDataError> {
        let b = text.as_bytes();
        if b.len() != 4 || !b.iter().all(u8::is_ascii_digit) {
            return Err(CardDataError::InvalidExpiry);
        }
        let month = (b[0] - b'0') * 10 + (b[1] - b'0');
        let yy = u16::from((b[2] - b'0') * 10 + (b[3] - b'0'));
        CardExpiry::new(month, 2000 + yy)
    }

    /// Sips `panExpiryDate`: `YYYYMM` (section 7.3: `202106`).
    pub fn parse_yyyymm(text: &str) -> Result<CardExpiry, CardDataError> {
        let b = text.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(CardDataError::InvalidExpiry);
        }
        let year: u16 = text[..4]
            .parse()
            .map_err(|_| CardDataError::InvalidExpiry)?;
        let month: u8 = text[4..]
            .parse()
            .map_err(|_| CardDataError::InvalidExpiry)?;
        CardExpiry::new(month, year)
    }

    /// Ogone `ED`: `MMYY` (the inverse of [`CardExpiry::parse_mmyy`]).
    pub fn to_mmyy(self) -> String {
        format!("{:02}{:02}", self.month, self.year % 100)
    }

    /// 1-12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Four digits.
    pub fn year(self) -> u16 {
        self.year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_provider_masks() {
        for m in [
            "XXXXXXXXXXXX1111", // Ogone (PROVIDERS.md, V2)
            "xxxxxxxxxxxx1111", // V3 minimal
            "411111######1111", // Sips (PROVIDERS.md)
            "4100##########00", // Odoo Sips vector
            "0000##########00", // WLS-T Sips vector
            "424242******4242",
            "XXXXXXXXXXX0005",     // 15 positions
            "XXXXXXXX1881",        // 12 positions
            "XXXXXXXXXXXXXXX1234", // 19 positions
        ] {
            let parsed = MaskedCardNumber::parse(m).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert_eq!(parsed.as_str(), m);
        }
        assert_eq!(
            MaskedCardNumber::parse("XXXXXXXXXXXX1111")
                .unwrap()
                .last_digits(),
            "1111"
        );
        assert_eq!(
            MaskedCardNumber::parse("4100##########00")
                .unwrap()
                .last_digits(),
            "00"
        );
    }

    #[test]
    fn refuses_anything_that_shows_more() {
        for m in [
            "4111111111111111", // full PAN
            "4111111X11111111", // digit in the hidden middle
            "41111111111111X1",
            "4111111111",           // too short: all positions visible
            "XXXX1111",             // too short
            "XXXXXXXXXXXXXXXX1111", // 20 positions
            "",
            "XXXX XXXX XXXX 1111", // spaces
            "XXXX-XXXX-XXXX-1111",
            "XXXXXXXXXXXX111a",
            "ＸＸＸＸＸＸＸＸＸＸＸＸ1111",
        ] {
            assert_eq!(
                MaskedCardNumber::parse(m),
                Err(CardDataError::NotMasked),
                "{m:?}"
            );
        }
        // The error never repeats the value.
        let msg = CardDataError::NotMasked.to_string();
        assert!(!msg.contains("4111"));
    }

    #[test]
    fn expiry_formats() {
        let e = CardExpiry::parse_mmyy("0312").unwrap();
        assert_eq!((e.month(), e.year()), (3, 2012));
        let e = CardExpiry::parse_mmyy("1299").unwrap();
        assert_eq!((e.month(), e.year()), (12, 2099));
        assert_eq!(e.to_mmyy(), "1299");
        assert_eq!(CardExpiry::new(3, 2012).unwrap().to_mmyy(), "0312");
        let e = CardExpiry::parse_yyyymm("202106").unwrap();
        assert_eq!((e.month(), e.year()), (6, 2021));
        for bad in ["", "312", "1312", "0012", "03/12", "031 ", "ab12", "03122"] {
            assert_eq!(
                CardExpiry::parse_mmyy(bad),
                Err(CardDataError::InvalidExpiry),
                "{bad:?}"
            );
        }
        for bad in ["", "20210", "202113", "202100", "21-06", "190006", "2021-6"] {
            assert_eq!(
                CardExpiry::parse_yyyymm(bad),
                Err(CardDataError::InvalidExpiry),
                "{bad:?}"
            );
        }
        // Chronological order: December 2024 before January 2025.
        assert!(CardExpiry::parse_mmyy("1224").unwrap() < CardExpiry::parse_mmyy("0125").unwrap());
    }
}

//! Amounts and currencies on the wire.
//!
//! Requests carry integer minor units (Ogone `AMOUNT`, Sips `amount`); Ogone replies and
//! feedback carry a **decimal** string in major units (`15`, `4.5`, `1111.11`:
//! shared/reference/psp-protocols.md, sections 1.3 and 5, vectors V2-V4). The decimal is
//! converted exactly, digit by digit: no floating point anywhere.
//!
//! Currencies: the six Guichet handles, with their ISO 4217 numeric code (Sips `currencyCode`)
//! and minor-unit exponent (ISO 4217; the same table as `guichet-domain`'s `Currency`, and the
//! numeric codes of docs/PROVIDERS.md). Codes outside the table are refused rather than guessed.

/// One currency: ISO 4217 alphabetic code, numeric code, decimals of the minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyInfo {
    /// `"EUR"`.
    pub alpha: &'static str,
    /// `978`.
    pub numeric: u16,
    /// Number of decimals of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub exponent: u8,
}

/// The currencies this crate converts.
pub const CURRENCIES: &[CurrencyInfo] = &[
    CurrencyInfo {
        alpha: "EUR",
        numeric: 978,
        exponent: 2,
    },
    CurrencyInfo {
        alpha: "CHF",
        numeric: 756,
        exponent: 2,
    },
    CurrencyInfo {
        alpha: "GBP",
        numeric: 826,
        exponent: 2,
    },
    CurrencyInfo {
        alpha: "USD",
        numeric: 840,
        exponent: 2,
    },
    CurrencyInfo {
        alpha: "JPY",
        numeric: 392,
        exponent: 0,
    },
    CurrencyInfo {
        alpha: "KWD",
        numeric: 414,
        exponent: 3,
    },
];

/// The currency with this alphabetic code (exact, upper case: `"EUR"`).
pub fn currency_by_alpha(alpha: &str) -> Option<CurrencyInfo> {
    CURRENCIES.iter().copied().find(|c| c.alpha == alpha)
}

/// The currency with this numeric code, given as text (`"978"`) as Sips sends it.
pub fn currency_by_numeric(numeric: &str) -> Option<CurrencyInfo> {
    if numeric.is_empty() || numeric.len() > 3 || !numeric.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = numeric.parse().ok()?;
    CURRENCIES.iter().copied().find(|c| c.numeric == n)
}

/// Why an amount could not be read. Messages repeat only the amount text, never other data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not `digits` or `digits.digits`.
    #[error("not a decimal amount: {0:?}")]
    NotDecimal(String),
    /// More decimals than the currency has (`1.5` for JPY, `1.234` for EUR).
    #[error("{amount:?} has more than {exponent} decimals")]
    TooManyDecimals {
        /// The text received.
        amount: String,
        /// The currency's exponent.
        exponent: u8,
    },
    /// Does not fit in `u64` minor units.
    #[error("amount {0:?} is too large")]
    Overflow(String),
    /// The currency is not one this crate knows the exponent of.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
}

/// Converts a decimal amount in major units (`"15"`, `"4.5"`, `"1111.11"`) to minor units, for
/// a currency with `exponent` decimals: `("15", 2)` → 1500, `("4.5", 2)` → 450,
/// `("1111.11", 2)` → 111111, `("15", 0)` → 15, `("1.5", 3)` → 1500.
///
/// Accepted: one or more ASCII digits, optionally followed by `.` and one or more digits, at
/// most `exponent` of them. Refused: sign, spaces, exponent notation, `,`, a leading or
/// trailing `.`, and any decimal beyond the currency's (even a zero: `"15.00"` is not a JPY
/// amount).
pub fn decimal_to_minor(amount: &str, exponent: u8) -> Result<u64, AmountError> {
    let not_decimal = || AmountError::NotDecimal(amount.to_owned());
    let (whole, fraction) = match amount.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (amount, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) {
        return Err(not_decimal());
    }
    let fraction = match fraction {
        Some(f) if !all_digits(f) => return Err(not_decimal()),
        Some(f) => f,
        None => "",
    };
    if fraction.len() > usize::from(exponent) {
        return Err(AmountError::TooManyDecimals {
            amount: amount.to_owned(),
            exponent,
        });
    }
    let overflow = || AmountError::Overflow(amount.to_owned());
    let mut minor: u64 = 0;
    let padding = usize::from(exponent) - fraction.len();
    let digits = whole
        .bytes()
        .chain(fraction.bytes())
        .chain(std::iter::repeat_n(b'0', padding));
    for d in digits {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(d - b'0')))
            .ok_or_else(overflow)?;
    }
    Ok(minor)
}

/// [`decimal_to_minor`] with the exponent of the currency `alpha` (`"EUR"`).
pub fn decimal_to_minor_in(amount: &str, alpha: &str) -> Result<u64, AmountError> {
    let currency =
        currency_by_alpha(alpha).ok_or_else(|| AmountError::UnknownCurrency(alpha.to_owned()))?;
    decimal_to_minor(amount, currency.exponent)
}

/// Minor units as the shortest decimal in major units, the way Ogone writes `amount`
/// (section 1.3: `4.5`, `15`; trailing zeros dropped): `(1500, 2)` → `"15"`, `(450, 2)` →
/// `"4.5"`, `(111111, 2)` → `"1111.11"`, `(15, 0)` → `"15"`, `(1500, 3)` → `"1.5"`. The inverse
/// of [`decimal_to_minor`].
pub fn minor_to_decimal(minor: u64, exponent: u8) -> String {
    // On the digits, not by division: any exponent (a power of ten past 10^38 overflows u128;
    // found by the `psp_amount` fuzz target, kept in fuzz/regressions/).
    let exponent = usize::from(exponent);
    let digits = format!("{minor:0>width$}", width = exponent + 1);
    let (whole, fraction) = digits.split_at(digits.len() - exponent);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_to_decimal_any_exponent() {
        assert_eq!(minor_to_decimal(1500, 2), "15");
        assert_eq!(minor_to_decimal(450, 2), "4.5");
        assert_eq!(minor_to_decimal(5, 3), "0.005");
        assert_eq!(minor_to_decimal(0, 2), "0");
        assert_eq!(minor_to_decimal(0, 191), "0");
        assert_eq!(minor_to_decimal(15, 0), "15");
        let tiny = minor_to_decimal(7, 60);
        assert_eq!(tiny, format!("0.{}7", "0".repeat(59)));
        assert_eq!(decimal_to_minor(&tiny, 60), Ok(7));
        assert_eq!(minor_to_decimal(u64::MAX, 255).len(), 2 + 255);
    }

    #[test]
    fn decimal_to_minor_examples() {
        // Section 5 / vectors V2-V4: "15" EUR, "99" EUR, "1111.11" USD; section 1.4: "4.5" GBP.
        let ok: &[(&str, u8, u64)] = &[
            ("15", 2, 1500),
            ("4.5", 2, 450),
            ("1111.11", 2, 111111),
            ("99", 2, 9900),
            ("17.89", 2, 1789),
            ("0", 2, 0),
            ("0.01", 2, 1),
            ("007.5", 2, 750),
            ("15.00", 2, 1500),
            ("15", 0, 15),
            ("1500", 0, 1500),
            ("1.5", 3, 1500),
            ("1.234", 3, 1234),
            ("0.001", 3, 1),
            ("184467440737095516.15", 2, u64::MAX),
        ];
        for &(text, exp, want) in ok {
            assert_eq!(decimal_to_minor(text, exp), Ok(want), "{text} e{exp}");
        }
    }

    #[test]
    fn decimal_to_minor_rejections() {
        for text in [
            "", ".", ".5", "5.", "-1", "+1", " 1", "1 ", "1,5", "1e2", "1.2.3", "0x10", "١٢", "1._",
        ] {
            assert_eq!(
                decimal_to_minor(text, 2),
                Err(AmountError::NotDecimal(text.to_owned())),
                "{text:?}"
            );
        }
        for (text, exp) in [("1.5", 0), ("15.00", 0), ("1.234", 2), ("1.0000", 3)] {
            assert!(
                matches!(
                    decimal_to_minor(text, exp),
                    Err(AmountError::TooManyDecimals { .. })
                ),
                "{text} e{exp}"
            );
        }
        assert!(matches!(
            decimal_to_minor("184467440737095516.16", 2),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            decimal_to_minor("99999999999999999999999", 0),
            Err(AmountError::Overflow(_))
        ));
    }

    #[test]
    fn by_currency() {
        assert_eq!(decimal_to_minor_in("15", "EUR"), Ok(1500));
        assert_eq!(decimal_to_minor_in("15", "JPY"), Ok(15));
        assert_eq!(decimal_to_minor_in("15", "KWD"), Ok(15000));
        assert!(decimal_to_minor_in("1.5", "JPY").is_err());
        assert_eq!(
            decimal_to_minor_in("15", "XXX"),
            Err(AmountError::UnknownCurrency("XXX".into()))
        );
        assert_eq!(
            decimal_to_minor_in("15", "eur"),
            Err(AmountError::UnknownCurrency("eur".into()))
        );
    }

    #[test]
    fn minor_to_decimal_round_trips() {
        assert_eq!(minor_to_decimal(1500, 2), "15");
        assert_eq!(minor_to_decimal(450, 2), "4.5");
        assert_eq!(minor_to_decimal(111111, 2), "1111.11");
        assert_eq!(minor_to_decimal(1, 2), "0.01");
        assert_eq!(minor_to_decimal(15, 0), "15");
        assert_eq!(minor_to_decimal(1500, 3), "1.5");
        assert_eq!(minor_to_decimal(1, 3), "0.001");
        for exp in [0u8, 2, 3] {
            for minor in [0u64, 1, 9, 10, 99, 100, 101, 1234, 1_000_000, u64::MAX] {
                assert_eq!(
                    decimal_to_minor(&minor_to_decimal(minor, exp), exp),
                    Ok(minor)
                );
            }
        }
    }

    #[test]
    fn currency_table() {
        // docs/PROVIDERS.md / the brief: EUR 978, CHF 756, GBP 826, USD 840, JPY 392, KWD 414.
        let want = [
            ("EUR", 978, 2),
            ("CHF", 756, 2),
            ("GBP", 826, 2),
            ("USD", 840, 2),
            ("JPY", 392, 0),
            ("KWD", 414, 3),
        ];
        for (alpha, numeric, exponent) in want {
            let c = currency_by_alpha(alpha).unwrap();
            assert_eq!((c.numeric, c.exponent), (numeric, exponent));
            assert_eq!(currency_by_numeric(&numeric.to_string()), Some(c));
        }
        assert_eq!(currency_by_numeric("0978"), None);
        assert_eq!(currency_by_numeric(" 978"), None);
        assert_eq!(currency_by_numeric("999"), None);
        assert_eq!(currency_by_numeric(""), None);
    }
}

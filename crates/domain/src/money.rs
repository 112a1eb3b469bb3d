//! Exact amounts of money: an `i64` count of minor units (cents, yen, fils) with its ISO 4217
//! currency.
//!
//! Invariants kept here:
//! - arithmetic is checked: an overflow or a mix of currencies is an error, never a wrap;
//! - there are no floats: percentages are basis points, splits use the largest-remainder method
//!   over integers, so parts always add up to the whole;
//! - text is parsed strictly: an amount with more decimals than its currency has is refused rather
//!   than rounded, because a rounded amount is not the amount the person typed.

use std::fmt;
use std::str::FromStr;

/// What [`MoneyError::UnknownCurrency`] holds instead of an input that is not even shaped like a
/// currency code.
const NOT_A_CODE: &str = "(not a currency code)";

/// The currencies Guichet handles. Serialized as the ISO 4217 alphabetic code (`"EUR"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Currency {
    EUR,
    CHF,
    GBP,
    USD,
    JPY,
    KWD,
}

impl Currency {
    pub const ALL: [Currency; 6] = [
        Currency::EUR,
        Currency::CHF,
        Currency::GBP,
        Currency::USD,
        Currency::JPY,
        Currency::KWD,
    ];

    /// ISO 4217 alphabetic code, e.g. `"EUR"`.
    pub fn code(self) -> &'static str {
        match self {
            Currency::EUR => "EUR",
            Currency::CHF => "CHF",
            Currency::GBP => "GBP",
            Currency::USD => "USD",
            Currency::JPY => "JPY",
            Currency::KWD => "KWD",
        }
    }

    /// Number of decimals of the minor unit (ISO 4217 "minor unit").
    pub fn exponent(self) -> u32 {
        match self {
            Currency::EUR | Currency::CHF | Currency::GBP | Currency::USD => 2,
            Currency::JPY => 0,
            Currency::KWD => 3,
        }
    }

    /// ISO 4217 numeric code, e.g. 978 for EUR.
    pub fn numeric(self) -> u16 {
        match self {
            Currency::EUR => 978,
            Currency::CHF => 756,
            Currency::GBP => 826,
            Currency::USD => 840,
            Currency::JPY => 392,
            Currency::KWD => 414,
        }
    }

    /// The one-character symbol, for currencies that have an unambiguous one. CHF and KWD are
    /// written with their code instead.
    pub fn symbol(self) -> Option<&'static str> {
        match self {
            Currency::EUR => Some("€"),
            Currency::GBP => Some("£"),
            Currency::USD => Some("$"),
            Currency::JPY => Some("¥"),
            Currency::CHF | Currency::KWD => None,
        }
    }

    /// The currency with exactly this upper-case ISO code.
    ///
    /// The error repeats the input only when it looks like a code (at most 16 ASCII letters):
    /// error messages end up in logs and responses, and a mistyped field could hold a card
    /// number, which must never be echoed (DESIGN.md invariant 3).
    pub fn from_code(s: &str) -> Result<Currency, MoneyError> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| {
                MoneyError::UnknownCurrency(if s.len() <= 16 && is_code_shaped(s) {
                    s.to_owned()
                } else {
                    NOT_A_CODE.to_owned()
                })
            })
    }

    /// The currency written with this symbol, if any.
    fn from_symbol_prefix(s: &str) -> Option<(Currency, &str)> {
        Currency::ALL.into_iter().find_map(|c| {
            c.symbol()
                .and_then(|sym| s.strip_prefix(sym))
                .map(|rest| (c, rest))
        })
    }

    /// Minor units per major unit: 10^exponent (1, 100 or 1000).
    fn minor_per_major(self) -> u64 {
        10u64.pow(self.exponent())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a money operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount out of range")]
    Overflow,
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("too many decimals for {currency} (at most {})", currency.exponent())]
    TooPrecise { currency: Currency },
    #[error("invalid split ratios: at least one ratio must be non-zero")]
    InvalidRatios,
    #[error("invalid amount: {0}")]
    Parse(String),
}

/// An exact amount: a signed count of minor units in one currency.
///
/// Serialized as `{"amount_minor": 3420, "currency": "EUR"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount_minor,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    pub fn amount_minor(self) -> i64 {
        self.amount_minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.amount_minor == 0
    }

    pub fn is_positive(self) -> bool {
        self.amount_minor > 0
    }

    pub fn is_negative(self) -> bool {
        self.amount_minor < 0
    }

    fn same_currency(self, other: Money) -> Result<Currency, MoneyError> {
        if self.currency == other.currency {
            Ok(self.currency)
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|a| Money::new(a, currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        self.amount_minor
            .checked_sub(other.amount_minor)
            .map(|a| Money::new(a, currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_neg()
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_mul(factor)
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The smaller of two amounts in the same currency.
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.amount_minor < self.amount_minor {
            other
        } else {
            self
        })
    }

    /// Sum of `items`, all of which must be in `currency`; the empty sum is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// `basis_points` / 10 000 of this amount (1 % = 100 bp), rounded half away from zero to the
    /// minor unit: 500 bp of 33.30 EUR is 166.5 cents, hence 1.67 EUR.
    pub fn percent_bp(self, basis_points: u32) -> Result<Money, MoneyError> {
        const WHOLE_BP: i128 = 10_000;
        // |i64| * u32 < 2^95: no overflow in i128.
        let product = i128::from(self.amount_minor) * i128::from(basis_points);
        let quotient = product / WHOLE_BP;
        let remainder = product % WHOLE_BP; // has the sign of `product`
        let rounded = if remainder.abs() * 2 >= WHOLE_BP {
            quotient + product.signum()
        } else {
            quotient
        };
        i64::try_from(rounded)
            .map(|a| Money::new(a, self.currency))
            .map_err(|_| MoneyError::Overflow)
    }

    /// Splits this amount into `ratios.len()` parts proportional to `ratios` by the
    /// largest-remainder method.
    ///
    /// The parts add up exactly to `self`; each is the floor of its exact share or one more
    /// (so within one minor unit of it); a zero ratio gets zero. The leftover units go to the
    /// largest remainders, ties to the lowest index, so the result is deterministic. A negative
    /// amount is split as its absolute value, then every part is negated.
    pub fn allocate(self, ratios: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total: u128 = ratios.iter().map(|&r| u128::from(r)).sum();
        if total == 0 {
            // Covers both the empty slice and all-zero ratios.
            return Err(MoneyError::InvalidRatios);
        }
        let magnitude = u128::from(self.amount_minor.unsigned_abs());

        // magnitude <= 2^63 and r < 2^64, so magnitude * r < 2^127: no overflow.
        let mut parts: Vec<u128> = Vec::with_capacity(ratios.len());
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(ratios.len());
        for (index, &ratio) in ratios.iter().enumerate() {
            let exact_numerator = magnitude * u128::from(ratio);
            parts.push(exact_numerator / total);
            remainders.push((exact_numerator % total, index));
        }

        // Σ floor(share) <= magnitude, and the difference is Σ remainders / total, which is
        // less than the number of non-zero remainders: every leftover unit finds a part whose
        // share was rounded down.
        let allocated: u128 = parts.iter().sum();
        let leftover = magnitude - allocated;
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, index) in remainders
            .iter()
            .take(usize::try_from(leftover).unwrap_or(usize::MAX))
        {
            parts[index] += 1;
        }

        let negative = self.amount_minor < 0;
        parts
            .into_iter()
            .map(|part| {
                // part <= magnitude <= 2^63, so it fits i128 and, signed like self, i64.
                let signed = i128::try_from(part).map_err(|_| MoneyError::Overflow)?;
                let signed = if negative { -signed } else { signed };
                i64::try_from(signed)
                    .map(|a| Money::new(a, self.currency))
                    .map_err(|_| MoneyError::Overflow)
            })
            .collect()
    }

    /// Parses an amount with its currency: `"34.20 EUR"`, `"EUR 34.20"`, `"-5.00 EUR"`,
    /// `"1234 JPY"`, `"€34.20"`, `"-€5.00"`, `"¥1234"`, `"34 EUR"` (= 34.00 EUR).
    ///
    /// Exactly one space separates amount and code; a symbol is written right before the
    /// digits, after an optional minus sign. No surrounding spaces, no `+`, no thousands
    /// separators. At most `exponent` decimals ([`MoneyError::TooPrecise`] otherwise).
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        if let Some((left, right)) = s.split_once(' ') {
            if left.is_empty() || right.is_empty() || right.contains(' ') {
                Err(parse_error())
            } else if starts_like_amount(left) && is_code_shaped(right) {
                let currency = Currency::from_code(right)?;
                Money::parse_amount(left, currency)
            } else if starts_like_amount(right) && is_code_shaped(left) {
                let currency = Currency::from_code(left)?;
                Money::parse_amount(right, currency)
            } else {
                Err(parse_error())
            }
        } else {
            let (negative, unsigned) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let (currency, digits) =
                Currency::from_symbol_prefix(unsigned).ok_or_else(parse_error)?;
            if !digits.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(parse_error());
            }
            parse_decimal(digits, negative, currency)
        }
    }

    /// Parses a decimal amount in a known currency: `("34.20", EUR)` is 3420 cents, `"-5"` is
    /// -500, `"34.2"` is 3420. Same rules as [`Money::parse`].
    pub fn parse_amount(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        let (negative, unsigned) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        parse_decimal(unsigned, negative, currency)
    }

    /// The amount with exactly `exponent` decimals and no currency: `"34.20"`, `"1234"`,
    /// `"1.234"`, `"-0.05"`.
    pub fn format_amount(self) -> String {
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        format!("{sign}{}", self.format_magnitude())
    }

    /// The amount with its symbol before it (`"€34.20"`, `"-€5.00"`, `"¥1234"`), or with its code
    /// after it for currencies without a symbol (`"34.20 CHF"`).
    pub fn format_symbol(self) -> String {
        match self.currency.symbol() {
            Some(symbol) => {
                let sign = if self.amount_minor < 0 { "-" } else { "" };
                format!("{sign}{symbol}{}", self.format_magnitude())
            }
            None => self.to_string(),
        }
    }

    /// |amount| with exactly `exponent` decimals. Works on the unsigned magnitude so that
    /// `i64::MIN` formats without overflow.
    fn format_magnitude(self) -> String {
        let magnitude = self.amount_minor.unsigned_abs();
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return magnitude.to_string();
        }
        let per_major = self.currency.minor_per_major();
        let width = exponent as usize;
        format!(
            "{}.{:0width$}",
            magnitude / per_major,
            magnitude % per_major
        )
    }
}

impl fmt::Display for Money {
    /// `"34.20 EUR"`, `"1234 JPY"`, `"1.234 KWD"`, `"-5.00 EUR"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format_amount(), self.currency)
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

/// Letters only: what could be a mistyped currency code, as opposed to a stray symbol or digits.
fn is_code_shaped(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn starts_like_amount(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    unsigned.starts_with(|c: char| c.is_ascii_digit())
}

/// The reason given for text that is not an amount with its currency. The input itself is not
/// repeated, for the reason given on [`Currency::from_code`].
fn parse_error() -> MoneyError {
    MoneyError::Parse(
        "expected an amount and its currency, like \"34.20 EUR\", \"EUR 34.20\" or \"€34.20\""
            .to_owned(),
    )
}

fn amount_error() -> MoneyError {
    MoneyError::Parse(
        "expected digits with an optional decimal point and minus sign, like \"-34.20\"".to_owned(),
    )
}

/// Parses `digits[.digits]` (no sign) into minor units of `currency`, negated if `negative`.
fn parse_decimal(s: &str, negative: bool, currency: Currency) -> Result<Money, MoneyError> {
    let (integer_part, fraction_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer_part) || fraction_part.is_some_and(|f| !all_digits(f)) {
        return Err(amount_error());
    }
    let fraction_part = fraction_part.unwrap_or("");
    let exponent = currency.exponent();
    let fraction_len =
        u32::try_from(fraction_part.len()).map_err(|_| MoneyError::TooPrecise { currency })?;
    if fraction_len > exponent {
        return Err(MoneyError::TooPrecise { currency });
    }

    // Accumulate the magnitude in u128 with checked steps: a string of a hundred digits is an
    // overflow, not a panic.
    let mut magnitude: u128 = 0;
    for b in integer_part.bytes().chain(fraction_part.bytes()) {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(b - b'0')))
            .ok_or(MoneyError::Overflow)?;
    }
    magnitude = magnitude
        .checked_mul(10u128.pow(exponent - fraction_len))
        .ok_or(MoneyError::Overflow)?;

    let signed = i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?;
    let signed = if negative { -signed } else { signed };
    i64::try_from(signed)
        .map(|a| Money::new(a, currency))
        .map_err(|_| MoneyError::Overflow)
}

#[cfg(test)]
mod tests;

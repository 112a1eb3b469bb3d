//! Gift vouchers (SPEC F3): codes, products, and the rules for issuing and redeeming them.
//!
//! A voucher is sold as an order line of a voucher product; once that order is paid, a voucher
//! is issued with an unguessable [`VoucherCode`], a face value ([`face_value`]) and an expiry
//! ([`expiry`]). Paying with it takes [`redemption_amount`] = min(balance, amount due).
//!
//! **Single-use versus reusable** (`VoucherProductRule::reusable`):
//! - a *reusable* voucher keeps what a redemption leaves, for later orders, until spent;
//! - a *single-use* voucher settles one order only. Applying it holds min(balance, due) like any
//!   voucher; when that order commits, whatever the voucher still has is forfeited
//!   ([`forfeited_on_commit`], posted by [`crate::postings::forfeit_voucher`]) and the voucher
//!   ends at zero, so it is exhausted. If the order is cancelled or fails instead, the hold is
//!   released and the voucher is intact. The store must let only one order at a time hold a
//!   single-use voucher (otherwise two orders could each spend part of it).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::Invalid;
use crate::money::{Currency, Money, MoneyError};

/// Crockford's base-32 alphabet: digits and upper-case letters without I, L, O and U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Symbols in a voucher code: 16 × 5 = 80 random bits.
pub const VOUCHER_CODE_SYMBOLS: usize = 16;

/// Longest validity a voucher product may be configured with, in days (about ten years).
pub const MAX_VALIDITY_DAYS: u32 = 3660;

/// The 80 bits of `random`, big-endian, as 16 Crockford base-32 symbols (ASCII).
pub(crate) fn crockford_80(random: [u8; 10]) -> [u8; VOUCHER_CODE_SYMBOLS] {
    let bits = random
        .iter()
        .fold(0u128, |acc, &byte| (acc << 8) | u128::from(byte));
    let mut symbols = [0u8; VOUCHER_CODE_SYMBOLS];
    for (index, symbol) in symbols.iter_mut().enumerate() {
        let shift = 5 * (VOUCHER_CODE_SYMBOLS - 1 - index);
        // Masked to 5 bits: always a valid index into the 32-symbol alphabet.
        let value = ((bits >> shift) & 0x1f) as usize;
        *symbol = CROCKFORD[value];
    }
    symbols
}

/// The canonical symbol a typed character stands for, Crockford's way: case-insensitive, O is
/// 0, I and L are 1. `None` for anything else (U included).
fn crockford_symbol(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    let canonical = match upper {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    u8::try_from(canonical)
        .ok()
        .filter(|b| CROCKFORD.contains(b))
}

/// A voucher code: 80 random bits as 16 Crockford base-32 symbols, grouped
/// `"XXXX-XXXX-XXXX-XXXX"` (no I, L, O or U).
///
/// The code is a bearer credential: `Debug` shows only its last group. `as_str` and `Display`
/// give the whole code, for the buyer and the store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VoucherCode(String);

impl VoucherCode {
    /// Makes a code from 10 random bytes the caller draws from a CSPRNG.
    pub fn generate(random: [u8; 10]) -> VoucherCode {
        VoucherCode::from_symbols(&crockford_80(random))
    }

    /// Reads a code as a person types it: case-insensitive, spaces and dashes ignored, O read
    /// as 0 and I/L as 1; exactly 16 symbols. The error never repeats the input.
    pub fn parse(raw: &str) -> Result<VoucherCode, Invalid> {
        let mut symbols = [0u8; VOUCHER_CODE_SYMBOLS];
        let mut count = 0usize;
        for c in raw.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let symbol = crockford_symbol(c).ok_or_else(|| {
                Invalid(
                    "a voucher code has only digits and letters (not U), like 7K3Q-X9M2-PA4T-RB6W"
                        .to_owned(),
                )
            })?;
            let slot = symbols
                .get_mut(count)
                .ok_or_else(VoucherCode::wrong_length)?;
            *slot = symbol;
            count += 1;
        }
        if count != VOUCHER_CODE_SYMBOLS {
            return Err(VoucherCode::wrong_length());
        }
        Ok(VoucherCode::from_symbols(&symbols))
    }

    /// True when `raw` reads as a voucher code (16 symbols after normalisation): how the checkout
    /// tells a voucher from a promo code typed in the same field.
    pub fn looks_like(raw: &str) -> bool {
        VoucherCode::parse(raw).is_ok()
    }

    /// The canonical grouped form, `"7K3Q-X9M2-PA4T-RB6W"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn wrong_length() -> Invalid {
        Invalid(format!(
            "a voucher code has {VOUCHER_CODE_SYMBOLS} characters, like 7K3Q-X9M2-PA4T-RB6W"
        ))
    }

    fn from_symbols(symbols: &[u8; VOUCHER_CODE_SYMBOLS]) -> VoucherCode {
        let mut code = String::with_capacity(VOUCHER_CODE_SYMBOLS + 3);
        for (index, &symbol) in symbols.iter().enumerate() {
            if index > 0 && index % 4 == 0 {
                code.push('-');
            }
            code.push(char::from(symbol));
        }
        VoucherCode(code)
    }
}

impl fmt::Display for VoucherCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VoucherCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.rsplit('-').next().unwrap_or("");
        write!(f, "VoucherCode(****-****-****-{last})")
    }
}

impl TryFrom<String> for VoucherCode {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        VoucherCode::parse(&raw)
    }
}

impl From<VoucherCode> for String {
    fn from(code: VoucherCode) -> String {
        code.0
    }
}

/// The value of a voucher product.
///
/// Serialized as `{"type": "fixed", "value": {…}, "price": {…}}` or
/// `{"type": "open", "min": {…}, "max": {…}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VoucherValue {
    /// A nominal value and its own selling price (a 50.00 voucher sold 45.00, or 50.00).
    Fixed { value: Money, price: Money },
    /// The buyer chooses the amount, within `[min, max]`; it is both value and price.
    Open { min: Money, max: Money },
}

/// How long an issued voucher stays valid.
///
/// Serialized as `{"until_date": "2026-12-31T23:59:59+01:00"}` or `{"days": 365}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherValidity {
    /// Every voucher of the product expires at this instant.
    UntilDate(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    /// Each voucher expires this many days (× 24 h) after it is issued.
    Days(u32),
}

/// A voucher product as configured in the back office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherProductRule {
    pub value: VoucherValue,
    pub validity: VoucherValidity,
    /// See the module documentation: reusable until spent, or single-use.
    pub reusable: bool,
}

/// Why a voucher could not be sold or issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    #[error("the amount is not in the voucher product's currency")]
    WrongCurrency,
    #[error("this voucher costs {price}")]
    PriceMismatch { price: Money },
    #[error("the amount must be between {min} and {max}")]
    OutOfRange { min: Money, max: Money },
    #[error("a voucher's value must be greater than zero")]
    NotPositive,
    #[error("this voucher product's validity has already ended")]
    ValidityEnded,
    #[error("the voucher's expiry date is out of range")]
    DateOutOfRange,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// For an order line of this product, the face value to issue per unit.
///
/// Fixed: `unit_amount` must equal the product's price (same currency and amount); the face value
/// is the product's value. Open: the buyer's amount is both value and price and must lie within
/// `[min, max]` and be > 0.
pub fn face_value(rule: &VoucherProductRule, unit_amount: Money) -> Result<Money, VoucherError> {
    match rule.value {
        VoucherValue::Fixed { value, price } => {
            if unit_amount.currency() != price.currency() || value.currency() != price.currency() {
                return Err(VoucherError::WrongCurrency);
            }
            if unit_amount != price {
                return Err(VoucherError::PriceMismatch { price });
            }
            if !value.is_positive() {
                return Err(VoucherError::NotPositive);
            }
            Ok(value)
        }
        VoucherValue::Open { min, max } => {
            if unit_amount.currency() != min.currency() || unit_amount.currency() != max.currency()
            {
                return Err(VoucherError::WrongCurrency);
            }
            if !unit_amount.is_positive() {
                return Err(VoucherError::NotPositive);
            }
            if unit_amount.amount_minor() < min.amount_minor()
                || unit_amount.amount_minor() > max.amount_minor()
            {
                return Err(VoucherError::OutOfRange { min, max });
            }
            Ok(unit_amount)
        }
    }
}

/// When a voucher of this product issued at `issued_at` expires (it is usable strictly before).
///
/// `Days(n)` adds n × 24 h; `UntilDate(d)` is `d`. An expiry not after `issued_at` (an end date
/// already past, or 0 days) is [`VoucherError::ValidityEnded`]: selling a voucher that cannot be
/// used is refused.
pub fn expiry(
    rule: &VoucherProductRule,
    issued_at: OffsetDateTime,
) -> Result<OffsetDateTime, VoucherError> {
    let expires_at = match rule.validity {
        VoucherValidity::UntilDate(date) => date,
        VoucherValidity::Days(days) => issued_at
            .checked_add(time::Duration::days(i64::from(days)))
            .ok_or(VoucherError::DateOutOfRange)?,
    };
    if expires_at <= issued_at {
        return Err(VoucherError::ValidityEnded);
    }
    Ok(expires_at)
}

/// Why a voucher cannot pay an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum VoucherRefusal {
    #[error("this voucher has expired")]
    Expired,
    #[error("this voucher has been spent")]
    Exhausted,
    #[error("this voucher is in another currency than the order")]
    WrongCurrency,
}

impl VoucherRefusal {
    /// A stable snake_case code for logs and API errors.
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherRefusal::Expired => "expired",
            VoucherRefusal::Exhausted => "exhausted",
            VoucherRefusal::WrongCurrency => "wrong_currency",
        }
    }
}

/// Whether a voucher with this balance and expiry may pay an order in `order_currency` now.
/// Checks, in order: currency, expiry (`now >= expires_at` is expired), balance > 0.
pub fn check_redeemable(
    balance: Money,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
    order_currency: Currency,
) -> Result<(), VoucherRefusal> {
    if balance.currency() != order_currency {
        return Err(VoucherRefusal::WrongCurrency);
    }
    if now >= expires_at {
        return Err(VoucherRefusal::Expired);
    }
    if !balance.is_positive() {
        return Err(VoucherRefusal::Exhausted);
    }
    Ok(())
}

/// What one redemption takes: min(balance, due), never below zero (a spent voucher or nothing
/// due takes 0). What is left stays on the voucher; for a single-use voucher it is forfeited
/// when the order commits ([`forfeited_on_commit`]).
pub fn redemption_amount(balance: Money, due: Money) -> Result<Money, MoneyError> {
    let taken = balance.min(due)?;
    Ok(if taken.is_negative() {
        Money::zero(taken.currency())
    } else {
        taken
    })
}

/// What committing an order forfeits on a voucher it redeemed, given the voucher's balance left
/// outside the order's hold: nothing for a reusable voucher, all of it for a single-use one
/// (never below zero).
pub fn forfeited_on_commit(reusable: bool, balance_after_hold: Money) -> Money {
    if reusable || !balance_after_hold.is_positive() {
        Money::zero(balance_after_hold.currency())
    } else {
        balance_after_hold
    }
}

/// Validation of a voucher product as configured in the back office, returning (field name,
/// message) pairs for a 422. Empty = valid. An end date cannot be checked against the clock
/// here; [`expiry`] refuses it at sale time.
pub fn validate_product(rule: &VoucherProductRule) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    match rule.value {
        VoucherValue::Fixed { value, price } => {
            if !value.is_positive() {
                errors.push(("value", "must be greater than zero".to_owned()));
            }
            if price.is_negative() {
                errors.push(("price", "must not be negative".to_owned()));
            }
            if price.currency() != value.currency() {
                errors.push((
                    "price",
                    format!("must be in the value's currency ({})", value.currency()),
                ));
            }
        }
        VoucherValue::Open { min, max } => {
            if !min.is_positive() {
                errors.push(("min", "must be greater than zero".to_owned()));
            }
            if max.currency() != min.currency() {
                errors.push((
                    "max",
                    format!("must be in the minimum's currency ({})", min.currency()),
                ));
            } else if max.amount_minor() < min.amount_minor() {
                errors.push(("max", "must not be less than the minimum".to_owned()));
            }
        }
    }
    if let VoucherValidity::Days(days) = rule.validity
        && !(1..=MAX_VALIDITY_DAYS).contains(&days)
    {
        errors.push((
            "validity",
            format!("a duration must be between 1 and {MAX_VALIDITY_DAYS} days"),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency::{EUR, USD};
    use proptest::prelude::*;
    use time::macros::datetime;

    fn m(amount_minor: i64, currency: Currency) -> Money {
        Money::new(amount_minor, currency)
    }

    fn fixed(value: i64, price: i64) -> VoucherProductRule {
        VoucherProductRule {
            value: VoucherValue::Fixed {
                value: m(value, EUR),
                price: m(price, EUR),
            },
            validity: VoucherValidity::Days(365),
            reusable: true,
        }
    }

    fn open(min: i64, max: i64) -> VoucherProductRule {
        VoucherProductRule {
            value: VoucherValue::Open {
                min: m(min, EUR),
                max: m(max, EUR),
            },
            validity: VoucherValidity::Days(365),
            reusable: true,
        }
    }

    #[test]
    fn generated_codes() {
        #[track_caller]
        fn check(random: [u8; 10], expect: &str) {
            let code = VoucherCode::generate(random);
            assert_eq!(code.as_str(), expect);
            assert_eq!(code.to_string(), expect);
            assert_eq!(VoucherCode::parse(expect), Ok(code));
        }
        check([0; 10], "0000-0000-0000-0000");
        check([0xff; 10], "ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        check([0, 0, 0, 0, 0, 0, 0, 0, 0, 31], "0000-0000-0000-000Z");
        check([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0], "G000-0000-0000-0000");
        // 0x0123456789abcdef0123 in 5-bit groups.
        check(
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23],
            "04HM-ASW9-NF6Y-Y093",
        );
    }

    #[test]
    fn parsing() {
        #[track_caller]
        fn check(raw: &str, expect: Option<&str>) {
            assert_eq!(
                VoucherCode::parse(raw)
                    .ok()
                    .as_ref()
                    .map(VoucherCode::as_str),
                expect,
                "{raw:?}"
            );
            assert_eq!(VoucherCode::looks_like(raw), expect.is_some(), "{raw:?}");
        }
        check("7K3Q-X9M2-PA4T-RB6W", Some("7K3Q-X9M2-PA4T-RB6W"));
        check("7k3qx9m2pa4trb6w", Some("7K3Q-X9M2-PA4T-RB6W"));
        check(" 7K3Q X9M2  PA4T-RB6W ", Some("7K3Q-X9M2-PA4T-RB6W"));
        check("7K3Q--X9M2\tPA4T RB6W", Some("7K3Q-X9M2-PA4T-RB6W"));
        // Crockford's reading of look-alikes.
        check("OOOO-IIII-LLLL-oil0", Some("0000-1111-1111-0110"));
        check("7K3Q-X9M2-PA4T-RB6", None);
        check("7K3Q-X9M2-PA4T-RB6W7", None);
        check("7K3Q-X9M2-PA4T-RB6U", None);
        check("7K3Q-X9M2-PA4T-RB6!", None);
        check("7K3Q-X9M2-PA4T-RB6É", None);
        check("", None);
        check("NOUVEAUX-VENUS", None);
        check("NV-0000000000000000", None);
        let err = VoucherCode::parse("4111111111111111111").unwrap_err();
        assert!(!err.to_string().contains("4111"));
    }

    #[test]
    fn debug_hides_the_code() {
        let code = VoucherCode::parse("7K3Q-X9M2-PA4T-RB6W").unwrap();
        let debug = format!("{code:?}");
        assert_eq!(debug, "VoucherCode(****-****-****-RB6W)");
        assert!(!debug.contains("7K3Q"));
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"7K3Q-X9M2-PA4T-RB6W\"");
        assert_eq!(
            serde_json::from_str::<VoucherCode>("\"7k3qx9m2pa4trb6w\"").unwrap(),
            code
        );
        assert!(serde_json::from_str::<VoucherCode>("\"7K3Q\"").is_err());
    }

    #[test]
    fn face_values() {
        #[track_caller]
        fn check(rule: VoucherProductRule, unit: Money, expect: Result<Money, VoucherError>) {
            assert_eq!(face_value(&rule, unit), expect);
        }
        check(fixed(5000, 5000), m(5000, EUR), Ok(m(5000, EUR)));
        check(fixed(5000, 4500), m(4500, EUR), Ok(m(5000, EUR)));
        check(
            fixed(5000, 4500),
            m(5000, EUR),
            Err(VoucherError::PriceMismatch {
                price: m(4500, EUR),
            }),
        );
        check(
            fixed(5000, 4500),
            m(4500, USD),
            Err(VoucherError::WrongCurrency),
        );
        check(fixed(0, 0), m(0, EUR), Err(VoucherError::NotPositive));
        // A voucher given away: face value 10.00, price 0.00.
        check(fixed(1000, 0), m(0, EUR), Ok(m(1000, EUR)));

        check(open(1000, 50_000), m(2000, EUR), Ok(m(2000, EUR)));
        check(open(1000, 50_000), m(1000, EUR), Ok(m(1000, EUR)));
        check(open(1000, 50_000), m(50_000, EUR), Ok(m(50_000, EUR)));
        let range = Err(VoucherError::OutOfRange {
            min: m(1000, EUR),
            max: m(50_000, EUR),
        });
        check(open(1000, 50_000), m(999, EUR), range.clone());
        check(open(1000, 50_000), m(50_001, EUR), range);
        check(
            open(1000, 50_000),
            m(2000, USD),
            Err(VoucherError::WrongCurrency),
        );
        check(open(0, 50_000), m(0, EUR), Err(VoucherError::NotPositive));
        assert_eq!(
            VoucherError::PriceMismatch {
                price: m(4500, EUR)
            }
            .to_string(),
            "this voucher costs 45.00 EUR"
        );
    }

    #[test]
    fn expiries() {
        let issued = datetime!(2026-03-01 10:00 +01:00);
        #[track_caller]
        fn check(
            validity: VoucherValidity,
            issued: OffsetDateTime,
            expect: Result<OffsetDateTime, VoucherError>,
        ) {
            let rule = VoucherProductRule {
                validity,
                ..fixed(2000, 2000)
            };
            assert_eq!(expiry(&rule, issued), expect);
        }
        check(
            VoucherValidity::Days(365),
            issued,
            Ok(datetime!(2027-03-01 10:00 +01:00)),
        );
        check(
            VoucherValidity::Days(1),
            issued,
            Ok(datetime!(2026-03-02 10:00 +01:00)),
        );
        check(
            VoucherValidity::Days(0),
            issued,
            Err(VoucherError::ValidityEnded),
        );
        let end = datetime!(2026-12-31 23:59:59 +01:00);
        check(VoucherValidity::UntilDate(end), issued, Ok(end));
        check(
            VoucherValidity::UntilDate(issued),
            issued,
            Err(VoucherError::ValidityEnded),
        );
        check(
            VoucherValidity::UntilDate(datetime!(2026-01-01 0:00 UTC)),
            issued,
            Err(VoucherError::ValidityEnded),
        );
        check(
            VoucherValidity::Days(u32::MAX),
            issued,
            Err(VoucherError::DateOutOfRange),
        );
    }

    #[test]
    fn redeemability() {
        let expires = datetime!(2026-06-01 0:00 UTC);
        let before = datetime!(2026-05-31 23:59:59 UTC);
        #[track_caller]
        fn check(
            balance: Money,
            now: OffsetDateTime,
            currency: Currency,
            expect: Result<(), VoucherRefusal>,
        ) {
            let expires = datetime!(2026-06-01 0:00 UTC);
            assert_eq!(check_redeemable(balance, expires, now, currency), expect);
        }
        check(m(2000, EUR), before, EUR, Ok(()));
        check(m(1, EUR), before, EUR, Ok(()));
        check(m(2000, EUR), expires, EUR, Err(VoucherRefusal::Expired));
        check(m(0, EUR), before, EUR, Err(VoucherRefusal::Exhausted));
        check(m(-1, EUR), before, EUR, Err(VoucherRefusal::Exhausted));
        check(
            m(2000, EUR),
            before,
            USD,
            Err(VoucherRefusal::WrongCurrency),
        );
        assert_eq!(VoucherRefusal::Exhausted.as_str(), "exhausted");
    }

    #[test]
    fn redemptions() {
        #[track_caller]
        fn check(balance: i64, due: i64, expect: i64) {
            assert_eq!(
                redemption_amount(m(balance, EUR), m(due, EUR)),
                Ok(m(expect, EUR))
            );
        }
        // Issue 3: a voucher of 50.00 on a 30.00 order takes 30.00 and keeps 20.00.
        check(5000, 3000, 3000);
        // The seed: a 20.00 voucher on 34.20 due takes 20.00, 14.20 left to pay.
        check(2000, 3420, 2000);
        check(2000, 2000, 2000);
        check(0, 3420, 0);
        check(2000, 0, 0);
        check(2000, -5, 0);
        assert!(redemption_amount(m(1, EUR), m(1, USD)).is_err());

        assert_eq!(forfeited_on_commit(true, m(2000, EUR)), m(0, EUR));
        assert_eq!(forfeited_on_commit(false, m(2000, EUR)), m(2000, EUR));
        assert_eq!(forfeited_on_commit(false, m(0, EUR)), m(0, EUR));
        assert_eq!(forfeited_on_commit(false, m(-3, EUR)), m(0, EUR));
    }

    #[test]
    fn product_validation() {
        #[track_caller]
        fn check(rule: VoucherProductRule, expect: &[&str]) {
            let fields: Vec<&str> = validate_product(&rule)
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            assert_eq!(fields, expect, "{rule:?}");
        }
        check(fixed(5000, 5000), &[]);
        check(fixed(5000, 0), &[]);
        check(fixed(0, 0), &["value"]);
        check(fixed(5000, -1), &["price"]);
        check(
            VoucherProductRule {
                value: VoucherValue::Fixed {
                    value: m(5000, EUR),
                    price: m(5000, USD),
                },
                ..fixed(1, 1)
            },
            &["price"],
        );
        check(open(1000, 50_000), &[]);
        check(open(1000, 1000), &[]);
        check(open(0, 50_000), &["min"]);
        check(open(1000, 999), &["max"]);
        check(
            VoucherProductRule {
                value: VoucherValue::Open {
                    min: m(1000, EUR),
                    max: m(5000, USD),
                },
                ..fixed(1, 1)
            },
            &["max"],
        );
        let days = |d| VoucherProductRule {
            validity: VoucherValidity::Days(d),
            ..fixed(5000, 5000)
        };
        check(days(0), &["validity"]);
        check(days(1), &[]);
        check(days(MAX_VALIDITY_DAYS), &[]);
        check(days(MAX_VALIDITY_DAYS + 1), &["validity"]);
    }

    #[test]
    fn product_serde() {
        let rule = VoucherProductRule {
            validity: VoucherValidity::UntilDate(datetime!(2026-12-31 23:59:59 +01:00)),
            ..fixed(5000, 4500)
        };
        let json = serde_json::to_value(rule).unwrap();
        assert_eq!(json["value"]["type"], "fixed");
        assert_eq!(json["value"]["price"]["amount_minor"], 4500);
        assert_eq!(json["validity"]["until_date"], "2026-12-31T23:59:59+01:00");
        assert_eq!(
            serde_json::from_value::<VoucherProductRule>(json).unwrap(),
            rule
        );
        let json = serde_json::to_value(open(1, 2)).unwrap();
        assert_eq!(json["validity"]["days"], 365);
        assert_eq!(json["value"]["type"], "open");
        assert_eq!(
            serde_json::from_value::<VoucherProductRule>(json).unwrap(),
            open(1, 2)
        );
    }

    proptest! {
        #[test]
        fn codes_round_trip(random in any::<[u8; 10]>()) {
            let code = VoucherCode::generate(random);
            let s = code.as_str();
            prop_assert_eq!(s.len(), 19);
            prop_assert!(!s.contains(['I', 'L', 'O', 'U']));
            prop_assert_eq!(VoucherCode::parse(s), Ok(code.clone()));
            prop_assert_eq!(VoucherCode::parse(&s.to_lowercase()), Ok(code.clone()));
            prop_assert_eq!(VoucherCode::parse(&s.replace('-', " ")), Ok(code.clone()));
        }

        #[test]
        fn codes_carry_all_80_bits(a in any::<[u8; 10]>(), b in any::<[u8; 10]>()) {
            prop_assert_eq!(a == b, VoucherCode::generate(a) == VoucherCode::generate(b));
        }

        #[test]
        fn parse_never_panics(raw in ".{0,40}") {
            if let Ok(code) = VoucherCode::parse(&raw) {
                prop_assert_eq!(VoucherCode::parse(code.as_str()), Ok(code.clone()));
            }
        }

        #[test]
        fn redemption_takes_at_most_both(balance in -10i64..100_000, due in -10i64..100_000) {
            let taken = redemption_amount(m(balance, EUR), m(due, EUR)).unwrap().amount_minor();
            prop_assert!(taken >= 0);
            prop_assert!(taken <= balance.max(0));
            prop_assert!(taken <= due.max(0));
            prop_assert!(taken == balance.max(0) || taken == due.max(0));
        }
    }
}

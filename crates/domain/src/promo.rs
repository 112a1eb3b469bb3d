//! Promo codes (SPEC F2): a discount on the whole order, not a payment.
//!
//! - [`check_eligibility`] decides whether a configured rule may be applied to an order now;
//! - [`apply_discounts`] computes what each applied code takes off, one after the other in the
//!   order entered, never taking the amount below zero;
//! - [`validate_rule`] checks a rule as the back office configures it;
//! - [`PromoCode`] is the code text, normalised; [`coupon_code`] makes single-use coupons from
//!   random bytes the caller supplies (this crate has no randomness source).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{ChannelKind, Invalid};
use crate::money::{Money, MoneyError};
use crate::voucher::crockford_80;

/// 100 % in basis points.
pub const WHOLE_BP: u32 = 10_000;

/// The two kinds of promo code of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromoKind {
    /// Single-use codes, generated in bulk or imported: each code can be used once in total.
    Coupon,
    /// One shared code, used as many times as its limits allow.
    DiscountCode,
}

impl PromoKind {
    pub const ALL: &'static [PromoKind] = &[PromoKind::Coupon, PromoKind::DiscountCode];

    /// The snake_case name, as serialized and stored: `"coupon"`, `"discount_code"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromoKind::Coupon => "coupon",
            PromoKind::DiscountCode => "discount_code",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        PromoKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| Invalid("must be one of: coupon, discount_code".to_owned()))
    }
}

impl fmt::Display for PromoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a code takes off the whole order.
///
/// Serialized as `{"type": "percent", "basis_points": 500}` or
/// `{"type": "fixed", "amount_minor": 500, "currency": "EUR"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Discount {
    /// A share of the amount remaining, 1..=10 000 bp (5 % = 500 bp).
    Percent { basis_points: u32 },
    /// A fixed amount, > 0, in the order's currency.
    Fixed(Money),
}

/// A promo code's rule as configured in the catalogue. The code text and label live with the
/// store's row; this is what decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoRule {
    pub kind: PromoKind,
    pub discount: Discount,
    /// Inclusive start of validity; `None` = valid from the start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    /// Exclusive end of validity; `None` = never expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// Channels where the code may be used; empty = all.
    pub channels: Vec<ChannelKind>,
    /// Uses across all orders; ignored for coupons, which are always single-use.
    pub max_uses_total: Option<u32>,
    pub max_uses_per_contact: Option<u32>,
    /// Compared with the order total before any discount.
    pub min_order: Option<Money>,
}

impl PromoRule {
    /// The effective total limit: 1 for a coupon whatever is configured.
    pub fn effective_max_uses_total(&self) -> Option<u32> {
        match self.kind {
            PromoKind::Coupon => Some(1),
            PromoKind::DiscountCode => self.max_uses_total,
        }
    }
}

/// Why a code cannot be applied. The HTTP layer decides how much of this a buyer sees (the
/// issue asks for one shape of error that does not tell a guesser which case it hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PromoRefusal {
    #[error("this code is not valid yet")]
    NotYetValid,
    #[error("this code has expired")]
    Expired,
    #[error("this code cannot be used on this sales channel")]
    WrongChannel,
    #[error("this code has been used up")]
    UsedUp,
    #[error("this code has already been used the maximum number of times for this customer")]
    UsedUpForContact,
    #[error("the order is below this code's minimum amount")]
    BelowMinimum,
    #[error("this code is for another currency")]
    WrongCurrency,
    #[error("this code is already applied to the order")]
    AlreadyApplied,
}

impl PromoRefusal {
    /// A stable snake_case code for logs and API errors.
    pub fn as_str(self) -> &'static str {
        match self {
            PromoRefusal::NotYetValid => "not_yet_valid",
            PromoRefusal::Expired => "expired",
            PromoRefusal::WrongChannel => "wrong_channel",
            PromoRefusal::UsedUp => "used_up",
            PromoRefusal::UsedUpForContact => "used_up_for_contact",
            PromoRefusal::BelowMinimum => "below_minimum",
            PromoRefusal::WrongCurrency => "wrong_currency",
            PromoRefusal::AlreadyApplied => "already_applied",
        }
    }
}

/// Whether `rule` may be applied now to an order of `order_total` (before discounts) on
/// `channel`.
///
/// `uses_total` / `uses_by_contact`: current counts (excluding this order). For a coupon,
/// max_uses_total is 1 whatever is configured. The validity window is `[valid_from,
/// valid_until)`. Checks, in order: window, channel, currency (of a fixed discount and of the
/// minimum), total uses, uses by the contact, minimum. [`PromoRefusal::AlreadyApplied`] is the
/// store's to decide (it knows the order's codes); it is never returned here.
pub fn check_eligibility(
    rule: &PromoRule,
    now: OffsetDateTime,
    channel: ChannelKind,
    order_total: Money,
    uses_total: u64,
    uses_by_contact: u64,
) -> Result<(), PromoRefusal> {
    if rule.valid_from.is_some_and(|from| now < from) {
        return Err(PromoRefusal::NotYetValid);
    }
    if rule.valid_until.is_some_and(|until| now >= until) {
        return Err(PromoRefusal::Expired);
    }
    if !rule.channels.is_empty() && !rule.channels.contains(&channel) {
        return Err(PromoRefusal::WrongChannel);
    }
    let currency = order_total.currency();
    if let Discount::Fixed(amount) = rule.discount
        && amount.currency() != currency
    {
        return Err(PromoRefusal::WrongCurrency);
    }
    if rule.min_order.is_some_and(|min| min.currency() != currency) {
        return Err(PromoRefusal::WrongCurrency);
    }
    if rule
        .effective_max_uses_total()
        .is_some_and(|max| uses_total >= u64::from(max))
    {
        return Err(PromoRefusal::UsedUp);
    }
    if rule
        .max_uses_per_contact
        .is_some_and(|max| uses_by_contact >= u64::from(max))
    {
        return Err(PromoRefusal::UsedUpForContact);
    }
    if rule
        .min_order
        .is_some_and(|min| order_total.amount_minor() < min.amount_minor())
    {
        return Err(PromoRefusal::BelowMinimum);
    }
    Ok(())
}

/// Applies discounts one after the other in the order entered: each percentage is taken of the
/// amount remaining after the previous ones, rounded half up to the minor unit
/// ([`Money::percent_bp`]); each discount is clamped to `[0, remaining]`, so the remaining
/// amount never goes below zero (a fixed discount larger than what is left takes only what is
/// left; a negative total or a negative fixed amount gives zero discounts). Returns the amount
/// of each discount, in the same order.
///
/// Seed: 3600 EUR minor, 5 % → `[180]`, remaining 3420; 5 % of 3330 = 167.
///
/// Errors: a fixed discount in another currency than `total` ([`MoneyError::CurrencyMismatch`]).
pub fn apply_discounts(total: Money, discounts: &[Discount]) -> Result<Vec<Money>, MoneyError> {
    let zero = Money::zero(total.currency());
    let mut remaining = total;
    let mut amounts = Vec::with_capacity(discounts.len());
    for discount in discounts {
        let wanted = match *discount {
            Discount::Percent { basis_points } => remaining.percent_bp(basis_points)?,
            Discount::Fixed(amount) => amount,
        };
        let taken = wanted.min(remaining)?;
        let taken = if taken.is_negative() { zero } else { taken };
        remaining = remaining.checked_sub(taken)?;
        amounts.push(taken);
    }
    Ok(amounts)
}

/// Validation of a rule as configured in the back office (bp range, fixed > 0, valid_from <
/// valid_until, max uses ≥ 1 when set, minimum ≥ 0 and in the fixed discount's currency, no
/// repeated channel), returning (field name, message) pairs for a 422. Empty = valid.
pub fn validate_rule(rule: &PromoRule) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    match rule.discount {
        Discount::Percent { basis_points } => {
            if !(1..=WHOLE_BP).contains(&basis_points) {
                errors.push((
                    "discount",
                    "a percentage must be between 0.01 % and 100 % (1 to 10000 basis points)"
                        .to_owned(),
                ));
            }
        }
        Discount::Fixed(amount) => {
            if !amount.is_positive() {
                errors.push((
                    "discount",
                    "a fixed discount must be greater than zero".to_owned(),
                ));
            }
        }
    }
    if let (Some(from), Some(until)) = (rule.valid_from, rule.valid_until)
        && from >= until
    {
        errors.push((
            "valid_until",
            "the end of validity must be after its start".to_owned(),
        ));
    }
    if rule.max_uses_total == Some(0) {
        errors.push((
            "max_uses_total",
            "must be at least 1 when set (leave empty for no limit)".to_owned(),
        ));
    }
    if rule.max_uses_per_contact == Some(0) {
        errors.push((
            "max_uses_per_contact",
            "must be at least 1 when set (leave empty for no limit)".to_owned(),
        ));
    }
    if let Some(min) = rule.min_order {
        if min.is_negative() {
            errors.push(("min_order", "must not be negative".to_owned()));
        }
        if let Discount::Fixed(amount) = rule.discount
            && amount.currency() != min.currency()
        {
            errors.push((
                "min_order",
                format!(
                    "must be in the fixed discount's currency ({})",
                    amount.currency()
                ),
            ));
        }
    }
    let mut seen: Vec<ChannelKind> = Vec::with_capacity(rule.channels.len());
    for &channel in &rule.channels {
        if seen.contains(&channel) {
            errors.push(("channels", format!("{channel} is listed twice")));
        } else {
            seen.push(channel);
        }
    }
    errors
}

/// Promo code text: 3..=32 chars, A-Z 0-9 '-' '_' after normalisation (trim, upper-case).
///
/// Codes are matched in this canonical form, so "nv-2024 " and "NV-2024" are the same code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromoCode(String);

impl PromoCode {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    /// Trims and upper-cases `raw`, then checks length and characters. The error never repeats
    /// the input (a mistyped field could hold anything, card numbers included).
    pub fn parse(raw: &str) -> Result<PromoCode, Invalid> {
        let code = raw.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(Invalid(format!(
                "a promo code has {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        if !code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(Invalid(
                "a promo code may contain only letters A-Z, digits, '-' and '_'".to_owned(),
            ));
        }
        Ok(PromoCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromoCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PromoCode {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        PromoCode::parse(&raw)
    }
}

impl From<PromoCode> for String {
    fn from(code: PromoCode) -> String {
        code.0
    }
}

/// Longest coupon prefix: prefix + '-' + 16 symbols fits [`PromoCode::MAX_LEN`].
pub const MAX_COUPON_PREFIX_LEN: usize = PromoCode::MAX_LEN - 17;

/// What [`coupon_code`] uses when the prefix has nothing usable left after cleaning: without a
/// prefix a coupon would be 16 Crockford symbols and look like a voucher code
/// ([`crate::voucher::VoucherCode::looks_like`]).
pub const DEFAULT_COUPON_PREFIX: &str = "C";

/// A coupon prefix as the back office enters it: trimmed, upper-cased, 1 to
/// [`MAX_COUPON_PREFIX_LEN`] letters A-Z or digits.
pub fn parse_coupon_prefix(raw: &str) -> Result<String, Invalid> {
    let prefix = raw.trim().to_ascii_uppercase();
    let len = prefix.chars().count();
    if (1..=MAX_COUPON_PREFIX_LEN).contains(&len)
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(prefix)
    } else {
        Err(Invalid(format!(
            "a coupon prefix has 1 to {MAX_COUPON_PREFIX_LEN} letters A-Z or digits"
        )))
    }
}

/// Coupon generation from caller-supplied random bytes: prefix + '-' + Crockford base32 of the 80
/// bits (16 symbols), e.g. `"NV-7K3QX9M2PA4TRB6W"`.
///
/// Infallible: the prefix is cleaned (upper-cased, only A-Z and 0-9 kept, cut to
/// [`MAX_COUPON_PREFIX_LEN`]) and replaced by [`DEFAULT_COUPON_PREFIX`] when nothing is left.
/// Validate it first with [`parse_coupon_prefix`] to tell the user instead.
pub fn coupon_code(prefix: &str, random: [u8; 10]) -> PromoCode {
    let mut cleaned: String = prefix
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .take(MAX_COUPON_PREFIX_LEN)
        .collect();
    if cleaned.is_empty() {
        cleaned.push_str(DEFAULT_COUPON_PREFIX);
    }
    cleaned.push('-');
    cleaned.extend(crockford_80(random).iter().map(|&b| char::from(b)));
    // By construction: 3..=32 characters from A-Z, 0-9 and '-'.
    PromoCode(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency::{self, EUR, JPY, USD};
    use crate::voucher::VoucherCode;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn m(amount_minor: i64, currency: Currency) -> Money {
        Money::new(amount_minor, currency)
    }

    fn pct(basis_points: u32) -> Discount {
        Discount::Percent { basis_points }
    }

    fn rule() -> PromoRule {
        PromoRule {
            kind: PromoKind::DiscountCode,
            discount: pct(500),
            valid_from: Some(datetime!(2026-01-01 0:00 UTC)),
            valid_until: Some(datetime!(2026-07-01 0:00 UTC)),
            channels: vec![],
            max_uses_total: None,
            max_uses_per_contact: None,
            min_order: None,
        }
    }

    #[test]
    fn seed_examples() {
        // 36.00 EUR − 1.80 EUR "Newcomers" = 34.20 EUR.
        assert_eq!(
            apply_discounts(m(3600, EUR), &[pct(500)]),
            Ok(vec![m(180, EUR)])
        );
        // 5 % of 33.30 EUR = 1.665 → 1.67 EUR.
        assert_eq!(
            apply_discounts(m(3330, EUR), &[pct(500)]),
            Ok(vec![m(167, EUR)])
        );
    }

    #[test]
    fn discounts_in_sequence() {
        #[track_caller]
        fn check(total: Money, discounts: &[Discount], expect: &[i64]) {
            let got = apply_discounts(total, discounts).unwrap();
            let got: Vec<i64> = got.iter().map(|d| d.amount_minor()).collect();
            assert_eq!(got, expect);
        }
        check(m(3600, EUR), &[], &[]);
        // 10 % of 3600 = 360, then 5 % of 3240 = 162.
        check(m(3600, EUR), &[pct(1000), pct(500)], &[360, 162]);
        // The order matters: 5 % of 3600 = 180, then 10 % of 3420 = 342.
        check(m(3600, EUR), &[pct(500), pct(1000)], &[180, 342]);
        // Fixed then percent: 3600 − 600 = 3000, 5 % = 150.
        check(
            m(3600, EUR),
            &[Discount::Fixed(m(600, EUR)), pct(500)],
            &[600, 150],
        );
        // A fixed discount larger than what is left takes what is left; later ones take 0.
        check(
            m(1000, EUR),
            &[
                Discount::Fixed(m(1500, EUR)),
                pct(500),
                Discount::Fixed(m(1, EUR)),
            ],
            &[1000, 0, 0],
        );
        check(m(1000, EUR), &[pct(10_000), pct(10_000)], &[1000, 0]);
        // Out-of-range values are clamped rather than trusted.
        check(m(1000, EUR), &[pct(20_000)], &[1000]);
        check(m(1000, EUR), &[Discount::Fixed(m(-5, EUR))], &[0]);
        check(m(-1000, EUR), &[pct(500)], &[0]);
        // JPY has no minor unit: 5 % of 1990 = 99.5 → 100.
        check(m(1990, JPY), &[pct(500)], &[100]);
        check(
            m(0, EUR),
            &[pct(500), Discount::Fixed(m(100, EUR))],
            &[0, 0],
        );
        assert_eq!(
            apply_discounts(m(1000, EUR), &[Discount::Fixed(m(100, USD))]),
            Err(MoneyError::CurrencyMismatch {
                left: USD,
                right: EUR
            })
        );
    }

    #[test]
    fn eligibility() {
        use PromoRefusal::*;
        let now = datetime!(2026-03-01 12:00 UTC);
        let web = ChannelKind::Internet;
        #[track_caller]
        fn check(
            r: &PromoRule,
            now: OffsetDateTime,
            channel: ChannelKind,
            total: Money,
            uses: (u64, u64),
            expect: Result<(), PromoRefusal>,
        ) {
            assert_eq!(
                check_eligibility(r, now, channel, total, uses.0, uses.1),
                expect
            );
        }
        let total = m(3600, EUR);
        check(&rule(), now, web, total, (1_000_000, 50), Ok(()));

        let r = rule();
        check(
            &r,
            datetime!(2025-12-31 23:59:59 UTC),
            web,
            total,
            (0, 0),
            Err(NotYetValid),
        );
        check(
            &r,
            datetime!(2026-01-01 0:00 UTC),
            web,
            total,
            (0, 0),
            Ok(()),
        );
        check(
            &r,
            datetime!(2026-06-30 23:59:59 UTC),
            web,
            total,
            (0, 0),
            Ok(()),
        );
        check(
            &r,
            datetime!(2026-07-01 0:00 UTC),
            web,
            total,
            (0, 0),
            Err(Expired),
        );
        // Same instant written in another offset.
        check(
            &r,
            datetime!(2026-07-01 2:00 +02:00),
            web,
            total,
            (0, 0),
            Err(Expired),
        );
        let open = PromoRule {
            valid_from: None,
            valid_until: None,
            ..rule()
        };
        check(
            &open,
            datetime!(2099-01-01 0:00 UTC),
            web,
            total,
            (0, 0),
            Ok(()),
        );

        let box_office_only = PromoRule {
            channels: vec![ChannelKind::BoxOffice],
            ..rule()
        };
        check(&box_office_only, now, web, total, (0, 0), Err(WrongChannel));
        check(
            &box_office_only,
            now,
            ChannelKind::BoxOffice,
            total,
            (0, 0),
            Ok(()),
        );

        let limited = PromoRule {
            max_uses_total: Some(100),
            max_uses_per_contact: Some(2),
            ..rule()
        };
        check(&limited, now, web, total, (99, 1), Ok(()));
        check(&limited, now, web, total, (100, 0), Err(UsedUp));
        check(&limited, now, web, total, (5, 2), Err(UsedUpForContact));

        // A coupon is single-use whatever is configured.
        let coupon = PromoRule {
            kind: PromoKind::Coupon,
            max_uses_total: Some(50),
            ..rule()
        };
        check(&coupon, now, web, total, (0, 0), Ok(()));
        check(&coupon, now, web, total, (1, 0), Err(UsedUp));
        let unlimited_coupon = PromoRule {
            max_uses_total: None,
            ..coupon
        };
        check(&unlimited_coupon, now, web, total, (1, 0), Err(UsedUp));

        let minimum = PromoRule {
            min_order: Some(m(5000, EUR)),
            ..rule()
        };
        check(&minimum, now, web, m(4999, EUR), (0, 0), Err(BelowMinimum));
        check(&minimum, now, web, m(5000, EUR), (0, 0), Ok(()));
        check(&minimum, now, web, m(5000, USD), (0, 0), Err(WrongCurrency));

        let fixed = PromoRule {
            discount: Discount::Fixed(m(500, EUR)),
            ..rule()
        };
        check(&fixed, now, web, m(3600, EUR), (0, 0), Ok(()));
        check(&fixed, now, web, m(3600, USD), (0, 0), Err(WrongCurrency));
        // A fixed discount larger than the order is eligible: it is clamped when applied.
        check(&fixed, now, web, m(100, EUR), (0, 0), Ok(()));
    }

    #[test]
    fn refusal_codes() {
        assert_eq!(
            PromoRefusal::UsedUpForContact.as_str(),
            "used_up_for_contact"
        );
        assert_eq!(PromoRefusal::Expired.to_string(), "this code has expired");
    }

    #[test]
    fn rule_validation() {
        #[track_caller]
        fn check(r: PromoRule, expect: &[&str]) {
            let fields: Vec<&str> = validate_rule(&r).into_iter().map(|(f, _)| f).collect();
            assert_eq!(fields, expect, "{r:?}");
        }
        check(rule(), &[]);
        check(
            PromoRule {
                discount: pct(1),
                ..rule()
            },
            &[],
        );
        check(
            PromoRule {
                discount: pct(10_000),
                ..rule()
            },
            &[],
        );
        check(
            PromoRule {
                discount: pct(0),
                ..rule()
            },
            &["discount"],
        );
        check(
            PromoRule {
                discount: pct(10_001),
                ..rule()
            },
            &["discount"],
        );
        check(
            PromoRule {
                discount: Discount::Fixed(m(0, EUR)),
                ..rule()
            },
            &["discount"],
        );
        check(
            PromoRule {
                discount: Discount::Fixed(m(-100, EUR)),
                ..rule()
            },
            &["discount"],
        );
        check(
            PromoRule {
                valid_from: Some(datetime!(2026-07-01 0:00 UTC)),
                ..rule()
            },
            &["valid_until"],
        );
        check(
            PromoRule {
                max_uses_total: Some(0),
                max_uses_per_contact: Some(0),
                ..rule()
            },
            &["max_uses_total", "max_uses_per_contact"],
        );
        check(
            PromoRule {
                max_uses_total: Some(1),
                max_uses_per_contact: Some(1),
                ..rule()
            },
            &[],
        );
        check(
            PromoRule {
                min_order: Some(m(-1, EUR)),
                ..rule()
            },
            &["min_order"],
        );
        check(
            PromoRule {
                discount: Discount::Fixed(m(500, EUR)),
                min_order: Some(m(1000, USD)),
                ..rule()
            },
            &["min_order"],
        );
        check(
            PromoRule {
                channels: vec![
                    ChannelKind::Internet,
                    ChannelKind::Mobile,
                    ChannelKind::Internet,
                ],
                ..rule()
            },
            &["channels"],
        );
    }

    #[test]
    fn rule_serde_round_trip() {
        let r = PromoRule {
            discount: Discount::Fixed(m(500, EUR)),
            channels: vec![ChannelKind::Internet],
            min_order: Some(m(1000, EUR)),
            ..rule()
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "discount_code");
        assert_eq!(json["discount"]["type"], "fixed");
        assert_eq!(json["discount"]["amount_minor"], 500);
        assert_eq!(json["valid_from"], "2026-01-01T00:00:00Z");
        assert_eq!(serde_json::from_value::<PromoRule>(json).unwrap(), r);
        let p = serde_json::to_value(pct(500)).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"type": "percent", "basis_points": 500})
        );
        for k in PromoKind::ALL {
            assert_eq!(PromoKind::parse(k.as_str()), Ok(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert!(PromoKind::parse("Coupon").is_err());
    }

    #[test]
    fn promo_codes() {
        #[track_caller]
        fn check(raw: &str, expect: Option<&str>) {
            assert_eq!(
                PromoCode::parse(raw).ok().as_ref().map(PromoCode::as_str),
                expect,
                "{raw:?}"
            );
        }
        check("NV-2026", Some("NV-2026"));
        check("  nouveaux_venus ", Some("NOUVEAUX_VENUS"));
        check("abc", Some("ABC"));
        check("AB", None);
        check("", None);
        check("   ", None);
        check(&"A".repeat(32), Some(&"A".repeat(32)));
        check(&"A".repeat(33), None);
        check("NOUVEAUX VENUS", None);
        check("NOËL", None);
        check("CODE!", None);
        // No echo of the input in the message.
        let err = PromoCode::parse("4111 1111 1111 1111").unwrap_err();
        assert!(!err.to_string().contains("4111"));
        let code: PromoCode = serde_json::from_str("\"nv-1\"").unwrap();
        assert_eq!(code.as_str(), "NV-1");
        assert!(serde_json::from_str::<PromoCode>("\"x\"").is_err());
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"NV-1\"");
    }

    #[test]
    fn coupons() {
        #[track_caller]
        fn check(prefix: &str, random: [u8; 10], expect: &str) {
            let code = coupon_code(prefix, random);
            assert_eq!(code.as_str(), expect);
            assert_eq!(PromoCode::parse(expect).as_ref(), Ok(&code));
            assert!(!VoucherCode::looks_like(expect));
        }
        check("NV", [0; 10], "NV-0000000000000000");
        check("NV", [0xff; 10], "NV-ZZZZZZZZZZZZZZZZ");
        check("nv", [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "NV-0000000000000001");
        check("", [0, 0, 0, 0, 0, 0, 0, 0, 0, 32], "C-0000000000000010");
        check(
            " -!",
            [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "C-G000000000000000",
        );
        check(
            "ABCDEFGHIJKLMNOPQRS",
            [0; 10],
            "ABCDEFGHIJKLMNO-0000000000000000",
        );
        assert_eq!(parse_coupon_prefix(" nv "), Ok("NV".to_owned()));
        assert!(parse_coupon_prefix("").is_err());
        assert!(parse_coupon_prefix("N-V").is_err());
        assert!(parse_coupon_prefix(&"A".repeat(MAX_COUPON_PREFIX_LEN + 1)).is_err());
        assert!(parse_coupon_prefix(&"A".repeat(MAX_COUPON_PREFIX_LEN)).is_ok());
    }

    fn discount_strategy() -> impl Strategy<Value = Discount> {
        prop_oneof![
            (0u32..=12_000).prop_map(|basis_points| Discount::Percent { basis_points }),
            (-1_000i64..=2_000_000).prop_map(|a| Discount::Fixed(Money::new(a, EUR))),
        ]
    }

    /// Exact half-up rounding of bp × amount / 10 000 for amount ≥ 0, computed independently of
    /// `Money::percent_bp`: floor((2·bp·amount + 10 000) / 20 000).
    fn half_up(amount: i64, basis_points: u32) -> i128 {
        (2 * i128::from(basis_points) * i128::from(amount) + 10_000).div_euclid(20_000)
    }

    proptest! {
        #[test]
        fn discounts_never_go_below_zero(
            total in 0i64..=1_000_000_000,
            discounts in prop::collection::vec(discount_strategy(), 0..8),
        ) {
            let amounts = apply_discounts(Money::new(total, EUR), &discounts).unwrap();
            prop_assert_eq!(amounts.len(), discounts.len());
            let mut remaining = i128::from(total);
            for (discount, amount) in discounts.iter().zip(&amounts) {
                let a = i128::from(amount.amount_minor());
                prop_assert!(a >= 0);
                prop_assert!(a <= remaining);
                match *discount {
                    Discount::Percent { basis_points } => {
                        let exact = half_up(i64::try_from(remaining).unwrap(), basis_points);
                        prop_assert_eq!(a, exact.min(remaining));
                    }
                    Discount::Fixed(f) => {
                        prop_assert_eq!(a, i128::from(f.amount_minor()).clamp(0, remaining));
                    }
                }
                remaining -= a;
                prop_assert!(remaining >= 0);
            }
            let sum: i128 = amounts.iter().map(|a| i128::from(a.amount_minor())).sum();
            prop_assert!(sum <= i128::from(total));
            prop_assert_eq!(i128::from(total) - sum, remaining);
        }

        #[test]
        fn valid_percentages_are_never_clamped(
            total in 0i64..=i64::MAX / 2,
            bp in 1u32..=WHOLE_BP,
        ) {
            let amounts = apply_discounts(Money::new(total, EUR), &[pct(bp)]).unwrap();
            prop_assert_eq!(i128::from(amounts[0].amount_minor()), half_up(total, bp));
        }

        #[test]
        fn coupon_codes_are_valid_promo_codes(prefix in ".{0,40}", random in any::<[u8; 10]>()) {
            let code = coupon_code(&prefix, random);
            prop_assert_eq!(PromoCode::parse(code.as_str()).ok(), Some(code.clone()));
            prop_assert!(!VoucherCode::looks_like(code.as_str()));
        }

        #[test]
        fn parse_never_panics(raw in ".{0,40}") {
            if let Ok(code) = PromoCode::parse(&raw) {
                prop_assert_eq!(PromoCode::parse(code.as_str()).ok(), Some(code.clone()));
            }
        }
    }
}

//! Mixed settlement (SPEC F4–F6): what is left to pay once promo codes, vouchers and credit
//! balance are applied, and how that remainder is settled.
//!
//! Order of application on the payment page: promo discounts ([`crate::promo::apply_discounts`])
//! come off the order total first; vouchers then take min(balance, what is left)
//! ([`crate::voucher::redemption_amount`]); credit balance after them ([`credit_to_use`]);
//! whatever remains is paid by card or on the deferred account ([`choose_remainder`]).
//! [`commit_amounts`] turns the final state into the figures of
//! [`crate::postings::OrderCommit`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Invalid;
use crate::money::{Money, MoneyError};

/// What has been applied to an order so far. Every amount is ≥ 0, in the order's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// One per applied promo code, as [`crate::promo::apply_discounts`] computed them.
    pub discounts: Vec<Money>,
    /// One per voucher held for the order.
    pub voucher_holds: Vec<Money>,
    /// Credit balance held for the order (zero when none).
    pub credit_hold: Money,
}

impl Applied {
    /// Nothing applied yet, in `total`'s currency.
    pub fn none(total: Money) -> Applied {
        Applied {
            discounts: Vec::new(),
            voucher_holds: Vec::new(),
            credit_hold: Money::zero(total.currency()),
        }
    }
}

/// Why a settlement step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("what is applied exceeds the order total")]
    Negative,
    /// Added: an applied discount or hold below zero (a caller bug, never a buyer's input).
    #[error("an applied discount or hold is negative")]
    NegativeApplied,
    /// Added: a negative credit-balance request.
    #[error("the credit balance to use must not be negative")]
    NegativeRequest,
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("an amount remains to be paid: choose a card or the deferred account")]
    RemainderNeedsMeans,
    #[error("nothing remains to be paid: no further means of payment is needed")]
    NothingToPay,
    #[error("the deferred account is not available for this order")]
    DeferredNotAllowed,
    #[error("the deferred account's maximum would be exceeded (room left: {room})")]
    DeferredOverMaximum { room: Money },
}

fn checked_non_negative(amounts: &[Money], total: Money) -> Result<Money, SettlementError> {
    if amounts.iter().any(|a| a.is_negative()) {
        return Err(SettlementError::NegativeApplied);
    }
    Ok(Money::sum(total.currency(), amounts.iter().copied())?)
}

/// total − Σ discounts − Σ voucher holds, before the credit balance: the most credit that can be
/// used.
pub fn amount_due_before_credit(total: Money, applied: &Applied) -> Result<Money, SettlementError> {
    let discounts = checked_non_negative(&applied.discounts, total)?;
    let vouchers = checked_non_negative(&applied.voucher_holds, total)?;
    let due = total.checked_sub(discounts)?.checked_sub(vouchers)?;
    if due.is_negative() {
        return Err(SettlementError::Negative);
    }
    Ok(due)
}

/// amount due = total − Σ discounts − Σ voucher holds − credit hold; error if it would be
/// negative ([`SettlementError::Negative`]), if anything applied is negative, or on currency
/// mismatch.
pub fn amount_due(total: Money, applied: &Applied) -> Result<Money, SettlementError> {
    let before_credit = amount_due_before_credit(total, applied)?;
    if applied.credit_hold.is_negative() {
        return Err(SettlementError::NegativeApplied);
    }
    let due = before_credit.checked_sub(applied.credit_hold)?;
    if due.is_negative() {
        return Err(SettlementError::Negative);
    }
    Ok(due)
}

/// How what remains is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Remainder {
    /// Nothing remains: the API's `means: "none"`.
    #[serde(rename = "none")]
    Nothing,
    /// A card (new or saved) through the provider.
    #[serde(rename = "card")]
    Card,
    /// Charged to the contact's deferred account.
    #[serde(rename = "deferred_account")]
    DeferredAccount,
}

impl Remainder {
    pub const ALL: &'static [Remainder] = &[
        Remainder::Nothing,
        Remainder::Card,
        Remainder::DeferredAccount,
    ];

    /// `"none"`, `"card"`, `"deferred_account"`. The API's `"saved_card"` is a
    /// [`Remainder::Card`]; the HTTP layer maps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Remainder::Nothing => "none",
            Remainder::Card => "card",
            Remainder::DeferredAccount => "deferred_account",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Remainder::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| Invalid("must be one of: none, card, deferred_account".to_owned()))
    }
}

impl fmt::Display for Remainder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A contact's deferred account as the rule needs it (SPEC F5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredCheck {
    /// Deferred account allowed for the contact.
    pub allowed: bool,
    /// Outstanding now.
    pub balance: Money,
    /// Maximum outstanding.
    pub max: Money,
}

impl DeferredCheck {
    /// How much more may be charged: max − balance, never below zero.
    pub fn room(&self) -> Result<Money, MoneyError> {
        let room = self.max.checked_sub(self.balance)?;
        Ok(if room.is_negative() {
            Money::zero(room.currency())
        } else {
            room
        })
    }
}

/// Decides how the remainder is settled: [`Remainder::Nothing`] when due == 0 (the means must be
/// "none", else [`SettlementError::NothingToPay`]); when due > 0, "none" is
/// [`SettlementError::RemainderNeedsMeans`], a card is a card, and the deferred account only when
/// `deferred` is given (the caller passes `None` when the point of sale has no
/// `deferred_account` payment mode or the contact has no account), allowed, and balance + due ≤
/// max (checked).
pub fn choose_remainder(
    due: Money,
    requested: Remainder,
    deferred: Option<&DeferredCheck>,
) -> Result<Remainder, SettlementError> {
    if due.is_negative() {
        return Err(SettlementError::Negative);
    }
    if due.is_zero() {
        return match requested {
            Remainder::Nothing => Ok(Remainder::Nothing),
            Remainder::Card | Remainder::DeferredAccount => Err(SettlementError::NothingToPay),
        };
    }
    match requested {
        Remainder::Nothing => Err(SettlementError::RemainderNeedsMeans),
        Remainder::Card => Ok(Remainder::Card),
        Remainder::DeferredAccount => {
            let check = deferred
                .filter(|c| c.allowed)
                .ok_or(SettlementError::DeferredNotAllowed)?;
            let after = check.balance.checked_add(due)?;
            if after.checked_sub(check.max)?.is_positive() {
                return Err(SettlementError::DeferredOverMaximum {
                    room: check.room()?,
                });
            }
            Ok(Remainder::DeferredAccount)
        }
    }
}

/// Credit to use: min(requested, available balance, amount due before credit), never below zero;
/// `requested` must be ≥ 0 ([`SettlementError::NegativeRequest`]).
pub fn credit_to_use(
    requested: Money,
    available: Money,
    due_before_credit: Money,
) -> Result<Money, SettlementError> {
    if requested.is_negative() {
        return Err(SettlementError::NegativeRequest);
    }
    let used = requested.min(available)?.min(due_before_credit)?;
    Ok(if used.is_negative() {
        Money::zero(used.currency())
    } else {
        used
    })
}

/// The amounts an order's commit posts ([`crate::postings::OrderCommit`]), which add up to the
/// order total by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitAmounts {
    pub discount_total: Money,
    /// Σ voucher holds + credit hold.
    pub held_total: Money,
    /// Charged to the deferred account (zero unless the remainder goes there).
    pub deferred: Money,
    /// Captured by card (zero unless the remainder goes there).
    pub card: Money,
}

/// Splits the order total into what [`crate::postings::commit_order`] posts: discounts, holds,
/// and the remainder on the means [`choose_remainder`] chose. `remainder` must fit the amount due
/// (Nothing ⇔ due == 0), as `choose_remainder` guarantees.
pub fn commit_amounts(
    total: Money,
    applied: &Applied,
    remainder: Remainder,
) -> Result<CommitAmounts, SettlementError> {
    let due = amount_due(total, applied)?;
    let zero = Money::zero(total.currency());
    let discount_total = Money::sum(total.currency(), applied.discounts.iter().copied())?;
    let held_total = Money::sum(total.currency(), applied.voucher_holds.iter().copied())?
        .checked_add(applied.credit_hold)?;
    let (deferred, card) = match remainder {
        Remainder::Nothing if due.is_zero() => (zero, zero),
        Remainder::Nothing => return Err(SettlementError::RemainderNeedsMeans),
        _ if due.is_zero() => return Err(SettlementError::NothingToPay),
        Remainder::Card => (zero, due),
        Remainder::DeferredAccount => (due, zero),
    };
    Ok(CommitAmounts {
        discount_total,
        held_total,
        deferred,
        card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency::{self, EUR, USD};
    use proptest::prelude::*;

    fn m(amount_minor: i64, currency: Currency) -> Money {
        Money::new(amount_minor, currency)
    }

    fn eur(amount_minor: i64) -> Money {
        m(amount_minor, EUR)
    }

    fn applied(discounts: &[i64], vouchers: &[i64], credit: i64) -> Applied {
        Applied {
            discounts: discounts.iter().map(|&a| eur(a)).collect(),
            voucher_holds: vouchers.iter().map(|&a| eur(a)).collect(),
            credit_hold: eur(credit),
        }
    }

    #[test]
    fn amounts_due() {
        #[track_caller]
        fn check(total: i64, a: Applied, expect: Result<i64, SettlementError>) {
            assert_eq!(amount_due(eur(total), &a), expect.map(eur));
        }
        // The seed, step by step (issue 3 acceptance).
        check(3600, Applied::none(eur(3600)), Ok(3600));
        check(3600, applied(&[180], &[], 0), Ok(3420));
        check(3600, applied(&[180], &[2000], 0), Ok(1420));
        check(3600, applied(&[180], &[2000], 1000), Ok(420));
        check(3600, applied(&[180], &[2000, 1420], 0), Ok(0));
        check(
            3600,
            applied(&[180], &[2000], 1421),
            Err(SettlementError::Negative),
        );
        check(
            3600,
            applied(&[3601], &[], 0),
            Err(SettlementError::Negative),
        );
        check(
            3600,
            applied(&[-1], &[], 0),
            Err(SettlementError::NegativeApplied),
        );
        check(
            3600,
            applied(&[], &[-1], 0),
            Err(SettlementError::NegativeApplied),
        );
        check(
            3600,
            applied(&[], &[], -1),
            Err(SettlementError::NegativeApplied),
        );
        check(
            i64::MAX,
            applied(&[i64::MAX, 1], &[], 0),
            Err(SettlementError::Money(MoneyError::Overflow)),
        );
        let mixed = Applied {
            discounts: vec![m(1, USD)],
            ..Applied::none(eur(0))
        };
        assert!(matches!(
            amount_due(eur(3600), &mixed),
            Err(SettlementError::Money(MoneyError::CurrencyMismatch { .. }))
        ));
        assert_eq!(
            amount_due_before_credit(eur(3600), &applied(&[180], &[2000], 1000)),
            Ok(eur(1420))
        );
    }

    #[test]
    fn remainders() {
        use Remainder::*;
        use SettlementError::*;
        let karin = DeferredCheck {
            allowed: true,
            balance: eur(1000),
            max: eur(5000),
        };
        let not_allowed = DeferredCheck {
            allowed: false,
            ..karin
        };
        #[track_caller]
        fn check(
            due: i64,
            requested: Remainder,
            deferred: Option<&DeferredCheck>,
            expect: Result<Remainder, SettlementError>,
        ) {
            assert_eq!(choose_remainder(eur(due), requested, deferred), expect);
        }
        check(0, Nothing, None, Ok(Nothing));
        check(0, Card, None, Err(NothingToPay));
        check(0, DeferredAccount, Some(&karin), Err(NothingToPay));
        check(420, Nothing, None, Err(RemainderNeedsMeans));
        check(420, Card, None, Ok(Card));
        check(420, Card, Some(&not_allowed), Ok(Card));
        check(420, DeferredAccount, Some(&karin), Ok(DeferredAccount));
        check(4000, DeferredAccount, Some(&karin), Ok(DeferredAccount));
        check(
            4001,
            DeferredAccount,
            Some(&karin),
            Err(DeferredOverMaximum { room: eur(4000) }),
        );
        check(
            420,
            DeferredAccount,
            Some(&not_allowed),
            Err(DeferredNotAllowed),
        );
        check(420, DeferredAccount, None, Err(DeferredNotAllowed));
        let over = DeferredCheck {
            balance: eur(6000),
            ..karin
        };
        check(
            1,
            DeferredAccount,
            Some(&over),
            Err(DeferredOverMaximum { room: eur(0) }),
        );
        let huge = DeferredCheck {
            balance: eur(i64::MAX),
            max: eur(i64::MAX),
            allowed: true,
        };
        check(
            1,
            DeferredAccount,
            Some(&huge),
            Err(Money(MoneyError::Overflow)),
        );
        check(-1, Card, None, Err(Negative));
        assert_eq!(
            DeferredOverMaximum { room: eur(4000) }.to_string(),
            "the deferred account's maximum would be exceeded (room left: 40.00 EUR)"
        );
    }

    #[test]
    fn remainder_names() {
        for r in Remainder::ALL {
            assert_eq!(Remainder::parse(r.as_str()), Ok(*r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!(Remainder::parse("saved_card").is_err());
        assert!(Remainder::parse("nothing").is_err());
    }

    #[test]
    fn credit() {
        #[track_caller]
        fn check(requested: i64, available: i64, due: i64, expect: Result<i64, SettlementError>) {
            assert_eq!(
                credit_to_use(eur(requested), eur(available), eur(due)),
                expect.map(eur)
            );
        }
        // The seed: 10.00 of credit on 14.20 due.
        check(1000, 1000, 1420, Ok(1000));
        check(5000, 1000, 1420, Ok(1000));
        check(5000, 3000, 1420, Ok(1420));
        check(500, 3000, 1420, Ok(500));
        check(0, 3000, 1420, Ok(0));
        check(500, 0, 1420, Ok(0));
        check(500, -200, 1420, Ok(0));
        check(500, 3000, 0, Ok(0));
        check(-1, 3000, 1420, Err(SettlementError::NegativeRequest));
        assert!(matches!(
            credit_to_use(eur(1), m(1, USD), eur(1)),
            Err(SettlementError::Money(_))
        ));
    }

    #[test]
    fn commit_figures() {
        let a = applied(&[180], &[2000], 1000);
        assert_eq!(
            commit_amounts(eur(3600), &a, Remainder::DeferredAccount),
            Ok(CommitAmounts {
                discount_total: eur(180),
                held_total: eur(3000),
                deferred: eur(420),
                card: eur(0),
            })
        );
        assert_eq!(
            commit_amounts(eur(3600), &a, Remainder::Card).map(|c| c.card),
            Ok(eur(420))
        );
        assert_eq!(
            commit_amounts(eur(3600), &a, Remainder::Nothing),
            Err(SettlementError::RemainderNeedsMeans)
        );
        let all = applied(&[180], &[3420], 0);
        assert_eq!(
            commit_amounts(eur(3600), &all, Remainder::Card),
            Err(SettlementError::NothingToPay)
        );
        assert_eq!(
            commit_amounts(eur(3600), &all, Remainder::Nothing).map(|c| c.held_total),
            Ok(eur(3420))
        );
    }

    proptest! {
        /// Applying codes, vouchers and credit the way the checkout does never makes the amount
        /// due negative, and the commit figures add up to the total.
        #[test]
        fn checkout_sequence_adds_up(
            total in 0i64..=10_000_000,
            bps in prop::collection::vec(1u32..=10_000, 0..3),
            vouchers in prop::collection::vec(0i64..=5_000_000, 0..4),
            credit_requested in 0i64..=5_000_000,
            credit_available in 0i64..=5_000_000,
            card in any::<bool>(),
        ) {
            let total = eur(total);
            let discounts: Vec<crate::promo::Discount> = bps
                .iter()
                .map(|&basis_points| crate::promo::Discount::Percent { basis_points })
                .collect();
            let mut a = Applied::none(total);
            a.discounts = crate::promo::apply_discounts(total, &discounts).unwrap();
            for balance in vouchers {
                let due = amount_due(total, &a).unwrap();
                a.voucher_holds
                    .push(crate::voucher::redemption_amount(eur(balance), due).unwrap());
            }
            let before_credit = amount_due_before_credit(total, &a).unwrap();
            a.credit_hold =
                credit_to_use(eur(credit_requested), eur(credit_available), before_credit).unwrap();
            let due = amount_due(total, &a).unwrap();
            prop_assert!(!due.is_negative());
            let requested = if due.is_zero() {
                Remainder::Nothing
            } else if card {
                Remainder::Card
            } else {
                Remainder::DeferredAccount
            };
            let deferred = DeferredCheck { allowed: true, balance: eur(0), max: due };
            let remainder = choose_remainder(due, requested, Some(&deferred)).unwrap();
            let c = commit_amounts(total, &a, remainder).unwrap();
            let sum = Money::sum(EUR, [c.discount_total, c.held_total, c.deferred, c.card]).unwrap();
            prop_assert_eq!(sum, total);
        }

        #[test]
        fn deferred_never_passes_the_maximum(
            balance in 0i64..=1_000_000,
            max in 0i64..=1_000_000,
            due in 1i64..=1_000_000,
        ) {
            let check = DeferredCheck { allowed: true, balance: eur(balance), max: eur(max) };
            let result = choose_remainder(eur(due), Remainder::DeferredAccount, Some(&check));
            prop_assert_eq!(result.is_ok(), balance + due <= max);
        }
    }
}

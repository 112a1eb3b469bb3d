//! Refund limits (SPEC F12): which leg of a paid order a refund is taken from, and never more
//! than that leg collected less what it already gave back.

use crate::money::{Money, MoneyError};
use uuid::Uuid;

/// How a leg collected its money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegMeans {
    Card,
    Voucher,
    CreditBalance,
    DeferredAccount,
}

/// Where the refunded money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Back to the card through the provider (only from a card leg).
    Card,
    /// To the contact's credit balance (from any leg).
    CreditBalance,
}

/// A committed leg as the refund rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegRoom {
    pub id: Uuid,
    pub means: LegMeans,
    pub collected: Money,
    /// Refunds taken from this leg so far, including those still pending at the provider.
    pub refunded: Money,
}

impl LegRoom {
    /// What this leg can still give back.
    pub fn room(&self) -> Result<Money, MoneyError> {
        self.collected.checked_sub(self.refunded)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("the refund amount must be positive")]
    NotPositive,
    #[error("the refund must be in the order's currency")]
    Currency,
    #[error("the order has no leg to refund")]
    NoLeg,
    #[error("this leg is not part of the order")]
    UnknownLeg,
    #[error("only a card leg can be refunded to the card")]
    NotACardLeg,
    #[error("the order was not paid by card")]
    NoCardLeg,
    #[error("the refund exceeds what the leg collected less earlier refunds ({room} left)")]
    ExceedsLeg { room: Money },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The leg a refund of `amount` to `destination` is taken from.
///
/// With `leg` given, that leg (a card leg for a card refund). Otherwise: a card refund takes
/// the card leg; a credit-balance refund takes the card leg first when it has the room, then
/// the first other leg with the room (the "card first" rule). The chosen leg must have at least
/// `amount` left: a refund never exceeds what its leg collected.
pub fn choose_leg(
    legs: &[LegRoom],
    destination: Destination,
    leg: Option<Uuid>,
    amount: Money,
) -> Result<Uuid, RefundError> {
    if !amount.is_positive() {
        return Err(RefundError::NotPositive);
    }
    if legs
        .iter()
        .any(|l| l.collected.currency() != amount.currency())
    {
        return Err(RefundError::Currency);
    }
    if legs.is_empty() {
        return Err(RefundError::NoLeg);
    }
    let fits = |l: &LegRoom| -> Result<bool, RefundError> {
        Ok(l.room()?.amount_minor() >= amount.amount_minor())
    };
    let chosen = match (leg, destination) {
        (Some(id), _) => {
            let l = legs
                .iter()
                .find(|l| l.id == id)
                .ok_or(RefundError::UnknownLeg)?;
            if destination == Destination::Card && l.means != LegMeans::Card {
                return Err(RefundError::NotACardLeg);
            }
            l
        }
        (None, Destination::Card) => {
            let cards: Vec<&LegRoom> = legs.iter().filter(|l| l.means == LegMeans::Card).collect();
            match cards.as_slice() {
                [] => return Err(RefundError::NoCardLeg),
                [only] => only,
                many => {
                    // Several card legs (installments): the first with the room.
                    let mut found = None;
                    for l in many {
                        if fits(l)? {
                            found = Some(*l);
                            break;
                        }
                    }
                    found.unwrap_or(many[0])
                }
            }
        }
        (None, Destination::CreditBalance) => {
            let mut ordered: Vec<&LegRoom> =
                legs.iter().filter(|l| l.means == LegMeans::Card).collect();
            ordered.extend(legs.iter().filter(|l| l.means != LegMeans::Card));
            let mut found = None;
            for l in &ordered {
                if fits(l)? {
                    found = Some(*l);
                    break;
                }
            }
            // None fits: report the largest room left, so the caller can split the refund.
            match found {
                Some(l) => l,
                None => {
                    let mut best = ordered[0];
                    for l in &ordered {
                        if l.room()?.amount_minor() > best.room()?.amount_minor() {
                            best = l;
                        }
                    }
                    best
                }
            }
        }
    };
    if !fits(chosen)? {
        return Err(RefundError::ExceedsLeg {
            room: chosen.room()?,
        });
    }
    Ok(chosen.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    fn eur(m: i64) -> Money {
        Money::new(m, Currency::EUR)
    }

    fn leg(means: LegMeans, collected: i64, refunded: i64) -> LegRoom {
        LegRoom {
            id: Uuid::now_v7(),
            means,
            collected: eur(collected),
            refunded: eur(refunded),
        }
    }

    #[test]
    fn card_refunds_come_from_the_card_leg_within_its_room() {
        let v = leg(LegMeans::Voucher, 2000, 0);
        let c = leg(LegMeans::Card, 3000, 1000);
        let legs = [v, c];
        assert_eq!(
            choose_leg(&legs, Destination::Card, None, eur(2000)),
            Ok(c.id)
        );
        assert_eq!(
            choose_leg(&legs, Destination::Card, None, eur(2001)),
            Err(RefundError::ExceedsLeg { room: eur(2000) })
        );
        assert_eq!(
            choose_leg(&legs, Destination::Card, Some(v.id), eur(1)),
            Err(RefundError::NotACardLeg)
        );
        assert_eq!(
            choose_leg(&[v], Destination::Card, None, eur(1)),
            Err(RefundError::NoCardLeg)
        );
        assert_eq!(
            choose_leg(&legs, Destination::Card, Some(Uuid::now_v7()), eur(1)),
            Err(RefundError::UnknownLeg)
        );
        assert_eq!(
            choose_leg(&legs, Destination::Card, None, eur(0)),
            Err(RefundError::NotPositive)
        );
        assert_eq!(
            choose_leg(&legs, Destination::Card, None, Money::new(5, Currency::CHF)),
            Err(RefundError::Currency)
        );
    }

    #[test]
    fn credit_balance_refunds_take_the_card_first_then_other_legs() {
        let v = leg(LegMeans::Voucher, 2000, 0);
        let c = leg(LegMeans::Card, 1000, 0);
        let legs = [v, c];
        assert_eq!(
            choose_leg(&legs, Destination::CreditBalance, None, eur(1000)),
            Ok(c.id)
        );
        assert_eq!(
            choose_leg(&legs, Destination::CreditBalance, None, eur(1500)),
            Ok(v.id)
        );
        assert_eq!(
            choose_leg(&legs, Destination::CreditBalance, None, eur(2500)),
            Err(RefundError::ExceedsLeg { room: eur(2000) })
        );
        assert_eq!(
            choose_leg(&legs, Destination::CreditBalance, Some(v.id), eur(2000)),
            Ok(v.id)
        );
    }

    proptest! {
        /// Whatever is asked, a chosen leg always has the room for the amount.
        #[test]
        fn never_more_than_the_leg_collected(
            rooms in proptest::collection::vec((0usize..4, 1i64..10_000, 0i64..10_000), 1..5),
            amount in 1i64..20_000,
            to_card in any::<bool>(),
        ) {
            let means = [LegMeans::Card, LegMeans::Voucher, LegMeans::CreditBalance, LegMeans::DeferredAccount];
            let legs: Vec<LegRoom> = rooms.iter().map(|&(m, c, r)| leg(means[m], c, r.min(c))).collect();
            let dest = if to_card { Destination::Card } else { Destination::CreditBalance };
            if let Ok(id) = choose_leg(&legs, dest, None, eur(amount)) {
                let l = legs.iter().find(|l| l.id == id).unwrap();
                prop_assert!(l.room().unwrap().amount_minor() >= amount);
                if to_card { prop_assert_eq!(l.means, LegMeans::Card); }
            }
        }
    }
}

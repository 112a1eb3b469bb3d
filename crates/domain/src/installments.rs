//! Payment in installments (SPEC F10): a point of sale may let the buyer pay a card order in
//! 2 to 12 parts, the first charged at checkout and the others on later due dates.
//!
//! Rules kept here:
//! - a plan ([`InstallmentPlan`]) says how many parts, how the total is split (equally or by
//!   whole percentages), how far apart the due dates are (monthly or every N days), the smallest
//!   order total it is offered for, and whether every due date must fall before the basket's
//!   first event ([`PlanMode::Restrictive`]);
//! - the parts add up exactly to the total: they are split by the largest-remainder method over
//!   integer minor units ([`Money::allocate`]), so each part is its exact share rounded down or
//!   one minor unit more, and no part is zero;
//! - the due dates only go forward: a monthly plan keeps the day of the month of the first due
//!   date, or takes the last day of the month when that day does not exist in it.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime};

use crate::money::{Currency, Money, MoneyError};

/// The fewest installments a plan may have.
pub const MIN_COUNT: u8 = 2;
/// The most installments a plan may have.
pub const MAX_COUNT: u8 = 12;
/// The longest interval, in days, between two due dates of an [`Interval::Days`] plan.
pub const MAX_INTERVAL_DAYS: u16 = 365;

/// How the total is shared between the installments.
///
/// Serialized as `"equal"` or `{"percentages": [50, 25, 25]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Every installment's exact share is total / count.
    Equal,
    /// One whole percentage per installment, in order: each at least 1, together exactly 100,
    /// as many as the plan's `count`. Installment *i*'s exact share is total × pᵢ / 100.
    ///
    /// Whole percentages rather than basis points: a back office sets splits like 50/25/25 or
    /// 40/30/30, and the rounding to the minor unit is done by the largest-remainder method
    /// anyway, so finer ratios would buy nothing.
    Percentages(Vec<u32>),
}

/// How far apart the due dates are.
///
/// Serialized as `"monthly"` or `{"days": 30}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// The same day of each following month; in a month without that day (the 31st in April,
    /// the 29th to 31st in February), its last day. The day is always the first due date's:
    /// 31 January, 28 February, 31 March — not 28 March.
    Monthly,
    /// Every `n` days, `n` in `1..=`[`MAX_INTERVAL_DAYS`].
    Days(u16),
}

impl Interval {
    /// The due date of the installment at 0-based `index` when the first is due on
    /// `first_due` (index 0 is `first_due` itself). `None` when the date is outside what
    /// [`Date`] can hold (after year 9999).
    ///
    /// The result is only meaningful for a valid interval: `Days(0)` gives `first_due` for every
    /// index.
    pub fn due_date(self, first_due: Date, index: u8) -> Option<Date> {
        match self {
            Interval::Days(days) => {
                first_due.checked_add(Duration::days(i64::from(days) * i64::from(index)))
            }
            Interval::Monthly => {
                // Months counted from year 0, so that adding crosses years without a special case.
                let months = i64::from(first_due.year()) * 12
                    + i64::from(u8::from(first_due.month()) - 1)
                    + i64::from(index);
                let year = i32::try_from(months.div_euclid(12)).ok()?;
                let month = u8::try_from(months.rem_euclid(12) + 1).ok()?;
                let month = Month::try_from(month).ok()?;
                let day = first_due.day().min(month.length(year));
                Date::from_calendar_date(year, month, day).ok()
            }
        }
    }
}

/// Whether the due dates must fall before the basket's first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Offered only when every due date is on or before the date the earliest event of the
    /// basket starts: the buyer has paid in full by the time of the show.
    Restrictive,
    /// Offered whatever the event dates.
    Free,
}

/// A point of sale's installment plan.
///
/// The plan's currency is the currency of `min_amount`: the plan is only offered for totals in
/// that currency. Build it from configuration, then [`InstallmentPlan::validate`] it; [`schedule`]
/// and [`eligibility`] validate it again, so a plan read back from storage cannot slip through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstallmentPlan {
    /// Number of installments, [`MIN_COUNT`]`..=`[`MAX_COUNT`].
    pub count: u8,
    pub split: Split,
    pub interval: Interval,
    /// The smallest order total the plan is offered for (bound included); zero for no minimum,
    /// never negative.
    pub min_amount: Money,
    pub mode: PlanMode,
}

/// Why a plan's configuration was refused. Installment numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the number of installments must be between {MIN_COUNT} and {MAX_COUNT} (got {count})")]
    CountOutOfRange { count: u8 },
    #[error("the split needs one percentage per installment ({expected}, got {got})")]
    WrongPercentageCount { expected: u8, got: usize },
    #[error("installment {number}: a percentage must be at least 1")]
    ZeroPercentage { number: u8 },
    #[error("the percentages must add up to exactly 100 (they add up to {sum})")]
    PercentagesSum { sum: u64 },
    #[error("the interval must be between 1 and {MAX_INTERVAL_DAYS} days (got {days})")]
    DaysOutOfRange { days: u16 },
    #[error("the minimum amount cannot be negative")]
    NegativeMinAmount,
}

impl InstallmentPlan {
    /// Checks the configuration: the count is in [`MIN_COUNT`]`..=`[`MAX_COUNT`]; a percentage
    /// split has exactly `count` entries, each at least 1, adding up to exactly 100; a day
    /// interval is in `1..=`[`MAX_INTERVAL_DAYS`]; the minimum amount is not negative. The first
    /// problem found, in that order, is reported.
    pub fn validate(&self) -> Result<(), PlanError> {
        if !(MIN_COUNT..=MAX_COUNT).contains(&self.count) {
            return Err(PlanError::CountOutOfRange { count: self.count });
        }
        if let Split::Percentages(percentages) = &self.split {
            if percentages.len() != usize::from(self.count) {
                return Err(PlanError::WrongPercentageCount {
                    expected: self.count,
                    got: percentages.len(),
                });
            }
            if let Some(index) = percentages.iter().position(|&p| p == 0) {
                // index < count <= 12, so it fits a u8.
                let number = u8::try_from(index + 1).unwrap_or(u8::MAX);
                return Err(PlanError::ZeroPercentage { number });
            }
            // At most 12 u32 values: no overflow in u64.
            let sum: u64 = percentages.iter().map(|&p| u64::from(p)).sum();
            if sum != 100 {
                return Err(PlanError::PercentagesSum { sum });
            }
        }
        if let Interval::Days(days) = self.interval
            && !(1..=MAX_INTERVAL_DAYS).contains(&days)
        {
            return Err(PlanError::DaysOutOfRange { days });
        }
        if self.min_amount.is_negative() {
            return Err(PlanError::NegativeMinAmount);
        }
        Ok(())
    }

    /// The currency the plan is offered in: that of its minimum amount.
    pub fn currency(&self) -> Currency {
        self.min_amount.currency()
    }

    /// One ratio per installment for [`Money::allocate`]. Assumes a valid plan.
    fn ratios(&self) -> Vec<u64> {
        match &self.split {
            Split::Equal => vec![1; usize::from(self.count)],
            Split::Percentages(percentages) => percentages.iter().map(|&p| u64::from(p)).collect(),
        }
    }
}

/// One part of the total and when it is charged.
///
/// Serialized as `{"number": 1, "due": "2026-03-15", "amount": {"amount_minor": 3334,
/// "currency": "EUR"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Installment {
    /// 1-based: installment 1 is charged at checkout.
    pub number: u8,
    #[serde(with = "iso_date")]
    pub due: Date,
    pub amount: Money,
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Why a schedule could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid installment plan: {0}")]
    InvalidPlan(#[from] PlanError),
    #[error("the total to pay in installments must be positive")]
    NotPositive,
    #[error(
        "the total is too small to give each of the {count} installments at least one minor unit"
    )]
    TooSmall { count: u8 },
    #[error("a due date would be after the last date the calendar supports")]
    DateOutOfRange,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl ScheduleError {
    /// A stable snake_case code, to record or return: `"too_small"`.
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleError::InvalidPlan(_) => "invalid_plan",
            ScheduleError::NotPositive => "amount_not_positive",
            ScheduleError::TooSmall { .. } => "too_small",
            ScheduleError::DateOutOfRange => "date_out_of_range",
            ScheduleError::Money(_) => "amount_out_of_range",
        }
    }
}

/// The installments of `total` under `plan`, the first due on `first_due` (the day of purchase:
/// it is charged at checkout), the next ones following the plan's [`Interval`].
///
/// Amounts are in `total`'s currency (matching it with the plan's currency is
/// [`eligibility`]'s job) and are split by the largest-remainder method: each exact share
/// (total / count, or total × pᵢ / 100) is rounded down to the minor unit, then the minor units
/// left over go one each to the installments with the largest fractional remainders, the
/// earliest installment first on a tie. They add up exactly to `total`: 100.00 EUR in 3 equal
/// installments is 33.34 + 33.33 + 33.33. The arithmetic is exact over the whole `i64` range.
///
/// Errors: the plan is invalid; `total` is not positive; an installment would be zero
/// ([`ScheduleError::TooSmall`]: every installment is at least one minor unit, so an equal split
/// needs a total of at least `count` minor units); a due date is past year 9999.
pub fn schedule(
    plan: &InstallmentPlan,
    total: Money,
    first_due: Date,
) -> Result<Vec<Installment>, ScheduleError> {
    plan.validate()?;
    if !total.is_positive() {
        return Err(ScheduleError::NotPositive);
    }
    let amounts = total.allocate(&plan.ratios())?;
    if amounts.iter().any(|a| !a.is_positive()) {
        return Err(ScheduleError::TooSmall { count: plan.count });
    }
    amounts
        .into_iter()
        .zip(1..=plan.count)
        .map(|(amount, number)| {
            let due = plan
                .interval
                .due_date(first_due, number - 1)
                .ok_or(ScheduleError::DateOutOfRange)?;
            Ok(Installment {
                number,
                due,
                amount,
            })
        })
        .collect()
}

/// Why installments are not offered for an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOffered {
    #[error("the plan is in {plan}, the order in {total}")]
    CurrencyMismatch { plan: Currency, total: Currency },
    #[error("installments start at {minimum}")]
    BelowMinimum { minimum: Money },
    #[error("installment {number} would be due on {due}, after the first event on {event_date}")]
    DueAfterEvent {
        number: u8,
        due: Date,
        event_date: Date,
    },
    #[error(transparent)]
    Schedule(ScheduleError),
}

impl NotOffered {
    /// A stable snake_case code, to record with the order or return to the checkout page:
    /// `"below_minimum"`, `"currency_mismatch"`, `"due_after_event"`, or the
    /// [`ScheduleError::code`] of a schedule that could not be computed.
    pub fn code(&self) -> &'static str {
        match self {
            NotOffered::CurrencyMismatch { .. } => "currency_mismatch",
            NotOffered::BelowMinimum { .. } => "below_minimum",
            NotOffered::DueAfterEvent { .. } => "due_after_event",
            NotOffered::Schedule(e) => e.code(),
        }
    }
}

/// Whether an order may be paid in installments, with the schedule when it may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    Offered(Vec<Installment>),
    NotOffered(NotOffered),
}

impl Eligibility {
    pub fn is_offered(&self) -> bool {
        matches!(self, Eligibility::Offered(_))
    }

    /// The schedule, when offered.
    pub fn schedule(&self) -> Option<&[Installment]> {
        match self {
            Eligibility::Offered(installments) => Some(installments),
            Eligibility::NotOffered(_) => None,
        }
    }
}

/// Whether `plan` is offered for an order of `total` bought on `today`, whose earliest event
/// starts at `earliest_event` (`None` when the basket has no event, see
/// [`crate::order::first_event_start`]).
///
/// Checked in this order, the first failure being the reason:
/// 1. the plan is valid ([`NotOffered::Schedule`] with [`ScheduleError::InvalidPlan`]);
/// 2. `total` is in the plan's currency ([`InstallmentPlan::currency`]);
/// 3. `total` is at least the plan's minimum amount (a total equal to it is offered);
/// 4. the schedule can be computed, first installment due `today` (see [`schedule`]);
/// 5. for a [`PlanMode::Restrictive`] plan, every due date is on or before the event's date.
///    Dates are compared, not instants: the event's date is the calendar date of its start in
///    the offset it carries (the venue's, as the shop sent it), so an installment due on the day
///    of the show is fine. A restrictive plan with no event date is offered: there is nothing to
///    restrict. An event that already started before `today` refuses every restrictive plan.
pub fn eligibility(
    plan: &InstallmentPlan,
    total: Money,
    today: Date,
    earliest_event: Option<OffsetDateTime>,
) -> Eligibility {
    match check(plan, total, today, earliest_event) {
        Ok(installments) => Eligibility::Offered(installments),
        Err(reason) => Eligibility::NotOffered(reason),
    }
}

fn check(
    plan: &InstallmentPlan,
    total: Money,
    today: Date,
    earliest_event: Option<OffsetDateTime>,
) -> Result<Vec<Installment>, NotOffered> {
    plan.validate()
        .map_err(|e| NotOffered::Schedule(ScheduleError::InvalidPlan(e)))?;
    if total.currency() != plan.currency() {
        return Err(NotOffered::CurrencyMismatch {
            plan: plan.currency(),
            total: total.currency(),
        });
    }
    if total.amount_minor() < plan.min_amount.amount_minor() {
        return Err(NotOffered::BelowMinimum {
            minimum: plan.min_amount,
        });
    }
    let installments = schedule(plan, total, today).map_err(NotOffered::Schedule)?;
    if let (PlanMode::Restrictive, Some(start)) = (plan.mode, earliest_event) {
        let event_date = start.date();
        if let Some(late) = installments.iter().find(|i| i.due > event_date) {
            return Err(NotOffered::DueAfterEvent {
                number: late.number,
                due: late.due,
                event_date,
            });
        }
    }
    Ok(installments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency::{EUR, JPY};
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    const TODAY: Date = date!(2026 - 03 - 15);

    fn eur(minor: i64) -> Money {
        Money::new(minor, EUR)
    }

    fn plan(count: u8, split: Split, interval: Interval, mode: PlanMode) -> InstallmentPlan {
        InstallmentPlan {
            count,
            split,
            interval,
            min_amount: eur(5000),
            mode,
        }
    }

    fn three_monthly(mode: PlanMode) -> InstallmentPlan {
        plan(3, Split::Equal, Interval::Monthly, mode)
    }

    fn amounts(installments: &[Installment]) -> Vec<i64> {
        installments
            .iter()
            .map(|i| i.amount.amount_minor())
            .collect()
    }

    fn dues(installments: &[Installment]) -> Vec<Date> {
        installments.iter().map(|i| i.due).collect()
    }

    // ---- validate -------------------------------------------------------------------------

    #[test]
    fn valid_plans() {
        for count in MIN_COUNT..=MAX_COUNT {
            let p = plan(count, Split::Equal, Interval::Monthly, PlanMode::Free);
            assert_eq!(p.validate(), Ok(()), "{count}");
        }
        let p = plan(
            3,
            Split::Percentages(vec![50, 25, 25]),
            Interval::Days(1),
            PlanMode::Restrictive,
        );
        assert_eq!(p.validate(), Ok(()));
        let p = InstallmentPlan {
            interval: Interval::Days(MAX_INTERVAL_DAYS),
            min_amount: eur(0),
            ..p
        };
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn invalid_plans() {
        let base = plan(3, Split::Equal, Interval::Monthly, PlanMode::Free);
        let with = |f: fn(&mut InstallmentPlan)| {
            let mut p = base.clone();
            f(&mut p);
            p.validate()
        };
        assert_eq!(
            with(|p| p.count = 1),
            Err(PlanError::CountOutOfRange { count: 1 })
        );
        assert_eq!(
            with(|p| p.count = 0),
            Err(PlanError::CountOutOfRange { count: 0 })
        );
        assert_eq!(
            with(|p| p.count = 13),
            Err(PlanError::CountOutOfRange { count: 13 })
        );
        assert_eq!(
            with(|p| p.split = Split::Percentages(vec![50, 50])),
            Err(PlanError::WrongPercentageCount {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            with(|p| p.split = Split::Percentages(vec![50, 0, 50])),
            Err(PlanError::ZeroPercentage { number: 2 })
        );
        assert_eq!(
            with(|p| p.split = Split::Percentages(vec![50, 25, 24])),
            Err(PlanError::PercentagesSum { sum: 99 })
        );
        assert_eq!(
            with(|p| p.split = Split::Percentages(vec![50, 25, 26])),
            Err(PlanError::PercentagesSum { sum: 101 })
        );
        // Would wrap to 100 in u32.
        assert_eq!(
            with(|p| p.split = Split::Percentages(vec![u32::MAX, 1, 100])),
            Err(PlanError::PercentagesSum {
                sum: u64::from(u32::MAX) + 101
            })
        );
        assert_eq!(
            with(|p| p.interval = Interval::Days(0)),
            Err(PlanError::DaysOutOfRange { days: 0 })
        );
        assert_eq!(
            with(|p| p.interval = Interval::Days(366)),
            Err(PlanError::DaysOutOfRange { days: 366 })
        );
        assert_eq!(
            with(|p| p.min_amount = eur(-1)),
            Err(PlanError::NegativeMinAmount)
        );
        assert_eq!(
            PlanError::PercentagesSum { sum: 99 }.to_string(),
            "the percentages must add up to exactly 100 (they add up to 99)"
        );
        assert_eq!(
            PlanError::CountOutOfRange { count: 13 }.to_string(),
            "the number of installments must be between 2 and 12 (got 13)"
        );
    }

    // ---- schedule: amounts ----------------------------------------------------------------

    /// Pinned by the acceptance: 100.00 EUR in 3 is 33.34, 33.33, 33.33.
    #[test]
    fn equal_split_of_100_eur_in_3() {
        let p = three_monthly(PlanMode::Free);
        let s = schedule(&p, eur(10_000), TODAY).unwrap();
        assert_eq!(amounts(&s), [3334, 3333, 3333]);
        assert_eq!(s.iter().map(|i| i.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(s.iter().all(|i| i.amount.currency() == EUR));
    }

    #[test]
    fn percentage_split_gives_leftovers_to_the_largest_remainders() {
        let p = plan(
            3,
            Split::Percentages(vec![50, 25, 25]),
            Interval::Monthly,
            PlanMode::Free,
        );
        // 500.5, 250.25, 250.25 → the half goes to the first.
        assert_eq!(
            amounts(&schedule(&p, eur(1001), TODAY).unwrap()),
            [501, 250, 250]
        );
        // 501, 250.5, 250.5 → a tie: the earlier installment takes the unit.
        assert_eq!(
            amounts(&schedule(&p, eur(1002), TODAY).unwrap()),
            [501, 251, 250]
        );
        // 1.5, 0.75, 0.75 → the two largest remainders are the last two.
        assert_eq!(amounts(&schedule(&p, eur(3), TODAY).unwrap()), [1, 1, 1]);

        let p = InstallmentPlan {
            split: Split::Percentages(vec![33, 33, 34]),
            ..p
        };
        // 330.33, 330.33, 340.34 → the largest remainder is the last.
        assert_eq!(
            amounts(&schedule(&p, eur(1001), TODAY).unwrap()),
            [330, 330, 341]
        );
    }

    #[test]
    fn amounts_are_in_minor_units_whatever_the_currency() {
        let p = three_monthly(PlanMode::Free);
        let s = schedule(&p, Money::new(1000, JPY), TODAY).unwrap();
        assert_eq!(amounts(&s), [334, 333, 333]);
        assert!(s.iter().all(|i| i.amount.currency() == JPY));
    }

    #[test]
    fn large_totals_do_not_overflow() {
        let p = plan(
            12,
            Split::Percentages(vec![1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]),
            Interval::Days(30),
            PlanMode::Free,
        );
        for total in [1_000_000_000_000, i64::MAX] {
            let s = schedule(&p, eur(total), TODAY).unwrap();
            let sum: i128 = s.iter().map(|i| i128::from(i.amount.amount_minor())).sum();
            assert_eq!(sum, i128::from(total));
        }
        let s = schedule(&p, eur(1_000_000_000_000), TODAY).unwrap();
        assert_eq!(s[0].amount, eur(10_000_000_000));
        assert_eq!(s[1].amount, eur(90_000_000_000));
    }

    #[test]
    fn schedule_errors() {
        let p = three_monthly(PlanMode::Free);
        assert_eq!(schedule(&p, eur(0), TODAY), Err(ScheduleError::NotPositive));
        assert_eq!(
            schedule(&p, eur(-3000), TODAY),
            Err(ScheduleError::NotPositive)
        );
        // An equal split needs at least one minor unit per installment.
        assert_eq!(
            schedule(&p, eur(2), TODAY),
            Err(ScheduleError::TooSmall { count: 3 })
        );
        assert_eq!(amounts(&schedule(&p, eur(3), TODAY).unwrap()), [1, 1, 1]);
        let twelve = plan(12, Split::Equal, Interval::Days(7), PlanMode::Free);
        assert_eq!(
            schedule(&twelve, eur(11), TODAY),
            Err(ScheduleError::TooSmall { count: 12 })
        );
        assert!(schedule(&twelve, eur(12), TODAY).is_ok());
        // 2.94, 0.03, 0.03 → 3, 0, 0: a part would be zero.
        let uneven = plan(
            3,
            Split::Percentages(vec![98, 1, 1]),
            Interval::Monthly,
            PlanMode::Free,
        );
        assert_eq!(
            schedule(&uneven, eur(3), TODAY),
            Err(ScheduleError::TooSmall { count: 3 })
        );
        assert_eq!(
            amounts(&schedule(&uneven, eur(100), TODAY).unwrap()),
            [98, 1, 1]
        );
        // The plan is validated first.
        let bad = plan(3, Split::Equal, Interval::Days(0), PlanMode::Free);
        assert_eq!(
            schedule(&bad, eur(10_000), TODAY),
            Err(ScheduleError::InvalidPlan(PlanError::DaysOutOfRange {
                days: 0
            }))
        );
        // Past year 9999.
        assert_eq!(
            schedule(&p, eur(10_000), date!(9999 - 11 - 30)),
            Err(ScheduleError::DateOutOfRange)
        );
        assert!(schedule(&p, eur(10_000), date!(9999 - 10 - 31)).is_ok());
        assert_eq!(ScheduleError::TooSmall { count: 3 }.code(), "too_small");
    }

    // ---- schedule: due dates ----------------------------------------------------------------

    #[test]
    fn monthly_keeps_the_day_or_takes_the_last_day_of_the_month() {
        let p = plan(5, Split::Equal, Interval::Monthly, PlanMode::Free);
        assert_eq!(
            dues(&schedule(&p, eur(10_000), date!(2026 - 01 - 31)).unwrap()),
            [
                date!(2026 - 01 - 31),
                date!(2026 - 02 - 28),
                date!(2026 - 03 - 31),
                date!(2026 - 04 - 30),
                date!(2026 - 05 - 31),
            ]
        );
        // Leap year.
        assert_eq!(
            dues(&schedule(&p, eur(10_000), date!(2028 - 01 - 30)).unwrap())[1],
            date!(2028 - 02 - 29)
        );
        // Across the end of the year.
        assert_eq!(
            dues(&schedule(&p, eur(10_000), date!(2026 - 11 - 15)).unwrap()),
            [
                date!(2026 - 11 - 15),
                date!(2026 - 12 - 15),
                date!(2027 - 01 - 15),
                date!(2027 - 02 - 15),
                date!(2027 - 03 - 15),
            ]
        );
        let twelve = plan(12, Split::Equal, Interval::Monthly, PlanMode::Free);
        let s = schedule(&twelve, eur(10_000), date!(2026 - 03 - 15)).unwrap();
        assert_eq!(s[11].due, date!(2027 - 02 - 15));
    }

    #[test]
    fn day_intervals() {
        let p = plan(3, Split::Equal, Interval::Days(30), PlanMode::Free);
        assert_eq!(
            dues(&schedule(&p, eur(10_000), TODAY).unwrap()),
            [
                date!(2026 - 03 - 15),
                date!(2026 - 04 - 14),
                date!(2026 - 05 - 14)
            ]
        );
        let p = plan(2, Split::Equal, Interval::Days(1), PlanMode::Free);
        assert_eq!(
            dues(&schedule(&p, eur(10_000), date!(2026 - 12 - 31)).unwrap()),
            [date!(2026 - 12 - 31), date!(2027 - 01 - 01)]
        );
    }

    #[test]
    fn serde_shapes() {
        let p = plan(
            3,
            Split::Percentages(vec![50, 25, 25]),
            Interval::Days(30),
            PlanMode::Restrictive,
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "count": 3,
                "split": {"percentages": [50, 25, 25]},
                "interval": {"days": 30},
                "min_amount": {"amount_minor": 5000, "currency": "EUR"},
                "mode": "restrictive",
            })
        );
        assert_eq!(serde_json::from_value::<InstallmentPlan>(json).unwrap(), p);
        let p = three_monthly(PlanMode::Free);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["split"], "equal");
        assert_eq!(json["interval"], "monthly");
        assert_eq!(json["mode"], "free");

        let first = schedule(&p, eur(10_000), TODAY).unwrap()[0];
        let json = serde_json::to_value(first).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "number": 1,
                "due": "2026-03-15",
                "amount": {"amount_minor": 3334, "currency": "EUR"},
            })
        );
        assert_eq!(serde_json::from_value::<Installment>(json).unwrap(), first);
    }

    // ---- eligibility ------------------------------------------------------------------------

    /// Pinned by the acceptance.
    #[test]
    fn below_the_minimum_is_not_offered() {
        let p = three_monthly(PlanMode::Free);
        assert_eq!(
            eligibility(&p, eur(4999), TODAY, None),
            Eligibility::NotOffered(NotOffered::BelowMinimum { minimum: eur(5000) })
        );
        // The bound is included.
        assert!(eligibility(&p, eur(5000), TODAY, None).is_offered());
    }

    /// Pinned by the acceptance: the third monthly installment would fall after the event.
    #[test]
    fn restrictive_with_an_event_in_20_days_is_not_offered() {
        let event = datetime!(2026-03-15 20:00 +01:00) + Duration::days(20);
        let eligibility = eligibility(
            &three_monthly(PlanMode::Restrictive),
            eur(10_000),
            TODAY,
            Some(event),
        );
        assert_eq!(
            eligibility,
            Eligibility::NotOffered(NotOffered::DueAfterEvent {
                number: 2,
                due: date!(2026 - 04 - 15),
                event_date: date!(2026 - 04 - 04),
            })
        );
        assert_eq!(eligibility.schedule(), None);
    }

    /// Pinned by the acceptance.
    #[test]
    fn free_with_an_event_in_20_days_is_offered() {
        let event = datetime!(2026-03-15 20:00 +01:00) + Duration::days(20);
        let p = three_monthly(PlanMode::Free);
        let eligibility = eligibility(&p, eur(10_000), TODAY, Some(event));
        assert!(eligibility.is_offered());
        assert_eq!(
            eligibility.schedule(),
            Some(schedule(&p, eur(10_000), TODAY).unwrap().as_slice())
        );
    }

    /// Pinned by the acceptance.
    #[test]
    fn restrictive_with_an_event_in_100_days_is_offered() {
        let event = datetime!(2026-03-15 20:00 +01:00) + Duration::days(100);
        let eligibility = eligibility(
            &three_monthly(PlanMode::Restrictive),
            eur(10_000),
            TODAY,
            Some(event),
        );
        let s = eligibility.schedule().unwrap();
        assert_eq!(amounts(s), [3334, 3333, 3333]);
        assert_eq!(s[2].due, date!(2026 - 05 - 15));
    }

    #[test]
    fn restrictive_compares_dates_in_the_event_offset() {
        let p = three_monthly(PlanMode::Restrictive);
        // The last installment due on the day of the show, even in its first minute: offered.
        let on_the_day = datetime!(2026-05-15 00:00 +02:00);
        assert!(eligibility(&p, eur(10_000), TODAY, Some(on_the_day)).is_offered());
        // The evening before, in the venue's time zone (already the 15th in UTC): refused.
        let day_before = datetime!(2026-05-14 23:59 -10:00);
        assert_eq!(
            eligibility(&p, eur(10_000), TODAY, Some(day_before)),
            Eligibility::NotOffered(NotOffered::DueAfterEvent {
                number: 3,
                due: date!(2026 - 05 - 15),
                event_date: date!(2026 - 05 - 14),
            })
        );
        // An event that has already taken place refuses every restrictive plan.
        let past = datetime!(2026-03-14 20:00 UTC);
        assert!(!eligibility(&p, eur(10_000), TODAY, Some(past)).is_offered());
    }

    #[test]
    fn restrictive_without_an_event_is_offered() {
        let p = three_monthly(PlanMode::Restrictive);
        assert!(eligibility(&p, eur(10_000), TODAY, None).is_offered());
    }

    #[test]
    fn other_reasons() {
        let p = three_monthly(PlanMode::Free);
        let not_offered = |e: Eligibility| match e {
            Eligibility::NotOffered(reason) => reason,
            Eligibility::Offered(s) => panic!("offered: {s:?}"),
        };

        let reason = not_offered(eligibility(&p, Money::new(10_000, JPY), TODAY, None));
        assert_eq!(
            reason,
            NotOffered::CurrencyMismatch {
                plan: EUR,
                total: JPY
            }
        );
        assert_eq!(reason.code(), "currency_mismatch");
        assert_eq!(reason.to_string(), "the plan is in EUR, the order in JPY");

        let free_from_zero = InstallmentPlan {
            min_amount: eur(0),
            ..p.clone()
        };
        let reason = not_offered(eligibility(&free_from_zero, eur(2), TODAY, None));
        assert_eq!(
            reason,
            NotOffered::Schedule(ScheduleError::TooSmall { count: 3 })
        );
        assert_eq!(reason.code(), "too_small");
        let reason = not_offered(eligibility(&free_from_zero, eur(0), TODAY, None));
        assert_eq!(reason.code(), "amount_not_positive");

        let invalid = InstallmentPlan { count: 13, ..p };
        let reason = not_offered(eligibility(&invalid, eur(10_000), TODAY, None));
        assert_eq!(
            reason,
            NotOffered::Schedule(ScheduleError::InvalidPlan(PlanError::CountOutOfRange {
                count: 13
            }))
        );
        assert_eq!(reason.code(), "invalid_plan");

        let reason = NotOffered::BelowMinimum { minimum: eur(5000) };
        assert_eq!(reason.code(), "below_minimum");
        assert_eq!(reason.to_string(), "installments start at 50.00 EUR");
        let reason = NotOffered::DueAfterEvent {
            number: 2,
            due: date!(2026 - 04 - 15),
            event_date: date!(2026 - 04 - 04),
        };
        assert_eq!(reason.code(), "due_after_event");
        assert_eq!(
            reason.to_string(),
            "installment 2 would be due on 2026-04-15, after the first event on 2026-04-04"
        );
    }

    // ---- properties -------------------------------------------------------------------------

    /// Totals from 3 to 10^9 minor units, with the bounds and small values drawn often.
    fn totals() -> impl Strategy<Value = i64> {
        prop_oneof![
            1 => Just(3i64),
            1 => Just(1_000_000_000i64),
            2 => 3i64..=1_000,
            6 => 3i64..=1_000_000_000,
        ]
    }

    /// First due dates from 1900 to 2200.
    fn first_dues() -> impl Strategy<Value = Date> {
        (date!(1900 - 01 - 01).to_julian_day()..=date!(2200 - 12 - 31).to_julian_day())
            .prop_map(|day| Date::from_julian_day(day).unwrap())
    }

    fn intervals() -> impl Strategy<Value = Interval> {
        prop_oneof![
            Just(Interval::Monthly),
            (1u16..=MAX_INTERVAL_DAYS).prop_map(Interval::Days),
        ]
    }

    /// Any valid percentage split: `count - 1` distinct cut points in 1..100.
    fn percentages() -> impl Strategy<Value = Vec<u32>> {
        (MIN_COUNT..=MAX_COUNT).prop_flat_map(|count| {
            proptest::sample::subsequence((1u32..100).collect::<Vec<_>>(), usize::from(count - 1))
                .prop_map(|cuts| {
                    let mut bounds = vec![0];
                    bounds.extend(cuts);
                    bounds.push(100);
                    bounds.windows(2).map(|w| w[1] - w[0]).collect()
                })
        })
    }

    /// The installments add up to `total`, each is at least 1 and within one minor unit of its
    /// exact share total × ratio / Σ ratios, they are numbered 1..=count, and the due dates follow
    /// the interval.
    fn check_schedule(
        plan: &InstallmentPlan,
        total: i64,
        first_due: Date,
        installments: &[Installment],
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(installments.len(), usize::from(plan.count));
        let ratios = plan.ratios();
        let ratio_sum: i128 = ratios.iter().map(|&r| i128::from(r)).sum();
        let mut sum = 0i128;
        for (index, (installment, &ratio)) in installments.iter().zip(&ratios).enumerate() {
            let amount = i128::from(installment.amount.amount_minor());
            prop_assert_eq!(usize::from(installment.number), index + 1);
            prop_assert_eq!(installment.amount.currency(), EUR);
            prop_assert!(amount >= 1);
            // |amount - total × ratio / Σ| < 1, multiplied through by Σ.
            let gap = (amount * ratio_sum - i128::from(total) * i128::from(ratio)).abs();
            prop_assert!(
                gap < ratio_sum,
                "installment {}: {} of {}",
                index + 1,
                amount,
                total
            );
            sum += amount;
        }
        prop_assert_eq!(sum, i128::from(total));

        prop_assert_eq!(installments[0].due, first_due);
        for pair in installments.windows(2) {
            prop_assert!(pair[0].due < pair[1].due);
        }
        match plan.interval {
            Interval::Days(days) => {
                for pair in installments.windows(2) {
                    prop_assert_eq!(pair[1].due - pair[0].due, Duration::days(i64::from(days)));
                }
            }
            Interval::Monthly => {
                for pair in installments.windows(2) {
                    let (previous, next) = (pair[0].due, pair[1].due);
                    prop_assert_eq!(next.month(), previous.month().next());
                }
                for installment in installments {
                    let due = installment.due;
                    let length = due.month().length(due.year());
                    prop_assert_eq!(due.day(), first_due.day().min(length));
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn equal_split_adds_up(
            count in MIN_COUNT..=MAX_COUNT,
            total in totals(),
            first_due in first_dues(),
            interval in intervals(),
        ) {
            let p = plan(count, Split::Equal, interval, PlanMode::Free);
            match schedule(&p, eur(total), first_due) {
                Ok(s) => check_schedule(&p, total, first_due, &s)?,
                Err(e) => {
                    // Only an equal split of fewer minor units than installments is too small.
                    prop_assert!(total < i64::from(count));
                    prop_assert_eq!(e, ScheduleError::TooSmall { count });
                }
            }
        }

        #[test]
        fn fifty_twenty_five_twenty_five_adds_up(
            total in totals(),
            first_due in first_dues(),
            interval in intervals(),
        ) {
            let p = plan(3, Split::Percentages(vec![50, 25, 25]), interval, PlanMode::Free);
            let s = schedule(&p, eur(total), first_due).unwrap();
            check_schedule(&p, total, first_due, &s)?;
        }

        #[test]
        fn any_percentage_split_adds_up_or_is_too_small(
            percentages in percentages(),
            total in totals(),
            first_due in first_dues(),
            interval in intervals(),
        ) {
            let count = u8::try_from(percentages.len()).unwrap();
            let p = plan(count, Split::Percentages(percentages), interval, PlanMode::Free);
            prop_assert_eq!(p.validate(), Ok(()));
            match schedule(&p, eur(total), first_due) {
                Ok(s) => check_schedule(&p, total, first_due, &s)?,
                // At most 100 minor units, a 1 % share is below one unit and may round to zero;
                // from 100 on every share is at least one unit.
                Err(e) => {
                    prop_assert!(total < 100);
                    prop_assert_eq!(e, ScheduleError::TooSmall { count });
                }
            }
        }

        /// Offered restrictive plans never have a due date after the event, refused ones do.
        #[test]
        fn restrictive_never_due_after_the_event(
            count in MIN_COUNT..=MAX_COUNT,
            interval in intervals(),
            event_in_days in -10i64..=800,
            total in totals(),
        ) {
            let p = plan(count, Split::Equal, interval, PlanMode::Restrictive);
            let event = datetime!(2026-03-15 20:00 +01:00) + Duration::days(event_in_days);
            let free = InstallmentPlan { mode: PlanMode::Free, ..p.clone() };
            match (eligibility(&p, eur(total), TODAY, Some(event)), eligibility(&free, eur(total), TODAY, Some(event))) {
                (Eligibility::Offered(s), Eligibility::Offered(free_s)) => {
                    prop_assert!(s.iter().all(|i| i.due <= event.date()));
                    prop_assert_eq!(s, free_s);
                }
                (Eligibility::NotOffered(NotOffered::DueAfterEvent { number, due, event_date }), Eligibility::Offered(free_s)) => {
                    prop_assert_eq!(event_date, event.date());
                    prop_assert!(due > event_date);
                    let late = &free_s[usize::from(number - 1)];
                    prop_assert_eq!(late.due, due);
                    prop_assert!(free_s[..usize::from(number - 1)].iter().all(|i| i.due <= event_date));
                }
                (Eligibility::NotOffered(a), Eligibility::NotOffered(b)) => {
                    prop_assert!(total < 5000);
                    prop_assert_eq!(a, b);
                }
                (restrictive, free) => prop_assert!(false, "{:?} / {:?}", restrictive, free),
            }
        }
    }
}

//! Orders as the shop sends them (SPEC F1): lines, delivery, and the order total.
//!
//! The total is computed here and nowhere else (DESIGN.md invariant 6): Σ quantity × unit amount
//! over the lines, plus the delivery fee, with checked arithmetic in one currency. Promo
//! discounts and the means of payment come later ([`crate::promo`], [`crate::settlement`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::Invalid;
use crate::money::{Currency, Money, MoneyError};

/// At most this many lines per order: a bound on the work one request can ask for.
pub const MAX_LINES: usize = 200;
/// At most this many units on one line.
pub const MAX_QUANTITY: u32 = 1000;

/// What an order line sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A ticket for an event at a date and time: needs an [`EventRef`].
    Ticket,
    /// A gift voucher product: needs the voucher product's id; paying the order issues vouchers.
    Voucher,
    /// A fee (booking fee, insurance…): neither event nor voucher product.
    Fee,
}

impl LineKind {
    pub const ALL: &'static [LineKind] = &[LineKind::Ticket, LineKind::Voucher, LineKind::Fee];

    /// The snake_case name, as serialized and stored: `"ticket"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Ticket => "ticket",
            LineKind::Voucher => "voucher",
            LineKind::Fee => "fee",
        }
    }

    /// The kind with exactly this snake_case name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        LineKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| Invalid("must be one of: ticket, voucher, fee".to_owned()))
    }
}

impl fmt::Display for LineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event a ticket is for, as the shop describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub id: String,
    pub name: String,
    /// With the offset of the venue's time zone, as the shop sent it.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub kind: LineKind,
    pub label: String,
    pub quantity: u32,
    pub unit_amount: Money,
    /// Set for tickets, absent otherwise.
    pub event: Option<EventRef>,
    /// Set for voucher lines, absent otherwise.
    pub voucher_product_id: Option<uuid::Uuid>,
}

/// How the order is delivered and what that costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// e.g. "electronic", "post", "box_office".
    pub mode: String,
    /// Human-readable delay, e.g. "immediate", "5 days".
    pub delay: String,
    pub fee: Money,
}

/// Why an order was refused. Line indexes are 0-based, as in the JSON array (`lines[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order needs at least one line")]
    NoLines,
    #[error("an order has at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("lines[{line}]: quantity must be between 1 and {MAX_QUANTITY}")]
    BadQuantity { line: usize },
    #[error("lines[{line}]: the unit amount must not be negative")]
    NegativeAmount { line: usize },
    #[error("every amount (lines and delivery fee) must be in the order's currency")]
    MixedCurrencies,
    #[error("lines[{line}]: a ticket line needs its event (id, name, starts_at)")]
    MissingEvent { line: usize },
    #[error("lines[{line}]: a voucher line needs its voucher product")]
    MissingVoucherProduct { line: usize },
    #[error("lines[{line}]: only ticket lines have an event")]
    UnexpectedEvent { line: usize },
    /// Added to the brief's list: a ticket or fee line naming a voucher product.
    #[error("lines[{line}]: only voucher lines have a voucher product")]
    UnexpectedVoucherProduct { line: usize },
    #[error("lines[{line}]: the label must not be empty")]
    EmptyLabel { line: usize },
    /// Added to the brief's list: the delivery fee is not a line.
    #[error("the delivery fee must not be negative")]
    NegativeDeliveryFee,
    #[error("order total: {0}")]
    Money(#[from] MoneyError),
}

impl OrderError {
    /// The 0-based index of the line at fault, when there is one.
    pub fn line(&self) -> Option<usize> {
        match *self {
            OrderError::BadQuantity { line }
            | OrderError::NegativeAmount { line }
            | OrderError::MissingEvent { line }
            | OrderError::MissingVoucherProduct { line }
            | OrderError::UnexpectedEvent { line }
            | OrderError::UnexpectedVoucherProduct { line }
            | OrderError::EmptyLabel { line } => Some(line),
            OrderError::NoLines
            | OrderError::TooManyLines
            | OrderError::MixedCurrencies
            | OrderError::NegativeDeliveryFee
            | OrderError::Money(_) => None,
        }
    }
}

/// Checks one line on its own; `index` is its 0-based position.
fn check_line(currency: Currency, index: usize, line: &OrderLine) -> Result<(), OrderError> {
    if line.label.trim().is_empty() {
        return Err(OrderError::EmptyLabel { line: index });
    }
    if !(1..=MAX_QUANTITY).contains(&line.quantity) {
        return Err(OrderError::BadQuantity { line: index });
    }
    if line.unit_amount.currency() != currency {
        return Err(OrderError::MixedCurrencies);
    }
    if line.unit_amount.is_negative() {
        return Err(OrderError::NegativeAmount { line: index });
    }
    let has_event = line.event.is_some();
    let has_product = line.voucher_product_id.is_some();
    match line.kind {
        LineKind::Ticket if !has_event => Err(OrderError::MissingEvent { line: index }),
        LineKind::Voucher if !has_product => Err(OrderError::MissingVoucherProduct { line: index }),
        LineKind::Voucher | LineKind::Fee if has_event => {
            Err(OrderError::UnexpectedEvent { line: index })
        }
        LineKind::Ticket | LineKind::Fee if has_product => {
            Err(OrderError::UnexpectedVoucherProduct { line: index })
        }
        LineKind::Ticket | LineKind::Voucher | LineKind::Fee => Ok(()),
    }
}

/// Validates lines + delivery against the order currency and returns the order total
/// = Σ quantity × unit_amount + delivery fee (checked).
///
/// Rules: 1 to [`MAX_LINES`] lines; quantity 1..=[`MAX_QUANTITY`]; amounts ≥ 0 (a free ticket is
/// fine) and all in `currency`; a non-blank label; tickets need an event, voucher lines need
/// `voucher_product_id`, fees have neither. The first fault found, in line order, is returned.
/// An overflow of the total is [`OrderError::Money`], never a wrap.
pub fn order_total(
    currency: Currency,
    lines: &[OrderLine],
    delivery: &Delivery,
) -> Result<Money, OrderError> {
    if lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    if lines.len() > MAX_LINES {
        return Err(OrderError::TooManyLines);
    }
    let mut total = Money::zero(currency);
    for (index, line) in lines.iter().enumerate() {
        check_line(currency, index, line)?;
        let amount = line.unit_amount.checked_mul(i64::from(line.quantity))?;
        total = total.checked_add(amount)?;
    }
    if delivery.fee.currency() != currency {
        return Err(OrderError::MixedCurrencies);
    }
    if delivery.fee.is_negative() {
        return Err(OrderError::NegativeDeliveryFee);
    }
    Ok(total.checked_add(delivery.fee)?)
}

/// Earliest event start among ticket lines (for 3-D Secure and installment rules later).
/// `None` when the order has no ticket with an event.
pub fn first_event_start(lines: &[OrderLine]) -> Option<OffsetDateTime> {
    lines
        .iter()
        .filter(|l| l.kind == LineKind::Ticket)
        .filter_map(|l| l.event.as_ref().map(|e| e.starts_at))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency::{EUR, JPY, KWD, USD};
    use proptest::prelude::*;
    use time::macros::datetime;
    use uuid::Uuid;

    fn m(amount_minor: i64, currency: Currency) -> Money {
        Money::new(amount_minor, currency)
    }

    fn event(starts_at: OffsetDateTime) -> EventRef {
        EventRef {
            id: "ev-1".to_owned(),
            name: "Les Indes galantes".to_owned(),
            starts_at,
        }
    }

    fn ticket(quantity: u32, unit: Money) -> OrderLine {
        OrderLine {
            kind: LineKind::Ticket,
            label: "Catégorie 1".to_owned(),
            quantity,
            unit_amount: unit,
            event: Some(event(datetime!(2026-06-01 20:00 +02:00))),
            voucher_product_id: None,
        }
    }

    fn voucher(quantity: u32, unit: Money) -> OrderLine {
        OrderLine {
            kind: LineKind::Voucher,
            label: "Bon cadeau".to_owned(),
            quantity,
            unit_amount: unit,
            event: None,
            voucher_product_id: Some(Uuid::from_u128(7)),
        }
    }

    fn fee(unit: Money) -> OrderLine {
        OrderLine {
            kind: LineKind::Fee,
            label: "Frais de réservation".to_owned(),
            quantity: 1,
            unit_amount: unit,
            event: None,
            voucher_product_id: None,
        }
    }

    fn delivery(fee: Money) -> Delivery {
        Delivery {
            mode: "electronic".to_owned(),
            delay: "immediate".to_owned(),
            fee,
        }
    }

    #[test]
    fn line_kind_names() {
        for (kind, name) in [
            (LineKind::Ticket, "ticket"),
            (LineKind::Voucher, "voucher"),
            (LineKind::Fee, "fee"),
        ] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
            assert_eq!(LineKind::parse(name), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<LineKind>(&format!("\"{name}\"")).unwrap(),
                kind
            );
        }
        assert!(LineKind::parse("Ticket").is_err());
        assert!(LineKind::parse("").is_err());
    }

    #[test]
    fn totals() {
        #[track_caller]
        fn check(currency: Currency, lines: Vec<OrderLine>, fee: Money, expect: i64) {
            assert_eq!(
                order_total(currency, &lines, &delivery(fee)),
                Ok(m(expect, currency))
            );
        }
        // The seed's screen: 36.00 EUR, electronic delivery, fee 0.00.
        check(EUR, vec![ticket(2, m(1800, EUR))], m(0, EUR), 3600);
        check(
            EUR,
            vec![
                ticket(3, m(2550, EUR)),
                voucher(1, m(2000, EUR)),
                fee(m(150, EUR)),
            ],
            m(490, EUR),
            7650 + 2000 + 150 + 490,
        );
        check(
            JPY,
            vec![ticket(1000, m(4500, JPY))],
            m(300, JPY),
            4_500_300,
        );
        check(KWD, vec![ticket(1, m(12_345, KWD))], m(5, KWD), 12_350);
        // Free tickets are allowed.
        check(USD, vec![ticket(4, m(0, USD))], m(0, USD), 0);
    }

    #[test]
    fn refusals() {
        #[track_caller]
        fn check(lines: Vec<OrderLine>, fee: Money, expect: OrderError) {
            assert_eq!(order_total(EUR, &lines, &delivery(fee)), Err(expect));
        }
        let zero = m(0, EUR);
        let ok = || ticket(1, m(1000, EUR));
        check(vec![], zero, OrderError::NoLines);
        check(vec![ok(); MAX_LINES + 1], zero, OrderError::TooManyLines);
        check(
            vec![ok(), ticket(0, m(1, EUR))],
            zero,
            OrderError::BadQuantity { line: 1 },
        );
        check(
            vec![ticket(MAX_QUANTITY + 1, m(1, EUR))],
            zero,
            OrderError::BadQuantity { line: 0 },
        );
        check(
            vec![ok(), ok(), fee(m(-1, EUR))],
            zero,
            OrderError::NegativeAmount { line: 2 },
        );
        check(
            vec![ok(), ticket(1, m(1, USD))],
            zero,
            OrderError::MixedCurrencies,
        );
        check(vec![ok()], m(0, USD), OrderError::MixedCurrencies);
        check(vec![ok()], m(-1, EUR), OrderError::NegativeDeliveryFee);

        let mut no_event = ok();
        no_event.event = None;
        check(vec![no_event], zero, OrderError::MissingEvent { line: 0 });

        let mut ticket_with_product = ok();
        ticket_with_product.voucher_product_id = Some(Uuid::from_u128(1));
        check(
            vec![ticket_with_product],
            zero,
            OrderError::UnexpectedVoucherProduct { line: 0 },
        );

        let mut no_product = voucher(1, m(2000, EUR));
        no_product.voucher_product_id = None;
        check(
            vec![ok(), no_product],
            zero,
            OrderError::MissingVoucherProduct { line: 1 },
        );

        let mut voucher_with_event = voucher(1, m(2000, EUR));
        voucher_with_event.event = Some(event(datetime!(2026-01-01 0:00 UTC)));
        check(
            vec![voucher_with_event],
            zero,
            OrderError::UnexpectedEvent { line: 0 },
        );

        let mut fee_with_event = fee(m(100, EUR));
        fee_with_event.event = Some(event(datetime!(2026-01-01 0:00 UTC)));
        check(
            vec![fee_with_event],
            zero,
            OrderError::UnexpectedEvent { line: 0 },
        );

        let mut fee_with_product = fee(m(100, EUR));
        fee_with_product.voucher_product_id = Some(Uuid::from_u128(1));
        check(
            vec![fee_with_product],
            zero,
            OrderError::UnexpectedVoucherProduct { line: 0 },
        );

        let mut blank = ok();
        blank.label = "  ".to_owned();
        check(vec![ok(), blank], zero, OrderError::EmptyLabel { line: 1 });

        check(
            vec![ticket(2, m(i64::MAX / 2 + 1, EUR))],
            zero,
            OrderError::Money(MoneyError::Overflow),
        );
        check(
            vec![ticket(1, m(i64::MAX, EUR))],
            m(1, EUR),
            OrderError::Money(MoneyError::Overflow),
        );
    }

    #[test]
    fn messages_name_the_line() {
        let e = OrderError::BadQuantity { line: 3 };
        assert_eq!(e.line(), Some(3));
        assert_eq!(
            e.to_string(),
            "lines[3]: quantity must be between 1 and 1000"
        );
        assert_eq!(
            OrderError::MissingEvent { line: 0 }.to_string(),
            "lines[0]: a ticket line needs its event (id, name, starts_at)"
        );
        assert_eq!(OrderError::NoLines.line(), None);
    }

    #[test]
    fn first_event() {
        let at = |d: OffsetDateTime| {
            let mut t = ticket(1, m(1, EUR));
            t.event = Some(event(d));
            t
        };
        assert_eq!(first_event_start(&[]), None);
        assert_eq!(first_event_start(&[fee(m(1, EUR))]), None);
        let early = datetime!(2026-03-01 20:00 +01:00);
        // Same instant as 19:00 UTC; earlier than 20:30 UTC in another zone.
        let lines = [
            at(datetime!(2026-05-01 20:00 +02:00)),
            fee(m(1, EUR)),
            at(early),
            at(datetime!(2026-03-01 20:30 UTC)),
        ];
        assert_eq!(first_event_start(&lines), Some(early));
    }

    #[test]
    fn serde_round_trip() {
        let line = ticket(2, m(1800, EUR));
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["kind"], "ticket");
        assert_eq!(json["event"]["starts_at"], "2026-06-01T20:00:00+02:00");
        let back: OrderLine = serde_json::from_value(json).unwrap();
        assert_eq!(back, line);
    }

    proptest! {
        #[test]
        fn total_is_the_exact_sum(
            lines in prop::collection::vec((1u32..=MAX_QUANTITY, 0i64..=10_000_000), 1..=50),
            fee_minor in 0i64..=100_000,
        ) {
            let order: Vec<OrderLine> =
                lines.iter().map(|&(q, a)| ticket(q, m(a, EUR))).collect();
            let expect: i128 = lines.iter().map(|&(q, a)| i128::from(q) * i128::from(a)).sum::<i128>()
                + i128::from(fee_minor);
            let total = order_total(EUR, &order, &delivery(m(fee_minor, EUR))).unwrap();
            prop_assert_eq!(i128::from(total.amount_minor()), expect);
        }

        #[test]
        fn never_panics(
            lines in prop::collection::vec((any::<u32>(), any::<i64>()), 0..=5),
            fee_minor in any::<i64>(),
        ) {
            let order: Vec<OrderLine> =
                lines.iter().map(|&(q, a)| ticket(q, m(a, EUR))).collect();
            if let Ok(total) = order_total(EUR, &order, &delivery(m(fee_minor, EUR))) {
                prop_assert!(!total.is_negative());
            }
        }
    }
}

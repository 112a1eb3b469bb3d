//! The shop API's JSON bodies, read as the server reads them
//! (`guichet_server::idempotency::parse_json`, which every money-moving shop and checkout
//! handler calls on the raw body), into the server's own request types, then turned into domain
//! types with the public domain parsers the handlers use.
//!
//! Types: `orders::CreateOrderRequest` (with `LineRequest`, `DeliveryRequest`, `EventJson`),
//! `orders::RefundRequest`, `checkout_api::CodeRequest`, `checkout_api::CreditRequest`,
//! `checkout_api::PayRequest` (with `BrowserJson`), `account::CardChange`.
//!
//! The server's `orders::parse_order` is private and async (it reads the store), so the pure
//! part of it is repeated here with the same public domain functions, in the same order:
//! `Currency::from_code`, `parse_language`, `LineKind::parse`, `parse_name`, the quantity range,
//! then `guichet_domain::order::order_total`.
//!
//! Input: the body's bytes. Every input is tried against every type.
//!
//! Properties:
//! - `parse_json` never panics; a refusal is 400 (`bad_request`, malformed JSON) or 422
//!   (`invalid_body`, wrong shape); an accepted body is one complete JSON value (syntax: the
//!   values of ignored fields are skipped unchecked, see docs/FUZZING.md);
//! - order total: when `order_total` accepts, the total is exactly Σ quantity × unit + delivery
//!   fee (computed in `i128`), in the order's currency, with 1 to 200 lines; when it refuses for
//!   overflow, that sum does pass `i64::MAX`; a refusal naming a line names an existing one;
//!   `first_event_start` is the earliest ticket event;
//! - names: an accepted name is the input trimmed, at most the limit, without control
//!   characters, and reads back to itself; an accepted language is two lower-case letters; an
//!   accepted currency or line kind is exactly the text given;
//! - event times (RFC 3339) written back read back to the same instant;
//! - codes (`CodeRequest`, as `checkout::apply_code` tells them apart): a voucher code reads back
//!   to itself in its canonical `XXXX-XXXX-XXXX-XXXX` form; a promo code is the input trimmed and
//!   upper-cased and reads back to itself; no refusal repeats a run of 7 digits;
//! - `PayRequest.card_alias_return` goes through the Alias Gateway return checks of
//!   `ogone_return`; a refund destination reads back to itself.

use guichet_domain::config::{parse_language, parse_name};
use guichet_domain::order::{self, Delivery, EventRef, LineKind, OrderError, OrderLine};
use guichet_domain::promo::PromoCode;
use guichet_domain::voucher::VoucherCode;
use guichet_domain::{Currency, Money, MoneyError};
use guichet_server::account::CardChange;
use guichet_server::checkout_api::{CodeRequest, CreditRequest, PayRequest};
use guichet_server::idempotency::parse_json;
use guichet_server::orders::{CreateOrderRequest, EventJson, RefundRequest};
use guichet_store::RefundDestination;
use serde::de::DeserializeOwned;

use crate::util::assert_no_digit_run;

pub fn run(data: &[u8]) {
    if let Some(req) = parse::<CreateOrderRequest>(data) {
        create_order(req);
    }
    if let Some(req) = parse::<CodeRequest>(data) {
        code(&req.code);
    }
    if let Some(req) = parse::<PayRequest>(data)
        && let Some(q) = &req.card_alias_return
    {
        crate::ogone_return::run(q.trim_start_matches('?').as_bytes());
    }
    if let Some(req) = parse::<RefundRequest>(data)
        && let Some(d) = RefundDestination::parse(&req.destination)
    {
        assert_eq!(d.as_str(), req.destination);
    }
    let _ = parse::<CreditRequest>(data);
    let _ = parse::<CardChange>(data);
    if let Some(event) = parse::<EventJson>(data) {
        event_round_trip(&event);
    }
}

/// `parse_json` as the handlers call it, with its error contract.
pub fn parse<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    match parse_json::<T>(data) {
        Ok(v) => {
            // JSON syntax only: serde_json skips the values of fields a type ignores without
            // checking their UTF-8 or their numbers' range (docs/FUZZING.md, "Findings").
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok(),
                "a body that is not JSON was accepted"
            );
            Some(v)
        }
        Err(e) => {
            match e.status.as_u16() {
                400 => assert_eq!(e.code, "bad_request"),
                422 => assert_eq!(e.code, "invalid_body"),
                other => panic!("parse_json answered {other}"),
            }
            None
        }
    }
}

fn checked_name(raw: &str, max: usize) -> Option<String> {
    match parse_name(raw, max) {
        Ok(name) => {
            assert_eq!(name, raw.trim());
            assert!(!name.is_empty() && name.chars().count() <= max);
            assert!(!name.chars().any(char::is_control));
            assert_eq!(parse_name(&name, max).as_ref(), Ok(&name));
            Some(name)
        }
        Err(e) => {
            assert_no_digit_run(&e.0);
            None
        }
    }
}

fn create_order(req: CreateOrderRequest) {
    let currency = req.currency.as_deref().and_then(|c| {
        let parsed = Currency::from_code(c).ok();
        if let Some(p) = parsed {
            assert_eq!(p.code(), c);
        }
        parsed
    });
    if let Some(Ok(lang)) = req.language.as_deref().map(parse_language) {
        assert!(lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_lowercase()));
    }
    for l in req.lines.iter().flatten() {
        if let Some(e) = &l.event {
            event_round_trip(e);
        }
    }
    let (Some(currency), Some(lines_req), Some(delivery_req)) = (currency, req.lines, req.delivery)
    else {
        return;
    };
    let mut lines = Vec::with_capacity(lines_req.len());
    let mut complete = true;
    for l in lines_req {
        let kind = LineKind::parse(&l.kind).ok();
        if let Some(k) = kind {
            assert_eq!(k.as_str(), l.kind);
        }
        let label = checked_name(&l.label, 200);
        let quantity = u32::try_from(l.quantity)
            .ok()
            .filter(|q| (1..=order::MAX_QUANTITY).contains(q));
        match (kind, label, quantity) {
            (Some(kind), Some(label), Some(quantity)) => lines.push(OrderLine {
                kind,
                label,
                quantity,
                // The handler refuses a negative amount before: the domain must too.
                unit_amount: Money::new(l.unit_amount_minor, currency),
                event: l.event.map(|e| EventRef {
                    id: e.id,
                    name: e.name,
                    starts_at: e.starts_at,
                }),
                voucher_product_id: l.voucher_product,
            }),
            _ => complete = false,
        }
    }
    let mode = checked_name(&delivery_req.mode, 100);
    let delay = checked_name(&delivery_req.delay, 100);
    let (true, Some(mode), Some(delay)) = (complete, mode, delay) else {
        return;
    };
    let delivery = Delivery {
        mode,
        delay,
        fee: Money::new(delivery_req.fee_minor, currency),
    };
    check_total(currency, &lines, &delivery);
}

fn check_total(currency: Currency, lines: &[OrderLine], delivery: &Delivery) {
    let terms: Vec<i128> = lines
        .iter()
        .map(|l| i128::from(l.unit_amount.amount_minor()) * i128::from(l.quantity))
        .collect();
    let exact: i128 = terms.iter().sum::<i128>() + i128::from(delivery.fee.amount_minor());
    match order::order_total(currency, lines, delivery) {
        Ok(total) => {
            assert_eq!(total.currency(), currency);
            assert_eq!(i128::from(total.amount_minor()), exact);
            assert!((1..=order::MAX_LINES).contains(&lines.len()));
            for l in lines {
                assert!(!l.unit_amount.is_negative());
                assert!((1..=order::MAX_QUANTITY).contains(&l.quantity));
                assert!(!l.label.trim().is_empty());
                match l.kind {
                    LineKind::Ticket => {
                        assert!(l.event.is_some() && l.voucher_product_id.is_none())
                    }
                    LineKind::Voucher => {
                        assert!(l.event.is_none() && l.voucher_product_id.is_some())
                    }
                    LineKind::Fee => assert!(l.event.is_none() && l.voucher_product_id.is_none()),
                }
            }
            assert!(!delivery.fee.is_negative());
            let earliest = lines
                .iter()
                .filter(|l| l.kind == LineKind::Ticket)
                .filter_map(|l| l.event.as_ref().map(|e| e.starts_at))
                .min();
            assert_eq!(order::first_event_start(lines), earliest);
        }
        Err(OrderError::Money(MoneyError::Overflow)) => {
            let mut prefix = 0i128;
            let mut passed = false;
            for t in &terms {
                prefix += t;
                passed |= prefix > i128::from(i64::MAX);
            }
            passed |= exact > i128::from(i64::MAX);
            assert!(passed, "overflow refused a total of {exact}");
        }
        Err(e) => {
            if let Some(i) = e.line() {
                assert!(i < lines.len(), "{e} names line {i} of {}", lines.len());
            }
            assert_no_digit_run(&e.to_string());
        }
    }
}

fn event_round_trip(e: &EventJson) {
    let text = serde_json::to_string(e).expect("an event serializes");
    let again: EventJson = serde_json::from_str(&text).expect("a written event reads back");
    assert_eq!(again.starts_at, e.starts_at, "{text}");
    assert_eq!((&again.id, &again.name), (&e.id, &e.name));
}

/// As `checkout::apply_code` reads the code it is given (trimmed by the handler).
fn code(raw: &str) {
    let raw = raw.trim();
    if VoucherCode::looks_like(raw) {
        let code = VoucherCode::parse(raw).expect("looks like a voucher code");
        let s = code.as_str();
        assert_eq!(s.len(), 19, "{s}");
        for (i, c) in s.chars().enumerate() {
            if i % 5 == 4 {
                assert_eq!(c, '-');
            } else {
                assert!(c.is_ascii_digit() || c.is_ascii_uppercase());
                assert!(!matches!(c, 'I' | 'L' | 'O' | 'U'), "{s}");
            }
        }
        assert_eq!(VoucherCode::parse(s).as_ref(), Ok(&code));
        assert_eq!(
            VoucherCode::parse(&s.to_ascii_lowercase()).as_ref(),
            Ok(&code)
        );
    } else {
        match PromoCode::parse(raw) {
            Ok(p) => {
                assert_eq!(p.as_str(), raw.to_ascii_uppercase());
                assert_eq!(PromoCode::parse(p.as_str()).as_ref(), Ok(&p));
                assert!((PromoCode::MIN_LEN..=PromoCode::MAX_LEN).contains(&p.as_str().len()));
            }
            Err(e) => assert_no_digit_run(&e.0),
        }
        if let Err(e) = VoucherCode::parse(raw) {
            assert_no_digit_run(&e.0);
        }
    }
}

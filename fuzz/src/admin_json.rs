//! The back-office API's JSON bodies (`/api/v1/admin/…`), read with
//! `guichet_server::idempotency::parse_json` (the same `serde_json` reading as the `ApiJson`
//! extractor) into the server's request types, then into domain types where the conversion is
//! public.
//!
//! Types: `admin::MoneyJson`, `admin::installment_plans::PlanRequest`,
//! `admin::catalogue::{CreatePromoCodeRequest, GenerateCouponsRequest, ImportCouponsRequest,
//! DiscountJson, VoucherValueJson, VoucherValidityJson, VoucherProductRequest,
//! DeferredSettlementRequest}`, `admin::contacts::{CreateContactRequest, UpdateContactRequest,
//! CreditAdjustmentRequest}`, `admin::access::{LoginRequest, CreateUserRequest,
//! CreateShopKeyRequest}`, `admin::payment_modes::{PaymentModeRequest, AssociateRequest}`,
//! `admin::payment_system::PaymentSystemRequest`, `admin::structure::{CreateInstitutionRequest,
//! CreateOrganizerRequest, CreateChannelRequest, CreatePointOfSaleRequest}`,
//! `webhooks::PutWebhookRequest`.
//!
//! The server's `parse_plan` (installment plans) is private; its pure steps are repeated here
//! with the public domain types: `InstallmentPlan::validate`, then `installments::schedule`.
//!
//! Properties:
//! - the `parse_json` contract of `shop_json` (400 / 422, accepted bodies are JSON);
//! - `MoneyJson::parse` accepts exactly the six currency codes and keeps the amount; the money
//!   written back as `MoneyJson` is the same; `DiscountJson`, `VoucherValueJson`,
//!   `VoucherValidityJson` written back read back the same;
//! - installment plans: a plan `validate` accepts has 2 to 12 installments, percentages (if any)
//!   one per installment, each ≥ 1, adding up to 100, a day interval of 1 to 365 days and a
//!   minimum amount ≥ 0; its schedule for a positive total has `count` installments, numbered
//!   1…count, each > 0, adding up exactly to the total, each within one minor unit of its exact
//!   share, due dates increasing from the first; an equal split refuses a total smaller than the
//!   count (`TooSmall`) and nothing else;
//! - e-mails, names, public names and promo codes: accepted values read back to themselves.

use guichet_domain::config::{PublicNames, parse_email, parse_name};
use guichet_domain::installments::{
    InstallmentPlan, Interval, PlanMode, ScheduleError, Split, schedule,
};
use guichet_domain::promo::PromoCode;
use guichet_domain::{Currency, Money};
use guichet_server::admin::MoneyJson;
use guichet_server::admin::access::{CreateShopKeyRequest, CreateUserRequest, LoginRequest};
use guichet_server::admin::catalogue::{
    CreatePromoCodeRequest, DeferredSettlementRequest, DiscountJson, GenerateCouponsRequest,
    ImportCouponsRequest, VoucherProductRequest, VoucherValidityJson, VoucherValueJson,
};
use guichet_server::admin::contacts::{
    CreateContactRequest, CreditAdjustmentRequest, UpdateContactRequest,
};
use guichet_server::admin::installment_plans::PlanRequest;
use guichet_server::admin::payment_modes::{AssociateRequest, PaymentModeRequest};
use guichet_server::admin::payment_system::PaymentSystemRequest;
use guichet_server::admin::structure::{
    CreateChannelRequest, CreateInstitutionRequest, CreateOrganizerRequest,
    CreatePointOfSaleRequest,
};
use guichet_server::error::Fields;
use guichet_server::webhooks::PutWebhookRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::macros::date;

use crate::shop_json::parse;

pub fn run(data: &[u8]) {
    if let Some(m) = parse::<MoneyJson>(data) {
        money_json(&m);
    }
    if let Some(req) = parse::<PlanRequest>(data) {
        plan(req);
    }
    if let Some(req) = parse::<CreatePromoCodeRequest>(data)
        && let Some(c) = &req.code
    {
        promo_code(c);
    }
    if let Some(req) = parse::<ImportCouponsRequest>(data) {
        for c in req.codes.iter().flatten() {
            promo_code(c);
        }
    }
    if let Some(req) = parse::<CreateContactRequest>(data)
        && let Some(e) = &req.email
    {
        email(e);
    }
    if let Some(req) = parse::<UpdateContactRequest>(data)
        && let Some(e) = &req.email
    {
        email(e);
    }
    if let Some(req) = parse::<PaymentModeRequest>(data)
        && let Some(names) = &req.public_names
        && let Ok(p) = PublicNames::parse(names)
    {
        assert_eq!(PublicNames::parse(p.as_map()).as_ref(), Ok(&p));
    }
    if let Some(req) = parse::<CreateInstitutionRequest>(data)
        && let Some(n) = &req.name
        && let Ok(name) = parse_name(n, 200)
    {
        assert_eq!(parse_name(&name, 200), Ok(name.clone()));
    }
    if let Some(req) = parse::<VoucherProductRequest>(data) {
        if let Some(v) = &req.value {
            written_back(v);
        }
        if let Some(v) = &req.validity {
            written_back(v);
        }
    }
    if let Some(d) = parse::<DiscountJson>(data) {
        written_back(&d);
    }
    if let Some(v) = parse::<VoucherValueJson>(data) {
        written_back(&v);
    }
    if let Some(v) = parse::<VoucherValidityJson>(data) {
        written_back(&v);
    }
    let _ = parse::<GenerateCouponsRequest>(data);
    let _ = parse::<DeferredSettlementRequest>(data);
    let _ = parse::<CreditAdjustmentRequest>(data);
    let _ = parse::<LoginRequest>(data);
    let _ = parse::<CreateUserRequest>(data);
    let _ = parse::<CreateShopKeyRequest>(data);
    let _ = parse::<AssociateRequest>(data);
    let _ = parse::<PaymentSystemRequest>(data);
    let _ = parse::<CreateOrganizerRequest>(data);
    let _ = parse::<CreateChannelRequest>(data);
    let _ = parse::<CreatePointOfSaleRequest>(data);
    let _ = parse::<PutWebhookRequest>(data);
}

/// Written back to JSON and read again, the value writes the same JSON.
fn written_back<T: Serialize + DeserializeOwned>(v: &T) {
    let first = serde_json::to_value(v).expect("serializes");
    let again: T = serde_json::from_value(first.clone()).expect("reads back");
    assert_eq!(serde_json::to_value(&again).expect("serializes"), first);
}

fn money_json(m: &MoneyJson) {
    let mut f = Fields::new();
    let parsed = m.parse("amount", &mut f);
    assert_eq!(parsed.is_some(), Currency::from_code(&m.currency).is_ok());
    assert_eq!(parsed.is_some(), f.finish().is_ok());
    if let Some(money) = parsed {
        assert_eq!(money.amount_minor(), m.amount_minor);
        assert_eq!(money.currency().code(), m.currency);
        let back = MoneyJson::from(money);
        assert_eq!(
            (back.amount_minor, back.currency.as_str()),
            (m.amount_minor, m.currency.as_str())
        );
    }
    written_back(m);
}

fn email(raw: &str) {
    if let Ok(e) = parse_email(raw) {
        assert_eq!(e, raw.trim());
        assert_eq!(parse_email(&e), Ok(e.clone()));
        assert_eq!(e.matches('@').count(), 1);
    }
}

fn promo_code(raw: &str) {
    if let Ok(p) = PromoCode::parse(raw) {
        assert_eq!(p.as_str(), raw.trim().to_ascii_uppercase());
        assert_eq!(PromoCode::parse(p.as_str()).as_ref(), Ok(&p));
    }
}

/// The pure steps of the server's `parse_plan`, with the domain's types.
fn plan(req: PlanRequest) {
    let split = req.split.as_ref().and_then(|v| match v {
        serde_json::Value::String(s) if s == "equal" => Some(Split::Equal),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect::<Option<Vec<u32>>>()
            .map(Split::Percentages),
        _ => None,
    });
    let interval = req.interval.as_ref().and_then(|v| {
        if v.as_str() == Some("monthly") {
            return Some(Interval::Monthly);
        }
        v.get("days")
            .and_then(serde_json::Value::as_u64)
            .and_then(|d| u16::try_from(d).ok())
            .map(Interval::Days)
    });
    let min_amount = req.min_amount.as_ref().and_then(|m| {
        let mut f = Fields::new();
        m.parse("min_amount", &mut f)
    });
    let mode = match req.mode.as_deref() {
        Some("restrictive") => Some(PlanMode::Restrictive),
        Some("free") => Some(PlanMode::Free),
        _ => None,
    };
    let (Some(count), Some(split), Some(interval), Some(min_amount), Some(mode)) =
        (req.count, split, interval, min_amount, mode)
    else {
        return;
    };
    let plan = InstallmentPlan {
        count,
        split,
        interval,
        min_amount,
        mode,
    };
    if plan.validate().is_err() {
        return;
    }
    assert!((2..=12).contains(&plan.count), "count {}", plan.count);
    if let Split::Percentages(p) = &plan.split {
        assert_eq!(p.len(), usize::from(plan.count));
        assert!(p.iter().all(|&x| x >= 1));
        assert_eq!(p.iter().map(|&x| u64::from(x)).sum::<u64>(), 100);
    }
    if let Interval::Days(d) = plan.interval {
        assert!((1..=365).contains(&d), "{d} days");
    }
    assert!(!plan.min_amount.is_negative());
    let currency = plan.currency();
    let mut totals = vec![1, 2, 11, 99, 100, 101, 9_999, 10_000, i64::MAX];
    totals.push(plan.min_amount.amount_minor().max(1));
    for total in totals {
        check_schedule(&plan, Money::new(total, currency));
    }
}

fn check_schedule(plan: &InstallmentPlan, total: Money) {
    let first_due = date!(2026 - 01 - 31);
    let count = usize::from(plan.count);
    let ratios: Vec<u128> = match &plan.split {
        Split::Equal => vec![1; count],
        Split::Percentages(p) => p.iter().map(|&x| u128::from(x)).collect(),
    };
    let sum_ratios: u128 = ratios.iter().sum();
    match schedule(plan, total, first_due) {
        Ok(parts) => {
            assert_eq!(parts.len(), count);
            let mut sum = 0i128;
            for (i, part) in parts.iter().enumerate() {
                assert_eq!(usize::from(part.number), i + 1);
                assert!(part.amount.is_positive());
                assert_eq!(part.amount.currency(), total.currency());
                sum += i128::from(part.amount.amount_minor());
                // Within one minor unit of the exact share total × rᵢ / Σr.
                let exact_num = u128::try_from(total.amount_minor()).expect("positive") * ratios[i];
                let floor = exact_num / sum_ratios;
                let got = u128::try_from(part.amount.amount_minor()).expect("positive");
                assert!(got == floor || got == floor + 1, "{got} vs share {floor}+");
                if i == 0 {
                    assert_eq!(part.due, first_due);
                } else {
                    assert!(part.due > parts[i - 1].due, "due dates not increasing");
                }
            }
            assert_eq!(sum, i128::from(total.amount_minor()));
        }
        Err(ScheduleError::TooSmall { .. }) => {
            if plan.split == Split::Equal {
                assert!(total.amount_minor() < i64::from(plan.count));
            }
        }
        Err(e) => panic!("schedule of a valid plan for {total}: {e}"),
    }
}

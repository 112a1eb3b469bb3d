//! A property test of settlement (issue 3's acceptance; DESIGN.md invariant 2): random
//! sequences of orders, promo codes, vouchers, credit balance, deferred charges, cancels and
//! expiries driven through the real router, with the ledger invariants and a model of every
//! balance checked after every step.
//!
//! The scenarios come from proptest strategies drawn with a deterministic runner (the same
//! scenarios on both databases, every run); steps run one after another against the server.
//! No shrinking: a failure prints the case's steps and outcomes so far.

use crate::helpers::{Http, ShopFixture, TestApp, order_body};
use crate::on_both_with;
use guichet_domain::promo::PromoKind;
use guichet_domain::{AccountKind, Currency};
use guichet_store::{HoldStatus, LegKind, OrderStatus};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

const CASES: usize = 16;
const STEPS: usize = 24;
/// Karin's credit balance in the shop fixture.
const KARIN_CREDIT: i64 = 1500;

/// Which of the case's orders a step acts on: mostly the latest, else any (often a closed one).
#[derive(Debug, Clone)]
struct Pick {
    latest: bool,
    index: Index,
}

impl Pick {
    fn of(&self, len: usize) -> usize {
        if self.latest {
            len - 1
        } else {
            self.index.index(len)
        }
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    (prop::bool::weighted(0.6), any::<Index>()).prop_map(|(latest, index)| Pick { latest, index })
}

#[derive(Debug, Clone)]
enum Step {
    Create {
        amount_minor: i64,
        karin: bool,
    },
    Promo {
        order: Pick,
        code: Index,
    },
    Voucher {
        order: Pick,
        voucher: Index,
    },
    /// Removes a promo code or a voucher (one list: the promo pool, then the vouchers).
    RemoveCode {
        order: Pick,
        code: Index,
    },
    Credit {
        order: Pick,
        amount_minor: i64,
    },
    PayDeferred {
        order: Pick,
    },
    PayNone {
        order: Pick,
    },
    Cancel {
        order: Pick,
        by_shop: bool,
    },
    /// The job runner, far in the future: every open order expires.
    Expire,
    AdjustCredit {
        amount_minor: i64,
    },
    SettleDeferred {
        amount_minor: i64,
    },
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Promo { .. } => "promo",
            Step::Voucher { .. } => "voucher",
            Step::RemoveCode { .. } => "remove_code",
            Step::Credit { .. } => "credit",
            Step::PayDeferred { .. } => "pay_deferred",
            Step::PayNone { .. } => "pay_none",
            Step::Cancel { .. } => "cancel",
            Step::Expire => "expire",
            Step::AdjustCredit { .. } => "adjust_credit",
            Step::SettleDeferred { .. } => "settle_deferred",
        }
    }
}

#[derive(Debug, Clone)]
struct VoucherSpec {
    value_minor: i64,
    reusable: bool,
    expired: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    vouchers: Vec<VoucherSpec>,
    steps: Vec<Step>,
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), 1i64..=6_000, 0i64..=50_000]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => create(),
        6 => (pick(), any::<Index>()).prop_map(|(order, code)| Step::Promo { order, code }),
        6 => (pick(), any::<Index>()).prop_map(|(order, voucher)| Step::Voucher { order, voucher }),
        4 => (pick(), any::<Index>()).prop_map(|(order, code)| Step::RemoveCode { order, code }),
        5 => (pick(), 0i64..=3_000).prop_map(|(order, amount_minor)| Step::Credit { order, amount_minor }),
        6 => pick().prop_map(|order| Step::PayDeferred { order }),
        4 => pick().prop_map(|order| Step::PayNone { order }),
        2 => (pick(), any::<bool>()).prop_map(|(order, by_shop)| Step::Cancel { order, by_shop }),
        1 => Just(Step::Expire),
        2 => prop_oneof![-2_000i64..=-1, 1i64..=2_000].prop_map(|amount_minor| Step::AdjustCredit { amount_minor }),
        2 => (1i64..=8_000).prop_map(|amount_minor| Step::SettleDeferred { amount_minor }),
    ]
}

fn create() -> impl Strategy<Value = Step> {
    (amount(), prop::bool::weighted(0.75)).prop_map(|(amount_minor, karin)| Step::Create {
        amount_minor,
        karin,
    })
}

fn voucher_spec() -> impl Strategy<Value = VoucherSpec> {
    (
        prop_oneof![1i64..=3_000, 1i64..=30_000],
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(value_minor, reusable, expired)| VoucherSpec {
            value_minor,
            reusable,
            expired,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(voucher_spec(), 2..=4),
        create(),
        prop::collection::vec(step(), STEPS - 1),
    )
        .prop_map(|(vouchers, first, mut steps)| {
            steps.insert(0, first);
            Scenario { vouchers, steps }
        })
}

/// The same scenarios every run, on both databases.
fn scenarios() -> Vec<Scenario> {
    let mut runner = TestRunner::deterministic();
    let strategy = scenario();
    (0..CASES)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a scenario")
                .current()
        })
        .collect()
}

struct CaseVoucher {
    code: String,
    spec: VoucherSpec,
}

/// One case's world: its own institution, Karin, codes and vouchers, and what the model
/// expects beyond what it reads back.
struct Case {
    shop: ShopFixture,
    institution: Uuid,
    karin: Uuid,
    /// Promo codes to try: (code, kind, basis points); the last one does not exist.
    promos: Vec<(&'static str, Option<(PromoKind, u32)>)>,
    vouchers: Vec<CaseVoucher>,
    /// (order id, checkout token).
    orders: Vec<(Uuid, String)>,
    /// Σ accepted credit adjustments after the fixture's 15.00.
    credit_adjusted: i64,
    /// Σ accepted deferred-account settlements.
    deferred_settled: i64,
}

const PROMOS: [(&str, Option<(PromoKind, u32)>); 4] = [
    ("NOUVEAUX-VENUS", None), // created by the fixture (5 %)
    ("MOITIE", Some((PromoKind::DiscountCode, 5000))),
    ("CADEAU-100", Some((PromoKind::Coupon, 10_000))),
    ("INCONNU-42", None),
];

async fn new_case(app: &TestApp, scenario: &Scenario) -> Case {
    let shop = app.shop().await;
    for (code, rule) in PROMOS {
        if let Some((kind, bp)) = rule {
            app.promo(&shop.t.institution, code, kind, bp).await;
        }
    }
    let mut vouchers = Vec::new();
    for spec in &scenario.vouchers {
        let expires_in = if spec.expired {
            time::Duration::days(-1)
        } else {
            time::Duration::days(30)
        };
        let code = app
            .voucher(
                &shop.t.institution,
                spec.value_minor,
                expires_in,
                spec.reusable,
            )
            .await;
        vouchers.push(CaseVoucher {
            code,
            spec: spec.clone(),
        });
    }
    Case {
        institution: shop.t.institution.parse().unwrap(),
        karin: shop.karin.parse().unwrap(),
        shop,
        promos: PROMOS.to_vec(),
        vouchers,
        orders: Vec::new(),
        credit_adjusted: 0,
        deferred_settled: 0,
    }
}

/// What a step did: the HTTP status, or `None` when it had nothing to act on.
type Outcome = Option<StatusCode>;

async fn run_step(app: &TestApp, http: &Http, case: &mut Case, step: &Step) -> Outcome {
    let pick = |p: &Pick, case: &Case| -> Option<(Uuid, String)> {
        (!case.orders.is_empty()).then(|| {
            let (id, token) = &case.orders[p.of(case.orders.len())];
            (*id, token.clone())
        })
    };
    let checkout = |token: &str, suffix: &str| format!("/api/v1/checkout/{token}{suffix}");
    let reply = match step {
        Step::Create {
            amount_minor,
            karin,
        } => {
            let contact = karin.then_some(case.shop.karin.as_str());
            let r = http
                .send(
                    Method::POST,
                    "/api/v1/orders",
                    Some(&case.shop.key),
                    None,
                    Some(order_body(&case.shop, contact, *amount_minor)),
                )
                .await;
            if r.status == StatusCode::CREATED {
                let id = r.json["id"].as_str().unwrap().parse().unwrap();
                let token = r.json["checkout_token"].as_str().unwrap().to_owned();
                case.orders.push((id, token));
            }
            r
        }
        Step::Promo { order, code } => {
            let (_, token) = pick(order, case)?;
            let code = case.promos[code.index(case.promos.len())].0;
            http.send(
                Method::POST,
                &checkout(&token, "/codes"),
                None,
                None,
                Some(json!({"code": code})),
            )
            .await
        }
        Step::Voucher { order, voucher } => {
            let (_, token) = pick(order, case)?;
            let code = &case.vouchers[voucher.index(case.vouchers.len())].code;
            http.send(
                Method::POST,
                &checkout(&token, "/codes"),
                None,
                None,
                Some(json!({"code": code})),
            )
            .await
        }
        Step::RemoveCode { order, code } => {
            let (id, token) = pick(order, case)?;
            // One of the codes in force on the order, else any code of the case (not applied).
            let o = app.store.get_order(id).await.unwrap();
            let mut applied: Vec<String> = o
                .promos
                .iter()
                .filter(|p| p.status == HoldStatus::Held)
                .map(|p| p.code.clone())
                .collect();
            for leg in o
                .legs
                .iter()
                .filter(|l| l.kind == LegKind::Voucher && l.status == HoldStatus::Held)
            {
                let v = app.store.get_voucher(leg.source_id).await.unwrap();
                applied.push(v.code);
            }
            let code = if applied.is_empty() {
                let n = case.promos.len() + case.vouchers.len();
                let i = code.index(n);
                if i < case.promos.len() {
                    case.promos[i].0.to_owned()
                } else {
                    case.vouchers[i - case.promos.len()].code.clone()
                }
            } else {
                applied.swap_remove(code.index(applied.len()))
            };
            http.send(
                Method::DELETE,
                &checkout(&token, &format!("/codes/{code}")),
                None,
                None,
                None,
            )
            .await
        }
        Step::Credit {
            order,
            amount_minor,
        } => {
            let (_, token) = pick(order, case)?;
            http.send(
                Method::PUT,
                &checkout(&token, "/credit-balance"),
                None,
                None,
                Some(json!({"amount_minor": amount_minor})),
            )
            .await
        }
        Step::PayDeferred { order } | Step::PayNone { order } => {
            let (_, token) = pick(order, case)?;
            let means = if matches!(step, Step::PayDeferred { .. }) {
                "deferred_account"
            } else {
                "none"
            };
            let key = Uuid::now_v7().to_string();
            http.send(
                Method::POST,
                &checkout(&token, "/pay"),
                None,
                Some(&key),
                Some(json!({"means": means, "accept_terms": true})),
            )
            .await
        }
        Step::Cancel { order, by_shop } => {
            let (id, token) = pick(order, case)?;
            if *by_shop {
                http.send(
                    Method::POST,
                    &format!("/api/v1/orders/{id}/cancel"),
                    Some(&case.shop.key),
                    None,
                    None,
                )
                .await
            } else {
                http.send(Method::POST, &checkout(&token, "/cancel"), None, None, None)
                    .await
            }
        }
        Step::Expire => {
            let state = app.state();
            let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
            while guichet_server::checkout::expire_due(&state, later, 100)
                .await
                .expect("expire_due")
                > 0
            {}
            return Some(StatusCode::OK);
        }
        Step::AdjustCredit { amount_minor } => {
            let r = http
                .send(
                    Method::POST,
                    &format!("/api/v1/admin/contacts/{}/credit-adjustments", case.karin),
                    Some(&app.admin),
                    None,
                    Some(json!({"amount_minor": amount_minor, "memo": "Geste commercial"})),
                )
                .await;
            if r.status == StatusCode::CREATED {
                case.credit_adjusted += amount_minor;
            }
            r
        }
        Step::SettleDeferred { amount_minor } => {
            let r = http
                .send(
                    Method::POST,
                    &format!("/api/v1/admin/contacts/{}/deferred-settlements", case.karin),
                    Some(&app.admin),
                    None,
                    Some(json!({"amount_minor": amount_minor, "memo": "Virement"})),
                )
                .await;
            if r.status == StatusCode::CREATED {
                case.deferred_settled += amount_minor;
            }
            r
        }
    };
    assert!(
        !reply.status.is_server_error(),
        "{} answered {}: {}",
        step.name(),
        reply.status,
        reply.text
    );
    Some(reply.status)
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Every invariant, read back from the store.
async fn check(app: &TestApp, case: &Case) -> Result<(), String> {
    let store = &app.store;
    let audit = store.audit().await.map_err(|e| e.to_string())?;
    ensure!(
        audit.differences.is_empty(),
        "audit: {:?}",
        audit.differences
    );

    let eur = Currency::EUR;
    let mut orders = Vec::new();
    for (id, _) in &case.orders {
        orders.push(store.get_order(*id).await.map_err(|e| e.to_string())?);
    }

    // Each order on its own: its figures add up and its holds account holds exactly its holds.
    let mut paid_totals = 0;
    let mut paid_discounts = 0;
    for o in &orders {
        let figs = guichet_server::checkout::figures(o)
            .map_err(|e| format!("figures of {}: {}", o.id, e.message))?;
        let discounts: i64 = figs.discounts.iter().map(|(_, m)| m.amount_minor()).sum();
        let held: i64 = o
            .legs
            .iter()
            .filter(|l| l.status == HoldStatus::Held)
            .map(|l| l.amount.amount_minor())
            .sum();
        let committed: i64 = o
            .legs
            .iter()
            .filter(|l| l.status == HoldStatus::Committed)
            .map(|l| l.amount.amount_minor())
            .sum();
        let total = o.total.amount_minor();
        let due = figs.amount_due.amount_minor();
        let holds = store
            .ledger_account(o.institution_id, AccountKind::Holds, o.id, eur)
            .await
            .map_err(|e| e.to_string())?
            .balance
            .amount_minor();
        match o.status {
            OrderStatus::AwaitingPayment => {
                ensure!(committed == 0, "open order {} has committed legs", o.id);
                ensure!(due >= 0, "order {} owes {due}", o.id);
                ensure!(
                    discounts + held + due == total,
                    "open order {}: discounts {discounts} + held {held} + due {due} ≠ total {total}",
                    o.id
                );
                ensure!(
                    holds == held,
                    "order {}: holds account {holds} ≠ held legs {held}",
                    o.id
                );
            }
            OrderStatus::Paid => {
                ensure!(held == 0, "paid order {} still holds {held}", o.id);
                ensure!(
                    o.promos.iter().all(|p| p.status != HoldStatus::Held),
                    "paid order {} has a held promo",
                    o.id
                );
                ensure!(
                    discounts + committed == total,
                    "paid order {}: discounts {discounts} + committed {committed} ≠ total {total}",
                    o.id
                );
                ensure!(holds == 0, "paid order {}: holds account {holds}", o.id);
                paid_totals += total;
                paid_discounts += discounts;
            }
            OrderStatus::Cancelled | OrderStatus::Expired => {
                ensure!(
                    o.legs.iter().all(|l| l.status == HoldStatus::Released)
                        && o.promos.iter().all(|p| p.status == HoldStatus::Released),
                    "closed order {} keeps a hold or a commitment",
                    o.id
                );
                ensure!(holds == 0, "closed order {}: holds account {holds}", o.id);
            }
        }
        if o.contact_id.is_none() {
            ensure!(
                o.legs
                    .iter()
                    .all(|l| matches!(l.kind, LegKind::Voucher | LegKind::Card)),
                "order {} without contact has a credit or deferred leg",
                o.id
            );
        }
    }

    // Karin: credit ≥ 0 and conserved; deferred within [0, max] and equal to her charges.
    let tab = store
        .accounting_tab(case.karin)
        .await
        .map_err(|e| e.to_string())?;
    let credit = tab.credit_balance.amount_minor();
    let deferred = tab.deferred_balance.amount_minor();
    let sum_legs = |kind: LegKind, status: HoldStatus| -> i64 {
        orders
            .iter()
            .flat_map(|o| o.legs.iter())
            .filter(|l| l.kind == kind && l.status == status && l.source_id == case.karin)
            .map(|l| l.amount.amount_minor())
            .sum()
    };
    let credit_held = sum_legs(LegKind::CreditBalance, HoldStatus::Held);
    let credit_committed = sum_legs(LegKind::CreditBalance, HoldStatus::Committed);
    ensure!(credit >= 0, "Karin's credit balance is {credit}");
    ensure!(
        credit + credit_held + credit_committed == KARIN_CREDIT + case.credit_adjusted,
        "credit: balance {credit} + held {credit_held} + committed {credit_committed} ≠ {KARIN_CREDIT} + adjustments {}",
        case.credit_adjusted
    );
    let deferred_charged = sum_legs(LegKind::DeferredAccount, HoldStatus::Committed);
    ensure!(
        (0..=tab.deferred_max.amount_minor()).contains(&deferred),
        "Karin's deferred balance {deferred} outside [0, {}]",
        tab.deferred_max.amount_minor()
    );
    ensure!(
        deferred == deferred_charged - case.deferred_settled,
        "deferred: balance {deferred} ≠ charges {deferred_charged} − settlements {}",
        case.deferred_settled
    );

    // Vouchers: never negative; balance + held + committed (+ forfeited) = face value.
    let mut forfeited_total = 0;
    for v in &case.vouchers {
        let row = store
            .voucher_by_code(&v.code)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("voucher vanished")?;
        let balance = row.balance.amount_minor();
        let face = v.spec.value_minor;
        let legs: Vec<_> = orders
            .iter()
            .flat_map(|o| o.legs.iter().map(move |l| (o.id, l)))
            .filter(|(_, l)| l.kind == LegKind::Voucher && l.source_id == row.id)
            .collect();
        let held: i64 = legs
            .iter()
            .filter(|(_, l)| l.status == HoldStatus::Held)
            .map(|(_, l)| l.amount.amount_minor())
            .sum();
        let committed: i64 = legs
            .iter()
            .filter(|(_, l)| l.status == HoldStatus::Committed)
            .map(|(_, l)| l.amount.amount_minor())
            .sum();
        ensure!(balance >= 0, "voucher {} balance {balance}", v.code);
        if v.spec.expired {
            ensure!(legs.is_empty(), "expired voucher {} was used", v.code);
        }
        if !v.spec.reusable {
            let holders: Vec<Uuid> = legs
                .iter()
                .filter(|(_, l)| l.status == HoldStatus::Held)
                .map(|(o, _)| *o)
                .collect();
            ensure!(
                holders.len() <= 1,
                "single-use voucher {} held by {holders:?}",
                v.code
            );
            if let Some(holder) = holders.first() {
                ensure!(
                    row.held_by_order_id == Some(*holder),
                    "single-use voucher {} marked held by {:?}, held by {holder}",
                    v.code,
                    row.held_by_order_id
                );
            }
        }
        if !v.spec.reusable && committed > 0 {
            let forfeited = face - committed;
            ensure!(
                held == 0 && balance == 0 && forfeited >= 0,
                "spent single-use voucher {}: balance {balance}, held {held}, committed {committed}, face {face}",
                v.code
            );
            forfeited_total += forfeited;
        } else {
            ensure!(
                balance + held + committed == face,
                "voucher {}: balance {balance} + held {held} + committed {committed} ≠ face {face}",
                v.code
            );
        }
    }

    // Promo codes: every use counted once, released uses given back; a coupon at most once.
    for (code, rule) in &case.promos {
        let Some(row) = store
            .promo_code_by_code(case.institution, code)
            .await
            .map_err(|e| e.to_string())?
        else {
            ensure!(*code == "INCONNU-42", "promo code {code} vanished");
            continue;
        };
        let uses = orders
            .iter()
            .flat_map(|o| o.promos.iter())
            .filter(|p| p.promo_code_id == row.id && p.status != HoldStatus::Released)
            .count();
        ensure!(
            row.uses_count == i64::try_from(uses).unwrap(),
            "promo {code}: uses_count {} ≠ {uses} held or committed",
            row.uses_count
        );
        if matches!(rule, Some((PromoKind::Coupon, _))) {
            ensure!(
                row.uses_count <= 1,
                "coupon {code} used {} times",
                row.uses_count
            );
        }
    }

    // The institution's sales and discounts are exactly its paid orders (plus breakage).
    let sales = store
        .ledger_account(case.institution, AccountKind::Sales, case.institution, eur)
        .await
        .map_err(|e| e.to_string())?
        .balance
        .amount_minor();
    let discounts = store
        .ledger_account(
            case.institution,
            AccountKind::Discounts,
            case.institution,
            eur,
        )
        .await
        .map_err(|e| e.to_string())?
        .balance
        .amount_minor();
    ensure!(
        sales == paid_totals + forfeited_total,
        "sales {sales} ≠ paid totals {paid_totals} + forfeited {forfeited_total}"
    );
    ensure!(
        discounts == paid_discounts,
        "discounts account {discounts} ≠ paid orders' discounts {paid_discounts}"
    );
    Ok(())
}

async fn settlement_invariants_hold_after_every_step(app: TestApp) {
    let backend = app.store.backend().as_str();
    let http = app.http();
    let started = Instant::now();
    let mut outcomes: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    let mut statuses: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut steps_run = 0;
    for (c, scenario) in scenarios().iter().enumerate() {
        let mut case = new_case(&app, scenario).await;
        if let Err(e) = check(&app, &case).await {
            panic!("[{backend}] case {c}, before any step: {e}");
        }
        let mut log = Vec::new();
        for (s, step) in scenario.steps.iter().enumerate() {
            let outcome = run_step(&app, &http, &mut case, step).await;
            let label = match outcome {
                None => "skipped".to_owned(),
                Some(st) if st.is_success() => "ok".to_owned(),
                Some(st) => st.as_u16().to_string(),
            };
            log.push(format!("{s}: {step:?} → {label}"));
            *outcomes.entry((step.name(), label)).or_insert(0) += 1;
            steps_run += 1;
            if let Err(e) = check(&app, &case).await {
                panic!(
                    "[{backend}] case {c}, step {s} ({}): {e}\nvouchers: {:?}\nsteps:\n{}",
                    step.name(),
                    scenario.vouchers,
                    log.join("\n")
                );
            }
        }
        for o in &case.orders {
            let order = app.store.get_order(o.0).await.unwrap();
            *statuses.entry(order.status.as_str()).or_insert(0) += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted: usize = outcomes
        .iter()
        .filter(|((_, l), _)| l == "ok")
        .map(|(_, n)| n)
        .sum();
    let skipped: usize = outcomes
        .iter()
        .filter(|((_, l), _)| l == "skipped")
        .map(|(_, n)| n)
        .sum();
    let refused = steps_run - accepted - skipped;
    println!(
        "FIGURE [{backend}] settlement properties: {CASES} cases × {STEPS} steps = {steps_run} steps \
         ({accepted} accepted, {refused} refused 4xx, {skipped} with no order yet), invariants checked \
         after every step: audit 0 differences, vouchers ≥ 0 and conserved, Karin's credit ≥ 0 and \
         conserved, deferred ≤ maximum and = charges − settlements; orders {statuses:?}; {elapsed:.2}s"
    );
    let detail: Vec<String> = outcomes
        .iter()
        .map(|((name, label), n)| format!("{name} {label}: {n}"))
        .collect();
    println!(
        "FIGURE [{backend}] settlement properties, outcomes: {}",
        detail.join(", ")
    );
}

on_both_with!(
    settlement_invariants_hold_after_every_step,
    crate::helpers::lenient_code_limits
);

//! The settlement of an order (SPEC F1–F6): applying promo codes, vouchers and credit balance,
//! paying the remainder, cancelling and expiring. The domain decides every amount and every
//! posting; this module reads the order, asks the domain, and hands the store one list of
//! changes to apply atomically ([`OrderOp`]). When another request changed the order in
//! between, the store refuses the whole list and the operation is computed again.

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use guichet_domain::config::{ChannelKind, PaymentModeStatus, PaymentModeType};
use guichet_domain::order::LineKind;
use guichet_domain::postings::{self, AccountRef, OrderCommit, PostingError};
use guichet_domain::promo::{self, PromoCode};
use guichet_domain::settlement::{self, Applied, DeferredCheck, Remainder, SettlementError};
use guichet_domain::voucher::{self, VoucherCode};
use guichet_domain::{AccountKind, Money};
use guichet_store::{
    HoldStatus, LegKind, NewVoucher, Order, OrderLeg, OrderOp, OrderStatus, StoreError,
};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// How often an operation is recomputed when concurrent requests keep changing the order.
const ATTEMPTS_MAX: u32 = 8;

/// The figures of an order as the domain computes them from its stored state.
#[derive(Debug, Clone)]
pub struct Figures {
    /// (application, discount amount) for each promo code in force, in the order entered.
    pub discounts: Vec<(Uuid, Money)>,
    pub applied: Applied,
    pub amount_due: Money,
}

/// How much more may go on a contact's deferred account (0 when it is not allowed).
pub fn deferred_room(tab: &guichet_store::AccountingTab) -> Money {
    let zero = Money::zero(tab.deferred_max.currency());
    if !tab.deferred_allowed {
        return zero;
    }
    DeferredCheck {
        allowed: true,
        balance: tab.deferred_balance,
        max: tab.deferred_max,
    }
    .room()
    .unwrap_or(zero)
}

/// Live legs and codes: held while awaiting payment, committed once paid.
fn in_force(status: HoldStatus) -> bool {
    status != HoldStatus::Released
}

pub fn figures(order: &Order) -> Result<Figures, ApiError> {
    let promos: Vec<_> = order.promos.iter().filter(|p| in_force(p.status)).collect();
    let rules: Vec<_> = promos.iter().map(|p| p.rule.discount).collect();
    let amounts = promo::apply_discounts(order.total, &rules).map_err(internal)?;
    let discounts: Vec<(Uuid, Money)> = promos
        .iter()
        .map(|p| p.id)
        .zip(amounts.iter().copied())
        .collect();
    let legs_in_force = order.legs.iter().filter(|l| in_force(l.status));
    let mut voucher_holds = Vec::new();
    let mut credit_hold = Money::zero(order.currency);
    for leg in legs_in_force {
        match leg.kind {
            LegKind::Voucher => voucher_holds.push(leg.amount),
            LegKind::CreditBalance => {
                credit_hold = credit_hold.checked_add(leg.amount).map_err(internal)?
            }
            LegKind::DeferredAccount | LegKind::Card | LegKind::Installments => {}
        }
    }
    let applied = Applied {
        discounts: amounts,
        voucher_holds,
        credit_hold,
    };
    let amount_due = if order.status == OrderStatus::Paid {
        Money::zero(order.currency)
    } else {
        settlement::amount_due(order.total, &applied).map_err(internal)?
    };
    Ok(Figures {
        discounts,
        applied,
        amount_due,
    })
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "settlement computation failed");
    ApiError::internal()
}

pub(crate) fn posting(e: PostingError) -> ApiError {
    internal(e)
}

/// The one answer to a code that cannot be used, whatever the reason (unknown, expired, used
/// up, wrong channel…), so that guessing learns nothing.
pub fn code_refused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_not_applicable",
        "this code cannot be used for this order",
    )
}

fn settlement_error(e: SettlementError) -> ApiError {
    match e {
        SettlementError::DeferredNotAllowed => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "deferred_not_allowed",
            "the deferred account is not available for this order",
        ),
        SettlementError::DeferredOverMaximum { room } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "deferred_over_maximum",
            format!(
                "the deferred account's maximum outstanding would be exceeded (room left: {room})"
            ),
        ),
        SettlementError::RemainderNeedsMeans => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "remainder_needs_means",
            "an amount remains to be paid: choose a card or the deferred account",
        ),
        SettlementError::NothingToPay => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_pay",
            "nothing remains to be paid: pay with means \"none\"",
        ),
        SettlementError::NegativeRequest => {
            ApiError::unprocessable("the amount must not be negative")
        }
        other => internal(other),
    }
}

pub(crate) fn order_closed(order: &Order) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "order_closed",
        format!("the order is {}", order.status.as_str()),
    )
}

/// The ledger account of `kind` owned by `owner` (created on first use), as postings name it.
pub async fn account_ref(
    store: &guichet_store::DynStore,
    institution_id: Uuid,
    kind: AccountKind,
    owner: Uuid,
    currency: guichet_domain::Currency,
) -> Result<AccountRef, ApiError> {
    let id = store
        .ledger_account_id(institution_id, kind, owner, currency)
        .await?;
    Ok(AccountRef { id, kind })
}

/// An account in the order's institution and currency.
pub(crate) async fn account(
    state: &AppState,
    order: &Order,
    kind: AccountKind,
    owner: Uuid,
) -> Result<AccountRef, ApiError> {
    account_ref(
        &state.store,
        order.institution_id,
        kind,
        owner,
        order.currency,
    )
    .await
}

/// The kinds of payment mode usable at the order's point of sale (visible, available for payment).
pub(crate) async fn modes_at(
    state: &AppState,
    order: &Order,
) -> Result<Vec<PaymentModeType>, ApiError> {
    let modes = state
        .store
        .point_of_sale_payment_modes(order.point_of_sale_id)
        .await?;
    Ok(modes
        .into_iter()
        .filter(|m| m.fields.status == PaymentModeStatus::Visible && m.fields.available_for_payment)
        .map(|m| m.fields.mode_type)
        .collect())
}

async fn channel_of(state: &AppState, order: &Order) -> Result<ChannelKind, ApiError> {
    let pos = state
        .store
        .get_point_of_sale(order.point_of_sale_id)
        .await?;
    Ok(state
        .store
        .get_sales_channel(pos.sales_channel_id)
        .await?
        .kind)
}

pub(crate) fn mode_missing(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_mode_unavailable",
        format!("{what} is not accepted at this point of sale"),
    )
}

/// An order that may still change: awaiting payment and its holds not expired.
pub(crate) fn ensure_open(order: &Order, now: OffsetDateTime) -> Result<(), ApiError> {
    if order.status != OrderStatus::AwaitingPayment {
        return Err(order_closed(order));
    }
    if order.hold_expires_at <= now {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_expired",
            "the time to pay this order has run out",
        ));
    }
    card_not_in_progress(order)
}

/// While a card payment is with the provider, the order does not change (its amount due is
/// what the provider is charging).
pub(crate) fn card_not_in_progress(order: &Order) -> Result<(), ApiError> {
    if order
        .legs
        .iter()
        .any(|l| l.kind == LegKind::Card && l.status == HoldStatus::Held)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "payment_in_progress",
            "a card payment is in progress for this order; wait for its outcome",
        ));
    }
    Ok(())
}

/// Runs `plan` (read → decide → ops) until the store applies the ops on an unchanged order.
pub(crate) async fn with_retries<F, Fut>(
    state: &AppState,
    order_id: Uuid,
    plan: F,
) -> Result<Order, ApiError>
where
    F: FnMut(Order) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<OrderOp>, ApiError>>,
{
    let first = state.store.get_order(order_id).await?;
    with_retries_from(state, first, plan).await
}

/// [`with_retries`] whose first attempt decides on `first`, an order the caller has just
/// read: the store applies the ops only if the order's version is still `first`'s, and a
/// changed order is read again for the next attempt, so the outcome is the same with one
/// read fewer.
pub(crate) async fn with_retries_from<F, Fut>(
    state: &AppState,
    first: Order,
    mut plan: F,
) -> Result<Order, ApiError>
where
    F: FnMut(Order) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<OrderOp>, ApiError>>,
{
    let order_id = first.id;
    let mut seed = Some(first);
    for _ in 0..ATTEMPTS_MAX {
        let order = match seed.take() {
            Some(order) => order,
            None => state.store.get_order(order_id).await?,
        };
        let version = order.version;
        let ops = plan(order.clone()).await?;
        if ops.is_empty() {
            // Nothing to change (already settled, say): the order as read is the answer.
            // Applying nothing would still move its version and send every concurrent
            // "nothing to do" round again.
            return Ok(order);
        }
        match state.store.apply_order_ops(order_id, version, &ops).await {
            Ok(order) => return Ok(order),
            Err(StoreError::Conflict(c)) if c == "order_changed" => {
                tokio::task::yield_now().await;
                continue;
            }
            // A balance moved under us (another order spent the voucher or the credit, or
            // filled the deferred account): decide again on fresh figures, so the answer is
            // the domain's, not the guard's.
            Err(StoreError::Bounds { .. }) => {
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "concurrent_change",
        "the order is being changed by another request; try again",
    ))
}

/// Gives back, most recent first, holds that exceed what remains to pay after `discounts`
/// (a discount applied after a voucher must not leave the order overpaid).
async fn shrink_holds(
    state: &AppState,
    order: &Order,
    total_discounts: Money,
    ops: &mut Vec<OrderOp>,
) -> Result<(), ApiError> {
    let due_before_holds = order.total.checked_sub(total_discounts).map_err(internal)?;
    let mut held: Vec<&OrderLeg> = order
        .legs
        .iter()
        .filter(|l| {
            l.status == HoldStatus::Held
                && matches!(l.kind, LegKind::Voucher | LegKind::CreditBalance)
        })
        .collect();
    let held_total = Money::sum(order.currency, held.iter().map(|l| l.amount)).map_err(internal)?;
    let mut excess = held_total.checked_sub(due_before_holds).map_err(internal)?;
    held.sort_by_key(|l| std::cmp::Reverse((l.created_at, l.id)));
    let holds = account(state, order, AccountKind::Holds, order.id).await?;
    for leg in held {
        if !excess.is_positive() {
            break;
        }
        let give_back = leg.amount.min(excess).map_err(internal)?;
        let keep = leg.amount.checked_sub(give_back).map_err(internal)?;
        excess = excess.checked_sub(give_back).map_err(internal)?;
        release_leg(state, order, leg, give_back, keep, holds, ops).await?;
    }
    Ok(())
}

/// Releases `give_back` of a held leg, keeping `keep` held (released entirely when zero).
pub(crate) async fn release_leg(
    state: &AppState,
    order: &Order,
    leg: &OrderLeg,
    give_back: Money,
    keep: Money,
    holds: AccountRef,
    ops: &mut Vec<OrderOp>,
) -> Result<(), ApiError> {
    let source = match leg.kind {
        LegKind::Voucher => {
            account(state, order, AccountKind::VoucherLiability, leg.source_id).await?
        }
        LegKind::CreditBalance => {
            account(state, order, AccountKind::ContactCredit, leg.source_id).await?
        }
        // A card leg reserves nothing in the ledger: releasing it only closes it.
        LegKind::Card if keep.is_zero() => {
            ops.push(OrderOp::LegUpdate {
                leg_id: leg.id,
                to: HoldStatus::Released,
                amount: leg.amount,
            });
            return Ok(());
        }
        LegKind::DeferredAccount | LegKind::Card | LegKind::Installments => {
            return Err(internal("only internal holds are released"));
        }
    };
    ops.push(OrderOp::LegUpdate {
        leg_id: leg.id,
        to: if keep.is_zero() {
            HoldStatus::Released
        } else {
            HoldStatus::Held
        },
        amount: if keep.is_zero() { leg.amount } else { keep },
    });
    if give_back.is_positive() {
        let memo = format!("order {}: {} hold released", order.id, leg.kind.as_str());
        ops.push(OrderOp::Post(
            postings::release_hold(source, holds, give_back, &memo).map_err(posting)?,
        ));
    }
    if keep.is_zero() && leg.kind == LegKind::Voucher {
        ops.push(OrderOp::VoucherUnhold {
            voucher_id: leg.source_id,
        });
    }
    Ok(())
}

/// What applying a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    PromoCode,
    Voucher,
}

/// Applies a promo code or a voucher (Guichet tells which it is). Every refusal that depends
/// on the code itself answers [`code_refused`].
/// Applies a code to `order` (as the caller just read it; a change since is seen by the
/// store's version check and decided again).
pub async fn apply_code(
    state: &AppState,
    order: &Order,
    raw: &str,
    now: OffsetDateTime,
) -> Result<(Order, CodeKind), ApiError> {
    if VoucherCode::looks_like(raw) {
        let code = VoucherCode::parse(raw).map_err(|_| code_refused())?;
        let order = apply_voucher(state, order, &code, now).await?;
        Ok((order, CodeKind::Voucher))
    } else {
        let code = PromoCode::parse(raw).map_err(|_| code_refused())?;
        let order = apply_promo(state, order, &code, now).await?;
        Ok((order, CodeKind::PromoCode))
    }
}

async fn apply_promo(
    state: &AppState,
    first: &Order,
    code: &PromoCode,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let promo = state
        .store
        .promo_code_by_code(first.institution_id, code.as_str())
        .await?
        .filter(|p| p.active)
        .ok_or_else(code_refused)?;
    let channel = channel_of(state, first).await?;
    let result = with_retries_from(state, first.clone(), |order| {
        let promo = promo.clone();
        async move {
            ensure_open(&order, now)?;
            if order
                .promos
                .iter()
                .any(|p| p.promo_code_id == promo.id && in_force(p.status))
            {
                return Err(code_refused());
            }
            let by_contact = match order.contact_id {
                Some(c) => state.store.promo_uses_by_contact(promo.id, c).await?,
                None => 0,
            };
            let uses_total = u64::try_from(promo.uses_count).unwrap_or(0);
            promo::check_eligibility(
                &promo.rule,
                now,
                channel,
                order.total,
                uses_total,
                by_contact,
            )
            .map_err(|_| code_refused())?;
            let mut rules: Vec<_> = order
                .promos
                .iter()
                .filter(|p| in_force(p.status))
                .map(|p| p.rule.discount)
                .collect();
            rules.push(promo.rule.discount);
            let amounts =
                promo::apply_discounts(order.total, &rules).map_err(|_| code_refused())?;
            let total_discounts =
                Money::sum(order.currency, amounts.iter().copied()).map_err(internal)?;
            let position = order.promos.iter().map(|p| p.position).max().unwrap_or(0) + 1;
            let mut ops = vec![OrderOp::PromoHold {
                application_id: Uuid::now_v7(),
                promo_code_id: promo.id,
                contact_id: order.contact_id,
                position,
                max_uses_per_contact: promo.rule.max_uses_per_contact,
            }];
            shrink_holds(state, &order, total_discounts, &mut ops).await?;
            Ok(ops)
        }
    })
    .await;
    match result {
        Err(e) if e.code == "conflict" => Err(code_refused()),
        other => other,
    }
}

async fn apply_voucher(
    state: &AppState,
    first: &Order,
    code: &VoucherCode,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    ensure_open(first, now)?;
    if !modes_at(state, first)
        .await?
        .contains(&PaymentModeType::Voucher)
    {
        return Err(mode_missing("payment by gift voucher"));
    }
    let found = state
        .store
        .voucher_by_code(code.as_str())
        .await?
        .filter(|v| v.institution_id == first.institution_id)
        .ok_or_else(code_refused)?;
    let result = with_retries_from(state, first.clone(), |order| {
        let voucher_id = found.id;
        async move {
            ensure_open(&order, now)?;
            let v = state.store.get_voucher(voucher_id).await?;
            if order.legs.iter().any(|l| {
                l.kind == LegKind::Voucher && l.source_id == v.id && l.status == HoldStatus::Held
            }) {
                return Err(code_refused());
            }
            voucher::check_redeemable(v.balance, v.expires_at, now, order.currency)
                .map_err(|_| code_refused())?;
            let due = figures(&order)?.amount_due;
            if due.is_zero() {
                return Err(settlement_error(SettlementError::NothingToPay));
            }
            let amount = voucher::redemption_amount(v.balance, due).map_err(internal)?;
            let voucher_acct = account(state, &order, AccountKind::VoucherLiability, v.id).await?;
            let holds = account(state, &order, AccountKind::Holds, order.id).await?;
            let memo = format!("order {}: voucher held", order.id);
            Ok(vec![
                OrderOp::LegInsert {
                    leg_id: Uuid::now_v7(),
                    kind: LegKind::Voucher,
                    source_id: v.id,
                    amount,
                    status: HoldStatus::Held,
                },
                OrderOp::Post(
                    postings::hold_voucher(voucher_acct, holds, amount, &memo).map_err(posting)?,
                ),
            ])
        }
    })
    .await;
    match result {
        // Spent or taken by another order meanwhile: to the buyer, the code cannot be used.
        Err(e) if e.code == "insufficient_balance" || e.code == "conflict" => Err(code_refused()),
        other => other,
    }
}

/// Removes a promo code or a voucher from the order; its reservation is released.
pub async fn remove_code(
    state: &AppState,
    order_id: Uuid,
    raw: &str,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let voucher_code = VoucherCode::looks_like(raw)
        .then(|| VoucherCode::parse(raw).ok())
        .flatten();
    let promo_code = PromoCode::parse(raw).ok();
    let voucher_id = match &voucher_code {
        Some(c) => state.store.voucher_by_code(c.as_str()).await?.map(|v| v.id),
        None => None,
    };
    with_retries(state, order_id, |order| {
        let promo_code = promo_code.clone();
        async move {
            ensure_open(&order, now)?;
            if let Some(vid) = voucher_id {
                let leg = order
                    .legs
                    .iter()
                    .find(|l| {
                        l.kind == LegKind::Voucher
                            && l.source_id == vid
                            && l.status == HoldStatus::Held
                    })
                    .ok_or_else(|| ApiError::not_found("applied code"))?;
                let holds = account(state, &order, AccountKind::Holds, order.id).await?;
                let mut ops = Vec::new();
                release_leg(
                    state,
                    &order,
                    leg,
                    leg.amount,
                    Money::zero(order.currency),
                    holds,
                    &mut ops,
                )
                .await?;
                return Ok(ops);
            }
            let code = promo_code.ok_or_else(|| ApiError::not_found("applied code"))?;
            let app = order
                .promos
                .iter()
                .find(|p| p.code == code.as_str() && p.status == HoldStatus::Held)
                .ok_or_else(|| ApiError::not_found("applied code"))?;
            Ok(vec![OrderOp::PromoSettle {
                application_id: app.id,
                to: HoldStatus::Released,
            }])
        }
    })
    .await
}

/// Uses (part of) the contact's credit balance; zero stops using it.
pub async fn set_credit(
    state: &AppState,
    order_id: Uuid,
    requested: Money,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let first = state.store.get_order(order_id).await?;
    ensure_open(&first, now)?;
    let contact_id = first.contact_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_contact",
            "the order has no contact, so no credit balance",
        )
    })?;
    if requested.currency() != first.currency {
        return Err(ApiError::unprocessable(
            "the amount must be in the order's currency",
        ));
    }
    if !modes_at(state, &first)
        .await?
        .contains(&PaymentModeType::CreditBalance)
    {
        return Err(mode_missing("payment by credit balance"));
    }
    with_retries(state, order_id, |order| async move {
        ensure_open(&order, now)?;
        let tab = state.store.accounting_tab(contact_id).await?;
        let current: Option<&OrderLeg> = order
            .legs
            .iter()
            .find(|l| l.kind == LegKind::CreditBalance && l.status == HoldStatus::Held);
        let held = current.map_or(Money::zero(order.currency), |l| l.amount);
        let figs = figures(&order)?;
        let due_before_credit = settlement::amount_due_before_credit(order.total, &figs.applied)
            .map_err(settlement_error)?;
        let available = tab.credit_balance.checked_add(held).map_err(internal)?;
        let wanted = settlement::credit_to_use(requested, available, due_before_credit)
            .map_err(settlement_error)?;
        let credit = account(state, &order, AccountKind::ContactCredit, contact_id).await?;
        let holds = account(state, &order, AccountKind::Holds, order.id).await?;
        let memo = format!("order {}: credit balance held", order.id);
        let mut ops = Vec::new();
        match current {
            None if wanted.is_positive() => {
                ops.push(OrderOp::LegInsert {
                    leg_id: Uuid::now_v7(),
                    kind: LegKind::CreditBalance,
                    source_id: contact_id,
                    amount: wanted,
                    status: HoldStatus::Held,
                });
                ops.push(OrderOp::Post(
                    postings::hold_credit(credit, holds, wanted, &memo).map_err(posting)?,
                ));
            }
            None => {}
            Some(leg) if wanted.amount_minor() > held.amount_minor() => {
                let more = wanted.checked_sub(held).map_err(internal)?;
                ops.push(OrderOp::LegUpdate {
                    leg_id: leg.id,
                    to: HoldStatus::Held,
                    amount: wanted,
                });
                ops.push(OrderOp::Post(
                    postings::hold_credit(credit, holds, more, &memo).map_err(posting)?,
                ));
            }
            Some(leg) if wanted.amount_minor() < held.amount_minor() => {
                let less = held.checked_sub(wanted).map_err(internal)?;
                release_leg(state, &order, leg, less, wanted, holds, &mut ops).await?;
            }
            Some(_) => {}
        }
        Ok(ops)
    })
    .await
}

/// Pays what remains with `means` and commits every reservation with the payment.
pub async fn pay(
    state: &AppState,
    order_id: Uuid,
    means: Remainder,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let first = state.store.get_order(order_id).await?;
    if first.status == OrderStatus::Paid {
        return Ok(first);
    }
    ensure_open(&first, now)?;
    let modes = modes_at(state, &first).await?;
    if means == Remainder::Card {
        if !modes.contains(&PaymentModeType::Card) {
            return Err(mode_missing("payment by card"));
        }
        // Card payments go through the provider: `crate::cards::pay_by_card`.
        return Err(internal("card payments are settled by crate::cards"));
    }
    if means == Remainder::DeferredAccount && !modes.contains(&PaymentModeType::DeferredAccount) {
        return Err(mode_missing("payment on the deferred account"));
    }
    let result = with_retries(state, order_id, |order| {
        let modes = modes.clone();
        async move {
            ensure_open(&order, now)?;
            let figs = figures(&order)?;
            let deferred_check = match (means, order.contact_id) {
                (Remainder::DeferredAccount, Some(c))
                    if modes.contains(&PaymentModeType::DeferredAccount) =>
                {
                    let tab = state.store.accounting_tab(c).await?;
                    Some(DeferredCheck {
                        allowed: tab.deferred_allowed,
                        balance: tab.deferred_balance,
                        max: tab.deferred_max,
                    })
                }
                _ => None,
            };
            let remainder =
                settlement::choose_remainder(figs.amount_due, means, deferred_check.as_ref())
                    .map_err(settlement_error)?;
            let amounts = settlement::commit_amounts(order.total, &figs.applied, remainder)
                .map_err(settlement_error)?;
            commit_ops(state, &order, &figs, amounts, None, now).await
        }
    })
    .await;
    match result {
        // Another purchase took the room between our check and the ledger's guard.
        Err(e) if e.code == "insufficient_balance" => {
            let room = match first.contact_id {
                Some(c) => deferred_room(&state.store.accounting_tab(c).await?),
                None => Money::zero(first.currency),
            };
            Err(settlement_error(SettlementError::DeferredOverMaximum {
                room,
            }))
        }
        other => other,
    }
}

/// The changes that commit a paid order: legs and codes committed, single-use vouchers
/// closed, bought vouchers issued, one balanced order transaction, the status, the webhooks.
/// What a captured card payment brings to an order's commit.
pub(crate) struct CardCommit {
    /// The channel's provider clearing account.
    pub clearing: AccountRef,
    /// Installments: the card paid the first one; the rest is owed.
    pub installments: Option<InstallmentsCommit>,
}

/// The part of the card's amount later installments owe, and the schedule.
pub(crate) struct InstallmentsCommit {
    /// The order's `installments_receivable` account.
    pub receivable: AccountRef,
    /// What later installments owe (the card's amount less the first installment).
    pub owed: Money,
    pub plan_id: Uuid,
    pub rows: Vec<guichet_store::NewInstallment>,
}

pub(crate) async fn commit_ops(
    state: &AppState,
    order: &Order,
    figs: &Figures,
    amounts: settlement::CommitAmounts,
    card: Option<CardCommit>,
    now: OffsetDateTime,
) -> Result<Vec<OrderOp>, ApiError> {
    let mut ops = Vec::new();
    let (card, installments) = match (card, amounts.card.is_positive()) {
        (Some(c), true) => match c.installments {
            Some(i) => {
                let first = amounts.card.checked_sub(i.owed).map_err(internal)?;
                if !first.is_positive() || i.owed.is_negative() {
                    return Err(internal("installments owe more than the card pays"));
                }
                (Some((c.clearing, first)), Some(i))
            }
            None => (Some((c.clearing, amounts.card)), None),
        },
        (None, false) => (None, None),
        _ => return Err(internal("card amount and card account disagree")),
    };
    let mut owed = None;
    if let Some(i) = installments {
        if i.owed.is_positive() {
            ops.push(OrderOp::LegInsert {
                leg_id: Uuid::now_v7(),
                kind: LegKind::Installments,
                source_id: i.plan_id,
                amount: i.owed,
                status: HoldStatus::Committed,
            });
            owed = Some((i.receivable, i.owed));
        }
        ops.push(OrderOp::InstallmentsInsert(i.rows));
    }
    let sales = account(state, order, AccountKind::Sales, order.institution_id).await?;
    let discounts = account(state, order, AccountKind::Discounts, order.institution_id).await?;
    let holds = account(state, order, AccountKind::Holds, order.id).await?;
    for p in order.promos.iter().filter(|p| p.status == HoldStatus::Held) {
        ops.push(OrderOp::PromoSettle {
            application_id: p.id,
            to: HoldStatus::Committed,
        });
    }
    for leg in order.legs.iter().filter(|l| l.status == HoldStatus::Held) {
        ops.push(OrderOp::LegUpdate {
            leg_id: leg.id,
            to: HoldStatus::Committed,
            amount: leg.amount,
        });
        if leg.kind == LegKind::Voucher {
            let v = state.store.get_voucher(leg.source_id).await?;
            let rest = voucher::forfeited_on_commit(v.reusable, v.balance);
            if rest.is_positive() {
                let acct = account(state, order, AccountKind::VoucherLiability, v.id).await?;
                let memo = format!("order {}: single-use voucher closed", order.id);
                ops.push(OrderOp::Post(
                    postings::forfeit_voucher(acct, sales, rest, &memo).map_err(posting)?,
                ));
            }
        }
    }
    let mut deferred = None;
    if amounts.deferred.is_positive() {
        let contact = order
            .contact_id
            .ok_or_else(|| internal("deferred without contact"))?;
        let acct = account(state, order, AccountKind::ContactDeferred, contact).await?;
        ops.push(OrderOp::LegInsert {
            leg_id: Uuid::now_v7(),
            kind: LegKind::DeferredAccount,
            source_id: contact,
            amount: amounts.deferred,
            status: HoldStatus::Committed,
        });
        deferred = Some((acct, amounts.deferred));
    }

    // Vouchers bought in this order, one per unit, issued with the payment.
    let mut issued = Vec::new();
    let mut issued_codes = Vec::new();
    for line in order.lines.iter().filter(|l| l.kind == LineKind::Voucher) {
        let product_id = line
            .voucher_product_id
            .ok_or_else(|| internal("voucher line without product"))?;
        let product = state.store.get_voucher_product(product_id).await?;
        let face = voucher::face_value(&product.rule, line.unit_amount).map_err(internal)?;
        let expires_at = voucher::expiry(&product.rule, now).map_err(internal)?;
        for _ in 0..line.quantity {
            let mut random = [0u8; 10];
            getrandom::fill(&mut random).map_err(internal)?;
            let code = VoucherCode::generate(random);
            let id = Uuid::now_v7();
            let acct = account(state, order, AccountKind::VoucherLiability, id).await?;
            issued.push((acct, face, line.unit_amount));
            issued_codes.push((id, code.as_str().to_owned(), face, expires_at));
            ops.push(OrderOp::IssueVoucher(NewVoucher {
                id,
                institution_id: order.institution_id,
                code: code.as_str().to_owned(),
                product_id: Some(product_id),
                face_value: face,
                reusable: product.rule.reusable,
                expires_at,
                issued_order_id: Some(order.id),
            }));
        }
    }
    let commit = OrderCommit {
        memo: format!("order {} paid", order.id),
        sales,
        discounts,
        holds,
        total: order.total,
        discount_total: amounts.discount_total,
        held_total: amounts.held_total,
        deferred,
        card,
        installments: owed,
        issued_vouchers: issued,
    };
    match postings::commit_order(&commit) {
        Ok(t) => ops.push(OrderOp::Post(t)),
        // A free order that issues nothing moves no money.
        Err(PostingError::ZeroAmount) => {}
        Err(e) => return Err(posting(e)),
    }
    ops.push(OrderOp::SetStatus {
        to: OrderStatus::Paid,
    });
    if let Some(shop) = order.shop_key_id {
        let data = serde_json::json!({
            "order_id": order.id,
            "status": "paid",
            "total": crate::admin::MoneyJson::from(order.total),
            "discounts_minor": amounts.discount_total.amount_minor(),
            "paid_internally_minor": amounts.held_total.amount_minor(),
            "deferred_minor": amounts.deferred.amount_minor(),
            "card_minor": amounts.card.amount_minor(),
            "codes": figs.discounts.len(),
        });
        ops.push(webhook(shop, "order.paid", data, now));
        for (id, code, face, expires_at) in issued_codes {
            let data = serde_json::json!({
                "order_id": order.id,
                "voucher_id": id,
                "code": code,
                "value": crate::admin::MoneyJson::from(face),
                "expires_at": expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            });
            ops.push(webhook(shop, "voucher.issued", data, now));
        }
    }
    Ok(ops)
}

pub(crate) fn webhook(
    shop_key_id: Uuid,
    event_type: &str,
    data: serde_json::Value,
    now: OffsetDateTime,
) -> OrderOp {
    let event_id = Uuid::now_v7();
    OrderOp::Webhook {
        shop_key_id,
        event_id,
        event_type: event_type.to_owned(),
        payload: crate::webhooks::event_body(event_id, event_type, now, data),
    }
}

/// Releases every reservation of an unpaid order: held legs (voucher and credit holds go back
/// through the ledger, a card leg just closes) and promo uses.
pub(crate) async fn release_all(state: &AppState, order: &Order) -> Result<Vec<OrderOp>, ApiError> {
    let mut ops = Vec::new();
    let holds = account(state, order, AccountKind::Holds, order.id).await?;
    for leg in order.legs.iter().filter(|l| l.status == HoldStatus::Held) {
        release_leg(
            state,
            order,
            leg,
            leg.amount,
            Money::zero(order.currency),
            holds,
            &mut ops,
        )
        .await?;
    }
    for p in order.promos.iter().filter(|p| p.status == HoldStatus::Held) {
        ops.push(OrderOp::PromoSettle {
            application_id: p.id,
            to: HoldStatus::Released,
        });
    }
    Ok(ops)
}

/// Cancels (buyer or shop) or expires (job runner) an unpaid order, releasing everything it
/// reserved. A closed order is returned as it is when it already has the wanted status.
pub async fn close(
    state: &AppState,
    order_id: Uuid,
    to: OrderStatus,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    with_retries(state, order_id, |order| async move {
        if order.status == to {
            return Ok(Vec::new());
        }
        if order.status != OrderStatus::AwaitingPayment {
            return Err(order_closed(&order));
        }
        card_not_in_progress(&order)?;
        let mut ops = release_all(state, &order).await?;
        ops.push(OrderOp::SetStatus { to });
        if let Some(shop) = order.shop_key_id {
            let data = serde_json::json!({"order_id": order.id, "status": to.as_str()});
            ops.push(webhook(shop, "order.cancelled", data, now));
        }
        Ok(ops)
    })
    .await
}

/// Expires orders whose holds ran out (job runner); returns how many were expired.
pub async fn expire_due(
    state: &AppState,
    now: OffsetDateTime,
    limit: u32,
) -> Result<usize, ApiError> {
    let ids = state.store.expired_orders(now, limit).await?;
    let mut n = 0;
    for id in ids {
        match close(state, id, OrderStatus::Expired, now).await {
            Ok(_) => n += 1,
            // Paid or cancelled meanwhile: nothing to expire. A card payment still with the
            // provider is settled by the recovery job first.
            Err(e) if e.code == "order_closed" || e.code == "payment_in_progress" => {}
            Err(e) => tracing::warn!(order = %id, error = %e.message, "expiring an order failed"),
        }
    }
    Ok(n)
}

//! Payment in installments (SPEC F10, F15). The checkout offers the point of sale's active
//! plans the domain finds eligible for the amount the card pays (`offers`); the first
//! installment is a customer-present card payment that keeps the card as a saved alias; once
//! it is captured the order is committed with what later installments owe on the order's
//! `installments_receivable` account and the schedule is written (`cards::settle`). The job
//! runner (`charge_due`) claims due installments — a lease in the database, so several runners
//! never charge one installment twice — and charges each with the saved alias,
//! merchant-initiated (ECI 9, no CVV); a capture moves the amount from the receivable to the
//! provider clearing account; a decline is retried on `ServerConfig::installment_retry_hours`,
//! then the installment is flagged failed and `installment.failed` goes to the shop.

use crate::AppState;
use crate::checkout::{self, account, internal, posting, webhook};
use crate::error::{ApiError, ApiResult};
use crate::psp::{self, Account, Charge, Verdict};
use axum::http::StatusCode;
use guichet_domain::installments::{Eligibility, Installment, eligibility};
use guichet_domain::{AccountKind, Money, postings};
use guichet_store::{
    CardDetails, CardPayment, CardPaymentStatus, InstallmentPlanRow, InstallmentRow,
    InstallmentStatus, LegKind, NewCardPayment, Order, OrderOp, PaymentInitiator,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a runner's claim on an installment lasts: longer than a provider call.
pub const CLAIM_LEASE: Duration = Duration::minutes(5);

/// The point of sale's active plans the domain offers for `amount` (what the card pays), with
/// their schedules starting today.
pub async fn offers(
    state: &AppState,
    order: &Order,
    amount: Money,
    today: time::Date,
) -> ApiResult<Vec<(InstallmentPlanRow, Vec<Installment>)>> {
    if !amount.is_positive() {
        return Ok(Vec::new());
    }
    let plans = state
        .store
        .list_installment_plans(Some(order.point_of_sale_id))
        .await?;
    Ok(plans
        .into_iter()
        .filter(|p| p.active)
        .filter_map(
            |p| match eligibility(&p.plan, amount, today, order.first_event_at) {
                Eligibility::Offered(schedule) => Some((p, schedule)),
                Eligibility::NotOffered(_) => None,
            },
        )
        .collect())
}

/// The plan the buyer chose, with its schedule; 422 when it is not offered for this order.
pub async fn chosen(
    state: &AppState,
    order: &Order,
    plan_id: Uuid,
    amount: Money,
    today: time::Date,
) -> ApiResult<(InstallmentPlanRow, Vec<Installment>)> {
    let refused = |why: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "installment_plan_not_offered",
            why,
        )
    };
    let plan = match state.store.get_installment_plan(plan_id).await {
        Ok(p) if p.point_of_sale_id == order.point_of_sale_id && p.active => p,
        _ => return Err(refused("no such plan for this point of sale".to_owned())),
    };
    match eligibility(&plan.plan, amount, today, order.first_event_at) {
        Eligibility::Offered(schedule) => Ok((plan, schedule)),
        Eligibility::NotOffered(why) => Err(refused(format!(
            "this plan is not offered for this order: {why}"
        ))),
    }
}

/// One pass of the installment runner: claims what is due and charges it. Returns how many
/// installments were charged (captured or declined); unknown outcomes are left to recovery.
pub async fn charge_due(state: &AppState, now: OffsetDateTime, limit: u32) -> usize {
    let claimed = match state
        .store
        .claim_due_installments(now, now + CLAIM_LEASE, limit)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "installments: claiming due installments failed");
            return 0;
        }
    };
    // The claimed installments are charged CHARGE_CONCURRENCY at once: each waits mostly for
    // the provider and the database, and each is guarded on its own (claim, order version,
    // payment status), so two of the same order simply retry on the fresh order.
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(CHARGE_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for inst in claimed {
        let state = state.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            match charge_one(&state, &inst, now).await {
                Ok(true) => 1usize,
                Ok(false) => 0,
                Err(e) => {
                    tracing::warn!(installment = %inst.id, error = %e.message, "installment not charged");
                    let _ = state.store.release_installment_claim(inst.id).await;
                    0
                }
            }
        });
    }
    let mut charged = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(n) => charged += n,
            Err(e) => tracing::error!(error = %e, "an installment charge panicked"),
        }
    }
    charged
}

/// Installments of a claimed batch charged at once by one runner.
pub const CHARGE_CONCURRENCY: usize = 16;

/// Charges one claimed installment with its saved card. `Ok(false)`: nothing was settled now
/// (a payment of it is already in flight, or the outcome is unknown).
async fn charge_one(
    state: &AppState,
    inst: &InstallmentRow,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    let order = state.store.get_order(inst.order_id).await?;
    let payments = state.store.card_payments_of_order(order.id).await?;
    if payments
        .iter()
        .any(|p| p.installment_id == Some(inst.id) && p.status.is_open())
    {
        // A charge whose outcome is not known yet: the recovery job settles it.
        state.store.release_installment_claim(inst.id).await?;
        return Ok(false);
    }
    let leg = order
        .legs
        .iter()
        .find(|l| l.kind == LegKind::Installments)
        .ok_or_else(|| internal("installment order without its installments leg"))?;
    let card = match inst.saved_card_id {
        Some(id) => state.store.get_saved_card(id).await.ok(),
        None => None,
    };
    let payment_id = Uuid::now_v7();
    let reference = crate::cards::reference_of(payment_id);
    let Some(card) = card else {
        // The card is gone (deleted by the buyer): nothing can be charged; flagged at once.
        give_up(state, &order, inst, "the saved card was deleted", now).await?;
        return Ok(true);
    };
    let account_ps = Account::load(state, card.sales_channel_id).await?;
    let insert = NewCardPayment {
        id: payment_id,
        leg_id: leg.id,
        sales_channel_id: card.sales_channel_id,
        provider: account_ps.provider(),
        reference: reference.clone(),
        amount: inst.amount,
        three_ds_required: false,
        three_ds_reason: "merchant_initiated".to_owned(),
        card: CardDetails {
            alias: Some(card.alias.clone()),
            masked_pan: Some(card.masked_pan.clone()),
            brand: Some(card.brand.clone()),
            expiry: Some(card.expiry.clone()),
            holder: Some(card.holder.clone()),
        },
        next_check_at: now + state.config.provider_timeout + Duration::seconds(5),
        installment_id: Some(inst.id),
        initiator: PaymentInitiator::Merchant,
        save_card: false,
        installment_plan_id: None,
    };
    let inst_id = inst.id;
    let order = checkout::with_retries_from(state, order, |_order| {
        let insert = insert.clone();
        async move {
            // Paid or cancelled meanwhile by the back office: not charged.
            if state.store.get_installment(inst_id).await?.status != InstallmentStatus::Open {
                return Err(moved());
            }
            Ok(vec![OrderOp::CardPaymentInsert(insert)])
        }
    })
    .await?;
    tracing::info!(order = %order.id, installment = %inst.id, number = inst.number,
        reference = %reference, amount = %inst.amount, "installment sent to the provider");
    let verdict = account_ps
        .charge(&Charge {
            reference,
            amount: inst.amount,
            alias: Some(card.alias.clone()),
            three_ds: false,
            language: order.language.clone(),
            browser: psp::Browser::default(),
            client_ip: "unknown".to_owned(),
            return_base: format!("{}/psp", state.config.base_url),
            merchant_initiated: true,
        })
        .await;
    let settled = !matches!(
        verdict,
        Verdict::Unknown { .. } | Verdict::Waiting { .. } | Verdict::Redirect { .. }
    );
    // Settled on the payment and the order as they stood after the insert; the store's guards
    // send a stale decision round again.
    let payment = state.store.get_card_payment(payment_id).await?;
    crate::cards::settle_payment(state, payment, Some(order), verdict, now).await?;
    Ok(settled)
}

/// An installment that cannot be charged any more: flagged failed, the shop told.
async fn give_up(
    state: &AppState,
    order: &Order,
    inst: &InstallmentRow,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let inst = inst.clone();
    let reason = reason.to_owned();
    checkout::with_retries(state, order.id, |order| {
        let inst = inst.clone();
        let reason = reason.clone();
        async move {
            let mut ops = vec![OrderOp::InstallmentSet {
                id: inst.id,
                from: vec![InstallmentStatus::Open],
                to: InstallmentStatus::Failed,
                attempts_increment: true,
                next_attempt_at: None,
                card_payment_id: None,
                failure_reason: Some(reason.clone()),
                paid_at: None,
            }];
            if let Some(shop) = order.shop_key_id {
                ops.push(failed_webhook(shop, &order, &inst, &reason, now));
            }
            Ok(ops)
        }
    })
    .await?;
    Ok(())
}

fn failed_webhook(
    shop: Uuid,
    order: &Order,
    inst: &InstallmentRow,
    reason: &str,
    now: OffsetDateTime,
) -> OrderOp {
    let data = serde_json::json!({
        "order_id": order.id,
        "installment_id": inst.id,
        "number": inst.number,
        "amount": crate::admin::MoneyJson::from(inst.amount),
        "attempts": inst.attempts + 1,
        "reason": reason,
    });
    webhook(shop, "installment.failed", data, now)
}

/// When a declined installment is tried again: the retry schedule's next step, or `None` when
/// the retries are spent (`attempts` counts the tries made, this one included).
pub fn next_try(retry_hours: &[u32], attempts: u32, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    retry_hours
        .get(index)
        .map(|h| now + Duration::hours(i64::from(*h)))
}

/// Settles a merchant-initiated payment of an installment (called by `cards::settle` for a
/// payment that names an installment; idempotent like it).
///
/// `seed`: the order as the caller read it just before `payment`, if it has it (see
/// `cards::settle_payment`).
pub async fn settle(
    state: &AppState,
    payment: &CardPayment,
    seed: Option<Order>,
    installment_id: Uuid,
    verdict: Verdict,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let payment = payment.clone();
    // As in `cards::settle_payment`: `payment` is trusted on the first attempt only when it
    // was read after the seed order.
    let mut fresh = seed.is_some().then(|| payment.clone());
    let seed = match seed {
        Some(order) => order,
        None => state.store.get_order(payment.order_id).await?,
    };
    let result = checkout::with_retries_from(state, seed, |order| {
        let verdict = verdict.clone();
        let payment = payment.clone();
        let fresh = fresh.take();
        async move {
            let current = match fresh {
                Some(p) => p,
                None => state.store.get_card_payment(payment.id).await?,
            };
            if !current.status.is_open() {
                return Ok(Vec::new());
            }
            let inst = state.store.get_installment(installment_id).await?;
            let set_payment = |to: CardPaymentStatus,
                               payid: Option<String>,
                               status: Option<String>,
                               reason: Option<String>| {
                OrderOp::CardPaymentSet {
                    id: payment.id,
                    from: vec![
                        CardPaymentStatus::PendingProvider,
                        CardPaymentStatus::AwaitingThreeDs,
                    ],
                    to,
                    payid,
                    provider_status: status,
                    failure_reason: reason,
                    next_check_at: None,
                }
            };
            let (payid, status, reason, to) = match verdict {
                Verdict::Captured { payid, status } => {
                    let clearing = account(
                        state,
                        &order,
                        AccountKind::ProviderClearing,
                        payment.sales_channel_id,
                    )
                    .await?;
                    let receivable =
                        account(state, &order, AccountKind::InstallmentsReceivable, order.id)
                            .await?;
                    let memo = format!("order {}: installment {} captured", order.id, inst.number);
                    let mut ops = vec![
                        set_payment(CardPaymentStatus::Captured, payid, Some(status), None),
                        OrderOp::Post(
                            postings::installment_capture(
                                clearing,
                                receivable,
                                payment.amount,
                                &memo,
                            )
                            .map_err(posting)?,
                        ),
                        OrderOp::InstallmentSet {
                            id: inst.id,
                            from: vec![InstallmentStatus::Open, InstallmentStatus::Failed],
                            to: InstallmentStatus::Paid,
                            attempts_increment: true,
                            next_attempt_at: None,
                            card_payment_id: Some(payment.id),
                            failure_reason: None,
                            paid_at: Some(now),
                        },
                    ];
                    if let Some(shop) = order.shop_key_id {
                        let data = serde_json::json!({
                            "order_id": order.id,
                            "installment_id": inst.id,
                            "number": inst.number,
                            "amount": crate::admin::MoneyJson::from(inst.amount),
                        });
                        ops.push(webhook(shop, "installment.paid", data, now));
                    }
                    return Ok(ops);
                }
                Verdict::Declined {
                    payid,
                    status,
                    reason,
                } => (payid, Some(status), reason, CardPaymentStatus::Declined),
                Verdict::Abandoned { reason } => (None, None, reason, CardPaymentStatus::Abandoned),
                Verdict::NotTaken { reason } => (None, None, reason, CardPaymentStatus::Failed),
                Verdict::ThreeDs { payid, .. } => (
                    payid,
                    Some("46".to_owned()),
                    "the issuer asked for 3-D Secure on a merchant-initiated payment".to_owned(),
                    CardPaymentStatus::Declined,
                ),
                Verdict::Redirect { .. } | Verdict::Waiting { .. } | Verdict::Unknown { .. } => {
                    return Ok(Vec::new());
                }
            };
            let attempts = inst.attempts + 1;
            let retry = next_try(&state.config.installment_retry_hours, attempts, now);
            let mut ops = vec![
                set_payment(to, payid, status, Some(reason.clone())),
                OrderOp::InstallmentSet {
                    id: inst.id,
                    from: vec![InstallmentStatus::Open],
                    to: if retry.is_some() {
                        InstallmentStatus::Open
                    } else {
                        InstallmentStatus::Failed
                    },
                    attempts_increment: true,
                    next_attempt_at: retry,
                    card_payment_id: Some(payment.id),
                    failure_reason: Some(reason.clone()),
                    paid_at: None,
                },
            ];
            if retry.is_none()
                && let Some(shop) = order.shop_key_id
            {
                ops.push(failed_webhook(shop, &order, &inst, &reason, now));
            }
            if retry.is_none() {
                tracing::warn!(order = %order.id, installment = %inst.id, %reason,
                    "installment failed after its retries");
            }
            Ok(ops)
        }
    })
    .await;
    match result {
        Ok(order) => Ok(order),
        Err(e) if e.is_conflict("card_payment_moved") || e.is_conflict("installment_moved") => {
            Ok(state.store.get_order(payment.order_id).await?)
        }
        Err(e) => Err(e),
    }
}

// ---- the back office's actions on a failed installment (SPEC F10) -------------------------

fn moved() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "installment_moved",
        "the installment changed meanwhile: look at it again",
    )
}

/// The store's refusal of a conditional installment move (`Conflict("installment_moved")`).
fn is_moved(e: &ApiError) -> bool {
    e.is_conflict("installment_moved")
}

fn not_failed(inst: &InstallmentRow) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "installment_not_failed",
        format!(
            "only a failed installment can be retried or cancelled (it is {})",
            inst.status.as_str()
        ),
    )
}

/// "Retry now": a failed installment is charged again at once with its saved card (admins
/// only). It is reopened first, by a conditional move from `failed`, so two clicks charge it
/// once; its next attempt is put a lease away, so the job runner leaves it to this call. A
/// capture pays it (Dr clearing, Cr receivable); a decline leaves it failed. Returns it as it
/// ends.
pub async fn retry_now(
    state: &AppState,
    staff: &crate::auth::Staff,
    id: Uuid,
    now: OffsetDateTime,
) -> ApiResult<InstallmentRow> {
    staff.require_admin()?;
    let inst = state.store.get_installment(id).await?;
    if inst.status != InstallmentStatus::Failed {
        return Err(not_failed(&inst));
    }
    let reopen = checkout::with_retries(state, inst.order_id, |_order| async move {
        Ok(vec![OrderOp::InstallmentSet {
            id,
            from: vec![InstallmentStatus::Failed],
            to: InstallmentStatus::Open,
            attempts_increment: false,
            next_attempt_at: Some(now + CLAIM_LEASE),
            card_payment_id: None,
            failure_reason: None,
            paid_at: None,
        }])
    })
    .await;
    match reopen {
        Ok(_) => {}
        Err(e) if is_moved(&e) => return Err(moved()),
        Err(e) => return Err(e),
    }
    let inst = state.store.get_installment(id).await?;
    tracing::info!(installment = %id, order = %inst.order_id, by = %staff.user.username, "installment retried by the back office");
    charge_one(state, &inst, now).await?;
    Ok(state.store.get_installment(id).await?)
}

/// "Cancel": a failed installment will not be collected (admins only): cancelled, and what it
/// owed leaves the order's receivable (Dr refunds, Cr receivable).
pub async fn cancel_failed(
    state: &AppState,
    staff: &crate::auth::Staff,
    id: Uuid,
) -> ApiResult<InstallmentRow> {
    staff.require_admin()?;
    let inst = state.store.get_installment(id).await?;
    if inst.status != InstallmentStatus::Failed {
        return Err(not_failed(&inst));
    }
    let by = staff.user.username.clone();
    let result = checkout::with_retries(state, inst.order_id, |order| {
        let inst = inst.clone();
        let by = by.clone();
        async move {
            let refunds =
                account(state, &order, AccountKind::Refunds, order.institution_id).await?;
            let receivable =
                account(state, &order, AccountKind::InstallmentsReceivable, order.id).await?;
            let memo = format!(
                "order {}: installment {} cancelled by {by}",
                order.id, inst.number
            );
            Ok(vec![
                OrderOp::InstallmentSet {
                    id: inst.id,
                    from: vec![InstallmentStatus::Failed],
                    to: InstallmentStatus::Cancelled,
                    attempts_increment: false,
                    next_attempt_at: None,
                    card_payment_id: None,
                    failure_reason: Some(format!("cancelled by the back office ({by})")),
                    paid_at: None,
                },
                OrderOp::Post(
                    postings::installments_cancel(refunds, receivable, inst.amount, &memo)
                        .map_err(posting)?,
                ),
            ])
        }
    })
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_moved(&e) => return Err(moved()),
        Err(e) => return Err(e),
    }
    tracing::info!(installment = %id, order = %inst.order_id, by = %by, "installment cancelled by the back office");
    Ok(state.store.get_installment(id).await?)
}

/// How a box office was paid for an installment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherMeans {
    Cash,
    Cheque,
}

impl OtherMeans {
    pub fn parse(s: &str) -> Option<OtherMeans> {
        match s {
            "cash" => Some(OtherMeans::Cash),
            "cheque" => Some(OtherMeans::Cheque),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OtherMeans::Cash => "cash",
            OtherMeans::Cheque => "cheque",
        }
    }
}

/// "Record another payment": the buyer paid at the box office (cash or cheque); the payment
/// goes to the order's oldest unpaid installment (open or failed), which it pays in full
/// (admins only): Dr cash, Cr receivable, `installment.paid` to the shop. Refused while a card
/// charge of that installment is in flight. Returns the installment paid.
pub async fn record_other_payment(
    state: &AppState,
    staff: &crate::auth::Staff,
    order_id: Uuid,
    means: OtherMeans,
    reference: &str,
    now: OffsetDateTime,
) -> ApiResult<InstallmentRow> {
    staff.require_admin()?;
    let by = staff.user.username.clone();
    let paid: std::sync::Mutex<Option<Uuid>> = std::sync::Mutex::new(None);
    let paid_ref = &paid;
    let result = checkout::with_retries(state, order_id, |order| {
        let by = by.clone();
        async move {
            let installments = state.store.installments_of_order(order.id).await?;
            let Some(inst) = installments
                .iter()
                .filter(|i| {
                    matches!(
                        i.status,
                        InstallmentStatus::Open | InstallmentStatus::Failed
                    )
                })
                .min_by_key(|i| i.number)
                .cloned()
            else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "nothing_due",
                    "the order has no unpaid installment",
                ));
            };
            let payments = state.store.card_payments_of_order(order.id).await?;
            if payments
                .iter()
                .any(|p| p.installment_id == Some(inst.id) && p.status.is_open())
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "payment_in_progress",
                    "the installment is being charged: try again in a few minutes",
                ));
            }
            let cash = account(state, &order, AccountKind::Cash, order.institution_id).await?;
            let receivable =
                account(state, &order, AccountKind::InstallmentsReceivable, order.id).await?;
            let memo = if reference.is_empty() {
                format!(
                    "order {}: installment {} paid by {} (recorded by {by})",
                    order.id,
                    inst.number,
                    means.as_str()
                )
            } else {
                format!(
                    "order {}: installment {} paid by {} {reference} (recorded by {by})",
                    order.id,
                    inst.number,
                    means.as_str()
                )
            };
            let mut ops = vec![
                OrderOp::InstallmentSet {
                    id: inst.id,
                    from: vec![InstallmentStatus::Open, InstallmentStatus::Failed],
                    to: InstallmentStatus::Paid,
                    attempts_increment: false,
                    next_attempt_at: None,
                    card_payment_id: None,
                    failure_reason: None,
                    paid_at: Some(now),
                },
                OrderOp::Post(
                    postings::installment_other_payment(cash, receivable, inst.amount, &memo)
                        .map_err(posting)?,
                ),
            ];
            if let Some(shop) = order.shop_key_id {
                let data = serde_json::json!({
                    "order_id": order.id,
                    "installment_id": inst.id,
                    "number": inst.number,
                    "amount": crate::admin::MoneyJson::from(inst.amount),
                    "means": means.as_str(),
                });
                ops.push(webhook(shop, "installment.paid", data, now));
            }
            if let Ok(mut p) = paid_ref.lock() {
                *p = Some(inst.id);
            }
            Ok(ops)
        }
    })
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_moved(&e) => return Err(moved()),
        Err(e) => return Err(e),
    }
    let id = paid
        .lock()
        .ok()
        .and_then(|p| *p)
        .ok_or_else(|| internal("no installment recorded"))?;
    tracing::info!(installment = %id, order = %order_id, means = means.as_str(), by = %by, "installment paid at the box office");
    Ok(state.store.get_installment(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let now = time::macros::datetime!(2026-12-01 09:00 UTC);
        let hours = [24, 72];
        assert_eq!(next_try(&hours, 1, now), Some(now + Duration::hours(24)));
        assert_eq!(next_try(&hours, 2, now), Some(now + Duration::hours(72)));
        assert_eq!(next_try(&hours, 3, now), None);
        assert_eq!(next_try(&[], 1, now), None);
        assert_eq!(next_try(&hours, 0, now), None);
    }
}

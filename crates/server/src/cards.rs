//! The card leg of a checkout and card refunds (SPEC F7, F11, F12, F15).
//!
//! A card payment is written `pending_provider` together with a held card leg *before* the
//! provider is called; what the provider answers (directly, through the 3-D Secure return, the
//! post-sale feedback, the Sips automatic response, or the recovery job's query) goes through
//! [`settle`], which commits every leg of the order on a capture and releases them on a
//! decline. An answer that does not tell (timeout, lost reply, 5xx, malformed reply) leaves
//! the payment pending: the recovery job ([`recover_due`]) asks the provider until it knows.
//! Settling is conditional on the payment still being open, so duplicate or late answers change
//! nothing. Card numbers and CVVs never come here: only the provider's alias and masked number.

use crate::AppState;
use crate::checkout::{self, account, figures, internal, posting, webhook};
use crate::error::ApiError;
use crate::psp::{self, Account, Charge, RefundVerdict, Verdict};
use axum::http::StatusCode;
use guichet_domain::config::{PaymentModeType, ProviderKind};
use guichet_domain::postings;
use guichet_domain::refund::{self as refund_rule, Destination, LegMeans, LegRoom, RefundError};
use guichet_domain::settlement::{self, Remainder};
use guichet_domain::threeds;
use guichet_domain::{AccountKind, Money};
use guichet_store::crash;
use guichet_store::{
    CardDetails, CardPayment, CardPaymentStatus, HoldStatus, LegKind, NewCardPayment,
    NewInstallment, NewRefund, NewSavedCard, Order, OrderOp, OrderStatus, PaymentInitiator, Refund,
    RefundDestination, RefundStatus, SavedCard,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What the buyer's side sends with a card payment.
#[derive(Debug, Clone, Default)]
pub struct CardRequest {
    /// Ogone: the query string of the Alias Gateway's redirect (signed by the provider): the
    /// new card form's, or the CVV form's of a saved card.
    pub alias_return: Option<String>,
    pub browser: psp::Browser,
    pub client_ip: String,
    /// Pay with this saved card of the order's contact.
    pub saved_card: Option<Uuid>,
    /// Pay in installments with this plan (the card is kept for the later ones).
    pub installment_plan: Option<Uuid>,
}

/// What the buyer's side must do next.
#[derive(Debug, Clone)]
pub enum Action {
    /// 3-D Secure: show this HTML (the provider's page, which posts to the issuer).
    Html(String),
    /// A hosted payment page: POST these fields to this URL from the browser.
    FormPost {
        url: String,
        fields: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone)]
pub enum PayResult {
    Paid(Order),
    RequiresAction { order: Order, action: Action },
    Declined { order: Order, reason: String },
    Pending(Order),
}

/// The Ogone Alias Gateway `ORDERID` of an order's card form: the returned alias is only
/// accepted for the order it was made for.
pub fn alias_order_id(order_id: Uuid) -> String {
    format!("A{}", base32(order_id))
}

/// The `ORDERID` of the card form that keeps the card (saved card, installments).
pub fn save_form_order_id(order_id: Uuid) -> String {
    format!("{}S", alias_order_id(order_id))
}

/// The `ORDERID` of the CVV form of a saved card for an order.
pub fn cvc_form_order_id(order_id: Uuid) -> String {
    format!("C{}", base32(order_id))
}

/// A provider reference (`ORDERID`, `transactionReference`): 27 characters, letters and digits.
pub fn reference_of(payment_id: Uuid) -> String {
    format!("G{}", base32(payment_id))
}

fn base32(id: Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n = id.as_u128();
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

/// How long after the provider call the recovery job first asks about a payment: later than
/// any call still in flight can answer.
fn first_check(state: &AppState, now: OffsetDateTime) -> OffsetDateTime {
    now + state.config.provider_timeout + Duration::seconds(5)
}

/// Backoff of the recovery job: 1, 2, 4 … minutes, at most 30.
fn next_check(checks: i64, now: OffsetDateTime) -> OffsetDateTime {
    let minutes = 1i64 << checks.clamp(0, 5);
    now + Duration::minutes(minutes.min(30))
}

async fn channel_of(state: &AppState, order: &Order) -> Result<Uuid, ApiError> {
    Ok(state
        .store
        .get_point_of_sale(order.point_of_sale_id)
        .await?
        .sales_channel_id)
}

/// The card forms of an order (Ogone Alias Gateway: URL and signed hidden fields) and the
/// contact's saved cards, as the channel's security policy allows them.
#[derive(Debug, Clone, Default)]
pub struct CardForms {
    /// A new card, not kept.
    pub new_card: Option<psp::CardForm>,
    /// A new card the buyer saves (when the policy allows it and the contact has room).
    pub save: Option<psp::CardForm>,
    /// The contact's saved cards on this channel, each with its CVV form when the policy asks
    /// for the CVV again (none for an expired card: it cannot pay).
    pub saved: Vec<(SavedCard, Option<psp::CardForm>)>,
    pub cvv_required: bool,
}

pub async fn card_forms(
    state: &AppState,
    order: &Order,
    token: &str,
) -> Result<CardForms, ApiError> {
    let channel = channel_of(state, order).await?;
    let account = match Account::load(state, channel).await {
        Ok(a) => a,
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => return Ok(CardForms::default()),
        Err(e) => return Err(e),
    };
    let system = state.store.get_payment_system(channel).await?;
    let return_url = format!("{}/pay/{token}/card-return", state.config.base_url);
    let mut forms = CardForms {
        new_card: account.card_form(
            &alias_order_id(order.id),
            &return_url,
            &order.language,
            false,
        ),
        cvv_required: system.cvv_on_saved_cards,
        ..CardForms::default()
    };
    let (Some(contact), true) = (order.contact_id, system.card_saving_enabled) else {
        return Ok(forms);
    };
    let today = OffsetDateTime::now_utc().date();
    let cards: Vec<SavedCard> = state
        .store
        .saved_cards_of_contact(contact)
        .await?
        .into_iter()
        .filter(|c| c.sales_channel_id == channel)
        .collect();
    if u32::try_from(cards.len()).unwrap_or(u32::MAX) < system.max_saved_cards {
        forms.save = account.card_form(
            &save_form_order_id(order.id),
            &return_url,
            &order.language,
            true,
        );
    }
    for card in cards {
        let form = (system.cvv_on_saved_cards && !crate::account::is_expired(&card.expiry, today))
            .then(|| {
                account.cvc_form(
                    &cvc_form_order_id(order.id),
                    &return_url,
                    &order.language,
                    &card.alias,
                )
            })
            .flatten();
        forms.saved.push((card, form));
    }
    Ok(forms)
}

/// The window of the card attempt limits.
pub const CARD_ATTEMPT_WINDOW_SECONDS: u32 = 3600;

/// Counts a card payment attempt against the order, the contact and the client address, and
/// refuses it (429, before anything reaches the provider) past any of the limits. The count is
/// taken first, in the database: concurrent attempts on several instances cannot all pass.
async fn count_card_attempt(
    state: &AppState,
    order: &Order,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let cfg = &state.config;
    let mut buckets = vec![(
        format!("card:order:{}", order.id),
        cfg.card_attempts_per_order,
    )];
    if let Some(contact) = order.contact_id {
        buckets.push((
            format!("card:contact:{contact}"),
            cfg.card_attempts_per_contact,
        ));
    }
    if client_ip != "unknown" && !client_ip.is_empty() {
        buckets.push((format!("card:ip:{client_ip}"), cfg.card_attempts_per_ip));
    }
    let names: Vec<String> = buckets.iter().map(|(b, _)| b.clone()).collect();
    let hits = state
        .store
        .rate_limit_hit_many(&names, CARD_ATTEMPT_WINDOW_SECONDS, now)
        .await?;
    let refused = hits
        .iter()
        .zip(&buckets)
        .any(|(hits, (_, limit))| hits > limit);
    if refused {
        tracing::warn!(order = %order.id, ip = %client_ip, "card attempt refused: too many attempts");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_card_attempts",
            "too many card payment attempts; try again later",
        ));
    }
    Ok(())
}

fn unprocessable(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.to_owned())
}

/// Pays the remainder of an order by card.
///
/// `first` is the order as the caller just read it; a change since is caught by the store's
/// version check and decided again on the order read afresh.
pub async fn pay_by_card(
    state: &AppState,
    first: &Order,
    req: CardRequest,
    now: OffsetDateTime,
) -> Result<PayResult, ApiError> {
    if first.status == OrderStatus::Paid {
        return Ok(PayResult::Paid(first.clone()));
    }
    checkout::ensure_open(first, now)?;
    if !checkout::modes_at(state, first)
        .await?
        .contains(&PaymentModeType::Card)
    {
        return Err(checkout::mode_missing("payment by card"));
    }
    let channel = channel_of(state, first).await?;
    let account = Account::load(state, channel).await?;
    let system = state.store.get_payment_system(channel).await?;
    let (card, save) = match (account.provider(), req.saved_card) {
        (_, Some(id)) => {
            let saved = match state.store.get_saved_card(id).await {
                Ok(c)
                    if Some(c.contact_id) == first.contact_id && c.sales_channel_id == channel =>
                {
                    c
                }
                _ => return Err(ApiError::not_found("saved card")),
            };
            if !system.card_saving_enabled {
                return Err(unprocessable(
                    "saved_cards_not_accepted",
                    "saved cards are not accepted on this sales channel",
                ));
            }
            if crate::account::is_expired(&saved.expiry, now.date()) {
                return Err(unprocessable("card_expired", "this saved card has expired"));
            }
            if system.cvv_on_saved_cards {
                let raw = req.alias_return.as_deref().ok_or_else(|| {
                    unprocessable(
                        "cvv_required",
                        "the card's security code is required: the browser posts it to the saved card's CVV form",
                    )
                })?;
                let (typed, _) =
                    account.verify_alias_return(raw, &[&cvc_form_order_id(first.id)])?;
                if typed.alias.as_deref() != Some(saved.alias.as_str()) {
                    return Err(unprocessable(
                        "card_return_invalid",
                        "the security code was given for another card",
                    ));
                }
            }
            (
                CardDetails {
                    alias: Some(saved.alias.clone()),
                    masked_pan: Some(saved.masked_pan.clone()),
                    brand: Some(saved.brand.clone()),
                    expiry: Some(saved.expiry.clone()),
                    holder: Some(saved.holder.clone()),
                },
                false,
            )
        }
        (ProviderKind::Ogone, None) => {
            let raw = req.alias_return.as_deref().ok_or_else(|| {
                let mut f = crate::error::Fields::new();
                f.add(
                    "card_alias_return",
                    "the provider's return from the card form is required",
                );
                f.finish().err().unwrap_or_else(ApiError::internal)
            })?;
            let save_form = save_form_order_id(first.id);
            let (card, form) =
                account.verify_alias_return(raw, &[&alias_order_id(first.id), &save_form])?;
            let save =
                form == save_form && system.card_saving_enabled && first.contact_id.is_some();
            (card, save)
        }
        (ProviderKind::Sips, None) => (CardDetails::default(), false),
    };
    // Installments: the plan must be offered for what the card pays, and the card kept.
    let plan = match req.installment_plan {
        None => None,
        Some(plan_id) => {
            if first.contact_id.is_none() || !(save || req.saved_card.is_some()) {
                return Err(unprocessable(
                    "installments_need_saved_card",
                    "installments need a card kept for the later ones: a saved card, or a new card through the form that saves it",
                ));
            }
            let due = figures(first)?.amount_due;
            Some(crate::installments::chosen(state, first, plan_id, due, now.date()).await?)
        }
    };
    count_card_attempt(state, first, &req.client_ip, now).await?;
    let decision = threeds::requires_3ds(
        system.three_ds_policy,
        system.three_ds_days,
        first.first_event_at,
        now,
    );
    let payment_id = Uuid::now_v7();
    let leg_id = Uuid::now_v7();
    let reference = reference_of(payment_id);
    let check_at = first_check(state, now);
    let provider = account.provider();
    let plan_id = plan.as_ref().map(|(p, _)| p.id);
    let planned: Option<(Money, Money)> = match &plan {
        Some((_, schedule)) => {
            let first_amount = schedule
                .first()
                .map(|i| i.amount)
                .ok_or_else(|| internal("empty schedule"))?;
            let total =
                Money::sum(first.currency, schedule.iter().map(|i| i.amount)).map_err(internal)?;
            Some((first_amount, total))
        }
        None => None,
    };
    let keep_card = save || (plan_id.is_some() && req.saved_card.is_none());
    let order = checkout::with_retries_from(state, first.clone(), |order| {
        let card = card.clone();
        let reference = reference.clone();
        async move {
            checkout::ensure_open(&order, now)?;
            let figs = figures(&order)?;
            settlement::choose_remainder(figs.amount_due, Remainder::Card, None).map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "nothing_to_pay",
                    "nothing remains to be paid: pay with means \"none\"",
                )
            })?;
            let amount = match planned {
                Some((first_amount, total)) if total == figs.amount_due => first_amount,
                Some(_) => {
                    return Err(ApiError::conflict(
                        "the amount due changed since the plan was chosen: choose it again",
                    ));
                }
                None => figs.amount_due,
            };
            Ok(vec![
                OrderOp::LegInsert {
                    leg_id,
                    kind: LegKind::Card,
                    source_id: payment_id,
                    amount,
                    status: HoldStatus::Held,
                },
                OrderOp::CardPaymentInsert(NewCardPayment {
                    id: payment_id,
                    leg_id,
                    sales_channel_id: channel,
                    provider,
                    reference,
                    amount,
                    three_ds_required: decision.required,
                    three_ds_reason: decision.reason.to_owned(),
                    card,
                    next_check_at: check_at,
                    installment_id: None,
                    initiator: PaymentInitiator::Customer,
                    save_card: keep_card,
                    installment_plan_id: plan_id,
                }),
            ])
        }
    })
    .await?;
    let payment = state.store.get_card_payment(payment_id).await?;
    tracing::info!(order = %order.id, payment = %payment.id, reference = %payment.reference,
        amount = %payment.amount, three_ds = decision.required, reason = decision.reason,
        "card payment sent to the provider");
    let charge = Charge {
        reference: payment.reference.clone(),
        amount: payment.amount,
        alias: payment.card.alias.clone(),
        three_ds: decision.required,
        language: order.language.clone(),
        browser: req.browser,
        client_ip: req.client_ip,
        return_base: format!("{}/psp", state.config.base_url),
        merchant_initiated: false,
    };
    crash::point("card.before_call").await;
    let verdict = crate::timing::provider(account.charge(&charge)).await;
    crash::point("card.after_provider").await;
    let result = outcome(state, &payment, order, verdict, now).await;
    crash::point("card.after_commit").await;
    result
}

/// Applies a provider's verdict to a payment and says what the buyer sees.
async fn outcome(
    state: &AppState,
    payment: &CardPayment,
    order: Order,
    verdict: Verdict,
    now: OffsetDateTime,
) -> Result<PayResult, ApiError> {
    // What the buyer sees besides the order, decided before the verdict is consumed.
    enum Then {
        Act(Action),
        Refused(String),
        NotTaken(String),
        AsTheOrderIs,
    }
    let then = match &verdict {
        Verdict::ThreeDs { html, .. } => Then::Act(Action::Html(html.clone())),
        Verdict::Redirect { url, fields } => Then::Act(Action::FormPost {
            url: url.clone(),
            fields: fields.clone(),
        }),
        Verdict::Declined { reason, .. } => Then::Refused(reason.clone()),
        Verdict::NotTaken { reason } => Then::NotTaken(reason.clone()),
        _ => Then::AsTheOrderIs,
    };
    let order = settle_payment(state, payment.clone(), Some(order), verdict, now).await?;
    match then {
        Then::Act(action) => return Ok(PayResult::RequiresAction { order, action }),
        Then::Refused(reason) => return Ok(PayResult::Declined { order, reason }),
        Then::NotTaken(reason) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                format!(
                    "the payment provider did not take the payment ({reason}); nothing was charged, try again"
                ),
            ));
        }
        Then::AsTheOrderIs => {}
    }
    Ok(match order.status {
        OrderStatus::Paid => PayResult::Paid(order),
        _ => PayResult::Pending(order),
    })
}

/// Moves a card payment on according to the provider. Idempotent: a payment already settled
/// is left as it is (a duplicate feedback changes nothing).
pub async fn settle(
    state: &AppState,
    payment_id: Uuid,
    verdict: Verdict,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let payment = state.store.get_card_payment(payment_id).await?;
    settle_payment(state, payment, None, verdict, now).await
}

/// [`settle`] of `payment`, with `seed` the order when the caller has it, read *before*
/// `payment`: the first attempt decides on them; the store's guards (the order's version, the
/// payment's status) refuse a stale decision and the next attempt reads both again. Without a
/// seed the order is read here and the payment again after it.
pub(crate) async fn settle_payment(
    state: &AppState,
    payment: CardPayment,
    seed: Option<Order>,
    verdict: Verdict,
    now: OffsetDateTime,
) -> Result<Order, ApiError> {
    let open = [
        CardPaymentStatus::PendingProvider,
        CardPaymentStatus::AwaitingThreeDs,
    ];
    if !payment.status.is_open() {
        if matches!(verdict, Verdict::Captured { .. })
            && payment.status != CardPaymentStatus::Captured
        {
            // Money taken for a payment Guichet already gave up: an operator must refund it.
            tracing::error!(payment = %payment.id, reference = %payment.reference,
                status = payment.status.as_str(),
                "the provider reports a capture for a payment already closed; refund it at the provider");
        }
        return Ok(state.store.get_order(payment.order_id).await?);
    }
    if let Some(installment) = payment.installment_id {
        return crate::installments::settle(state, &payment, seed, installment, verdict, now).await;
    }
    let set = |to: CardPaymentStatus,
               payid: Option<String>,
               provider_status: Option<String>,
               reason: Option<String>| OrderOp::CardPaymentSet {
        id: payment.id,
        from: open.to_vec(),
        to,
        payid,
        provider_status,
        failure_reason: reason,
        next_check_at: None,
    };
    // The first attempt may decide on `payment` as given only if it was read after the order
    // (the caller's seed): a change after the order's read moves its version and sends the
    // decision round again. Read here, the order is newer than `payment`, which is then read
    // again after it.
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
            let leg = order
                .legs
                .iter()
                .find(|l| l.id == payment.leg_id)
                .ok_or_else(|| internal("card leg missing"))?;
            match verdict {
                Verdict::Captured { payid, status } => {
                    if order.status != OrderStatus::AwaitingPayment
                        || leg.status != HoldStatus::Held
                    {
                        return Err(internal("captured card payment on a closed order"));
                    }
                    let figs = figures(&order)?;
                    let amounts =
                        settlement::commit_amounts(order.total, &figs.applied, Remainder::Card)
                            .map_err(internal)?;
                    let clearing = account(
                        state,
                        &order,
                        AccountKind::ProviderClearing,
                        payment.sales_channel_id,
                    )
                    .await?;
                    let mut ops = Vec::new();
                    let saved_card = keep_card(state, &order, &payment, &mut ops).await?;
                    let installments = match payment.installment_plan_id {
                        Some(plan) => Some(
                            schedule_ops(
                                state,
                                &order,
                                &payment,
                                plan,
                                amounts.card,
                                saved_card,
                                now,
                            )
                            .await?,
                        ),
                        None if amounts.card == payment.amount => None,
                        None => {
                            return Err(internal(
                                "the card amount differs from the amount due; payment left pending",
                            ));
                        }
                    };
                    let card = checkout::CardCommit {
                        clearing,
                        installments,
                    };
                    ops.extend(
                        checkout::commit_ops(state, &order, &figs, amounts, Some(card), now)
                            .await?,
                    );
                    ops.push(set(CardPaymentStatus::Captured, payid, Some(status), None));
                    Ok(ops)
                }
                Verdict::Declined { .. } | Verdict::Abandoned { .. } => {
                    let (to, payid, status, reason) = match verdict {
                        Verdict::Declined {
                            payid,
                            status,
                            reason,
                        } => (CardPaymentStatus::Declined, payid, Some(status), reason),
                        Verdict::Abandoned { reason } => {
                            (CardPaymentStatus::Abandoned, None, None, reason)
                        }
                        _ => unreachable!("matched above"),
                    };
                    let mut ops = checkout::release_all(state, &order).await?;
                    ops.push(set(to, payid, status, Some(reason.clone())));
                    if let Some(shop) = order.shop_key_id {
                        let data = serde_json::json!({
                            "order_id": order.id,
                            "status": order.status.as_str(),
                            "reason": reason,
                        });
                        ops.push(webhook(shop, "order.payment_failed", data, now));
                    }
                    Ok(ops)
                }
                Verdict::NotTaken { reason } => {
                    // Nothing reached the provider: only the card leg closes; the buyer's
                    // codes, voucher and credit stay reserved for another try.
                    let holds = account(state, &order, AccountKind::Holds, order.id).await?;
                    let mut ops = Vec::new();
                    checkout::release_leg(
                        state,
                        &order,
                        leg,
                        leg.amount,
                        Money::zero(order.currency),
                        holds,
                        &mut ops,
                    )
                    .await?;
                    ops.push(set(CardPaymentStatus::Failed, None, None, Some(reason)));
                    Ok(ops)
                }
                Verdict::ThreeDs { payid, .. } => {
                    if current.status != CardPaymentStatus::PendingProvider {
                        return Ok(Vec::new());
                    }
                    Ok(vec![set(
                        CardPaymentStatus::AwaitingThreeDs,
                        payid,
                        Some("46".to_owned()),
                        None,
                    )])
                }
                Verdict::Redirect { .. } | Verdict::Waiting { .. } | Verdict::Unknown { .. } => {
                    Ok(Vec::new())
                }
            }
        }
    })
    .await;
    match result {
        Ok(order) => Ok(order),
        // A concurrent answer settled it first.
        Err(e) if e.is_conflict("card_payment_moved") => {
            Ok(state.store.get_order(payment.order_id).await?)
        }
        Err(e) => Err(e),
    }
}

/// On a captured payment the buyer asked to keep (or pays installments with): the saved card,
/// written with the capture. Returns the saved card the later installments charge: the new
/// one, or the saved card the buyer paid with. A full card list or an alias another contact
/// holds does not stop the capture: the card is then simply not kept.
async fn keep_card(
    state: &AppState,
    order: &Order,
    payment: &CardPayment,
    ops: &mut Vec<OrderOp>,
) -> Result<Option<Uuid>, ApiError> {
    let (Some(contact), Some(alias)) = (order.contact_id, payment.card.alias.clone()) else {
        return Ok(None);
    };
    if let Some(card) = state
        .store
        .saved_card_by_alias(payment.sales_channel_id, &alias)
        .await?
    {
        return Ok((card.contact_id == contact).then_some(card.id));
    }
    if !payment.save_card {
        return Ok(None);
    }
    let system = state
        .store
        .get_payment_system(payment.sales_channel_id)
        .await?;
    let held = state.store.saved_cards_of_contact(contact).await?.len();
    if !system.card_saving_enabled
        || u32::try_from(held).unwrap_or(u32::MAX) >= system.max_saved_cards
    {
        tracing::warn!(order = %order.id, "card not kept: saving is off or the contact has no room");
        return Ok(None);
    }
    let id = Uuid::now_v7();
    let c = &payment.card;
    ops.push(OrderOp::SavedCardInsert {
        card: NewSavedCard {
            id,
            contact_id: contact,
            sales_channel_id: payment.sales_channel_id,
            provider: payment.provider,
            alias,
            masked_pan: c.masked_pan.clone().unwrap_or_default(),
            brand: c.brand.clone().unwrap_or_default(),
            expiry: c.expiry.clone().unwrap_or_default(),
            holder: c.holder.clone().unwrap_or_default(),
        },
        max: system.max_saved_cards,
    });
    Ok(Some(id))
}

/// The installments of a plan whose first one was just captured: the schedule over what the
/// card pays (`card_total`), the first paid by `payment`, the others open on their due dates.
async fn schedule_ops(
    state: &AppState,
    order: &Order,
    payment: &CardPayment,
    plan_id: Uuid,
    card_total: Money,
    saved_card: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<checkout::InstallmentsCommit, ApiError> {
    let plan = state.store.get_installment_plan(plan_id).await?;
    let saved_card = saved_card.ok_or_else(|| internal("installments without a kept card"))?;
    let first_due = payment.created_at.date();
    let schedule = guichet_domain::installments::schedule(&plan.plan, card_total, first_due)
        .map_err(internal)?;
    let first = schedule.first().ok_or_else(|| internal("empty schedule"))?;
    if first.amount != payment.amount {
        return Err(internal(
            "the first installment differs from the payment; payment left pending",
        ));
    }
    let owed = card_total.checked_sub(first.amount).map_err(internal)?;
    let rows = schedule
        .iter()
        .map(|i| {
            let paid = i.number == 1;
            NewInstallment {
                id: Uuid::now_v7(),
                plan_id,
                number: i.number,
                due_on: i.due,
                amount: i.amount,
                status: if paid {
                    guichet_store::InstallmentStatus::Paid
                } else {
                    guichet_store::InstallmentStatus::Open
                },
                next_attempt_at: i.due.midnight().assume_utc(),
                saved_card_id: Some(saved_card),
                card_payment_id: paid.then_some(payment.id),
                paid_at: paid.then_some(now),
            }
        })
        .collect();
    let receivable = account(state, order, AccountKind::InstallmentsReceivable, order.id).await?;
    Ok(checkout::InstallmentsCommit {
        receivable,
        owed,
        plan_id,
        rows,
    })
}

/// A provider's signed answer about a payment (3-D Secure return, post-sale feedback, Sips
/// responses): checked against the payment, then settled.
pub async fn provider_answer(
    state: &AppState,
    provider: ProviderKind,
    params: &[(String, String)],
    now: OffsetDateTime,
) -> Result<(CardPayment, Order), ApiError> {
    let reference = psp::reference_in(provider, params).ok_or_else(|| {
        tracing::warn!(?provider, "provider answer without a reference: rejected");
        ApiError::bad_request("the provider's answer names no payment")
    })?;
    let payment = state
        .store
        .card_payment_by_reference(&reference)
        .await
        .map_err(|_| {
            tracing::warn!(%reference, "provider answer for an unknown payment: rejected");
            ApiError::not_found("payment")
        })?;
    if payment.provider != provider {
        return Err(ApiError::not_found("payment"));
    }
    let account = Account::load(state, payment.sales_channel_id).await?;
    let answer = account.verify_answer(params).inspect_err(|e| {
        tracing::warn!(reference = %payment.reference, error = %e.message,
            "provider answer rejected (signature or content)");
    })?;
    if let Some(amount) = answer.amount
        && amount != payment.amount
    {
        tracing::warn!(reference = %payment.reference, "provider answer with another amount: rejected");
        return Err(ApiError::bad_request(
            "the amount in the provider's answer differs from the payment",
        ));
    }
    let order = settle(state, payment.id, answer.verdict, now).await?;
    let payment = state.store.get_card_payment(payment.id).await?;
    Ok((payment, order))
}

/// The recovery job: asks the provider about every payment and refund left pending whose
/// check is due, and settles what it learns. Returns how many were settled.
pub async fn recover_due(state: &AppState, now: OffsetDateTime, limit: u32) -> usize {
    let mut settled = 0;
    let payments = match state.store.card_payments_to_check(now, limit).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "recovery: listing pending payments failed");
            return 0;
        }
    };
    for p in payments {
        match recover_payment(state, &p, now).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(payment = %p.id, error = %e.message, "recovery of a payment failed");
                let _ = state
                    .store
                    .card_payment_checked(p.id, next_check(p.checks, now))
                    .await;
            }
        }
    }
    let refunds = match state.store.refunds_to_check(now, limit).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "recovery: listing pending refunds failed");
            return settled;
        }
    };
    for r in refunds {
        match recover_refund(state, &r, now).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(refund = %r.id, error = %e.message, "recovery of a refund failed");
                let _ = state
                    .store
                    .refund_checked(r.id, next_check(r.checks, now))
                    .await;
            }
        }
    }
    settled
}

async fn recover_payment(
    state: &AppState,
    p: &CardPayment,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    let account = Account::load(state, p.sales_channel_id).await?;
    let verdict = account.query(&p.reference).await;
    let order = state.store.get_order(p.order_id).await?;
    let verdict = match verdict {
        // Still at the issuer's page or on the hosted page: give up once the order's time ran
        // out (the provider has taken nothing).
        Verdict::Waiting { .. } if order.hold_expires_at <= now => Verdict::Abandoned {
            reason: "the buyer did not finish the payment in time".to_owned(),
        },
        v => v,
    };
    tracing::info!(payment = %p.id, reference = %p.reference, verdict = verdict.name(),
        "recovery asked the provider");
    match verdict {
        Verdict::Waiting { .. }
        | Verdict::Unknown { .. }
        | Verdict::Redirect { .. }
        | Verdict::ThreeDs { .. } => {
            state
                .store
                .card_payment_checked(p.id, next_check(p.checks, now))
                .await?;
            Ok(false)
        }
        v => {
            settle(state, p.id, v, now).await?;
            Ok(true)
        }
    }
}

// ---- refunds ---------------------------------------------------------------------------

fn refund_error(e: RefundError) -> ApiError {
    let code = match &e {
        RefundError::ExceedsLeg { .. } => "refund_exceeds_collected",
        RefundError::NoCardLeg | RefundError::NotACardLeg => "not_paid_by_card",
        RefundError::UnknownLeg => "unknown_leg",
        RefundError::NotPositive | RefundError::Currency => "invalid_amount",
        RefundError::NoLeg => "nothing_to_refund",
        RefundError::Money(_) => return internal(e),
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
}

fn leg_room(order: &Order) -> Vec<LegRoom> {
    order
        .legs
        .iter()
        .filter(|l| l.status == HoldStatus::Committed)
        .filter_map(|l| {
            Some(LegRoom {
                id: l.id,
                means: match l.kind {
                    LegKind::Card => LegMeans::Card,
                    LegKind::Voucher => LegMeans::Voucher,
                    LegKind::CreditBalance => LegMeans::CreditBalance,
                    LegKind::DeferredAccount => LegMeans::DeferredAccount,
                    // Later installments are refunded with their own payments (not yet).
                    LegKind::Installments => return None,
                },
                collected: l.amount,
                refunded: l.refunded,
            })
        })
        .collect()
}

/// Refunds part or all of a paid order, to the card or to the contact's credit balance.
pub async fn refund(
    state: &AppState,
    order_id: Uuid,
    amount: Money,
    destination: RefundDestination,
    leg: Option<Uuid>,
    requested_by: &str,
    now: OffsetDateTime,
) -> Result<Refund, ApiError> {
    let first = state.store.get_order(order_id).await?;
    if destination == RefundDestination::Card
        && first.legs.iter().any(|l| l.kind == LegKind::Installments)
    {
        return refund_installment_order(state, order_id, amount, requested_by, now).await;
    }
    let refund_id = Uuid::now_v7();
    let check_at = first_check(state, now);
    let order = checkout::with_retries(state, order_id, |order| async move {
        if order.status != OrderStatus::Paid {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "order_not_paid",
                format!(
                    "only a paid order can be refunded (it is {})",
                    order.status.as_str()
                ),
            ));
        }
        let dest = match destination {
            RefundDestination::Card => Destination::Card,
            RefundDestination::CreditBalance => Destination::CreditBalance,
        };
        let leg_id =
            refund_rule::choose_leg(&leg_room(&order), dest, leg, amount).map_err(refund_error)?;
        let mut ops = Vec::new();
        match destination {
            RefundDestination::CreditBalance => {
                let contact = order.contact_id.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "no_contact",
                        "the order has no contact, so no credit balance to refund to",
                    )
                })?;
                let refunds =
                    account(state, &order, AccountKind::Refunds, order.institution_id).await?;
                let credit = account(state, &order, AccountKind::ContactCredit, contact).await?;
                ops.push(OrderOp::RefundInsert(NewRefund {
                    id: refund_id,
                    leg_id,
                    destination,
                    amount,
                    status: RefundStatus::Succeeded,
                    card_payment_id: None,
                    requested_by: requested_by.to_owned(),
                    next_check_at: now,
                }));
                let memo = format!("order {}: refund to the credit balance", order.id);
                ops.push(OrderOp::Post(
                    postings::refund(refunds, credit, amount, &memo).map_err(posting)?,
                ));
                if let Some(shop) = order.shop_key_id {
                    ops.push(refund_webhook(
                        shop,
                        &order,
                        refund_id,
                        amount,
                        destination,
                        now,
                    ));
                }
            }
            RefundDestination::Card => {
                let payment = state
                    .store
                    .card_payments_of_order(order.id)
                    .await?
                    .into_iter()
                    .find(|p| p.leg_id == leg_id && p.status == CardPaymentStatus::Captured)
                    .ok_or_else(|| internal("captured card payment of the leg missing"))?;
                ops.push(OrderOp::RefundInsert(NewRefund {
                    id: refund_id,
                    leg_id,
                    destination,
                    amount,
                    status: RefundStatus::PendingProvider,
                    card_payment_id: Some(payment.id),
                    requested_by: requested_by.to_owned(),
                    next_check_at: check_at,
                }));
            }
        }
        Ok(ops)
    })
    .await
    .map_err(|e| {
        if e.code == "refund_exceeds_leg" {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refund_exceeds_collected",
                "the refund exceeds what the leg collected less earlier refunds",
            )
        } else {
            e
        }
    })?;
    let refund = state.store.get_refund(refund_id).await?;
    if refund.status != RefundStatus::PendingProvider {
        return Ok(refund);
    }
    let leg = order
        .legs
        .iter()
        .find(|l| l.id == refund.leg_id)
        .ok_or_else(|| internal("refund leg missing"))?;
    let last = leg.refunded == leg.amount;
    send_card_refund(state, &refund, last, now).await
}

/// A card refund written `pending_provider`: asks the provider, then records what it says.
/// `last`: nothing remains to refund on its payment afterwards (Ogone `RFS`).
async fn send_card_refund(
    state: &AppState,
    refund: &Refund,
    last: bool,
    now: OffsetDateTime,
) -> Result<Refund, ApiError> {
    let amount = refund.amount;
    let payment_id = refund
        .card_payment_id
        .ok_or_else(|| internal("card refund without payment"))?;
    let payment = state.store.get_card_payment(payment_id).await?;
    let account = Account::load(state, payment.sales_channel_id).await?;
    tracing::info!(refund = %refund.id, reference = %payment.reference, amount = %amount,
        "card refund sent to the provider");
    crash::point("refund.before_call").await;
    let mut verdict = account.refund(&payment, amount, last).await;
    crash::point("refund.after_provider").await;
    // Accepted but not final yet: one more look straight away.
    if let RefundVerdict::Pending {
        payidsub: Some(sub),
    } = &verdict
    {
        verdict = account.query_refund(&payment, sub).await;
    }
    finish_refund(state, refund, verdict, now).await
}

/// A refund to the card of an order paid in installments (SPEC F10 with F12). Its open and
/// failed installments are cancelled first (nothing more is charged: Dr refunds, Cr the
/// order's receivable); then the amount, at most what the payments collected less earlier
/// refunds, is spread over those payments — the first installment's, then each paid
/// installment's in order — each refunded at the provider on its own. Refused while an
/// installment is being charged. Returns the first refund (the order lists them all).
async fn refund_installment_order(
    state: &AppState,
    order_id: Uuid,
    amount: Money,
    requested_by: &str,
    now: OffsetDateTime,
) -> Result<Refund, ApiError> {
    if !amount.is_positive() {
        return Err(unprocessable(
            "invalid_amount",
            "the refund must be positive",
        ));
    }
    let check_at = first_check(state, now);
    // The refunds of the attempt that committed (the closure may run more than once).
    let planned: std::sync::Mutex<Vec<(Uuid, bool)>> = std::sync::Mutex::new(Vec::new());
    let planned_ref = &planned;
    checkout::with_retries(state, order_id, |order| {
        let requested_by = requested_by.to_owned();
        async move {
            if order.status != OrderStatus::Paid {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "order_not_paid",
                    "only a paid order can be refunded",
                ));
            }
            let payments = state.store.card_payments_of_order(order.id).await?;
            if payments.iter().any(|p| p.status.is_open()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "payment_in_progress",
                    "an installment is being charged: try again in a few minutes",
                ));
            }
            let refunds = state.store.refunds_of_order(order.id).await?;
            let installments = state.store.installments_of_order(order.id).await?;
            let mut ops = Vec::new();
            // 1. What is not collected yet is cancelled.
            let mut cancelled = Money::zero(order.currency);
            for i in installments.iter().filter(|i| {
                matches!(
                    i.status,
                    guichet_store::InstallmentStatus::Open
                        | guichet_store::InstallmentStatus::Failed
                )
            }) {
                cancelled = cancelled.checked_add(i.amount).map_err(internal)?;
                ops.push(OrderOp::InstallmentSet {
                    id: i.id,
                    from: vec![
                        guichet_store::InstallmentStatus::Open,
                        guichet_store::InstallmentStatus::Failed,
                    ],
                    to: guichet_store::InstallmentStatus::Cancelled,
                    attempts_increment: false,
                    next_attempt_at: None,
                    card_payment_id: None,
                    failure_reason: Some("cancelled by a refund of the order".to_owned()),
                    paid_at: None,
                });
            }
            if cancelled.is_positive() {
                let refunds_acct =
                    account(state, &order, AccountKind::Refunds, order.institution_id).await?;
                let receivable =
                    account(state, &order, AccountKind::InstallmentsReceivable, order.id).await?;
                let memo = format!("order {}: open installments cancelled", order.id);
                ops.push(OrderOp::Post(
                    postings::installments_cancel(refunds_acct, receivable, cancelled, &memo)
                        .map_err(posting)?,
                ));
            }
            // 2. The amount over the payments that collected money, in order.
            let mut rooms = Vec::new();
            for p in payments
                .iter()
                .filter(|p| p.status == CardPaymentStatus::Captured)
            {
                let number = match p.installment_id {
                    None => 1,
                    Some(id) => installments
                        .iter()
                        .find(|i| i.id == id)
                        .map_or(u8::MAX, |i| i.number),
                };
                let refunded = refunds
                    .iter()
                    .filter(|r| r.card_payment_id == Some(p.id) && r.status != RefundStatus::Failed)
                    .try_fold(Money::zero(order.currency), |acc, r| {
                        acc.checked_add(r.amount)
                    })
                    .map_err(internal)?;
                let room = p.amount.checked_sub(refunded).map_err(internal)?;
                if room.is_positive() {
                    rooms.push((number, p.clone(), room));
                }
            }
            rooms.sort_by_key(|(n, _, _)| *n);
            let mut left = amount;
            let mut parts = Vec::new();
            for (_, p, room) in rooms {
                if !left.is_positive() {
                    break;
                }
                let part = if left.amount_minor() <= room.amount_minor() {
                    left
                } else {
                    room
                };
                left = left.checked_sub(part).map_err(internal)?;
                parts.push((p, part, part == room));
            }
            if left.is_positive() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refund_exceeds_collected",
                    "the refund exceeds what the installments collected less earlier refunds",
                ));
            }
            let mut plan = Vec::new();
            for (p, part, last) in parts {
                let id = Uuid::now_v7();
                ops.push(OrderOp::RefundInsert(NewRefund {
                    id,
                    leg_id: p.leg_id,
                    destination: RefundDestination::Card,
                    amount: part,
                    status: RefundStatus::PendingProvider,
                    card_payment_id: Some(p.id),
                    requested_by: requested_by.clone(),
                    next_check_at: check_at,
                }));
                plan.push((id, last));
            }
            *planned_ref.lock().map_err(|_| ApiError::internal())? = plan;
            Ok(ops)
        }
    })
    .await?;
    let planned = planned.into_inner().map_err(|_| ApiError::internal())?;
    let mut first = None;
    for (id, last) in planned {
        let refund = state.store.get_refund(id).await?;
        let done = send_card_refund(state, &refund, last, now).await?;
        first.get_or_insert(done);
    }
    first.ok_or_else(|| internal("no refund planned"))
}

fn refund_webhook(
    shop: Uuid,
    order: &Order,
    refund_id: Uuid,
    amount: Money,
    destination: RefundDestination,
    now: OffsetDateTime,
) -> OrderOp {
    let data = serde_json::json!({
        "order_id": order.id,
        "refund_id": refund_id,
        "amount": crate::admin::MoneyJson::from(amount),
        "destination": destination.as_str(),
    });
    webhook(shop, "refund.succeeded", data, now)
}

/// Records the provider's answer to a card refund (idempotent: a settled refund stays).
async fn finish_refund(
    state: &AppState,
    refund: &Refund,
    verdict: RefundVerdict,
    now: OffsetDateTime,
) -> Result<Refund, ApiError> {
    let (to, payidsub, reason) = match verdict {
        RefundVerdict::Done { payidsub } => (RefundStatus::Succeeded, payidsub, None),
        RefundVerdict::Refused { reason } => (RefundStatus::Failed, None, Some(reason)),
        RefundVerdict::Pending { payidsub } => {
            // Keep the provider's history line, so the recovery job can ask about it.
            if payidsub.is_some() && refund.provider_payidsub.is_none() {
                let id = refund.id;
                let result = checkout::with_retries(state, refund.order_id, |_order| {
                    let payidsub = payidsub.clone();
                    async move {
                        Ok(vec![OrderOp::RefundSet {
                            id,
                            to: RefundStatus::PendingProvider,
                            payidsub,
                            failure_reason: None,
                        }])
                    }
                })
                .await;
                if let Err(e) = result
                    && !e.is_conflict("refund_moved")
                {
                    return Err(e);
                }
            }
            return Ok(state.store.get_refund(refund.id).await?);
        }
        RefundVerdict::Unknown { why } => {
            tracing::warn!(refund = %refund.id, %why, "card refund outcome unknown; recovery will ask");
            return Ok(state.store.get_refund(refund.id).await?);
        }
    };
    let r = refund.clone();
    let result = checkout::with_retries(state, refund.order_id, |order| {
        let r = r.clone();
        let payidsub = payidsub.clone();
        let reason = reason.clone();
        async move {
            let current = state.store.get_refund(r.id).await?;
            if current.status != RefundStatus::PendingProvider {
                return Ok(Vec::new());
            }
            let mut ops = vec![OrderOp::RefundSet {
                id: r.id,
                to,
                payidsub,
                failure_reason: reason,
            }];
            if to == RefundStatus::Succeeded {
                let payment = state
                    .store
                    .get_card_payment(r.card_payment_id.ok_or_else(|| internal("no payment"))?)
                    .await?;
                let refunds =
                    account(state, &order, AccountKind::Refunds, order.institution_id).await?;
                let clearing = account(
                    state,
                    &order,
                    AccountKind::ProviderClearing,
                    payment.sales_channel_id,
                )
                .await?;
                let memo = format!("order {}: refund to the card", order.id);
                ops.push(OrderOp::Post(
                    postings::refund(refunds, clearing, r.amount, &memo).map_err(posting)?,
                ));
                if let Some(shop) = order.shop_key_id {
                    ops.push(refund_webhook(
                        shop,
                        &order,
                        r.id,
                        r.amount,
                        r.destination,
                        now,
                    ));
                }
            }
            Ok(ops)
        }
    })
    .await;
    match result {
        Ok(_) => {}
        Err(e) if e.is_conflict("refund_moved") => {}
        Err(e) => return Err(e),
    }
    let refund = state.store.get_refund(refund.id).await?;
    if refund.status == RefundStatus::Failed {
        tracing::info!(refund = %refund.id, reason = ?refund.failure_reason, "card refund refused");
    }
    Ok(refund)
}

async fn recover_refund(
    state: &AppState,
    r: &Refund,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    let payment = state
        .store
        .get_card_payment(r.card_payment_id.ok_or_else(|| internal("no payment"))?)
        .await?;
    let account = Account::load(state, payment.sales_channel_id).await?;
    let siblings: Vec<Refund> = state
        .store
        .refunds_of_order(r.order_id)
        .await?
        .into_iter()
        .filter(|s| s.card_payment_id == Some(payment.id))
        .collect();
    let verdict = account.recover_refund(&payment, r, &siblings).await;
    match verdict {
        RefundVerdict::Pending { .. } | RefundVerdict::Unknown { .. } => {
            state
                .store
                .refund_checked(r.id, next_check(r.checks, now))
                .await?;
            Ok(false)
        }
        v => {
            finish_refund(state, r, v, now).await?;
            Ok(true)
        }
    }
}

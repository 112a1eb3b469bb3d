//! Refunds (SPEC F12): find an order by its id or a card payment's reference, see its legs
//! (card, voucher, credit balance, deferred account, installments) with what each collected,
//! what was refunded and what is left, refund all or part to the card (through the provider)
//! or to the contact's credit balance, and follow the latest refunds with their status. A
//! refund goes through `orders::back_office_refund` → `cards::refund`, as the JSON API's
//! (admins only, checked there); operators read.

use super::contacts::typed_amount;
use super::systems::FieldErrors;
use super::{Choice, Ctx, Posted, page};
use crate::AppState;
use crate::error::ApiError;
use crate::orders::back_office_refund;
use crate::pages::Chrome;
use crate::pages::i18n::Lang;
use crate::pages::see_other;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::Money;
use guichet_store::{
    HoldStatus, LegKind, Order, OrderStatus, Refund, RefundDestination, RefundStatus, StoreError,
};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/refunds", get(refunds_page))
        .route("/admin/refunds/orders/{order}", post(refund))
}

const NOTICES: &[(&str, &str, &str)] = &[
    ("refunded", "Remboursement effectué.", "Refund done."),
    (
        "pending",
        "Remboursement envoyé au prestataire : sa réponse est attendue.",
        "Refund sent to the provider: its answer is awaited.",
    ),
    (
        "refused",
        "Le prestataire a refusé le remboursement : rien n'a été remboursé.",
        "The provider refused the refund: nothing was refunded.",
    ),
];

fn leg_label(lang: Lang, k: LegKind) -> &'static str {
    match k {
        LegKind::Card => lang.tr("Carte bancaire", "Card"),
        LegKind::Voucher => lang.tr("Bon d'achat", "Voucher"),
        LegKind::CreditBalance => lang.tr("Avoir", "Credit balance"),
        LegKind::DeferredAccount => lang.tr("Compte d'attente", "Deferred account"),
        LegKind::Installments => lang.tr("Échéances à venir", "Later installments"),
    }
}

fn destination_label(lang: Lang, d: RefundDestination) -> &'static str {
    match d {
        RefundDestination::Card => lang.tr("Carte bancaire", "Card"),
        RefundDestination::CreditBalance => lang.tr("Avoir", "Credit balance"),
    }
}

fn refund_status_label(lang: Lang, s: RefundStatus) -> (&'static str, &'static str) {
    match s {
        RefundStatus::Succeeded => (lang.tr("Effectué", "Done"), "status-paid"),
        RefundStatus::PendingProvider => (
            lang.tr("En attente du prestataire", "Awaiting the provider"),
            "",
        ),
        RefundStatus::Failed => (lang.tr("Refusé", "Refused"), "status-failed"),
    }
}

fn order_status_label(lang: Lang, s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::AwaitingPayment => lang.tr("En attente de paiement", "Awaiting payment"),
        OrderStatus::Paid => lang.tr("Payée", "Paid"),
        OrderStatus::Cancelled => lang.tr("Annulée", "Cancelled"),
        OrderStatus::Expired => lang.tr("Expirée", "Expired"),
    }
}

pub struct RefundRow {
    pub date: String,
    pub order_id: String,
    pub order_short: String,
    pub amount: String,
    pub destination: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub by: String,
    pub failure: String,
}

fn refund_row(lang: Lang, r: &Refund) -> RefundRow {
    let (status, status_class) = refund_status_label(lang, r.status);
    RefundRow {
        date: lang.date_time(r.created_at),
        order_id: r.order_id.to_string(),
        order_short: r.order_id.to_string()[..8].to_owned(),
        amount: r.amount.to_string(),
        destination: destination_label(lang, r.destination),
        status,
        status_class,
        by: r.requested_by.clone(),
        failure: r.failure_reason.clone().unwrap_or_default(),
    }
}

pub struct LegRow {
    pub id: String,
    pub means: &'static str,
    pub detail: String,
    pub amount: String,
    pub status: &'static str,
    pub refunded: String,
    pub refundable: String,
}

pub struct PaymentRow {
    pub reference: String,
    pub provider: String,
    pub card: String,
    pub amount: String,
    pub status: String,
}

/// A found order, its legs and payments, and the refund form.
pub struct Found {
    pub id: String,
    pub status: &'static str,
    pub paid: bool,
    pub total: String,
    pub currency: String,
    pub contact: String,
    pub has_contact: bool,
    pub has_card: bool,
    pub installments: bool,
    pub legs: Vec<LegRow>,
    pub leg_choices: Vec<Choice>,
    pub payments: Vec<PaymentRow>,
    pub refunds: Vec<RefundRow>,
}

/// What the refund form shows again when it is refused.
pub struct RefundForm {
    pub amount: String,
    pub destination: String,
    pub leg: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_refunds.html")]
pub struct RefundsPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub search: String,
    pub search_error: String,
    pub found: Option<Found>,
    pub form: RefundForm,
    pub errors: FieldErrors,
    pub recent: Vec<RefundRow>,
}

/// The order named by `term`: its id, or the reference of one of its card payments.
async fn find(state: &AppState, term: &str) -> Result<Option<Order>, ApiError> {
    if let Ok(id) = term.parse::<Uuid>() {
        return match state.store.get_order(id).await {
            Ok(o) => Ok(Some(o)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    if term.len() > 100 || !term.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(None);
    }
    match state.store.card_payment_by_reference(term).await {
        Ok(p) => Ok(Some(state.store.get_order(p.order_id).await?)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn found(state: &AppState, lang: Lang, order: &Order) -> Result<Found, ApiError> {
    let contact = match order.contact_id {
        Some(c) => {
            let c = state.store.get_contact(c).await?;
            format!("{} {} · {}", c.first_name, c.last_name, c.email)
        }
        None => String::new(),
    };
    let payments = state.store.card_payments_of_order(order.id).await?;
    let refunds = state.store.refunds_of_order(order.id).await?;
    let installments = state.store.installments_of_order(order.id).await?;
    let mut legs = Vec::new();
    let mut leg_choices = Vec::new();
    for l in &order.legs {
        let committed = l.status == HoldStatus::Committed;
        let (refundable, detail) = match l.kind {
            LegKind::Installments => {
                let open: i64 = installments
                    .iter()
                    .filter(|i| {
                        matches!(
                            i.status,
                            guichet_store::InstallmentStatus::Open
                                | guichet_store::InstallmentStatus::Failed
                        )
                    })
                    .map(|i| i.amount.amount_minor())
                    .sum();
                (
                    String::new(),
                    match lang {
                        Lang::Fr => format!(
                            "{} échéances ; restant dû {} (annulé par un remboursement sur carte)",
                            installments.len(),
                            Money::new(open, order.currency)
                        ),
                        Lang::En => format!(
                            "{} installments; {} still owed (cancelled by a refund to the card)",
                            installments.len(),
                            Money::new(open, order.currency)
                        ),
                    },
                )
            }
            _ if committed => {
                let left = Money::new(
                    l.amount.amount_minor() - l.refunded.amount_minor(),
                    order.currency,
                );
                if left.is_positive() {
                    leg_choices.push(Choice {
                        value: l.id.to_string(),
                        label: format!("{} — {}", leg_label(lang, l.kind), left),
                    });
                }
                (left.to_string(), String::new())
            }
            _ => (String::new(), String::new()),
        };
        let detail = if l.kind == LegKind::Card {
            payments
                .iter()
                .find(|p| p.leg_id == l.id && p.installment_id.is_none())
                .and_then(|p| p.card.masked_pan.clone())
                .unwrap_or(detail)
        } else {
            detail
        };
        legs.push(LegRow {
            id: l.id.to_string(),
            means: leg_label(lang, l.kind),
            detail,
            amount: l.amount.to_string(),
            status: match l.status {
                HoldStatus::Held => lang.tr("Réservé", "Held"),
                HoldStatus::Committed => lang.tr("Encaissé", "Collected"),
                HoldStatus::Released => lang.tr("Libéré", "Released"),
            },
            refunded: l.refunded.to_string(),
            refundable,
        });
    }
    Ok(Found {
        id: order.id.to_string(),
        status: order_status_label(lang, order.status),
        paid: order.status == OrderStatus::Paid,
        total: order.total.to_string(),
        currency: order.currency.code().to_owned(),
        has_contact: order.contact_id.is_some(),
        contact,
        has_card: order
            .legs
            .iter()
            .any(|l| l.kind == LegKind::Card && l.status == HoldStatus::Committed),
        installments: order.legs.iter().any(|l| l.kind == LegKind::Installments),
        legs,
        leg_choices,
        payments: payments
            .iter()
            .map(|p| PaymentRow {
                reference: p.reference.clone(),
                provider: p.provider.as_str().to_owned(),
                card: p.card.masked_pan.clone().unwrap_or_default(),
                amount: p.amount.to_string(),
                status: p.status.as_str().to_owned(),
            })
            .collect(),
        refunds: refunds.iter().rev().map(|r| refund_row(lang, r)).collect(),
    })
}

async fn refunds_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let search = super::opt(&ctx.query, "order").unwrap_or_default();
    render(&state, &ctx, search, None).await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    search: String,
    refused: Option<(StatusCode, RefundForm, FieldErrors)>,
) -> Response {
    let lang = ctx.lang;
    let build = async {
        let mut status = StatusCode::OK;
        let mut search_error = String::new();
        let order = if search.is_empty() {
            None
        } else {
            let o = find(state, &search).await?;
            if o.is_none() {
                status = StatusCode::NOT_FOUND;
                search_error = lang
                    .tr(
                        "Aucune commande avec cet identifiant ou cette référence.",
                        "No order with this id or reference.",
                    )
                    .to_owned();
            }
            o
        };
        let found = match &order {
            Some(o) => Some(found(state, lang, o).await?),
            None => None,
        };
        let (form, errors) = match refused {
            Some((s, form, errors)) => {
                status = s;
                (form, errors)
            }
            None => (
                RefundForm {
                    amount: String::new(),
                    destination: String::new(),
                    leg: String::new(),
                },
                FieldErrors::default(),
            ),
        };
        let recent = state
            .store
            .recent_refunds(50)
            .await?
            .iter()
            .map(|r| refund_row(lang, r))
            .collect();
        Ok::<_, ApiError>(page(
            status,
            RefundsPage {
                page: ctx.chrome("refunds"),
                csrf: ctx.csrf(),
                user: ctx.user(),
                is_admin: ctx.is_admin(),
                notice: ctx.notice(NOTICES),
                search,
                search_error,
                found,
                form,
                errors,
                recent,
            },
        ))
    };
    match build.await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

/// The refusal of a refund in the page's language, next to the amount.
fn refusal(lang: Lang, e: &ApiError) -> String {
    match e.code {
        "refund_exceeds_collected" => lang
            .tr(
                "Le montant dépasse ce qui reste à rembourser sur ce moyen de paiement.",
                "The amount is more than what is left to refund on this means of payment.",
            )
            .to_owned(),
        "order_not_paid" => lang
            .tr(
                "Seule une commande payée peut être remboursée.",
                "Only a paid order can be refunded.",
            )
            .to_owned(),
        "not_paid_by_card" => lang
            .tr(
                "Cette commande n'a pas été payée par carte.",
                "This order was not paid by card.",
            )
            .to_owned(),
        "no_contact" => lang
            .tr(
                "La commande n'a pas de contact : pas d'avoir à créditer.",
                "The order has no contact: no credit balance to credit.",
            )
            .to_owned(),
        "payment_in_progress" => lang
            .tr(
                "Un paiement est en cours sur cette commande : réessayez dans quelques minutes.",
                "A payment is in progress on this order: try again in a few minutes.",
            )
            .to_owned(),
        _ => e.message.clone(),
    }
}

async fn refund(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let order = match state.store.get_order(order_id).await {
        Ok(o) => o,
        Err(e) => return ctx.failure(e.into()),
    };
    let form = RefundForm {
        amount: posted.opt("amount").unwrap_or_default(),
        destination: posted.opt("destination").unwrap_or_default(),
        leg: posted.opt("leg").unwrap_or_default(),
    };
    let mut errors = FieldErrors::default();
    let amount = typed_amount(Some(&form.amount), order.currency).filter(|m| m.is_positive());
    if amount.is_none() {
        errors.add(
            "amount",
            lang.tr(
                "Montant invalide : un nombre positif, par exemple 12,50.",
                "Invalid amount: a positive number, for example 12.50.",
            ),
        );
    }
    let destination = RefundDestination::parse(&form.destination);
    if destination.is_none() {
        errors.add(
            "destination",
            lang.tr(
                "Choisissez la carte ou l'avoir.",
                "Choose the card or the credit balance.",
            ),
        );
    }
    let leg = if form.leg.is_empty() {
        Some(None)
    } else {
        form.leg
            .parse::<Uuid>()
            .ok()
            .filter(|id| order.legs.iter().any(|l| l.id == *id))
            .map(Some)
    };
    if leg.is_none() {
        errors.add(
            "leg",
            lang.tr(
                "Choisissez un moyen de paiement de la commande.",
                "Choose a means of payment of the order.",
            ),
        );
    }
    let search = order_id.to_string();
    let (Some(amount), Some(destination), Some(leg)) = (amount, destination, leg) else {
        return render(
            &state,
            ctx,
            search,
            Some((StatusCode::UNPROCESSABLE_ENTITY, form, errors)),
        )
        .await;
    };
    match back_office_refund(&state, &ctx.staff, order_id, amount, destination, leg).await {
        Ok(r) => {
            let notice = match r.status {
                RefundStatus::Succeeded => "refunded",
                RefundStatus::PendingProvider => "pending",
                RefundStatus::Failed => "refused",
            };
            tracing::info!(order = %order_id, refund = %r.id, amount = %amount, by = %ctx.staff.user.username, "refund (back office)");
            see_other(&format!("/admin/refunds?order={order_id}&notice={notice}"))
        }
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let mut errors = FieldErrors::default();
            let field = if e.code == "unknown_leg" {
                "leg"
            } else {
                "amount"
            };
            errors.add(field, refusal(lang, &e));
            render(&state, ctx, search, Some((e.status, form, errors))).await
        }
        Err(e) => ctx.failure(e),
    }
}

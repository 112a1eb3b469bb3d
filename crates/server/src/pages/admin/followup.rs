//! The installment follow-up (SPEC F10): every installment with its order, contact, due date,
//! amount, attempts and last error, filtered by status (`admin::installment_plans::
//! list_installments`' query); an order's schedule; and on a failed installment the back
//! office's actions — retry now, cancel — and, on the order, a payment recorded at the box
//! office (cash or cheque) for its oldest unpaid installment. The actions are
//! `installments::{retry_now, cancel_failed, record_other_payment}` (admins only, checked
//! there), each one ledger transaction; operators read.

use super::systems::FieldErrors;
use super::{Ctx, Posted, page};
use crate::AppState;
use crate::error::ApiError;
use crate::installments::{OtherMeans, cancel_failed, record_other_payment, retry_now};
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
use guichet_store::{InstallmentRow, InstallmentStatus, Order};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/installments", get(list_page))
        .route("/admin/installments/orders/{order}", get(order_page))
        .route(
            "/admin/installments/orders/{order}/payment",
            post(record_payment),
        )
        .route("/admin/installments/{id}/retry", post(retry))
        .route("/admin/installments/{id}/cancel", post(cancel))
}

const NOTICES: &[(&str, &str, &str)] = &[
    (
        "retry_paid",
        "Nouvelle tentative : l'échéance est payée.",
        "Retried: the installment is paid.",
    ),
    (
        "retry_failed",
        "Nouvelle tentative : la carte a encore été refusée.",
        "Retried: the card was declined again.",
    ),
    (
        "retry_pending",
        "Nouvelle tentative envoyée : la réponse du prestataire est attendue.",
        "Retry sent: the provider's answer is awaited.",
    ),
    (
        "cancelled",
        "Échéance annulée : elle ne sera pas encaissée.",
        "Installment cancelled: it will not be collected.",
    ),
    (
        "recorded",
        "Paiement enregistré sur l'échéance impayée la plus ancienne.",
        "Payment recorded on the oldest unpaid installment.",
    ),
];

pub(crate) fn status_label(lang: Lang, s: InstallmentStatus) -> &'static str {
    match s {
        InstallmentStatus::Open => lang.tr("À venir", "Due"),
        InstallmentStatus::Paid => lang.tr("Payée", "Paid"),
        InstallmentStatus::Failed => lang.tr("En échec", "Failed"),
        InstallmentStatus::Cancelled => lang.tr("Annulée", "Cancelled"),
    }
}

pub struct Row {
    pub id: String,
    pub order_id: String,
    pub order_short: String,
    pub contact: String,
    pub number: u8,
    pub count: usize,
    pub due: String,
    pub amount: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub failed: bool,
    pub attempts: u32,
    pub error: String,
    pub paid_at: String,
}

pub struct Filter {
    pub value: &'static str,
    pub label: &'static str,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_followup.html")]
pub struct ListPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub filters: Vec<Filter>,
    pub status_error: String,
    pub rows: Vec<Row>,
}

fn row(lang: Lang, i: &InstallmentRow, count: usize, contact: String) -> Row {
    Row {
        id: i.id.to_string(),
        order_id: i.order_id.to_string(),
        order_short: i.order_id.to_string()[..8].to_owned(),
        contact,
        number: i.number,
        count,
        due: lang.date(i.due_on),
        amount: i.amount.to_string(),
        status: status_label(lang, i.status),
        status_class: match i.status {
            InstallmentStatus::Paid => "status-paid",
            InstallmentStatus::Failed => "status-failed",
            _ => "",
        },
        failed: i.status == InstallmentStatus::Failed,
        attempts: i.attempts,
        error: i.failure_reason.clone().unwrap_or_default(),
        paid_at: i.paid_at.map(|t| lang.date_time(t)).unwrap_or_default(),
    }
}

async fn contact_name(state: &AppState, order: &Order) -> String {
    match order.contact_id {
        Some(c) => match state.store.get_contact(c).await {
            Ok(c) => format!("{} {} · {}", c.first_name, c.last_name, c.email),
            Err(_) => String::new(),
        },
        None => String::new(),
    }
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let lang = ctx.lang;
    let raw = super::opt(&ctx.query, "status").unwrap_or_default();
    let (status, status_error) = match raw.as_str() {
        "" => (None, String::new()),
        s => match InstallmentStatus::parse(s) {
            Some(s) => (Some(s), String::new()),
            None => (
                None,
                lang.tr(
                    "Choisissez un statut de la liste.",
                    "Choose a status from the list.",
                )
                .to_owned(),
            ),
        },
    };
    let build = async {
        let list = if status_error.is_empty() {
            state.store.list_installments(None, status, 200).await?
        } else {
            Vec::new()
        };
        let mut orders: HashMap<Uuid, (String, usize)> = HashMap::new();
        let mut rows = Vec::new();
        for i in &list {
            if let std::collections::hash_map::Entry::Vacant(e) = orders.entry(i.order_id) {
                let order = state.store.get_order(i.order_id).await?;
                let count = state.store.installments_of_order(order.id).await?.len();
                e.insert((contact_name(&state, &order).await, count));
            }
            let (contact, count) = orders.get(&i.order_id).cloned().unwrap_or_default();
            rows.push(row(lang, i, count, contact));
        }
        let filters = [
            ("", lang.tr("Toutes", "All")),
            ("open", status_label(lang, InstallmentStatus::Open)),
            ("failed", status_label(lang, InstallmentStatus::Failed)),
            ("paid", status_label(lang, InstallmentStatus::Paid)),
            (
                "cancelled",
                status_label(lang, InstallmentStatus::Cancelled),
            ),
        ]
        .into_iter()
        .map(|(value, label)| Filter {
            value,
            label,
            current: value == raw,
        })
        .collect();
        Ok::<_, ApiError>(page(
            if status_error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            ListPage {
                page: ctx.chrome("followup"),
                csrf: ctx.csrf(),
                user: ctx.user(),
                filters,
                status_error: status_error.clone(),
                rows,
            },
        ))
    };
    match build.await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

// ---- an order's schedule -----------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "admin_followup_order.html")]
pub struct OrderPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub order_id: String,
    pub order_status: String,
    pub total: String,
    pub contact: String,
    pub created: String,
    pub rows: Vec<Row>,
    /// The oldest unpaid installment, which a recorded payment pays: "2 · 33.33 EUR".
    pub next_unpaid: String,
    pub means: String,
    pub reference: String,
    pub errors: FieldErrors,
}

async fn order_page(State(state): State<AppState>, ctx: Ctx, Path(order): Path<Uuid>) -> Response {
    render_order(&state, &ctx, order, None).await
}

async fn render_order(
    state: &AppState,
    ctx: &Ctx,
    order_id: Uuid,
    refused: Option<(String, String, FieldErrors)>,
) -> Response {
    let lang = ctx.lang;
    let build = async {
        let order = state.store.get_order(order_id).await?;
        let installments = state.store.installments_of_order(order_id).await?;
        if installments.is_empty() {
            return Err(ApiError::not_found("installment schedule"));
        }
        let contact = contact_name(state, &order).await;
        let count = installments.len();
        let next_unpaid = installments
            .iter()
            .filter(|i| {
                matches!(
                    i.status,
                    InstallmentStatus::Open | InstallmentStatus::Failed
                )
            })
            .min_by_key(|i| i.number)
            .map(|i| format!("{} · {} · {}", i.number, lang.date(i.due_on), i.amount))
            .unwrap_or_default();
        let (status, (means, reference, errors)) = match refused {
            Some(r) => (StatusCode::UNPROCESSABLE_ENTITY, r),
            None => (
                StatusCode::OK,
                (String::new(), String::new(), FieldErrors::default()),
            ),
        };
        Ok(page(
            status,
            OrderPage {
                page: ctx.chrome("followup"),
                csrf: ctx.csrf(),
                user: ctx.user(),
                is_admin: ctx.is_admin(),
                notice: ctx.notice(NOTICES),
                order_id: order.id.to_string(),
                order_status: order.status.as_str().to_owned(),
                total: order.total.to_string(),
                contact: contact.clone(),
                created: lang.date_time(order.created_at),
                rows: installments
                    .iter()
                    .map(|i| row(lang, i, count, contact.clone()))
                    .collect(),
                next_unpaid,
                means,
                reference,
                errors,
            },
        ))
    };
    match build.await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

async fn retry(State(state): State<AppState>, Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    match retry_now(&state, &ctx.staff, id, OffsetDateTime::now_utc()).await {
        Ok(inst) => {
            let notice = match inst.status {
                InstallmentStatus::Paid => "retry_paid",
                InstallmentStatus::Failed => "retry_failed",
                _ => "retry_pending",
            };
            see_other(&format!(
                "/admin/installments/orders/{}?notice={notice}",
                inst.order_id
            ))
        }
        Err(e) => ctx.failure(e),
    }
}

async fn cancel(State(state): State<AppState>, Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    match cancel_failed(&state, &ctx.staff, id).await {
        Ok(inst) => see_other(&format!(
            "/admin/installments/orders/{}?notice=cancelled",
            inst.order_id
        )),
        Err(e) => ctx.failure(e),
    }
}

async fn record_payment(
    State(state): State<AppState>,
    Path(order): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let raw_means = posted.opt("means").unwrap_or_default();
    let reference = posted.opt("reference").unwrap_or_default();
    let mut errors = FieldErrors::default();
    let means = OtherMeans::parse(&raw_means);
    if means.is_none() {
        errors.add(
            "means",
            lang.tr("Choisissez espèces ou chèque.", "Choose cash or cheque."),
        );
    }
    if reference.chars().count() > 100 || reference.chars().any(char::is_control) {
        errors.add(
            "reference",
            lang.tr(
                "Une référence de 100 caractères au plus.",
                "A reference of at most 100 characters.",
            ),
        );
    }
    let Some(means) = means.filter(|_| errors.is_empty()) else {
        return render_order(&state, ctx, order, Some((raw_means, reference, errors))).await;
    };
    match record_other_payment(
        &state,
        &ctx.staff,
        order,
        means,
        &reference,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "/admin/installments/orders/{order}?notice=recorded"
        )),
        Err(e) => ctx.failure(e),
    }
}

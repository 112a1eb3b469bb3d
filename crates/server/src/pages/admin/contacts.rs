//! Contacts: the list and a contact's page with the seed's "Gestion" tab (the accounting block:
//! credit balance, deferred account allowed, its balance and maximum outstanding), a credit
//! adjustment, and the "Historique financier" (every ledger line on the contact's accounts).
//! Changes go through `admin::contacts` (admins only, checked there); operators read.

use super::{Ctx, Posted, page};
use crate::AppState;
use crate::admin::contacts::{UpdateContactRequest, post_credit_adjustment, update_contact};
use crate::pages::Chrome;
use crate::pages::see_other;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::{AccountKind, Money};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/contacts", get(contacts_page))
        .route("/admin/contacts/{id}", get(contact_page))
        .route("/admin/contacts/{id}/accounting", post(change_accounting))
        .route("/admin/contacts/{id}/credit", post(adjust_credit))
}

const NOTICES: &[(&str, &str, &str)] = &[
    ("saved", "Modifications enregistrées.", "Changes saved."),
    ("credited", "Avoir ajusté.", "Credit balance adjusted."),
];

pub struct ContactRow {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_contacts.html")]
pub struct ContactsPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub contacts: Vec<ContactRow>,
}

async fn contacts_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let rows = match state.store.list_contacts(None, 500).await {
        Ok(r) => r,
        Err(e) => return ctx.failure(e.into()),
    };
    page(
        StatusCode::OK,
        ContactsPage {
            page: ctx.chrome("contacts"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            contacts: rows
                .into_iter()
                .map(|c| ContactRow {
                    id: c.id.to_string(),
                    name: format!("{} {}", c.first_name, c.last_name),
                    email: c.email,
                })
                .collect(),
        },
    )
}

pub struct HistoryRow {
    pub date: String,
    pub account: &'static str,
    pub what: String,
    pub order: String,
    pub change: String,
    pub negative: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_contact.html")]
pub struct ContactPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub id: String,
    pub name: String,
    pub email: String,
    pub language: String,
    pub currency: String,
    pub credit_balance: String,
    pub deferred_allowed: bool,
    pub deferred_balance: String,
    pub deferred_max: String,
    pub deferred_room: String,
    pub max_error: String,
    pub credit_error: String,
    pub history: Vec<HistoryRow>,
}

async fn contact_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    render(&state, &ctx, id, StatusCode::OK, "", "").await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    status: StatusCode,
    max_error: &str,
    credit_error: &str,
) -> Response {
    let lang = ctx.lang;
    let (contact, tab, lines) = match async {
        let c = state.store.get_contact(id).await?;
        let t = state.store.accounting_tab(id).await?;
        let h = state.store.contact_history(id).await?;
        Ok::<_, guichet_store::StoreError>((c, t, h))
    }
    .await
    {
        Ok(v) => v,
        Err(e) => return ctx.failure(e.into()),
    };
    let room = crate::checkout::deferred_room(&tab);
    let history = lines
        .into_iter()
        .rev()
        .map(|h| HistoryRow {
            date: lang.date_time(h.created_at),
            account: match h.account_kind {
                AccountKind::ContactCredit => lang.tr("Avoir", "Credit balance"),
                AccountKind::ContactDeferred => lang.tr("Compte d'attente", "Deferred account"),
                _ => lang.tr("Autre", "Other"),
            },
            what: if h.memo.is_empty() {
                h.kind.replace('_', " ")
            } else {
                h.memo
            },
            order: h
                .order_id
                .map(|o| o.to_string()[..8].to_owned())
                .unwrap_or_default(),
            change: Money::new(h.delta_minor, h.amount.currency()).to_string(),
            negative: h.delta_minor < 0,
        })
        .collect();
    page(
        status,
        ContactPage {
            page: ctx.chrome("contacts"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            is_admin: ctx.is_admin(),
            notice: ctx.notice(NOTICES),
            id: contact.id.to_string(),
            name: format!("{} {}", contact.first_name, contact.last_name),
            email: contact.email,
            language: contact.language,
            currency: contact.currency.code().to_owned(),
            credit_balance: tab.credit_balance.to_string(),
            deferred_allowed: tab.deferred_allowed,
            deferred_balance: tab.deferred_balance.to_string(),
            deferred_max: tab.deferred_max.format_amount(),
            deferred_room: room.to_string(),
            max_error: max_error.to_owned(),
            credit_error: credit_error.to_owned(),
            history,
        },
    )
}

/// A typed amount, `150,00` or `150.00`, in `currency`.
pub(crate) fn typed_amount(raw: Option<&str>, currency: guichet_domain::Currency) -> Option<Money> {
    let raw = raw
        .unwrap_or("")
        .trim()
        .replace([' ', '\u{a0}'], "")
        .replace(',', ".");
    Money::parse_amount(&raw, currency).ok()
}

async fn change_accounting(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let contact = match state.store.get_contact(id).await {
        Ok(c) => c,
        Err(e) => return ctx.failure(e.into()),
    };
    let max = match typed_amount(posted.field("deferred_max"), contact.currency) {
        Some(m) if !m.is_negative() => m,
        _ => {
            let msg = ctx.lang.tr(
                "Montant invalide : un nombre positif, par exemple 150,00.",
                "Invalid amount: a positive number, for example 150.00.",
            );
            return render(&state, ctx, id, StatusCode::UNPROCESSABLE_ENTITY, msg, "").await;
        }
    };
    let req = UpdateContactRequest {
        first_name: None,
        last_name: None,
        email: None,
        language: None,
        deferred_allowed: Some(posted.field("deferred_allowed") == Some("yes")),
        deferred_max_minor: Some(max.amount_minor()),
    };
    match update_contact(&state, &ctx.staff, id, req).await {
        Ok(_) => see_other(&format!("/admin/contacts/{id}?notice=saved")),
        Err(e) => ctx.failure(e),
    }
}

async fn adjust_credit(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let contact = match state.store.get_contact(id).await {
        Ok(c) => c,
        Err(e) => return ctx.failure(e.into()),
    };
    let amount = typed_amount(posted.field("amount"), contact.currency).filter(|m| !m.is_zero());
    let memo = posted.opt("memo").filter(|m| m.chars().count() <= 200);
    let (Some(amount), Some(memo)) = (amount, memo) else {
        let msg = ctx.lang.tr(
            "Indiquez un montant non nul (négatif pour reprendre de l'avoir) et un motif.",
            "Give a non-zero amount (negative to take credit back) and a reason.",
        );
        return render(&state, ctx, id, StatusCode::UNPROCESSABLE_ENTITY, "", msg).await;
    };
    match post_credit_adjustment(&state, &contact, amount, &memo).await {
        Ok(tx) => {
            tracing::info!(contact = %id, transaction = %tx, amount_minor = amount.amount_minor(), by = %ctx.staff.user.username, "credit adjustment (back office)");
            see_other(&format!("/admin/contacts/{id}?notice=credited"))
        }
        Err(e)
            if e.status == StatusCode::CONFLICT || e.status == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            let msg = ctx.lang.tr(
                "L'avoir ne peut pas devenir négatif.",
                "The credit balance cannot go below zero.",
            );
            render(&state, ctx, id, StatusCode::UNPROCESSABLE_ENTITY, "", msg).await
        }
        Err(e) => ctx.failure(e),
    }
}

//! Gift vouchers (SPEC F3, the seed's "Bons cadeaux"): voucher products — their list and the
//! creation form (name, fixed value with its price or open value between a minimum and a
//! maximum, validity as an end date or a duration, single-use or reusable) — and the vouchers
//! issued from them: a filtered list and a voucher's page with its value, the balance left, its
//! expiry and every ledger line on it (issue, holds by orders, releases, what a single-use
//! voucher forfeited).
//!
//! A voucher's code is a bearer credential, kept whole in the store: lists show its last group
//! only (`****-****-****-RB6W`), to every role; a voucher's own page shows it whole to admins,
//! as the JSON API does (`admin::catalogue::VoucherJson`). Products are created through
//! `admin::catalogue::create_product` (admins only, checked there).

use super::codes::Form;
use super::dashboard::{day_bounds, parse_date, to_local};
use super::{Choice, Ctx, Posted, page};
use crate::AppState;
use crate::admin::MoneyJson;
use crate::admin::catalogue::{
    VoucherProductRequest, VoucherValidityJson, VoucherValueJson, create_product, masked_code,
};
use crate::error::ApiError;
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
use guichet_domain::config::Role;
use guichet_domain::voucher::{VoucherValidity, VoucherValue};
use guichet_domain::{Currency, Money};
use guichet_store::{Voucher, VoucherProduct};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/vouchers", get(vouchers_page))
        .route("/admin/vouchers/products", post(create))
        .route("/admin/vouchers/{id}", get(voucher_page))
}

const NOTICES: &[(&str, &str, &str)] = &[("product-created", "Produit créé.", "Product created.")];

/// Most vouchers the list reads.
const LIST_LIMIT: u32 = 10_000;

/// The states a voucher is filtered by.
const STATES: &[(&str, &str, &str)] = &[
    ("", "Tous", "All"),
    ("usable", "Utilisables", "Usable"),
    ("held", "Réservés par une commande", "Held by an order"),
    ("spent", "Épuisés", "Spent"),
    ("expired", "Expirés", "Expired"),
];

fn state_of(v: &Voucher, now: OffsetDateTime) -> &'static str {
    if now >= v.expires_at {
        "expired"
    } else if !v.balance.is_positive() {
        "spent"
    } else if v.held_by_order_id.is_some() {
        "held"
    } else {
        "usable"
    }
}

fn state_label(lang: Lang, state: &str) -> &'static str {
    STATES
        .iter()
        .find(|s| s.0 == state)
        .map(|s| lang.tr(s.1, s.2))
        .unwrap_or("")
}

fn value_text(lang: Lang, value: &VoucherValue) -> String {
    match value {
        VoucherValue::Fixed { value, price } if value == price => value.to_string(),
        VoucherValue::Fixed { value, price } => {
            format!("{value} ({} {price})", lang.tr("vendu", "sold at"))
        }
        VoucherValue::Open { min, max } => format!(
            "{} {} {} {max}",
            lang.tr("Au choix, de", "Buyer's choice, from"),
            min.format_amount(),
            lang.tr("à", "to"),
        ),
    }
}

fn validity_text(lang: Lang, validity: &VoucherValidity) -> String {
    match validity {
        VoucherValidity::Days(days) => format!(
            "{days} {}",
            lang.tr("jours après l'émission", "days from issue")
        ),
        VoucherValidity::UntilDate(end) => {
            // Stored as the instant after the last day: show that day.
            let last = to_local(*end - time::Duration::seconds(1)).date();
            format!("{} {}", lang.tr("Jusqu'au", "Until"), lang.date(last))
        }
    }
}

fn yes_no(lang: Lang, b: bool) -> &'static str {
    if b {
        lang.tr("Oui", "Yes")
    } else {
        lang.tr("Non", "No")
    }
}

pub struct ProductRow {
    pub id: String,
    pub name: String,
    pub value: String,
    pub validity: String,
    pub reusable: &'static str,
}

pub struct VoucherRow {
    pub id: String,
    pub code: String,
    pub product: String,
    pub face_value: String,
    pub balance: String,
    pub expires: String,
    pub state: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_vouchers.html")]
pub struct VouchersPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub products: Vec<ProductRow>,
    pub institutions: Vec<Choice>,
    pub form: Form,
    pub filter: Form,
    pub product_choices: Vec<Choice>,
    pub states: Vec<Choice>,
    pub vouchers: Vec<VoucherRow>,
    pub shown: usize,
    pub total: usize,
}

async fn vouchers_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    render(&state, &ctx, StatusCode::OK, None).await
}

async fn render(state: &AppState, ctx: &Ctx, status: StatusCode, form: Option<Form>) -> Response {
    let lang = ctx.lang;
    let loaded = async {
        Ok::<_, guichet_store::StoreError>((
            state.store.list_voucher_products(None).await?,
            state.store.list_vouchers(None, LIST_LIMIT).await?,
            state.store.list_institutions().await?,
        ))
    }
    .await;
    let (products, vouchers, institutions) = match loaded {
        Ok(v) => v,
        Err(e) => return ctx.failure(e.into()),
    };
    // The filters, from the query string; a state not in the list is refused next to it.
    let mut filter = Form::new(ctx.query.clone());
    let wanted_state = filter.v("state").to_owned();
    if !STATES.iter().any(|s| s.0 == wanted_state) {
        filter.add(
            "state",
            lang.tr(
                "État inconnu : choisissez-en un de la liste.",
                "Unknown state: choose one from the list.",
            ),
        );
    }
    let wanted_product = filter.opt("product").and_then(|p| p.parse::<Uuid>().ok());
    let code_end = filter
        .opt("code")
        .map(|c| c.to_ascii_uppercase().replace(['-', ' '], ""));
    let status = if filter.is_ok() {
        status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let names: HashMap<Uuid, String> = products.iter().map(|p| (p.id, p.name.clone())).collect();
    let now = OffsetDateTime::now_utc();
    let total = vouchers.len();
    let rows: Vec<VoucherRow> = vouchers
        .iter()
        .filter(|_| filter.is_ok())
        .filter(|v| wanted_state.is_empty() || state_of(v, now) == wanted_state)
        .filter(|v| wanted_product.is_none() || v.product_id == wanted_product)
        .filter(|v| {
            code_end
                .as_deref()
                .is_none_or(|end| v.code.replace('-', "").ends_with(end))
        })
        .map(|v| VoucherRow {
            id: v.id.to_string(),
            code: masked_code(&v.code),
            product: v
                .product_id
                .and_then(|p| names.get(&p).cloned())
                .unwrap_or_else(|| {
                    lang.tr("(hors catalogue)", "(outside the catalogue)")
                        .to_owned()
                }),
            face_value: v.face_value.to_string(),
            balance: v.balance.to_string(),
            expires: lang.date_time(to_local(v.expires_at)),
            state: state_label(lang, state_of(v, now)),
        })
        .collect();
    let body = VouchersPage {
        page: ctx.chrome("vouchers"),
        csrf: ctx.csrf(),
        user: ctx.user(),
        is_admin: ctx.is_admin(),
        notice: ctx.notice(NOTICES),
        products: products.iter().map(|p| product_row(lang, p)).collect(),
        institutions: institutions
            .iter()
            .map(|i| Choice {
                value: i.id.to_string(),
                label: format!("{} ({})", i.name, i.default_currency.code()),
            })
            .collect(),
        form: form.unwrap_or_else(|| {
            Form::with(&[
                ("value_type", "fixed"),
                ("validity", "days"),
                ("days", "365"),
            ])
        }),
        product_choices: std::iter::once(Choice {
            value: String::new(),
            label: lang.tr("Tous", "All").to_owned(),
        })
        .chain(products.iter().map(|p| Choice {
            value: p.id.to_string(),
            label: p.name.clone(),
        }))
        .collect(),
        states: STATES
            .iter()
            .map(|s| Choice {
                value: s.0.to_owned(),
                label: lang.tr(s.1, s.2).to_owned(),
            })
            .collect(),
        shown: rows.len(),
        vouchers: rows,
        total,
        filter,
    };
    page(status, body)
}

fn product_row(lang: Lang, p: &VoucherProduct) -> ProductRow {
    ProductRow {
        id: p.id.to_string(),
        name: p.name.clone(),
        value: value_text(lang, &p.rule.value),
        validity: validity_text(lang, &p.rule.validity),
        reusable: if p.rule.reusable {
            lang.tr("Réutilisable jusqu'à épuisement", "Reusable until spent")
        } else {
            lang.tr("Usage unique", "Single use")
        },
    }
}

/// The form's field for an API field name of `create_product`.
fn form_field(api: &str, validity: &str) -> Option<String> {
    let name = match api.split('.').take(2).collect::<Vec<_>>().as_slice() {
        ["value", "value"] | ["value"] => "value",
        ["value", "price"] => "price",
        ["value", "min"] => "min",
        ["value", "max"] => "max",
        ["validity", "until_date"] => "until_date",
        ["validity"] if validity == "date" => "until_date",
        ["validity"] => "days",
        ["institution_id"] => "institution_id",
        ["currency"] => "institution_id",
        ["name"] => "name",
        ["reusable"] => "reusable",
        _ => return None,
    };
    Some(name.to_owned())
}

async fn create(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let lang = ctx.lang;
    let mut form = Form::new(posted.form.clone());
    let institution = match form
        .opt("institution_id")
        .and_then(|v| v.parse::<Uuid>().ok())
    {
        Some(id) => state.store.get_institution(id).await.ok(),
        None => None,
    };
    if institution.is_none() {
        form.add(
            "institution_id",
            lang.tr("Choisissez un établissement.", "Choose an institution."),
        );
    }
    let currency = institution
        .as_ref()
        .map_or(Currency::EUR, |i| i.default_currency);
    let amount = |form: &mut Form, name: &str| -> Option<MoneyJson> {
        let typed = super::contacts::typed_amount(Some(form.v(name)), currency);
        if typed.is_none() {
            form.add(
                name,
                lang.tr(
                    "Montant invalide : par exemple 50,00.",
                    "Invalid amount: for example 50.00.",
                ),
            );
        }
        typed.map(MoneyJson::from)
    };
    form.require(&["name"], lang);
    let value_type = form.v("value_type").to_owned();
    let value = if value_type == "open" {
        VoucherValueJson {
            value_type,
            value: None,
            price: None,
            min: amount(&mut form, "min"),
            max: amount(&mut form, "max"),
        }
    } else {
        VoucherValueJson {
            value_type: "fixed".to_owned(),
            value: amount(&mut form, "value"),
            price: amount(&mut form, "price"),
            min: None,
            max: None,
        }
    };
    let validity_kind = form.v("validity").to_owned();
    let validity = if validity_kind == "date" {
        let end = parse_date(form.v("until_date"))
            .map(|d| day_bounds(d).1)
            .and_then(|end| end.format(&Rfc3339).ok());
        if end.is_none() {
            form.add(
                "until_date",
                lang.tr(
                    "Date invalide : par exemple 2026-12-31.",
                    "Invalid date: for example 2026-12-31.",
                ),
            );
        }
        VoucherValidityJson {
            until_date: end,
            days: None,
        }
    } else {
        let days = form.v("days").trim().parse::<i64>().ok();
        if days.is_none() {
            form.add(
                "days",
                lang.tr(
                    "Un nombre de jours, par exemple 365.",
                    "A number of days, for example 365.",
                ),
            );
        }
        VoucherValidityJson {
            until_date: None,
            days,
        }
    };
    if !form.is_ok() {
        return render(&state, ctx, StatusCode::UNPROCESSABLE_ENTITY, Some(form)).await;
    }
    let req = VoucherProductRequest {
        institution_id: institution.as_ref().map(|i| i.id),
        name: form.opt("name"),
        currency: Some(currency.code().to_owned()),
        value: Some(value),
        validity: Some(validity),
        reusable: Some(form.has("reusable", "yes")),
    };
    match create_product(&state, &ctx.staff, req).await {
        Ok(_) => see_other("/admin/vouchers?notice=product-created"),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            form.api_errors(&e, |name| form_field(name, &validity_kind));
            render(&state, ctx, e.status, Some(form)).await
        }
        Err(e) => ctx.failure(e),
    }
}

// ---- a voucher -------------------------------------------------------------------------------

pub struct LedgerRow {
    pub date: String,
    pub what: String,
    pub order: String,
    pub change: String,
    pub negative: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_voucher.html")]
pub struct VoucherPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub code: String,
    pub whole_code: bool,
    pub product: String,
    pub face_value: String,
    pub balance: String,
    pub expires: String,
    pub state: &'static str,
    pub reusable: &'static str,
    pub issued_order: String,
    pub held_by: String,
    pub created: String,
    pub ledger: Vec<LedgerRow>,
}

fn movement(lang: Lang, kind: &str) -> String {
    match kind {
        "voucher_sale" => lang.tr(
            "Émission (vente au guichet)",
            "Issued (sold at the counter)",
        ),
        "order_commit" => lang.tr("Commande payée", "Order paid"),
        "voucher_hold" => lang.tr("Réservé par une commande", "Held by an order"),
        "hold_release" => lang.tr("Réservation libérée", "Hold released"),
        "voucher_forfeit" => lang.tr("Reste perdu (usage unique)", "Rest forfeited (single use)"),
        "refund" => lang.tr("Remboursement", "Refund"),
        _ => return kind.replace('_', " "),
    }
    .to_owned()
}

async fn voucher_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return ctx.failure(ApiError::not_found("voucher"));
    };
    match render_voucher(&state, &ctx, id).await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

async fn render_voucher(state: &AppState, ctx: &Ctx, id: Uuid) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let v = state.store.get_voucher(id).await?;
    let lines = state.store.voucher_history(id).await?;
    let product = match v.product_id {
        Some(p) => state.store.get_voucher_product(p).await?.name,
        None => lang
            .tr("(hors catalogue)", "(outside the catalogue)")
            .to_owned(),
    };
    let whole = ctx.staff.user.role == Role::Admin;
    let short = |o: Option<Uuid>| o.map(|o| o.to_string()[..8].to_owned()).unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    Ok(page(
        StatusCode::OK,
        VoucherPage {
            page: ctx.chrome("vouchers"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            code: if whole {
                v.code.clone()
            } else {
                masked_code(&v.code)
            },
            whole_code: whole,
            product,
            face_value: v.face_value.to_string(),
            balance: v.balance.to_string(),
            expires: lang.date_time(to_local(v.expires_at)),
            state: state_label(lang, state_of(&v, now)),
            reusable: yes_no(lang, v.reusable),
            issued_order: short(v.issued_order_id),
            held_by: short(v.held_by_order_id),
            created: lang.date_time(to_local(v.created_at)),
            ledger: lines
                .into_iter()
                .rev()
                .map(|h| LedgerRow {
                    date: lang.date_time(to_local(h.created_at)),
                    what: movement(lang, &h.kind),
                    order: short(h.order_id),
                    change: Money::new(h.delta_minor, h.amount.currency()).to_string(),
                    negative: h.delta_minor < 0,
                })
                .collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_fields_land_on_the_form() {
        assert_eq!(form_field("value.value", "days").as_deref(), Some("value"));
        assert_eq!(
            form_field("value.price.currency", "days").as_deref(),
            Some("price")
        );
        assert_eq!(form_field("validity", "days").as_deref(), Some("days"));
        assert_eq!(
            form_field("validity", "date").as_deref(),
            Some("until_date")
        );
        assert_eq!(
            form_field("validity.until_date", "date").as_deref(),
            Some("until_date")
        );
        assert_eq!(form_field("other", "days"), None);
    }
}

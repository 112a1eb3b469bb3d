//! Installment plans (SPEC F10): the list with each plan's example schedule for a sample
//! amount (computed by the domain, `guichet_domain::installments::schedule`), the creation form,
//! a plan's page to change it (an inactive plan is no longer offered: that is its archive) or
//! delete it (refused while orders are paid with it). Changes go through
//! `admin::installment_plans::{create_plan, update_plan, delete_plan}` (admins only, checked
//! there); operators read.

use super::contacts::typed_amount;
use super::systems::FieldErrors;
use super::{Choice, Ctx, Posted, page};
use crate::AppState;
use crate::admin::MoneyJson;
use crate::admin::installment_plans::{PlanRequest, create_plan, delete_plan, update_plan};
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
use guichet_domain::installments::{
    InstallmentPlan, Interval, PlanError, PlanMode, Split, schedule,
};
use guichet_domain::{Currency, Money};
use guichet_store::InstallmentPlanRow;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/installment-plans", get(list_page).post(create))
        .route("/admin/installment-plans/{id}", get(plan_page).post(update))
        .route("/admin/installment-plans/{id}/delete", post(delete))
}

const NOTICES: &[(&str, &str, &str)] = &[
    ("created", "Formule créée.", "Plan created."),
    ("saved", "Formule enregistrée.", "Plan saved."),
    ("deleted", "Formule supprimée.", "Plan deleted."),
];

pub struct Line {
    pub number: u8,
    pub due: String,
    pub amount: String,
}

pub struct PlanRow {
    pub id: String,
    pub name: String,
    pub point_of_sale: String,
    pub count: u8,
    pub split: String,
    pub interval: String,
    pub min_amount: String,
    pub mode: &'static str,
    pub active: bool,
    /// The example schedule for the sample amount.
    pub lines: Vec<Line>,
    /// Why the sample amount gives no schedule, or is below the plan's minimum.
    pub sample_note: String,
}

/// What the plan form shows: a plan's values, or what was posted when it is refused.
pub struct PlanForm {
    pub point_of_sale_id: String,
    pub name: String,
    pub count: String,
    /// `equal` or `percentages`.
    pub split: String,
    pub percentages: String,
    /// `monthly` or `days`.
    pub interval: String,
    pub days: String,
    pub min_amount: String,
    /// `restrictive` or `free`.
    pub mode: String,
    pub active: bool,
}

impl PlanForm {
    fn blank() -> PlanForm {
        PlanForm {
            point_of_sale_id: String::new(),
            name: String::new(),
            count: "3".into(),
            split: "equal".into(),
            percentages: String::new(),
            interval: "monthly".into(),
            days: "30".into(),
            min_amount: "0.00".into(),
            mode: "restrictive".into(),
            active: true,
        }
    }

    fn of(row: &InstallmentPlanRow) -> PlanForm {
        let p = &row.plan;
        PlanForm {
            point_of_sale_id: row.point_of_sale_id.to_string(),
            name: row.name.clone(),
            count: p.count.to_string(),
            split: match p.split {
                Split::Equal => "equal".into(),
                Split::Percentages(_) => "percentages".into(),
            },
            percentages: match &p.split {
                Split::Equal => String::new(),
                Split::Percentages(v) => v.iter().map(u32::to_string).collect::<Vec<_>>().join("/"),
            },
            interval: match p.interval {
                Interval::Monthly => "monthly".into(),
                Interval::Days(_) => "days".into(),
            },
            days: match p.interval {
                Interval::Monthly => "30".into(),
                Interval::Days(d) => d.to_string(),
            },
            min_amount: p.min_amount.format_amount(),
            mode: match p.mode {
                PlanMode::Restrictive => "restrictive".into(),
                PlanMode::Free => "free".into(),
            },
            active: row.active,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_plans.html")]
pub struct ListPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub sample: String,
    pub sample_error: String,
    pub plans: Vec<PlanRow>,
    pub pos_choices: Vec<Choice>,
    pub action: String,
    pub form: PlanForm,
    pub errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_plan.html")]
pub struct PlanPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub sample: String,
    pub sample_error: String,
    pub plan: PlanRow,
    pub pos_choices: Vec<Choice>,
    pub action: String,
    pub form: PlanForm,
    pub errors: FieldErrors,
    pub delete_error: String,
}

fn split_label(lang: Lang, s: &Split) -> String {
    match s {
        Split::Equal => lang.tr("Parts égales", "Equal parts").to_owned(),
        Split::Percentages(p) => format!(
            "{} %",
            p.iter().map(u32::to_string).collect::<Vec<_>>().join(" / ")
        ),
    }
}

fn interval_label(lang: Lang, i: Interval) -> String {
    match (i, lang) {
        (Interval::Monthly, _) => lang.tr("Mensuelle", "Monthly").to_owned(),
        (Interval::Days(d), Lang::Fr) => format!("Tous les {d} jours"),
        (Interval::Days(d), Lang::En) => format!("Every {d} days"),
    }
}

fn mode_label(lang: Lang, m: PlanMode) -> &'static str {
    match m {
        PlanMode::Restrictive => lang.tr(
            "Restrictif : toutes les échéances avant l'événement",
            "Restrictive: every installment before the event",
        ),
        PlanMode::Free => lang.tr(
            "Libre : échéances possibles après l'événement",
            "Free: installments may fall after the event",
        ),
    }
}

/// The sample amount of `?sample=` (default 100.00) in `currency`; `Err` when it is not an
/// amount.
fn sample_of(ctx: &Ctx, currency: Currency) -> Result<Money, ()> {
    match super::opt(&ctx.query, "sample") {
        None => Ok(Money::new(100 * 10_i64.pow(currency.exponent()), currency)),
        Some(raw) => typed_amount(Some(&raw), currency)
            .filter(|m| m.is_positive())
            .ok_or(()),
    }
}

fn row(ctx: &Ctx, r: &InstallmentPlanRow, pos_name: String, today: time::Date) -> PlanRow {
    let lang = ctx.lang;
    let p = &r.plan;
    let mut lines = Vec::new();
    let mut sample_note = String::new();
    if let Ok(sample) = sample_of(ctx, p.min_amount.currency()) {
        match schedule(p, sample, today) {
            Ok(s) => {
                lines = s
                    .iter()
                    .map(|i| Line {
                        number: i.number,
                        due: lang.date(i.due),
                        amount: i.amount.to_string(),
                    })
                    .collect();
            }
            Err(e) => sample_note = e.to_string(),
        }
        if sample.amount_minor() < p.min_amount.amount_minor() {
            sample_note = match lang {
                Lang::Fr => format!("Non proposée sous {}.", p.min_amount),
                Lang::En => format!("Not offered below {}.", p.min_amount),
            };
        }
    }
    PlanRow {
        id: r.id.to_string(),
        name: r.name.clone(),
        point_of_sale: pos_name,
        count: p.count,
        split: split_label(lang, &p.split),
        interval: interval_label(lang, p.interval),
        min_amount: p.min_amount.to_string(),
        mode: mode_label(lang, p.mode),
        active: r.active,
        lines,
        sample_note,
    }
}

fn sample_text(ctx: &Ctx) -> (String, String) {
    let raw = super::opt(&ctx.query, "sample").unwrap_or_else(|| "100.00".into());
    let error = if sample_of(ctx, Currency::EUR).is_err() {
        ctx.lang
            .tr(
                "Montant invalide : un nombre positif, par exemple 150,00.",
                "Invalid amount: a positive number, for example 150.00.",
            )
            .to_owned()
    } else {
        String::new()
    };
    (raw, error)
}

async fn pos_choices(state: &AppState) -> Result<Vec<Choice>, ApiError> {
    Ok(state
        .store
        .list_points_of_sale(None)
        .await?
        .into_iter()
        .map(|p| Choice {
            value: p.id.to_string(),
            label: p.name,
        })
        .collect())
}

fn pos_name(choices: &[Choice], id: Uuid) -> String {
    let id = id.to_string();
    choices
        .iter()
        .find(|c| c.value == id)
        .map(|c| c.label.clone())
        .unwrap_or_default()
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    render_list(&state, &ctx, None).await
}

async fn render_list(
    state: &AppState,
    ctx: &Ctx,
    refused: Option<(PlanForm, FieldErrors)>,
) -> Response {
    let build = async {
        let choices = pos_choices(state).await?;
        let rows = state.store.list_installment_plans(None).await?;
        let today = OffsetDateTime::now_utc().date();
        let plans = rows
            .iter()
            .map(|r| row(ctx, r, pos_name(&choices, r.point_of_sale_id), today))
            .collect();
        let (sample, sample_error) = sample_text(ctx);
        let status = if refused.is_some() || !sample_error.is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let (form, errors) = refused.unwrap_or_else(|| (PlanForm::blank(), FieldErrors::default()));
        Ok::<_, ApiError>(page(
            status,
            ListPage {
                page: ctx.chrome("plans"),
                csrf: ctx.csrf(),
                user: ctx.user(),
                is_admin: ctx.is_admin(),
                notice: ctx.notice(NOTICES),
                sample,
                sample_error,
                plans,
                pos_choices: choices,
                action: "/admin/installment-plans".into(),
                form,
                errors,
            },
        ))
    };
    match build.await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

async fn plan_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<Uuid>) -> Response {
    render_plan(&state, &ctx, id, None, "").await
}

async fn render_plan(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    refused: Option<(PlanForm, FieldErrors)>,
    delete_error: &str,
) -> Response {
    let build = async {
        let choices = pos_choices(state).await?;
        let r = state.store.get_installment_plan(id).await?;
        let today = OffsetDateTime::now_utc().date();
        let plan = row(ctx, &r, pos_name(&choices, r.point_of_sale_id), today);
        let (sample, sample_error) = sample_text(ctx);
        let status = if !delete_error.is_empty() {
            StatusCode::CONFLICT
        } else if refused.is_some() || !sample_error.is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let (form, errors) = refused.unwrap_or_else(|| (PlanForm::of(&r), FieldErrors::default()));
        Ok::<_, ApiError>(page(
            status,
            PlanPage {
                page: ctx.chrome("plans"),
                csrf: ctx.csrf(),
                user: ctx.user(),
                is_admin: ctx.is_admin(),
                notice: ctx.notice(NOTICES),
                sample,
                sample_error,
                plan,
                pos_choices: choices,
                action: format!("/admin/installment-plans/{id}"),
                form,
                errors,
                delete_error: delete_error.to_owned(),
            },
        ))
    };
    match build.await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

/// The currency of a point of sale's plans: its institution's.
async fn currency_of(state: &AppState, pos: Uuid) -> Result<Currency, ApiError> {
    let pos = state.store.get_point_of_sale(pos).await?;
    Ok(state
        .store
        .get_institution(pos.institution_id)
        .await?
        .default_currency)
}

fn plan_error(lang: Lang, e: &PlanError) -> (&'static str, String) {
    match (e, lang) {
        (PlanError::CountOutOfRange { .. }, _) => (
            "count",
            lang.tr("De 2 à 12 échéances.", "From 2 to 12 installments.")
                .to_owned(),
        ),
        (PlanError::WrongPercentageCount { expected, got }, Lang::Fr) => (
            "percentages",
            format!("Un pourcentage par échéance : {expected} attendus, {got} donnés."),
        ),
        (PlanError::WrongPercentageCount { expected, got }, Lang::En) => (
            "percentages",
            format!("One percentage per installment: {expected} expected, {got} given."),
        ),
        (PlanError::ZeroPercentage { .. }, _) => (
            "percentages",
            lang.tr(
                "Chaque pourcentage vaut au moins 1.",
                "Each percentage is at least 1.",
            )
            .to_owned(),
        ),
        (PlanError::PercentagesSum { sum }, Lang::Fr) => (
            "percentages",
            format!("Les pourcentages doivent faire 100 en tout (ici {sum})."),
        ),
        (PlanError::PercentagesSum { sum }, Lang::En) => (
            "percentages",
            format!("The percentages must add up to 100 (here {sum})."),
        ),
        (PlanError::DaysOutOfRange { .. }, _) => (
            "days",
            lang.tr("De 1 à 365 jours.", "From 1 to 365 days.")
                .to_owned(),
        ),
        (PlanError::NegativeMinAmount, _) => (
            "min_amount",
            lang.tr(
                "Le minimum ne peut pas être négatif.",
                "The minimum cannot be negative.",
            )
            .to_owned(),
        ),
    }
}

/// Reads the form; the request for the API, or the errors by field (checked with the domain's
/// rules, so each is told next to its field).
async fn read_form(
    state: &AppState,
    posted: &Posted,
) -> (PlanForm, Result<PlanRequest, FieldErrors>) {
    let lang = posted.ctx.lang;
    let form = PlanForm {
        point_of_sale_id: posted.opt("point_of_sale_id").unwrap_or_default(),
        name: posted.opt("name").unwrap_or_default(),
        count: posted.opt("count").unwrap_or_default(),
        split: posted.opt("split").unwrap_or_default(),
        percentages: posted.opt("percentages").unwrap_or_default(),
        interval: posted.opt("interval").unwrap_or_default(),
        days: posted.opt("days").unwrap_or_default(),
        min_amount: posted.opt("min_amount").unwrap_or_default(),
        mode: posted.opt("mode").unwrap_or_default(),
        active: posted.field("active").is_some(),
    };
    let mut errors = FieldErrors::default();
    let pos = form.point_of_sale_id.parse::<Uuid>().ok();
    let currency = match pos {
        Some(p) => currency_of(state, p).await.ok(),
        None => None,
    };
    if currency.is_none() {
        errors.add(
            "point_of_sale_id",
            lang.tr("Choisissez un point de vente.", "Choose a point of sale."),
        );
    }
    if form.name.is_empty() || form.name.chars().count() > 100 {
        errors.add(
            "name",
            lang.tr(
                "Un nom de 1 à 100 caractères.",
                "A name of 1 to 100 characters.",
            ),
        );
    }
    let count = form.count.parse::<u8>().ok();
    if count.is_none() {
        errors.add(
            "count",
            lang.tr("De 2 à 12 échéances.", "From 2 to 12 installments."),
        );
    }
    let split = match form.split.as_str() {
        "equal" => Some(Split::Equal),
        "percentages" => {
            let parts: Result<Vec<u32>, _> = form
                .percentages
                .split(['/', ',', ';', ' '])
                .map(|p| p.trim().trim_end_matches('%'))
                .filter(|p| !p.is_empty())
                .map(str::parse::<u32>)
                .collect();
            match parts {
                Ok(p) if !p.is_empty() => Some(Split::Percentages(p)),
                _ => {
                    errors.add(
                        "percentages",
                        lang.tr(
                            "Des pourcentages entiers séparés par /, par exemple 50/25/25.",
                            "Whole percentages separated by /, for example 50/25/25.",
                        ),
                    );
                    None
                }
            }
        }
        _ => {
            errors.add(
                "percentages",
                lang.tr("Choisissez une répartition.", "Choose a split."),
            );
            None
        }
    };
    let interval = match form.interval.as_str() {
        "monthly" => Some(Interval::Monthly),
        "days" => match form.days.parse::<u16>() {
            Ok(d) => Some(Interval::Days(d)),
            Err(_) => {
                errors.add("days", lang.tr("De 1 à 365 jours.", "From 1 to 365 days."));
                None
            }
        },
        _ => {
            errors.add(
                "days",
                lang.tr("Choisissez un intervalle.", "Choose an interval."),
            );
            None
        }
    };
    let min_amount = currency.and_then(|c| typed_amount(Some(&form.min_amount), c));
    if currency.is_some() && min_amount.is_none() {
        errors.add(
            "min_amount",
            lang.tr(
                "Montant invalide : un nombre positif, par exemple 150,00.",
                "Invalid amount: a positive number, for example 150.00.",
            ),
        );
    }
    let mode = match form.mode.as_str() {
        "restrictive" => Some(PlanMode::Restrictive),
        "free" => Some(PlanMode::Free),
        _ => {
            errors.add("mode", lang.tr("Choisissez un mode.", "Choose a mode."));
            None
        }
    };
    if let (Some(count), Some(split), Some(interval), Some(min_amount), Some(mode)) =
        (count, split.clone(), interval, min_amount, mode)
    {
        let plan = InstallmentPlan {
            count,
            split,
            interval,
            min_amount,
            mode,
        };
        if let Err(e) = plan.validate() {
            let (field, message) = plan_error(lang, &e);
            errors.add(field, message);
        }
    }
    if !errors.is_empty() {
        return (form, Err(errors));
    }
    let req = PlanRequest {
        point_of_sale_id: pos,
        name: Some(form.name.clone()),
        count,
        split: split.map(|s| match s {
            Split::Equal => serde_json::json!("equal"),
            Split::Percentages(p) => serde_json::json!(p),
        }),
        interval: interval.map(|i| match i {
            Interval::Monthly => serde_json::json!("monthly"),
            Interval::Days(d) => serde_json::json!({ "days": d }),
        }),
        min_amount: min_amount.map(MoneyJson::from),
        mode: Some(form.mode.clone()),
        active: Some(form.active),
    };
    (form, Ok(req))
}

/// The API's refusal as field errors of this form.
fn api_errors(e: &ApiError) -> FieldErrors {
    let mut errors = FieldErrors::from_api(e, |_| None);
    if errors.is_empty() {
        errors.add("name", e.message.clone());
    }
    errors
}

async fn create(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let (form, req) = read_form(&state, &posted).await;
    let req = match req {
        Ok(r) => r,
        Err(errors) => return render_list(&state, ctx, Some((form, errors))).await,
    };
    match create_plan(&state, &ctx.staff, req).await {
        Ok(row) => {
            tracing::info!(plan = %row.id, by = %ctx.staff.user.username, "installment plan created (back office)");
            see_other("/admin/installment-plans?notice=created")
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            render_list(&state, ctx, Some((form, api_errors(&e)))).await
        }
        Err(e) => ctx.failure(e),
    }
}

async fn update(State(state): State<AppState>, Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let (form, req) = read_form(&state, &posted).await;
    let req = match req {
        Ok(r) => r,
        Err(errors) => return render_plan(&state, ctx, id, Some((form, errors)), "").await,
    };
    match update_plan(&state, &ctx.staff, id, req).await {
        Ok(_) => see_other(&format!("/admin/installment-plans/{id}?notice=saved")),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            render_plan(&state, ctx, id, Some((form, api_errors(&e))), "").await
        }
        Err(e) => ctx.failure(e),
    }
}

async fn delete(State(state): State<AppState>, Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    match delete_plan(&state, &ctx.staff, id).await {
        Ok(()) => see_other("/admin/installment-plans?notice=deleted"),
        Err(e) if e.status == StatusCode::CONFLICT => {
            let msg = ctx.lang.tr(
                "Des commandes sont payées avec cette formule : désactivez-la plutôt (elle ne sera plus proposée).",
                "Orders are paid with this plan: deactivate it instead (it will no longer be offered).",
            );
            render_plan(&state, ctx, id, None, msg).await
        }
        Err(e) => ctx.failure(e),
    }
}

//! Payment modes (the seed's "Modes de règlement"): the list, the creation form (internal name,
//! public names per language, code, type, status, predetermined) and the association with a
//! point of sale. Changes go through `admin::payment_modes` (admins only, checked there).

use super::{Choice, Ctx, Posted, page};
use crate::AppState;
use crate::admin::payment_modes::{
    AssociateRequest, PaymentModeRequest, associate_mode, create_mode,
};
use crate::error::ApiError;
use crate::pages::Chrome;
use crate::pages::i18n::Lang;
use crate::pages::see_other;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::config::{PaymentModeStatus, PaymentModeType};
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payment-modes", get(modes_page).post(create))
        .route("/admin/payment-modes/associate", post(associate))
}

const NOTICES: &[(&str, &str, &str)] = &[
    (
        "created",
        "Mode de règlement créé.",
        "Payment mode created.",
    ),
    (
        "associated",
        "Mode de règlement associé au point de vente.",
        "Payment mode associated with the point of sale.",
    ),
];

pub struct ModeRow {
    pub id: String,
    pub code: String,
    pub internal_name: String,
    pub name_fr: String,
    pub name_en: String,
    pub mode_type: &'static str,
    pub status: &'static str,
    pub predetermined: bool,
}

pub struct PosRow {
    pub name: String,
    pub modes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_modes.html")]
pub struct ModesPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub modes: Vec<ModeRow>,
    pub institutions: Vec<Choice>,
    pub points_of_sale: Vec<PosRow>,
    pub pos_choices: Vec<Choice>,
    pub mode_choices: Vec<Choice>,
    pub types: Vec<Choice>,
    pub statuses: Vec<Choice>,
}

pub(crate) fn type_label(lang: Lang, t: PaymentModeType) -> &'static str {
    match t {
        PaymentModeType::Card => lang.tr("Carte bancaire", "Card"),
        PaymentModeType::Voucher => lang.tr("Bon d'achat", "Voucher"),
        PaymentModeType::CreditBalance => lang.tr("Avoir", "Credit balance"),
        PaymentModeType::DeferredAccount => lang.tr("Compte différé", "Deferred account"),
        PaymentModeType::Cash => lang.tr("Espèces", "Cash"),
        PaymentModeType::Cheque => lang.tr("Chèque", "Cheque"),
    }
}

fn status_label(lang: Lang, s: PaymentModeStatus) -> &'static str {
    match s {
        PaymentModeStatus::Visible => lang.tr("Visible", "Visible"),
        PaymentModeStatus::Hidden => lang.tr("Masqué", "Hidden"),
        PaymentModeStatus::Archived => lang.tr("Archivé", "Archived"),
    }
}

async fn modes_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    match render(&state, &ctx).await {
        Ok(resp) => resp,
        Err(e) => ctx.failure(e),
    }
}

async fn render(state: &AppState, ctx: &Ctx) -> Result<Response, ApiError> {
    let store = &state.store;
    let lang = ctx.lang;
    let modes = store.list_payment_modes(None).await?;
    let institutions = store.list_institutions().await?;
    let points = store.list_points_of_sale(None).await?;
    let mut points_of_sale = Vec::new();
    for p in &points {
        let at = store.point_of_sale_payment_modes(p.id).await?;
        let codes: Vec<&str> = at.iter().map(|m| m.fields.code.as_str()).collect();
        points_of_sale.push(PosRow {
            name: p.name.clone(),
            modes: codes.join(", "),
        });
    }
    let body = ModesPage {
        page: ctx.chrome("modes"),
        csrf: ctx.csrf(),
        user: ctx.user(),
        is_admin: ctx.is_admin(),
        notice: ctx.notice(NOTICES),
        mode_choices: modes
            .iter()
            .map(|m| Choice {
                value: m.id.to_string(),
                label: format!("{} — {}", m.fields.code.as_str(), m.fields.internal_name),
            })
            .collect(),
        modes: modes
            .iter()
            .map(|m| ModeRow {
                id: m.id.to_string(),
                code: m.fields.code.as_str().to_owned(),
                internal_name: m.fields.internal_name.clone(),
                name_fr: m.fields.public_names.get("fr").unwrap_or("").to_owned(),
                name_en: m.fields.public_names.get("en").unwrap_or("").to_owned(),
                mode_type: type_label(lang, m.fields.mode_type),
                status: status_label(lang, m.fields.status),
                predetermined: m.fields.predetermined,
            })
            .collect(),
        institutions: institutions
            .iter()
            .map(|i| Choice {
                value: i.id.to_string(),
                label: i.name.clone(),
            })
            .collect(),
        pos_choices: points
            .iter()
            .map(|p| Choice {
                value: p.id.to_string(),
                label: p.name.clone(),
            })
            .collect(),
        points_of_sale,
        types: PaymentModeType::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str().to_owned(),
                label: type_label(lang, *t).to_owned(),
            })
            .collect(),
        statuses: PaymentModeStatus::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str().to_owned(),
                label: status_label(lang, *s).to_owned(),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, body))
}

async fn create(State(state): State<AppState>, posted: Posted) -> Response {
    let mut names = BTreeMap::new();
    for lang in ["fr", "en"] {
        if let Some(n) = posted.opt(&format!("name_{lang}")) {
            names.insert(lang.to_owned(), n);
        }
    }
    let institution_id = match posted.opt("institution_id").map(|v| v.parse::<Uuid>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return posted
                .ctx
                .failure(ApiError::unprocessable("institution_id: not an id"));
        }
        None => None,
    };
    let req = PaymentModeRequest {
        institution_id,
        code: posted.opt("code"),
        internal_name: posted.opt("internal_name"),
        public_names: (!names.is_empty()).then_some(names),
        mode_type: posted.opt("type"),
        status: posted.opt("status"),
        predetermined: Some(posted.field("predetermined").is_some()),
        available_for_payment: None,
        available_for_refund: None,
        min_order: None,
        max_order: None,
    };
    match create_mode(&state, &posted.ctx.staff, req).await {
        Ok(_) => see_other("/admin/payment-modes?notice=created"),
        Err(e) => posted.ctx.failure(e),
    }
}

async fn associate(State(state): State<AppState>, posted: Posted) -> Response {
    let Some(Ok(pos)) = posted.opt("point_of_sale_id").map(|v| v.parse::<Uuid>()) else {
        return posted
            .ctx
            .failure(ApiError::unprocessable("point_of_sale_id: required"));
    };
    let req = AssociateRequest {
        payment_mode_id: posted.opt("payment_mode_id").and_then(|v| v.parse().ok()),
    };
    match associate_mode(&state, &posted.ctx.staff, pos, req).await {
        Ok(_) => see_other("/admin/payment-modes?notice=associated"),
        Err(e) => posted.ctx.failure(e),
    }
}

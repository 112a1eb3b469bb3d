//! Each sales channel's payment system and its security policy (SPEC F7, F8, F11, F13): the
//! provider account (Ogone or Sips, account, URL, non-secret settings; secrets are write-only:
//! the page says "set" or "not set", its password inputs are never filled back) and the policy
//! (card saving, CVV on saved cards, saved cards at most, 3-D Secure always / never / when an
//! event is within N days). Changes go through `admin::payment_system::save_payment_system`,
//! the JSON API's `PUT` (admins only, checked there); operators read.

use super::{Choice, Ctx, Posted, page};
use crate::AppState;
use crate::admin::payment_system::{PaymentSystemRequest, save_payment_system};
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
use guichet_domain::config::{ChannelKind, ProviderKind, ThreeDsPolicy};
use guichet_store::{PaymentSystem, StoreError};
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payment-systems", get(list_page))
        .route(
            "/admin/payment-systems/{channel}",
            get(channel_page).post(save_system),
        )
        .route("/admin/payment-systems/{channel}/policy", post(save_policy))
}

const NOTICES: &[(&str, &str, &str)] = &[
    (
        "system",
        "Système de paiement enregistré.",
        "Payment system saved.",
    ),
    (
        "policy",
        "Politique de sécurité enregistrée.",
        "Security policy saved.",
    ),
];

/// Field errors of a form, by input name, shown next to their field.
#[derive(Default)]
pub(crate) struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.0
            .entry(name.to_owned())
            .or_insert_with(|| message.into());
    }

    /// The message for `name`, empty when the field is fine.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The API's field errors, `translate` giving a text in the page's language for the fields
    /// it knows (the API's own message otherwise).
    pub fn from_api(e: &ApiError, translate: impl Fn(&str) -> Option<&'static str>) -> FieldErrors {
        let mut out = FieldErrors::default();
        for (k, v) in &e.fields {
            out.add(k, translate(k).map_or_else(|| v.clone(), str::to_owned));
        }
        out
    }
}

pub(crate) fn provider_label(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Ogone => "Ogone (Ingenico ePayments)",
        ProviderKind::Sips => "Atos / Worldline Sips 2.0",
    }
}

fn channel_kind_label(lang: Lang, k: ChannelKind) -> &'static str {
    match k {
        ChannelKind::Internet => lang.tr("Internet", "Internet"),
        ChannelKind::BoxOffice => lang.tr("Guichet", "Box office"),
        ChannelKind::Mobile => lang.tr("Mobile", "Mobile"),
    }
}

/// Test or production, read from the provider URL (a simulator on this machine or the
/// provider's test platform is a test account).
fn is_test(base_url: &str) -> bool {
    let url = base_url.to_ascii_lowercase();
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    url.contains("test")
        || host == "localhost"
        || host.starts_with("127.")
        || host == "[::1]"
        || url.contains("/sim")
}

fn environment(lang: Lang, base_url: &str) -> &'static str {
    if is_test(base_url) {
        lang.tr("Test", "Test")
    } else {
        lang.tr("Production", "Production")
    }
}

fn policy_summary(lang: Lang, p: &PaymentSystem) -> String {
    match p.three_ds_policy {
        ThreeDsPolicy::Always => lang.tr("Toujours", "Always").to_owned(),
        ThreeDsPolicy::Never => lang.tr("Jamais", "Never").to_owned(),
        ThreeDsPolicy::CloseToEvent => match lang {
            Lang::Fr => format!("Événement dans {} jours ou moins", p.three_ds_days),
            Lang::En => format!("Event within {} days", p.three_ds_days),
        },
    }
}

fn feature_label(lang: Lang, f: &str) -> String {
    let t = match f {
        "card_payment" => lang.tr("paiement par carte", "card payment"),
        "saved_cards" => lang.tr("cartes sauvegardées", "saved cards"),
        "three_d_secure" => "3-D Secure",
        "refund" => lang.tr("remboursement", "refund"),
        "installments" => lang.tr("paiement en plusieurs fois", "installments"),
        "status_query" => lang.tr("interrogation du statut", "status query"),
        "post_sale_feedback" => lang.tr("retour après vente", "post-sale feedback"),
        "cancel" => lang.tr("annulation", "cancel"),
        "automatic_response" => lang.tr("réponse automatique", "automatic response"),
        other => return other.to_owned(),
    };
    t.to_owned()
}

// ---- the list ----------------------------------------------------------------------------------

pub struct ChannelRow {
    pub id: String,
    pub institution: String,
    pub name: String,
    pub kind: &'static str,
    pub configured: bool,
    pub provider: &'static str,
    pub merchant_id: String,
    pub environment: &'static str,
    pub three_ds: String,
    pub saving: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_systems.html")]
pub struct ListPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub channels: Vec<ChannelRow>,
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    match list(&state, &ctx).await {
        Ok(resp) => resp,
        Err(e) => ctx.failure(e),
    }
}

async fn list(state: &AppState, ctx: &Ctx) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let institutions = state.store.list_institutions().await?;
    let channels = state.store.list_sales_channels(None).await?;
    let mut rows = Vec::new();
    for c in channels {
        let system = match state.store.get_payment_system(c.id).await {
            Ok(s) => Some(s),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        rows.push(ChannelRow {
            id: c.id.to_string(),
            institution: institutions
                .iter()
                .find(|i| i.id == c.institution_id)
                .map(|i| i.name.clone())
                .unwrap_or_default(),
            name: c.name.clone(),
            kind: channel_kind_label(lang, c.kind),
            configured: system.is_some(),
            provider: system.as_ref().map_or("", |s| provider_label(s.provider)),
            merchant_id: system
                .as_ref()
                .map(|s| s.merchant_id.clone())
                .unwrap_or_default(),
            environment: system
                .as_ref()
                .map_or("", |s| environment(lang, &s.base_url)),
            three_ds: system
                .as_ref()
                .map(|s| policy_summary(lang, s))
                .unwrap_or_default(),
            saving: match system.as_ref().map(|s| s.card_saving_enabled) {
                Some(true) => lang.tr("Oui", "Yes"),
                Some(false) => lang.tr("Non", "No"),
                None => "",
            },
        });
    }
    Ok(page(
        StatusCode::OK,
        ListPage {
            page: ctx.chrome("systems"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            channels: rows,
        },
    ))
}

// ---- a channel ---------------------------------------------------------------------------------

pub struct SecretRow {
    pub name: String,
    /// Which providers use it.
    pub used_by: String,
    pub set: bool,
    /// The system form's error for it.
    pub error: String,
}

pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub error: String,
}

/// What the system form shows: the stored values, or what was posted when it is refused.
pub struct SystemForm {
    pub provider: String,
    pub label: String,
    pub base_url: String,
    pub merchant_id: String,
    pub settings: Vec<SettingRow>,
    pub new_key: String,
    pub new_value: String,
}

pub struct PolicyForm {
    pub card_saving: bool,
    pub cvv: bool,
    pub max_saved_cards: String,
    pub three_ds_policy: String,
    pub three_ds_days: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_system.html")]
pub struct ChannelPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub id: String,
    pub institution: String,
    pub name: String,
    pub kind: &'static str,
    pub configured: bool,
    pub provider: &'static str,
    pub label: String,
    pub merchant_id: String,
    pub base_url: String,
    pub environment: &'static str,
    pub features: Vec<String>,
    pub secrets: Vec<SecretRow>,
    pub card_saving: bool,
    pub cvv: bool,
    pub max_saved_cards: u32,
    pub three_ds: String,
    pub updated_at: String,
    pub providers: Vec<Choice>,
    pub policies: Vec<Choice>,
    pub system_form: SystemForm,
    pub policy_form: PolicyForm,
    pub system_errors: FieldErrors,
    pub policy_errors: FieldErrors,
}

async fn channel_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(channel): Path<Uuid>,
) -> Response {
    render(&state, &ctx, channel, Edit::None).await
}

/// A refused form, to show again with its errors.
enum Edit {
    None,
    System(SystemForm, FieldErrors),
    Policy(PolicyForm, FieldErrors),
}

async fn current(state: &AppState, channel: Uuid) -> Result<Option<PaymentSystem>, ApiError> {
    match state.store.get_payment_system(channel).await {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::NotFound(_)) => {
            // Is it the channel that is unknown?
            state.store.get_sales_channel(channel).await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

async fn render(state: &AppState, ctx: &Ctx, channel: Uuid, edit: Edit) -> Response {
    match build(state, ctx, channel, edit).await {
        Ok(resp) => resp,
        Err(e) => ctx.failure(e),
    }
}

async fn build(
    state: &AppState,
    ctx: &Ctx,
    channel_id: Uuid,
    edit: Edit,
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let channel = state.store.get_sales_channel(channel_id).await?;
    let institution = state.store.get_institution(channel.institution_id).await?;
    let system = current(state, channel_id).await?;
    let mut names: Vec<(String, Vec<&str>)> = Vec::new();
    for p in ProviderKind::ALL {
        for n in p.credential_names() {
            match names.iter_mut().find(|(name, _)| name == n) {
                Some((_, by)) => by.push(provider_label(*p)),
                None => names.push(((*n).to_owned(), vec![provider_label(*p)])),
            }
        }
    }
    if let Some(s) = &system {
        for n in &s.credential_names {
            if !names.iter().any(|(name, _)| name == n) {
                names.push((n.clone(), Vec::new()));
            }
        }
    }
    let secrets = names
        .into_iter()
        .map(|(name, by)| SecretRow {
            set: system
                .as_ref()
                .is_some_and(|s| s.credential_names.contains(&name)),
            used_by: by.join(", "),
            error: String::new(),
            name,
        })
        .collect();
    let stored_system_form = || SystemForm {
        provider: system
            .as_ref()
            .map_or("ogone", |s| s.provider.as_str())
            .to_owned(),
        label: system.as_ref().map(|s| s.label.clone()).unwrap_or_default(),
        base_url: system
            .as_ref()
            .map(|s| s.base_url.clone())
            .unwrap_or_default(),
        merchant_id: system
            .as_ref()
            .map(|s| s.merchant_id.clone())
            .unwrap_or_default(),
        settings: system
            .as_ref()
            .map(|s| {
                s.settings
                    .iter()
                    .map(|(k, v)| SettingRow {
                        key: k.clone(),
                        value: v.clone(),
                        error: String::new(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        new_key: String::new(),
        new_value: String::new(),
    };
    let stored_policy_form = || PolicyForm {
        card_saving: system.as_ref().is_none_or(|s| s.card_saving_enabled),
        cvv: system.as_ref().is_none_or(|s| s.cvv_on_saved_cards),
        max_saved_cards: system.as_ref().map_or(5, |s| s.max_saved_cards).to_string(),
        three_ds_policy: system
            .as_ref()
            .map_or("always", |s| s.three_ds_policy.as_str())
            .to_owned(),
        three_ds_days: system.as_ref().map_or(0, |s| s.three_ds_days).to_string(),
    };
    let (status, system_form, system_errors, policy_form, policy_errors) = match edit {
        Edit::None => (
            StatusCode::OK,
            stored_system_form(),
            FieldErrors::default(),
            stored_policy_form(),
            FieldErrors::default(),
        ),
        Edit::System(form, errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            stored_policy_form(),
            FieldErrors::default(),
        ),
        Edit::Policy(form, errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            stored_system_form(),
            FieldErrors::default(),
            form,
            errors,
        ),
    };
    let mut body = ChannelPage {
        page: ctx.chrome("systems"),
        csrf: ctx.csrf(),
        user: ctx.user(),
        is_admin: ctx.is_admin(),
        notice: ctx.notice(NOTICES),
        id: channel.id.to_string(),
        institution: institution.name,
        name: channel.name,
        kind: channel_kind_label(lang, channel.kind),
        configured: system.is_some(),
        provider: system.as_ref().map_or("", |s| provider_label(s.provider)),
        label: system.as_ref().map(|s| s.label.clone()).unwrap_or_default(),
        merchant_id: system
            .as_ref()
            .map(|s| s.merchant_id.clone())
            .unwrap_or_default(),
        base_url: system
            .as_ref()
            .map(|s| s.base_url.clone())
            .unwrap_or_default(),
        environment: system
            .as_ref()
            .map_or("", |s| environment(lang, &s.base_url)),
        features: system
            .as_ref()
            .map(|s| {
                s.provider
                    .features()
                    .iter()
                    .map(|f| feature_label(lang, f))
                    .collect()
            })
            .unwrap_or_default(),
        secrets,
        card_saving: system.as_ref().is_some_and(|s| s.card_saving_enabled),
        cvv: system.as_ref().is_some_and(|s| s.cvv_on_saved_cards),
        max_saved_cards: system.as_ref().map_or(0, |s| s.max_saved_cards),
        three_ds: system
            .as_ref()
            .map(|s| policy_summary(lang, s))
            .unwrap_or_default(),
        updated_at: system
            .as_ref()
            .map(|s| lang.date_time(s.updated_at))
            .unwrap_or_default(),
        providers: ProviderKind::ALL
            .iter()
            .map(|p| Choice {
                value: p.as_str().to_owned(),
                label: provider_label(*p).to_owned(),
            })
            .collect(),
        policies: ThreeDsPolicy::ALL
            .iter()
            .map(|p| Choice {
                value: p.as_str().to_owned(),
                label: match p {
                    ThreeDsPolicy::Always => lang.tr("Toujours", "Always"),
                    ThreeDsPolicy::Never => lang.tr("Jamais", "Never"),
                    ThreeDsPolicy::CloseToEvent => lang.tr(
                        "Seulement si un événement du panier commence dans les N jours",
                        "Only when an event of the basket starts within N days",
                    ),
                }
                .to_owned(),
            })
            .collect(),
        system_form,
        policy_form,
        system_errors,
        policy_errors,
    };
    for s in &mut body.secrets {
        s.error = body
            .system_errors
            .get(&format!("credentials.{}", s.name))
            .to_owned();
    }
    Ok(page(status, body))
}

/// The API's field names → this page's texts.
fn translate(lang: Lang) -> impl Fn(&str) -> Option<&'static str> {
    move |field| {
        Some(match field {
            "provider" => lang.tr("Choisissez Ogone ou Sips.", "Choose Ogone or Sips."),
            "label" => lang.tr(
                "Un libellé de 1 à 200 caractères.",
                "A label of 1 to 200 characters.",
            ),
            "base_url" => lang.tr(
                "Une URL http(s), par exemple https://secure.ogone.com/ncol/prod.",
                "An http(s) URL, for example https://secure.ogone.com/ncol/prod.",
            ),
            "merchant_id" => lang.tr(
                "Un identifiant de 1 à 100 caractères.",
                "An identifier of 1 to 100 characters.",
            ),
            "three_ds_policy" => lang.tr("Choisissez une politique.", "Choose a policy."),
            "three_ds_days" => lang.tr(
                "Un nombre entier de jours, de 0 à 365.",
                "A whole number of days, from 0 to 365.",
            ),
            "max_saved_cards" => lang.tr(
                "Un nombre entier, de 0 à 50.",
                "A whole number, from 0 to 50.",
            ),
            _ => return None,
        })
    }
}

/// The request that keeps `system`'s provider fields and secrets as they are.
fn keep_system(s: &PaymentSystem) -> PaymentSystemRequest {
    PaymentSystemRequest {
        provider: Some(s.provider.as_str().to_owned()),
        label: Some(s.label.clone()),
        base_url: Some(s.base_url.clone()),
        merchant_id: Some(s.merchant_id.clone()),
        settings: s.settings.clone(),
        credentials: BTreeMap::new(),
        card_saving_enabled: Some(s.card_saving_enabled),
        cvv_on_saved_cards: Some(s.cvv_on_saved_cards),
        max_saved_cards: Some(s.max_saved_cards),
        three_ds_policy: Some(s.three_ds_policy.as_str().to_owned()),
        three_ds_days: Some(s.three_ds_days),
    }
}

/// `POST /admin/payment-systems/{channel}`: the provider account. An empty secret keeps the
/// stored one; an empty setting value removes the setting.
async fn save_system(
    State(state): State<AppState>,
    Path(channel): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let existing = match current(&state, channel).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let mut errors = FieldErrors::default();
    let mut settings = BTreeMap::new();
    let mut rows = Vec::new();
    let mut credentials = BTreeMap::new();
    for (k, v) in &posted.form {
        if let Some(key) = k.strip_prefix("setting.") {
            let value = v.trim();
            rows.push(SettingRow {
                key: key.to_owned(),
                value: value.to_owned(),
                error: String::new(),
            });
            if !value.is_empty() {
                settings.insert(key.to_owned(), value.to_owned());
            }
        } else if let Some(name) = k.strip_prefix("credential.")
            && !v.is_empty()
        {
            credentials.insert(name.to_owned(), v.clone());
        }
    }
    let new_key = posted.opt("new_setting_key").unwrap_or_default();
    let new_value = posted.opt("new_setting_value").unwrap_or_default();
    if !new_key.is_empty() {
        settings.insert(new_key.clone(), new_value.clone());
    } else if !new_value.is_empty() {
        errors.add(
            "new_setting_key",
            ctx.lang
                .tr("Donnez le nom du paramètre.", "Give the setting's name."),
        );
    }
    let form = SystemForm {
        provider: posted.opt("provider").unwrap_or_default(),
        label: posted.opt("label").unwrap_or_default(),
        base_url: posted.opt("base_url").unwrap_or_default(),
        merchant_id: posted.opt("merchant_id").unwrap_or_default(),
        settings: rows,
        new_key: new_key.clone(),
        new_value,
    };
    let mut req = match &existing {
        Some(s) => keep_system(s),
        None => PaymentSystemRequest {
            provider: None,
            label: None,
            base_url: None,
            merchant_id: None,
            settings: BTreeMap::new(),
            credentials: BTreeMap::new(),
            card_saving_enabled: None,
            cvv_on_saved_cards: None,
            max_saved_cards: None,
            three_ds_policy: None,
            three_ds_days: None,
        },
    };
    req.provider = posted.opt("provider");
    req.label = posted.opt("label");
    req.base_url = posted.opt("base_url");
    req.merchant_id = posted.opt("merchant_id");
    req.settings = settings;
    req.credentials = credentials;
    let result = if errors.is_empty() {
        save_payment_system(&state, &ctx.staff, channel, req).await
    } else {
        Err(ApiError::validation(BTreeMap::new()))
    };
    match result {
        Ok(_) => see_other(&format!("/admin/payment-systems/{channel}?notice=system")),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let api = FieldErrors::from_api(&e, translate(ctx.lang));
            let mut form = form;
            for (k, v) in api.0 {
                match k.strip_prefix("settings.") {
                    Some(key) if key == new_key => errors.add("new_setting_key", v),
                    Some(key) => {
                        if let Some(row) = form.settings.iter_mut().find(|r| r.key == key) {
                            row.error = v;
                        } else {
                            errors.add("new_setting_key", v);
                        }
                    }
                    None => errors.add(&k, v),
                }
            }
            if errors.is_empty() && form.settings.iter().all(|r| r.error.is_empty()) {
                errors.add("label", e.message);
            }
            render(&state, ctx, channel, Edit::System(form, errors)).await
        }
        Err(e) => ctx.failure(e),
    }
}

/// `POST /admin/payment-systems/{channel}/policy`: the security and 3-D Secure policy; the
/// provider account stays as it is.
async fn save_policy(
    State(state): State<AppState>,
    Path(channel): Path<Uuid>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let existing = match current(&state, channel).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ctx.failure(ApiError::unprocessable(lang.tr(
                "Configurez d'abord le système de paiement de ce canal.",
                "Set up this channel's payment system first.",
            )));
        }
        Err(e) => return ctx.failure(e),
    };
    let form = PolicyForm {
        card_saving: posted.field("card_saving").is_some(),
        cvv: posted.field("cvv_on_saved_cards").is_some(),
        max_saved_cards: posted.opt("max_saved_cards").unwrap_or_default(),
        three_ds_policy: posted.opt("three_ds_policy").unwrap_or_default(),
        three_ds_days: posted.opt("three_ds_days").unwrap_or_else(|| "0".into()),
    };
    let mut errors = FieldErrors::default();
    let max = form
        .max_saved_cards
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 50);
    if max.is_none() {
        errors.add(
            "max_saved_cards",
            translate(lang)("max_saved_cards").unwrap_or(""),
        );
    }
    let days = form.three_ds_days.parse::<u32>().ok().filter(|n| *n <= 365);
    if days.is_none() {
        errors.add(
            "three_ds_days",
            translate(lang)("three_ds_days").unwrap_or(""),
        );
    }
    let policy = ThreeDsPolicy::parse(&form.three_ds_policy).ok();
    if policy.is_none() {
        errors.add(
            "three_ds_policy",
            translate(lang)("three_ds_policy").unwrap_or(""),
        );
    }
    if policy == Some(ThreeDsPolicy::CloseToEvent) && days == Some(0) {
        errors.add(
            "three_ds_days",
            lang.tr(
                "Indiquez au moins 1 jour avant l'événement.",
                "Give at least 1 day before the event.",
            ),
        );
    }
    let (Some(max), Some(days), Some(policy), true) = (max, days, policy, errors.is_empty()) else {
        return render(&state, ctx, channel, Edit::Policy(form, errors)).await;
    };
    let mut req = keep_system(&existing);
    req.card_saving_enabled = Some(form.card_saving);
    req.cvv_on_saved_cards = Some(form.cvv);
    req.max_saved_cards = Some(max);
    req.three_ds_policy = Some(policy.as_str().to_owned());
    req.three_ds_days = Some(days);
    match save_payment_system(&state, &ctx.staff, channel, req).await {
        Ok(_) => see_other(&format!("/admin/payment-systems/{channel}?notice=policy")),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errors = FieldErrors::from_api(&e, translate(lang));
            render(&state, ctx, channel, Edit::Policy(form, errors)).await
        }
        Err(e) => ctx.failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_accounts_are_told_from_production_by_their_url() {
        assert!(is_test("https://ogone.test.v-psp.com/ncol/test"));
        assert!(is_test("http://127.0.0.1:8081/ncol/test"));
        assert!(is_test("http://localhost:9000"));
        assert!(!is_test("https://secure.ogone.com/ncol/prod"));
        assert!(!is_test("https://office-server.sips-services.com"));
    }
}

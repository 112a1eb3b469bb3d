//! Promo codes (SPEC F2, the seed's "Catalogue > Divers > Codes promotionnels"): the list —
//! reusable discount codes one by one, single-use coupons by campaign —, a code's page with its
//! uses and its (de)activation, a campaign's page with its coupons and their CSV, and the forms
//! to create one code, generate a campaign's coupons or import a list of them.
//!
//! Changes go through `admin::catalogue` (`create_code`, `generate_batch`, `import_batch`,
//! `set_active`: admins only, checked there), the same functions as the JSON API; the forms
//! only turn what was typed (a percentage, an amount in the institution's currency, a date and
//! time on the institution's clock) into their request. Errors, the form's own and the API's,
//! are shown next to their field, with what was typed.

use super::dashboard::{local_to_utc, to_local};
use super::{Choice, Ctx, Posted, field, page};
use crate::AppState;
use crate::admin::MoneyJson;
use crate::admin::catalogue::{
    CreatePromoCodeRequest, DiscountJson, GenerateCouponsRequest, ImportCouponsRequest, RuleInput,
    create_code, generate_batch, import_batch, set_active,
};
use crate::error::ApiError;
use crate::pages::Chrome;
use crate::pages::i18n::Lang;
use crate::pages::see_other;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use guichet_domain::Currency;
use guichet_domain::config::ChannelKind;
use guichet_domain::promo::{Discount, PromoKind};
use guichet_store::{HoldStatus, PromoCodeRow};
use std::collections::{BTreeMap, HashMap};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/promo-codes", get(list_page).post(create))
        .route("/admin/promo-codes/coupons", post(generate))
        .route("/admin/promo-codes/import", post(import))
        .route("/admin/promo-codes/batches/{batch}", get(batch_page))
        .route(
            "/admin/promo-codes/batches/{batch}/codes.csv",
            get(batch_csv),
        )
        .route("/admin/promo-codes/{id}", get(code_page))
        .route("/admin/promo-codes/{id}/active", post(change_active))
}

const NOTICES: &[(&str, &str, &str)] = &[
    ("created", "Code créé.", "Code created."),
    ("activated", "Code activé.", "Code activated."),
    ("deactivated", "Code désactivé.", "Code deactivated."),
    ("generated", "Coupons générés.", "Coupons generated."),
    ("imported", "Coupons importés.", "Coupons imported."),
];

/// Most promo codes the list reads (coupons are grouped by campaign).
const LIST_LIMIT: u32 = 10_000;

// ---- a form as typed, with its errors --------------------------------------------------------

/// What a form holds: the values as typed (empty when first shown) and an error per field.
#[derive(Default)]
pub struct Form {
    values: Vec<(String, String)>,
    errors: BTreeMap<String, String>,
}

impl Form {
    pub fn new(values: Vec<(String, String)>) -> Form {
        Form {
            values,
            errors: BTreeMap::new(),
        }
    }

    /// A form first shown with these values.
    pub fn with(values: &[(&str, &str)]) -> Form {
        Form::new(
            values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The first value typed in `name` (empty when none).
    pub fn v(&self, name: &str) -> &str {
        field(&self.values, name).unwrap_or("")
    }

    /// Whether `name` holds `value` (a checked box, a selected option).
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.values.iter().any(|(k, v)| k == name && v == value)
    }

    pub fn err(&self, name: &str) -> &str {
        self.errors.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn bad(&self, name: &str) -> bool {
        self.errors.contains_key(name)
    }

    /// Records an error on `name`; the first one stays.
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .entry(name.to_owned())
            .or_insert_with(|| message.into());
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Marks each of `names` left empty as required.
    pub fn require(&mut self, names: &[&str], lang: Lang) {
        for name in names {
            if self.opt(name).is_none() {
                self.add(name, lang.tr("Obligatoire.", "Required."));
            }
        }
    }

    /// The value of `name`, trimmed; empty is absent.
    pub fn opt(&self, name: &str) -> Option<String> {
        super::opt(&self.values, name)
    }

    /// Places the API's field errors on the form's fields (`field_of` maps a name, `None`
    /// keeps the error for the form as a whole, under `""`).
    pub fn api_errors(&mut self, e: &ApiError, field_of: impl Fn(&str) -> Option<String>) {
        if e.fields.is_empty() {
            self.add("", e.message.clone());
        }
        for (name, message) in &e.fields {
            match field_of(name) {
                Some(f) => self.add(&f, message.clone()),
                None => self.add("", format!("{name}: {message}")),
            }
        }
    }
}

/// `5`, `5,5` or `12.25` (a percentage, at most two decimals) as basis points.
fn percent_bp(raw: &str) -> Option<i64> {
    let raw = raw.trim().replace(',', ".");
    let (whole, frac) = raw.split_once('.').unwrap_or((&raw, ""));
    if whole.is_empty()
        || whole.len() > 5
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole * 100 + frac)
}

/// `2026-07-01T00:00` (a `datetime-local` input, seconds optional) on the institution's clock,
/// as RFC 3339 in UTC.
fn local_time(raw: &str) -> Option<String> {
    let (d, t) = raw.trim().split_once('T')?;
    let date = super::dashboard::parse_date(d)?;
    let mut parts = t.split(':');
    let hour: u8 = parts.next()?.parse().ok()?;
    let minute: u8 = parts.next()?.parse().ok()?;
    let second: u8 = match parts.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let time = Time::from_hms(hour, minute, second).ok()?;
    local_to_utc(PrimitiveDateTime::new(date, time))
        .format(&Rfc3339)
        .ok()
}

/// A typed count: empty is none.
fn count(form: &mut Form, name: &str, lang: Lang) -> Option<i64> {
    let raw = form.opt(name)?;
    match raw.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            form.add(
                name,
                lang.tr(
                    "Un nombre entier, par exemple 100.",
                    "A whole number, for example 100.",
                ),
            );
            None
        }
    }
}

/// The rule fields of the three forms, as the API takes them; the form's own errors in `form`.
fn rule_input(form: &mut Form, lang: Lang, currency: Currency) -> RuleInput {
    let raw_value = form.v("discount_value").to_owned();
    let discount = match form.v("discount_type") {
        "fixed" => match super::contacts::typed_amount(Some(&raw_value), currency) {
            Some(m) => Some(DiscountJson {
                discount_type: "fixed".to_owned(),
                basis_points: None,
                amount_minor: Some(m.amount_minor()),
                currency: Some(currency.code().to_owned()),
            }),
            None => {
                form.add(
                    "discount_value",
                    lang.tr(
                        "Montant invalide : par exemple 1,80.",
                        "Invalid amount: for example 1.80.",
                    ),
                );
                None
            }
        },
        _ => match percent_bp(&raw_value) {
            Some(bp) => Some(DiscountJson {
                discount_type: "percent".to_owned(),
                basis_points: Some(bp),
                amount_minor: None,
                currency: None,
            }),
            None => {
                form.add(
                    "discount_value",
                    lang.tr(
                        "Pourcentage invalide : par exemple 5 ou 12,5.",
                        "Invalid percentage: for example 5 or 12.5.",
                    ),
                );
                None
            }
        },
    };
    let mut time_of = |name: &str| {
        let raw = form.opt(name)?;
        let t = local_time(&raw);
        if t.is_none() {
            form.add(
                name,
                lang.tr(
                    "Date et heure invalides : par exemple 2026-07-01T00:00.",
                    "Invalid date and time: for example 2026-07-01T00:00.",
                ),
            );
        }
        t
    };
    let valid_from = time_of("valid_from");
    let valid_until = time_of("valid_until");
    let channels: Vec<String> = form
        .values
        .iter()
        .filter(|(k, v)| k == "channels" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let max_uses_total = count(form, "max_uses_total", lang);
    let max_uses_per_contact = count(form, "max_uses_per_contact", lang);
    let min_order = form.opt("min_order").and_then(|raw| {
        let m = super::contacts::typed_amount(Some(&raw), currency);
        if m.is_none() {
            form.add(
                "min_order",
                lang.tr(
                    "Montant invalide : par exemple 20,00.",
                    "Invalid amount: for example 20.00.",
                ),
            );
        }
        m.map(MoneyJson::from)
    });
    RuleInput {
        discount,
        valid_from,
        valid_until,
        channels: Some(channels),
        max_uses_total,
        max_uses_per_contact,
        min_order,
    }
}

/// The form's field for an API field name (`channels[1]` → `channels`, `discount` →
/// `discount_value`, `min_order.currency` → `min_order`).
fn form_field(api: &str) -> Option<String> {
    let base = api.split(['[', '.']).next().unwrap_or(api);
    let name = match base {
        "discount" => "discount_value",
        "institution_id"
        | "code"
        | "label"
        | "kind"
        | "valid_from"
        | "valid_until"
        | "channels"
        | "max_uses_total"
        | "max_uses_per_contact"
        | "min_order"
        | "prefix"
        | "count"
        | "codes" => base,
        _ => return None,
    };
    Some(name.to_owned())
}

// ---- the list and its forms ------------------------------------------------------------------

pub struct ListRow {
    pub dom_id: String,
    pub href: String,
    pub code: String,
    pub label: String,
    pub kind: &'static str,
    pub discount: String,
    pub validity: String,
    pub uses: String,
    pub active: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_codes.html")]
pub struct CodesPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub rows: Vec<ListRow>,
    pub institutions: Vec<Choice>,
    pub channels: Vec<Choice>,
    pub create: Form,
    pub coupons: Form,
    pub import: Form,
}

pub(crate) fn kind_label(lang: Lang, kind: PromoKind) -> &'static str {
    match kind {
        PromoKind::DiscountCode => lang.tr("Code réutilisable", "Reusable code"),
        PromoKind::Coupon => lang.tr("Coupon à usage unique", "Single-use coupon"),
    }
}

fn channel_label(lang: Lang, c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Internet => lang.tr("Internet", "Internet"),
        ChannelKind::BoxOffice => lang.tr("Guichet", "Box office"),
        ChannelKind::Mobile => lang.tr("Mobile", "Mobile"),
    }
}

/// `5 %`, `12.5 %`, `1.80 EUR`.
pub(crate) fn discount_text(d: &Discount) -> String {
    match d {
        Discount::Percent { basis_points } => {
            let (whole, frac) = (basis_points / 100, basis_points % 100);
            if frac == 0 {
                format!("{whole} %")
            } else {
                let frac = format!("{frac:02}");
                format!("{whole}.{} %", frac.trim_end_matches('0'))
            }
        }
        Discount::Fixed(m) => m.to_string(),
    }
}

fn validity_text(
    lang: Lang,
    from: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> String {
    let at = |t: OffsetDateTime| lang.date_time(to_local(t));
    match (from, until) {
        (None, None) => lang.tr("Sans limite", "No limit").to_owned(),
        (Some(f), None) => format!("{} {}", lang.tr("Dès le", "From"), at(f)),
        (None, Some(u)) => format!("{} {}", lang.tr("Jusqu'au", "Until"), at(u)),
        (Some(f), Some(u)) => format!("{} → {}", at(f), at(u)),
    }
}

fn uses_text(row: &PromoCodeRow) -> String {
    match row.rule.effective_max_uses_total() {
        Some(max) => format!("{} / {max}", row.uses_count),
        None => row.uses_count.to_string(),
    }
}

fn yes_no(lang: Lang, b: bool) -> &'static str {
    if b {
        lang.tr("Oui", "Yes")
    } else {
        lang.tr("Non", "No")
    }
}

/// Codes one by one, coupons of a campaign as one row; newest first.
fn list_rows(lang: Lang, codes: &[PromoCodeRow]) -> Vec<ListRow> {
    let mut rows = Vec::new();
    let mut batches: HashMap<Uuid, usize> = HashMap::new();
    let mut batch_counts: Vec<(usize, i64, i64, usize)> = Vec::new(); // row, uses, max, active
    for c in codes.iter().rev() {
        match c.batch_id {
            Some(batch) => {
                let at = *batches.entry(batch).or_insert_with(|| {
                    rows.push(ListRow {
                        dom_id: format!("batch-{batch}"),
                        href: format!("/admin/promo-codes/batches/{batch}"),
                        code: String::new(),
                        label: c.label.clone(),
                        kind: lang.tr("Campagne de coupons", "Coupon campaign"),
                        discount: discount_text(&c.rule.discount),
                        validity: validity_text(lang, c.rule.valid_from, c.rule.valid_until),
                        uses: String::new(),
                        active: "",
                    });
                    batch_counts.push((rows.len() - 1, 0, 0, 0));
                    batch_counts.len() - 1
                });
                let b = &mut batch_counts[at];
                b.1 += c.uses_count;
                b.2 += 1;
                b.3 += usize::from(c.active);
            }
            None => rows.push(ListRow {
                dom_id: format!("code-{}", c.id),
                href: format!("/admin/promo-codes/{}", c.id),
                code: c.code.clone(),
                label: c.label.clone(),
                kind: kind_label(lang, c.rule.kind),
                discount: discount_text(&c.rule.discount),
                validity: validity_text(lang, c.rule.valid_from, c.rule.valid_until),
                uses: uses_text(c),
                active: yes_no(lang, c.active),
            }),
        }
    }
    for (row, uses, count, active) in batch_counts {
        let r = &mut rows[row];
        r.code = format!("{count} {}", lang.tr("coupons", "coupons"));
        r.uses = format!("{uses} / {count}");
        r.active = if active == 0 {
            lang.tr("Non", "No")
        } else if i64::try_from(active).unwrap_or(0) == count {
            lang.tr("Oui", "Yes")
        } else {
            lang.tr("En partie", "Partly")
        };
    }
    rows
}

#[derive(Default)]
struct Forms {
    create: Option<Form>,
    generate: Option<Form>,
    import: Option<Form>,
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    render_list(&state, &ctx, StatusCode::OK, Forms::default()).await
}

async fn render_list(state: &AppState, ctx: &Ctx, status: StatusCode, forms: Forms) -> Response {
    let lang = ctx.lang;
    let (codes, institutions) = match async {
        Ok::<_, guichet_store::StoreError>((
            state.store.list_promo_codes(None, LIST_LIMIT).await?,
            state.store.list_institutions().await?,
        ))
    }
    .await
    {
        Ok(v) => v,
        Err(e) => return ctx.failure(e.into()),
    };
    let rule_defaults: [(&str, &str); 1] = [("discount_type", "percent")];
    let defaults = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = rule_defaults.to_vec();
        v.extend_from_slice(extra);
        Form::with(&v)
    };
    page(
        status,
        CodesPage {
            page: ctx.chrome("codes"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            is_admin: ctx.is_admin(),
            notice: ctx.notice(NOTICES),
            rows: list_rows(lang, &codes),
            institutions: institutions
                .iter()
                .map(|i| Choice {
                    value: i.id.to_string(),
                    label: format!("{} ({})", i.name, i.default_currency.code()),
                })
                .collect(),
            channels: ChannelKind::ALL
                .iter()
                .map(|c| Choice {
                    value: c.as_str().to_owned(),
                    label: channel_label(lang, *c).to_owned(),
                })
                .collect(),
            create: forms
                .create
                .unwrap_or_else(|| defaults(&[("kind", "discount_code")])),
            coupons: forms.generate.unwrap_or_else(|| defaults(&[])),
            import: forms.import.unwrap_or_else(|| defaults(&[])),
        },
    )
}

/// The institution a form names, and its currency (amounts are typed in it).
async fn institution_of(state: &AppState, form: &mut Form, lang: Lang) -> Option<(Uuid, Currency)> {
    let id = form
        .opt("institution_id")
        .and_then(|v| v.parse::<Uuid>().ok());
    let found = match id {
        Some(id) => state.store.get_institution(id).await.ok(),
        None => None,
    };
    if found.is_none() {
        form.add(
            "institution_id",
            lang.tr("Choisissez un établissement.", "Choose an institution."),
        );
    }
    found.map(|i| (i.id, i.default_currency))
}

/// What a refused change answers: the form again with the errors (422, or 409 for a code
/// taken), or the refusal page (403, 404…).
async fn refused(
    state: &AppState,
    ctx: &Ctx,
    e: ApiError,
    mut form: Form,
    which: fn(Form) -> Forms,
    taken_field: &str,
) -> Response {
    match e.status {
        StatusCode::UNPROCESSABLE_ENTITY => {
            form.api_errors(&e, form_field);
            render_list(state, ctx, e.status, which(form)).await
        }
        StatusCode::CONFLICT => {
            form.add(
                taken_field,
                ctx.lang.tr(
                    "Ce code existe déjà dans cet établissement.",
                    "This code already exists in this institution.",
                ),
            );
            render_list(state, ctx, e.status, which(form)).await
        }
        _ => ctx.failure(e),
    }
}

async fn create(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let lang = ctx.lang;
    let mut form = Form::new(posted.form.clone());
    let institution = institution_of(&state, &mut form, lang).await;
    let currency = institution.map_or(Currency::EUR, |(_, c)| c);
    let rule = rule_input(&mut form, lang, currency);
    form.require(&["code", "label"], lang);
    let wrap = |f: Form| Forms {
        create: Some(f),
        ..Forms::default()
    };
    if !form.is_ok() {
        return render_list(&state, ctx, StatusCode::UNPROCESSABLE_ENTITY, wrap(form)).await;
    }
    let req = CreatePromoCodeRequest {
        institution_id: institution.map(|(id, _)| id),
        code: form.opt("code"),
        label: form.opt("label"),
        kind: form.opt("kind"),
        rule,
    };
    match create_code(&state, &ctx.staff, req).await {
        Ok(row) => see_other(&format!("/admin/promo-codes/{}?notice=created", row.id)),
        Err(e) => refused(&state, ctx, e, form, wrap, "code").await,
    }
}

async fn generate(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let lang = ctx.lang;
    let mut form = Form::new(posted.form.clone());
    let institution = institution_of(&state, &mut form, lang).await;
    let currency = institution.map_or(Currency::EUR, |(_, c)| c);
    let rule = rule_input(&mut form, lang, currency);
    form.require(&["label", "prefix", "count"], lang);
    let n = count(&mut form, "count", lang);
    let wrap = |f: Form| Forms {
        generate: Some(f),
        ..Forms::default()
    };
    if !form.is_ok() {
        return render_list(&state, ctx, StatusCode::UNPROCESSABLE_ENTITY, wrap(form)).await;
    }
    let req = GenerateCouponsRequest {
        institution_id: institution.map(|(id, _)| id),
        prefix: form.opt("prefix"),
        count: n,
        label: form.opt("label"),
        rule,
    };
    match generate_batch(&state, &ctx.staff, req).await {
        Ok((batch, _)) => see_other(&format!(
            "/admin/promo-codes/batches/{batch}?notice=generated"
        )),
        Err(e) => refused(&state, ctx, e, form, wrap, "prefix").await,
    }
}

/// The codes of an import box, one per line (or separated by commas, semicolons or spaces),
/// with the line each came from.
fn typed_codes(raw: &str) -> Vec<(usize, String)> {
    raw.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            line.split([',', ';', ' ', '\t'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(move |c| (i + 1, c.to_owned()))
        })
        .collect()
}

async fn import(State(state): State<AppState>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let lang = ctx.lang;
    let mut form = Form::new(posted.form.clone());
    let institution = institution_of(&state, &mut form, lang).await;
    let currency = institution.map_or(Currency::EUR, |(_, c)| c);
    let rule = rule_input(&mut form, lang, currency);
    form.require(&["label", "codes"], lang);
    let codes = typed_codes(form.v("codes"));
    let wrap = |f: Form| Forms {
        import: Some(f),
        ..Forms::default()
    };
    if !form.is_ok() {
        return render_list(&state, ctx, StatusCode::UNPROCESSABLE_ENTITY, wrap(form)).await;
    }
    let req = ImportCouponsRequest {
        institution_id: institution.map(|(id, _)| id),
        label: form.opt("label"),
        codes: (!codes.is_empty()).then(|| codes.iter().map(|(_, c)| c.clone()).collect()),
        rule,
    };
    match import_batch(&state, &ctx.staff, req).await {
        Ok((batch, _)) => see_other(&format!(
            "/admin/promo-codes/batches/{batch}?notice=imported"
        )),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            // `codes[i]` errors name the line the code was typed on.
            let mut lines = Vec::new();
            for (name, message) in &e.fields {
                let Some(index) = name
                    .strip_prefix("codes[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|i| i.parse::<usize>().ok())
                else {
                    continue;
                };
                let line = codes.get(index).map_or(index + 1, |(l, _)| *l);
                let what = if message.starts_with("repeats") {
                    lang.tr("code répété", "repeated code").to_owned()
                } else {
                    message.clone()
                };
                lines.push((
                    line,
                    format!("{} {line} : {what}", lang.tr("ligne", "line")),
                ));
            }
            lines.sort();
            if !lines.is_empty() {
                let text: Vec<String> = lines.into_iter().map(|(_, t)| t).collect();
                form.add("codes", text.join(" ; "));
            }
            refused(&state, ctx, e, form, wrap, "codes").await
        }
        Err(e) => refused(&state, ctx, e, form, wrap, "codes").await,
    }
}

// ---- a code ----------------------------------------------------------------------------------

pub struct UseRow {
    pub date: String,
    pub order: String,
    pub contact: String,
    pub status: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_code.html")]
pub struct CodePage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub is_admin: bool,
    pub notice: &'static str,
    pub id: String,
    pub code: String,
    pub label: String,
    pub kind: &'static str,
    pub discount: String,
    pub valid_from: String,
    pub valid_until: String,
    pub channels: String,
    pub max_total: String,
    pub max_per_contact: String,
    pub min_order: String,
    pub uses_count: String,
    pub active: bool,
    pub batch_href: String,
    pub created: String,
    pub uses: Vec<UseRow>,
}

fn use_status(lang: Lang, s: HoldStatus) -> &'static str {
    match s {
        HoldStatus::Held => lang.tr("Réservé (commande en cours)", "Held (order unpaid)"),
        HoldStatus::Committed => lang.tr("Utilisé", "Used"),
        HoldStatus::Released => lang.tr("Libéré", "Released"),
    }
}

async fn code_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return ctx.failure(ApiError::not_found("promo code"));
    };
    match render_code(&state, &ctx, id).await {
        Ok(r) => r,
        Err(e) => ctx.failure(e),
    }
}

async fn render_code(state: &AppState, ctx: &Ctx, id: Uuid) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let code = state.store.get_promo_code(id).await?;
    let uses = state.store.promo_code_uses(id).await?;
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut rows = Vec::new();
    for u in uses.iter().rev() {
        let contact = match u.contact_id {
            Some(c) => match names.get(&c) {
                Some(n) => n.clone(),
                None => {
                    let n = state
                        .store
                        .get_contact(c)
                        .await
                        .map(|c| format!("{} {}", c.first_name, c.last_name))
                        .unwrap_or_default();
                    names.insert(c, n.clone());
                    n
                }
            },
            None => lang.tr("Anonyme", "Anonymous").to_owned(),
        };
        rows.push(UseRow {
            date: lang.date_time(to_local(u.updated_at)),
            order: u.order_id.to_string()[..8].to_owned(),
            contact,
            status: use_status(lang, u.status),
        });
    }
    let rule = &code.rule;
    let none = lang.tr("—", "—");
    let at = |t: Option<OffsetDateTime>| {
        t.map_or_else(|| none.to_owned(), |t| lang.date_time(to_local(t)))
    };
    Ok(page(
        StatusCode::OK,
        CodePage {
            page: ctx.chrome("codes"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            is_admin: ctx.is_admin(),
            notice: ctx.notice(NOTICES),
            id: code.id.to_string(),
            code: code.code.clone(),
            label: code.label.clone(),
            kind: kind_label(lang, rule.kind),
            discount: discount_text(&rule.discount),
            valid_from: at(rule.valid_from),
            valid_until: at(rule.valid_until),
            channels: if rule.channels.is_empty() {
                lang.tr("Toutes", "All").to_owned()
            } else {
                rule.channels
                    .iter()
                    .map(|c| channel_label(lang, *c))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            max_total: rule.effective_max_uses_total().map_or_else(
                || lang.tr("Illimité", "Unlimited").to_owned(),
                |n| n.to_string(),
            ),
            max_per_contact: rule.max_uses_per_contact.map_or_else(
                || lang.tr("Illimité", "Unlimited").to_owned(),
                |n| n.to_string(),
            ),
            min_order: rule
                .min_order
                .map_or_else(|| none.to_owned(), |m| m.to_string()),
            uses_count: code.uses_count.to_string(),
            active: code.active,
            batch_href: code
                .batch_id
                .map(|b| format!("/admin/promo-codes/batches/{b}"))
                .unwrap_or_default(),
            created: lang.date_time(to_local(code.created_at)),
            uses: rows,
        },
    ))
}

async fn change_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let ctx = &posted.ctx;
    if let Err(resp) = ctx.require_admin() {
        return resp;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return ctx.failure(ApiError::not_found("promo code"));
    };
    let active = match posted.field("active") {
        Some("yes") => true,
        Some("no") => false,
        _ => return ctx.failure(ApiError::unprocessable("active: yes or no")),
    };
    match set_active(&state, &ctx.staff, id, active).await {
        Ok(_) => see_other(&format!(
            "/admin/promo-codes/{id}?notice={}",
            if active { "activated" } else { "deactivated" }
        )),
        Err(e) => ctx.failure(e),
    }
}

// ---- a campaign ------------------------------------------------------------------------------

pub struct CouponRow {
    pub href: String,
    pub code: String,
    pub uses: String,
    pub active: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_batch.html")]
pub struct BatchPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub notice: &'static str,
    pub label: String,
    pub count: usize,
    pub discount: String,
    pub validity: String,
    pub used: i64,
    pub csv_href: String,
    pub coupons: Vec<CouponRow>,
}

async fn batch_rows(state: &AppState, batch: &str) -> Result<(Uuid, Vec<PromoCodeRow>), ApiError> {
    let batch = batch
        .parse::<Uuid>()
        .map_err(|_| ApiError::not_found("coupon campaign"))?;
    let rows = state.store.promo_codes_of_batch(batch).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("coupon campaign"));
    }
    Ok((batch, rows))
}

async fn batch_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(batch): Path<String>,
) -> Response {
    let lang = ctx.lang;
    let (batch, rows) = match batch_rows(&state, &batch).await {
        Ok(v) => v,
        Err(e) => return ctx.failure(e),
    };
    let first = &rows[0];
    page(
        StatusCode::OK,
        BatchPage {
            page: ctx.chrome("codes"),
            csrf: ctx.csrf(),
            user: ctx.user(),
            notice: ctx.notice(NOTICES),
            label: first.label.clone(),
            count: rows.len(),
            discount: discount_text(&first.rule.discount),
            validity: validity_text(lang, first.rule.valid_from, first.rule.valid_until),
            used: rows.iter().map(|r| r.uses_count).sum(),
            csv_href: format!("/admin/promo-codes/batches/{batch}/codes.csv"),
            coupons: rows
                .iter()
                .map(|r| CouponRow {
                    href: format!("/admin/promo-codes/{}", r.id),
                    code: r.code.clone(),
                    uses: uses_text(r),
                    active: yes_no(lang, r.active),
                })
                .collect(),
        },
    )
}

/// One CSV cell: quoted when it holds a separator, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` is neutralised so that a spreadsheet does not read a formula.
fn csv_cell(raw: &str) -> String {
    let mut v = raw.to_owned();
    if v.starts_with(['=', '+', '-', '@']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// `GET …/codes.csv`: the campaign's coupons, to print or mail (any signed-in role: the list
/// page shows them too).
async fn batch_csv(State(state): State<AppState>, ctx: Ctx, Path(batch): Path<String>) -> Response {
    let (batch, rows) = match batch_rows(&state, &batch).await {
        Ok(v) => v,
        Err(e) => return ctx.failure(e),
    };
    let mut body = String::from("code,label,active,uses\r\n");
    for r in &rows {
        body.push_str(&format!(
            "{},{},{},{}\r\n",
            csv_cell(&r.code),
            csv_cell(&r.label),
            if r.active { "yes" } else { "no" },
            r.uses_count
        ));
    }
    tracing::info!(%batch, count = rows.len(), by = %ctx.staff.user.username, "coupon list downloaded");
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"coupons-{batch}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_typed_with_at_most_two_decimals() {
        assert_eq!(percent_bp("5"), Some(500));
        assert_eq!(percent_bp("5,5"), Some(550));
        assert_eq!(percent_bp(" 12.25 "), Some(1225));
        assert_eq!(percent_bp("150"), Some(15000));
        for bad in ["", "dix", "5.555", "-5", ",5", "5%"] {
            assert_eq!(percent_bp(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_times_become_utc() {
        assert_eq!(
            local_time("2026-06-01T00:00").as_deref(),
            Some("2026-05-31T22:00:00Z")
        );
        assert_eq!(
            local_time("2026-12-24T20:30:15").as_deref(),
            Some("2026-12-24T19:30:15Z")
        );
        assert_eq!(local_time("2026-06-01"), None);
        assert_eq!(local_time("2026-06-01T25:00"), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("NV-ABC"), "NV-ABC");
        assert_eq!(csv_cell("Été, 2026"), "\"Été, 2026\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-AB"), "'-AB");
    }

    #[test]
    fn import_boxes_keep_their_line_numbers() {
        assert_eq!(
            typed_codes("A-1\r\n\r\nB-2, C-3\n"),
            vec![
                (1, "A-1".to_owned()),
                (3, "B-2".to_owned()),
                (3, "C-3".to_owned())
            ]
        );
    }

    #[test]
    fn discounts_read_as_typed() {
        assert_eq!(
            discount_text(&Discount::Percent { basis_points: 500 }),
            "5 %"
        );
        assert_eq!(
            discount_text(&Discount::Percent { basis_points: 1250 }),
            "12.5 %"
        );
        assert_eq!(
            discount_text(&Discount::Percent { basis_points: 1205 }),
            "12.05 %"
        );
    }
}

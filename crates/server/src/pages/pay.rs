//! The payment page (API.md `GET /pay/{token}`; SPEC F1, F8, F9, F10): the order summary,
//! codes and vouchers, the credit balance, the means of payment (saved cards, a new card,
//! the deferred account, installment plans), the terms, "Cancel order" and "Pay"; then the
//! card's return from the provider, 3-D Secure, and the result.
//!
//! The page is a set of plain forms. Those that post to Guichet (codes, credit balance,
//! deferred account, a saved card without CVV, cancel, the card-return confirmation) carry a
//! CSRF token; the card forms post straight to the provider (their `action` is the provider's
//! Alias Gateway, with the signed hidden fields of the checkout summary), so card numbers and
//! CVVs never reach Guichet. The provider sends the browser back to
//! `/pay/{token}/card-return?…` with a signed alias; that page confirms the payment with the
//! buyer's choices. Those choices (terms accepted, installment plan) cannot ride along
//! through the provider, so the page's script keeps them in the tab's `sessionStorage` (keyed
//! by the order) while the card is at the provider, and the card-return page's script posts
//! the confirmation at once with them; without script (or storage) the card-return page
//! simply asks for them again. Whether the card is saved and which saved card the CVV was
//! for travel in the provider's signed return itself (the form's `ORDERID`, the alias).

use super::csrf;
use super::i18n::{Lang, Texts};
use super::{Chrome, page_csp, respond, see_other};
use crate::AppState;
use crate::cards::{self, Action, CardRequest, PayResult};
use crate::checkout;
use crate::checkout_api::{self, CardFormJson, CheckoutJson, ClientIp};
use crate::error::ApiError;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_domain::Money;
use guichet_domain::settlement::Remainder;
use guichet_store::{CardPaymentStatus, HoldStatus, LegKind, Order, OrderStatus};
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{token}", get(page))
        .route("/pay/{token}/codes", post(apply_code))
        .route("/pay/{token}/codes/remove", post(remove_code))
        .route("/pay/{token}/credit", post(set_credit))
        .route("/pay/{token}/pay", post(pay))
        .route("/pay/{token}/cancel", post(cancel))
        .route(
            "/pay/{token}/card-return",
            get(card_return).post(card_return_pay),
        )
        .route("/pay/{token}/result", get(result))
}

/// CSRF purpose of the payment page's forms (keyed with the checkout token).
const PURPOSE: &str = "pay";

// ---- request helpers ---------------------------------------------------------------------

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A provider parameter (Ogone names are case-insensitive).
fn provider_field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

/// The checkout token's shape: what `auth::random_token` makes (URL-safe base64).
fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 100
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn load(state: &AppState, token: &str, lang: Option<&str>) -> Result<Order, Response> {
    let not_found = || {
        let lang = Lang::pick(lang, "fr");
        let t = lang.texts();
        super::message(
            StatusCode::NOT_FOUND,
            lang,
            t.not_found_title,
            t.not_found_message,
            None,
        )
    };
    if !token_ok(token) {
        return Err(not_found());
    }
    state
        .store
        .order_by_token_hash(&crate::auth::sha256_hex(token))
        .await
        .map_err(|_| not_found())
}

/// A form posted to the payment page: its CSRF token is checked before anything is read (a
/// forged request is answered 403 and changes nothing), then the order is loaded; the page's
/// language is `?lang=`, else the order's.
pub struct PayForm {
    pub token: String,
    pub order: Order,
    pub lang: Lang,
    pub form: Vec<(String, String)>,
}

impl axum::extract::FromRequest<AppState> for PayForm {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::RequestPartsExt as _;
        let (mut parts, body) = req.into_parts();
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        let asked = field(&query, "lang");
        let refused = || super::forbidden(Lang::pick(asked, "fr"));
        let Ok(Path(token)) = parts.extract::<Path<String>>().await else {
            return Err(refused());
        };
        let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
            return Err(refused());
        };
        let form = pairs(&body);
        if !token_ok(&token)
            || !csrf::verify(
                &token,
                PURPOSE,
                field(&form, "csrf").unwrap_or(""),
                OffsetDateTime::now_utc(),
            )
        {
            tracing::warn!("payment page form without a valid CSRF token: refused");
            return Err(refused());
        }
        let order = load(state, &token, asked).await?;
        let lang = Lang::pick(asked, &order.language);
        Ok(PayForm {
            token,
            order,
            lang,
            form,
        })
    }
}

fn pay_url(token: &str, lang: Lang, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("lang", lang.code());
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/pay/{token}?{}", q.finish())
}

fn result_url(token: &str, lang: Lang) -> String {
    format!("/pay/{token}/result?lang={}", lang.code())
}

fn money(minor: i64, order: &Order) -> String {
    Money::new(minor, order.currency).to_string()
}

/// A URL the shop gave, if it is one a link may point to.
fn shop_link(url: Option<&str>) -> String {
    url.filter(|u| url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https")))
        .unwrap_or("")
        .to_owned()
}

fn browser_of(headers: &HeaderMap, form: &[(String, String)]) -> crate::psp::Browser {
    let mut browser = crate::psp::Browser::from_headers(headers);
    // `color depth|screen width|screen height|minutes from UTC`, filled in by the page's script.
    if let Some(data) = field(form, "browser") {
        let mut parts = data.split('|');
        browser.color_depth = parts.next().and_then(|v| v.parse().ok());
        browser.screen_width = parts.next().and_then(|v| v.parse().ok());
        browser.screen_height = parts.next().and_then(|v| v.parse().ok());
        // JavaScript's getTimezoneOffset(), as 3-D Secure wants it (-60 in Paris in winter).
        browser.timezone_minutes = parts.next().and_then(|v| v.parse().ok());
        browser.javascript_enabled = Some(true);
    }
    browser
}

// ---- the page's view -----------------------------------------------------------------------

pub struct LineView {
    pub label: String,
    pub when: String,
    pub qty: String,
    pub amount: String,
}

pub struct CodeView {
    pub label: String,
    pub amount: String,
    pub code: String,
}

pub struct VoucherView {
    pub label: String,
    pub amount: String,
    pub leg: String,
}

pub struct CreditView {
    pub available: String,
    pub in_use: String,
    pub in_use_nonzero: bool,
    pub usable: bool,
    pub suggested: String,
    pub max: String,
    pub error: &'static str,
}

pub struct OptionView {
    pub key: String,
    pub heading: &'static str,
    pub title: String,
    pub detail: String,
    pub logo: String,
    pub logo_alt: String,
    pub badge: &'static str,
    pub disabled: bool,
}

pub struct FormView {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

impl From<&CardFormJson> for FormView {
    fn from(f: &CardFormJson) -> Self {
        FormView {
            url: f.url.clone(),
            fields: f
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

pub struct SavedPanel {
    pub key: String,
    pub id: String,
    /// `visa`, `mastercard`, `amex` or empty (the script's CVV length).
    pub brand: &'static str,
    pub brand_name: String,
    pub logo: String,
    pub masked: String,
    pub holder: String,
    pub expiry: String,
    pub cvv_form: Option<FormView>,
    pub cvc_error: &'static str,
}

pub struct NewCardPanel {
    pub form: FormView,
    pub save: Option<FormView>,
    pub holder: String,
    pub holder_error: &'static str,
    pub number_error: &'static str,
    pub expiry_error: &'static str,
    pub cvc_error: &'static str,
    /// The field to focus (the first in error).
    pub focus: &'static str,
}

pub struct DeferredPanel {
    pub room: String,
}

pub struct ScheduleView {
    pub when: String,
    pub amount: String,
}

pub struct PlanView {
    pub id: String,
    pub name: String,
    pub lines: Vec<ScheduleView>,
    /// The pay button's words with this plan ("Payer 8.00 EUR maintenant").
    pub pay_label: String,
}

fn plan_views(plans: &[checkout_api::PlanOffer], order: &Order, lang: Lang) -> Vec<PlanView> {
    let t = lang.texts();
    plans
        .iter()
        .map(|p| PlanView {
            id: p.id.to_string(),
            name: p.name.clone(),
            lines: p
                .schedule
                .iter()
                .map(|l| ScheduleView {
                    when: schedule_date(lang, t, l.number, &l.due_on),
                    amount: money(l.amount.amount_minor, order),
                })
                .collect(),
            pay_label: p.schedule.first().map_or_else(String::new, |first| {
                format!(
                    "{} {} {}",
                    t.pay,
                    money(first.amount.amount_minor, order),
                    t.pay_now
                )
            }),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "pay.html")]
pub struct PayPage {
    pub page: Chrome,
    pub token: String,
    pub lang_q: String,
    pub csrf: String,
    pub order_id: String,
    pub notice: &'static str,
    pub page_error: &'static str,
    pub lines: Vec<LineView>,
    pub delivery_mode: String,
    pub delivery_delay: String,
    pub contact_email: String,
    pub delivery_fee: String,
    pub total: String,
    pub codes: Vec<CodeView>,
    pub vouchers: Vec<VoucherView>,
    pub open: bool,
    pub vouchers_accepted: bool,
    pub code_value: String,
    pub code_error: &'static str,
    pub credit: Option<CreditView>,
    pub currency: String,
    pub amount_due: String,
    pub nothing_due: bool,
    pub options: Vec<OptionView>,
    pub selected: String,
    pub saved: Vec<SavedPanel>,
    pub new_card: Option<NewCardPanel>,
    pub hosted: bool,
    pub deferred: Option<DeferredPanel>,
    pub plans: Vec<PlanView>,
    pub terms_error: &'static str,
    pub pay_label: String,
}

/// What a page shows besides the order: messages, what the buyer typed, errors by field.
#[derive(Default)]
struct Shown {
    notice: &'static str,
    page_error: &'static str,
    code_value: String,
    code_error: &'static str,
    credit_error: &'static str,
    terms_error: &'static str,
    means: Option<String>,
    /// Card fields the provider refused: `holder`, `number`, `expiry`, `cvc`.
    card_errors: Vec<String>,
}

fn notice_text(t: &'static Texts, code: &str) -> &'static str {
    match code {
        "code_applied" => t.notice_code_applied,
        "voucher_applied" => t.notice_voucher_applied,
        "code_removed" => t.notice_code_removed,
        "credit_set" => t.notice_credit_set,
        "credit_removed" => t.notice_credit_removed,
        _ => "",
    }
}

fn error_text(t: &'static Texts, code: &str) -> &'static str {
    match code {
        "" => "",
        "declined" => t.err_declined,
        "provider_error" => t.err_provider,
        "payment_in_progress" => t.err_in_progress,
        "cvv_required" => t.err_cvv_required,
        "card_return_invalid" => t.err_card_return,
        "card_refused" => t.err_card_refused,
        "order_expired" => t.err_order_expired,
        "deferred_not_allowed" | "deferred_over_maximum" => t.err_deferred,
        "installment_plan_not_offered" | "installments_need_saved_card" | "conflict" => t.err_plan,
        "too_many_card_attempts" => t.err_too_many_cards,
        "card_expired" | "saved_cards_not_accepted" | "not_found" => t.err_saved_card,
        "terms" | "validation_failed" => t.err_terms,
        _ => t.err_failed,
    }
}

fn schedule_date(lang: Lang, t: &Texts, number: u8, due_on: &str) -> String {
    if number == 1 {
        return t.today.to_owned();
    }
    time::Date::parse(
        due_on,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_or_else(|_| due_on.to_owned(), |d| lang.date(d))
}

/// The order's lines as the buyer reads them.
fn line_views(order: &Order, lang: Lang) -> Vec<LineView> {
    order
        .lines
        .iter()
        .map(|l| {
            let amount = l
                .unit_amount
                .checked_mul(i64::from(l.quantity))
                .map_or_else(|_| String::new(), |m| m.to_string());
            let when = l.event.as_ref().map_or_else(String::new, |e| {
                let at = lang.date_time(e.starts_at);
                if e.name == l.label {
                    at
                } else {
                    format!("{} · {at}", e.name)
                }
            });
            LineView {
                label: l.label.clone(),
                when,
                qty: format!("{} × {}", l.quantity, l.unit_amount),
                amount,
            }
        })
        .collect()
}

/// The page, and the provider origins its forms post to (for the CSP).
async fn build(
    state: &AppState,
    order: &Order,
    token: &str,
    lang: Lang,
    shown: Shown,
) -> Result<(PayPage, Vec<String>), ApiError> {
    let t = lang.texts();
    let summary: CheckoutJson = checkout_api::summary(state, order, token).await?;
    let site = state
        .store
        .get_institution(order.institution_id)
        .await
        .map_or_else(|_| "Guichet".to_owned(), |i| i.name);
    let contact = match order.contact_id {
        Some(id) => state.store.get_contact(id).await.ok(),
        None => None,
    };
    let assets = super::assets::assets();
    let o = &summary.order;
    let means = &summary.means;
    let due = o.amount_due_minor;
    let open = order.status == OrderStatus::AwaitingPayment;

    let codes = o
        .applied_codes
        .iter()
        .map(|c| CodeView {
            label: c.label.clone(),
            amount: money(c.amount_minor, order),
            code: c.code.clone(),
        })
        .collect();
    let vouchers = o
        .legs
        .iter()
        .filter(|l| l.kind == "voucher" && l.status != "released")
        .map(|l| VoucherView {
            label: l.voucher.clone().unwrap_or_default(),
            amount: money(l.amount_minor, order),
            leg: l.id.to_string(),
        })
        .collect();

    let credit = means.credit_balance.as_ref().and_then(|c| {
        let available = c.available.amount_minor;
        let in_use = c.in_use.amount_minor;
        if available <= 0 && in_use <= 0 {
            return None;
        }
        let max = (available + in_use).min(due + in_use).max(0);
        let suggested = if in_use > 0 { in_use } else { max };
        Some(CreditView {
            available: money(available, order),
            in_use: money(in_use, order),
            in_use_nonzero: in_use > 0,
            usable: max > 0,
            suggested: Money::new(suggested, order.currency).format_amount(),
            max: money(max, order),
            error: shown.credit_error,
        })
    });

    let mut origins = Vec::new();
    let mut options = Vec::new();
    let mut saved = Vec::new();
    let mut new_card = None;
    let mut hosted = false;
    if means.card && due > 0 {
        if let Some(form) = &means.card_form {
            for (i, s) in means.saved_cards.iter().enumerate() {
                let key = format!("saved-{}", s.card.id);
                // The policy may ask for the CVV while the provider gives no form for it.
                let cvv_form = s.cvv_form.as_ref().map(FormView::from);
                let usable = !s.card.expired && (cvv_form.is_some() || !means.cvv_required);
                options.push(OptionView {
                    key: key.clone(),
                    heading: if i == 0 { t.saved_cards_heading } else { "" },
                    title: s.card.masked.clone(),
                    detail: format!("{} · {} {}", s.card.holder, t.exp, s.card.expiry),
                    logo: assets.logo(&s.card.brand).url.clone(),
                    logo_alt: s.card.brand.clone(),
                    badge: if s.card.expired { t.expired } else { "" },
                    disabled: !usable,
                });
                if !usable {
                    continue;
                }
                let cvv_form = if means.cvv_required { cvv_form } else { None };
                if let Some(f) = &cvv_form {
                    origins.extend(super::origin_of(&f.url));
                }
                let errored = shown.means.as_deref() == Some(key.as_str());
                saved.push(SavedPanel {
                    key,
                    id: s.card.id.to_string(),
                    brand: super::assets::brand_key(&s.card.brand),
                    brand_name: s.card.brand.clone(),
                    logo: assets.logo(&s.card.brand).url.clone(),
                    masked: s.card.masked.clone(),
                    holder: s.card.holder.clone(),
                    expiry: s.card.expiry.clone(),
                    cvv_form,
                    cvc_error: if errored && shown.card_errors.iter().any(|e| e == "cvc") {
                        t.err_cvc
                    } else {
                        ""
                    },
                });
            }
            options.push(OptionView {
                key: "new".to_owned(),
                heading: if means.saved_cards.is_empty() {
                    t.card_heading
                } else {
                    ""
                },
                title: t.new_card_option.to_owned(),
                detail: String::new(),
                logo: String::new(),
                logo_alt: String::new(),
                badge: "",
                disabled: false,
            });
            origins.extend(super::origin_of(&form.url));
            let save = means.card_form_save.as_ref().map(FormView::from);
            if let Some(s) = &save {
                origins.extend(super::origin_of(&s.url));
            }
            let errored = shown.means.as_deref() == Some("new");
            let err = |name: &str, text: &'static str| {
                if errored && shown.card_errors.iter().any(|e| e == name) {
                    text
                } else {
                    ""
                }
            };
            let holder_error = err("holder", t.err_holder);
            let number_error = err("number", t.err_number);
            let expiry_error = err("expiry", t.err_expiry);
            let cvc_error = err("cvc", t.err_cvc);
            let focus = [
                ("holder", holder_error),
                ("number", number_error),
                ("expiry", expiry_error),
                ("cvc", cvc_error),
            ]
            .into_iter()
            .find(|(_, e)| !e.is_empty())
            .map_or("", |(f, _)| f);
            new_card = Some(NewCardPanel {
                form: FormView::from(form),
                save,
                holder: contact
                    .as_ref()
                    .map(|c| format!("{} {}", c.first_name, c.last_name))
                    .unwrap_or_default(),
                holder_error,
                number_error,
                expiry_error,
                cvc_error,
                focus,
            });
        } else if hosted_page(state, order).await {
            hosted = true;
            options.push(OptionView {
                key: "hosted".to_owned(),
                heading: t.card_heading,
                title: t.hosted_option.to_owned(),
                detail: String::new(),
                logo: assets.card.url.clone(),
                logo_alt: String::new(),
                badge: "",
                disabled: false,
            });
        }
    }
    let deferred = match &means.deferred_account {
        Some(d) if d.allowed && due > 0 => {
            let enough = d.room.amount_minor >= due;
            options.push(OptionView {
                key: "deferred".to_owned(),
                heading: "",
                title: t.deferred_option.to_owned(),
                detail: format!(
                    "{} {}",
                    t.deferred_room_label,
                    money(d.room.amount_minor, order)
                ),
                logo: String::new(),
                logo_alt: String::new(),
                badge: if enough { "" } else { t.deferred_insufficient },
                disabled: !enough,
            });
            enough.then(|| DeferredPanel {
                room: money(d.room.amount_minor, order),
            })
        }
        _ => None,
    };
    let selectable = |key: &str| options.iter().any(|o| o.key == key && !o.disabled);
    let selected = shown
        .means
        .clone()
        .filter(|m| selectable(m))
        .or_else(|| options.iter().find(|o| !o.disabled).map(|o| o.key.clone()))
        .unwrap_or_default();

    let plans = plan_views(&means.installment_plans, order, lang);

    let amount_due = money(due, order);
    let page = PayPage {
        page: Chrome::new(lang, site, &format!("/pay/{token}")),
        token: token.to_owned(),
        lang_q: format!("?lang={}", lang.code()),
        csrf: csrf::issue(token, PURPOSE, OffsetDateTime::now_utc()),
        order_id: order.id.to_string(),
        notice: shown.notice,
        page_error: shown.page_error,
        lines: line_views(order, lang),
        delivery_mode: order.delivery.mode.clone(),
        delivery_delay: order.delivery.delay.clone(),
        contact_email: contact
            .as_ref()
            .map(|c| c.email.clone())
            .unwrap_or_default(),
        delivery_fee: order.delivery.fee.to_string(),
        total: order.total.to_string(),
        codes,
        vouchers,
        open,
        vouchers_accepted: means.vouchers_accepted,
        code_value: shown.code_value,
        code_error: shown.code_error,
        credit,
        currency: order.currency.code().to_owned(),
        nothing_due: due == 0,
        pay_label: format!("{} {amount_due}", t.pay),
        amount_due,
        options,
        selected,
        saved,
        new_card,
        hosted,
        deferred,
        plans,
        terms_error: shown.terms_error,
    };
    Ok((page, origins))
}

/// Whether the order's channel takes cards on the provider's own page (Sips Paypage); an
/// Ogone channel without a usable account offers no card at all.
async fn hosted_page(state: &AppState, order: &Order) -> bool {
    let Ok(pos) = state.store.get_point_of_sale(order.point_of_sale_id).await else {
        return false;
    };
    state
        .store
        .get_payment_system(pos.sales_channel_id)
        .await
        .is_ok_and(|s| s.provider == guichet_domain::config::ProviderKind::Sips)
}

async fn render(
    state: &AppState,
    order: &Order,
    token: &str,
    lang: Lang,
    shown: Shown,
    status: StatusCode,
) -> Response {
    match build(state, order, token, lang, shown).await {
        Ok((page, origins)) => respond(status, &page_csp(&origins), page),
        Err(e) => failure(lang, &e),
    }
}

/// An unexpected error, as a page (the detail is logged where it arose).
fn failure(lang: Lang, e: &ApiError) -> Response {
    let t = lang.texts();
    tracing::warn!(code = e.code, status = %e.status, "payment page error");
    super::message(e.status, lang, t.err_failed, e.message.clone(), None)
}

/// An order that can no longer be paid here shows its result instead.
fn payable(order: &Order, now: OffsetDateTime) -> bool {
    order.status == OrderStatus::AwaitingPayment && order.hold_expires_at > now
}

// ---- handlers --------------------------------------------------------------------------

async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = pairs(q.unwrap_or_default().as_bytes());
    let order = match load(&state, &token, field(&query, "lang")).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let lang = Lang::pick(field(&query, "lang"), &order.language);
    if !payable(&order, OffsetDateTime::now_utc()) {
        return result_page(&state, &order, lang, Some(&token), false).await;
    }
    let t = lang.texts();
    let shown = Shown {
        notice: notice_text(t, field(&query, "notice").unwrap_or("")),
        page_error: error_text(t, field(&query, "error").unwrap_or("")),
        means: field(&query, "means").map(str::to_owned),
        card_errors: field(&query, "card_error")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        ..Shown::default()
    };
    render(&state, &order, &token, lang, shown, StatusCode::OK).await
}

async fn apply_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PayForm {
        token,
        order,
        lang,
        form,
    }: PayForm,
) -> Response {
    let t = lang.texts();
    let code = field(&form, "code").unwrap_or("").trim().to_owned();
    let now = OffsetDateTime::now_utc();
    let error = if code.is_empty() || code.chars().count() > 64 {
        t.err_code_empty
    } else {
        match checkout_api::apply_code_counted(&state, &order, &code, &ip, now).await {
            Ok((_, kind)) => {
                let notice = match kind {
                    checkout::CodeKind::PromoCode => "code_applied",
                    checkout::CodeKind::Voucher => "voucher_applied",
                };
                return see_other(&format!(
                    "{}#codes",
                    pay_url(&token, lang, &[("notice", notice)])
                ));
            }
            Err(e) => match e.code {
                "code_not_applicable" => t.err_code_refused,
                "too_many_attempts" => t.err_code_too_many,
                code => error_text(t, code),
            },
        }
    };
    let order = state.store.get_order(order.id).await.unwrap_or(order);
    if !payable(&order, now) {
        return see_other(&result_url(&token, lang));
    }
    let shown = Shown {
        code_value: code,
        code_error: error,
        ..Shown::default()
    };
    render(
        &state,
        &order,
        &token,
        lang,
        shown,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn remove_code(
    State(state): State<AppState>,
    PayForm {
        token,
        order,
        lang,
        form,
    }: PayForm,
) -> Response {
    let code = match (field(&form, "code"), field(&form, "voucher")) {
        (Some(code), _) => Some(code.to_owned()),
        (None, Some(leg)) => {
            // A voucher is shown masked; its leg says which one.
            let leg = Uuid::parse_str(leg).ok().and_then(|id| {
                order
                    .legs
                    .iter()
                    .find(|l| l.id == id && l.kind == LegKind::Voucher)
            });
            match leg {
                Some(l) => state
                    .store
                    .get_voucher(l.source_id)
                    .await
                    .ok()
                    .map(|v| v.code),
                None => None,
            }
        }
        (None, None) => None,
    };
    let result = match code {
        Some(code) => checkout::remove_code(&state, order.id, &code, OffsetDateTime::now_utc())
            .await
            .map(|_| ()),
        None => Err(ApiError::not_found("code")),
    };
    match result {
        Ok(()) => see_other(&format!(
            "{}#codes",
            pay_url(&token, lang, &[("notice", "code_removed")])
        )),
        Err(e) => see_other(&pay_url(&token, lang, &[("error", e.code)])),
    }
}

async fn set_credit(
    State(state): State<AppState>,
    PayForm {
        token,
        order,
        lang,
        form,
    }: PayForm,
) -> Response {
    let t = lang.texts();
    let raw = field(&form, "amount")
        .unwrap_or("")
        .trim()
        .replace(',', ".");
    let amount = Money::parse_amount(&raw, order.currency)
        .ok()
        .filter(|m| m.amount_minor() >= 0);
    let now = OffsetDateTime::now_utc();
    let error = match amount {
        None => t.err_credit_amount,
        Some(amount) => match checkout::set_credit(&state, order.id, amount, now).await {
            Ok(_) => {
                let notice = if amount.amount_minor() == 0 {
                    "credit_removed"
                } else {
                    "credit_set"
                };
                return see_other(&format!(
                    "{}#credit",
                    pay_url(&token, lang, &[("notice", notice)])
                ));
            }
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => t.err_credit_amount,
            Err(e) if e.code == "payment_in_progress" => t.err_in_progress,
            Err(_) => t.err_credit_refused,
        },
    };
    let order = state.store.get_order(order.id).await.unwrap_or(order);
    if !payable(&order, now) {
        return see_other(&result_url(&token, lang));
    }
    let shown = Shown {
        credit_error: error,
        ..Shown::default()
    };
    render(
        &state,
        &order,
        &token,
        lang,
        shown,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn pay(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PayForm {
        token,
        order,
        lang,
        form,
    }: PayForm,
) -> Response {
    let means = field(&form, "means").unwrap_or("");
    let saved_card = field(&form, "saved_card").and_then(|s| Uuid::parse_str(s).ok());
    let key = match (means, saved_card) {
        ("saved_card", Some(id)) => format!("saved-{id}"),
        ("card", _) => "hosted".to_owned(),
        ("deferred_account", _) => "deferred".to_owned(),
        _ => String::new(),
    };
    if field(&form, "accept_terms") != Some("true") {
        let shown = Shown {
            page_error: lang.texts().err_terms,
            terms_error: lang.texts().err_terms,
            means: Some(key),
            ..Shown::default()
        };
        return render(
            &state,
            &order,
            &token,
            lang,
            shown,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let now = OffsetDateTime::now_utc();
    let plan = field(&form, "installment_plan").and_then(|s| Uuid::parse_str(s).ok());
    let result = match means {
        "saved_card" | "card" => {
            let req = CardRequest {
                alias_return: None,
                browser: browser_of(&headers, &form),
                client_ip: ip,
                saved_card: if means == "saved_card" {
                    saved_card
                } else {
                    None
                },
                installment_plan: plan,
            };
            if means == "saved_card" && saved_card.is_none() {
                Err(ApiError::not_found("saved card"))
            } else {
                cards::pay_by_card(&state, &order, req, now).await
            }
        }
        "deferred_account" | "none" => {
            let remainder = if means == "none" {
                Remainder::Nothing
            } else {
                Remainder::DeferredAccount
            };
            checkout::pay(&state, order.id, remainder, now)
                .await
                .map(PayResult::Paid)
        }
        _ => Err(ApiError::bad_request("unknown means")),
    };
    after_payment(&token, lang, &key, result)
}

/// Where the buyer goes once a payment was tried.
fn after_payment(
    token: &str,
    lang: Lang,
    means_key: &str,
    result: Result<PayResult, ApiError>,
) -> Response {
    let back = |code: &str| {
        let mut extra = vec![("error", code)];
        if !means_key.is_empty() {
            extra.push(("means", means_key));
        }
        see_other(&format!("{}#pay", pay_url(token, lang, &extra)))
    };
    match result {
        Ok(PayResult::Paid(_) | PayResult::Pending(_)) => see_other(&result_url(token, lang)),
        Ok(PayResult::RequiresAction {
            action: Action::Html(html),
            ..
        }) => super::provider_page(html),
        Ok(PayResult::RequiresAction {
            action: Action::FormPost { url, fields },
            ..
        }) => {
            let origins: Vec<String> = super::origin_of(&url).into_iter().collect();
            respond(
                StatusCode::OK,
                &page_csp(&origins),
                AutopostPage {
                    page: Chrome::new(lang, "Guichet", ""),
                    url,
                    fields,
                },
            )
        }
        Ok(PayResult::Declined { .. }) => back("declined"),
        Err(e) => match e.code {
            "payment_in_progress" | "order_closed" | "order_expired" => {
                see_other(&result_url(token, lang))
            }
            code => {
                tracing::info!(code, "payment not made");
                back(code)
            }
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "autopost.html")]
pub struct AutopostPage {
    pub page: Chrome,
    pub url: String,
    pub fields: Vec<(String, String)>,
}

async fn cancel(
    State(state): State<AppState>,
    PayForm {
        token, order, lang, ..
    }: PayForm,
) -> Response {
    match checkout::close(
        &state,
        order.id,
        OrderStatus::Cancelled,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(_) => see_other(&result_url(&token, lang)),
        Err(e) => see_other(&format!(
            "{}#pay",
            pay_url(&token, lang, &[("error", e.code)])
        )),
    }
}

// ---- back from the provider's card form ----------------------------------------------------

/// Which of the page's means a provider return is about: a saved card's CVV form (`ORDERID`
/// `C…`, the alias names the card) or the new card form.
async fn means_of_return(
    state: &AppState,
    order: &Order,
    params: &[(String, String)],
) -> (String, Option<Uuid>) {
    let order_id = provider_field(params, "ORDERID");
    if order_id == cards::cvc_form_order_id(order.id)
        && let Some(contact) = order.contact_id
    {
        let alias = provider_field(params, "ALIAS");
        if let Ok(cards) = state.store.saved_cards_of_contact(contact).await
            && let Some(card) = cards.iter().find(|c| c.alias == alias)
        {
            return (format!("saved-{}", card.id), Some(card.id));
        }
    }
    ("new".to_owned(), None)
}

#[derive(Template, WebTemplate)]
#[template(path = "card_return.html")]
pub struct CardReturnPage {
    pub page: Chrome,
    pub token: String,
    pub lang_q: String,
    pub csrf: String,
    pub order_id: String,
    pub logo: String,
    pub brand: String,
    pub masked: String,
    pub holder: String,
    pub expiry: String,
    pub amount_due: String,
    pub pay_label: String,
    pub alias_return: String,
    pub plans: Vec<PlanView>,
}

async fn card_return(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.unwrap_or_default();
    let params = pairs(raw.as_bytes());
    let order = match load(&state, &token, None).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let lang = Lang::pick(None, &order.language);
    if !payable(&order, OffsetDateTime::now_utc()) {
        return see_other(&result_url(&token, lang));
    }
    let status = provider_field(&params, "STATUS");
    if status != "0" && status != "2" {
        // The provider refused the card data: back to the form, the fields in error marked.
        let (key, _) = means_of_return(&state, &order, &params).await;
        let bad: Vec<&str> = [
            ("NCERRORCN", "holder"),
            ("NCERRORCARDNO", "number"),
            ("NCERRORED", "expiry"),
            ("NCERRORCVC", "cvc"),
        ]
        .into_iter()
        .filter(|(name, _)| !matches!(provider_field(&params, name), "" | "0"))
        .map(|(_, f)| f)
        .collect();
        let fields = bad.join(",");
        let mut extra = vec![("error", "card_refused"), ("means", key.as_str())];
        if !fields.is_empty() {
            extra.push(("card_error", fields.as_str()));
        }
        return see_other(&format!("{}#pay", pay_url(&token, lang, &extra)));
    }
    confirm_page(&state, &order, &token, lang, &raw, StatusCode::OK).await
}

/// The confirmation after the card form: the card, the amount, the plan, the terms.
async fn confirm_page(
    state: &AppState,
    order: &Order,
    token: &str,
    lang: Lang,
    raw: &str,
    status: StatusCode,
) -> Response {
    let t = lang.texts();
    let params = pairs(raw.as_bytes());
    let order_id = provider_field(&params, "ORDERID");
    // Plans need a kept card: the saving form's return or a saved card's CVV.
    let keeps = order_id == cards::save_form_order_id(order.id)
        || order_id == cards::cvc_form_order_id(order.id);
    let summary = match checkout_api::summary(state, order, token).await {
        Ok(s) => s,
        Err(e) => return failure(lang, &e),
    };
    let plans = if keeps {
        plan_views(&summary.means.installment_plans, order, lang)
    } else {
        Vec::new()
    };
    let brand = provider_field(&params, "BRAND").to_owned();
    let ed = provider_field(&params, "ED");
    let expiry = match crate::account::expiry_parts(ed) {
        Some((m, y)) => format!("{m:02}/{y}"),
        None => String::new(),
    };
    let site = state
        .store
        .get_institution(order.institution_id)
        .await
        .map_or_else(|_| "Guichet".to_owned(), |i| i.name);
    let amount_due = money(summary.order.amount_due_minor, order);
    let page = CardReturnPage {
        page: Chrome::new(lang, site, ""),
        token: token.to_owned(),
        lang_q: format!("?lang={}", lang.code()),
        csrf: csrf::issue(token, PURPOSE, OffsetDateTime::now_utc()),
        order_id: order.id.to_string(),
        logo: super::assets::assets().logo(&brand).url.clone(),
        masked: crate::account::masked_for_display(provider_field(&params, "CARDNO")),
        holder: provider_field(&params, "CN").to_owned(),
        expiry,
        brand,
        pay_label: format!("{} {amount_due}", t.pay),
        amount_due,
        alias_return: raw.to_owned(),
        plans,
    };
    respond(status, &page_csp(&[]), page)
}

async fn card_return_pay(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PayForm {
        token,
        order,
        lang,
        form,
    }: PayForm,
) -> Response {
    let raw = field(&form, "card_alias_return").unwrap_or("").to_owned();
    if field(&form, "accept_terms") != Some("true") {
        return confirm_page(
            &state,
            &order,
            &token,
            lang,
            &raw,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let params = pairs(raw.as_bytes());
    let (key, saved_card) = means_of_return(&state, &order, &params).await;
    let req = CardRequest {
        alias_return: Some(raw),
        browser: browser_of(&headers, &form),
        client_ip: ip,
        saved_card,
        installment_plan: field(&form, "installment_plan").and_then(|s| Uuid::parse_str(s).ok()),
    };
    let result = cards::pay_by_card(&state, &order, req, OffsetDateTime::now_utc()).await;
    after_payment(&token, lang, &key, result)
}

// ---- results --------------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "pay_result.html")]
pub struct ResultPage {
    pub page: Chrome,
    pub title: &'static str,
    pub message: &'static str,
    pub ok: bool,
    pub refresh: bool,
    pub paid_lines: Vec<LineView>,
    pub schedule: Vec<ScheduleView>,
    pub retry_href: String,
    pub retry_js: bool,
    pub back_href: String,
}

async fn result(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = pairs(q.unwrap_or_default().as_bytes());
    let order = match load(&state, &token, field(&query, "lang")).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let lang = Lang::pick(field(&query, "lang"), &order.language);
    result_page(&state, &order, lang, Some(&token), false).await
}

/// How an order ended (or stands): paid, being confirmed, refused, cancelled, expired. With
/// the checkout token, an order still payable offers the payment page again.
pub async fn result_page(
    state: &AppState,
    order: &Order,
    lang: Lang,
    token: Option<&str>,
    refused: bool,
) -> Response {
    let t = lang.texts();
    let now = OffsetDateTime::now_utc();
    let in_flight = if order.status == OrderStatus::AwaitingPayment {
        state
            .store
            .card_payments_of_order(order.id)
            .await
            .map(|ps| ps.iter().any(|p| p.status.is_open()))
            .unwrap_or(false)
    } else {
        false
    };
    let (title, message, ok, refresh) = match order.status {
        OrderStatus::Paid => (t.paid_title, t.paid_message, true, false),
        OrderStatus::Cancelled => (t.cancelled_title, t.cancelled_message, false, false),
        OrderStatus::Expired => (t.expired_title, t.expired_message, false, false),
        OrderStatus::AwaitingPayment if in_flight => {
            (t.pending_title, t.pending_message, false, true)
        }
        OrderStatus::AwaitingPayment if order.hold_expires_at <= now => {
            (t.expired_title, t.expired_message, false, false)
        }
        OrderStatus::AwaitingPayment => match token {
            // Nothing happened yet: the payment page.
            Some(token) if !refused => return see_other(&pay_url(token, lang, &[])),
            _ => (t.declined_title, t.declined_message, false, false),
        },
    };
    let still_payable =
        order.status == OrderStatus::AwaitingPayment && !in_flight && order.hold_expires_at > now;
    let mut paid_lines = Vec::new();
    let mut schedule = Vec::new();
    if order.status == OrderStatus::Paid {
        paid_lines = paid_lines_of(state, order, lang).await;
        if order.legs.iter().any(|l| l.kind == LegKind::Installments)
            && let Ok(rows) = state.store.installments_of_order(order.id).await
        {
            schedule = rows
                .iter()
                .map(|r| ScheduleView {
                    when: lang.date(r.due_on),
                    amount: r.amount.to_string(),
                })
                .collect();
        }
    }
    let back = match order.status {
        OrderStatus::Cancelled | OrderStatus::Expired => {
            shop_link(order.cancel_url.as_deref().or(order.return_url.as_deref()))
        }
        _ => shop_link(order.return_url.as_deref()),
    };
    let site = state
        .store
        .get_institution(order.institution_id)
        .await
        .map_or_else(|_| "Guichet".to_owned(), |i| i.name);
    let path = token.map_or_else(String::new, |t| format!("/pay/{t}/result"));
    let page = ResultPage {
        page: Chrome::new(lang, site, &path),
        title,
        message,
        ok,
        refresh,
        paid_lines,
        schedule,
        retry_href: match token {
            Some(token) if still_payable => pay_url(token, lang, &[]),
            _ => String::new(),
        },
        retry_js: still_payable && token.is_none(),
        back_href: back,
    };
    respond(StatusCode::OK, &page_csp(&[]), page)
}

/// What paid the order: codes, vouchers, credit, deferred account, card, installments.
async fn paid_lines_of(state: &AppState, order: &Order, lang: Lang) -> Vec<LineView> {
    let t = lang.texts();
    let mut out = vec![LineView {
        label: t.total.to_owned(),
        when: String::new(),
        qty: String::new(),
        amount: order.total.to_string(),
    }];
    if let Ok(figs) = checkout::figures(order) {
        for p in order
            .promos
            .iter()
            .filter(|p| p.status != HoldStatus::Released)
        {
            if let Some((_, amount)) = figs.discounts.iter().find(|(id, _)| *id == p.id) {
                out.push(LineView {
                    label: p.label.clone(),
                    when: String::new(),
                    qty: String::new(),
                    amount: format!("-{amount}"),
                });
            }
        }
    }
    let payments = state
        .store
        .card_payments_of_order(order.id)
        .await
        .unwrap_or_default();
    for leg in order
        .legs
        .iter()
        .filter(|l| l.status == HoldStatus::Committed)
    {
        let (label, when) = match leg.kind {
            LegKind::Voucher => {
                let code = state
                    .store
                    .get_voucher(leg.source_id)
                    .await
                    .map(|v| crate::admin::catalogue::masked_code(&v.code))
                    .unwrap_or_default();
                (format!("{} {code}", t.voucher), String::new())
            }
            LegKind::CreditBalance => (t.paid_credit.to_owned(), String::new()),
            LegKind::DeferredAccount => (t.paid_deferred.to_owned(), String::new()),
            LegKind::Installments => (t.paid_installments.to_owned(), String::new()),
            LegKind::Card => {
                let card = payments
                    .iter()
                    .find(|p| p.leg_id == leg.id && p.status == CardPaymentStatus::Captured);
                let detail = card
                    .map(|p| {
                        format!(
                            "{} {}",
                            p.card.brand.clone().unwrap_or_default(),
                            p.card
                                .masked_pan
                                .as_deref()
                                .map(crate::account::masked_for_display)
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                (t.paid_card.to_owned(), detail)
            }
        };
        out.push(LineView {
            label,
            when,
            qty: String::new(),
            amount: leg.amount.to_string(),
        });
    }
    out
}

/// The page after a provider's answer through the browser (3-D Secure return, Sips return).
pub async fn provider_result(state: &AppState, order: &Order) -> Response {
    let lang = Lang::pick(None, &order.language);
    result_page(state, order, lang, None, true).await
}

//! The day's payments by means of payment (SPEC F13, issue 6): what the orders paid on one day
//! were settled with — card, gift voucher, promo code, credit balance, deferred account, the
//! part still due in installments — as amounts and order counts, drawn as a server-rendered
//! SVG bar chart (`role="img"`, a title and a description) with the same figures in a table
//! next to it, and the last seven days' totals as a small trend.
//!
//! The figures come from the store's [`payments_by_means`](guichet_store::Store::payments_by_means):
//! the committed payment legs of the orders paid that day, and for promo codes the discount
//! part of each order's commit. The day is the institution's local day: institutions keep no
//! time zone of their own yet, and all are in metropolitan France, so the day runs from
//! midnight to midnight Europe/Paris time (see [`paris_offset`]). `?date=YYYY-MM-DD` picks the
//! day (default today), `?institution=<id>` one institution (default all).

use super::{Choice, Ctx, field, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Chrome;
use crate::pages::i18n::Lang;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use guichet_domain::{Currency, Money};
use guichet_store::MeansTotal;
use std::collections::BTreeMap;
use time::macros::format_description;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/dashboard", get(dashboard_page))
}

// ---- the institution's local time ------------------------------------------------------------

/// The last Sunday of a 31-day month.
fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let last = Date::from_calendar_date(year, month, 31).ok()?;
    Some(last - Duration::days(i64::from(last.weekday().number_days_from_sunday())))
}

/// Europe/Paris's offset at an instant: UTC+2 from the last Sunday of March to the last Sunday
/// of October, both at 01:00 UTC (the European Union's rule since 1996), UTC+1 otherwise.
pub(super) fn paris_offset(at: OffsetDateTime) -> UtcOffset {
    let winter = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
    let summer = UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC);
    let utc = at.to_offset(UtcOffset::UTC);
    let (Some(start), Some(end)) = (
        last_sunday(utc.year(), Month::March),
        last_sunday(utc.year(), Month::October),
    ) else {
        return winter;
    };
    let one_am = |d: Date| {
        PrimitiveDateTime::new(
            d,
            time::Time::from_hms(1, 0, 0).unwrap_or(time::Time::MIDNIGHT),
        )
        .assume_utc()
    };
    if utc >= one_am(start) && utc < one_am(end) {
        summer
    } else {
        winter
    }
}

/// An instant as the institution's clock shows it.
pub(super) fn to_local(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(paris_offset(at))
}

/// A time on the institution's clock as an instant (UTC). In the hour the clocks go back, the
/// first of the two; in the hour they skip, an hour later.
pub(super) fn local_to_utc(local: PrimitiveDateTime) -> OffsetDateTime {
    let guess = local.assume_offset(paris_offset(local.assume_utc()));
    local
        .assume_offset(paris_offset(guess))
        .to_offset(UtcOffset::UTC)
}

/// The institution's day `date`, as the instants `[start, end)`.
pub(super) fn day_bounds(date: Date) -> (OffsetDateTime, OffsetDateTime) {
    let next = date.next_day().unwrap_or(date);
    (local_to_utc(date.midnight()), local_to_utc(next.midnight()))
}

/// Today on the institution's clock.
pub(super) fn today() -> Date {
    to_local(OffsetDateTime::now_utc()).date()
}

/// `YYYY-MM-DD`.
pub(super) fn parse_date(raw: &str) -> Option<Date> {
    Date::parse(raw.trim(), format_description!("[year]-[month]-[day]")).ok()
}

pub(super) fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

// ---- the page ------------------------------------------------------------------------------

/// The means in the order the chart shows them, with their label and colour.
const MEANS: &[(&str, &str, &str, &str)] = &[
    ("card", "Carte bancaire", "Card", "#2f6fde"),
    ("voucher", "Bon d'achat", "Voucher", "#8e44ad"),
    ("promo", "Code promo", "Promo code", "#e67e22"),
    ("credit_balance", "Avoir", "Credit balance", "#16a085"),
    (
        "deferred_account",
        "Compte d'attente",
        "Deferred account",
        "#c0392b",
    ),
    (
        "installments",
        "Échéances à venir",
        "Installments still due",
        "#7f8c8d",
    ),
];

fn means_rank(means: &str) -> usize {
    MEANS
        .iter()
        .position(|m| m.0 == means)
        .unwrap_or(MEANS.len())
}

fn means_label(lang: Lang, means: &str) -> String {
    MEANS
        .iter()
        .find(|m| m.0 == means)
        .map(|m| lang.tr(m.1, m.2).to_owned())
        .unwrap_or_else(|| means.replace('_', " "))
}

fn means_colour(means: &str) -> &'static str {
    MEANS
        .iter()
        .find(|m| m.0 == means)
        .map(|m| m.3)
        .unwrap_or("#555555")
}

/// Chart geometry (SVG user units): bars stand on `BASELINE`, the tallest is `BAR_MAX` high.
const WIDTH: i64 = 720;
const BASELINE: i64 = 230;
const BAR_MAX: i64 = 200;
const TREND_HEIGHT: i64 = 60;

/// `centi / 100` with two decimals: `20000` → `200.00`.
fn centi(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// `amount / max` of `full` (in hundredths), rounded half up; exact integer arithmetic.
fn scaled(amount: i64, max: i64, full: i64) -> i64 {
    if max <= 0 || amount <= 0 {
        return 0;
    }
    let num = i128::from(amount) * i128::from(full) * 100 * 2 + i128::from(max);
    i64::try_from(num / (2 * i128::from(max))).unwrap_or(0)
}

pub struct MeansRow {
    pub means: &'static str,
    pub label: String,
    pub currency: &'static str,
    pub amount: String,
    pub amount_minor: i64,
    pub orders: i64,
}

pub struct Bar {
    pub means: &'static str,
    pub label: String,
    pub amount: String,
    pub orders: i64,
    pub colour: &'static str,
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub centre: String,
    pub amount_y: String,
}

pub struct Chart {
    pub currency: &'static str,
    pub title: String,
    pub description: String,
    pub bars: Vec<Bar>,
}

pub struct TrendDay {
    pub date: String,
    pub label: String,
    pub total: String,
    pub is_day: bool,
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_dashboard.html")]
pub struct DashboardPage {
    pub page: Chrome,
    pub csrf: String,
    pub user: String,
    pub date: String,
    pub date_label: String,
    pub date_error: String,
    pub previous: String,
    pub next: String,
    pub institution: String,
    pub institutions: Vec<Choice>,
    pub rows: Vec<MeansRow>,
    pub charts: Vec<Chart>,
    pub day_total: String,
    pub trend: Vec<TrendDay>,
    pub trend_title: String,
}

async fn dashboard_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    match render(&state, &ctx).await {
        Ok(resp) => resp,
        Err(e) => ctx.failure(e),
    }
}

/// The day's totals per currency (all means but promo codes, which are discounts).
fn totals(rows: &[MeansTotal]) -> BTreeMap<&'static str, Money> {
    let mut out: BTreeMap<&'static str, Money> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.means != "promo") {
        let code = r.amount.currency().code();
        let sum = out
            .get(code)
            .copied()
            .unwrap_or_else(|| Money::zero(r.amount.currency()));
        out.insert(code, sum.checked_add(r.amount).unwrap_or(sum));
    }
    out
}

fn joined(totals: &BTreeMap<&'static str, Money>, empty: &str) -> String {
    if totals.is_empty() {
        return empty.to_owned();
    }
    totals
        .values()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" · ")
}

async fn render(state: &AppState, ctx: &Ctx) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let store = &state.store;
    let institutions = store.list_institutions().await?;
    let institution = field(&ctx.query, "institution")
        .and_then(|v| v.parse::<Uuid>().ok())
        .filter(|id| institutions.iter().any(|i| i.id == *id));
    let raw_date = field(&ctx.query, "date").unwrap_or("").trim().to_owned();
    let (date, date_error) = if raw_date.is_empty() {
        (Some(today()), String::new())
    } else {
        match parse_date(&raw_date) {
            Some(d) => (Some(d), String::new()),
            None => (
                None,
                lang.tr(
                    "Date invalide : attendu AAAA-MM-JJ, par exemple 2026-12-24.",
                    "Invalid date: expected YYYY-MM-DD, for example 2026-12-24.",
                )
                .to_owned(),
            ),
        }
    };
    let choices = std::iter::once(Choice {
        value: String::new(),
        label: lang
            .tr("Tous les établissements", "All institutions")
            .to_owned(),
    })
    .chain(institutions.iter().map(|i| Choice {
        value: i.id.to_string(),
        label: i.name.clone(),
    }))
    .collect();
    let mut body = DashboardPage {
        page: ctx.chrome("dashboard"),
        csrf: ctx.csrf(),
        user: ctx.user(),
        date: raw_date.clone(),
        date_label: String::new(),
        date_error,
        previous: String::new(),
        next: String::new(),
        institution: institution.map(|i| i.to_string()).unwrap_or_default(),
        institutions: choices,
        rows: Vec::new(),
        charts: Vec::new(),
        day_total: String::new(),
        trend: Vec::new(),
        trend_title: String::new(),
    };
    let Some(date) = date else {
        return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, body));
    };
    body.date = iso_date(date);
    body.date_label = lang.date(date);
    let link = |d: Option<Date>| {
        d.map(|d| {
            let mut href = format!("/admin/dashboard?date={}", iso_date(d));
            if let Some(i) = institution {
                href.push_str(&format!("&institution={i}"));
            }
            href
        })
        .unwrap_or_default()
    };
    body.previous = link(date.previous_day());
    body.next = link(date.next_day());

    // The seven days ending with the chosen one (the last is the day itself).
    let mut days = Vec::new();
    for back in (0..7).rev() {
        let d = date - Duration::days(back);
        let (from, to) = day_bounds(d);
        days.push((d, store.payments_by_means(institution, from, to).await?));
    }
    let mut rows: Vec<MeansTotal> = days.last().map(|(_, r)| r.clone()).unwrap_or_default();
    rows.sort_by(|a, b| {
        (a.amount.currency().code(), means_rank(&a.means))
            .cmp(&(b.amount.currency().code(), means_rank(&b.means)))
    });
    body.day_total = joined(&totals(&rows), &Money::zero(Currency::EUR).to_string());
    body.rows = rows
        .iter()
        .map(|r| MeansRow {
            means: static_means(&r.means),
            label: means_label(lang, &r.means),
            currency: r.amount.currency().code(),
            amount: r.amount.to_string(),
            amount_minor: r.amount.amount_minor(),
            orders: r.orders,
        })
        .collect();
    body.charts = charts(lang, &body.date_label, &rows);

    // The trend, in the day's first currency (or the first seen that week).
    let trend_currency = rows
        .first()
        .map(|r| r.amount.currency())
        .or_else(|| {
            days.iter()
                .flat_map(|(_, r)| r.iter())
                .map(|r| r.amount.currency())
                .next()
        })
        .unwrap_or(Currency::EUR);
    let trend_totals: Vec<(Date, BTreeMap<&'static str, Money>)> =
        days.iter().map(|(d, r)| (*d, totals(r))).collect();
    let in_currency = |t: &BTreeMap<&'static str, Money>| {
        t.get(trend_currency.code())
            .map(|m| m.amount_minor())
            .unwrap_or(0)
    };
    let max = trend_totals
        .iter()
        .map(|(_, t)| in_currency(t))
        .max()
        .unwrap_or(0);
    let slot = WIDTH / 7;
    body.trend = trend_totals
        .iter()
        .enumerate()
        .map(|(i, (d, t))| {
            let height = scaled(in_currency(t), max, TREND_HEIGHT);
            let x = i64::try_from(i).unwrap_or(0) * slot + slot / 6;
            TrendDay {
                date: iso_date(*d),
                label: lang.date(*d),
                total: joined(t, &Money::zero(trend_currency).to_string()),
                is_day: *d == date,
                x: x.to_string(),
                y: centi(TREND_HEIGHT * 100 - height),
                width: (slot * 2 / 3).to_string(),
                height: centi(height),
            }
        })
        .collect();
    body.trend_title = format!(
        "{} ({})",
        lang.tr(
            "Total des règlements sur sept jours",
            "Payments over seven days"
        ),
        trend_currency.code()
    );
    Ok(page(StatusCode::OK, body))
}

/// The means' own `'static` name (rows from the store own theirs).
fn static_means(means: &str) -> &'static str {
    MEANS
        .iter()
        .find(|m| m.0 == means)
        .map(|m| m.0)
        .unwrap_or("other")
}

/// One bar chart per currency of the day.
fn charts(lang: Lang, date_label: &str, rows: &[MeansTotal]) -> Vec<Chart> {
    let mut by_currency: BTreeMap<&'static str, Vec<&MeansTotal>> = BTreeMap::new();
    for r in rows {
        by_currency
            .entry(r.amount.currency().code())
            .or_default()
            .push(r);
    }
    by_currency
        .into_iter()
        .map(|(currency, rows)| {
            let max = rows
                .iter()
                .map(|r| r.amount.amount_minor())
                .max()
                .unwrap_or(0);
            let n = i64::try_from(rows.len()).unwrap_or(1).max(1);
            let slot = WIDTH / n;
            let width = (slot * 3 / 5).min(120);
            let orders_word = |n: i64| {
                if n == 1 {
                    lang.tr("commande", "order")
                } else {
                    lang.tr("commandes", "orders")
                }
            };
            let bars = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let height = scaled(r.amount.amount_minor(), max, BAR_MAX);
                    let left = i64::try_from(i).unwrap_or(0) * slot + (slot - width) / 2;
                    let top = BASELINE * 100 - height;
                    Bar {
                        means: static_means(&r.means),
                        label: means_label(lang, &r.means),
                        amount: r.amount.to_string(),
                        orders: r.orders,
                        colour: means_colour(&r.means),
                        x: left.to_string(),
                        y: centi(top),
                        width: width.to_string(),
                        height: centi(height),
                        centre: (left + width / 2).to_string(),
                        amount_y: centi((top - 600).max(1200)),
                    }
                })
                .collect::<Vec<_>>();
            let description = bars
                .iter()
                .map(|b| {
                    format!(
                        "{} : {} ({} {})",
                        b.label,
                        b.amount,
                        b.orders,
                        orders_word(b.orders)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ; ");
            Chart {
                currency,
                title: format!(
                    "{} {date_label} ({currency})",
                    lang.tr(
                        "Règlements par moyen de paiement du",
                        "Payments by means on"
                    )
                ),
                description,
                bars,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn paris_changes_its_clocks_on_the_last_sundays_of_march_and_october() {
        let winter = UtcOffset::from_hms(1, 0, 0).unwrap();
        let summer = UtcOffset::from_hms(2, 0, 0).unwrap();
        assert_eq!(paris_offset(datetime!(2026-03-29 00:59 UTC)), winter);
        assert_eq!(paris_offset(datetime!(2026-03-29 01:00 UTC)), summer);
        assert_eq!(paris_offset(datetime!(2026-10-25 00:59 UTC)), summer);
        assert_eq!(paris_offset(datetime!(2026-10-25 01:00 UTC)), winter);
        assert_eq!(paris_offset(datetime!(2027-03-28 01:00 UTC)), summer);
        assert_eq!(paris_offset(datetime!(2026-01-15 12:00 UTC)), winter);
    }

    #[test]
    fn a_local_day_runs_from_midnight_to_midnight_paris_time() {
        assert_eq!(
            day_bounds(date!(2026 - 07 - 14)),
            (
                datetime!(2026-07-13 22:00 UTC),
                datetime!(2026-07-14 22:00 UTC)
            )
        );
        assert_eq!(
            day_bounds(date!(2026 - 12 - 24)),
            (
                datetime!(2026-12-23 23:00 UTC),
                datetime!(2026-12-24 23:00 UTC)
            )
        );
        // The days the clocks change last 23 and 25 hours.
        let (a, b) = day_bounds(date!(2026 - 03 - 29));
        assert_eq!(
            (a, b - a),
            (datetime!(2026-03-28 23:00 UTC), Duration::hours(23))
        );
        let (a, b) = day_bounds(date!(2026 - 10 - 25));
        assert_eq!(
            (a, b - a),
            (datetime!(2026-10-24 22:00 UTC), Duration::hours(25))
        );
        assert_eq!(
            local_to_utc(datetime!(2026-06-01 00:00)),
            datetime!(2026-05-31 22:00 UTC)
        );
    }

    #[test]
    fn bars_are_scaled_exactly_and_rounded_half_up() {
        assert_eq!(scaled(5863, 5863, BAR_MAX), 20000);
        assert_eq!(scaled(167, 5863, BAR_MAX), 570); // 5.6967 → 5.70
        assert_eq!(scaled(0, 5863, BAR_MAX), 0);
        assert_eq!(scaled(1, 0, BAR_MAX), 0);
        assert_eq!(centi(570), "5.70");
        assert_eq!(centi(20000), "200.00");
    }

    #[test]
    fn dates_are_typed_as_iso() {
        assert_eq!(parse_date("2026-12-24"), Some(date!(2026 - 12 - 24)));
        assert_eq!(parse_date("2026-13-45"), None);
        assert_eq!(parse_date("24/12/2026"), None);
        assert_eq!(iso_date(date!(2026 - 01 - 05)), "2026-01-05");
    }
}

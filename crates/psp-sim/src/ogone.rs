//! Ogone: Alias Gateway, DirectLink (orderdirect, maintenancedirect, querydirect), the 3-D
//! Secure ACS page and post-sale feedback (docs/PROVIDERS.md, "Ogone").

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use guichet_domain::card::{CardBrand, CardExpiry, brand_of, check_card, luhn_valid};
use guichet_psp::ogone::signature::{sha_out, verify_sha_in};
use time::Date;

use crate::Simulator;
use crate::cards::{CardBehaviour, CardData, mask_last4, ogone_brand, parse_brand};
use crate::config::OgoneAccount;
use crate::pages::{self, AcsInfo};
use crate::reply::{Reply, enter, finish, http500};
use crate::state::{
    Challenge, FaultPath, LineKind, OgoneLine, OgoneOperation, OgoneTx, StoredAlias,
};
use crate::util::{
    Params, decimal_amount, display_amount, parse_form, parse_minor, random_hex, split_paramplus,
    trxdate, with_query, xml_escape,
};

/// The Alias Gateway fields covered by SHA-IN (ref §3.1, PROVIDERS.md).
const ALIAS_GATEWAY_SIGNED: &[&str] = &[
    "ACCEPTURL",
    "ALIAS",
    "ALIASPERSISTEDAFTERUSE",
    "BRAND",
    "EXCEPTIONURL",
    "LANGUAGE",
    "ORDERID",
    "PARAMPLUS",
    "PSPID",
];

// NCERROR codes (ref §1.6).
const NC_OK: &str = "0";
const NC_DECLINED: &str = "30051001";
const NC_INSUFFICIENT_FUNDS: &str = "30511001";
const NC_CARD_EXPIRED: &str = "30331001";
const NC_AUTHENTICATION_FAILED: &str = "40001134";
const NC_EXPIRY: &str = "50001005";
const NC_CARD_NUMBER: &str = "50001054";
const NC_CVC_FORMAT: &str = "50001066";
const NC_CVC_MISSING: &str = "50001090";
const NC_DATA: &str = "50001111";
const NC_DUPLICATE: &str = "50001113";
const NC_PSPID: &str = "50001118";
const NC_PASSWORD: &str = "50001119";
const NC_CURRENCY: &str = "50001120";
const NC_CAPTURE_OVERFLOW: &str = "50001126";
const NC_WRONG_STATUS: &str = "50001127";
const NC_REFUND_OVERFLOW: &str = "50001129";
const NC_UNKNOWN_ORDER: &str = "50001130";
const NC_SHA_MISMATCH: &str = "50001184";

const ACCEPTANCE_TEST: &str = "test123";
const TEXT_AUTHENTICATION_FAILED: &str = "Authentication failed. Please retry or cancel.";

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route("/ncol/test/alias_gateway.asp", post(alias_gateway))
        .route(
            "/ncol/test/alias_gateway_utf8.asp",
            post(alias_gateway_utf8),
        )
        .route(
            "/ncol/test/Alias_gateway_utf8.asp",
            post(alias_gateway_utf8),
        )
        .route("/ncol/test/orderdirect.asp", post(orderdirect))
        .route("/ncol/test/orderdirect_utf8.asp", post(orderdirect_utf8))
        .route("/ncol/test/maintenancedirect.asp", post(maintenancedirect))
        .route(
            "/ncol/test/maintenancedirect_utf8.asp",
            post(maintenancedirect_utf8),
        )
        .route("/ncol/test/aliasdirect.asp", post(aliasdirect))
        .route("/ncol/test/aliasdirect_utf8.asp", post(aliasdirect_utf8))
        .route("/ncol/test/querydirect.asp", post(querydirect))
        .route("/ncol/test/querydirect_utf8.asp", post(querydirect_utf8))
        .route("/ncol/test/acs.asp", get(acs_get).post(acs_post))
}

// ---------------------------------------------------------------------------------------------
// XML replies
// ---------------------------------------------------------------------------------------------

/// An `<ncresponse>` under construction: attributes in order, optional `HTML_ANSWER`.
struct Nc {
    attrs: Vec<(&'static str, String)>,
    html_answer: Option<String>,
}

fn ncstatus(ncerror: &str) -> String {
    match ncerror.chars().next() {
        Some(c) if ncerror != NC_OK => c.to_string(),
        _ => "0".to_owned(),
    }
}

impl Nc {
    fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\"?><ncresponse");
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            out.push_str(&xml_escape(value));
            out.push('"');
        }
        out.push('>');
        if let Some(b64) = &self.html_answer {
            // Base64 and line breaks only: nothing to escape, and the line breaks stay raw
            // as in Ogone's replies.
            out.push_str("<HTML_ANSWER>");
            out.push_str(b64);
            out.push_str("</HTML_ANSWER>");
        }
        out.push_str("</ncresponse>");
        out
    }

    /// STATUS 0 (nothing done) with `ncerror`, echoing what the request gave.
    fn error(params: &Params, payid: &str, ncerror: &str, plus: &str) -> Nc {
        let amount = parse_minor(params.text("AMOUNT"))
            .map(decimal_amount)
            .unwrap_or_default();
        Nc {
            attrs: vec![
                ("orderID", params.text("ORDERID").to_owned()),
                ("PAYID", payid.to_owned()),
                ("NCSTATUS", ncstatus(ncerror)),
                ("NCERROR", ncerror.to_owned()),
                ("NCERRORPLUS", plus.to_owned()),
                ("ACCEPTANCE", String::new()),
                ("STATUS", "0".to_owned()),
                ("amount", amount),
                ("currency", params.text("CURRENCY").to_owned()),
                ("PM", String::new()),
                ("BRAND", String::new()),
                ("ALIAS", params.text("ALIAS").to_owned()),
            ],
            html_answer: None,
        }
    }

    /// A transaction as a whole.
    fn tx(tx: &OgoneTx) -> Nc {
        Nc {
            attrs: vec![
                ("orderID", tx.order_id.clone()),
                ("PAYID", tx.payid.to_string()),
                ("NCSTATUS", ncstatus(&tx.ncerror)),
                ("NCERROR", tx.ncerror.clone()),
                ("NCERRORPLUS", tx.ncerror_plus.clone()),
                ("ACCEPTANCE", tx.acceptance.clone()),
                ("STATUS", tx.status.to_string()),
                ("amount", decimal_amount(tx.amount_minor)),
                ("currency", tx.currency.clone()),
                ("PM", "CreditCard".to_owned()),
                ("BRAND", ogone_brand(tx.card.brand).to_owned()),
                ("CARDNO", tx.card.masked_ogone()),
                ("ED", tx.card.ed()),
                ("ECI", tx.eci.clone()),
                ("CVCCheck", tx.cvc_check.to_owned()),
                ("ALIAS", tx.alias.clone().unwrap_or_default()),
            ],
            html_answer: None,
        }
    }

    /// One history line (maintenance answer, or query with PAYIDSUB).
    fn line(tx: &OgoneTx, line: &OgoneLine) -> Nc {
        Nc {
            attrs: vec![
                ("orderID", tx.order_id.clone()),
                ("PAYID", tx.payid.to_string()),
                ("PAYIDSUB", line.payidsub.to_string()),
                ("NCSTATUS", "0".to_owned()),
                ("NCERROR", NC_OK.to_owned()),
                ("NCERRORPLUS", "!".to_owned()),
                ("ACCEPTANCE", tx.acceptance.clone()),
                ("STATUS", line.status.to_string()),
                ("amount", decimal_amount(line.amount_minor)),
                ("currency", tx.currency.clone()),
                ("PM", "CreditCard".to_owned()),
                ("BRAND", ogone_brand(tx.card.brand).to_owned()),
                ("CARDNO", tx.card.masked_ogone()),
                ("ED", tx.card.ed()),
                ("ECI", tx.eci.clone()),
                ("ALIAS", tx.alias.clone().unwrap_or_default()),
            ],
            html_answer: None,
        }
    }

    fn reply(self) -> Reply {
        Reply::Xml(self.to_xml())
    }
}

/// PSPID, SHA-IN, then USERID/PSWD: the checks every DirectLink request goes through.
fn authenticate(sim: &Simulator, params: &Params) -> Result<OgoneAccount, Nc> {
    let Some(account) = sim.config().ogone_account(params.text("PSPID")) else {
        return Err(Nc::error(params, "0", NC_PSPID, "unknown PSPID"));
    };
    let given = params.text("SHASIGN");
    if given.is_empty()
        || !verify_sha_in(&params.pairs(), &account.sha_in, account.algorithm, given)
    {
        return Err(Nc::error(params, "0", NC_SHA_MISMATCH, "SHA Mismatch"));
    }
    if params.text("USERID") != account.userid || params.text("PSWD") != account.pswd {
        return Err(Nc::error(
            params,
            "0",
            NC_PASSWORD,
            "password incorrect or disabled",
        ));
    }
    Ok(account.clone())
}

// ---------------------------------------------------------------------------------------------
// Card checks (domain rules), one NCERROR per field
// ---------------------------------------------------------------------------------------------

fn compact_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect()
}

/// Whether a CARDNO is the masked number sent back for an alias update (`XXXXXXXXXXXX1111`).
fn is_masked(raw: &str) -> bool {
    raw.chars().any(|c| matches!(c, 'X' | 'x' | '*' | '#'))
}

fn check_number(raw: &str) -> Result<(String, CardBrand), &'static str> {
    let digits = compact_number(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NC_CARD_NUMBER);
    }
    let brand = brand_of(&digits).ok_or(NC_CARD_NUMBER)?;
    if !brand.lengths().contains(&digits.len()) || !luhn_valid(&digits) {
        return Err(NC_CARD_NUMBER);
    }
    Ok((digits, brand))
}

fn check_expiry(raw: &str, today: Date) -> Result<CardExpiry, &'static str> {
    let expiry = CardExpiry::parse(raw).map_err(|_| NC_EXPIRY)?;
    if expiry.is_expired(today) {
        return Err(NC_EXPIRY);
    }
    Ok(expiry)
}

fn check_cvc(cvc: &str, brand: CardBrand) -> Result<(), &'static str> {
    if cvc.is_empty() {
        return Err(NC_CVC_MISSING);
    }
    if !cvc.bytes().all(|b| b.is_ascii_digit()) || cvc.len() != brand.cvv_len() {
        return Err(NC_CVC_FORMAT);
    }
    Ok(())
}

/// A masked CARDNO safe to send back: only for something that looks like a card number.
fn masked_echo(raw: &str) -> String {
    let digits = compact_number(raw);
    if (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        mask_last4(&digits, 'X')
    } else if is_masked(raw) {
        raw.to_owned()
    } else {
        String::new()
    }
}

/// Per-field errors of the Alias Gateway (`NCERRORCARDNO`, `NCERRORED`, `NCERRORCVC`,
/// `NCERRORCN`), and an `NCERROR` that is about no field (`50001130`: unknown alias).
#[derive(Default)]
struct FieldErrors {
    cardno: Option<&'static str>,
    ed: Option<&'static str>,
    cvc: Option<&'static str>,
    cn: Option<&'static str>,
    other: Option<&'static str>,
}

impl FieldErrors {
    fn first(&self) -> Option<&'static str> {
        self.other
            .or(self.cardno)
            .or(self.ed)
            .or(self.cvc)
            .or(self.cn)
    }
}

/// Whether a masked `CARDNO` (`XXXXXXXXXXXX1111`, `411111XXXXXX1111`) agrees with the stored
/// number: the digits it shows at either end are the card's.
fn masked_matches(raw: &str, number: &str) -> bool {
    let compact = compact_number(raw);
    let head: String = compact.chars().take_while(char::is_ascii_digit).collect();
    let tail_len = compact
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .count();
    let tail = &compact[compact.len() - tail_len..];
    number.starts_with(&head) && number.ends_with(tail)
}

/// Checks a new card typed in full. `Err` carries the per-field errors (and the brand when
/// the number itself was fine).
fn new_card(params: &Params, today: Date) -> Result<CardData, (FieldErrors, Option<CardBrand>)> {
    let mut errors = FieldErrors::default();
    let number = check_number(params.text("CARDNO"));
    let brand = number.as_ref().ok().map(|(_, b)| *b);
    if let Err(e) = &number {
        errors.cardno = Some(e);
    }
    if let (Some(brand), Some(wanted)) = (brand, parse_brand(params.text("BRAND")))
        && brand != wanted
    {
        errors.cardno = Some(NC_CARD_NUMBER);
    }
    let expiry = check_expiry(params.text("ED"), today);
    if let Err(e) = &expiry {
        errors.ed = Some(e);
    }
    let cvc = params.text("CVC");
    if let Some(brand) = brand
        && let Err(e) = check_cvc(cvc, brand)
    {
        errors.cvc = Some(e);
    }
    let holder = params.text("CN").trim().to_owned();
    if holder.is_empty() {
        errors.cn = Some(NC_DATA);
    }
    if errors.first().is_some() {
        return Err((errors, brand));
    }
    let (Ok((digits, brand)), Ok(expiry)) = (number, expiry) else {
        return Err((errors, brand));
    };
    // The domain's own gate (SPEC F7): the per-field checks above must agree with it.
    if check_card(&digits, expiry.month(), expiry.year(), cvc, today).is_err() {
        errors.cardno = Some(NC_CARD_NUMBER);
        return Err((errors, Some(brand)));
    }
    Ok(CardData::new(
        digits,
        expiry,
        Some(cvc.to_owned()),
        holder,
        brand,
    ))
}

fn generate_alias() -> String {
    let h = random_hex(16).to_ascii_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn wrong_key(key: &str) -> String {
    format!("{key}#not-the-key")
}

/// Signs `pairs` with SHA-OUT (or a wrong passphrase) and appends `SHASIGN`.
fn sign_out(pairs: &mut Vec<(String, String)>, account: &OgoneAccount, bad_signature: bool) {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let passphrase = if bad_signature {
        wrong_key(&account.sha_out)
    } else {
        account.sha_out.clone()
    };
    let sign = sha_out(&refs, &passphrase, account.algorithm);
    pairs.push(("SHASIGN".to_owned(), sign));
}

// ---------------------------------------------------------------------------------------------
// Alias Gateway
// ---------------------------------------------------------------------------------------------

async fn alias_gateway(State(sim): State<Simulator>, body: Bytes) -> Response {
    alias_gateway_common(sim, body, false).await
}

async fn alias_gateway_utf8(State(sim): State<Simulator>, body: Bytes) -> Response {
    alias_gateway_common(sim, body, true).await
}

async fn alias_gateway_common(sim: Simulator, body: Bytes, utf8: bool) -> Response {
    let after = match enter(&sim, FaultPath::AliasGateway).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, utf8);
    let reply = alias_gateway_reply(&sim, &params);
    finish(&sim, after, reply).await
}

fn gateway_error_page(ncerror: &str, text: &str) -> Reply {
    Reply::Html(
        StatusCode::BAD_REQUEST,
        pages::message_page(
            "Alias Gateway: request refused",
            &format!("NCERROR {ncerror}: {text}"),
        ),
    )
}

fn alias_gateway_reply(sim: &Simulator, params: &Params) -> Reply {
    let pspid = params.text("PSPID");
    let Some(account) = sim.config().ogone_account(pspid).cloned() else {
        return gateway_error_page(NC_PSPID, "PSPID not found or not correct");
    };
    let given = params.text("SHASIGN");
    let signed = params.pairs_named(ALIAS_GATEWAY_SIGNED);
    if given.is_empty() || !verify_sha_in(&signed, &account.sha_in, account.algorithm, given) {
        return gateway_error_page(NC_SHA_MISMATCH, "SHA Mismatch");
    }
    let accept_url = params.text("ACCEPTURL");
    let exception_url = params.text("EXCEPTIONURL");
    if accept_url.is_empty() || exception_url.is_empty() {
        return gateway_error_page(NC_DATA, "ACCEPTURL and EXCEPTIONURL are mandatory");
    }
    let now = sim.now();
    let today = now.date();
    let wanted_alias = params.text("ALIAS").trim().to_owned();
    let persisted = match params.text("ALIASPERSISTEDAFTERUSE") {
        "" => None,
        flag => Some(flag.eq_ignore_ascii_case("Y")),
    };

    let mut state = sim.state();
    let existing = if wanted_alias.is_empty() {
        None
    } else {
        state
            .alias(pspid, &wanted_alias, now)
            .map(|a| a.card.clone())
    };
    let raw_number = params.text("CARDNO");
    let cvc_given = !params.text("CVC").is_empty();

    // (card, STATUS) on success; (errors, brand) when the card data was refused.
    let outcome: Result<(CardData, &str, String), (FieldErrors, Option<CardBrand>)> = match existing
    {
        Some(old) => {
            let mut errors = FieldErrors::default();
            let mut card = old.clone();
            let mut changed = false;
            if is_masked(raw_number) && !masked_matches(raw_number, old.number()) {
                // The X-ed number of an update must be this card's.
                errors.cardno = Some(NC_CARD_NUMBER);
            } else if !raw_number.is_empty() && !is_masked(raw_number) {
                match check_number(raw_number) {
                    Ok((digits, brand)) if digits != old.number() => {
                        card = CardData::new(digits, card.expiry, None, card.holder, brand);
                        changed = true;
                    }
                    Ok(_) => {}
                    Err(e) => errors.cardno = Some(e),
                }
            }
            if let Some(wanted) = parse_brand(params.text("BRAND"))
                && wanted != card.brand
            {
                errors.cardno = Some(NC_CARD_NUMBER);
            }
            let raw_ed = params.text("ED");
            if raw_ed.is_empty() {
                if card.expiry.is_expired(today) {
                    errors.ed = Some(NC_EXPIRY);
                }
            } else {
                match check_expiry(raw_ed, today) {
                    Ok(expiry) if expiry != card.expiry => {
                        card.expiry = expiry;
                        changed = true;
                    }
                    Ok(_) => {}
                    Err(e) => errors.ed = Some(e),
                }
            }
            let holder = params.text("CN").trim();
            if !holder.is_empty() && holder != card.holder {
                card.holder = holder.to_owned();
                changed = true;
            }
            let cvc = params.text("CVC");
            if !cvc.is_empty() {
                match check_cvc(cvc, card.brand) {
                    Ok(()) => card.set_cvc(cvc.to_owned()),
                    Err(e) => errors.cvc = Some(e),
                }
            } else if changed && card.number() != old.number() {
                // A new number needs its own security code.
                errors.cvc = Some(NC_CVC_MISSING);
            }
            if errors.first().is_some() {
                Err((errors, Some(card.brand)))
            } else {
                Ok((card, if changed { "2" } else { "0" }, wanted_alias.clone()))
            }
        }
        // An existing alias named, no card number typed: the alias is unknown (never created,
        // deleted, or temporary and past its 2 hours).
        None if !wanted_alias.is_empty() && (raw_number.is_empty() || is_masked(raw_number)) => {
            Err((
                FieldErrors {
                    other: Some(NC_UNKNOWN_ORDER),
                    ..FieldErrors::default()
                },
                None,
            ))
        }
        None => new_card(params, today).map(|card| {
            let alias = if wanted_alias.is_empty() {
                generate_alias()
            } else {
                wanted_alias.clone()
            };
            (card, "0", alias)
        }),
    };

    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| out.push((k.to_owned(), v.to_owned()));
    let target = match &outcome {
        Ok((card, status, alias)) => {
            let entry = state
                .aliases
                .entry((pspid.to_owned(), alias.clone()))
                .or_insert_with(|| {
                    StoredAlias::new(pspid, alias, card.clone(), persisted.unwrap_or(false), now)
                });
            entry.card = card.clone();
            entry.updated = now;
            if cvc_given {
                // The CVC typed now waits for the next order on this alias.
                entry.cvc_typed = Some(now);
            }
            if let Some(p) = persisted {
                entry.persisted = p;
            }
            tracing::info!(
                pspid,
                alias = alias.as_str(),
                card = card.masked_pan().as_str(),
                status,
                "psp-sim: Ogone alias stored"
            );
            push("ORDERID", params.text("ORDERID"));
            push("ALIAS", alias);
            push("BRAND", ogone_brand(card.brand));
            push("CARDNO", &card.masked_ogone());
            push("CN", &card.holder);
            push("ED", &card.ed());
            push("STATUS", status);
            push("NCERROR", NC_OK);
            for name in ["NCERRORCARDNO", "NCERRORCN", "NCERRORCVC", "NCERRORED"] {
                push(name, NC_OK);
            }
            accept_url
        }
        Err((errors, brand)) => {
            tracing::info!(pspid, "psp-sim: Ogone alias refused (card data)");
            push("ORDERID", params.text("ORDERID"));
            push("ALIAS", &wanted_alias);
            push(
                "BRAND",
                &brand
                    .map(|b| ogone_brand(b).to_owned())
                    .unwrap_or_else(|| params.text("BRAND").to_owned()),
            );
            push("CARDNO", &masked_echo(params.text("CARDNO")));
            push("CN", params.text("CN"));
            let ed = params.text("ED");
            push(
                "ED",
                if ed.len() <= 7 && ed.chars().all(|c| c.is_ascii_digit() || c == '/') {
                    ed
                } else {
                    ""
                },
            );
            push("STATUS", "1");
            push("NCERROR", errors.first().unwrap_or(NC_DATA));
            push("NCERRORCARDNO", errors.cardno.unwrap_or(NC_OK));
            push("NCERRORCN", errors.cn.unwrap_or(NC_OK));
            push("NCERRORCVC", errors.cvc.unwrap_or(NC_OK));
            push("NCERRORED", errors.ed.unwrap_or(NC_OK));
            exception_url
        }
    };
    let bad = state.take_bad_signature(FaultPath::AliasGateway);
    drop(state);
    sign_out(&mut out, &account, bad);
    out.extend(split_paramplus(params.text("PARAMPLUS")));
    Reply::Redirect(with_query(target, &out))
}

// ---------------------------------------------------------------------------------------------
// orderdirect
// ---------------------------------------------------------------------------------------------

async fn orderdirect(State(sim): State<Simulator>, body: Bytes) -> Response {
    orderdirect_common(sim, body, false).await
}

async fn orderdirect_utf8(State(sim): State<Simulator>, body: Bytes) -> Response {
    orderdirect_common(sim, body, true).await
}

enum OrderOutcome {
    Reply(Nc, CardBehaviour),
    Http500,
}

async fn orderdirect_common(sim: Simulator, body: Bytes, utf8: bool) -> Response {
    let after = match enter(&sim, FaultPath::OrderDirect).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, utf8);
    match order(&sim, &params) {
        OrderOutcome::Http500 => http500(),
        OrderOutcome::Reply(nc, behaviour) => {
            finish(&sim, after.or_card(behaviour), nc.reply()).await
        }
    }
}

fn order(sim: &Simulator, params: &Params) -> OrderOutcome {
    let fail = |ncerror: &str, text: &str| {
        OrderOutcome::Reply(
            Nc::error(params, "0", ncerror, text),
            CardBehaviour::Approve,
        )
    };
    let account = match authenticate(sim, params) {
        Ok(account) => account,
        Err(nc) => return OrderOutcome::Reply(nc, CardBehaviour::Approve),
    };
    let order_id = params.text("ORDERID");
    if order_id.is_empty() {
        return fail(NC_DATA, "no orderid");
    }
    let Some(amount_minor) = parse_minor(params.text("AMOUNT")) else {
        return fail(NC_DATA, "invalid amount");
    };
    let currency = params.text("CURRENCY");
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return fail(NC_CURRENCY, "invalid currency");
    }
    let operation = match params.text("OPERATION").to_ascii_uppercase().as_str() {
        "" | "SAL" => OgoneOperation::Sal,
        "RES" => OgoneOperation::Res,
        _ => return fail(NC_DATA, "unsupported operation"),
    };
    let eci = match params.text("ECI") {
        "" => "7".to_owned(),
        eci => eci.to_owned(),
    };
    let flag3d = params.text("FLAG3D").eq_ignore_ascii_case("Y");
    let now = sim.now();
    let today = now.date();
    let alias_name = params.text("ALIAS").trim().to_owned();

    let mut state = sim.state();
    if state.ogone_by_order(&account.pspid, order_id).is_some() {
        return fail(NC_DUPLICATE, "This order has already been processed");
    }
    let cvc = params.text("CVC");
    let with_card_data = !params.text("CARDNO").is_empty();
    let (card, behaviour) = if with_card_data {
        // Card data sent directly (ref §1.2); the simulator accepts it like Ogone does.
        match new_card(params, today) {
            Ok(card) => {
                let behaviour = card.behaviour();
                (card.without_cvc(), behaviour)
            }
            Err((errors, _)) => {
                let code = errors.first().unwrap_or(NC_DATA);
                return fail(code, "card data refused");
            }
        }
    } else if !alias_name.is_empty() {
        match state.alias(&account.pspid, &alias_name, now) {
            Some(stored) => (stored.card.clone().without_cvc(), stored.behaviour()),
            None => return fail(NC_UNKNOWN_ORDER, "unknown alias"),
        }
    } else {
        return fail(NC_DATA, "no card data and no alias");
    };
    if !cvc.is_empty() && check_cvc(cvc, card.brand).is_err() {
        return fail(NC_CVC_FORMAT, "CVC format invalid");
    }
    if behaviour == CardBehaviour::Http500 {
        tracing::info!(card = card.masked_pan().as_str(), "psp-sim: HTTP 500 card");
        return OrderOutcome::Http500;
    }
    // From here on the order is recorded. A CVC typed again into the Alias Gateway for this
    // alias is used by this order, and only this one; a merchant-initiated order (ECI 9)
    // discards it unused.
    let fresh_cvc = if with_card_data {
        if !alias_name.is_empty() {
            state.aliases.insert(
                (account.pspid.clone(), alias_name.clone()),
                StoredAlias::new(&account.pspid, &alias_name, card.clone(), true, now),
            );
        }
        false
    } else {
        state
            .alias(&account.pspid, &alias_name, now)
            .and_then(|stored| stored.take_cvc(now))
            .is_some()
    };
    let cvc_used = with_card_data || !cvc.is_empty() || (fresh_cvc && eci != "9");

    let payid = state.next_payid();
    let seq = state.next_seq();
    let mut tx = OgoneTx {
        seq,
        payid,
        pspid: account.pspid.clone(),
        order_id: order_id.to_owned(),
        amount_minor,
        currency: currency.to_owned(),
        operation,
        status: 0,
        ncerror: NC_OK.to_owned(),
        ncerror_plus: "!".to_owned(),
        acceptance: String::new(),
        eci: eci.clone(),
        flag3d,
        challenge: Challenge::None,
        alias: (!alias_name.is_empty()).then(|| alias_name.clone()),
        card,
        captured_minor: 0,
        captures_closed: false,
        refunds_closed: false,
        lines: Vec::new(),
        accept_url: params.text("ACCEPTURL").to_owned(),
        decline_url: params.text("DECLINEURL").to_owned(),
        exception_url: params.text("EXCEPTIONURL").to_owned(),
        paramplus: params.text("PARAMPLUS").to_owned(),
        complus: params.text("COMPLUS").to_owned(),
        acs_token: String::new(),
        cvc_check: if cvc_used { "OK" } else { "NO" },
        created: now,
    };
    // 3-D Secure applies when asked for, and never to a merchant-initiated payment (ECI 9).
    let three_ds = flag3d && eci != "9";
    let mut html_answer = None;
    if tx.card.expiry.is_expired(today) {
        decline(&mut tx, NC_CARD_EXPIRED, "Card expired");
    } else {
        match behaviour {
            CardBehaviour::Decline => decline(&mut tx, NC_DECLINED, "Authorisation declined"),
            CardBehaviour::InsufficientFunds => {
                decline(&mut tx, NC_INSUFFICIENT_FUNDS, "Insufficient funds")
            }
            CardBehaviour::Challenge if three_ds => {
                tx.status = 46;
                tx.challenge = Challenge::Pending;
                tx.acs_token = random_hex(16);
                html_answer = Some(acs_redirect_html(sim, &tx));
            }
            CardBehaviour::AuthenticationFailed if three_ds => {
                tx.challenge = Challenge::Refused;
                decline(
                    &mut tx,
                    NC_AUTHENTICATION_FAILED,
                    TEXT_AUTHENTICATION_FAILED,
                );
            }
            CardBehaviour::Frictionless if three_ds => {
                tx.eci = "5".to_owned();
                approve(&mut tx);
            }
            _ => approve(&mut tx),
        }
    }
    tracing::info!(
        pspid = tx.pspid.as_str(),
        order_id = tx.order_id.as_str(),
        payid = tx.payid,
        status = tx.status,
        eci = tx.eci.as_str(),
        cvc_check = tx.cvc_check,
        card = tx.card.masked_pan().as_str(),
        "psp-sim: Ogone order"
    );
    let mut nc = Nc::tx(&tx);
    nc.html_answer = html_answer;
    state.ogone.insert(payid, tx);
    OrderOutcome::Reply(nc, behaviour)
}

fn approve(tx: &mut OgoneTx) {
    tx.ncerror = NC_OK.to_owned();
    tx.ncerror_plus = "!".to_owned();
    tx.acceptance = ACCEPTANCE_TEST.to_owned();
    match tx.operation {
        OgoneOperation::Sal => {
            tx.status = 9;
            tx.captured_minor = tx.amount_minor;
            tx.captures_closed = true;
        }
        OgoneOperation::Res => tx.status = 5,
    }
}

fn decline(tx: &mut OgoneTx, ncerror: &str, text: &str) {
    tx.status = 2;
    tx.ncerror = ncerror.to_owned();
    tx.ncerror_plus = text.to_owned();
    tx.acceptance = String::new();
}

/// `HTML_ANSWER`: base64 (with line breaks, as Ogone sends it) of a page that posts itself to
/// the ACS page.
fn acs_redirect_html(sim: &Simulator, tx: &OgoneTx) -> String {
    let payid = tx.payid.to_string();
    let html = pages::autopost_page(
        "3-D Secure",
        "downloadform3D",
        &sim.url("/ncol/test/acs.asp"),
        &[("PAYID", &payid), ("MD", &tx.acs_token)],
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(html.as_bytes());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------
// ACS page and 3-D Secure result
// ---------------------------------------------------------------------------------------------

async fn acs_get(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Response {
    let params = parse_form(query.unwrap_or_default().as_bytes(), true);
    acs(sim, params).await
}

async fn acs_post(State(sim): State<Simulator>, body: Bytes) -> Response {
    acs(sim, parse_form(&body, true)).await
}

async fn acs(sim: Simulator, params: Params) -> Response {
    let after = match enter(&sim, FaultPath::Acs).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let reply = acs_reply(&sim, &params);
    finish(&sim, after, reply).await
}

fn acs_reply(sim: &Simulator, params: &Params) -> Reply {
    let answer = crate::util::acs_decision(params);
    let token = params.text("MD");
    let payid: Option<u64> = params.text("PAYID").parse().ok();
    let mut state = sim.state();
    let Some(tx) = payid
        .and_then(|p| state.ogone.get_mut(&p))
        .filter(|t| !t.acs_token.is_empty() && t.acs_token == token)
    else {
        return Reply::Html(
            StatusCode::BAD_REQUEST,
            pages::message_page("3-D Secure", "Unknown or expired authentication session."),
        );
    };
    let first_answer = tx.challenge == Challenge::Pending;
    if first_answer {
        match answer.as_str() {
            "" => {
                let amount = display_amount(tx.amount_minor);
                let masked = tx.card.masked_ogone();
                let payid = tx.payid.to_string();
                let html = pages::acs_page(
                    &sim.url("/ncol/test/acs.asp"),
                    &[("PAYID", &payid), ("MD", &tx.acs_token)],
                    &AcsInfo {
                        merchant: &tx.pspid,
                        amount: &amount,
                        currency: &tx.currency,
                        masked_card: &masked,
                        brand: ogone_brand(tx.card.brand),
                    },
                );
                return Reply::Html(StatusCode::OK, html);
            }
            "approve" => {
                tx.challenge = Challenge::Approved;
                tx.eci = "5".to_owned();
                approve(tx);
            }
            "refuse" => {
                tx.challenge = Challenge::Refused;
                decline(tx, NC_AUTHENTICATION_FAILED, TEXT_AUTHENTICATION_FAILED);
            }
            _ => {
                return Reply::Html(
                    StatusCode::BAD_REQUEST,
                    pages::message_page("3-D Secure", "decision must be approve or refuse"),
                );
            }
        }
        tracing::info!(
            payid = tx.payid,
            status = tx.status,
            challenge = tx.challenge.as_str(),
            "psp-sim: Ogone 3-D Secure answered"
        );
    }
    let tx = tx.clone();
    let bad = first_answer && state.take_bad_signature(FaultPath::Acs);
    drop(state);
    let Some(account) = sim.config().ogone_account(&tx.pspid).cloned() else {
        return Reply::Html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message_page("3-D Secure", "merchant account gone"),
        );
    };
    let params = feedback_params(&tx, &account, bad);
    if first_answer && let Some(url) = sim.feedback_url(&tx.pspid) {
        sim.send_feedback(url, params.clone(), "ogone post-sale feedback");
    }
    let accepted = matches!(tx.status, 5 | 9);
    let target = [
        if accepted {
            &tx.accept_url
        } else {
            &tx.decline_url
        },
        &tx.exception_url,
    ]
    .into_iter()
    .find(|u| !u.is_empty())
    .cloned();
    match target {
        Some(url) => Reply::Redirect(with_query(&url, &params)),
        None => Reply::Html(
            StatusCode::OK,
            pages::message_page(
                "3-D Secure",
                if accepted {
                    "Authentication approved: payment accepted."
                } else {
                    "Authentication refused: payment declined."
                },
            ),
        ),
    }
}

/// The feedback parameters (PROVIDERS.md, "3-D Secure result"), SHA-OUT signed, then the
/// PARAMPLUS pairs (unsigned).
fn feedback_params(tx: &OgoneTx, account: &OgoneAccount, bad: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("orderID", tx.order_id.clone()),
        ("currency", tx.currency.clone()),
        ("amount", decimal_amount(tx.amount_minor)),
        ("PM", "CreditCard".to_owned()),
        ("ACCEPTANCE", tx.acceptance.clone()),
        ("STATUS", tx.status.to_string()),
        ("CARDNO", tx.card.masked_ogone()),
        ("ED", tx.card.ed()),
        ("CN", tx.card.holder.clone()),
        ("TRXDATE", trxdate(tx.created)),
        ("PAYID", tx.payid.to_string()),
        ("NCERROR", tx.ncerror.clone()),
        ("BRAND", ogone_brand(tx.card.brand).to_owned()),
        ("ECI", tx.eci.clone()),
        ("ALIAS", tx.alias.clone().unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if !tx.complus.is_empty() {
        out.push(("COMPLUS".to_owned(), tx.complus.clone()));
    }
    sign_out(&mut out, account, bad);
    out.extend(split_paramplus(&tx.paramplus));
    out
}

// ---------------------------------------------------------------------------------------------
// maintenancedirect
// ---------------------------------------------------------------------------------------------

async fn maintenancedirect(State(sim): State<Simulator>, body: Bytes) -> Response {
    maintenance_common(sim, body, false).await
}

async fn maintenancedirect_utf8(State(sim): State<Simulator>, body: Bytes) -> Response {
    maintenance_common(sim, body, true).await
}

async fn maintenance_common(sim: Simulator, body: Bytes, utf8: bool) -> Response {
    let after = match enter(&sim, FaultPath::MaintenanceDirect).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, utf8);
    let nc = maintenance(&sim, &params);
    finish(&sim, after, nc.reply()).await
}

fn maintenance(sim: &Simulator, params: &Params) -> Nc {
    let account = match authenticate(sim, params) {
        Ok(account) => account,
        Err(nc) => return nc,
    };
    let payid_text = params.text("PAYID");
    let fail = |ncerror: &str, text: &str| Nc::error(params, payid_text, ncerror, text);
    let Ok(payid) = payid_text.parse::<u64>() else {
        return Nc::error(params, "0", NC_DATA, "no PAYID");
    };
    let operation = params.text("OPERATION").to_ascii_uppercase();
    let amount_text = params.text("AMOUNT");
    let amount = if amount_text.is_empty() {
        None
    } else {
        match parse_minor(amount_text) {
            Some(a) => Some(a),
            None => return fail(NC_DATA, "invalid amount"),
        }
    };
    let mut state = sim.state();
    let Some(tx) = state
        .ogone
        .get_mut(&payid)
        .filter(|t| t.pspid == account.pspid)
    else {
        return Nc::error(params, "0", NC_UNKNOWN_ORDER, "unknown order");
    };
    let currency = params.text("CURRENCY");
    if !currency.is_empty() && currency != tx.currency {
        return fail(NC_DATA, "currency differs from the original order");
    }
    let payidsub = tx.next_payidsub();
    let line = match operation.as_str() {
        "RFD" | "RFS" => {
            if !matches!(tx.status, 9 | 8) || tx.captured_minor == 0 || tx.refunds_closed {
                return fail(
                    NC_WRONG_STATUS,
                    "the original order is not in a correct status",
                );
            }
            let remaining = tx.captured_minor.saturating_sub(tx.refunded_minor());
            let amount_minor = amount.unwrap_or(remaining);
            if remaining == 0 || amount_minor > remaining {
                return fail(NC_REFUND_OVERFLOW, "Overflow in refunds requests");
            }
            if operation == "RFS" {
                tx.refunds_closed = true;
            }
            OgoneLine {
                payidsub,
                kind: LineKind::Refund,
                amount_minor,
                status: 81,
            }
        }
        "DES" => {
            if tx.status != 5 {
                return fail(
                    NC_WRONG_STATUS,
                    "the original order is not in a correct status",
                );
            }
            tx.status = 6;
            tx.captures_closed = true;
            OgoneLine {
                payidsub,
                kind: LineKind::Cancel,
                amount_minor: tx.amount_minor - tx.captured_minor,
                status: 6,
            }
        }
        "SAL" | "SAS" => {
            let open = tx.status == 5 || (matches!(tx.status, 9 | 91) && !tx.captures_closed);
            if !open || tx.operation != OgoneOperation::Res {
                return fail(
                    NC_WRONG_STATUS,
                    "the original order is not in a correct status",
                );
            }
            let remaining = tx.amount_minor - tx.captured_minor;
            let amount_minor = amount.unwrap_or(remaining);
            if remaining == 0 || amount_minor > remaining {
                return fail(NC_CAPTURE_OVERFLOW, "Overflow in data capture requests");
            }
            tx.captured_minor += amount_minor;
            if operation == "SAS" || tx.captured_minor == tx.amount_minor {
                tx.captures_closed = true;
            }
            tx.status = 91;
            OgoneLine {
                payidsub,
                kind: LineKind::Capture,
                amount_minor,
                status: 91,
            }
        }
        _ => return fail(NC_DATA, "unsupported operation"),
    };
    tracing::info!(
        payid,
        payidsub,
        operation = operation.as_str(),
        amount_minor = line.amount_minor,
        "psp-sim: Ogone maintenance"
    );
    let nc = Nc::line(tx, &line);
    tx.lines.push(line);
    nc
}

// ---------------------------------------------------------------------------------------------
// aliasdirect: alias deletion ([UNCONFIRMED — our design], PROVIDERS.md "Alias deletion")
// ---------------------------------------------------------------------------------------------

async fn aliasdirect(State(sim): State<Simulator>, body: Bytes) -> Response {
    aliasdirect_common(sim, body, false).await
}

async fn aliasdirect_utf8(State(sim): State<Simulator>, body: Bytes) -> Response {
    aliasdirect_common(sim, body, true).await
}

async fn aliasdirect_common(sim: Simulator, body: Bytes, utf8: bool) -> Response {
    let after = match enter(&sim, FaultPath::AliasDirect).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, utf8);
    let nc = alias_delete(&sim, &params);
    finish(&sim, after, nc.reply()).await
}

/// `PSPID, USERID, PSWD, ALIAS, ALIASOPERATION=DEL, SHASIGN` → the alias is forgotten
/// (`NCERROR=0`, `STATUS=7`); an unknown alias → `STATUS=0`, `NCERROR=50001130`.
fn alias_delete(sim: &Simulator, params: &Params) -> Nc {
    let account = match authenticate(sim, params) {
        Ok(account) => account,
        Err(nc) => return nc,
    };
    let alias = params.text("ALIAS").trim();
    let answer = |status: &str, ncerror: &str, plus: &str| Nc {
        attrs: vec![
            ("ALIAS", alias.to_owned()),
            ("NCSTATUS", ncstatus(ncerror)),
            ("NCERROR", ncerror.to_owned()),
            ("NCERRORPLUS", plus.to_owned()),
            ("STATUS", status.to_owned()),
        ],
        html_answer: None,
    };
    if alias.is_empty() {
        return answer("0", NC_DATA, "no alias");
    }
    if !params.text("ALIASOPERATION").eq_ignore_ascii_case("DEL") {
        return answer("0", NC_DATA, "ALIASOPERATION must be DEL");
    }
    let now = sim.now();
    if sim.state().delete_alias(&account.pspid, alias, now) {
        tracing::info!(
            pspid = account.pspid.as_str(),
            alias,
            "psp-sim: Ogone alias deleted"
        );
        answer("7", NC_OK, "!")
    } else {
        answer("0", NC_UNKNOWN_ORDER, "unknown alias")
    }
}

// ---------------------------------------------------------------------------------------------
// querydirect
// ---------------------------------------------------------------------------------------------

async fn querydirect(State(sim): State<Simulator>, body: Bytes) -> Response {
    query_common(sim, body, false).await
}

async fn querydirect_utf8(State(sim): State<Simulator>, body: Bytes) -> Response {
    query_common(sim, body, true).await
}

async fn query_common(sim: Simulator, body: Bytes, utf8: bool) -> Response {
    let after = match enter(&sim, FaultPath::QueryDirect).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, utf8);
    let nc = query(&sim, &params);
    finish(&sim, after, nc.reply()).await
}

fn query(sim: &Simulator, params: &Params) -> Nc {
    let account = match authenticate(sim, params) {
        Ok(account) => account,
        Err(nc) => return nc,
    };
    let unknown = || Nc::error(params, "0", NC_UNKNOWN_ORDER, "unknown order");
    let payid_text = params.text("PAYID");
    let order_id = params.text("ORDERID");
    let mut state = sim.state();
    let tx = if !payid_text.is_empty() {
        match payid_text.parse::<u64>() {
            Ok(payid) => state
                .ogone
                .get_mut(&payid)
                .filter(|t| t.pspid == account.pspid),
            Err(_) => None,
        }
    } else if !order_id.is_empty() {
        state.ogone_by_order(&account.pspid, order_id)
    } else {
        return Nc::error(params, "0", NC_DATA, "PAYID or ORDERID is mandatory");
    };
    let Some(tx) = tx else {
        return unknown();
    };
    tx.settle();
    match params.text("PAYIDSUB") {
        "" | "0" => Nc::tx(tx),
        sub => match sub
            .parse::<u32>()
            .ok()
            .and_then(|s| tx.lines.iter().find(|l| l.payidsub == s))
        {
            Some(line) => Nc::line(tx, line),
            None => unknown(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_shape() {
        let params = parse_form(b"ORDERID=a%22b&AMOUNT=450&CURRENCY=EUR", true);
        let xml = Nc::error(&params, "0", NC_DUPLICATE, "x<y").to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\"?><ncresponse orderID=\"a&quot;b\""));
        assert!(xml.contains(" NCSTATUS=\"5\" NCERROR=\"50001113\" NCERRORPLUS=\"x&lt;y\""));
        assert!(xml.contains(" amount=\"4.5\" currency=\"EUR\""));
        assert!(xml.contains(" STATUS=\"0\""));
        assert!(xml.ends_with("></ncresponse>"));
    }

    #[test]
    fn field_checks() {
        let today = time::macros::date!(2026 - 03 - 15);
        assert!(check_number("4111 1111 1111 1111").is_ok());
        assert_eq!(check_number("4111111111111112"), Err(NC_CARD_NUMBER));
        assert_eq!(check_number("1111111111111111"), Err(NC_CARD_NUMBER));
        assert!(check_expiry("0326", today).is_ok());
        assert_eq!(check_expiry("0226", today), Err(NC_EXPIRY));
        assert_eq!(check_expiry("1326", today), Err(NC_EXPIRY));
        assert!(check_cvc("1234", CardBrand::Amex).is_ok());
        assert_eq!(check_cvc("123", CardBrand::Amex), Err(NC_CVC_FORMAT));
        assert_eq!(check_cvc("", CardBrand::Visa), Err(NC_CVC_MISSING));
        assert_eq!(masked_echo("4111111111111111"), "XXXXXXXXXXXX1111");
        assert_eq!(masked_echo("41"), "");
    }
}

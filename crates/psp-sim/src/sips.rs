//! Worldline Sips 2.0: Paypage JSON init, the Paypage itself (card form, ACS page, sealed
//! return and automatic response) and Office (refund, cancel, getTransactionData)
//! (docs/PROVIDERS.md, "Sips 2.0").

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use guichet_domain::card::{CardExpiry, brand_of, check_card};
use guichet_psp::sips::seal::{SealAlgorithm, json_seal, seal, verify_json_seal};
use serde_json::{Map, Value, json};

use crate::Simulator;
use crate::cards::{CardBehaviour, CardData, sips_brand};
use crate::config::SipsMerchant;
use crate::pages::{self, AcsInfo, CardFormInfo};
use crate::reply::{After, Reply, enter, finish, http500, lost};
use crate::state::{Challenge, FaultPath, SipsOperation, SipsStatus, SipsTx};
use crate::util::{
    Params, currency_alpha, display_amount, parse_form, random_digits, random_hex, sips_datetime,
};

/// `InterfaceVersion` of the Paypage POST result (PROVIDERS.md).
const RESULT_INTERFACE_VERSION: &str = "HP_2.35";
/// `redirectionVersion` handed out by paymentInit.
const REDIRECTION_VERSION: &str = "IR_WS_2.0";
/// Wrong card entries before the Paypage gives up with responseCode 75.
const MAX_CARD_ATTEMPTS: u32 = 3;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route("/rs-services/v2/paymentInit", post(payment_init))
        .route("/rs-services/v2/paymentInit/", post(payment_init))
        .route("/rs-services/v2/cashManagement/refund", post(refund))
        .route("/rs-services/v2/cashManagement/cancel", post(cancel))
        .route(
            "/rs-services/v2/diagnostic/getTransactionData",
            post(get_transaction_data),
        )
        .route("/paymentprovider/init", post(paypage_init))
        .route("/paymentprovider/pay", post(pay))
        .route(
            "/paymentprovider/acs",
            axum::routing::get(acs_get).post(acs_post),
        )
}

// ---------------------------------------------------------------------------------------------
// JSON plumbing
// ---------------------------------------------------------------------------------------------

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn minor_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => crate::util::parse_minor(s),
        _ => None,
    }
    .filter(|v| *v > 0)
}

fn wrong_key(key: &str) -> String {
    format!("{key}#not-the-key")
}

/// The JSON answer with its seal (a wrong one when a `bad_signature` fault is queued for
/// `path`).
fn sealed(sim: &Simulator, path: FaultPath, mut body: Map<String, Value>, key: &str) -> Reply {
    body.remove("seal");
    let bad = sim.state().take_bad_signature(path);
    let key = if bad { wrong_key(key) } else { key.to_owned() };
    let value = Value::Object(body);
    let seal = json_seal(&value, &key).unwrap_or_default();
    let Value::Object(mut body) = value else {
        return Reply::Json("{}".to_owned());
    };
    body.insert("seal".to_owned(), Value::String(seal));
    Reply::Json(Value::Object(body).to_string())
}

/// A checked, sealed request: its merchant and fields. `Err` is the answer to give
/// (`code_field` = `"30"` unreadable, `"03"` unknown merchant, `"34"` bad seal).
fn read_request(
    sim: &Simulator,
    path: FaultPath,
    body: &[u8],
    code_field: &str,
) -> Result<(SipsMerchant, Map<String, Value>), Reply> {
    let unsealed = |code: &str| {
        let mut m = Map::new();
        m.insert(code_field.to_owned(), json!(code));
        Reply::Json(Value::Object(m).to_string())
    };
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err(unsealed("30"));
    };
    let merchant_id = text_of(request.get("merchantId")).unwrap_or_default();
    let Some(merchant) = sim.config().sips_merchant(&merchant_id).cloned() else {
        return Err(unsealed("03"));
    };
    let key_version = text_of(request.get("keyVersion")).unwrap_or_default();
    if key_version != merchant.key_version.to_string()
        || !verify_json_seal(&Value::Object(request.clone()), &merchant.secret_key)
    {
        let mut m = Map::new();
        m.insert(code_field.to_owned(), json!("34"));
        if code_field == "redirectionStatusCode" {
            m.insert(
                "redirectionStatusMessage".to_owned(),
                json!("FRAUD SUSPICION: SEAL IS ERRONEOUS"),
            );
        }
        return Err(sealed(sim, path, m, &merchant.secret_key));
    }
    Ok((merchant, request))
}

// ---------------------------------------------------------------------------------------------
// paymentInit
// ---------------------------------------------------------------------------------------------

async fn payment_init(State(sim): State<Simulator>, body: Bytes) -> Response {
    let after = match enter(&sim, FaultPath::PaymentInit).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let reply = match read_request(&sim, FaultPath::PaymentInit, &body, "redirectionStatusCode") {
        Ok((merchant, request)) => init(&sim, &merchant, &request),
        Err(reply) => reply,
    };
    finish(&sim, after, reply).await
}

fn init(sim: &Simulator, merchant: &SipsMerchant, req: &Map<String, Value>) -> Reply {
    let refuse = |code: &str, message: &str, field: Option<&str>| {
        let mut m = Map::new();
        m.insert("redirectionStatusCode".to_owned(), json!(code));
        m.insert("redirectionStatusMessage".to_owned(), json!(message));
        if let Some(field) = field {
            m.insert("errorFieldName".to_owned(), json!(field));
        }
        sealed(sim, FaultPath::PaymentInit, m, &merchant.secret_key)
    };
    let reference = text_of(req.get("transactionReference")).unwrap_or_default();
    if reference.is_empty() {
        return refuse("30", "FORMAT ERROR", Some("transactionReference"));
    }
    let Some(amount_minor) = minor_of(req.get("amount")) else {
        return refuse("30", "FORMAT ERROR", Some("amount"));
    };
    let currency_code = text_of(req.get("currencyCode")).unwrap_or_default();
    if currency_code.len() != 3 || !currency_code.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("30", "FORMAT ERROR", Some("currencyCode"));
    }
    let normal_return_url = text_of(req.get("normalReturnUrl")).unwrap_or_default();
    if normal_return_url.is_empty() {
        return refuse("30", "FORMAT ERROR", Some("normalReturnUrl"));
    }
    let capture_mode =
        text_of(req.get("captureMode")).unwrap_or_else(|| "AUTHOR_CAPTURE".to_owned());
    let capture_day = text_of(req.get("captureDay"))
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(0);
    let seal_algorithm = match text_of(req.get("sealAlgorithm")).as_deref() {
        Some("HMAC-SHA-256") => SealAlgorithm::HmacSha256,
        _ => SealAlgorithm::Sha256,
    };
    let challenge_mode = req
        .get("fraudData")
        .and_then(|f| text_of(f.get("challengeMode3DS")));
    let now = sim.now();
    let token = random_hex(16);
    {
        let mut state = sim.state();
        if state
            .sips_by_reference(&merchant.merchant_id, &reference)
            .is_some()
        {
            drop(state);
            return refuse("94", "DUPLICATED TRANSACTION", None);
        }
        let seq = state.next_seq();
        state.sips.push(SipsTx {
            seq,
            merchant_id: merchant.merchant_id.clone(),
            reference: reference.clone(),
            token: token.clone(),
            amount_minor,
            currency_code,
            capture_mode,
            capture_day,
            order_channel: text_of(req.get("orderChannel"))
                .unwrap_or_else(|| "INTERNET".to_owned()),
            normal_return_url,
            automatic_response_url: text_of(req.get("automaticResponseUrl"))
                .filter(|u| !u.is_empty()),
            challenge_mode,
            seal_algorithm,
            return_context: text_of(req.get("returnContext")).filter(|c| !c.is_empty()),
            status: SipsStatus::Pending,
            response_code: None,
            acquirer_response_code: None,
            authorisation_id: None,
            holder_authent_status: None,
            card: None,
            pending_card: None,
            acs_token: String::new(),
            challenge: Challenge::None,
            attempts: 0,
            refunds: Vec::new(),
            cancellations: Vec::new(),
            created: now,
            transaction_date_time: sips_datetime(now),
        });
    }
    tracing::info!(
        merchant = merchant.merchant_id.as_str(),
        reference = reference.as_str(),
        amount_minor,
        "psp-sim: Sips payment initialised"
    );
    let mut m = Map::new();
    m.insert("redirectionStatusCode".to_owned(), json!("00"));
    m.insert(
        "redirectionStatusMessage".to_owned(),
        json!("INITIALISATION REQUEST ACCEPTED"),
    );
    m.insert(
        "redirectionUrl".to_owned(),
        json!(sim.url("/paymentprovider/init")),
    );
    m.insert("redirectionVersion".to_owned(), json!(REDIRECTION_VERSION));
    m.insert("redirectionData".to_owned(), json!(token));
    sealed(sim, FaultPath::PaymentInit, m, &merchant.secret_key)
}

// ---------------------------------------------------------------------------------------------
// Paypage (browser)
// ---------------------------------------------------------------------------------------------

fn session_over() -> Reply {
    Reply::Html(
        StatusCode::BAD_REQUEST,
        pages::message_page(
            "Payment session",
            "Unknown payment session, or the payment is already finished.",
        ),
    )
}

fn currency_text(code: &str) -> String {
    currency_alpha(code).unwrap_or(code).to_owned()
}

fn card_form_reply(sim: &Simulator, tx: &SipsTx, error: Option<&str>) -> Reply {
    let amount = display_amount(tx.amount_minor);
    let currency = currency_text(&tx.currency_code);
    Reply::Html(
        StatusCode::OK,
        pages::card_form(
            &sim.url("/paymentprovider/pay"),
            &tx.token,
            &CardFormInfo {
                merchant: &tx.merchant_id,
                reference: &tx.reference,
                amount: &amount,
                currency: &currency,
                error,
            },
        ),
    )
}

async fn paypage_init(State(sim): State<Simulator>, body: Bytes) -> Response {
    let after = match enter(&sim, FaultPath::PaypageInit).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, true);
    let reply = {
        let mut state = sim.state();
        match state.sips_by_token(params.text("redirectionData")) {
            Some(tx) if tx.status == SipsStatus::Pending => card_form_reply(&sim, tx, None),
            _ => session_over(),
        }
    };
    finish(&sim, after, reply).await
}

/// What the buyer's submission leads to.
enum PayOutcome {
    /// A page (card form again, ACS page, error) and nothing else.
    Page(Reply),
    /// The payment is finished: the return form and the automatic response.
    Finished(Finished),
    Http500,
}

struct Finished {
    return_url: String,
    automatic_url: Option<String>,
    form: Vec<(String, String)>,
    behaviour: CardBehaviour,
}

async fn pay(State(sim): State<Simulator>, body: Bytes) -> Response {
    let after = match enter(&sim, FaultPath::Pay).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let params = parse_form(&body, true);
    let outcome = pay_outcome(&sim, &params, after);
    deliver(sim, after, outcome).await
}

async fn acs_get(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Response {
    let params = parse_form(query.unwrap_or_default().as_bytes(), true);
    acs(sim, params).await
}

async fn acs_post(State(sim): State<Simulator>, body: Bytes) -> Response {
    acs(sim, parse_form(&body, true)).await
}

async fn acs(sim: Simulator, params: Params) -> Response {
    let after = match enter(&sim, FaultPath::Pay).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let outcome = acs_outcome(&sim, &params, after);
    deliver(sim, after, outcome).await
}

/// Gives the outcome to the browser and sends the automatic response, as the faults say.
async fn deliver(sim: Simulator, after: After, outcome: PayOutcome) -> Response {
    let finished = match outcome {
        PayOutcome::Http500 => return http500(),
        PayOutcome::Page(reply) => return finish(&sim, after, reply).await,
        PayOutcome::Finished(finished) => finished,
    };
    let effect = after.or_card(finished.behaviour);
    if effect == After::Lost {
        // The payment is recorded; neither the browser nor the merchant's server hears of it.
        return lost();
    }
    if effect == After::Hang {
        tokio::time::sleep(sim.inner.config.hang).await;
    }
    if let Some(url) = &finished.automatic_url {
        sim.send_feedback(
            url.clone(),
            finished.form.clone(),
            "sips automatic response",
        );
    }
    let fields: Vec<(&str, &str)> = finished
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Reply::Html(
        StatusCode::OK,
        pages::autopost_page(
            "Back to the merchant",
            "redirectForm",
            &finished.return_url,
            &fields,
        ),
    )
    .into_response()
}

fn pay_outcome(sim: &Simulator, params: &Params, after: After) -> PayOutcome {
    let now = sim.now();
    let mut state = sim.state();
    let Some(tx) = state.sips_by_token(params.text("redirectionData")) else {
        return PayOutcome::Page(session_over());
    };
    if tx.status != SipsStatus::Pending {
        return PayOutcome::Page(session_over());
    }
    if !params.text("cancel").is_empty() {
        tx.status = SipsStatus::Cancelled;
        tx.response_code = Some("17".to_owned());
        tx.transaction_date_time = sips_datetime(now);
        tx.pending_card = None;
        if tx.challenge == Challenge::Pending {
            tx.challenge = Challenge::None;
        }
        let tx = tx.clone();
        drop(state);
        return PayOutcome::Finished(result(sim, &tx, CardBehaviour::Approve, after));
    }
    let number: String = params
        .text("cardNumber")
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    let expiry_raw = params.text("cardExpiryDate").trim();
    let cvc = params.text("cardCSCValue").trim();
    let holder = params.text("holderName").trim().to_owned();
    let checked = parse_yyyymm(expiry_raw)
        .ok_or_else(|| "the expiry date must look like 203012 (YYYYMM)".to_owned())
        .and_then(|(year, month)| {
            check_card(&number, month, year, cvc, now.date())
                .map(|brand| (brand, year, month))
                .map_err(|e| e.to_string())
        });
    let (brand, year, month) = match checked {
        Ok(ok) => ok,
        Err(message) => {
            tx.attempts += 1;
            tracing::info!(
                reference = tx.reference.as_str(),
                attempts = tx.attempts,
                "psp-sim: Sips card refused by the form checks"
            );
            if tx.attempts >= MAX_CARD_ATTEMPTS {
                tx.status = SipsStatus::Refused;
                tx.response_code = Some("75".to_owned());
                tx.transaction_date_time = sips_datetime(now);
                let tx = tx.clone();
                drop(state);
                return PayOutcome::Finished(result(sim, &tx, CardBehaviour::Approve, after));
            }
            let reply = card_form_reply(sim, tx, Some(&message));
            return PayOutcome::Page(reply);
        }
    };
    let Ok(expiry) = CardExpiry::new(month, year) else {
        return PayOutcome::Page(card_form_reply(sim, tx, Some("invalid expiry date")));
    };
    debug_assert_eq!(brand_of(&number), Some(brand));
    let card = CardData::new(number, expiry, Some(cvc.to_owned()), holder, brand);
    let behaviour = card.behaviour();
    if behaviour == CardBehaviour::Http500 {
        tracing::info!(card = card.masked_pan().as_str(), "psp-sim: HTTP 500 card");
        return PayOutcome::Http500;
    }
    let mandated = tx.challenge_mode.as_deref() == Some("CHALLENGE_MANDATED");
    let challenge = behaviour == CardBehaviour::Challenge
        || (mandated && behaviour != CardBehaviour::AuthenticationFailed);
    if challenge {
        tx.pending_card = Some(card.clone());
        tx.acs_token = random_hex(16);
        tx.challenge = Challenge::Pending;
        let amount = display_amount(tx.amount_minor);
        let currency = currency_text(&tx.currency_code);
        let masked = card.masked_sips();
        let html = pages::acs_page(
            &sim.url("/paymentprovider/acs"),
            &[("redirectionData", &tx.token), ("MD", &tx.acs_token)],
            &AcsInfo {
                merchant: &tx.merchant_id,
                amount: &amount,
                currency: &currency,
                masked_card: &masked,
                brand: sips_brand(card.brand),
            },
        );
        return PayOutcome::Page(Reply::Html(StatusCode::OK, html));
    }
    let authent = match behaviour {
        CardBehaviour::Frictionless => "SUCCESS",
        CardBehaviour::AuthenticationFailed => "FAILURE",
        _ => "NOT_ENROLLED",
    };
    complete(tx, card, authent, now);
    let tx = tx.clone();
    drop(state);
    PayOutcome::Finished(result(sim, &tx, behaviour, after))
}

fn acs_outcome(sim: &Simulator, params: &Params, after: After) -> PayOutcome {
    let now = sim.now();
    let mut state = sim.state();
    let Some(tx) = state
        .sips_by_token(params.text("redirectionData"))
        .filter(|t| {
            t.challenge == Challenge::Pending
                && t.status == SipsStatus::Pending
                && !t.acs_token.is_empty()
                && t.acs_token == params.text("MD")
        })
    else {
        return PayOutcome::Page(session_over());
    };
    let Some(card) = tx.pending_card.clone() else {
        return PayOutcome::Page(session_over());
    };
    let behaviour = card.behaviour();
    match crate::util::acs_decision(params).as_str() {
        "" => {
            let amount = display_amount(tx.amount_minor);
            let currency = currency_text(&tx.currency_code);
            let masked = card.masked_sips();
            let html = pages::acs_page(
                &sim.url("/paymentprovider/acs"),
                &[("redirectionData", &tx.token), ("MD", &tx.acs_token)],
                &AcsInfo {
                    merchant: &tx.merchant_id,
                    amount: &amount,
                    currency: &currency,
                    masked_card: &masked,
                    brand: sips_brand(card.brand),
                },
            );
            return PayOutcome::Page(Reply::Html(StatusCode::OK, html));
        }
        "approve" => {
            tx.challenge = Challenge::Approved;
            tx.pending_card = None;
            complete(tx, card, "SUCCESS", now);
        }
        "refuse" => {
            tx.challenge = Challenge::Refused;
            tx.pending_card = None;
            complete(tx, card, "FAILURE", now);
        }
        _ => {
            return PayOutcome::Page(Reply::Html(
                StatusCode::BAD_REQUEST,
                pages::message_page("3-D Secure", "decision must be approve or refuse"),
            ));
        }
    }
    let tx = tx.clone();
    drop(state);
    PayOutcome::Finished(result(sim, &tx, behaviour, after))
}

fn parse_yyyymm(raw: &str) -> Option<(u16, u8)> {
    if raw.len() != 6 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((raw[..4].parse().ok()?, raw[4..].parse().ok()?))
}

/// Decides the payment for a checked card (after 3-D Secure, if any).
fn complete(tx: &mut SipsTx, card: CardData, authent: &str, now: time::OffsetDateTime) {
    let (status, response, acquirer) = match card.behaviour() {
        _ if authent == "FAILURE" => (SipsStatus::Refused, "05", None),
        CardBehaviour::Decline => (SipsStatus::Refused, "05", Some("05")),
        CardBehaviour::InsufficientFunds => (SipsStatus::Refused, "51", Some("51")),
        _ => {
            let status = if tx.capture_mode == "VALIDATION" {
                SipsStatus::ToValidate
            } else if tx.capture_day > 0 {
                SipsStatus::ToCapture
            } else {
                SipsStatus::Captured
            };
            tx.authorisation_id = Some(random_digits(6));
            (status, "00", Some("00"))
        }
    };
    tx.status = status;
    tx.response_code = Some(response.to_owned());
    tx.acquirer_response_code = acquirer.map(str::to_owned);
    tx.holder_authent_status = Some(authent.to_owned());
    tx.transaction_date_time = sips_datetime(now);
    tracing::info!(
        reference = tx.reference.as_str(),
        status = status.as_str(),
        response,
        card = card.masked_pan().as_str(),
        "psp-sim: Sips payment finished"
    );
    tx.card = Some(card);
}

/// The `Data` string of a Paypage result (PROVIDERS.md field list; empty fields left out).
fn data_string(tx: &SipsTx, key_version: u32) -> String {
    let card = tx.card.as_ref();
    let fields: Vec<(&str, String)> = vec![
        ("amount", tx.amount_minor.to_string()),
        (
            "authorisationId",
            tx.authorisation_id.clone().unwrap_or_default(),
        ),
        ("captureDay", tx.capture_day.to_string()),
        ("captureMode", tx.capture_mode.clone()),
        ("currencyCode", tx.currency_code.clone()),
        (
            "holderAuthentStatus",
            tx.holder_authent_status.clone().unwrap_or_default(),
        ),
        ("keyVersion", key_version.to_string()),
        (
            "maskedPan",
            card.map(CardData::masked_sips).unwrap_or_default(),
        ),
        ("merchantId", tx.merchant_id.clone()),
        ("orderChannel", tx.order_channel.clone()),
        (
            "panExpiryDate",
            card.map(CardData::expiry_yyyymm).unwrap_or_default(),
        ),
        (
            "paymentMeanBrand",
            card.map(|c| sips_brand(c.brand).to_owned())
                .unwrap_or_default(),
        ),
        ("responseCode", tx.response_code.clone().unwrap_or_default()),
        (
            "acquirerResponseCode",
            tx.acquirer_response_code.clone().unwrap_or_default(),
        ),
        ("transactionDateTime", tx.transaction_date_time.clone()),
        ("transactionReference", tx.reference.clone()),
        (
            "returnContext",
            tx.return_context.clone().unwrap_or_default(),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("|")
}

/// The sealed result form (`Data`, `Seal`, `InterfaceVersion`, `Encode`).
fn result(sim: &Simulator, tx: &SipsTx, behaviour: CardBehaviour, after: After) -> Finished {
    let merchant = sim.config().sips_merchant(&tx.merchant_id);
    let (key, key_version) = merchant
        .map(|m| (m.secret_key.clone(), m.key_version))
        .unwrap_or_default();
    let bad = sim.state().take_bad_signature(FaultPath::Pay);
    let key = if bad { wrong_key(&key) } else { key };
    let full = data_string(tx, key_version);
    let the_seal = seal(&full, &key, tx.seal_algorithm);
    let data = if after.or_card(behaviour) == After::Malformed {
        // Cut in the middle: the merchant gets an unusable result it cannot verify.
        let mut cut = full.len() / 2;
        while !full.is_char_boundary(cut) {
            cut -= 1;
        }
        full[..cut].to_owned()
    } else {
        full
    };
    Finished {
        return_url: tx.normal_return_url.clone(),
        automatic_url: tx.automatic_response_url.clone(),
        form: vec![
            ("Data".to_owned(), data),
            ("Seal".to_owned(), the_seal),
            (
                "InterfaceVersion".to_owned(),
                RESULT_INTERFACE_VERSION.to_owned(),
            ),
            ("Encode".to_owned(), String::new()),
        ],
        behaviour,
    }
}

// ---------------------------------------------------------------------------------------------
// Office
// ---------------------------------------------------------------------------------------------

async fn refund(State(sim): State<Simulator>, body: Bytes) -> Response {
    office(sim, FaultPath::Refund, body).await
}

async fn cancel(State(sim): State<Simulator>, body: Bytes) -> Response {
    office(sim, FaultPath::Cancel, body).await
}

async fn get_transaction_data(State(sim): State<Simulator>, body: Bytes) -> Response {
    office(sim, FaultPath::GetTransactionData, body).await
}

async fn office(sim: Simulator, path: FaultPath, body: Bytes) -> Response {
    let after = match enter(&sim, path).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let reply = match read_request(&sim, path, &body, "responseCode") {
        Err(reply) => reply,
        Ok((merchant, request)) => {
            let answer = match path {
                FaultPath::GetTransactionData => diagnostic(&sim, &merchant, &request),
                _ => cash_management(&sim, path, &merchant, &request),
            };
            sealed(&sim, path, answer, &merchant.secret_key)
        }
    };
    finish(&sim, after, reply).await
}

fn code_only(code: &str, field: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("responseCode".to_owned(), json!(code));
    if let Some(field) = field {
        m.insert("errorFieldName".to_owned(), json!(field));
    }
    m
}

fn cash_management(
    sim: &Simulator,
    path: FaultPath,
    merchant: &SipsMerchant,
    req: &Map<String, Value>,
) -> Map<String, Value> {
    let reference = text_of(req.get("transactionReference")).unwrap_or_default();
    if reference.is_empty() {
        return code_only("30", Some("transactionReference"));
    }
    let Some(amount_minor) = minor_of(req.get("operationAmount")) else {
        return code_only("30", Some("operationAmount"));
    };
    let now = sim.now();
    let mut state = sim.state();
    let Some(tx) = state.sips_by_reference(&merchant.merchant_id, &reference) else {
        return code_only("25", None);
    };
    if let Some(currency) = text_of(req.get("currencyCode"))
        && currency != tx.currency_code
    {
        return code_only("12", Some("currencyCode"));
    }
    let remaining = tx.current_minor();
    let is_refund = path == FaultPath::Refund;
    if is_refund {
        if tx.status != SipsStatus::Captured {
            return code_only("57", None);
        }
    } else if tx.status == SipsStatus::Cancelled {
        return code_only("24", None);
    } else if !tx.status.accepted() {
        return code_only("12", None);
    }
    if amount_minor > remaining {
        return code_only("51", None);
    }
    let operation = SipsOperation {
        id: (tx.refunds.len() + tx.cancellations.len() + 1) as u32,
        amount_minor,
        at: now,
    };
    if is_refund {
        tx.refunds.push(operation);
    } else {
        tx.cancellations.push(operation);
        if tx.current_minor() == 0 {
            tx.status = SipsStatus::Cancelled;
        }
    }
    tracing::info!(
        reference = reference.as_str(),
        operation = path.as_str(),
        amount_minor,
        "psp-sim: Sips Office operation"
    );
    let mut m = code_only("00", None);
    m.insert("acquirerResponseCode".to_owned(), json!("00"));
    m.insert("newAmount".to_owned(), json!(tx.current_minor()));
    m.insert("newStatus".to_owned(), json!(tx.status.as_str()));
    m.insert("operationDateTime".to_owned(), json!(sips_datetime(now)));
    m
}

fn diagnostic(
    sim: &Simulator,
    merchant: &SipsMerchant,
    req: &Map<String, Value>,
) -> Map<String, Value> {
    let reference = text_of(req.get("transactionReference")).unwrap_or_default();
    let state = sim.state();
    let Some(tx) = state
        .sips
        .iter()
        .find(|t| t.merchant_id == merchant.merchant_id && t.reference == reference)
    else {
        return code_only("25", None);
    };
    let mut m = code_only("00", None);
    m.insert("transactionReference".to_owned(), json!(tx.reference));
    m.insert("transactionStatus".to_owned(), json!(tx.status.as_str()));
    m.insert("amount".to_owned(), json!(tx.amount_minor));
    m.insert("currentAmount".to_owned(), json!(tx.current_minor()));
    m.insert("currencyCode".to_owned(), json!(tx.currency_code));
    m.insert(
        "transactionDateTime".to_owned(),
        json!(tx.transaction_date_time),
    );
    if let Some(card) = &tx.card {
        m.insert("maskedPan".to_owned(), json!(card.masked_sips()));
        m.insert("paymentMeanBrand".to_owned(), json!(sips_brand(card.brand)));
    }
    if let Some(code) = &tx.acquirer_response_code {
        m.insert("acquirerResponseCode".to_owned(), json!(code));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yyyymm() {
        assert_eq!(parse_yyyymm("203012"), Some((2030, 12)));
        assert_eq!(parse_yyyymm("3012"), None);
        assert_eq!(parse_yyyymm("20301a"), None);
    }
}

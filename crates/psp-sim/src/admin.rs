//! `/__sim/…`: the simulator's own control endpoints (faults, latency, feedback, listings).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::Simulator;
use crate::cards::CardBehaviour;
use crate::state::{Fault, FaultKind, FaultPath, FeedbackMode};

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(
            "/__sim/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/__sim/latency", post(set_latency).get(get_latency))
        .route("/__sim/hold", post(set_hold))
        .route("/__sim/in-flight", get(in_flight))
        .route(
            "/__sim/feedback-mode",
            post(set_feedback_mode).get(get_feedback_mode),
        )
        .route("/__sim/feedback-url", post(set_feedback_url))
        .route("/__sim/transactions", get(transactions))
        .route("/__sim/aliases", get(aliases))
        .route(
            "/__sim/aliases/{alias}/behaviour",
            post(set_alias_behaviour),
        )
        .route("/__sim/clock", post(advance_clock).get(get_clock))
        .route("/__sim/reset", post(reset))
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

fn json_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

async fn add_fault(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let path_text = value.get("path").and_then(Value::as_str).unwrap_or("");
    let Some(path) = FaultPath::parse(path_text) else {
        let known: Vec<&str> = FaultPath::ALL.iter().map(|p| p.as_str()).collect();
        return bad_request(format!(
            "unknown path {path_text:?}; one of {}",
            known.join(", ")
        ));
    };
    let kind_text = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(kind) = FaultKind::parse(kind_text) else {
        let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
        return bad_request(format!(
            "unknown kind {kind_text:?}; one of {}",
            known.join(", ")
        ));
    };
    if kind == FaultKind::BadSignature && !path.signs() {
        return bad_request(format!(
            "{} replies carry no signature: bad_signature applies to alias_gateway, acs, pay, \
             paymentInit, refund, cancel, getTransactionData",
            path.as_str()
        ));
    }
    let count = match value.get("count") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64().and_then(|c| u32::try_from(c).ok()) {
            Some(c) if c > 0 => c,
            _ => return bad_request("count must be a positive integer"),
        },
    };
    let latency_ms = match value.get("latency_ms") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64() {
            Some(ms) => ms,
            None => return bad_request("latency_ms must be a non-negative integer"),
        },
    };
    if kind == FaultKind::Latency && latency_ms == 0 {
        return bad_request("a latency fault needs latency_ms");
    }
    let fault = Fault {
        path,
        kind,
        latency_ms,
        remaining: count,
    };
    let queued = fault.to_json();
    let mut state = sim.state();
    state.faults.push(fault);
    let all: Vec<Value> = state.faults.iter().map(Fault::to_json).collect();
    (
        StatusCode::CREATED,
        Json(json!({"queued": queued, "faults": all})),
    )
        .into_response()
}

async fn list_faults(State(sim): State<Simulator>) -> Response {
    let state = sim.state();
    let all: Vec<Value> = state.faults.iter().map(Fault::to_json).collect();
    Json(json!({"faults": all})).into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> Response {
    sim.state().faults.clear();
    Json(json!({"faults": []})).into_response()
}

async fn set_latency(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let Some(ms) = value.get("ms").and_then(Value::as_u64) else {
        return bad_request("ms must be a non-negative integer");
    };
    sim.state().latency_ms = ms;
    Json(json!({"latency_ms": ms})).into_response()
}

async fn set_hold(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(on) = json_body(&body).and_then(|v| v.get("on").and_then(Value::as_bool)) else {
        return bad_request("on must be true or false");
    };
    sim.inner.hold.send_replace(on);
    Json(json!({"held": on})).into_response()
}

async fn in_flight(State(sim): State<Simulator>) -> Response {
    use std::sync::atomic::Ordering;
    let latency_ms = sim.state().latency_ms;
    Json(json!({
        "waiting": sim.inner.waiting.load(Ordering::SeqCst),
        "peak": sim.inner.peak_waiting.load(Ordering::SeqCst),
        "held": *sim.inner.hold.borrow(),
        "latency_ms": latency_ms,
    }))
    .into_response()
}

async fn get_latency(State(sim): State<Simulator>) -> Response {
    let ms = sim.state().latency_ms;
    Json(json!({"latency_ms": ms})).into_response()
}

/// Reads `{"mode": "normal" | "duplicate" | "off"}`, `{"mode": "late", "late_ms": n}`,
/// `{"mode": {"late_ms": n}}` or `{"late_ms": n}`.
fn parse_feedback_mode(value: &Value) -> Option<FeedbackMode> {
    let late = |v: &Value| v.get("late_ms").and_then(Value::as_u64);
    match value.get("mode") {
        Some(Value::String(mode)) => match mode.to_ascii_lowercase().as_str() {
            "normal" => Some(FeedbackMode::Normal),
            "duplicate" => Some(FeedbackMode::Duplicate),
            "off" => Some(FeedbackMode::Off),
            "late" | "late_ms" => late(value).map(FeedbackMode::Late),
            _ => None,
        },
        Some(mode @ Value::Object(_)) => late(mode).map(FeedbackMode::Late),
        None => late(value).map(FeedbackMode::Late),
        Some(_) => None,
    }
}

async fn set_feedback_mode(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let Some(mode) = parse_feedback_mode(&value) else {
        return bad_request(
            "mode must be \"normal\", \"duplicate\", \"off\", or \"late\" with late_ms",
        );
    };
    sim.state().feedback_mode = mode;
    Json(mode.to_json()).into_response()
}

async fn get_feedback_mode(State(sim): State<Simulator>) -> Response {
    let mode = sim.state().feedback_mode;
    Json(mode.to_json()).into_response()
}

async fn set_feedback_url(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let pspid = value.get("pspid").and_then(Value::as_str).unwrap_or("");
    if sim.config().ogone_account(pspid).is_none() {
        return bad_request(format!("unknown Ogone account {pspid:?}"));
    }
    let mut state = sim.state();
    match value.get("url") {
        Some(Value::String(url)) => {
            state.feedback_urls.insert(pspid.to_owned(), url.clone());
        }
        None | Some(Value::Null) => {
            state.feedback_urls.remove(pspid);
        }
        Some(_) => return bad_request("url must be a string or null"),
    }
    let url = state.feedback_urls.get(pspid).cloned();
    drop(state);
    let effective = sim.feedback_url(pspid);
    Json(json!({"pspid": pspid, "url": url.or(effective)})).into_response()
}

async fn transactions(State(sim): State<Simulator>) -> Response {
    let list = sim.state().transactions_json();
    Json(Value::Array(list)).into_response()
}

async fn aliases(State(sim): State<Simulator>) -> Response {
    let now = sim.now();
    let list = sim.state().aliases_json(now);
    Json(Value::Array(list)).into_response()
}

fn not_found(message: impl Into<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

/// `POST /__sim/aliases/{alias}/behaviour {"behaviour": "decline", "pspid"?}`: every later
/// order with this alias behaves so (`decline`, `insufficient_funds`, `approve`, or any other
/// test-card behaviour); `"card"` or `null` gives the card number's own behaviour back.
async fn set_alias_behaviour(
    State(sim): State<Simulator>,
    Path(alias): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let behaviour = match value.get("behaviour") {
        None => return bad_request("behaviour is mandatory (a name, \"card\" or null)"),
        Some(Value::Null) => None,
        Some(Value::String(name))
            if ["card", "default", "reset"].contains(&name.to_ascii_lowercase().as_str()) =>
        {
            None
        }
        Some(Value::String(name)) => match CardBehaviour::parse(name) {
            Some(b) => Some(b),
            None => {
                let known: Vec<&str> = CardBehaviour::ALL.iter().map(|b| b.as_str()).collect();
                return bad_request(format!(
                    "unknown behaviour {name:?}; one of {}, or \"card\"",
                    known.join(", ")
                ));
            }
        },
        Some(_) => return bad_request("behaviour must be a string or null"),
    };
    let now = sim.now();
    let mut state = sim.state();
    let pspid = match value.get("pspid").and_then(Value::as_str) {
        Some(pspid) => pspid.to_owned(),
        None => {
            let owners = state.alias_owners(&alias, now);
            match owners.as_slice() {
                [one] => one.clone(),
                [] => return not_found(format!("unknown alias {alias:?}")),
                _ => return bad_request("several accounts have this alias: give \"pspid\""),
            }
        }
    };
    let Some(stored) = state.alias(&pspid, &alias, now) else {
        return not_found(format!("unknown alias {alias:?} for {pspid:?}"));
    };
    stored.behaviour = behaviour;
    tracing::info!(
        pspid = pspid.as_str(),
        alias = alias.as_str(),
        behaviour = stored.behaviour().as_str(),
        "psp-sim: alias behaviour set"
    );
    Json(stored.to_json(now)).into_response()
}

fn clock_json(sim: &Simulator) -> Value {
    let offset = sim.state().clock_offset;
    json!({
        "now": crate::util::rfc3339(sim.now()),
        "offset_ms": offset.whole_milliseconds(),
    })
}

/// `POST /__sim/clock {"advance_s": n}` or `{"advance_ms": n}`: moves the simulator's clock
/// forward (temporary aliases' 2 hours, a typed CVC's lifetime, card expiry, timestamps).
async fn advance_clock(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let Some(value) = json_body(&body) else {
        return bad_request("the body must be a JSON object");
    };
    let ms = match (
        value.get("advance_s").map(Value::as_u64),
        value.get("advance_ms").map(Value::as_u64),
    ) {
        (Some(Some(s)), None) => s.checked_mul(1000),
        (None, Some(Some(ms))) => Some(ms),
        _ => None,
    };
    let Some(ms) = ms.and_then(|ms| i64::try_from(ms).ok()) else {
        return bad_request("give one of advance_s or advance_ms, a non-negative integer");
    };
    {
        let mut state = sim.state();
        state.clock_offset += time::Duration::milliseconds(ms);
    }
    Json(clock_json(&sim)).into_response()
}

async fn get_clock(State(sim): State<Simulator>) -> Response {
    Json(clock_json(&sim)).into_response()
}

async fn reset(State(sim): State<Simulator>) -> Response {
    sim.state().reset();
    sim.inner.hold.send_replace(false);
    sim.inner
        .peak_waiting
        .store(0, std::sync::atomic::Ordering::SeqCst);
    tracing::info!("psp-sim: state reset");
    Json(json!({"reset": true})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_modes() {
        for (body, mode) in [
            (json!({"mode": "normal"}), Some(FeedbackMode::Normal)),
            (json!({"mode": "duplicate"}), Some(FeedbackMode::Duplicate)),
            (json!({"mode": "off"}), Some(FeedbackMode::Off)),
            (
                json!({"mode": "late", "late_ms": 5}),
                Some(FeedbackMode::Late(5)),
            ),
            (json!({"mode": {"late_ms": 7}}), Some(FeedbackMode::Late(7))),
            (json!({"late_ms": 9}), Some(FeedbackMode::Late(9))),
            (json!({"mode": "late"}), None),
            (json!({"mode": "sometimes"}), None),
        ] {
            assert_eq!(parse_feedback_mode(&body), mode, "{body}");
        }
    }

    #[test]
    fn fault_paths() {
        assert_eq!(
            FaultPath::parse("orderdirect_utf8.asp"),
            Some(FaultPath::OrderDirect)
        );
        assert_eq!(
            FaultPath::parse("/rs-services/v2/cashManagement/refund"),
            Some(FaultPath::Refund)
        );
        assert_eq!(
            FaultPath::parse("paymentinit"),
            Some(FaultPath::PaymentInit)
        );
        assert_eq!(
            FaultPath::parse("aliasdirect_utf8.asp"),
            Some(FaultPath::AliasDirect)
        );
        assert_eq!(FaultPath::parse("nope"), None);
        for p in FaultPath::ALL {
            assert_eq!(FaultPath::parse(p.as_str()), Some(*p));
        }
    }
}

//! Idempotency keys (DESIGN.md invariant 5): every request that moves money may carry an
//! `Idempotency-Key`. The first request with a key runs and its response is stored; a replay
//! gets the stored response; the same key with another request is refused (422); the same key
//! while the first request still runs is refused (409). Finished keys are replayed for 48
//! hours, then purged by the job runner. A key still "running" five minutes on belongs to a
//! request that died with its process; the next request with it runs again (every change is
//! one atomic transaction, so it finds either nothing done or the finished state).

use crate::AppState;
use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use guichet_store::IdempotencyBegin;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const KEY_MAX_LEN: usize = 255;

/// The key of a request, if it carries one; a malformed key is a 400.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| {
            !t.is_empty() && t.len() <= KEY_MAX_LEN && t.chars().all(|c| c.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {KEY_MAX_LEN} visible ASCII characters"
            ))
        })?;
    Ok(Some(text.to_owned()))
}

/// What identifies "the same request": method, path and body bytes.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// A handler's result before it becomes a response: status and JSON body.
pub type JsonResult = Result<(StatusCode, serde_json::Value), ApiError>;

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut resp = (status, [("content-type", "application/json")], body).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

/// Runs `work` under the idempotency key, if any. `scope` names who the key belongs to (a
/// shop key, a checkout) so that two clients' keys never meet.
pub async fn run<F, Fut>(
    state: &AppState,
    scope: &str,
    key: Option<String>,
    fingerprint: &str,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = JsonResult>,
{
    let Some(key) = key else {
        return match work().await {
            Ok((status, body)) => (status, axum::Json(body)).into_response(),
            Err(e) => e.into_response(),
        };
    };
    match state
        .store
        .idempotency_begin(scope, &key, fingerprint)
        .await
    {
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_response(status, body, true);
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request",
            )
            .into_response();
        }
        Ok(IdempotencyBegin::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let (status, body) = match work().await {
        Ok((status, body)) => (status, body.to_string()),
        Err(e) => {
            // Transient refusals and server errors leave the key free for a retry; a definite
            // answer (paid, refused, invalid) is kept and replayed.
            let transient = e.status.is_server_error()
                || e.status == StatusCode::CONFLICT
                || e.status == StatusCode::TOO_MANY_REQUESTS;
            if transient {
                if let Err(err) = state.store.idempotency_abandon(scope, &key).await {
                    tracing::error!(error = %err, "freeing an idempotency key failed");
                }
                return e.into_response();
            }
            let status = e.status;
            let body = serde_json::to_string(&e.body()).unwrap_or_default();
            (status, body)
        }
    };
    if let Err(err) = state
        .store
        .idempotency_finish(scope, &key, status.as_u16(), &body)
        .await
    {
        tracing::error!(error = %err, "storing an idempotent response failed");
    }
    json_response(status, body, false)
}

/// Parses a JSON body read as bytes (the bytes are what the fingerprint covers).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde quotes the offending value; a card number typed into the wrong field must not
        // come back (nor be stored with an idempotent answer): long digit runs are masked.
        let text = mask_digit_runs(&e.to_string());
        if e.is_data() {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the JSON body does not have the expected shape: {text}"),
            )
        } else {
            ApiError::bad_request(format!("malformed JSON body: {text}"))
        }
    })
}

/// Runs of 7 or more digits replaced by `…` (found by the `shop_json` fuzz target).
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 7 {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod mask_tests {
    #[test]
    fn long_digit_runs_are_masked() {
        let shown =
            super::mask_digit_runs("invalid type: integer `4111111111111111`, line 1 column 27");
        assert_eq!(shown, "invalid type: integer `…`, line 1 column 27");
        assert_eq!(super::mask_digit_runs("123456 ok"), "123456 ok");
        let err = super::parse_json::<std::collections::BTreeMap<String, String>>(
            br#"{"means": 4111111111111111}"#,
        )
        .unwrap_err();
        assert!(!err.message.contains("4111111111111111"), "{}", err.message);
    }
}

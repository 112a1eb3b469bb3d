//! Replies and the faults that bend them: latency, timeouts, HTTP 500, truncated and lost
//! replies.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Simulator;
use crate::cards::CardBehaviour;
use crate::state::{FaultKind, FaultPath};

/// A reply before faults are applied.
pub enum Reply {
    /// DirectLink XML.
    Xml(String),
    /// Sips JSON.
    Json(String),
    /// A page.
    Html(StatusCode, String),
    /// `303 See Other`.
    Redirect(String),
}

impl Reply {
    fn content_type(&self) -> &'static str {
        match self {
            Reply::Xml(_) => "text/xml; charset=utf-8",
            Reply::Json(_) => "application/json",
            Reply::Html(..) | Reply::Redirect(_) => "text/html; charset=utf-8",
        }
    }

    pub fn into_response(self) -> Response {
        let content_type = self.content_type();
        match self {
            Reply::Xml(body) | Reply::Json(body) => {
                ([(header::CONTENT_TYPE, content_type)], body).into_response()
            }
            Reply::Html(status, body) => {
                (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
            }
            Reply::Redirect(location) => redirect(&location),
        }
    }

    /// The reply cut in the middle: XML and JSON lose their second half (no closing tag or
    /// brace), a redirect loses the second half of its query string.
    fn malformed(self) -> Response {
        let content_type = self.content_type();
        match self {
            Reply::Xml(body) | Reply::Json(body) | Reply::Html(_, body) => {
                let cut = truncate(&body);
                ([(header::CONTENT_TYPE, content_type)], cut).into_response()
            }
            Reply::Redirect(location) => {
                let cut = match location.split_once('?') {
                    Some((base, query)) => format!("{base}?{}", truncate(query)),
                    None => location,
                };
                redirect(&cut)
            }
        }
    }
}

fn truncate(text: &str) -> String {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_owned()
}

pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `500 Internal Server Error`, nothing recorded.
pub fn http500() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
    )
        .into_response()
}

/// A response that never completes: it announces a body it does not send, so the server
/// closes the connection and the client sees no usable reply.
pub fn lost() -> Response {
    let mut response = Response::new(Body::from_stream(Body::empty().into_data_stream()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// What happens to a reply once the request is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Normal,
    /// Held back for `SimConfig::hang`.
    Hang,
    Malformed,
    Lost,
}

impl After {
    /// A fault card's effect, unless a queued fault already decided.
    pub fn or_card(self, behaviour: CardBehaviour) -> After {
        if self != After::Normal {
            return self;
        }
        match behaviour {
            CardBehaviour::Timeout => After::Hang,
            CardBehaviour::Malformed => After::Malformed,
            CardBehaviour::LostReply => After::Lost,
            _ => After::Normal,
        }
    }
}

/// Applies the global latency (server-to-server paths) and the first queued fault for `path`
/// that acts on arrival. `Err` is the reply to give at once (HTTP 500).
pub async fn enter(sim: &Simulator, path: FaultPath) -> Result<After, Response> {
    let (global_ms, fault) = {
        let mut state = sim.state();
        let global = if path.server_to_server() {
            state.latency_ms
        } else {
            0
        };
        (global, state.take_entry_fault(path))
    };
    if path.server_to_server() {
        sim.wait_at_door(global_ms).await;
    }
    let Some(fault) = fault else {
        return Ok(After::Normal);
    };
    tracing::info!(
        path = path.as_str(),
        kind = fault.kind.as_str(),
        "psp-sim: injecting fault"
    );
    match fault.kind {
        FaultKind::Latency => {
            tokio::time::sleep(std::time::Duration::from_millis(fault.latency_ms)).await;
            Ok(After::Normal)
        }
        FaultKind::Http500 => Err(http500()),
        FaultKind::Timeout => Ok(After::Hang),
        FaultKind::Malformed => Ok(After::Malformed),
        FaultKind::LostReplyAfterCommit => Ok(After::Lost),
        // Never taken on arrival (see `State::take_entry_fault`).
        FaultKind::BadSignature => Ok(After::Normal),
    }
}

/// Gives `reply` as `after` says.
pub async fn finish(sim: &Simulator, after: After, reply: Reply) -> Response {
    match after {
        After::Normal => reply.into_response(),
        After::Hang => {
            tokio::time::sleep(sim.inner.config.hang).await;
            reply.into_response()
        }
        After::Malformed => reply.malformed(),
        After::Lost => lost(),
    }
}

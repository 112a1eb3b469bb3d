//! Server-to-server HTTP calls to a provider, and what can go wrong with them.
//!
//! The point of [`CallError`] is to say whether the provider may have acted on a request:
//! only [`CallError::NotSent`] guarantees it did not (the connection was never established, so
//! no byte of the request left). Every other error leaves the outcome unknown, to be resolved
//! by asking the provider (Ogone `querydirect`, Sips `getTransactionData`).
//!
//! The HTTP layer is the [`Transport`] trait. Production code uses `reqwest::Client`, which
//! implements it; tests and the simulator may plug another implementation. Nothing here logs a
//! request or reply body: DirectLink bodies carry the API password.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use url::Url;

/// Largest reply body read (1 MiB); anything longer is [`CallError::Malformed`].
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// Why a call gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The request never left: connection refused, DNS failure, TLS handshake failure,
    /// connect timeout, or a request that could not be built. Nothing can have happened at the
    /// provider; the call may be retried as is.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// No complete reply within the timeout. Outcome unknown.
    #[error("no reply within the timeout (outcome unknown)")]
    Timeout,
    /// The provider answered with a non-2xx HTTP status (5xx, 4xx, an unfollowed 3xx).
    /// Outcome unknown.
    #[error("HTTP status {0} (outcome unknown)")]
    HttpStatus(u16),
    /// A 2xx reply that cannot be read (not XML / JSON, truncated, missing fields, too large).
    /// Outcome unknown.
    #[error("unreadable reply (outcome unknown): {0}")]
    Malformed(String),
    /// The connection failed after the request may have been sent (reset, closed before the
    /// reply was complete). Outcome unknown.
    #[error("connection lost (outcome unknown): {0}")]
    Interrupted(String),
    /// A Sips reply whose `seal` is missing or does not verify: it cannot be trusted (a wrong
    /// secret key or key version on either side, or tampering). Outcome unknown. The text may
    /// name the unverified `responseCode`, for diagnostics only.
    #[error("reply seal missing or wrong (outcome unknown): {0}")]
    BadSeal(String),
}

impl CallError {
    /// False only for [`CallError::NotSent`]: the provider cannot have received the request.
    pub fn may_have_reached_provider(&self) -> bool {
        !matches!(self, CallError::NotSent(_))
    }
}

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base URL: {0}")]
pub struct BaseUrlError(pub String);

/// One POST to a provider. `Debug` shows the length of the body, never its content.
#[derive(Clone)]
pub struct HttpRequest {
    /// Where to POST.
    pub url: Url,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// `Accept` header.
    pub accept: &'static str,
    /// The body (may contain credentials: never log it).
    pub body: Vec<u8>,
    /// The whole call (connect, send, reply) must finish within this.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &self.url.as_str())
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A provider's HTTP reply. `Debug` shows the length of the body, never its content.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body; may be empty for a non-2xx status (transports need not read it).
    pub body: Vec<u8>,
    /// The `Location` header, if any (a `3xx` answer: the Alias Gateway's redirect, read by
    /// [`crate::ogone::client::DirectLink::update_alias`] and never followed).
    pub location: Option<String>,
}

impl std::fmt::Debug for HttpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpReply")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .field("location", &self.location.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A boxed, sendable future (the return type of [`Transport::post`]).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one POST and returns the reply, whatever its status.
///
/// Contract: honour [`HttpRequest::timeout`] for the whole call ([`CallError::Timeout`]);
/// return [`CallError::NotSent`] only when no byte of the request can have left; any other
/// failure is [`CallError::Interrupted`]; bodies above [`MAX_REPLY_BYTES`] are
/// [`CallError::Malformed`]. Never follow redirects: return a `3xx` as it came, with its
/// `Location` in [`HttpReply::location`].
pub trait Transport: Send + Sync {
    /// Sends `request`.
    fn post(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpReply, CallError>>;
}

/// The production transport. Build the client with `redirect(Policy::none())`: a provider
/// API never redirects, and a followed 303 would turn the POST into a GET. Give it a
/// `connect_timeout` shorter than the call timeout if connect timeouts are to count as
/// [`CallError::NotSent`] (otherwise the call timeout fires first and gives
/// [`CallError::Timeout`], which is merely more cautious).
impl Transport for reqwest::Client {
    fn post(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpReply, CallError>> {
        Box::pin(async move {
            let mut response = reqwest::Client::post(self, request.url)
                .header(reqwest::header::CONTENT_TYPE, request.content_type)
                .header(reqwest::header::ACCEPT, request.accept)
                .timeout(request.timeout)
                .body(request.body)
                .send()
                .await
                .map_err(classify_reqwest)?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            if (200..300).contains(&status) {
                while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
                    if body.len() + chunk.len() > MAX_REPLY_BYTES {
                        return Err(CallError::Malformed(format!(
                            "reply larger than {MAX_REPLY_BYTES} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(HttpReply {
                status,
                content_type,
                body,
                location,
            })
        })
    }
}

/// Sorts a reqwest error into the [`CallError`] kinds. A connect error (refused, DNS, TLS
/// handshake, connect timeout) means no request was written; a builder error means none was
/// made. The URL is left out of the message.
fn classify_reqwest(e: reqwest::Error) -> CallError {
    if e.is_connect() || e.is_builder() {
        CallError::NotSent(describe(&e.without_url()))
    } else if e.is_timeout() {
        CallError::Timeout
    } else {
        CallError::Interrupted(describe(&e.without_url()))
    }
}

/// An error and its sources, `: `-separated.
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Posts `request` and returns the body of a 2xx reply. Logs the provider, operation, status
/// and duration; never a body.
pub(crate) async fn post(
    transport: &dyn Transport,
    request: HttpRequest,
    provider: &'static str,
    operation: &'static str,
) -> Result<Vec<u8>, CallError> {
    let started = Instant::now();
    let result = transport.post(request).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(reply) => tracing::debug!(
            provider,
            operation,
            status = reply.status,
            elapsed_ms,
            "psp reply"
        ),
        Err(error) => tracing::warn!(provider, operation, %error, elapsed_ms, "psp call failed"),
    }
    let reply = result?;
    if !(200..300).contains(&reply.status) {
        tracing::warn!(
            provider,
            operation,
            status = reply.status,
            "psp HTTP error status"
        );
        return Err(CallError::HttpStatus(reply.status));
    }
    if reply.body.len() > MAX_REPLY_BYTES {
        return Err(CallError::Malformed(format!(
            "reply larger than {MAX_REPLY_BYTES} bytes"
        )));
    }
    Ok(reply.body)
}

/// Posts `request` to a page that answers with a redirect (the Alias Gateway) and returns the
/// `Location` of a `3xx` reply, never following it. Logs like [`post`]. A `2xx` (no redirect: a
/// transport that follows redirects, or a page) is [`CallError::Malformed`]; any other status,
/// or a `3xx` without a usable `Location`, is [`CallError::HttpStatus`] /
/// [`CallError::Malformed`].
pub(crate) async fn post_for_redirect(
    transport: &dyn Transport,
    request: HttpRequest,
    provider: &'static str,
    operation: &'static str,
) -> Result<String, CallError> {
    let started = Instant::now();
    let result = transport.post(request).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(reply) => tracing::debug!(
            provider,
            operation,
            status = reply.status,
            elapsed_ms,
            "psp reply"
        ),
        Err(error) => tracing::warn!(provider, operation, %error, elapsed_ms, "psp call failed"),
    }
    let reply = result?;
    match reply.status {
        300..=399 => reply
            .location
            .filter(|l| !l.is_empty())
            .ok_or_else(|| CallError::Malformed("redirect without a Location".into())),
        200..=299 => Err(CallError::Malformed(
            "expected a redirect, got a page (does the transport follow redirects?)".into(),
        )),
        status => {
            tracing::warn!(provider, operation, status, "psp HTTP error status");
            Err(CallError::HttpStatus(status))
        }
    }
}

/// Reply bytes as text: UTF-8 when they are valid UTF-8, else ISO-8859-1 (Ogone declares
/// `iso-8859-1`, section 1.1; text that is not valid UTF-8 is read byte for byte).
pub(crate) fn decode_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    }
}

/// Parses a base URL: `http` or `https`, no query or fragment, path ending with `/`.
pub(crate) fn parse_base_url(base: &str) -> Result<Url, BaseUrlError> {
    let mut url = Url::parse(base).map_err(|e| BaseUrlError(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BaseUrlError(format!(
            "scheme {:?} is not http(s)",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(BaseUrlError("no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BaseUrlError("a base URL has no query or fragment".into()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `base` (from [`parse_base_url`]) with `relative` (no leading `/`) appended to its path.
pub(crate) fn endpoint(base: &Url, relative: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}{}", base.path(), relative.trim_start_matches('/'));
    url.set_path(&path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_sent_is_safe() {
        assert!(!CallError::NotSent("refused".into()).may_have_reached_provider());
        for e in [
            CallError::Timeout,
            CallError::HttpStatus(503),
            CallError::Malformed("x".into()),
            CallError::Interrupted("reset".into()),
            CallError::BadSeal("x".into()),
        ] {
            assert!(e.may_have_reached_provider(), "{e}");
        }
    }

    #[test]
    fn base_urls() {
        let b = parse_base_url("http://127.0.0.1:8091/ncol/test").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:8091/ncol/test/");
        assert_eq!(
            endpoint(&b, "orderdirect_utf8.asp").as_str(),
            "http://127.0.0.1:8091/ncol/test/orderdirect_utf8.asp"
        );
        let b = parse_base_url("https://sim.example/psp-sim/").unwrap();
        assert_eq!(
            endpoint(&b, "/rs-services/v2/paymentInit").as_str(),
            "https://sim.example/psp-sim/rs-services/v2/paymentInit"
        );
        let b = parse_base_url("http://h:1").unwrap();
        assert_eq!(
            endpoint(&b, "rs-services/v2/cashManagement/refund").as_str(),
            "http://h:1/rs-services/v2/cashManagement/refund"
        );
        for bad in [
            "",
            "not a url",
            "ftp://h/",
            "http://h/?x=1",
            "http://h/#f",
            "mailto:a@b",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_decoding() {
        assert_eq!(decode_text("réf".as_bytes().to_vec()), "réf");
        assert_eq!(decode_text(vec![b'r', 0xE9, b'f']), "réf");
    }

    #[test]
    fn debug_never_shows_bodies() {
        let req = HttpRequest {
            url: Url::parse("http://h/x").unwrap(),
            content_type: "application/x-www-form-urlencoded",
            accept: "*/*",
            body: b"PSWD=secret-password".to_vec(),
            timeout: Duration::from_secs(1),
        };
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("secret-password") && dbg.contains("body_len: 20"));
        let reply = HttpReply {
            status: 200,
            content_type: None,
            body: b"<ncresponse ALIAS=\"secret-alias\"/>".to_vec(),
            location: Some("https://guichet.example/accept?ALIAS=secret-alias".into()),
        };
        assert!(!format!("{reply:?}").contains("secret-alias"));
    }
}

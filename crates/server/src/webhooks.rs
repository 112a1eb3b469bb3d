//! Shop webhooks (API.md, DESIGN.md "Security"): the signature, the event body, the delivery
//! worker, the back-office endpoints that configure a shop's endpoint and list its events, and
//! the demo's receiver page.
//!
//! Delivery is at least once: an event is claimed under a lease, POSTed, then recorded as
//! delivered (any 2xx) or retried with exponential back-off, at most [`MAX_ATTEMPTS`] times. A
//! shop de-duplicates on the event's `id` (also sent as `Guichet-Event-Id`).
//!
//! Invariants: the endpoint secret is read from the store only to sign and is never logged nor
//! returned, except once when Guichet generates it; every batch, queue and retry has a bound.

use crate::AppState;
use crate::auth::{self, Staff};
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use base64::Engine as _;
use guichet_store::{DynStore, Secret, StoreError, WebhookEndpoint, WebhookEvent};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA-256>`.
pub const SIGNATURE_HEADER: &str = "Guichet-Signature";
/// The header repeating the event's id, to de-duplicate without parsing the body.
pub const EVENT_ID_HEADER: &str = "Guichet-Event-Id";
/// A receiver refuses a signature older (or further in the future) than this: it bounds how
/// long a captured delivery can be replayed.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;
/// Events claimed per batch.
pub const BATCH_SIZE: u32 = 50;
/// How long a claimed event is kept from other workers. Larger than [`DELIVERY_TIMEOUT`] plus
/// the bookkeeping, since a batch is sent concurrently.
pub const LEASE_SECONDS: u32 = 60;
/// One delivery attempt may take this long, connection included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts before an event is given up (status `failed`).
pub const MAX_ATTEMPTS: i32 = 10;
/// Back-off after the first failure; doubles with every failure, up to [`BACKOFF_MAX_SECONDS`].
pub const BACKOFF_BASE_SECONDS: i64 = 30;
pub const BACKOFF_MAX_SECONDS: i64 = 3600;
/// Prefix of the secrets Guichet generates.
pub const SECRET_PREFIX: &str = "whsec_";
/// Recorded when an event's shop has no endpoint: the event fails at once, since nothing
/// would ever receive it.
pub const NO_ENDPOINT_ERROR: &str = "no webhook endpoint is configured for this shop key";

const URL_MAX_CHARS: usize = 2048;
const SECRET_MIN_CHARS: usize = 16;
const SECRET_MAX_CHARS: usize = 256;

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------- signature

/// Why a `Guichet-Signature` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    #[error("the signature timestamp is in the future")]
    FromTheFuture,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Guichet-Signature` header value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<lowercase hex HMAC-SHA-256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a `Guichet-Signature` header as a shop should: the timestamp within
/// `tolerance_seconds` of `now_unix` either way, and one `v1` matching, compared in constant
/// time. Several `v1` are accepted (a sender rotating its secret may send both).
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    if header.len() > 1024 {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                // Digits only: the sender writes `i64::to_string` of a positive time, and
                // anything else (`+…`, leading zeros, spaces) is not what was signed.
                if value.is_empty()
                    || value.len() > 19
                    || !value.bytes().all(|b| b.is_ascii_digit())
                    || (value.len() > 1 && value.starts_with('0'))
                {
                    return Err(SignatureError::Malformed);
                }
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => {
                if value.len() != 64 {
                    return Err(SignatureError::Malformed);
                }
                tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            // Other schemes may come later; a receiver ignores what it does not know.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age = now_unix.saturating_sub(timestamp);
    if age > tolerance_seconds {
        return Err(SignatureError::Expired);
    }
    if age < -tolerance_seconds {
        return Err(SignatureError::FromTheFuture);
    }
    let expected = mac(secret, timestamp, body);
    if tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The JSON body of an event, as stored in `webhook_events.payload` and sent as is:
/// `{"id", "type", "created_at" (RFC 3339, UTC), "data"}`.
pub fn event_body(
    event_id: Uuid,
    event_type: &str,
    created_at: OffsetDateTime,
    data: serde_json::Value,
) -> String {
    let created_at = created_at.to_offset(time::UtcOffset::UTC);
    let created_at = created_at
        .format(&Rfc3339)
        // Only years outside 0..=9999 fail; no event is created then.
        .unwrap_or_else(|_| created_at.unix_timestamp().to_string());
    serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": created_at,
        "data": data,
    })
    .to_string()
}

/// A secret of 256 random bits: `whsec_` + URL-safe base64.
pub fn generate_secret() -> Result<String, ApiError> {
    auth::random_token(SECRET_PREFIX)
}

// ---------------------------------------------------------------- delivery

/// What one [`deliver_due`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub claimed: u32,
    pub delivered: u32,
    /// Failed this time, scheduled again.
    pub retrying: u32,
    /// Given up: no endpoint, or [`MAX_ATTEMPTS`] reached.
    pub failed: u32,
    /// Attempts whose outcome could not be recorded (the lease sends them again later).
    pub errors: u32,
}

/// Wait before attempt `attempts + 1`, after `attempts` failed ones: 30 s, 60 s, 120 s, … up
/// to one hour.
pub fn backoff(attempts: i32) -> time::Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let seconds = BACKOFF_BASE_SECONDS
        .saturating_mul(1_i64 << exponent)
        .min(BACKOFF_MAX_SECONDS);
    time::Duration::seconds(seconds)
}

/// The client the worker sends with: no redirects (a shop endpoint answers itself; following
/// a redirect would send the signed body somewhere else), bounded time.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    crate::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DELIVERY_TIMEOUT)
        .timeout(DELIVERY_TIMEOUT)
        .user_agent(concat!("Guichet-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

enum Outcome {
    /// Sent and acknowledged; recorded with the rest of the batch's deliveries.
    Delivered(Uuid),
    Retrying,
    Failed,
}

/// Claims up to [`BATCH_SIZE`] events due at `now` and delivers them concurrently (so the
/// batch ends within [`DELIVERY_TIMEOUT`], well inside its lease). `now` schedules retries;
/// signatures carry the wall-clock time of sending, which is what receivers check.
pub async fn deliver_due(
    store: &DynStore,
    client: &reqwest::Client,
    now: OffsetDateTime,
) -> Result<DeliveryStats, StoreError> {
    let events = store.claim_webhooks(now, LEASE_SECONDS, BATCH_SIZE).await?;
    let mut stats = DeliveryStats {
        claimed: u32::try_from(events.len()).unwrap_or(u32::MAX),
        ..DeliveryStats::default()
    };
    if events.is_empty() {
        return Ok(stats);
    }
    // One endpoint read per shop per batch.
    let mut endpoints: HashMap<Uuid, Result<Option<Arc<WebhookEndpoint>>, String>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for event in events {
        let endpoint = match endpoints.get(&event.shop_key_id) {
            Some(found) => found.clone(),
            None => {
                let found = match store.shop_webhook(event.shop_key_id).await {
                    Ok(endpoint) => Ok(endpoint.map(Arc::new)),
                    Err(StoreError::NotFound(_)) => Ok(None),
                    Err(e) => {
                        tracing::error!(shop_key = %event.shop_key_id, error = %e,
                            "webhook endpoint could not be read");
                        Err("the webhook endpoint could not be read".to_owned())
                    }
                };
                endpoints.insert(event.shop_key_id, found.clone());
                found
            }
        };
        let store = store.clone();
        let client = client.clone();
        tasks.spawn(async move { attempt(&store, &client, event, endpoint, now).await });
    }
    let mut delivered = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let outcome = match joined {
            Ok(Ok(Outcome::Delivered(id))) => {
                delivered.push(id);
                stats.delivered += 1;
                "delivered"
            }
            Ok(Ok(Outcome::Retrying)) => {
                stats.retrying += 1;
                "retrying"
            }
            Ok(Ok(Outcome::Failed)) => {
                stats.failed += 1;
                "failed"
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "webhook attempt could not be recorded");
                stats.errors += 1;
                "error"
            }
            Err(e) => {
                tracing::error!(error = %e, "webhook delivery task ended abnormally");
                stats.errors += 1;
                "error"
            }
        };
        metrics::counter!("guichet_webhook_attempts_total", "outcome" => outcome).increment(1);
    }
    // One write for the batch's deliveries rather than one each: the job runner's writes do
    // not queue in bursts before the buyers' on SQLite's single writer. Unrecorded, they are
    // sent again when their lease ends (receivers dedupe by event id).
    if let Err(e) = store.webhooks_delivered(&delivered).await {
        tracing::error!(error = %e, events = delivered.len(), "webhook deliveries could not be recorded");
        stats.errors += u32::try_from(delivered.len()).unwrap_or(u32::MAX);
        stats.delivered = stats
            .delivered
            .saturating_sub(u32::try_from(delivered.len()).unwrap_or(u32::MAX));
    }
    Ok(stats)
}

async fn attempt(
    store: &DynStore,
    client: &reqwest::Client,
    event: WebhookEvent,
    endpoint: Result<Option<Arc<WebhookEndpoint>>, String>,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let error = match endpoint {
        Ok(None) => {
            tracing::warn!(event = %event.id, shop_key = %event.shop_key_id, "webhook event failed: no endpoint");
            store
                .webhook_attempted(event.id, false, Some(NO_ENDPOINT_ERROR), None)
                .await?;
            return Ok(Outcome::Failed);
        }
        Ok(Some(endpoint)) => match send(client, &endpoint, &event).await {
            Ok(()) => {
                tracing::info!(event = %event.id, r#type = %event.event_type,
                    attempts = event.attempts, "webhook delivered");
                return Ok(Outcome::Delivered(event.id));
            }
            Err(error) => error,
        },
        Err(error) => error,
    };
    if event.attempts >= MAX_ATTEMPTS {
        tracing::warn!(event = %event.id, attempts = event.attempts, error = %error,
            "webhook given up");
        store
            .webhook_attempted(event.id, false, Some(&error), None)
            .await?;
        Ok(Outcome::Failed)
    } else {
        let next = now + backoff(event.attempts);
        tracing::info!(event = %event.id, attempts = event.attempts, error = %error,
            next_attempt_at = %next, "webhook attempt failed; will retry");
        store
            .webhook_attempted(event.id, false, Some(&error), Some(next))
            .await?;
        Ok(Outcome::Retrying)
    }
}

/// One POST. The error is safe to store and log: no secret, no URL (a shop may put a token in
/// its URL).
async fn send(
    client: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    event: &WebhookEvent,
) -> Result<(), String> {
    let body = event.payload.as_bytes();
    let signature = sign(
        endpoint.secret.expose(),
        OffsetDateTime::now_utc().unix_timestamp(),
        body,
    );
    let response = client
        .post(&endpoint.url)
        .timeout(DELIVERY_TIMEOUT)
        .header(header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_ID_HEADER, event.id.to_string())
        .body(event.payload.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect to the endpoint".to_owned()
            } else if e.is_builder() {
                "the endpoint URL cannot be used".to_owned()
            } else {
                format!("request failed: {}", e.without_url())
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered HTTP {}", status.as_u16()))
    }
}

/// Runs [`deliver_due`] every `interval` (one bounded batch per tick) until the task is
/// aborted. Errors are logged; the loop goes on.
pub fn spawn_worker(store: DynStore, interval: Duration) -> tokio::task::JoinHandle<()> {
    // tokio's interval refuses zero.
    let interval = interval.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let client = match http_client() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "webhook worker not started: no HTTP client");
                return;
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match deliver_due(&store, &client, OffsetDateTime::now_utc()).await {
                Ok(stats) if stats.claimed > 0 => {
                    tracing::info!(
                        claimed = stats.claimed,
                        delivered = stats.delivered,
                        retrying = stats.retrying,
                        failed = stats.failed,
                        errors = stats.errors,
                        "webhook batch"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "webhook batch could not be claimed"),
            }
        }
    })
}

// ---------------------------------------------------------------- back office

#[derive(Deserialize, ToSchema)]
pub struct PutWebhookRequest {
    /// Where events are POSTed: an absolute `https://` (or `http://`) URL.
    #[schema(example = "https://shop.example/guichet/webhooks")]
    pub url: Option<String>,
    /// The signing secret (16 to 256 printable characters). Omit it to have Guichet generate
    /// one, returned once in the response.
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointJson {
    pub shop_key_id: Uuid,
    pub url: String,
    /// Present only in the answer to a `PUT` that generated it: it is shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An endpoint URL: absolute http(s), with a host, no credentials, of bounded length.
pub fn parse_endpoint_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("is required".to_owned());
    }
    if raw.chars().count() > URL_MAX_CHARS {
        return Err(format!("must be at most {URL_MAX_CHARS} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must start with https:// or http://".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#…)".to_owned());
    }
    Ok(url.to_string())
}

/// A secret given by the admin.
pub fn parse_secret(raw: &str) -> Result<String, String> {
    let n = raw.chars().count();
    if !(SECRET_MIN_CHARS..=SECRET_MAX_CHARS).contains(&n)
        || !raw.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(format!(
            "must be {SECRET_MIN_CHARS} to {SECRET_MAX_CHARS} printable ASCII characters without spaces"
        ));
    }
    Ok(raw.to_owned())
}

#[utoipa::path(put, path = "/api/v1/admin/shop-keys/{id}/webhook", tag = "back office",
    request_body = PutWebhookRequest,
    responses((status = 200, body = WebhookEndpointJson), (status = 403), (status = 404),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_endpoint(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PutWebhookRequest>,
) -> ApiResult<Json<WebhookEndpointJson>> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let url = f
        .required("url", req.url)
        .and_then(|u| f.check("url", parse_endpoint_url(&u)));
    let given = match req.secret {
        Some(s) => f.check("secret", parse_secret(&s)),
        None => None,
    };
    f.finish()?;
    let Some(url) = url else {
        return Err(ApiError::internal());
    };
    let (secret, generated) = match given {
        Some(s) => (s, false),
        None => (generate_secret()?, true),
    };
    let endpoint = WebhookEndpoint {
        url: url.clone(),
        secret: Secret::new(secret.clone()),
    };
    state.store.set_shop_webhook(id, Some(&endpoint)).await?;
    tracing::info!(shop_key = %id, by = %staff.user.username, "webhook endpoint set");
    Ok(Json(WebhookEndpointJson {
        shop_key_id: id,
        url,
        secret: generated.then_some(secret),
    }))
}

#[utoipa::path(get, path = "/api/v1/admin/shop-keys/{id}/webhook", tag = "back office",
    responses((status = 200, body = WebhookEndpointJson), (status = 403),
        (status = 404, description = "no such shop key, or no endpoint configured")),
    security(("bearer" = [])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WebhookEndpointJson>> {
    staff.require_admin()?;
    let endpoint = state
        .store
        .shop_webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(Json(WebhookEndpointJson {
        shop_key_id: id,
        url: endpoint.url,
        secret: None,
    }))
}

#[utoipa::path(delete, path = "/api/v1/admin/shop-keys/{id}/webhook", tag = "back office",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    state.store.set_shop_webhook(id, None).await?;
    tracing::info!(shop_key = %id, by = %staff.user.username, "webhook endpoint removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `?shop_key_id=…&limit=…` (limit 1 to 500, default 100).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WebhookEventFilter {
    pub shop_key_id: Option<Uuid>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEventJson {
    pub id: Uuid,
    pub shop_key_id: Uuid,
    /// e.g. `order.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far (claimed for sending).
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The body sent to the shop.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl WebhookEventJson {
    fn new(event: WebhookEvent, status: String) -> Self {
        let payload = serde_json::from_str(&event.payload)
            .unwrap_or(serde_json::Value::String(event.payload));
        Self {
            id: event.id,
            shop_key_id: event.shop_key_id,
            event_type: event.event_type,
            status,
            attempts: event.attempts,
            created_at: event.created_at,
            payload,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/webhook-events", tag = "back office",
    params(WebhookEventFilter),
    responses((status = 200, body = [WebhookEventJson]), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(filter): ApiQuery<WebhookEventFilter>,
) -> ApiResult<Json<Vec<WebhookEventJson>>> {
    staff.require_admin()?;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        let mut f = Fields::new();
        f.add("limit", "must be between 1 and 500");
        f.finish()?;
    }
    let events = state
        .store
        .list_webhook_events(filter.shop_key_id, limit)
        .await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(event, status)| WebhookEventJson::new(event, status))
            .collect(),
    ))
}

// ---------------------------------------------------------------- demo receiver

/// Deliveries the demo receiver keeps (the oldest go first).
pub const DEMO_RECEIVED_MAX: usize = 100;
/// Bytes of a body the demo receiver keeps.
const DEMO_BODY_MAX_BYTES: usize = 16 * 1024;

/// One delivery as the demo shop received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub received_at: OffsetDateTime,
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub signature_valid: bool,
    /// The body (cut at [`DEMO_BODY_MAX_BYTES`]).
    pub body: String,
}

/// Event ids the demo receiver remembers to recognise a delivery it already processed (the
/// oldest are forgotten first). A shop keeps them in its database, as long as Guichet may
/// retry (hours): see [`demo_receive`].
pub const DEMO_SEEN_MAX: usize = 10_000;

/// The demo's stand-in for a shop: accepts deliveries at `/demo/webhook-receiver`, checks their
/// signature with its secret, processes each event id once, and keeps the last
/// [`DEMO_RECEIVED_MAX`] deliveries in memory.
#[derive(Clone)]
pub struct DemoReceiver {
    secret: Arc<Secret>,
    received: Arc<Mutex<VecDeque<Received>>>,
    seen: Arc<Mutex<SeenIds>>,
}

/// The event ids already processed, bounded: a set for the lookup, a queue for the order.
#[derive(Default)]
struct SeenIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
    duplicates: u64,
}

impl SeenIds {
    /// Marks `id` processed; false when it already was (then counted as a duplicate).
    fn first_time(&mut self, id: &str) -> bool {
        // Guichet's ids are UUIDs; a longer one is kept by its digest, so memory stays bounded.
        let id = if id.len() <= 64 {
            id.to_owned()
        } else {
            format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
        };
        if self.ids.contains(&id) {
            self.duplicates += 1;
            return false;
        }
        while self.order.len() >= DEMO_SEEN_MAX {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.ids.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

impl DemoReceiver {
    /// Path of the receiver (POST deliveries, GET the page).
    pub const PATH: &'static str = "/demo/webhook-receiver";

    pub fn new(secret: Secret) -> Self {
        Self {
            secret: Arc::new(secret),
            received: Arc::new(Mutex::new(VecDeque::with_capacity(DEMO_RECEIVED_MAX))),
            seen: Arc::new(Mutex::new(SeenIds::default())),
        }
    }

    /// Authenticated deliveries of an event already processed (acknowledged, not recorded).
    pub fn duplicates(&self) -> u64 {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .duplicates
    }

    /// Whether the event `id` is seen for the first time (and remembers it).
    fn first_time(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_time(id)
    }

    /// A receiver with a fresh random secret.
    pub fn with_random_secret() -> Result<Self, ApiError> {
        Ok(Self::new(Secret::new(generate_secret()?)))
    }

    /// The secret to configure on the demo shop key's endpoint.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// What was received, newest first.
    pub fn received(&self) -> Vec<Received> {
        let list = self
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        list.iter().rev().cloned().collect()
    }

    fn record(&self, received: Received) {
        let mut list = self
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while list.len() >= DEMO_RECEIVED_MAX {
            list.pop_front();
        }
        list.push_back(received);
    }
}

/// The receiver's routes, to merge into the app when the demo runs.
pub fn demo_routes(receiver: DemoReceiver) -> Router<AppState> {
    Router::new()
        .route(DemoReceiver::PATH, get(demo_page).post(demo_receive))
        .with_state(receiver)
}

/// What a shop's endpoint should do, as a reference:
///
/// 1. Verify `Guichet-Signature` over the raw body ([`verify`]: HMAC-SHA-256 compared in
///    constant time, timestamp within [`DEFAULT_TOLERANCE_SECONDS`] either way). A delivery that
///    fails is answered 400, logged, and not processed (Guichet retries a genuine one).
/// 2. Take the event id from the **signed body** (`id`), never from the unsigned
///    `Guichet-Event-Id` header, and process each id once. Delivery is at least once: the same
///    event comes again when an earlier answer was lost, or when someone replays a captured
///    delivery within the tolerance. A second delivery of a processed id is acknowledged with
///    200 (`"duplicate": true`) so that Guichet stops retrying, and changes nothing. Refusing
///    it instead would make Guichet retry an event the shop already has until it gives up.
/// 3. Answer 2xx only once the event is stored.
async fn demo_receive(
    State(receiver): State<DemoReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let checked = verify(
        receiver.secret.expose(),
        signature,
        &body,
        now.unix_timestamp(),
        DEFAULT_TOLERANCE_SECONDS,
    );
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(serde_json::Value::as_str)
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let event_id = field("id").or_else(|| {
        headers
            .get(EVENT_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect())
    });
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if text.len() > DEMO_BODY_MAX_BYTES {
        let mut cut = DEMO_BODY_MAX_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (cut)");
    }
    if let Err(e) = &checked {
        tracing::warn!(error = %e, event = event_id.as_deref().unwrap_or("?"),
            "demo webhook receiver: delivery rejected");
    } else if let Some(id) = parsed
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(serde_json::Value::as_str)
        && !receiver.first_time(id)
    {
        tracing::info!(event = %id, "demo webhook receiver: duplicate delivery acknowledged, not processed again");
        return (
            StatusCode::OK,
            Json(serde_json::json!({"received": true, "duplicate": true})),
        )
            .into_response();
    }
    receiver.record(Received {
        received_at: now,
        event_type: field("type"),
        event_id,
        signature_valid: checked.is_ok(),
        body: text,
    });
    match checked {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"received": true}))).into_response(),
        // A shop refuses what it cannot authenticate; Guichet will retry.
        Err(e) => ApiError::bad_request(e.to_string()).into_response(),
    }
}

const DEMO_STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}pre{margin:0;white-space:pre-wrap;word-break:break-all}.yes{color:#060}.no{color:#b00;font-weight:bold}";

/// The page's Content-Security-Policy: nothing but its own style block, allowed by hash.
fn demo_csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(DEMO_STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn demo_page(State(receiver): State<DemoReceiver>) -> Response {
    let received = receiver.received();
    let mut html = String::new();
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"5\">");
    html.push_str("<title>Webhooks received by the demo shop</title>");
    let _ = write!(html, "<style>{DEMO_STYLE}</style></head><body>");
    html.push_str("<h1>Webhooks received by the demo shop</h1>");
    let _ = write!(
        html,
        "<p>The last {DEMO_RECEIVED_MAX} deliveries to <code>{}</code>, newest first. The page refreshes every 5 seconds.</p>",
        DemoReceiver::PATH
    );
    let duplicates = receiver.duplicates();
    if duplicates > 0 {
        let _ = write!(
            html,
            "<p>{duplicates} repeated deliveries of events already received were acknowledged and not processed again.</p>"
        );
    }
    if received.is_empty() {
        html.push_str("<p>Nothing received yet.</p>");
    } else {
        html.push_str("<table><thead><tr><th>Received at (UTC)</th><th>Type</th><th>Event id</th><th>Signature valid</th><th>Body</th></tr></thead><tbody>");
        for r in &received {
            let at = r
                .received_at
                .format(&Rfc3339)
                .unwrap_or_else(|_| r.received_at.unix_timestamp().to_string());
            let body = serde_json::from_str::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| r.body.clone());
            let (class, valid) = if r.signature_valid {
                ("yes", "yes")
            } else {
                ("no", "no")
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{valid}</td><td><pre>{}</pre></td></tr>",
                escape_html(&at),
                escape_html(r.event_type.as_deref().unwrap_or("?")),
                escape_html(r.event_id.as_deref().unwrap_or("?")),
                escape_html(&body),
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</body></html>");
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(demo_csp()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test-secret";
    const BODY: &[u8] = br#"{"id":"e1","type":"order.paid"}"#;

    #[test]
    fn the_client_can_speak_https() {
        // reqwest is built without a default crypto provider: this fails if none is installed.
        assert!(http_client().is_ok());
        assert!(http_client().is_ok(), "installing twice is harmless");
    }
    const T: i64 = 1_767_225_600;

    #[test]
    fn sign_has_the_documented_form() {
        let header = sign(SECRET, T, BODY);
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, format!("t={T}"));
        let hex = v1.strip_prefix("v1=").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        // Independent computation over "<t>.<body>".
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{T}.").as_bytes());
        mac.update(BODY);
        assert_eq!(hex, hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn known_vector() {
        // Computed independently: printf '1767225600.{"id":"evt_1","type":"order.paid"}' |
        // openssl dgst -sha256 -hmac whsec_example
        let body = br#"{"id":"evt_1","type":"order.paid"}"#;
        let header = sign("whsec_example", 1_767_225_600, body);
        assert_eq!(
            header,
            "t=1767225600,v1=349c923c7d3b3125d865570840a791514faa697f4e2be3b3ebbd72df2148232f"
        );
        assert_eq!(
            verify("whsec_example", &header, body, 1_767_225_600, 300),
            Ok(())
        );
    }

    #[test]
    fn round_trip() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &header, BODY, T, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, T + 300, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, T - 300, 300), Ok(()));
        assert_eq!(verify(SECRET, &format!(" {header} "), BODY, T, 300), Ok(()));
    }

    #[test]
    fn a_flipped_body_byte_is_rejected() {
        let header = sign(SECRET, T, BODY);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                verify(SECRET, &header, &body, T, 300),
                Err(SignatureError::Mismatch),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_flipped_signature_is_rejected() {
        let header = sign(SECRET, T, BODY);
        let hex_start = header.find("v1=").unwrap() + 3;
        for i in hex_start..header.len() {
            let mut bytes = header.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let flipped = String::from_utf8(bytes).unwrap();
            assert_eq!(
                verify(SECRET, &flipped, BODY, T, 300),
                Err(SignatureError::Mismatch),
                "{flipped}"
            );
        }
        assert_eq!(
            verify("another secret", &header, BODY, T, 300),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too.
        let moved = header.replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
        assert_eq!(
            verify(SECRET, &moved, BODY, T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_and_future_timestamps_are_rejected() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, T + 301, DEFAULT_TOLERANCE_SECONDS),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, T - 301, DEFAULT_TOLERANCE_SECONDS),
            Err(SignatureError::FromTheFuture)
        );
        let far = sign(SECRET, 0, BODY);
        assert_eq!(
            verify(SECRET, &far, BODY, T, 300),
            Err(SignatureError::Expired)
        );
        // A negative time is not one a sender writes.
        let negative = sign(SECRET, i64::MIN, BODY);
        assert_eq!(
            verify(SECRET, &negative, BODY, T, 300),
            Err(SignatureError::Malformed)
        );
        let far = sign(SECRET, i64::MAX, BODY);
        assert_eq!(
            verify(SECRET, &far, BODY, T, 300),
            Err(SignatureError::FromTheFuture)
        );
    }

    #[test]
    fn missing_and_garbled_headers_are_rejected() {
        let good = sign(SECRET, T, BODY);
        let v1 = good.split_once(',').unwrap().1;
        let long = "x".repeat(2000);
        let cases: &[(&str, SignatureError)] = &[
            ("", SignatureError::Missing),
            ("   ", SignatureError::Missing),
            ("garbage", SignatureError::Malformed),
            (v1, SignatureError::Malformed),
            ("t=1767225600", SignatureError::Malformed),
            ("t=abc,v1=00", SignatureError::Malformed),
            ("t=1767225600,v1=zz", SignatureError::Malformed),
            ("t=1767225600,v1=", SignatureError::Malformed),
            (&long, SignatureError::Malformed),
        ];
        for (header, expected) in cases {
            assert_eq!(
                verify(SECRET, header, BODY, T, 300).as_ref(),
                Err(expected),
                "{header:?}"
            );
        }
        let twice = format!("t={T},{good}");
        assert_eq!(
            verify(SECRET, &twice, BODY, T, 300),
            Err(SignatureError::Malformed)
        );
        let non_hex = format!("t={T},v1={}", "g".repeat(64));
        assert_eq!(
            verify(SECRET, &non_hex, BODY, T, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn every_flipped_header_byte_is_rejected() {
        // Any byte of the header, the `t=`, `,` and `v1=` included, flipped in its low bit.
        let header = sign(SECRET, T, BODY);
        for i in 0..header.len() {
            let mut bytes = header.clone().into_bytes();
            bytes[i] ^= 0x01;
            let flipped = String::from_utf8(bytes).unwrap();
            let got = verify(SECRET, &flipped, BODY, T, DEFAULT_TOLERANCE_SECONDS);
            assert!(got.is_err(), "byte {i}: {flipped:?} accepted");
        }
        // Not what was signed, though it would parse as the same number.
        for t in [
            format!("+{T}"),
            format!("0{T}"),
            format!(" {T}"),
            String::new(),
        ] {
            let v1 = header.split_once(',').unwrap().1;
            assert_eq!(
                verify(SECRET, &format!("t={t},{v1}"), BODY, T, 300),
                Err(SignatureError::Malformed),
                "t={t}"
            );
        }
    }

    #[test]
    fn the_demo_receiver_remembers_a_bounded_number_of_ids() {
        let mut seen = SeenIds::default();
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert_eq!(seen.duplicates, 1);
        let long = "x".repeat(1000);
        assert!(seen.first_time(&long));
        assert!(!seen.first_time(&long));
        for i in 0..DEMO_SEEN_MAX {
            assert!(seen.first_time(&i.to_string()));
        }
        assert_eq!(seen.ids.len(), DEMO_SEEN_MAX);
        assert_eq!(seen.order.len(), DEMO_SEEN_MAX);
        // The oldest were forgotten, the newest are still known.
        assert!(seen.first_time("a"));
        assert!(!seen.first_time(&(DEMO_SEEN_MAX - 1).to_string()));
    }

    #[test]
    fn any_matching_v1_is_accepted_and_unknown_schemes_ignored() {
        let good = sign(SECRET, T, BODY);
        let v1 = good.split_once(',').unwrap().1;
        let rotated = format!("t={T},v1={},{v1},v0=legacy", "0".repeat(64));
        assert_eq!(verify(SECRET, &rotated, BODY, T, 300), Ok(()));
    }

    #[test]
    fn event_bodies_carry_id_type_time_and_data() {
        let id = Uuid::now_v7();
        let at = time::macros::datetime!(2026-01-02 03:04:05 +01:00);
        let body = event_body(id, "order.paid", at, serde_json::json!({"order_id": "o1"}));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], id.to_string());
        assert_eq!(v["type"], "order.paid");
        assert_eq!(v["created_at"], "2026-01-02T02:04:05Z");
        assert_eq!(v["data"]["order_id"], "o1");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let seconds: Vec<i64> = (1..=MAX_ATTEMPTS)
            .map(|n| backoff(n).whole_seconds())
            .collect();
        assert_eq!(
            seconds,
            [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
        assert_eq!(backoff(0).whole_seconds(), 30);
        assert_eq!(backoff(i32::MAX).whole_seconds(), 3600);
    }

    #[test]
    fn endpoint_urls_and_secrets() {
        assert_eq!(
            parse_endpoint_url(" https://shop.example/hooks?x=1 ").as_deref(),
            Ok("https://shop.example/hooks?x=1")
        );
        assert!(parse_endpoint_url("http://127.0.0.1:8080/h").is_ok());
        for bad in [
            "",
            "shop.example/hooks",
            "ftp://shop.example/",
            "javascript:alert(1)",
            "https://user:pw@shop.example/",
            "https://shop.example/#frag",
            "http://",
        ] {
            assert!(parse_endpoint_url(bad).is_err(), "{bad}");
        }
        assert!(parse_endpoint_url(&format!("https://a.example/{}", "a".repeat(3000))).is_err());
        assert!(parse_secret("0123456789abcdef").is_ok());
        assert!(parse_secret("short").is_err());
        assert!(parse_secret("has a space in it!").is_err());
        let generated = generate_secret().unwrap();
        assert!(generated.starts_with(SECRET_PREFIX));
        assert_eq!(generated.len(), SECRET_PREFIX.len() + 43, "256 bits");
        assert!(parse_secret(&generated).is_ok());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn the_demo_receiver_keeps_the_last_hundred() {
        let receiver = DemoReceiver::new(Secret::new("s"));
        for i in 0..150 {
            receiver.record(Received {
                received_at: OffsetDateTime::UNIX_EPOCH,
                event_type: None,
                event_id: Some(i.to_string()),
                signature_valid: true,
                body: String::new(),
            });
        }
        let list = receiver.received();
        assert_eq!(list.len(), DEMO_RECEIVED_MAX);
        assert_eq!(list[0].event_id.as_deref(), Some("149"));
        assert_eq!(list[99].event_id.as_deref(), Some("50"));
    }
}

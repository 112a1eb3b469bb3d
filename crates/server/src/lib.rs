//! Guichet's HTTP surface. Only this crate knows HTTP and JSON: handlers parse requests into
//! domain types at the edge ("parse, don't validate"), call the store, and convert rows into
//! their own response types. Every error leaves as the JSON shape of [`error::ApiError`].

pub mod account;
pub mod admin;
pub mod auth;
pub mod cards;
pub mod checkout;
pub mod checkout_api;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod installments;
pub mod jobs;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod provider_routes;
pub mod psp;
pub mod shop;
pub mod telemetry;
pub mod webhooks;

/// Where a request's time goes: the `Server-Timing` header of every response says how long
/// Guichet spent (`app`) and how long it waited for a payment provider (`provider`), in
/// milliseconds, so a load test can tell Guichet's own time from the provider's.
pub mod timing {
    use axum::extract::Request;
    use axum::http::HeaderValue;
    use axum::middleware::Next;
    use axum::response::Response;
    use std::cell::Cell;
    use std::time::Instant;

    tokio::task_local! {
        static PROVIDER_MICROS: Cell<u64>;
    }

    /// Awaits `call` (a provider call), counting its time as the provider's.
    pub async fn provider<F: std::future::Future>(call: F) -> F::Output {
        let started = Instant::now();
        let out = call.await;
        let spent = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        // Outside a request (the job runner) there is nothing to count into.
        let _ = PROVIDER_MICROS.try_with(|c| c.set(c.get().saturating_add(spent)));
        out
    }

    /// The middleware adding `Server-Timing: app;dur=…, provider;dur=…`.
    pub async fn layer(req: Request, next: Next) -> Response {
        let started = Instant::now();
        PROVIDER_MICROS
            .scope(Cell::new(0), async move {
                let mut response = next.run(req).await;
                let total = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let provider = PROVIDER_MICROS.with(Cell::get);
                let app = total.saturating_sub(provider);
                // Milliseconds with three decimals, from whole microseconds.
                let value = format!(
                    "app;dur={}.{:03}, provider;dur={}.{:03}",
                    app / 1000,
                    app % 1000,
                    provider / 1000,
                    provider % 1000
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert("server-timing", v);
                }
                response
            })
            .await
    }
}

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use guichet_store::DynStore;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<ServerConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL buyers and shops reach Guichet at (links in responses).
    pub base_url: String,
    /// How long an unpaid order keeps its reservations (voucher, credit, promo uses).
    pub hold_minutes: u32,
    /// Codes a checkout may try per order, per client address, in 15 minutes…
    pub code_failures_per_order: u32,
    pub code_failures_per_ip: u32,
    /// … and per contact (all their orders).
    pub code_failures_per_contact: u32,
    /// Card payment attempts allowed per order, per contact and per client address in an hour
    /// (OWASP OAT-001 carding, OAT-010 card cracking); counted in the database, so they hold
    /// across instances, and checked before the provider is called.
    pub card_attempts_per_order: u32,
    pub card_attempts_per_contact: u32,
    pub card_attempts_per_ip: u32,
    /// The client for provider calls (DirectLink, Sips Office and Paypage init).
    pub provider_http: reqwest::Client,
    /// How long a provider call may take before its outcome counts as unknown.
    pub provider_timeout: Duration,
    /// Hours after a declined installment when it is tried again, one entry per retry; once
    /// they are spent the installment is flagged failed (`installment.failed`).
    pub installment_retry_hours: Vec<u32>,
}

impl ServerConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            hold_minutes: 20,
            code_failures_per_order: 10,
            code_failures_per_ip: 50,
            code_failures_per_contact: 20,
            card_attempts_per_order: 5,
            card_attempts_per_contact: 10,
            card_attempts_per_ip: 20,
            provider_http: provider_client(),
            provider_timeout: Duration::from_secs(30),
            installment_retry_hours: vec![24, 72, 168],
        }
    }

    /// The same configuration with another provider timeout (tests use short ones).
    pub fn with_provider_timeout(mut self, timeout: Duration) -> Self {
        self.provider_timeout = timeout;
        self
    }
}

/// Provider calls never follow redirects and never wait on a connection forever; the per-call
/// timeout is set by the connectors.
fn provider_client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent("guichet")
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Outgoing HTTPS (shop webhooks, providers) uses rustls with the *ring* provider, the one sqlx
/// already links (one crypto provider per binary); certificates are checked against the
/// system's trust store. Idempotent: the first call installs it.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Request bodies above this are refused before they are read.
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;
/// No request may hold a connection longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn router(state: AppState) -> Router {
    router_with_demo(state, None)
}

/// The router, with the demo's webhook receiver page when `receiver` is given (`guichet demo`).
pub fn router_with_demo(state: AppState, receiver: Option<webhooks::DemoReceiver>) -> Router {
    let api = Router::new()
        .nest("/api/v1/admin", admin::router())
        .nest("/api/v1", shop::router())
        .route("/api/openapi.json", get(openapi::serve));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(telemetry::metrics))
        .merge(api)
        .merge(provider_routes::router())
        .merge(pages::router())
        .merge(receiver.map(webhooks::demo_routes).unwrap_or_default())
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::internal().into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(timing::layer))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable"})),
            )
        }
    }
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

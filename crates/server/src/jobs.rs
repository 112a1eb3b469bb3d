//! The job runner (SPEC F15): recovers card payments and refunds whose provider outcome is not
//! known (asking the provider), charges due installments, expires orders whose reservations ran out (releasing them) and
//! delivers shop webhooks. Runs inside `serve` and as `guichet jobs`; every instance may run
//! it (claims and version checks keep instances from doing the same work twice).

use crate::AppState;
use crate::checkout;
use crate::webhooks;
use std::time::Duration;
use time::OffsetDateTime;

/// Orders expired per pass, at most.
pub const EXPIRY_BATCH: u32 = 100;
/// Due installments claimed at once by a runner.
pub const INSTALLMENT_BATCH: u32 = 50;
/// Pending card payments and refunds asked about per pass, at most.
pub const RECOVERY_BATCH: u32 = 100;
/// Webhook batches delivered per pass, at most.
pub const WEBHOOK_BATCHES_PER_PASS: usize = 40;
/// How long a finished idempotency key is replayed (API.md asks for at least 24 hours).
pub const IDEMPOTENCY_KEEP: time::Duration = time::Duration::hours(48);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Card payments and refunds settled by asking the provider.
    pub payments_recovered: usize,
    /// Due installments charged (captured or declined) with their saved card.
    pub installments_charged: usize,
    pub orders_expired: usize,
    pub webhooks: webhooks::DeliveryStats,
    pub idempotency_keys_purged: u64,
}

/// One pass of every job, with `now` as the clock.
pub async fn run_once(
    state: &AppState,
    client: &reqwest::Client,
    now: OffsetDateTime,
) -> JobReport {
    let mut report = JobReport {
        payments_recovered: crate::cards::recover_due(state, now, RECOVERY_BATCH).await,
        ..JobReport::default()
    };
    // Every due installment, batch after batch (each claimed by one runner only).
    loop {
        let n = crate::installments::charge_due(state, now, INSTALLMENT_BATCH).await;
        report.installments_charged += n;
        if n < INSTALLMENT_BATCH as usize {
            break;
        }
    }
    match checkout::expire_due(state, now, EXPIRY_BATCH).await {
        Ok(n) => report.orders_expired = n,
        Err(e) => tracing::error!(error = %e.message, "order expiry pass failed"),
    }
    // Batch after batch while full, so that delivery keeps up with the orders (one batch per
    // pass delivered at most 25 events a second), up to WEBHOOK_BATCHES_PER_PASS batches so
    // the other jobs still run.
    for _ in 0..WEBHOOK_BATCHES_PER_PASS {
        match webhooks::deliver_due(&state.store, client, now).await {
            Ok(stats) => {
                let w = &mut report.webhooks;
                w.claimed += stats.claimed;
                w.delivered += stats.delivered;
                w.retrying += stats.retrying;
                w.failed += stats.failed;
                w.errors += stats.errors;
                if stats.claimed < webhooks::BATCH_SIZE {
                    break;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "webhook pass failed");
                break;
            }
        }
    }
    match state
        .store
        .purge_idempotency_keys(now - IDEMPOTENCY_KEEP)
        .await
    {
        Ok(n) => report.idempotency_keys_purged = n,
        Err(e) => tracing::error!(error = %e, "idempotency key purge failed"),
    }
    report
}

/// Runs the jobs every `interval` until aborted.
pub fn spawn(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    let interval = interval.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let client = match webhooks::http_client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "job runner not started: no HTTP client");
                return;
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let r = run_once(&state, &client, OffsetDateTime::now_utc()).await;
            if r.orders_expired > 0
                || r.webhooks.claimed > 0
                || r.payments_recovered > 0
                || r.installments_charged > 0
            {
                tracing::info!(
                    payments_recovered = r.payments_recovered,
                    installments_charged = r.installments_charged,
                    orders_expired = r.orders_expired,
                    webhooks_delivered = r.webhooks.delivered,
                    webhooks_retrying = r.webhooks.retrying,
                    webhooks_failed = r.webhooks.failed,
                    "jobs pass"
                );
            }
        }
    })
}

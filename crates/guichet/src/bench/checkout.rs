//! `guichet bench checkout` and `guichet bench in-flight`.

use super::Common;
use super::procs::Env;
use super::seed::{self, PROMO_CODE, Seeded};
use super::stats::{Counts, Table, mib};
use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Args)]
pub struct CheckoutArgs {
    #[command(flatten)]
    common: Common,
    /// Checkouts running at once (one buyer, with its own address and saved card, each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run for this many seconds…
    #[arg(long, conflicts_with = "count")]
    duration: Option<u64>,
    /// … or this many checkouts (default 2,000).
    #[arg(long)]
    count: Option<u64>,
    /// At most this many checkouts started per second (default: as fast as they go).
    #[arg(long)]
    rate: Option<f64>,
    /// The simulator's latency on every provider call.
    #[arg(long, default_value_t = 0)]
    provider_latency_ms: u64,
    /// Gift vouchers seeded (one per checkout; default: the count, or 200 per second of
    /// duration).
    #[arg(long)]
    vouchers: Option<u64>,
    /// Run the server without its job runner (webhook delivery, expiry, recovery).
    #[arg(long)]
    no_jobs: bool,
}

/// One buyer of the load.
pub(super) struct Buyer {
    pub http: reqwest::Client,
    pub contact: Uuid,
    pub card: Uuid,
}

/// What one worker measured.
#[derive(Default)]
struct Measures {
    /// Client-side latency per call and per checkout.
    latency: Table,
    /// Guichet's own time per call (`Server-Timing: app`), provider time excluded.
    own: Table,
    /// Provider time per call (`Server-Timing: provider`).
    provider: Table,
    errors: Counts,
    done: u64,
}

/// A call's outcome: its JSON body, or the error kind.
async fn call(m: &mut Measures, name: &str, req: reqwest::RequestBuilder) -> Result<Value, String> {
    let started = Instant::now();
    let resp = req.send().await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Err(format!("{name}: transport ({})", transport_kind(&e))),
    };
    let status = resp.status();
    let timing = resp
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(parse_timing);
    let body = resp.bytes().await;
    let elapsed = started.elapsed();
    let body = body.map_err(|e| format!("{name}: reading ({})", transport_kind(&e)))?;
    m.latency.push(name, elapsed.as_micros() as u64);
    if let Some((app, provider)) = timing {
        m.own.push(name, app);
        m.provider.push(name, provider);
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "{name}: HTTP {} {}",
            status.as_u16(),
            json["error"]["code"].as_str().unwrap_or("")
        ));
    }
    Ok(json)
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// `app;dur=1.234, provider;dur=0.5` → microseconds of each.
fn parse_timing(v: &str) -> (u64, u64) {
    let mut app = 0.0;
    let mut provider = 0.0;
    for part in v.split(',') {
        let mut it = part.trim().split(";dur=");
        match (it.next(), it.next().and_then(|d| d.parse::<f64>().ok())) {
            (Some("app"), Some(d)) => app = d,
            (Some("provider"), Some(d)) => provider = d,
            _ => {}
        }
    }
    ((app * 1000.0) as u64, (provider * 1000.0) as u64)
}

/// One checkout: order, promo code, voucher (when one is left), the rest with the saved card.
async fn checkout(
    base: &str,
    seeded: &Seeded,
    buyer: &Buyer,
    voucher: Option<String>,
    m: &mut Measures,
) -> Result<(), String> {
    let created = call(
        m,
        "1 create order",
        buyer
            .http
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&seeded.shop_key)
            .json(&seed::order_body(seeded, buyer.contact, 20)),
    )
    .await?;
    let token = created["checkout_token"]
        .as_str()
        .ok_or("create order: no checkout_token")?
        .to_owned();
    let codes = format!("{base}/api/v1/checkout/{token}/codes");
    let applied = call(
        m,
        "2 promo code",
        buyer
            .http
            .post(&codes)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&json!({"code": PROMO_CODE})),
    )
    .await?;
    if applied["applied"] != "promo_code" {
        return Err("promo code: not applied".to_owned());
    }
    let Some(voucher) = voucher else {
        return Err("voucher: none left (raise --vouchers)".to_owned());
    };
    let applied = call(
        m,
        "3 voucher",
        buyer
            .http
            .post(&codes)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&json!({"code": voucher})),
    )
    .await?;
    if applied["applied"] != "voucher" {
        return Err("voucher: not applied".to_owned());
    }
    let paid = call(
        m,
        "4 pay (saved card)",
        buyer
            .http
            .post(format!("{base}/api/v1/checkout/{token}/pay"))
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&json!({"means": "saved_card", "saved_card": buyer.card, "accept_terms": true})),
    )
    .await?;
    if paid["status"] != "paid" {
        return Err(format!(
            "pay: status {}",
            paid["status"].as_str().unwrap_or("?")
        ));
    }
    Ok(())
}

/// Buyers with a saved card each, `n` of them, saved through the API `concurrency` at once.
pub(super) async fn buyers(
    env_store: &guichet_store::DynStore,
    base: &str,
    seeded: &Seeded,
    n: usize,
    http2: bool,
) -> anyhow::Result<Vec<Buyer>> {
    let contacts = seed::contacts(env_store, seeded.institution, n).await?;
    let seeded = Arc::new(SeededRef::of(seeded));
    let mut set = tokio::task::JoinSet::new();
    let mut all = Vec::with_capacity(n);
    for (i, contact) in contacts.into_iter().enumerate() {
        let http = seed::client(i, http2)?;
        let store = env_store.clone();
        let base = base.to_owned();
        let seeded = seeded.clone();
        set.spawn(async move {
            let card = seed::save_card(&http, &base, &seeded.0, &store, contact, json!({})).await?;
            Ok::<_, anyhow::Error>((
                i,
                Buyer {
                    http,
                    contact,
                    card,
                },
            ))
        });
        while set.len() >= 32 {
            if let Some(r) = set.join_next().await {
                all.push(r??);
            }
        }
    }
    while let Some(r) = set.join_next().await {
        all.push(r??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, b)| b).collect())
}

/// A copy of [`Seeded`] that tasks can share.
pub(super) struct SeededRef(pub Seeded);

impl SeededRef {
    pub fn of(s: &Seeded) -> SeededRef {
        SeededRef(Seeded {
            institution: s.institution,
            point_of_sale: s.point_of_sale,
            channel: s.channel,
            shop_key: s.shop_key.clone(),
            webhooks: s.webhooks.clone(),
        })
    }
}

pub async fn run(args: CheckoutArgs) -> anyhow::Result<ExitCode> {
    let count = match (args.count, args.duration) {
        (Some(c), _) => Some(c),
        (None, None) => Some(2_000),
        (None, Some(_)) => None,
    };
    let vouchers = args.vouchers.unwrap_or(match (count, args.duration) {
        (Some(c), _) => c,
        (None, Some(d)) => d * 200,
        (None, None) => 2_000,
    });
    let env = Env::fresh(&args.common).await?;
    println!(
        "bench checkout: {} ({}), concurrency {}, {}, provider latency {} ms",
        if env.is_sqlite() {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        env.db_url,
        args.concurrency,
        match (count, args.duration) {
            (Some(c), _) => format!("{c} checkouts"),
            (None, Some(d)) => format!("{d} s"),
            _ => String::new(),
        },
        args.provider_latency_ms
    );
    let store = env.store().await?;
    let (sim, sim_url) = env.simulator(0).await?;
    let t = Instant::now();
    let seeded = seed::base(&store, &sim_url).await?;
    let codes = seed::vouchers(&store, seeded.institution, vouchers).await?;
    println!(
        "  seeded {} vouchers in {:.1} s",
        codes.len(),
        t.elapsed().as_secs_f64()
    );
    let (server, base) = env.server(!args.no_jobs).await?;
    let buyers = buyers(&store, &base, &seeded, args.concurrency, false).await?;
    println!("  {} buyers saved a card", buyers.len());
    set_latency(&sim_url, args.provider_latency_ms).await?;
    let (_, rss_before) = server.memory_kib();
    let commits_before = pg_commits(&env).await;

    let codes = Arc::new(Mutex::new(codes));
    let started_count = Arc::new(AtomicU64::new(0));
    let deadline = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs(d));
    let pacer = args.rate.map(pacer);
    let seeded = Arc::new(SeededRef::of(&seeded));
    let base = Arc::new(base);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for buyer in buyers {
        let codes = codes.clone();
        let started_count = started_count.clone();
        let seeded = seeded.clone();
        let base = base.clone();
        let pacer = pacer.clone();
        set.spawn(async move {
            let mut m = Measures::default();
            loop {
                if let Some(c) = count
                    && started_count.fetch_add(1, Ordering::SeqCst) >= c
                {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if let Some(p) = &pacer
                    && let Ok(permit) = p.acquire().await
                {
                    permit.forget();
                }
                let voucher = codes.lock().ok().and_then(|mut c| c.pop());
                let t = Instant::now();
                match checkout(&base, &seeded.0, &buyer, voucher, &mut m).await {
                    Ok(()) => {
                        m.latency
                            .push("= whole checkout", t.elapsed().as_micros() as u64);
                        m.done += 1;
                    }
                    Err(kind) => m.errors.add(kind),
                }
            }
            m
        });
    }
    let mut all = Measures::default();
    while let Some(m) = set.join_next().await {
        let m = m?;
        all.latency.merge(&m.latency);
        all.own.merge(&m.own);
        all.provider.merge(&m.provider);
        all.errors.merge(&m.errors);
        all.done += m.done;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (hwm, rss) = server.memory_kib();
    // Let the job runner deliver the last webhooks before counting them.
    tokio::time::sleep(Duration::from_secs(if args.no_jobs { 0 } else { 3 })).await;
    let webhooks = seeded.0.webhooks.load(Ordering::Relaxed);
    server.stop().await;
    sim.stop().await;
    let commits = match (commits_before, pg_commits(&env).await) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let (audit_ok, audit) = env.audit().await?;

    println!();
    println!(
        "checkouts: {} in {:.2} s = {:.0} checkouts/s ({:.0} API calls/s)",
        all.done,
        elapsed,
        all.done as f64 / elapsed,
        all.latency
            .0
            .iter()
            .filter(|(k, _)| !k.starts_with('='))
            .map(|(_, s)| s.len())
            .sum::<usize>() as f64
            / elapsed
    );
    all.latency
        .print("latency seen by the client (provider time included):");
    all.own
        .print("Guichet's own time per call (Server-Timing app: provider time excluded):");
    all.provider
        .print("provider time per call (Server-Timing provider):");
    println!(
        "errors: {}{}",
        all.errors.total(),
        if all.errors.0.is_empty() { "" } else { ":" }
    );
    for (k, v) in &all.errors.0 {
        println!("  {v:>8}  {k}");
    }
    println!(
        "server memory: peak {:.1} MiB (VmHWM), {:.1} MiB resident at the end, {:.1} MiB before the load",
        mib(hwm),
        mib(rss),
        mib(rss_before)
    );
    println!("webhooks received by the shop: {webhooks}");
    if let Some(c) = commits {
        println!(
            "PostgreSQL commits: {c} = {:.1} per checkout (job runner and webhooks included), {:.0}/s",
            c as f64 / all.done.max(1) as f64,
            c as f64 / elapsed
        );
    }
    println!("{audit}");
    Ok(if audit_ok && all.errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// PostgreSQL's count of committed transactions in the benchmark's database (None on SQLite).
async fn pg_commits(env: &Env) -> Option<u64> {
    use sqlx::Connection;
    if env.is_sqlite() {
        return None;
    }
    let mut conn = sqlx::PgConnection::connect(&env.db_url).await.ok()?;
    // Statistics reach the shared view within a second of a session's activity.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .ok()?;
    let _ = conn.close().await;
    u64::try_from(n).ok()
}

/// A semaphore filled at `rate` permits per second.
fn pacer(rate: f64) -> Arc<tokio::sync::Semaphore> {
    let sem = Arc::new(tokio::sync::Semaphore::new(0));
    let s = sem.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        let mut given = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        loop {
            tick.tick().await;
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            if due > given {
                s.add_permits((due - given) as usize);
                given = due;
            }
        }
    });
    sem
}

pub(super) async fn set_latency(sim_url: &str, ms: u64) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{sim_url}/__sim/latency"))
        .json(&json!({ "ms": ms }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn sim_post(sim_url: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .post(format!("{sim_url}{path}"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

#[derive(Args)]
pub struct InFlightArgs {
    #[command(flatten)]
    common: Common,
    /// Payments sent at once.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// The simulator's latency on every provider call (once released).
    #[arg(long, default_value_t = 300)]
    provider_latency_ms: u64,
    /// Buyers (each with a saved card) the orders are spread over.
    #[arg(long, default_value_t = 100)]
    buyers: usize,
    /// Each buyer's requests over HTTP/1.1, one connection per payment in flight, instead of
    /// HTTP/2 (h2c), one connection per buyer: then every payment holds two sockets in the
    /// server (buyer and provider), and 10,000 need more than 20,000 open files.
    #[arg(long)]
    http1: bool,
}

/// Orders are created first; then every payment is sent at once while the simulator holds
/// provider calls at its door (`/__sim/hold`), so that they all are in flight together; the
/// server's memory is read when the most are held; then they are released (each still waits
/// the latency) and must all be paid.
pub async fn run_in_flight(args: InFlightArgs) -> anyhow::Result<ExitCode> {
    let mut env = Env::fresh(&args.common).await?;
    // Two sockets per payment in the server (buyer, provider), plus the database's.
    env.open_files = Some((args.count as u64) * 3 + 4096);
    println!(
        "bench in-flight: {} ({}), {} payments at once, provider latency {} ms",
        if env.is_sqlite() {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        env.db_url,
        args.count,
        args.provider_latency_ms
    );
    let store = env.store().await?;
    let (sim, sim_url) = env.simulator(0).await?;
    let seeded = seed::base(&store, &sim_url).await?;
    // No job runner: it would ask the provider about payments it holds.
    let (server, base) = env.server(false).await?;
    let buyers = Arc::new(buyers(&store, &base, &seeded, args.buyers, !args.http1).await?);
    let seeded = Arc::new(SeededRef::of(&seeded));
    let base = Arc::new(base);

    // The orders, 32 at once.
    let t = Instant::now();
    let mut tokens = Vec::with_capacity(args.count);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..args.count {
        let (buyers, seeded, base) = (buyers.clone(), seeded.clone(), base.clone());
        set.spawn(async move {
            let b = &buyers[i % buyers.len()];
            let created: Value = b
                .http
                .post(format!("{base}/api/v1/orders"))
                .bearer_auth(&seeded.0.shop_key)
                .json(&seed::order_body(&seeded.0, b.contact, 20))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let token = created["checkout_token"]
                .as_str()
                .context("checkout_token")?
                .to_owned();
            Ok::<_, anyhow::Error>((i, token))
        });
        while set.len() >= 32 {
            if let Some(r) = set.join_next().await {
                tokens.push(r??);
            }
        }
    }
    while let Some(r) = set.join_next().await {
        tokens.push(r??);
    }
    println!(
        "  {} orders created in {:.1} s",
        tokens.len(),
        t.elapsed().as_secs_f64()
    );

    set_latency(&sim_url, args.provider_latency_ms).await?;
    sim_post(&sim_url, "/__sim/hold", json!({"on": true})).await?;
    let (_, rss_before) = server.memory_kib();
    let t = Instant::now();
    let mut pays = tokio::task::JoinSet::new();
    for (i, token) in tokens {
        let (buyers, base) = (buyers.clone(), base.clone());
        pays.spawn(async move {
            let b = &buyers[i % buyers.len()];
            let r = b
                .http
                .post(format!("{base}/api/v1/checkout/{token}/pay"))
                .header("Idempotency-Key", Uuid::now_v7().to_string())
                .json(&json!({"means": "saved_card", "saved_card": b.card, "accept_terms": true}))
                .send()
                .await;
            match r {
                Ok(r) => {
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    if v["status"] == "paid" {
                        Ok(())
                    } else {
                        Err(format!(
                            "pay: HTTP {} {}",
                            status.as_u16(),
                            v["status"]
                                .as_str()
                                .or(v["error"]["code"].as_str())
                                .unwrap_or("")
                        ))
                    }
                }
                Err(e) => Err(format!("pay: transport ({})", transport_kind(&e))),
            }
        });
    }
    // Watch the simulator's door while the payments arrive.
    let http = reqwest::Client::new();
    let mut held = 0;
    let mut rss_held = 0;
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let v: Value = http
            .get(format!("{sim_url}/__sim/in-flight"))
            .send()
            .await?
            .json()
            .await?;
        let waiting = v["waiting"].as_u64().unwrap_or(0);
        if waiting > held {
            held = waiting;
            rss_held = server.memory_kib().1;
            last_change = Instant::now();
        }
        // Every payment waits at the door; or none came for 5 s since the first did; or the
        // first ones are near the server's 60 s request timeout.
        if held as usize >= args.count
            || (held > 0 && last_change.elapsed() > Duration::from_secs(5))
            || t.elapsed() > Duration::from_secs(50)
        {
            break;
        }
    }
    let ramp = t.elapsed().as_secs_f64();
    rss_held = rss_held.max(server.memory_kib().1);
    let released = Instant::now();
    sim_post(&sim_url, "/__sim/hold", json!({"on": false})).await?;
    let mut errors = Counts::default();
    let mut paid = 0;
    while let Some(r) = pays.join_next().await {
        match r? {
            Ok(()) => paid += 1,
            Err(kind) => errors.add(kind),
        }
    }
    let drain = released.elapsed().as_secs_f64();
    let (hwm, _) = server.memory_kib();
    server.stop().await;
    sim.stop().await;
    let (audit_ok, audit) = env.audit().await?;
    println!();
    println!(
        "in flight at once at the provider: {held} (of {}; all sent within {ramp:.1} s)",
        args.count
    );
    println!(
        "server resident memory: {:.1} MiB before, {:.1} MiB with {held} in flight, peak {:.1} MiB (VmHWM)",
        mib(rss_before),
        mib(rss_held),
        mib(hwm)
    );
    if held > 0 {
        println!(
            "memory per payment in flight: {:.1} KiB",
            rss_held.saturating_sub(rss_before) as f64 / held as f64
        );
    }
    println!(
        "released: {paid} paid in {drain:.1} s after the release; errors {}",
        errors.total()
    );
    for (k, v) in &errors.0 {
        println!("  {v:>8}  {k}");
    }
    println!("{audit}");
    Ok(if audit_ok && errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! `guichet bench installments`: N due installments charged by the job runner.

use super::Common;
use super::checkout::{SeededRef, buyers};
use super::procs::Env;
use super::seed;
use anyhow::{Context, bail};
use clap::Args;
use guichet_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

#[derive(Args)]
pub struct InstallmentArgs {
    #[command(flatten)]
    common: Common,
    /// Due installments to charge (orders in 12 installments, 11 due later each).
    #[arg(long, default_value_t = 11_000)]
    count: u64,
    /// Job runners charging at once (each as `guichet jobs`: claim a batch, charge it).
    #[arg(long, default_value_t = 1)]
    runners: usize,
    /// Buyers the orders are spread over.
    #[arg(long, default_value_t = 32)]
    buyers: usize,
}

pub async fn run(args: InstallmentArgs) -> anyhow::Result<ExitCode> {
    let env = Env::fresh(&args.common).await?;
    println!(
        "bench installments: {} ({}), {} due installments, {} job runner(s), zero-latency simulator",
        if env.is_sqlite() {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        env.db_url,
        args.count,
        args.runners
    );
    let store = env.store().await?;
    let (sim, sim_url) = env.simulator(0).await?;
    let seeded = seed::base(&store, &sim_url).await?;
    let plan = store
        .create_installment_plan(&guichet_store::NewInstallmentPlan {
            point_of_sale_id: seeded.point_of_sale,
            name: "12x (benchmark)".to_owned(),
            plan: guichet_domain::installments::InstallmentPlan {
                count: 12,
                split: guichet_domain::installments::Split::Equal,
                interval: guichet_domain::installments::Interval::Monthly,
                min_amount: guichet_domain::Money::zero(guichet_domain::Currency::EUR),
                mode: guichet_domain::installments::PlanMode::Free,
            },
            active: true,
        })
        .await?;
    let (server, base) = env.server(false).await?;
    let buyers = Arc::new(buyers(&store, &base, &seeded, args.buyers, false).await?);
    let seeded = Arc::new(SeededRef::of(&seeded));
    let orders = args.count.div_ceil(11);
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..orders as usize {
        let (buyers, seeded, base) = (buyers.clone(), seeded.clone(), base.clone());
        let plan = plan.id;
        set.spawn(
            async move { pay_in_twelve(&buyers[i % buyers.len()], &seeded.0, &base, plan).await },
        );
        while set.len() >= 32 {
            if let Some(r) = set.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    println!(
        "  {orders} orders paid in 12 installments in {:.1} s ({} installments due later)",
        t.elapsed().as_secs_f64(),
        orders * 11
    );
    server.stop().await;

    // The job runner, as `guichet jobs --once --now T` runs it, a year ahead: all are due.
    let state = AppState {
        store: store.clone(),
        config: Arc::new(ServerConfig::new("http://127.0.0.1")),
    };
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(366);
    let batch = guichet_server::jobs::INSTALLMENT_BATCH;
    let t = Instant::now();
    let mut runners = tokio::task::JoinSet::new();
    for _ in 0..args.runners {
        let state = state.clone();
        runners.spawn(async move {
            let mut charged = 0usize;
            loop {
                let n = guichet_server::installments::charge_due(&state, at, batch).await;
                charged += n;
                if n == 0 {
                    break;
                }
            }
            charged
        });
    }
    let mut charged = 0;
    while let Some(r) = runners.join_next().await {
        charged += r?;
    }
    let elapsed = t.elapsed().as_secs_f64();
    sim.stop().await;
    let (audit_ok, audit) = env.audit().await?;
    println!();
    println!(
        "installments charged: {charged} in {elapsed:.2} s = {:.0} installments/s ({} runner(s))",
        charged as f64 / elapsed,
        args.runners
    );
    let expected = orders * 11;
    if charged as u64 != expected {
        println!("ERROR: {expected} were due, {charged} charged");
    }
    println!("{audit}");
    Ok(if audit_ok && charged as u64 == expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn pay_in_twelve(
    buyer: &super::checkout::Buyer,
    seeded: &seed::Seeded,
    base: &str,
    plan: Uuid,
) -> anyhow::Result<()> {
    let created: Value = buyer
        .http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&seeded.shop_key)
        .json(&seed::order_body(seeded, buyer.contact, 400))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["checkout_token"]
        .as_str()
        .context("checkout_token")?;
    let paid: Value = buyer
        .http
        .post(format!("{base}/api/v1/checkout/{token}/pay"))
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .json(
            &json!({"means": "saved_card", "saved_card": buyer.card, "accept_terms": true,
                      "installment_plan": plan}),
        )
        .send()
        .await?
        .json()
        .await?;
    if paid["status"] != "paid" {
        bail!("paying in installments: {paid}");
    }
    Ok(())
}

//! `guichet bench …`: benchmarks run as commands, never as tests (docs/PERFORMANCE.md).
//!
//! - `checkout`: the real HTTP API end to end against a `guichet` server and a provider
//!   simulator, each its own process (so the server's peak memory is its own): create an
//!   order, apply a promo code and a gift voucher, pay the rest with a saved card.
//! - `in-flight`: payments held at the provider at once, and the server's memory meanwhile.
//! - `installments`: due installments charged by the job runner (zero-latency simulator).
//! - `fsync`: durable commits per second of the disk: the physical limit of the others.

mod checkout;
mod fsync;
mod installments;
mod procs;
mod seed;
mod stats;

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// End-to-end checkouts through the HTTP API: order, promo code, voucher, saved card.
    Checkout(checkout::CheckoutArgs),
    /// Card payments held in flight at the provider at once; the server's memory per payment.
    InFlight(checkout::InFlightArgs),
    /// Due installments charged by the job runner against a zero-latency simulator.
    Installments(installments::InstallmentArgs),
    /// Durable commits per second of the disk (write + fdatasync; SQLite WAL synchronous=FULL;
    /// PostgreSQL synchronous_commit=on).
    Fsync(fsync::FsyncArgs),
    /// The server the benchmarks spawn (`guichet serve` with the abuse limits out of the way;
    /// the limits are still counted in the database, so their cost stays).
    #[command(hide = true)]
    Server(procs::ServerArgs),
}

/// Where the benchmarks keep their databases, logs and keys.
#[derive(Args, Clone)]
pub struct Common {
    /// `sqlite:FILE` (default: `WORK_DIR/bench.db`, recreated) or `postgres://…/NAME` (the
    /// database is dropped and created again: its name must contain `bench`).
    #[arg(long)]
    db: Option<String>,
    /// Working directory: the SQLite database, the processes' logs.
    #[arg(long, default_value = "./guichet-bench")]
    work_dir: PathBuf,
    /// PostgreSQL connections of the server's pool.
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BenchCommand::Checkout(a) => checkout::run(a).await,
        BenchCommand::InFlight(a) => checkout::run_in_flight(a).await,
        BenchCommand::Installments(a) => installments::run(a).await,
        BenchCommand::Fsync(a) => fsync::run(a).await,
        BenchCommand::Server(a) => procs::run_server(a).await,
    }
}

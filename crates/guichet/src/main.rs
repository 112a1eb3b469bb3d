//! `guichet`: one binary for the service and its operations (API.md, "Command line").

mod bench;
mod demo;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use guichet_server::{AppState, ServerConfig};
use guichet_store::{ConnectOptions, DynStore, MasterKey};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "guichet", version, about = "Online payments for ticketing")]
struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "GUICHET_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Fresh demo: SQLite database, seeded institution, the service; prints URLs and logins.
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Recompute every ledger balance from its entries; exit status 1 when anything differs.
    Audit(DbArgs),
    /// Run the jobs (order expiry, webhook delivery) without serving.
    Jobs(JobsArgs),
    /// Print a new random master key (64 hex characters) for GUICHET_MASTER_KEY or a key file.
    Keygen,
    /// Create a back-office user; the password is read from GUICHET_NEW_PASSWORD or stdin.
    CreateUser(CreateUserArgs),
    /// The payment-provider simulator alone (Ogone under /ncol/test/, Sips under /rs-services/v2/).
    PspSim(PspSimArgs),
    /// Benchmarks (docs/PERFORMANCE.md): checkout, in-flight, installments, fsync.
    Bench(bench::BenchArgs),
}

#[derive(Args)]
struct PspSimArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Merchant accounts (JSON; see docs/PROVIDERS.md). Default: the public test merchants.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Public URL of the simulator (default: http://LISTEN).
    #[arg(long)]
    base_url: Option<String>,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// `sqlite://FILE` (default `sqlite://guichet.db`) or `postgres://…`.
    #[arg(
        long,
        env = "GUICHET_DATABASE_URL",
        default_value = "sqlite://guichet.db"
    )]
    database_url: String,
    /// Master key (64 hex characters or base64 of 32 bytes) that seals provider secrets.
    #[arg(long, env = "GUICHET_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// File holding the master key (used when GUICHET_MASTER_KEY is not set).
    #[arg(long, env = "GUICHET_MASTER_KEY_FILE", default_value = "guichet.key")]
    master_key_file: PathBuf,
    /// PostgreSQL connections per process.
    #[arg(long, env = "GUICHET_DB_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
}

/// Limits and retries of the running service (serve and jobs).
#[derive(Args, Clone)]
struct RunArgs {
    /// Hours after a declined installment when it is tried again, one per retry (comma
    /// separated); when they are spent it is flagged failed.
    #[arg(
        long,
        env = "GUICHET_INSTALLMENT_RETRY_HOURS",
        value_delimiter = ',',
        default_value = "24,72,168"
    )]
    installment_retry_hours: Vec<u32>,
    /// Card payment attempts allowed per order in an hour (refused before the provider).
    #[arg(long, env = "GUICHET_CARD_ATTEMPTS_PER_ORDER", default_value_t = 5)]
    card_attempts_per_order: u32,
    /// Card payment attempts allowed per contact in an hour.
    #[arg(long, env = "GUICHET_CARD_ATTEMPTS_PER_CONTACT", default_value_t = 10)]
    card_attempts_per_contact: u32,
    /// Card payment attempts allowed per client address in an hour.
    #[arg(long, env = "GUICHET_CARD_ATTEMPTS_PER_IP", default_value_t = 20)]
    card_attempts_per_ip: u32,
}

impl RunArgs {
    fn config(&self, base_url: impl Into<String>) -> ServerConfig {
        let mut config = ServerConfig::new(base_url);
        config.installment_retry_hours = self.installment_retry_hours.clone();
        config.card_attempts_per_order = self.card_attempts_per_order;
        config.card_attempts_per_contact = self.card_attempts_per_contact;
        config.card_attempts_per_ip = self.card_attempts_per_ip;
        config
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    installments: RunArgs,
    #[arg(long, env = "GUICHET_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public URL of this service (default: http://LISTEN).
    #[arg(long, env = "GUICHET_BASE_URL")]
    base_url: Option<String>,
    /// Do not run the job runner in this process (run `guichet jobs` elsewhere).
    #[arg(long, env = "GUICHET_NO_JOBS")]
    no_jobs: bool,
}

#[derive(Args)]
struct JobsArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    installments: RunArgs,
    /// One pass, then exit.
    #[arg(long)]
    once: bool,
    /// Seconds between passes.
    #[arg(long, default_value_t = 5)]
    interval_seconds: u64,
    /// Run the pass as if it were this time (RFC 3339, e.g. `2026-12-01T09:00:00Z`): what is
    /// due then is done. For operators catching up and for tests; only with `--once`.
    #[arg(long, requires = "once", value_parser = parse_time)]
    now: Option<time::OffsetDateTime>,
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e}): {s}"))
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, default_value = "./guichet-demo")]
    data_dir: PathBuf,
    /// Seed, write demo.json and exit instead of serving (for scripts and tests).
    #[arg(long)]
    seed_only: bool,
}

#[derive(Args)]
struct CreateUserArgs {
    #[command(flatten)]
    db: DbArgs,
    username: String,
    /// `admin` or `operator`.
    #[arg(long, default_value = "admin")]
    role: String,
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GUICHET_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

impl DbArgs {
    fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(text) = &self.master_key {
            return MasterKey::parse(text).context("GUICHET_MASTER_KEY");
        }
        if self.master_key_file.exists() {
            return MasterKey::from_file(&self.master_key_file)
                .with_context(|| format!("master key file {}", self.master_key_file.display()));
        }
        bail!(
            "no master key: set GUICHET_MASTER_KEY, or write one to {} with `guichet keygen > {}`",
            self.master_key_file.display(),
            self.master_key_file.display()
        )
    }

    async fn open(&self) -> anyhow::Result<DynStore> {
        let store = guichet_store::connect(ConnectOptions {
            url: self.database_url.clone(),
            master_key: self.master_key()?,
            max_connections: self.max_connections,
        })
        .await
        .context("opening the database")?;
        let applied = store.migrate().await.context("applying migrations")?;
        tracing::info!(
            backend = store.backend().as_str(),
            applied,
            "database ready"
        );
        Ok(store)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    guichet_server::install_tls_provider();
    match run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let store = args.db.open().await?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("listening on {}", args.listen))?;
            let addr = listener.local_addr()?;
            let base_url = args.base_url.unwrap_or_else(|| format!("http://{addr}"));
            let config = args.installments.config(base_url);
            serve(store, listener, config, !args.no_jobs, None).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Demo(args) => demo::run(args.listen, &args.data_dir, args.seed_only).await,
        Command::PspSim(args) => {
            let config = match &args.accounts {
                Some(path) => guichet_psp_sim::SimConfig::from_json_file(path)?,
                None => guichet_psp_sim::SimConfig::default(),
            };
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("listening on {}", args.listen))?;
            let addr = listener.local_addr()?;
            let base_url = args.base_url.unwrap_or_else(|| format!("http://{addr}"));
            println!("Provider simulator");
            println!("  Ogone   {base_url}/ncol/test/");
            println!("  Sips    {base_url}/rs-services/v2/");
            println!("  control {base_url}/__sim/transactions");
            guichet_psp_sim::Simulator::new(config, base_url)
                .serve(listener)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(db) => {
            db.open().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(db) => {
            let store = db.open().await?;
            audit(&store).await
        }
        Command::Jobs(args) => {
            let store = args.db.open().await?;
            let state = AppState {
                store,
                config: Arc::new(args.installments.config("http://localhost")),
            };
            let client = guichet_server::webhooks::http_client()?;
            loop {
                let now = args.now.unwrap_or_else(time::OffsetDateTime::now_utc);
                // Installments first, with a progress bar when someone watches a terminal.
                let charged = charge_installments(&state, now).await;
                let mut r = guichet_server::jobs::run_once(&state, &client, now).await;
                r.installments_charged += charged;
                println!(
                    "jobs: {} payments and refunds recovered; {} installments charged; {} orders expired; webhooks {} claimed, {} delivered, {} retrying, {} failed; {} idempotency keys purged",
                    r.payments_recovered,
                    r.installments_charged,
                    r.orders_expired,
                    r.webhooks.claimed,
                    r.webhooks.delivered,
                    r.webhooks.retrying,
                    r.webhooks.failed,
                    r.idempotency_keys_purged
                );
                if args.once {
                    return Ok(ExitCode::SUCCESS);
                }
                tokio::time::sleep(std::time::Duration::from_secs(args.interval_seconds.max(1)))
                    .await;
            }
        }
        Command::Keygen => {
            println!("{}", MasterKey::generate_hex()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CreateUser(args) => {
            let role = guichet_domain::config::Role::parse(&args.role)
                .map_err(|e| anyhow::anyhow!("--role {e}"))?;
            let username = guichet_server::admin::access::parse_username(&args.username)
                .map_err(|e| anyhow::anyhow!("user name {e}"))?;
            let password = match std::env::var("GUICHET_NEW_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            guichet_server::admin::access::check_password(&password)
                .map_err(|e| anyhow::anyhow!("password {e}"))?;
            let store = args.db.open().await?;
            let hash = guichet_server::auth::hash_password(&password)
                .map_err(|_| anyhow::anyhow!("hashing the password failed"))?;
            store.create_user(&username, &hash, role).await?;
            println!("user {username} created with role {}", role.as_str());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn audit(store: &DynStore) -> anyhow::Result<ExitCode> {
    let report = store.audit().await?;
    println!(
        "audit: {} accounts, {} transactions, {} entries checked; {} differences",
        report.accounts_checked,
        report.transactions_checked,
        report.entries_checked,
        report.differences.len()
    );
    for d in &report.differences {
        println!("  DIFFERENCE {d}");
    }
    Ok(if report.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Charges every installment due at `now`, batch after batch, showing the count on a terminal
/// (`guichet jobs --once` over a long backlog); returns how many were charged.
async fn charge_installments(state: &AppState, now: time::OffsetDateTime) -> usize {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} installments charged ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let batch = guichet_server::jobs::INSTALLMENT_BATCH;
    let mut total = 0;
    loop {
        let n = guichet_server::installments::charge_due(state, now, batch).await;
        total += n;
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
        if n < batch as usize {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    total
}

/// Serves until SIGINT or SIGTERM, then lets requests in flight finish.
/// How often `serve` runs the jobs (docs/PERFORMANCE.md: own time at half load).
const JOBS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn serve(
    store: DynStore,
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    run_jobs: bool,
    receiver: Option<guichet_server::webhooks::DemoReceiver>,
) -> anyhow::Result<()> {
    guichet_server::telemetry::init();
    let state = AppState {
        store,
        config: Arc::new(config),
    };
    let jobs = run_jobs
        // Short passes: the work of a pass (webhooks to deliver above all) grows with the
        // interval, and a big pass's writes make the buyers' requests wait behind them.
        .then(|| guichet_server::jobs::spawn(state.clone(), JOBS_INTERVAL));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, jobs = run_jobs, "guichet listening");
    let app = guichet_server::router_with_demo(state, receiver);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    if let Some(j) = jobs {
        j.abort();
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

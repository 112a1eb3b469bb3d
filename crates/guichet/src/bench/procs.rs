//! The processes of a benchmark: the server and the provider simulator, each a child
//! `guichet` process, with their logs in the working directory; the database they share.

use super::Common;
use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

/// `guichet bench server`: `guichet serve` whose abuse limits a load from one machine cannot
/// reach. Every try is still counted in the database, as in production.
#[derive(Args)]
pub struct ServerArgs {
    #[command(flatten)]
    db: crate::DbArgs,
    #[arg(long)]
    listen: SocketAddr,
    /// Run the job runner in this process too (webhooks, expiry, recovery, installments).
    #[arg(long)]
    jobs: bool,
}

pub async fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let store = args.db.open().await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let mut config = guichet_server::ServerConfig::new(format!("http://{}", args.listen));
    let unlimited = 1_000_000_000;
    config.card_attempts_per_order = unlimited;
    config.card_attempts_per_contact = unlimited;
    config.card_attempts_per_ip = unlimited;
    config.code_failures_per_order = unlimited;
    config.code_failures_per_contact = unlimited;
    config.code_failures_per_ip = unlimited;
    crate::serve(store, listener, config, args.jobs, None).await?;
    Ok(ExitCode::SUCCESS)
}

/// A child process, killed when dropped.
pub struct Child {
    pub child: tokio::process::Child,
    pub pid: u32,
}

impl Child {
    /// `VmHWM` (peak resident set) and `VmRSS` of the process, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid)
    }

    /// Ends it with SIGKILL and waits.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The database and processes of one benchmark run.
pub struct Env {
    pub work_dir: PathBuf,
    pub db_url: String,
    pub master_key: String,
    pub db_connections: u32,
    /// The `ulimit -n` of the children (the in-flight benchmark needs many sockets).
    pub open_files: Option<u64>,
}

impl Env {
    /// A fresh database (SQLite file removed, PostgreSQL database dropped and created) and a
    /// new master key.
    pub async fn fresh(common: &Common) -> anyhow::Result<Env> {
        std::fs::create_dir_all(&common.work_dir)
            .with_context(|| format!("creating {}", common.work_dir.display()))?;
        let work_dir = common.work_dir.canonicalize()?;
        let db_url = match &common.db {
            None => sqlite_fresh(&work_dir.join("bench.db"))?,
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                sqlite_fresh(Path::new(path))?
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                pg_fresh(url).await?;
                url.clone()
            }
            Some(other) => bail!("--db: sqlite:FILE or postgres://…, not {other}"),
        };
        Ok(Env {
            work_dir,
            db_url,
            master_key: guichet_store::MasterKey::generate_hex()?,
            db_connections: common.db_connections,
            open_files: None,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.db_url.starts_with("sqlite:")
    }

    /// The store, from this process (seeding, the job runner benchmark).
    pub async fn store(&self) -> anyhow::Result<guichet_store::DynStore> {
        let store = guichet_store::connect(guichet_store::ConnectOptions {
            url: self.db_url.clone(),
            master_key: guichet_store::MasterKey::parse(&self.master_key)?,
            max_connections: self.db_connections,
        })
        .await
        .context("opening the database")?;
        store.migrate().await?;
        Ok(store)
    }

    fn command(&self, name: &str, args: &[String]) -> anyhow::Result<tokio::process::Command> {
        let exe = std::env::current_exe().context("finding the guichet binary")?;
        let log = std::fs::File::create(self.work_dir.join(format!("{name}.log")))?;
        let mut cmd = match self.open_files {
            // `ulimit -n` then exec: the child gets the limit (or the hard limit, when that is
            // lower), nothing else changes.
            Some(n) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "ulimit -n {n} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
                    ))
                    .arg(exe);
                c
            }
            None => tokio::process::Command::new(exe),
        };
        cmd.args(args)
            .env("GUICHET_MASTER_KEY", &self.master_key)
            .env("GUICHET_DATABASE_URL", &self.db_url)
            // `GUICHET_BENCH_LOG` (e.g. `warn,sqlx::query=debug` to see every statement).
            .env(
                "GUICHET_LOG",
                std::env::var("GUICHET_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        Ok(cmd)
    }

    fn spawn(&self, name: &'static str, args: &[String]) -> anyhow::Result<Child> {
        let child = self
            .command(name, args)?
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id().context("child pid")?;
        Ok(Child { child, pid })
    }

    /// `guichet psp-sim` on a free port; returns it and its base URL.
    pub async fn simulator(&self, latency_ms: u64) -> anyhow::Result<(Child, String)> {
        let port = free_port()?;
        let child = self.spawn(
            "psp-sim",
            &[
                "psp-sim".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
            ],
        )?;
        let url = format!("http://127.0.0.1:{port}");
        wait_up(&format!("{url}/__sim/latency")).await?;
        let http = reqwest::Client::new();
        http.post(format!("{url}/__sim/latency"))
            .json(&serde_json::json!({ "ms": latency_ms }))
            .send()
            .await?
            .error_for_status()?;
        Ok((child, url))
    }

    /// The server (`guichet bench server`) on a free port; returns it and its base URL.
    pub async fn server(&self, jobs: bool) -> anyhow::Result<(Child, String)> {
        let port = free_port()?;
        let mut args = vec![
            "bench".to_owned(),
            "server".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--max-connections".to_owned(),
            self.db_connections.to_string(),
        ];
        if jobs {
            args.push("--jobs".to_owned());
        }
        let child = self.spawn("server", &args)?;
        let url = format!("http://127.0.0.1:{port}");
        wait_up(&format!("{url}/health")).await?;
        Ok((child, url))
    }

    /// `guichet audit` on the database: its report and whether it is clean.
    pub async fn audit(&self) -> anyhow::Result<(bool, String)> {
        let out = self
            .command("audit", &["audit".to_owned()])?
            .stdout(Stdio::piped())
            .output()
            .await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ))
    }
}

async fn wait_up(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer within 60 s (see the logs in the working directory)")
}

fn sqlite_fresh(path: &Path) -> anyhow::Result<String> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let abs = std::path::absolute(path)?;
    Ok(format!("sqlite://{}", abs.display()))
}

/// Drops and creates the database named in `url` (its name must contain `bench`).
async fn pg_fresh(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let parsed = url::Url::parse(url).context("--db")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if !name.contains("bench") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!(
            "--db: the database is dropped and recreated, so its name must contain `bench` (got `{name}`)"
        );
    }
    let mut admin = parsed.clone();
    admin.set_path("/postgres");
    let mut conn = sqlx::PgConnection::connect(admin.as_str())
        .await
        .context("connecting to the `postgres` database to recreate the benchmark's")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

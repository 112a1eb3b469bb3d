//! `guichet bench fsync`: how many durable commits per second the disk allows. Every
//! acknowledged payment waits for at least one; this is the ceiling of the other figures.

use super::Common;
use anyhow::Context;
use clap::Args;
use sqlx::Connection;
use std::io::{Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct FsyncArgs {
    #[command(flatten)]
    common: Common,
    /// Seconds per measure.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

pub async fn run(args: FsyncArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.common.work_dir;
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let span = Duration::from_secs(args.seconds);
    println!(
        "bench fsync: in {} ({} s per measure)",
        dir.display(),
        args.seconds
    );

    // 1. The file system: 4 KiB written then fdatasync, appended (as a log grows) and in place.
    let path = dir.join("fsync.probe");
    for append in [true, false] {
        let mut f = std::fs::File::create(&path)?;
        let block = [0x5au8; 4096];
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < span {
            if !append {
                f.seek(SeekFrom::Start(0))?;
            }
            f.write_all(&block)?;
            f.sync_data()?;
            n += 1;
        }
        println!(
            "  write 4 KiB + fdatasync, {}: {:>8.0} /s",
            if append { "appending" } else { "in place " },
            n as f64 / t.elapsed().as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(&path);

    // 2. SQLite as Guichet opens it: WAL, synchronous=FULL; one single-row commit at a time.
    let db = dir.join("fsync.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .execute(&mut conn)
        .await?;
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < span {
        sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind(vec![0u8; 100])
            .execute(&mut conn)
            .await?;
        n += 1;
    }
    let sqlite = n as f64 / t.elapsed().as_secs_f64();
    println!("  SQLite WAL synchronous=FULL, single-row commits: {sqlite:>8.0} /s");
    conn.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    // 3. PostgreSQL (with --db postgres://…): synchronous_commit=on, 1 and 16 connections
    //    (concurrent commits share a WAL flush: group commit).
    if let Some(url) = args
        .common
        .db
        .as_deref()
        .filter(|u| u.starts_with("postgres"))
    {
        for clients in [1usize, 16] {
            let rate = pg_commits(url, clients, span).await?;
            println!(
                "  PostgreSQL synchronous_commit=on, single-row commits, {clients:>2} connection(s): {rate:>8.0} /s"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn pg_commits(url: &str, clients: usize, span: Duration) -> anyhow::Result<f64> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_fsync; CREATE TABLE bench_fsync (id BIGSERIAL PRIMARY KEY, v BYTEA NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let url = url.to_owned();
        set.spawn(async move {
            let mut c = sqlx::PgConnection::connect(&url).await?;
            sqlx::query("SET synchronous_commit = on")
                .execute(&mut c)
                .await?;
            let mut n = 0u64;
            while t.elapsed() < span {
                sqlx::query("INSERT INTO bench_fsync (v) VALUES ($1)")
                    .bind(vec![0u8; 100])
                    .execute(&mut c)
                    .await?;
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        n += r??;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_fsync")
        .execute(&mut conn)
        .await?;
    Ok(rate)
}

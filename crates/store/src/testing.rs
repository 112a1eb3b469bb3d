//! Helpers for tests (this crate's and other crates'): a fresh, migrated database per test, on
//! SQLite always and on PostgreSQL when `GUICHET_TEST_PG_URL` names a server.
//!
//! Compiled only with the `testing` feature. Fresh PostgreSQL databases are named
//! `guichet_t_<random hex>` and are never dropped (a failed test leaves its data to look at).

use crate::{ConnectOptions, DynStore, MasterKey, connect};
use std::path::{Path, PathBuf};

/// Name of the SQLite file inside the directory of [`fresh_sqlite`].
pub const SQLITE_FILE_NAME: &str = "guichet.db";

/// `GUICHET_TEST_PG_URL` when it is set and not empty.
pub fn pg_url() -> Option<String> {
    std::env::var("GUICHET_TEST_PG_URL")
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// True when `GUICHET_REQUIRE_PG=1`: PostgreSQL tests must run, not skip.
pub fn pg_required() -> bool {
    std::env::var("GUICHET_REQUIRE_PG").is_ok_and(|v| v.trim() == "1")
}

/// A random master key.
pub fn test_key() -> MasterKey {
    let hex = MasterKey::generate_hex().expect("operating system randomness");
    MasterKey::parse(&hex).expect("a generated key parses")
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("operating system randomness");
    hex::encode(buf)
}

/// A directory under the system temp dir, removed with its content when dropped.
#[derive(Debug)]
pub struct TempDirGuard {
    path: PathBuf,
}

impl TempDirGuard {
    /// Creates `guichet-test-<random hex>` under the system temp dir.
    pub fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("guichet-test-{}", random_hex(8)));
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file of [`fresh_sqlite`] in this directory.
    pub fn db_path(&self) -> PathBuf {
        self.path.join(SQLITE_FILE_NAME)
    }
}

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A new SQLite file (WAL) in a fresh temp dir, migrated, under a random master key. Keep the
/// guard alive as long as the store: dropping it deletes the directory.
pub async fn fresh_sqlite() -> (DynStore, TempDirGuard) {
    let dir = TempDirGuard::new().expect("create a temp dir");
    let url = format!("sqlite://{}", dir.db_path().display());
    let store = connect_migrated(&url).await;
    (store, dir)
}

/// `url` with its path replaced by `/database` (query string kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Creates the database `guichet_t_<random hex>` on the server of `base` and returns its URL.
pub async fn fresh_pg_url(base: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("guichet_t_{}", random_hex(8));
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("connect to the PostgreSQL test server: {e}"));
    // Concurrent CREATE DATABASE may briefly collide on the template; retry a few times.
    let mut attempt = 0;
    loop {
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await;
        match done {
            Ok(_) => break,
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!("CREATE DATABASE {name} failed ({e}), retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name}: {e}"),
        }
    }
    let _ = conn.close().await;
    with_database(base, &name)
}

/// A fresh PostgreSQL database on the server of `base`, connected and migrated.
pub async fn fresh_pg(base: &str) -> DynStore {
    fresh_pg_with_url(base).await.0
}

/// [`fresh_pg`], also returning the new database's URL (for raw SQL in tests).
pub async fn fresh_pg_with_url(base: &str) -> (DynStore, String) {
    let url = fresh_pg_url(base).await;
    let store = connect_migrated(&url).await;
    (store, url)
}

/// Two stores on one fresh PostgreSQL database under the same master key, each with its own
/// connection pool: two processes of one deployment (the job runners' proofs).
pub async fn fresh_pg_pair(base: &str) -> (DynStore, DynStore) {
    let url = fresh_pg_url(base).await;
    let hex = MasterKey::generate_hex().expect("operating system randomness");
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = connect(ConnectOptions {
            url: url.clone(),
            master_key: MasterKey::parse(&hex).expect("a generated key parses"),
            max_connections: 8,
        })
        .await
        .expect("connect to the PostgreSQL test database");
        store.migrate().await.expect("migrate");
        stores.push(store);
    }
    let second = stores.pop().expect("two stores");
    let first = stores.pop().expect("two stores");
    (first, second)
}

/// Connects to `url` under a random master key and applies the migrations.
pub async fn connect_migrated(url: &str) -> DynStore {
    let store = connect(ConnectOptions {
        url: url.to_owned(),
        master_key: test_key(),
        max_connections: 8,
    })
    .await
    .unwrap_or_else(|e| panic!("open the test database: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate the test database: {e}"));
    store
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            with_database("postgresql://h?sslmode=disable", "x"),
            "postgresql://h/x?sslmode=disable"
        );
    }
}

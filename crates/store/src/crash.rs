//! Crash points: named places in a card checkout or refund where the crash tests stop Guichet
//! to kill it with SIGKILL (`crates/guichet/tests/crash.rs`, PROOFS.md "crash at each step").
//!
//! When the environment variable `GUICHET_CRASH_AT` names a point, the first request that
//! reaches it prints `GUICHET_CRASH_POINT <name>` on standard error and never goes on: the
//! process keeps whatever it holds (an open database transaction included) until the test
//! kills it. Unset (always, outside those tests), a point is one comparison.
//!
//! Points: `card.before_call`, `card.after_provider`, `card.before_commit`,
//! `card.after_commit`, `refund.before_call`, `refund.after_provider`, `refund.before_commit`.

use std::sync::OnceLock;

/// The environment variable that arms a crash point.
pub const ENV: &str = "GUICHET_CRASH_AT";

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Stops here for good when `GUICHET_CRASH_AT` names `name`; returns at once otherwise.
pub async fn point(name: &str) {
    if armed() == Some(name) {
        eprintln!("GUICHET_CRASH_POINT {name}");
        std::future::pending::<()>().await;
    }
}

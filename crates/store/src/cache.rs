//! A short-lived, in-process copy of the configuration that every payment reads (points of
//! sale, sales channels, the payment modes of a point of sale, payment systems and their
//! credentials, installment plans): a checkout read it about thirty times, in as many
//! database round trips (docs/PERFORMANCE.md).
//!
//! Rules that keep it correct:
//! - Only configuration is kept, never money: balances, orders, vouchers and payments are
//!   always read from the database.
//! - Every configuration write through this store empties it after its commit, so this
//!   process sees its own changes at once.
//! - A copy read before a write may not be kept after it: each load notes the generation it
//!   started in and is kept only if no write happened meanwhile.
//! - Another instance's changes are seen within [`TTL`], when the copy expires.

use guichet_domain::{AccountKind, Currency};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a copy is used before it is read again.
pub const TTL: Duration = Duration::from_secs(1);

/// Beyond this many copies the cache starts again empty (configuration is small; the bound
/// only guards against a caller that asks for many unknown ids).
const MAX_ENTRIES: usize = 4096;

/// What is kept: a kind of configuration and the id it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Key {
    PointOfSale(Uuid),
    SalesChannel(Uuid),
    PointOfSaleModes(Uuid),
    PaymentSystem(Uuid),
    Credentials(Uuid),
    InstallmentPlans(Option<Uuid>),
}

struct Entry {
    at: Instant,
    value: Box<dyn Any + Send + Sync>,
}

#[derive(Default)]
pub(crate) struct ConfigCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl ConfigCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A panic while holding the lock leaves nothing half-done: a map of copies.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get<T: Clone + 'static>(&self, key: Key) -> Option<T> {
        let entries = self.entries();
        let entry = entries.get(&key)?;
        if entry.at.elapsed() >= TTL {
            return None;
        }
        entry.value.downcast_ref::<T>().cloned()
    }

    fn put<T: Send + Sync + 'static>(&self, key: Key, generation: u64, value: T) {
        let mut entries = self.entries();
        // Checked under the lock: `clear` bumps the generation under the same lock.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                at: Instant::now(),
                value: Box::new(value),
            },
        );
    }

    /// The copy of `key`, or what `load` reads (kept when no write happened meanwhile).
    /// Errors are not kept.
    pub(crate) async fn get_or_load<T, F, Fut, E>(&self, key: Key, load: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get::<T>(key) {
            return Ok(v);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let value = load().await?;
        self.put(key, generation, value.clone());
        Ok(value)
    }

    /// A guard that forgets every copy when the configuration write holding it returns
    /// (committed, failed or cancelled).
    pub(crate) fn clear_on_return(&self) -> ClearOnReturn<'_> {
        ClearOnReturn(self)
    }

    /// Forgets every copy; called after each configuration write has committed.
    pub(crate) fn clear(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

/// Ledger accounts' ids by (kind, owner, currency), with their institution: an account is
/// never deleted nor moved, so a copy never goes stale.
#[derive(Default)]
pub(crate) struct AccountIds {
    ids: Mutex<HashMap<AccountKey, (Uuid, Uuid)>>,
}

/// An account's identity: its kind, its owner and its currency.
type AccountKey = (AccountKind, Uuid, Currency);

/// Beyond this many ids the map starts again empty (one account per order holds its
/// reservations, so the map would otherwise grow with the orders).
const MAX_ACCOUNT_IDS: usize = 100_000;

impl AccountIds {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, (Uuid, Uuid)>> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `(account id, institution id)`, if known.
    pub(crate) fn get(
        &self,
        kind: AccountKind,
        owner: Uuid,
        currency: Currency,
    ) -> Option<(Uuid, Uuid)> {
        self.ids().get(&(kind, owner, currency)).copied()
    }

    pub(crate) fn put(
        &self,
        kind: AccountKind,
        owner: Uuid,
        currency: Currency,
        id: Uuid,
        institution: Uuid,
    ) {
        let mut ids = self.ids();
        if ids.len() >= MAX_ACCOUNT_IDS {
            ids.clear();
        }
        ids.insert((kind, owner, currency), (id, institution));
    }
}

pub(crate) struct ClearOnReturn<'a>(&'a ConfigCache);

impl Drop for ClearOnReturn<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_is_served_until_cleared() {
        let cache = ConfigCache::default();
        let id = Uuid::now_v7();
        let a: Result<u32, ()> = cache
            .get_or_load(Key::PointOfSale(id), || async { Ok(1) })
            .await;
        let b: Result<u32, ()> = cache
            .get_or_load(Key::PointOfSale(id), || async { Ok(2) })
            .await;
        assert_eq!((a, b), (Ok(1), Ok(1)));
        cache.clear();
        let c: Result<u32, ()> = cache
            .get_or_load(Key::PointOfSale(id), || async { Ok(3) })
            .await;
        assert_eq!(c, Ok(3));
    }

    #[tokio::test]
    async fn a_load_that_overlaps_a_write_is_not_kept() {
        let cache = ConfigCache::default();
        let key = Key::PaymentSystem(Uuid::now_v7());
        // The load reads the old value, then a write commits and clears, then the load ends.
        let stale: Result<&str, ()> = cache
            .get_or_load(key, || async {
                cache.clear();
                Ok("before the write")
            })
            .await;
        assert_eq!(stale, Ok("before the write"));
        let fresh: Result<&str, ()> = cache
            .get_or_load(key, || async { Ok("after the write") })
            .await;
        assert_eq!(fresh, Ok("after the write"));
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let cache = ConfigCache::default();
        let key = Key::SalesChannel(Uuid::now_v7());
        let e: Result<u32, &str> = cache.get_or_load(key, || async { Err("not found") }).await;
        assert_eq!(e, Err("not found"));
        let v: Result<u32, &str> = cache.get_or_load(key, || async { Ok(7) }).await;
        assert_eq!(v, Ok(7));
    }

    #[tokio::test]
    async fn copies_expire() {
        let cache = ConfigCache::default();
        let key = Key::InstallmentPlans(None);
        let _: Result<u32, ()> = cache.get_or_load(key, || async { Ok(1) }).await;
        {
            let mut entries = cache.entries();
            let e = entries.get_mut(&key).expect("kept");
            e.at = Instant::now().checked_sub(TTL).expect("clock");
        }
        let v: Result<u32, ()> = cache.get_or_load(key, || async { Ok(2) }).await;
        assert_eq!(v, Ok(2));
    }
}

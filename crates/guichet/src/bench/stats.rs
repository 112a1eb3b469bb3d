//! Latency samples and their percentiles (exact: every sample is kept, in microseconds).

use std::collections::BTreeMap;

#[derive(Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn push(&mut self, micros: u64) {
        self.0.push(micros);
    }

    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// p50, p95, p99 and max, in milliseconds (nearest-rank).
    pub fn summary(&self) -> Option<[f64; 4]> {
        if self.0.is_empty() {
            return None;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let rank = |p: f64| {
            let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[i.clamp(1, v.len()) - 1] as f64 / 1000.0
        };
        Some([rank(50.0), rank(95.0), rank(99.0), rank(100.0)])
    }
}

/// Samples per name, printed as a table.
#[derive(Default)]
pub struct Table(pub BTreeMap<String, Samples>);

impl Table {
    pub fn push(&mut self, name: &str, micros: u64) {
        self.0.entry(name.to_owned()).or_default().push(micros);
    }

    pub fn merge(&mut self, other: &Table) {
        for (k, v) in &other.0 {
            self.0.entry(k.clone()).or_default().extend(v);
        }
    }

    pub fn print(&self, title: &str) {
        println!("{title}");
        println!(
            "  {:<28} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        for (name, s) in &self.0 {
            if let Some([p50, p95, p99, max]) = s.summary() {
                println!(
                    "  {:<28} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    name,
                    s.len(),
                    p50,
                    p95,
                    p99,
                    max
                );
            }
        }
    }
}

/// Counts per kind (errors).
#[derive(Default)]
pub struct Counts(pub BTreeMap<String, u64>);

impl Counts {
    pub fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Counts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

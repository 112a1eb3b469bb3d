//! Worldline (Atos) Sips 2.0 (Office JSON, Paypage JSON, Paypage POST results).

pub mod seal;

//! Worldline (Atos) Sips 2.0 (Office JSON, Paypage JSON, Paypage POST results).

pub mod client;
pub mod credentials;
pub mod json;
pub mod office;
pub mod paypage;
pub mod seal;

pub use credentials::Credentials;

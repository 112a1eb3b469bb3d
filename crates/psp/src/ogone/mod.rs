//! Ogone / Ingenico ePayments (DirectLink, Alias Gateway, e-Commerce feedback).

pub mod alias;
pub mod alias_delete;
pub mod client;
pub mod credentials;
pub mod directlink;
pub mod feedback;
pub mod maintenance;
pub mod params;
pub mod signature;

pub use credentials::{Credentials, Passphrase};
pub use params::parse_query;

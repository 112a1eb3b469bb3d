//! Guichet's payment-provider connectors: the wire protocols of the card payment service
//! providers (PSPs) Guichet talks to, kept apart from Guichet's own domain types.
//!
//! Today the crate holds the message signatures only, as pure functions (no IO, no async):
//!
//! - [`ogone::signature`]: Ogone / Ingenico ePayments SHA-IN (requests) and SHA-OUT (feedback)
//!   signatures, with SHA-1, SHA-256 or SHA-512.
//! - [`sips::seal`]: Worldline Sips 2.0 seals: the JSON seal (Office and Paypage JSON) and the
//!   seal of the Paypage POST `Data` result.
//!
//! Every digest published in `shared/reference/psp-protocols.md` is reproduced by the tests in
//! `tests/vectors.rs`.

mod ct;
pub mod ogone;
pub mod sips;

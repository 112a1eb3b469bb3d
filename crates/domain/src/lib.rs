//! Guichet's pure rules. No IO, no async, no database or HTTP types: everything here can be
//! called from a property test.
//!
//! - [`money`]: exact amounts in minor units with their ISO 4217 currency.
//! - [`ledger`]: double-entry transactions that cannot be built unbalanced.
//! - [`config`]: the vocabulary of the back office (payment modes, channels, providers),
//!   parsed at the edge so that an invalid value cannot exist inside.

pub mod card;
pub mod config;
pub mod installments;
pub mod ledger;
pub mod money;
pub mod order;
pub mod postings;
pub mod promo;
pub mod refund;
pub mod settlement;
pub mod threeds;
pub mod voucher;

pub use ledger::*;
pub use money::{Currency, Money, MoneyError};

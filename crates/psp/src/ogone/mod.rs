//! Ogone / Ingenico ePayments (DirectLink, Alias Gateway, e-Commerce feedback).

pub mod directlink;
pub mod signature;

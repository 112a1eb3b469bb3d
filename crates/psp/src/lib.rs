//! Guichet's payment-provider connectors: the wire protocols of the card payment service
//! providers (PSPs) Guichet talks to, kept apart from Guichet's own domain types. The contract
//! is docs/PROVIDERS.md; the facts behind it, shared/reference/psp-protocols.md.
//!
//! Ogone / Ingenico ePayments:
//! - [`ogone::signature`]: SHA-IN (requests) and SHA-OUT (feedback) signatures, SHA-1/256/512.
//! - [`ogone::alias`]: the Alias Gateway form (card data typed into a form that posts straight
//!   to Ogone) and its signed redirect ([`ogone::alias::AliasReturn`]); a saved card's CVC
//!   typed again ([`ogone::alias::AliasGatewayForm::saved_card_cvc`]) and its expiry and holder
//!   updated server to server ([`ogone::alias::AliasUpdateRequest`]).
//! - [`ogone::alias_delete`]: deleting an alias (**\[UNCONFIRMED — our design\]**).
//! - [`ogone::directlink`] and [`ogone::maintenance`]: the `orderdirect`, `maintenancedirect`
//!   and `querydirect` forms, the `<ncresponse>` reply and what its STATUS means
//!   ([`ogone::directlink::Outcome`], [`ogone::directlink::QueryOutcome`]).
//! - [`ogone::feedback`]: post-sale feedback and the 3-D Secure redirect parameters.
//! - [`ogone::client::DirectLink`]: the async DirectLink client.
//!
//! Worldline Sips 2.0:
//! - [`sips::seal`]: the JSON seal and the Paypage `Data` seal.
//! - [`sips::paypage`]: `paymentInit` and the sealed Paypage result.
//! - [`sips::office`]: refund, cancel and `getTransactionData`.
//! - [`sips::client::Sips`]: the async client.
//!
//! Shared: [`call`] (the [`call::Transport`] HTTP abstraction and [`call::CallError`], which
//! tells "never sent" from "outcome unknown"), [`amount`] (exact decimal ↔ minor units, the
//! currency table), [`card`] (masked card numbers, expiries; a full card number is never kept).
//!
//! Pure message code has no IO; the clients are the only async parts. Every digest published
//! in the reference is reproduced by the tests in `tests/vectors.rs`.

pub mod amount;
pub mod call;
pub mod card;
mod ct;
pub mod form;
pub mod ogone;
pub mod sips;

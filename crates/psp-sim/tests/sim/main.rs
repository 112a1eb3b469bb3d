//! The simulator driven over real HTTP, as Guichet's connectors and a buyer's browser would,
//! with signatures checked by `guichet_psp` (one test binary, modules by provider).

mod common;
mod faults;
mod ogone;
mod saved_cards;
mod sips;

//! API tests through the real router on a real socket, on a fresh database per test: SQLite
//! always, PostgreSQL when `GUICHET_TEST_PG_URL` is set (CI sets it and `GUICHET_REQUIRE_PG=1`).

mod abuse;
mod access_matrix;
mod admin_access;
mod admin_pages;
mod admin_pages_bo1;
mod admin_pages_bo2;
mod cards;
mod catalogue;
mod concurrency;
mod contacts;
mod helpers;
mod installments;
mod pages;
mod payment_modes;
mod platform;
mod saved_cards;
mod settlement;
mod settlement_props;
mod signed_inputs;
mod webhooks;

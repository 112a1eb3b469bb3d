//! Refunds: an order's payments and refunds, and refunding them (SPEC F11).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

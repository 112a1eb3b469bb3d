//! Installments to follow up: due, failed, with the order's schedule (SPEC F10).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

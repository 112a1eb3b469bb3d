//! The day's payments by means of payment, as a chart (SPEC F13).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

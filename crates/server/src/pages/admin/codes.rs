//! Promo codes: campaigns, single-use coupons, their uses (SPEC F6).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

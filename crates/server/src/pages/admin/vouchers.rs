//! Voucher products and issued vouchers (SPEC F7).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

//! Each channel's payment system and its security and 3-D Secure policy (SPEC F3, F5).
//! (Being built: this section's routes are added here.)

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

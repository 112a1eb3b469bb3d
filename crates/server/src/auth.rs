//! Credentials: back-office users (Argon2id passwords, bearer session tokens, roles) and shop
//! API keys. Tokens and keys are 256-bit random values; only their SHA-256 is stored, so a
//! database leak yields nothing usable.

use crate::AppState;
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use guichet_domain::config::Role;
use guichet_store::{ShopKey, User};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use time::OffsetDateTime;

/// Back-office sessions last a working day.
pub const SESSION_TTL: time::Duration = time::Duration::hours(12);
pub const SESSION_PREFIX: &str = "gbo_";
pub const SHOP_KEY_PREFIX: &str = "gsk_";
/// Characters of a shop key kept in clear to recognise it in lists.
pub const SHOP_KEY_SHOWN: usize = 12;

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::internal()
        })
}

/// Verifies in constant time with respect to the password; a malformed hash verifies nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that an unknown user name takes
/// as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"decoy password, never valid")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// `prefix` + 32 random bytes in URL-safe base64.
pub fn random_token(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty() && token.len() <= 200).then_some(token)
}

/// A signed-in back-office user (any role).
pub struct Staff {
    pub user: User,
    pub token_hash: String,
}

impl Staff {
    /// Configuration changes, users and keys are for admins; operators follow up.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action needs the admin role"))
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if !token.starts_with(SESSION_PREFIX) {
            return Err(ApiError::unauthorized());
        }
        let token_hash = sha256_hex(token);
        let user = state
            .store
            .session_user(&token_hash, OffsetDateTime::now_utc())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Staff { user, token_hash })
    }
}

/// A shop authenticated by its API key; it acts within its institution only.
pub struct Shop {
    pub key: ShopKey,
}

impl FromRequestParts<AppState> for Shop {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if !token.starts_with(SHOP_KEY_PREFIX) {
            return Err(ApiError::unauthorized());
        }
        let key = state
            .store
            .shop_key_by_hash(&sha256_hex(token))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Shop { key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(!verify_password("anything", decoy_hash()));
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = random_token(SHOP_KEY_PREFIX).unwrap();
        let b = random_token(SHOP_KEY_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("gsk_") && a.len() == 4 + 43);
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}

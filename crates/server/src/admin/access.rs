//! Sign-in, back-office users and shop API keys.

use super::InstitutionFilter;
use crate::AppState;
use crate::auth::{self, Staff};
use crate::error::{ApiError, ApiResult, Fields};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use guichet_domain::config::Role;
use guichet_store::{ShopKey, User};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub user: UserJson,
}

#[derive(Serialize, ToSchema)]
pub struct UserJson {
    pub id: Uuid,
    pub username: String,
    /// `admin` or `operator`.
    pub role: String,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            role: u.role.as_str().to_owned(),
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/admin/login", tag = "back office",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let (token, expires_at, user) = open_session(&state, req).await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: user.into(),
    }))
}

/// Checks a user name and password and opens a back-office session: its token (shown once),
/// expiry and user. Shared by the JSON login and the back-office pages.
pub async fn open_session(
    state: &AppState,
    req: LoginRequest,
) -> ApiResult<(String, OffsetDateTime, User)> {
    if req.user.len() > 100 || req.password.len() > 1024 {
        return Err(ApiError::unauthorized());
    }
    let user = state.store.find_user(&req.user).await?;
    // Verify against a decoy when the user is unknown: same cost, same answer.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| auth::decoy_hash().to_owned());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|_| ApiError::internal())?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            tracing::info!(user = %req.user, "back-office login refused");
            return Err(ApiError::unauthorized());
        }
    };
    let token = auth::random_token(auth::SESSION_PREFIX)?;
    let expires_at = OffsetDateTime::now_utc() + auth::SESSION_TTL;
    state
        .store
        .create_session(&auth::sha256_hex(&token), user.id, expires_at)
        .await?;
    tracing::info!(user = %user.username, "back-office login");
    Ok((token, expires_at, user))
}

#[utoipa::path(post, path = "/api/v1/admin/logout", tag = "back office",
    responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, staff: Staff) -> ApiResult<StatusCode> {
    state.store.delete_session(&staff.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/me", tag = "back office",
    responses((status = 200, body = UserJson)), security(("bearer" = [])))]
pub async fn me(staff: Staff) -> Json<UserJson> {
    Json(staff.user.into())
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "back office",
    responses((status = 200, body = [UserJson])), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    staff: Staff,
) -> ApiResult<Json<Vec<UserJson>>> {
    staff.require_admin()?;
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserJson::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    /// `admin` or `operator`.
    pub role: Option<String>,
}

/// Minimum length of a back-office password.
pub const PASSWORD_MIN_CHARS: usize = 12;

pub fn parse_username(raw: &str) -> Result<String, String> {
    let ok = (3..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 3 to 64 characters: letters, digits, '.', '_', '-', '@'".to_owned())
    }
}

pub fn check_password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN_CHARS {
        Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"))
    } else if n > 256 {
        Err("must be at most 256 characters".to_owned())
    } else {
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "back office",
    request_body = CreateUserRequest,
    responses((status = 201, body = UserJson), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let username = f
        .required("username", req.username)
        .and_then(|u| f.check("username", parse_username(&u)));
    let password = f
        .required("password", req.password)
        .and_then(|p| f.check("password", check_password(&p)).map(|()| p));
    let role = f
        .required("role", req.role)
        .and_then(|r| f.check("role", Role::parse(&r)));
    f.finish()?;
    let (Some(username), Some(password), Some(role)) = (username, password, role) else {
        return Err(ApiError::internal());
    };
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())??;
    let user = state.store.create_user(&username, &hash, role).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Serialize, ToSchema)]
pub struct ShopKeyJson {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ShopKey> for ShopKeyJson {
    fn from(k: ShopKey) -> Self {
        Self {
            id: k.id,
            institution_id: k.institution_id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedShopKeyJson {
    #[serde(flatten)]
    pub shop_key: ShopKeyJson,
    /// The key itself. Shown this once: only its hash is kept.
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateShopKeyRequest {
    pub institution_id: Option<Uuid>,
    pub name: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/shop-keys", tag = "back office",
    params(InstitutionFilter),
    responses((status = 200, body = [ShopKeyJson])), security(("bearer" = [])))]
pub async fn list_shop_keys(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(filter): ApiQuery<InstitutionFilter>,
) -> ApiResult<Json<Vec<ShopKeyJson>>> {
    staff.require_admin()?;
    let keys = state.store.list_shop_keys(filter.institution_id).await?;
    Ok(Json(keys.into_iter().map(ShopKeyJson::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/admin/shop-keys", tag = "back office",
    request_body = CreateShopKeyRequest,
    responses((status = 201, body = CreatedShopKeyJson), (status = 422)), security(("bearer" = [])))]
pub async fn create_shop_key(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<CreateShopKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedShopKeyJson>)> {
    staff.require_admin()?;
    let mut f = Fields::new();
    let institution_id = f.required("institution_id", req.institution_id);
    let name = f
        .required("name", req.name)
        .and_then(|n| f.check("name", guichet_domain::config::parse_name(&n, 100)));
    f.finish()?;
    let (Some(institution_id), Some(name)) = (institution_id, name) else {
        return Err(ApiError::internal());
    };
    let key = auth::random_token(auth::SHOP_KEY_PREFIX)?;
    let prefix: String = key.chars().take(auth::SHOP_KEY_SHOWN).collect();
    let stored = state
        .store
        .create_shop_key(institution_id, &name, &prefix, &auth::sha256_hex(&key))
        .await?;
    tracing::info!(shop_key = %stored.id, by = %staff.user.username, "shop key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedShopKeyJson {
            shop_key: stored.into(),
            key,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/admin/shop-keys/{id}", tag = "back office",
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn revoke_shop_key(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    state.store.revoke_shop_key(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! axum's extractors with their rejections turned into [`ApiError`](crate::error::ApiError),
//! so that a malformed body or path answers in the API's one error shape.

use crate::error::ApiError;
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

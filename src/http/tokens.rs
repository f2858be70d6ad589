//! Scoped tokens (CONTRACT section 9): `POST /v1/tokens` mints a short-lived JWT that confines a
//! client to the collections and documents its scope allows. Enforcement lives in the project
//! actor (see `mammoth_actors::scope`), on the same message as the work.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mammoth_actors::ids::{hex, rfc3339_millis};
use mammoth_actors::records::Permission;
use mammoth_actors::scope::Scope;
use serde_json::{Value, json};

use super::extract::{AuthKey, JsonObject, kind_of};
use super::{ApiError, AppState};
use crate::keys::TokenClaims;

/// Longest lifetime of a token, in seconds (24 hours).
const MAX_TTL: u64 = 86_400;
/// Lifetime when none is asked for.
const DEFAULT_TTL: u64 = 3_600;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/tokens", post(mint))
}

#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    summary = "Mint a scoped token (with a read or write key alone)",
    request_body = super::openapi::TokenRequest,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Minted", body = super::openapi::TokenResponse),
        super::openapi::ReadErrors,
    )
)]
async fn mint(
    State(state): State<AppState>,
    AuthKey(key): AuthKey,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // The key must be live, and any token or session sent with it too (401 otherwise); its
    // permission bounds the token's.
    let key_permission = key.project.authenticate(key.access.clone()).await?;
    if !key.access.is_key_alone() {
        return Err(ApiError::forbidden(
            "tokens are minted with an API key alone; remove the Authorization header",
        ));
    }
    if key_permission == Permission::Client {
        return Err(ApiError::forbidden(
            "a client key cannot mint tokens: tokens are minted by a backend with a server (read or write) key",
        ));
    }
    if let Some(field) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "scope" | "ttl" | "permission"))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field \"{field}\"; a token request has \"scope\", \"ttl\" and \"permission\""
        )));
    }
    let scope_value = body.get("scope").ok_or_else(|| {
        ApiError::bad_request(
            "\"scope\" is required, e.g. {\"scope\": {\"todos\": {\"user_id\": \"abc123\"}}}",
        )
    })?;
    Scope::parse(scope_value)?;
    let ttl = match body.get("ttl") {
        None => DEFAULT_TTL,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|t| (1..=MAX_TTL).contains(t))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "\"ttl\" must be a whole number of seconds from 1 to {MAX_TTL}, not {n}"
                ))
            })?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"ttl\" must be a whole number of seconds from 1 to {MAX_TTL}, not {}",
                kind_of(other)
            )));
        }
    };
    let asked = match body.get("permission") {
        None => None,
        Some(Value::String(p)) => Some(
            Permission::parse(p)
                .filter(|p| *p != Permission::Client)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "\"permission\" must be \"read\" or \"write\", not '{p}'"
                    ))
                })?,
        ),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"permission\" must be \"read\" or \"write\", not {}",
                kind_of(other)
            )));
        }
    };
    let permission = match (asked, key_permission) {
        (Some(Permission::Write), Permission::Read) => {
            return Err(ApiError::forbidden(
                "a read key can mint only read tokens; ask for \"permission\": \"read\" or use a write key",
            ));
        }
        (Some(p), _) => p,
        (None, p) => p,
    };
    let now = state.config.env.now_millis() / 1000;
    let Some(key_ref) = key.access.key() else {
        return Err(ApiError::forbidden("tokens are minted with an API key"));
    };
    let claims = TokenClaims {
        pid: key.project.id().to_owned(),
        kid: key_ref.key_id.clone(),
        n: key_ref.nonce.clone(),
        perm: permission,
        scope: scope_value.clone(),
        iat: now,
        exp: now + ttl,
        jti: hex(&state.config.env.random::<16>()),
    };
    let token = state.signer.mint_token(&claims);
    let body = json!({
        "token": token,
        "expires_at": rfc3339_millis(claims.exp * 1000),
        "scope": claims.scope,
        "permission": permission,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

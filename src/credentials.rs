//! Operator credentials, in one place: the root token (`Authorization: Bearer`), the dashboard
//! session cookie, and the cross-site request forgery defences every cookie-authenticated,
//! state-changing request passes ([`csrf`]: same origin and the session's synchronizer token).
//!
//! Two extractors share these rules: [`Operator`] for the admin API (rejects with the JSON
//! [`ApiError`]) and [`Signed`] for dashboard pages (no session: back to the sign-in page).
//! Operator accounts, sign-in links and sessions themselves live in [`crate::operators`].

mod csrf;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::operators::{OperatorSession, SESSION_TTL_MS};
use crate::state::AppState;
pub(crate) use csrf::{check_origin, check_token};

/// Name of the operator session cookie.
pub const COOKIE_NAME: &str = "mammoth_operator";

/// The URL an emailed or printed sign-in link points at.
pub fn link_url(public_url: &str, token: &str) -> String {
    format!("{public_url}/dashboard/verify?token={token}")
}

/// The `Set-Cookie` value that starts a session: `HttpOnly`, `SameSite=Strict`, `Path=/`, and
/// `Secure` when the public URL is https.
pub(crate) fn session_cookie(public_url: &str, token: &str) -> String {
    let secure = if public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_TTL_MS / 1000
    )
}

/// The `Set-Cookie` value that ends a session.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The session cookie's token, if the request has one.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

/// An operator on the admin API: the caller presented the root token, or a dashboard session
/// cookie (with, on state-changing methods, the session's `X-CSRF-Token` and a same-origin
/// `Origin`/`Referer`).
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(AUTHORIZATION)
            && let Some(token) = cookie_token(&parts.headers)
        {
            return from_cookie(parts, state, &token);
        }
        root_token(parts, state).map(|()| Operator)
    }
}

/// Checks `Authorization: Bearer <root token>`.
pub(crate) fn root_token(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    let Some(root) = &state.config.root_token else {
        return Err(ApiError::unauthorized(
            "the admin API is disabled: start the server with MAMMOTH_ROOT_TOKEN set",
        ));
    };
    let Some(token) = bearer(parts)? else {
        return Err(ApiError::unauthorized(
            "missing operator credentials: send Authorization: Bearer <root token>",
        ));
    };
    // Hashing first makes the comparison constant-time in the length too.
    let (a, b) = (
        Sha256::digest(token.as_bytes()),
        Sha256::digest(root.as_bytes()),
    );
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("the operator token is not valid"))
    }
}

/// A cookie-authenticated operator; root-token requests carry no cookie and skip CSRF checks.
fn from_cookie(parts: &Parts, state: &AppState, token: &str) -> Result<Operator, ApiError> {
    let session = state.operators.session(token).ok_or_else(|| {
        ApiError::unauthorized("the operator session is not valid: sign in again at /dashboard")
    })?;
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let csrf = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        guard(&parts.headers, state, &session, csrf).map_err(ApiError::forbidden)?;
    }
    Ok(Operator)
}

/// The check of every cookie-authenticated, state-changing request: it comes from the public
/// URL's origin and carries the session's synchronizer token.
pub(crate) fn guard(
    headers: &HeaderMap,
    state: &AppState,
    session: &OperatorSession,
    csrf: &str,
) -> Result<(), &'static str> {
    check_origin(headers, &state.public_url).and_then(|()| check_token(session, csrf))
}

/// A signed-in operator on a dashboard page; without a session, the page shows sign-in.
pub(crate) struct Signed {
    /// The session cookie's token (to end it on sign-out).
    pub(crate) token: String,
    /// The session.
    pub(crate) session: OperatorSession,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        cookie_token(&parts.headers)
            .and_then(|token| {
                let session = state.operators.session(&token)?;
                Some(Signed { token, session })
            })
            .ok_or_else(|| Redirect::to("/dashboard").into_response())
    }
}

/// The token of an `Authorization: Bearer ...` header, if any.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be 'Bearer <token>'",
        )),
    }
}

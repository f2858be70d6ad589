//! Extractors: JSON bodies with the app's error body, path parameters, and API-key credentials.

use std::cell::RefCell;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::ORIGIN;
use axum::http::request::Parts;

use mammoth_actors::project::{Access, KeyRef, Principal, ProjectHandle};
use mammoth_actors::records::Permission;
use mammoth_actors::scope::{Grant, Scope};
use mammoth_actors::users::SESSION_PREFIX;
use serde_json::{Map, Value};

use super::{ApiError, AppState};
use crate::credcache::{self, CredCache};
pub(crate) use crate::credentials::bearer;

/// Deepest nesting a document may have (CONTRACT section 6); the top-level object is level 1.
pub(crate) const MAX_DEPTH: usize = 32;

/// A request body that is any JSON value.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::bad_request(format!("the request body could not be read: {rejection}"))
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty; send a JSON object",
            ));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not valid JSON ({e}); send a JSON object"
            ))
        })?;
        Ok(JsonBody(value))
    }
}

/// A request body that is a JSON object at most [`MAX_DEPTH`] levels deep.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        let Value::Object(map) = value else {
            return Err(ApiError::bad_request(format!(
                "the request body must be a JSON object, not {}",
                kind_of(&value)
            )));
        };
        let depth = depth_of_map(&map);
        if depth > MAX_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the document is nested {depth} levels deep; the limit is {MAX_DEPTH}"
            )));
        }
        Ok(JsonObject(map))
    }
}

pub(crate) use crate::error::kind_of;

pub(crate) fn depth_of_map(map: &Map<String, Value>) -> usize {
    1 + map.values().map(depth_of).max().unwrap_or(0)
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(map) => depth_of_map(map),
        _ => 0,
    }
}

/// Path parameters, with the app's error body when they do not parse.
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request(format!("the URL path is invalid: {e}")))
    }
}

/// The credential of every data route: a validly signed API key and, possibly, a scoped token
/// or a session. A client key alone is refused here already (403, before any body is read); the
/// project actor checks everything again against its live tables, on the same message as the
/// work, and confines the request ([`mammoth_actors::access`]). Auth routes use [`AuthKey`].
pub(crate) struct ApiKey {
    /// The key's project.
    pub(crate) project: ProjectHandle,
    /// What the actor checks.
    pub(crate) access: Access,
    /// The permission the key was minted with.
    pub(crate) permission: Permission,
}

impl ApiKey {
    /// A parsed request body, or its error — unless the credentials themselves are refused,
    /// which answers first: a bad body never hides a 401 or 403.
    pub(crate) async fn parsed<T, E>(&self, body: Result<T, E>) -> Result<T, ApiError>
    where
        ApiError: From<E>,
    {
        match body {
            Ok(value) => Ok(value),
            Err(error) => {
                self.project
                    .authorize_data(self.access.clone(), false)
                    .await?;
                Err(ApiError::from(error))
            }
        }
    }

    /// Refuses writes early for read keys and read tokens (the actor checks again against the
    /// live table).
    pub(crate) fn require_write(&self) -> Result<(), ApiError> {
        Ok(mammoth_actors::access::require_write(
            self.claimed_permission()?,
        )?)
    }

    /// What the signed claims allow, by the actors' one rule.
    fn claimed_permission(&self) -> Result<Permission, ApiError> {
        Ok(self
            .access
            .principal
            .data_permission(self.permission, None)?)
    }
}

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = credentials(parts, state)?;
        key.claimed_permission()?;
        Ok(key)
    }
}

/// The credential of `/v1/auth/*` and `/v1/tokens`: as [`ApiKey`], but a client key alone is
/// accepted (the actor's auth checks decide what it may do).
pub(crate) struct AuthKey(pub(crate) ApiKey);

impl FromRequestParts<AppState> for AuthKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = credentials(parts, state)?;
        // A session or token sent along must be live before any body is looked at, so a
        // bearer that does not verify is 401 whatever the body (these routes are not hot).
        if !key.access.is_key_alone() {
            key.project.authenticate(key.access.clone()).await?;
        }
        Ok(AuthKey(key))
    }
}

/// Reads and verifies a request's credentials: the API key (`X-API-Key`, or `Bearer mm_...`
/// without one) and whatever `Authorization` bearer comes with it. A bearer that is present is
/// never ignored: a session (`mms_...`) goes to the actor to be looked up, the same key again is
/// the key, and anything else must verify as a scoped token of the key's project (401 if not).
fn credentials(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let bearer = bearer(parts)?;
    let (key, other) = match parts.headers.get("x-api-key") {
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::unauthorized("the X-API-Key header is not valid text"))?;
            (key.trim(), bearer)
        }
        None => match bearer {
            Some(token) if token.starts_with(crate::keys::KEY_PREFIX) => (token, None),
            Some(_) => {
                return Err(ApiError::unauthorized(
                    "missing API key: a token or session goes with the project's key in X-API-Key: mm_...",
                ));
            }
            None => {
                return Err(ApiError::unauthorized(
                    "missing API key: send it as the X-API-Key header (X-API-Key: mm_...)",
                ));
            }
        },
    };
    let claims = state.signer.verify(key).ok_or_else(|| {
        ApiError::unauthorized("the API key is malformed or was not issued by this server")
    })?;
    let project = state
        .registry
        .project(&claims.pid)
        .ok_or_else(|| ApiError::unauthorized("the API key's project does not exist"))?;
    let key_ref = KeyRef {
        key_id: claims.kid,
        nonce: claims.n,
    };
    let principal = match other {
        None => Principal::Key(key_ref),
        Some(token) if token.starts_with(SESSION_PREFIX) => Principal::Session {
            key: key_ref,
            token: token.into(),
        },
        Some(token) if token.starts_with(crate::keys::KEY_PREFIX) => {
            if token != key {
                return Err(ApiError::unauthorized(
                    "two different API keys were sent (X-API-Key and Authorization); send one",
                ));
            }
            Principal::Key(key_ref)
        }
        Some(token) => Principal::Token {
            key: key_ref,
            grant: scoped_grant(state, token, &claims.pid)?,
        },
    };
    let origin = parts
        .headers
        .get(ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into());
    Ok(ApiKey {
        project,
        access: Access { principal, origin },
        permission: claims.perm,
    })
}

/// Verifies a scoped token for `project` and turns it into a grant. Expiry and project are
/// checked on every request; the signature check and the scope's parsing only the first time a
/// worker thread sees the token (see [`VERIFIED_TOKENS`]).
fn scoped_grant(state: &AppState, token: &str, project: &str) -> Result<Arc<Grant>, ApiError> {
    let signer = state.signer.id();
    let cached = VERIFIED_TOKENS.with(|cache| cache.borrow().get(signer, token));
    let verified = match cached {
        Some(verified) => verified,
        None => {
            let claims = state.signer.verify_token(token).ok_or_else(|| {
                ApiError::unauthorized(
                    "the token is malformed, tampered with, or was not issued by this server",
                )
            })?;
            let scope = Scope::parse(&claims.scope).map_err(|_| {
                ApiError::unauthorized("the token's scope is not valid; mint a new one")
            })?;
            let grant = Grant {
                key_id: claims.kid,
                nonce: claims.n,
                permission: claims.perm,
                scope,
            };
            let verified = VerifiedToken {
                exp: claims.exp,
                project: claims.pid,
                grant: Arc::new(grant),
            };
            // The parsed scope can outweigh its JSON text; four times the token is the estimate.
            let weight = token.len().saturating_mul(4);
            VERIFIED_TOKENS.with(|cache| {
                cache
                    .borrow_mut()
                    .insert(signer, token, verified.clone(), weight)
            });
            verified
        }
    };
    let now = state.config.env.now_millis() / 1000;
    if verified.exp <= now {
        return Err(ApiError::unauthorized(
            "the token has expired; mint a new one with POST /v1/tokens",
        ));
    }
    if verified.project != project {
        return Err(ApiError::unauthorized(
            "the token belongs to another project than the API key",
        ));
    }
    Ok(verified.grant)
}

/// A scoped token whose signature was checked and whose scope was parsed.
#[derive(Clone)]
struct VerifiedToken {
    exp: u64,
    project: String,
    grant: Arc<Grant>,
}

thread_local! {
    /// Scoped tokens this worker thread has verified (see [`crate::credcache`]): only the HMAC
    /// and the scope parsing are skipped; expiry, project and the minting key's liveness are
    /// still checked on every request. Per thread: no lock.
    static VERIFIED_TOKENS: RefCell<CredCache<VerifiedToken>> =
        RefCell::new(CredCache::new(credcache::MAX_ENTRIES, credcache::MAX_BYTES));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_the_top_object_as_one() {
        let Value::Object(flat) = json!({"a": 1}) else {
            unreachable!()
        };
        assert_eq!(depth_of_map(&flat), 1);
        let Value::Object(nested) = json!({"a": {"b": [1, {"c": 2}]}}) else {
            unreachable!()
        };
        assert_eq!(depth_of_map(&nested), 4);
    }
}

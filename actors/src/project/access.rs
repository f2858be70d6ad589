//! The project actor's access checks: the one place where an [`Access`] becomes what a request
//! may do (see [`crate::access`] for the rules). Data messages call [`ProjectState::authorize`];
//! the auth family and token minting call [`ProjectState::authorize_auth`].

use subtle::ConstantTimeEq;

use super::ProjectState;
use crate::access::{
    Access, KeyRef, Principal, Reach, require_sign_in, require_write, session_scope_for,
};
use crate::error::ProjectError;
use crate::records::{KeyRecord, Permission};
use crate::scope::Grant;

impl ProjectState {
    /// Resolves a data request's credentials against the live key table, the sessions and the
    /// project's settings: its origin must be allowed, its key (and a token's minting key, and a
    /// session) live; a client key alone is refused. Answers the effective permission and scope.
    pub(super) fn authorize(&self, access: &Access, write: bool) -> Result<Reach, ProjectError> {
        self.check_origin(access)?;
        let principal = &access.principal;
        let reach = match principal {
            Principal::Operator => {
                if write {
                    return Err(ProjectError::forbidden(
                        "operator access from the dashboard is read-only",
                    ));
                }
                Reach::project(Permission::Read)
            }
            Principal::OperatorWrite => Reach::project(Permission::Write),
            Principal::Key(key) => {
                let live = self.live_key(key)?;
                Reach::project(principal.data_permission(live.permission, None)?)
            }
            Principal::Token { key, grant } => {
                let live = self.live_key(key)?;
                let minter = self.minting_key(grant)?;
                let permission =
                    principal.data_permission(live.permission, Some(minter.permission))?;
                Reach::token(permission, grant.clone())
            }
            Principal::Session { key, token } => {
                let live = self.live_key(key)?;
                let user_id = self.users.session_user_id(self.env.now_millis(), token)?;
                let permission = principal.data_permission(live.permission, None)?;
                if live.permission == Permission::Client {
                    let template = self.record.session_scope.as_ref().ok_or_else(|| {
                        ProjectError::forbidden(
                            "this project has no session_scope, so a session with a client key reaches no data; an operator sets it with PATCH /admin/v1/projects/{id} {\"session_scope\": {...}}",
                        )
                    })?;
                    Reach::session(permission, session_scope_for(template, user_id)?)
                } else {
                    Reach::project(permission)
                }
            }
        };
        if write {
            require_write(reach.permission)?;
        }
        Ok(reach)
    }

    /// The check of `/v1/auth/*` and `/v1/tokens`: origin allowed, key live, and a token or
    /// session sent with it live too (a bearer that does not verify is 401, never ignored).
    /// `sign_in` (sign-up, login, magic links) needs a write or client key. Answers the key's
    /// permission.
    pub(super) fn authorize_auth(
        &self,
        access: &Access,
        sign_in: bool,
    ) -> Result<Permission, ProjectError> {
        self.check_origin(access)?;
        let key = match &access.principal {
            Principal::Operator | Principal::OperatorWrite => {
                return Err(ProjectError::forbidden(
                    "operators do not sign in as a project's users",
                ));
            }
            Principal::Key(key) => self.live_key(key)?,
            Principal::Token { key, grant } => {
                self.minting_key(grant)?;
                self.live_key(key)?
            }
            Principal::Session { key, token } => {
                self.users.session_user_id(self.env.now_millis(), token)?;
                self.live_key(key)?
            }
        };
        if sign_in {
            require_sign_in(key.permission)?;
        }
        Ok(key.permission)
    }

    /// A browser origin must be one of the project's `allowed_origins` when it lists any
    /// (CONTRACT section 10).
    fn check_origin(&self, access: &Access) -> Result<(), ProjectError> {
        match &access.origin {
            Some(origin)
                if !self.record.allowed_origins.is_empty()
                    && !self.record.allowed_origins.iter().any(|o| **o == **origin) =>
            {
                Err(ProjectError::origin_refused(format!(
                    "requests from origin {origin} are not allowed for this project; an operator adds it to allowed_origins"
                )))
            }
            _ => Ok(()),
        }
    }

    fn live_key(&self, key: &KeyRef) -> Result<&KeyRecord, ProjectError> {
        self.key_with(&key.key_id, &key.nonce).ok_or_else(|| {
            ProjectError::unauthorized(
                "this API key has been revoked or regenerated; use a current key",
            )
        })
    }

    /// The key with this id, if its nonce matches (compared in constant time).
    fn key_with(&self, key_id: &str, nonce: &str) -> Option<&KeyRecord> {
        self.keys
            .get(key_id)
            .filter(|k| bool::from(k.nonce.as_bytes().ct_eq(nonce.as_bytes())))
    }

    fn minting_key(&self, grant: &Grant) -> Result<&KeyRecord, ProjectError> {
        self.key_with(&grant.key_id, &grant.nonce).ok_or_else(|| {
            ProjectError::unauthorized(
                "the API key that minted this token was revoked or regenerated; mint a new token",
            )
        })
    }
}

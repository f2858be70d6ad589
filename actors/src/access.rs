//! Who is asking, and what they may reach (CONTRACT sections 4, 9 and 10).
//!
//! The HTTP layer verifies signatures and builds an [`Access`]: a typed [`Principal`] (an API
//! key alone, a key with a scoped token, a key with an end user's session, or an operator) plus
//! the browser `Origin`, if any. The project actor then resolves it, on the same message as the
//! work, into a [`Reach`]: the effective permission and the scope every document must match.
//! Every data message goes through that one resolution (`ProjectState::authorize`), so a data
//! route added later is confined without knowing about keys, tokens or sessions; the auth family
//! (`/v1/auth/*`, `/v1/tokens`) has its own, narrower check (`ProjectState::authorize_auth`).
//!
//! | principal | key permission | data routes |
//! |---|---|---|
//! | key alone | read / write | that permission, whole project |
//! | key alone | client | 403: a client key needs a token or a session |
//! | key + scoped token | any | the token's permission (at most its minting key's), its scope |
//! | key + session | read / write | the key's permission, whole project (the session only identifies) |
//! | key + session | client | write, confined by the project's `session_scope` (403 without one) |
//! | operator | - | read, whole project |

use std::sync::Arc;

use serde_json::Value;

use crate::error::ProjectError;
use crate::query::Filter;
use crate::records::Permission;
use crate::scope::{Grant, Scope};

/// The write rule of data routes: a read-only effective permission may not change data. Checked
/// early by the HTTP layer on the signed claims and again by the actor on the live key table.
pub fn require_write(permission: Permission) -> Result<(), ProjectError> {
    if permission == Permission::Read {
        return Err(ProjectError::forbidden(
            "this credential is read-only; use a write key or a write token to change data",
        ));
    }
    Ok(())
}

/// The rule of sign-up, login and magic links (CONTRACT section 4): they need a client or write
/// key. Checked by the HTTP layer before any password is hashed and again by the actor.
pub fn require_sign_in(key: Permission) -> Result<(), ProjectError> {
    if key == Permission::Read {
        return Err(ProjectError::forbidden(
            "sign-up, login and magic links need a client or write key; read keys may call GET /v1/auth/me, GET /v1/auth/verify and POST /v1/auth/logout",
        ));
    }
    Ok(())
}

/// The placeholder a `session_scope` names the signed-in user by.
pub const USER_ID_PLACEHOLDER: &str = "{{user.id}}";

/// An API key as a request presents it: its id and the nonce it carries. The actor checks both
/// against its live key table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The key's id.
    pub key_id: String,
    /// The nonce the signed key carries.
    pub nonce: String,
}

/// The credentials of a request, their signatures verified (liveness is the actor's check).
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API key and nothing else.
    Key(KeyRef),
    /// An API key with a scoped token (CONTRACT section 9).
    Token {
        /// The request's API key.
        key: KeyRef,
        /// What the token grants.
        grant: Arc<Grant>,
    },
    /// An API key with an end user's session token (`mms_...`), not yet looked up.
    Session {
        /// The request's API key.
        key: KeyRef,
        /// The secret session token as sent.
        token: Box<str>,
    },
    /// A signed-in operator browsing from the dashboard: read-only, the whole project.
    Operator,
    /// A signed-in operator editing documents from the dashboard (forms checked for origin and
    /// CSRF token by the dashboard): read and write, the whole project.
    OperatorWrite,
}

/// Who is asking and from where.
#[derive(Debug, Clone)]
pub struct Access {
    /// The credentials.
    pub principal: Principal,
    /// The browser origin (`Origin` header), checked against the project's `allowed_origins`.
    pub origin: Option<Box<str>>,
}

impl Access {
    /// Access for `principal`, not from a browser.
    pub fn new(principal: Principal) -> Access {
        Access {
            principal,
            origin: None,
        }
    }

    /// Read-only access for a signed-in operator browsing a project's data from the dashboard.
    pub fn operator_read() -> Access {
        Access::new(Principal::Operator)
    }

    /// Read-write access for a signed-in operator editing a project's documents from the
    /// dashboard (its forms are origin- and CSRF-checked before they get here).
    pub fn operator_write() -> Access {
        Access::new(Principal::OperatorWrite)
    }

    /// The request's API key (none for an operator).
    pub fn key(&self) -> Option<&KeyRef> {
        match &self.principal {
            Principal::Key(key) | Principal::Token { key, .. } | Principal::Session { key, .. } => {
                Some(key)
            }
            Principal::Operator | Principal::OperatorWrite => None,
        }
    }

    /// Whether the request carries an API key and no other credential.
    pub fn is_key_alone(&self) -> bool {
        matches!(self.principal, Principal::Key(_))
    }
}

impl Principal {
    /// The one rule of what a data request may do, from the permission of its API key and, for
    /// a token, of the key that minted it. The HTTP layer calls it with the signed claims to
    /// refuse early (before reading a body); the actor calls it with the live key table.
    pub fn data_permission(
        &self,
        key: Permission,
        minter: Option<Permission>,
    ) -> Result<Permission, ProjectError> {
        match self {
            Principal::Operator => Ok(Permission::Read),
            Principal::OperatorWrite => Ok(Permission::Write),
            Principal::Key(_) => match key {
                Permission::Client => Err(ProjectError::forbidden(
                    "a client key alone reaches only /v1/auth/*; send the user's session (Authorization: Bearer mms_...) or a scoped token with it",
                )),
                other => Ok(other),
            },
            Principal::Token { grant, .. } => {
                match (minter.unwrap_or(grant.permission), grant.permission) {
                    (Permission::Write, Permission::Write) => Ok(Permission::Write),
                    (Permission::Client, _) => Err(ProjectError::forbidden(
                        "a token minted by a client key grants nothing; mint tokens with a server key",
                    )),
                    _ => Ok(Permission::Read),
                }
            }
            // With a client key a session writes inside the project's session_scope.
            Principal::Session { .. } => Ok(match key {
                Permission::Client => Permission::Write,
                other => other,
            }),
        }
    }
}

/// What an authorised data request may reach: its effective permission and confinement.
#[derive(Debug)]
pub struct Reach {
    /// `Read` or `Write`.
    pub permission: Permission,
    confinement: Confinement,
}

#[derive(Debug)]
enum Confinement {
    /// The whole project.
    Project,
    /// A scoped token's scope.
    Token(Arc<Grant>),
    /// The project's session_scope, for the signed-in user.
    Session(Scope),
}

impl Reach {
    /// The whole project with `permission`.
    pub(crate) fn project(permission: Permission) -> Reach {
        Reach {
            permission,
            confinement: Confinement::Project,
        }
    }

    /// Confined to a scoped token's scope.
    pub(crate) fn token(permission: Permission, grant: Arc<Grant>) -> Reach {
        Reach {
            permission,
            confinement: Confinement::Token(grant),
        }
    }

    /// Confined to a session's scope.
    pub(crate) fn session(permission: Permission, scope: Scope) -> Reach {
        Reach {
            permission,
            confinement: Confinement::Session(scope),
        }
    }

    /// The scope, when confined.
    pub fn scope(&self) -> Option<&Scope> {
        match &self.confinement {
            Confinement::Project => None,
            Confinement::Token(grant) => Some(&grant.scope),
            Confinement::Session(scope) => Some(scope),
        }
    }

    /// The filter every document of `collection` must match: `None` for the whole project, 403
    /// when the scope does not reach the collection.
    pub fn filter(&self, collection: &str) -> Result<Option<&Filter>, ProjectError> {
        let Some(scope) = self.scope() else {
            return Ok(None);
        };
        scope.filter_for(collection).map(Some).ok_or_else(|| {
            let whose = match self.confinement {
                Confinement::Session(_) => "the project's session_scope",
                _ => "this token's scope",
            };
            ProjectError::forbidden(format!(
                "{whose} does not include collection '{collection}'"
            ))
        })
    }

    /// For listings: `None` when `collection` is not visible at all, else its filter.
    pub fn visible(&self, collection: &str) -> Option<Option<&Filter>> {
        match self.scope() {
            None => Some(None),
            Some(scope) => scope.filter_for(collection).map(Some),
        }
    }
}

/// Checks a `session_scope` (CONTRACT section 5) as a minted scope would be checked, with the
/// placeholder standing for a user id.
pub fn validate_session_scope(template: &Value) -> Result<(), ProjectError> {
    Scope::parse(&substitute(template, "01J0000000000000000000USER")).map(|_| ())
}

/// A project's `session_scope` for the user `user_id`.
pub(crate) fn session_scope_for(template: &Value, user_id: &str) -> Result<Scope, ProjectError> {
    Scope::parse(&substitute(template, user_id))
}

/// `template` with every `{{user.id}}` inside its string values replaced by `user_id`.
fn substitute(template: &Value, user_id: &str) -> Value {
    match template {
        Value::String(s) if s.contains(USER_ID_PLACEHOLDER) => {
            Value::String(s.replace(USER_ID_PLACEHOLDER, user_id))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, user_id)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, user_id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_placeholder_is_replaced_in_string_values_only() {
        let t = json!({"todos": {"owner": "{{user.id}}", "tags": {"$in": ["a", "u-{{user.id}}"]}}, "n": 1});
        assert_eq!(
            substitute(&t, "U1"),
            json!({"todos": {"owner": "U1", "tags": {"$in": ["a", "u-U1"]}}, "n": 1})
        );
    }

    #[test]
    fn session_scopes_are_validated_like_minted_ones() {
        assert!(validate_session_scope(&json!({"todos": {"owner": "{{user.id}}"}})).is_ok());
        assert!(validate_session_scope(&json!({"todos": {"owner": {"$bad": 1}}})).is_err());
        assert!(validate_session_scope(&json!({})).is_err());
        assert!(validate_session_scope(&json!("todos")).is_err());
    }

    #[test]
    fn a_client_key_alone_reaches_no_data() {
        let key = KeyRef {
            key_id: "k".into(),
            nonce: "n".into(),
        };
        let alone = Principal::Key(key.clone());
        assert!(alone.data_permission(Permission::Client, None).is_err());
        assert_eq!(
            alone.data_permission(Permission::Read, None).unwrap(),
            Permission::Read
        );
        let session = Principal::Session {
            key,
            token: "mms_x".into(),
        };
        assert_eq!(
            session.data_permission(Permission::Client, None).unwrap(),
            Permission::Write
        );
    }
}

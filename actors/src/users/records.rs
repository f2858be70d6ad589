//! The records of end-user auth, as stored (JSON) and as shown, and [`Change`]: the records a
//! planned operation puts or deletes.

use mammoth_storage::Mutation;
use serde::{Deserialize, Serialize};

use crate::error::ProjectError;
use crate::records::encode;

/// An end user as stored (JSON). The password hash is a PHC string and is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Stable id (ULID).
    pub id: String,
    /// Trimmed, lower-cased email; unique in the project.
    pub email: String,
    /// Whether the user proved they read this inbox (a magic link was used).
    pub email_verified: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Argon2id PHC string; none for users who only ever used magic links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl UserRecord {
    /// The user as the API shows it.
    pub fn public(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            created_at: self.created_at.clone(),
        }
    }
}

/// An end user as the API shows it (`USER` in CONTRACT section 8): never a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// A session as stored (JSON), keyed by the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session.
    pub user_id: String,
    /// Milliseconds since the epoch.
    pub created_at_ms: u64,
    /// Dead from this instant on.
    pub expires_at_ms: u64,
}

/// A magic-link token as stored (JSON), keyed by the SHA-256 of the token. Deleting the record
/// is what "used" means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// Whom it signs in (or up).
    pub email: String,
    /// Milliseconds since the epoch.
    pub created_at_ms: u64,
    /// Unusable from this instant on.
    pub expires_at_ms: u64,
}

/// A user signed in: what signup, login and verify answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// The new `mms_...` token; shown only here.
    pub session_token: String,
}

/// What a password sign-in needs to check, handed out before the (slow) verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user, when the email has an account.
    pub user_id: Option<String>,
    /// Their PHC string, when they have a password. Verify against a dummy hash otherwise, so
    /// that an unknown email costs the same time as a wrong password.
    pub password_hash: Option<String>,
}

/// A refusal for going too fast: 429 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// Seconds until another attempt would be accepted (at least 1).
    pub retry_after_secs: u64,
    /// What happened and what to do.
    pub message: String,
}

impl From<Throttled> for ProjectError {
    fn from(t: Throttled) -> ProjectError {
        ProjectError::rate_limited(t.message, t.retry_after_secs)
    }
}

/// One record to put or delete; see [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or replace a user.
    PutUser(UserRecord),
    /// Remove a user (by id); their sessions go by their own ops.
    DeleteUser(String),
    /// Create a session under its token hash.
    PutSession(String, SessionRecord),
    /// End a session.
    DeleteSession(String),
    /// Create a magic link under its token hash.
    PutLink(String, LinkRecord),
    /// Consume or drop a magic link.
    DeleteLink(String),
}

/// Records to write, in order. Hand [`Change::mutations`] to storage, then [`super::Users::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a change does nothing until it is stored and applied"]
pub struct Change {
    /// The operations, applied in order.
    pub ops: Vec<Op>,
}

impl Change {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The storage mutations for `project`, records encoded as JSON.
    pub fn mutations(&self, project: &str) -> Vec<Mutation> {
        let project = project.to_owned();
        self.ops
            .iter()
            .map(|op| match op {
                Op::PutUser(user) => Mutation::PutUser {
                    project: project.clone(),
                    user_id: user.id.clone(),
                    record: encode(user),
                },
                Op::DeleteUser(id) => Mutation::DeleteUser {
                    project: project.clone(),
                    user_id: id.clone(),
                },
                Op::PutSession(hash, session) => Mutation::PutSession {
                    project: project.clone(),
                    token_hash: hash.clone(),
                    record: encode(session),
                },
                Op::DeleteSession(hash) => Mutation::DeleteSession {
                    project: project.clone(),
                    token_hash: hash.clone(),
                },
                Op::PutLink(hash, link) => Mutation::PutMagicLink {
                    project: project.clone(),
                    token_hash: hash.clone(),
                    record: encode(link),
                },
                Op::DeleteLink(hash) => Mutation::DeleteMagicLink {
                    project: project.clone(),
                    token_hash: hash.clone(),
                },
            })
            .collect()
    }
}

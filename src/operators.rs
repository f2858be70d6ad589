//! Operators: the people who run this server, separate from any project's end users.
//!
//! They sign in to the dashboard (and, with the same cookie, the admin API) by magic link. Who
//! may ask for a link: the emails in [`crate::config::Config::admin_emails`]; on a fresh data
//! directory with none configured, the server prints a one-time link at start instead.
//!
//! Links and sessions are random tokens handed out once; only their SHA-256 hex is kept, in
//! memory and as meta records (`operator_link:<hash>`, `operator_session:<hash>`) so that
//! sessions survive a restart. Expiry is checked against the injected clock. This is not on the
//! document hot path: a std `Mutex` held only for map operations guards the state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use mammoth_actors::env::Env;
use mammoth_actors::meta::{self, MetaChange};
use mammoth_storage::{Storage, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a sign-in link stays valid.
pub const LINK_TTL_MS: u64 = 15 * 60 * 1000;
/// How long an operator session lasts.
pub const SESSION_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Email recorded for the start-up link when no admin emails are configured.
pub const BOOTSTRAP_EMAIL: &str = "operator@localhost";

/// Live links one email may hold; past it a request sends nothing (and answers the same).
pub const MAX_LINKS_PER_EMAIL: usize = 5;

const LINK_PREFIX: &str = "operator_link:";
const SESSION_PREFIX: &str = "operator_session:";

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSession {
    /// Who signed in.
    pub email: String,
    /// The synchronizer token every state-changing form or cookie call must echo.
    pub csrf: String,
    /// Milliseconds since the epoch.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    email: String,
    expires_at: u64,
}

/// The operators' links and sessions. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Operators {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    emails: Vec<String>,
    env: Env,
    storage: Storage,
    /// Held only for map operations, never across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Keyed by the SHA-256 hex of the link token.
    links: HashMap<String, Link>,
    /// Keyed by the SHA-256 hex of the session token.
    sessions: HashMap<String, OperatorSession>,
}

/// SHA-256 hex of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Operators {
    /// Operators allowed by `emails`, with the records found in `meta` (taken out of it).
    pub fn load(
        emails: &[String],
        env: Env,
        storage: Storage,
        meta: &mut BTreeMap<String, Bytes>,
    ) -> Operators {
        let mut state = State::default();
        let now = env.now_millis();
        let keys: Vec<String> = meta
            .keys()
            .filter(|k| k.starts_with(LINK_PREFIX) || k.starts_with(SESSION_PREFIX))
            .cloned()
            .collect();
        for key in keys {
            let Some(value) = meta.remove(&key) else {
                continue;
            };
            if let Some(hash) = key.strip_prefix(SESSION_PREFIX) {
                if let Ok(s) = serde_json::from_slice::<OperatorSession>(&value)
                    && s.expires_at > now
                {
                    state.sessions.insert(hash.to_owned(), s);
                }
            } else if let Some(hash) = key.strip_prefix(LINK_PREFIX)
                && let Ok(l) = serde_json::from_slice::<Link>(&value)
                && l.expires_at > now
            {
                state.links.insert(hash.to_owned(), l);
            }
        }
        Operators {
            inner: Arc::new(Inner {
                emails: emails.iter().map(|e| e.trim().to_lowercase()).collect(),
                env,
                storage,
                state: Mutex::new(state),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is a single map operation: a panic cannot leave it half-done.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token(&self, prefix: &str) -> String {
        format!("{prefix}{}", hex(&self.inner.env.random::<32>()))
    }

    /// Whether `email` may ask for a sign-in link.
    pub fn is_listed(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        self.inner.emails.contains(&email)
    }

    /// Whether a session for `email` stays valid: a listed email, or the start-up operator
    /// while no list is configured.
    fn may_sign_in(&self, email: &str) -> bool {
        self.inner.emails.iter().any(|e| e == email)
            || (self.inner.emails.is_empty() && email == BOOTSTRAP_EMAIL)
    }

    /// Whether any admin email is configured.
    pub fn has_emails(&self) -> bool {
        !self.inner.emails.is_empty()
    }

    /// A sign-in link token for `email`, or `None` when it is not listed or already holds
    /// [`MAX_LINKS_PER_EMAIL`] live links. Expired links and sessions are forgotten first.
    pub async fn request_link(&self, email: &str) -> Result<Option<String>, StorageError> {
        if !self.is_listed(email) {
            return Ok(None);
        }
        let email = email.trim().to_lowercase();
        let expired = self.prune();
        if !expired.is_empty() {
            meta::apply(&self.inner.storage, expired).await?;
        }
        let pending = self
            .lock()
            .links
            .values()
            .filter(|l| l.email == email)
            .count();
        if pending >= MAX_LINKS_PER_EMAIL {
            return Ok(None);
        }
        self.issue_link(&email).await.map(Some)
    }

    /// A sign-in link token for `email`, without checking the list (the start-up link).
    pub async fn issue_link(&self, email: &str) -> Result<String, StorageError> {
        let token = self.token("mml_");
        let hash = token_hash(&token);
        let link = Link {
            email: email.to_owned(),
            expires_at: self.inner.env.now_millis() + LINK_TTL_MS,
        };
        let value = serde_json::to_vec(&link).expect("a link serializes");
        self.lock().links.insert(hash.clone(), link);
        self.persist(MetaChange::Put {
            key: format!("{LINK_PREFIX}{hash}"),
            value: value.into(),
        })
        .await?;
        Ok(token)
    }

    /// Uses a link token once: the new session's token and record, or `None` when the link is
    /// unknown, used or expired.
    pub async fn redeem(
        &self,
        token: &str,
    ) -> Result<Option<(String, OperatorSession)>, StorageError> {
        let hash = token_hash(token);
        let Some(link) = self.lock().links.remove(&hash) else {
            return Ok(None);
        };
        self.persist(MetaChange::Delete {
            key: format!("{LINK_PREFIX}{hash}"),
        })
        .await?;
        let now = self.inner.env.now_millis();
        if link.expires_at <= now {
            return Ok(None);
        }
        let session_token = self.token("mmo_");
        let session = OperatorSession {
            email: link.email,
            csrf: hex(&self.inner.env.random::<24>()),
            expires_at: now + SESSION_TTL_MS,
        };
        let session_hash = token_hash(&session_token);
        let value = serde_json::to_vec(&session).expect("a session serializes");
        self.lock()
            .sessions
            .insert(session_hash.clone(), session.clone());
        self.persist(MetaChange::Put {
            key: format!("{SESSION_PREFIX}{session_hash}"),
            value: value.into(),
        })
        .await?;
        Ok(Some((session_token, session)))
    }

    /// The live session for a cookie's token. Checked on every request: a session whose email
    /// is no longer on the admin list (the start-up operator's, once a list is set) is dead.
    pub fn session(&self, token: &str) -> Option<OperatorSession> {
        let hash = token_hash(token);
        let now = self.inner.env.now_millis();
        let mut state = self.lock();
        match state.sessions.get(&hash) {
            Some(s) if s.expires_at > now && self.may_sign_in(&s.email) => Some(s.clone()),
            Some(_) => {
                state.sessions.remove(&hash);
                None
            }
            None => None,
        }
    }

    /// Ends the session for a cookie's token.
    pub async fn sign_out(&self, token: &str) -> Result<(), StorageError> {
        let hash = token_hash(token);
        if self.lock().sessions.remove(&hash).is_some() {
            self.persist(MetaChange::Delete {
                key: format!("{SESSION_PREFIX}{hash}"),
            })
            .await?;
        }
        Ok(())
    }

    /// Forgets expired links and sessions; answers the deletions to store.
    fn prune(&self) -> Vec<MetaChange> {
        let now = self.inner.env.now_millis();
        let mut state = self.lock();
        let mut gone = Vec::new();
        state.links.retain(|hash, l| {
            let live = l.expires_at > now;
            if !live {
                gone.push(format!("{LINK_PREFIX}{hash}"));
            }
            live
        });
        state.sessions.retain(|hash, s| {
            let live = s.expires_at > now;
            if !live {
                gone.push(format!("{SESSION_PREFIX}{hash}"));
            }
            live
        });
        gone.into_iter()
            .map(|key| MetaChange::Delete { key })
            .collect()
    }

    async fn persist(&self, mutation: MetaChange) -> Result<(), StorageError> {
        meta::apply(&self.inner.storage, vec![mutation]).await
    }
}

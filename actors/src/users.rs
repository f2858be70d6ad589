//! End users, sessions and magic-link tokens of one project (CONTRACT section 8): pure state and
//! rules, no actor and no I/O, so every rule is unit-tested with a [`ManualClock`].
//!
//! # Shape of a change
//! A method that changes durable state does not change `self`: it validates and returns a
//! [`Change`] (the records to put or delete). The project actor hands `change.mutations(..)` to
//! storage and only then calls [`Users::apply`], so a change that storage refuses leaves no trace
//! (the same discipline as documents). Throttle bookkeeping is memory only and is updated at once.
//!
//! # Secrets
//! Session tokens are `mms_` + 64 hex digits (256 random bits from the injected entropy); magic
//! link tokens are `mml_` + 64 hex digits. Only the SHA-256 (hex) of a token is kept, in memory
//! and on disk, so a stolen snapshot holds no usable token. Lookups go by that hash: an attacker
//! who can time a hash-map lookup learns about hashes, not about any live token. Password hashes
//! are computed and checked outside this crate (Argon2id, on a bounded pool); this module only
//! stores the PHC string and never shows it.
//!
//! # Lifetimes
//! Sessions live [`SESSION_TTL_MS`] (30 days) from sign-in, magic links [`MAGIC_LINK_TTL_MS`]
//! (15 minutes) and are consumed by their first use. Both are checked against the injected clock.
//! Expired records are swept a few at a time ([`Users::purge_expired`]) from an expiry index.
//!
//! # Throttling (numbers chosen to stop online guessing without locking people out for long)
//! - Password sign-in: at most [`LOGIN_ATTEMPTS`] (5) attempts per email in any sliding
//!   [`THROTTLE_WINDOW_MS`] (15 minutes); a successful sign-in clears the count. An attempt counts
//!   when it starts, so a burst of concurrent guesses cannot slip past the limit; the 6th within
//!   the window gets 429 with `Retry-After` = seconds until the oldest attempt leaves the window.
//!   Unknown emails are counted exactly like known ones, so the 429 reveals nothing either.
//!   Online guessing is thereby capped at 480 guesses per email per day.
//! - Magic links: at most [`LINK_REQUESTS`] (5) per email per 15 minutes, so nobody can flood an
//!   inbox through the API; and at most [`MAX_PENDING_LINKS`] unexpired links per project.
//! - Memory: each throttle tracks at most [`THROTTLE_CAPACITY`] emails, as 64-bit keyed hashes
//!   with at most 5 timestamps each (about 100 bytes per email). When full, stale entries are
//!   swept (at most once a minute) and otherwise an arbitrary entry is evicted. Evicting a target's
//!   entry on purpose takes 100 000 distinct failing emails within 15 minutes, which the Argon2
//!   pool's own throughput (about 65 verifications per second per core) makes slower than the
//!   window itself on small machines.
//! - Sessions per user: at most [`MAX_SESSIONS_PER_USER`]; a new sign-in past it ends the oldest.

mod admin;
mod apply;
mod links;
mod records;
mod throttle;

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::env::Env;
use crate::error::{ErrorCode, ProjectError};
use crate::ids::{hex, rfc3339_millis};
use throttle::Throttle;

pub use admin::{LinkStats, MAX_USER_PAGE, UserPage, UserSummary};
pub use records::{
    Change, Credentials, LinkRecord, Op, SessionRecord, SignedIn, Throttled, User, UserRecord,
};

#[cfg(doc)]
use crate::env::ManualClock;

/// How long a session lives after sign-in (CONTRACT section 4: 30 days).
pub const SESSION_TTL_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// How long a magic link stays usable (CONTRACT section 8: 15 minutes).
pub const MAGIC_LINK_TTL_MS: u64 = 15 * 60 * 1000;
/// The prefix of a session token.
pub const SESSION_PREFIX: &str = "mms_";
/// The prefix of a magic-link token.
pub const LINK_PREFIX: &str = "mml_";
/// The sliding window of both throttles.
pub const THROTTLE_WINDOW_MS: u64 = 15 * 60 * 1000;
/// Password sign-in attempts per email per window without a success.
pub const LOGIN_ATTEMPTS: usize = 5;
/// Magic-link requests per email per window.
pub const LINK_REQUESTS: usize = 5;
/// Emails each throttle remembers at most.
pub const THROTTLE_CAPACITY: usize = 100_000;
/// Live sessions one user may hold; the oldest ends when a sign-in goes past it.
pub const MAX_SESSIONS_PER_USER: usize = 100;
/// Unexpired magic links one project may hold.
pub const MAX_PENDING_LINKS: usize = 100_000;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest token worth looking up; anything longer is not ours.
const MAX_TOKEN_LEN: usize = 128;

/// The one answer to a failed password sign-in, whether the email or the password was wrong.
pub const WRONG_CREDENTIALS: &str =
    "the email or password is wrong; check both, or sign in with a magic link";
/// One sentence for every dead session, whatever the reason: unknown, signed out, expired.
const NO_SESSION: &str = "no live session for this token (unknown, signed out or expired); sign in again and send Authorization: Bearer mms_...";
/// One sentence for every unusable link, whatever the reason: unknown, used, expired.
const BAD_LINK: &str = "this sign-in link is unknown, already used or expired; request a new one";

/// Trims, lower-cases and checks an email address: `local@domain.tld`, ASCII, at most 254
/// characters, local part of RFC 5322 "atext" and dots, domain of DNS labels.
pub fn normalize_email(raw: &str) -> Result<String, ProjectError> {
    let email = raw.trim().to_ascii_lowercase();
    let bad = |why: &str| {
        ProjectError::bad_request(format!(
            "\"email\" {why}; send an address like \"ada@example.com\""
        ))
    };
    if email.is_empty() {
        return Err(bad("is empty"));
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(bad("is longer than 254 characters"));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(bad("has no '@'"));
    };
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
    let local_ok = (1..=64).contains(&local.len())
        && local.split('.').all(|part| !part.is_empty())
        && local.bytes().all(|b| b == b'.' || atext(b));
    if !local_ok {
        return Err(bad("has an invalid part before the '@'"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.bytes().any(|b| b.is_ascii_alphabetic()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(bad("has an invalid domain after the '@'"));
    }
    Ok(email)
}

/// SHA-256 of a token, as lower-case hex: the only form in which tokens are kept.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Which map an expiry entry points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Session,
    Link,
}

/// The users, sessions, magic links and throttles of one project.
#[derive(Debug)]
pub struct Users {
    /// Users by id.
    users: HashMap<String, UserRecord>,
    /// Normalised email → user id. Invariant: one entry per user, both ways.
    by_email: HashMap<String, String>,
    /// Sessions by token hash.
    sessions: HashMap<String, SessionRecord>,
    /// User id → that user's sessions as `(created_at_ms, token hash)`, oldest first: caps
    /// sessions per user. Invariant: holds exactly the keys of `sessions`, grouped by user.
    user_sessions: HashMap<String, BTreeSet<(u64, String)>>,
    /// Magic links by token hash.
    links: HashMap<String, LinkRecord>,
    /// `(expires_at_ms, kind, token hash)` for every session and link, soonest first, so the
    /// sweep reads only what has expired. Invariant: one entry per session and per link.
    expirations: BTreeSet<(u64, Kind, String)>,
    /// Password sign-in attempts per email.
    logins: Throttle,
    /// Magic-link requests per email.
    link_requests: Throttle,
    /// Magic links issued and redeemed since the actor started (memory only).
    link_stats: LinkStats,
}

impl Default for Users {
    fn default() -> Self {
        Users {
            users: HashMap::new(),
            by_email: HashMap::new(),
            sessions: HashMap::new(),
            user_sessions: HashMap::new(),
            links: HashMap::new(),
            expirations: BTreeSet::new(),
            logins: Throttle::new(LOGIN_ATTEMPTS, THROTTLE_WINDOW_MS, THROTTLE_CAPACITY),
            link_requests: Throttle::new(LINK_REQUESTS, THROTTLE_WINDOW_MS, THROTTLE_CAPACITY),
            link_stats: LinkStats::default(),
        }
    }
}

impl Users {
    /// Loads stored records (users by id, sessions and links by token hash). Fails on a record
    /// that does not decode, naming it.
    pub fn load<'a>(
        users: impl IntoIterator<Item = (&'a String, &'a Bytes)>,
        sessions: impl IntoIterator<Item = (&'a String, &'a Bytes)>,
        links: impl IntoIterator<Item = (&'a String, &'a Bytes)>,
    ) -> Result<Users, String> {
        let mut state = Users::default();
        let mut change = Change::default();
        for (id, bytes) in users {
            let user: UserRecord =
                serde_json::from_slice(bytes).map_err(|e| format!("user {id} is corrupt: {e}"))?;
            change.ops.push(Op::PutUser(user));
        }
        for (hash, bytes) in sessions {
            let session: SessionRecord = serde_json::from_slice(bytes)
                .map_err(|e| format!("session {hash} is corrupt: {e}"))?;
            change.ops.push(Op::PutSession(hash.clone(), session));
        }
        for (hash, bytes) in links {
            let link: LinkRecord = serde_json::from_slice(bytes)
                .map_err(|e| format!("magic link {hash} is corrupt: {e}"))?;
            change.ops.push(Op::PutLink(hash.clone(), link));
        }
        state.apply(change);
        Ok(state)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Number of stored sessions (live or not yet swept).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of stored magic links (usable or not yet swept).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Forgets everything: users, sessions, links and throttles (project reset).
    pub fn clear(&mut self) {
        *self = Users::default();
    }

    /// A new account with a password (or none), signed in. 409 when the email has an account.
    pub fn sign_up(
        &self,
        env: &Env,
        email: &str,
        password_hash: Option<String>,
    ) -> Result<(SignedIn, Change), ProjectError> {
        let email = normalize_email(email)?;
        if self.by_email.contains_key(&email) {
            return Err(ProjectError::new(
                ErrorCode::Conflict,
                format!("an account with the email '{email}' already exists; log in instead"),
            ));
        }
        let now = env.now_millis();
        let user = UserRecord {
            id: self.new_user_id(env),
            email,
            email_verified: false,
            created_at: rfc3339_millis(now),
            password_hash,
        };
        let mut change = Change {
            ops: vec![Op::PutUser(user.clone())],
        };
        let session_token = self.new_session(env, &user.id, &mut change, true);
        Ok((
            SignedIn {
                user: user.public(),
                session_token,
            },
            change,
        ))
    }

    /// Counts a password sign-in attempt for `email` and hands out what to verify it against;
    /// refuses when the email has had too many attempts lately.
    pub fn attempt_login(&mut self, now: u64, email: &str) -> Result<Credentials, ProjectError> {
        let email = normalize_email(email)?;
        self.logins.hit(&email, now).map_err(|retry_after_secs| Throttled {
            retry_after_secs,
            message: format!(
                "too many sign-in attempts for this email; wait {retry_after_secs} seconds (see Retry-After) or use a magic link"
            ),
        })?;
        let user = self.by_email.get(&email).and_then(|id| self.users.get(id));
        Ok(Credentials {
            user_id: user.map(|u| u.id.clone()),
            password_hash: user.and_then(|u| u.password_hash.clone()),
        })
    }

    /// Signs in a user whose password was verified; clears their email's attempt count.
    /// 401 when the user is gone meanwhile (a project reset).
    pub fn sign_in(
        &mut self,
        env: &Env,
        user_id: &str,
    ) -> Result<(SignedIn, Change), ProjectError> {
        let Some(user) = self.users.get(user_id) else {
            return Err(ProjectError::unauthorized(WRONG_CREDENTIALS));
        };
        self.logins.clear(&user.email);
        let user = user.public();
        let mut change = Change::default();
        let session_token = self.new_session(env, &user.id, &mut change, true);
        Ok((
            SignedIn {
                user,
                session_token,
            },
            change,
        ))
    }

    /// The user of a live session; 401 otherwise.
    pub fn session_user(&self, now: u64, token: &str) -> Result<User, ProjectError> {
        let (_, session) = self.live_session(now, token)?;
        self.users
            .get(&session.user_id)
            .map(UserRecord::public)
            .ok_or_else(|| ProjectError::unauthorized(NO_SESSION))
    }

    /// The user id of a live session; 401 otherwise.
    pub fn session_user_id(&self, now: u64, token: &str) -> Result<&str, ProjectError> {
        self.live_session(now, token)
            .map(|(_, session)| session.user_id.as_str())
    }

    /// Ends a live session; 401 when there is none.
    pub fn sign_out(&self, now: u64, token: &str) -> Result<Change, ProjectError> {
        let (hash, _) = self.live_session(now, token)?;
        Ok(Change {
            ops: vec![Op::DeleteSession(hash)],
        })
    }

    /// A live session for `token` and its hash; 401 otherwise.
    fn live_session(
        &self,
        now: u64,
        token: &str,
    ) -> Result<(String, &SessionRecord), ProjectError> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > MAX_TOKEN_LEN {
            return Err(ProjectError::unauthorized(NO_SESSION));
        }
        let hash = token_hash(token);
        match self.sessions.get(&hash) {
            Some(session) if now < session.expires_at_ms => Ok((hash, session)),
            _ => Err(ProjectError::unauthorized(NO_SESSION)),
        }
    }

    /// Adds a new session for `user_id` to `change` (ending the user's oldest past the cap)
    /// and answers its token.
    /// `cap`: end the oldest sessions past the per-user limit (false when `change` already ends
    /// them all).
    fn new_session(&self, env: &Env, user_id: &str, change: &mut Change, cap: bool) -> String {
        let now = env.now_millis();
        if cap && let Some(existing) = self.user_sessions.get(user_id) {
            let excess = (existing.len() + 1).saturating_sub(MAX_SESSIONS_PER_USER);
            for (_, hash) in existing.iter().take(excess) {
                change.ops.push(Op::DeleteSession(hash.clone()));
            }
        }
        let token = format!("{SESSION_PREFIX}{}", hex(&env.random::<32>()));
        change.ops.push(Op::PutSession(
            token_hash(&token),
            SessionRecord {
                user_id: user_id.to_owned(),
                created_at_ms: now,
                expires_at_ms: now + SESSION_TTL_MS,
            },
        ));
        token
    }

    fn new_user_id(&self, env: &Env) -> String {
        loop {
            let id = env.new_id();
            if !self.users.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests;

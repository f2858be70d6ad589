//! Operator views and actions on end users (the dashboard's Users page): list with paging and
//! search, revoke every session of a user, delete a user, magic-link statistics. Pure state, as
//! the rest of [`Users`]: changes are planned here and applied after storage accepts them.

use serde::Serialize;

use super::{Change, Op, User, Users};
use crate::error::ProjectError;
use crate::ids::rfc3339_millis;

/// Most users one page lists.
pub const MAX_USER_PAGE: usize = 200;

/// One user as the operator sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    /// The user as the API shows it.
    #[serde(flatten)]
    pub user: User,
    /// RFC 3339 time of the newest live session's sign-in, if any session is live.
    pub last_sign_in: Option<String>,
    /// Sessions not yet expired.
    pub live_sessions: usize,
}

/// A page of users, oldest account first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<UserSummary>,
    /// Users matching the search, on every page.
    pub total: usize,
}

/// Magic-link sign-in figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Links issued since the project actor started.
    pub requested: u64,
    /// Links used to sign in since the project actor started.
    pub redeemed: u64,
    /// Links stored now and not yet used (expired ones are swept within moments).
    pub pending: usize,
}

impl Users {
    /// Users whose email contains `search` (case-insensitive), ordered by creation time then id,
    /// `limit` (at most [`MAX_USER_PAGE`]) from `offset`.
    pub fn list(&self, now: u64, search: &str, offset: usize, limit: usize) -> UserPage {
        let needle = search.trim().to_ascii_lowercase();
        let mut matching: Vec<_> = self
            .users
            .values()
            .filter(|u| u.email.contains(&needle))
            .collect();
        matching.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        let total = matching.len();
        let users = matching
            .into_iter()
            .skip(offset)
            .take(limit.min(MAX_USER_PAGE))
            .map(|u| {
                let live: Vec<u64> = self
                    .user_sessions
                    .get(&u.id)
                    .into_iter()
                    .flatten()
                    .filter(|(_, hash)| {
                        self.sessions
                            .get(hash)
                            .is_some_and(|s| now < s.expires_at_ms)
                    })
                    .map(|(created, _)| *created)
                    .collect();
                UserSummary {
                    user: u.public(),
                    last_sign_in: live.iter().max().map(|ms| rfc3339_millis(*ms)),
                    live_sessions: live.len(),
                }
            })
            .collect();
        UserPage { users, total }
    }

    /// Plans ending every session of `user_id`; answers how many. 404 for an unknown user.
    pub fn revoke_sessions(&self, user_id: &str) -> Result<(usize, Change), ProjectError> {
        self.known(user_id)?;
        let ops: Vec<Op> = self
            .user_sessions
            .get(user_id)
            .into_iter()
            .flatten()
            .map(|(_, hash)| Op::DeleteSession(hash.clone()))
            .collect();
        Ok((ops.len(), Change { ops }))
    }

    /// Plans deleting `user_id`, their sessions and the unused magic links for their email (so
    /// an old link cannot bring the account back). 404 for an unknown user.
    pub fn delete_user(&self, user_id: &str) -> Result<Change, ProjectError> {
        let email = self.known(user_id)?.email.clone();
        let (_, mut change) = self.revoke_sessions(user_id)?;
        change.ops.extend(
            self.links
                .iter()
                .filter(|(_, link)| link.email == email)
                .map(|(hash, _)| Op::DeleteLink(hash.clone())),
        );
        change.ops.push(Op::DeleteUser(user_id.to_owned()));
        Ok(change)
    }

    /// Magic-link figures.
    pub fn link_stats(&self) -> LinkStats {
        LinkStats {
            pending: self.links.len(),
            ..self.link_stats
        }
    }

    /// Counts a magic link issued (`redeemed == false`) or used, once storage took the change.
    pub fn count_link(&mut self, redeemed: bool) {
        if redeemed {
            self.link_stats.redeemed += 1;
        } else {
            self.link_stats.requested += 1;
        }
    }

    fn known(&self, user_id: &str) -> Result<&super::UserRecord, ProjectError> {
        self.users.get(user_id).ok_or_else(|| {
            ProjectError::not_found(format!(
                "no user '{user_id}' in this project; list users to find their id"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::env::{Clock, Env, ManualClock, OsEntropy};

    fn env() -> (Env, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let env = Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        };
        (env, clock)
    }

    fn sign_up(users: &mut Users, env: &Env, email: &str) -> String {
        let (signed, change) = users.sign_up(env, email, None).unwrap();
        users.apply(change);
        signed.user.id
    }

    #[test]
    fn lists_searches_and_pages() {
        let (env, clock) = env();
        let mut users = Users::default();
        let ada = sign_up(&mut users, &env, "ada@example.com");
        clock.advance(10);
        sign_up(&mut users, &env, "bob@example.org");
        let page = users.list(clock.now_millis(), "", 0, 10);
        assert_eq!(page.total, 2);
        assert_eq!(page.users[0].user.id, ada);
        assert_eq!(page.users[0].live_sessions, 1);
        assert!(page.users[0].last_sign_in.is_some());
        let found = users.list(clock.now_millis(), "EXAMPLE.ORG", 0, 10);
        assert_eq!(found.total, 1);
        assert_eq!(found.users[0].user.email, "bob@example.org");
        let second = users.list(clock.now_millis(), "", 1, 1);
        assert_eq!((second.total, second.users.len()), (2, 1));
        assert_eq!(second.users[0].user.email, "bob@example.org");
    }

    #[test]
    fn revoking_ends_every_session_and_deleting_forgets_the_user() {
        let (env, clock) = env();
        let mut users = Users::default();
        let id = sign_up(&mut users, &env, "ada@example.com");
        let (signed, change) = users.sign_in(&env, &id).unwrap();
        users.apply(change);
        let (n, change) = users.revoke_sessions(&id).unwrap();
        assert_eq!(n, 2);
        users.apply(change);
        assert!(
            users
                .session_user(clock.now_millis(), &signed.session_token)
                .is_err()
        );
        assert_eq!(
            users.list(clock.now_millis(), "", 0, 10).users[0].live_sessions,
            0
        );
        let change = users.delete_user(&id).unwrap();
        users.apply(change);
        assert!(users.is_empty());
        assert_eq!(
            users.revoke_sessions(&id).unwrap_err().code,
            crate::ErrorCode::NotFound
        );
    }
}

//! Applying a [`Change`] that storage accepted to the in-memory maps (users, sessions, links and
//! their expiry order), and choosing the expired records to purge.

use std::collections::BTreeSet;

use super::*;

impl Users {
    /// Deletes up to `max` sessions and links that expired by `now`.
    pub fn purge_expired(&self, now: u64, max: usize) -> Change {
        let ops = self
            .expirations
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .take(max)
            .map(|(_, kind, hash)| match kind {
                Kind::Session => Op::DeleteSession(hash.clone()),
                Kind::Link => Op::DeleteLink(hash.clone()),
            })
            .collect();
        Change { ops }
    }

    /// Applies a change that storage has accepted.
    pub fn apply(&mut self, change: Change) {
        for op in change.ops {
            match op {
                Op::PutUser(user) => {
                    if let Some(old) = self.users.get(&user.id)
                        && old.email != user.email
                    {
                        self.by_email.remove(&old.email);
                    }
                    self.by_email.insert(user.email.clone(), user.id.clone());
                    self.users.insert(user.id.clone(), user);
                }
                Op::PutSession(hash, session) => {
                    self.drop_session(&hash);
                    self.expirations
                        .insert((session.expires_at_ms, Kind::Session, hash.clone()));
                    self.user_sessions
                        .entry(session.user_id.clone())
                        .or_default()
                        .insert((session.created_at_ms, hash.clone()));
                    self.sessions.insert(hash, session);
                }
                Op::DeleteUser(id) => {
                    if let Some(old) = self.users.remove(&id) {
                        self.by_email.remove(&old.email);
                    }
                }
                Op::DeleteSession(hash) => self.drop_session(&hash),
                Op::PutLink(hash, link) => {
                    self.drop_link(&hash);
                    self.expirations
                        .insert((link.expires_at_ms, Kind::Link, hash.clone()));
                    self.links.insert(hash, link);
                }
                Op::DeleteLink(hash) => self.drop_link(&hash),
            }
        }
        debug_assert_eq!(self.users.len(), self.by_email.len());
        debug_assert_eq!(
            self.expirations.len(),
            self.sessions.len() + self.links.len()
        );
        debug_assert_eq!(
            self.user_sessions
                .values()
                .map(BTreeSet::len)
                .sum::<usize>(),
            self.sessions.len()
        );
    }

    fn drop_session(&mut self, hash: &str) {
        let Some(old) = self.sessions.remove(hash) else {
            return;
        };
        self.expirations
            .remove(&(old.expires_at_ms, Kind::Session, hash.to_owned()));
        if let Some(set) = self.user_sessions.get_mut(&old.user_id) {
            set.remove(&(old.created_at_ms, hash.to_owned()));
            if set.is_empty() {
                self.user_sessions.remove(&old.user_id);
            }
        }
    }

    fn drop_link(&mut self, hash: &str) {
        if let Some(old) = self.links.remove(hash) {
            self.expirations
                .remove(&(old.expires_at_ms, Kind::Link, hash.to_owned()));
        }
    }
}

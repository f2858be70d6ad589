//! Operator calls on a project's end users (the dashboard's Users page): list, revoke sessions,
//! delete, magic-link statistics. Operators only: the caller (dashboard or admin API) has already
//! checked the operator's credentials.

use mammoth_storage::Ticket;
use ractor::RpcReplyPort;

use super::{ProjectHandle, ProjectMsg, ProjectState};
use crate::error::ProjectError;
use crate::users::{Change, LinkStats, UserPage};

type Reply<T> = RpcReplyPort<Result<T, ProjectError>>;

/// Operator calls on end users. Build them through [`ProjectHandle`].
#[derive(Debug)]
pub(crate) enum UsersMsg {
    /// A page of users.
    List {
        /// Case-insensitive substring of the email; empty lists everyone.
        search: String,
        /// Users to skip.
        offset: usize,
        /// Users to answer at most.
        limit: usize,
        /// Where the answer goes.
        reply: Reply<UserPage>,
    },
    /// End every session of a user.
    RevokeSessions {
        /// The user.
        user_id: String,
        /// Where the answer goes: sessions ended.
        reply: Reply<(usize, Ticket)>,
    },
    /// Delete a user, their sessions and pending links.
    Delete {
        /// The user.
        user_id: String,
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Magic-link figures.
    LinkStats {
        /// Where the answer goes.
        reply: Reply<LinkStats>,
    },
}

impl ProjectState {
    pub(super) fn users_admin(&mut self, msg: UsersMsg) {
        match msg {
            UsersMsg::List {
                search,
                offset,
                limit,
                reply,
            } => {
                let page = self
                    .users
                    .list(self.env.now_millis(), &search, offset, limit);
                let _ = reply.send(Ok(page));
            }
            UsersMsg::RevokeSessions { user_id, reply } => {
                let result = self
                    .users
                    .revoke_sessions(&user_id)
                    .and_then(|(n, change)| self.commit_users(change).map(|t| (n, t)));
                let _ = reply.send(result);
            }
            UsersMsg::Delete { user_id, reply } => {
                let result = self
                    .users
                    .delete_user(&user_id)
                    .and_then(|change| self.commit_users(change));
                let _ = reply.send(result);
            }
            UsersMsg::LinkStats { reply } => {
                let _ = reply.send(Ok(self.users.link_stats()));
            }
        }
    }

    fn commit_users(&mut self, change: Change) -> Result<Ticket, ProjectError> {
        let ticket = self.storage.submit(change.mutations(&self.record.id))?;
        self.users.apply(change);
        Ok(ticket)
    }
}

impl ProjectHandle {
    /// A page of the project's users, oldest first, filtered by email substring.
    pub async fn list_users(
        &self,
        search: String,
        offset: usize,
        limit: usize,
    ) -> Result<UserPage, ProjectError> {
        self.call(|reply| {
            ProjectMsg::Users(UsersMsg::List {
                search,
                offset,
                limit,
                reply,
            })
        })
        .await
    }

    /// Ends every session of a user; durable on return, and every later call with one of
    /// those tokens is refused. Answers how many sessions ended.
    pub async fn revoke_user_sessions(&self, user_id: String) -> Result<usize, ProjectError> {
        let (n, ticket) = self
            .call(|reply| ProjectMsg::Users(UsersMsg::RevokeSessions { user_id, reply }))
            .await?;
        self.durable(ticket).await?;
        Ok(n)
    }

    /// Deletes a user with their sessions and pending magic links; durable on return.
    pub async fn delete_user(&self, user_id: String) -> Result<(), ProjectError> {
        let ticket = self
            .call(|reply| ProjectMsg::Users(UsersMsg::Delete { user_id, reply }))
            .await?;
        self.durable(ticket).await
    }

    /// Magic-link sign-in figures.
    pub async fn link_stats(&self) -> Result<LinkStats, ProjectError> {
        self.call(|reply| ProjectMsg::Users(UsersMsg::LinkStats { reply }))
            .await
    }
}

//! End-user auth inside the project actor: the glue between [`AuthMsg`] and
//! [`crate::users::Users`], and the typed [`ProjectHandle`] calls for it.
//!
//! Every message is cheap (hash-map work and one SHA-256): the slow part of a password sign-in,
//! Argon2, runs outside the actor, between [`ProjectHandle::attempt_login`] and
//! [`ProjectHandle::sign_in`]. Each message first checks the caller's API key (read keys may only
//! ask who is signed in and sign out) and sweeps a few expired sessions and links.

use mammoth_storage::Ticket;
use ractor::RpcReplyPort;

use super::{Access, ProjectHandle, ProjectMsg, ProjectState};
use crate::error::ProjectError;
use crate::users::{Change, Credentials, SignedIn, User};

/// Expired sessions and links swept per auth message: keeps each message short.
const PURGE_PER_MESSAGE: usize = 32;

type Reply<T> = RpcReplyPort<Result<T, ProjectError>>;

/// A magic link made for an email: the token to mail, and what to say in the mail.
#[derive(Debug)]
pub struct IssuedLink {
    /// The `mml_...` token; goes only into the email.
    pub token: String,
    /// The project's name, for the subject line.
    pub project_name: String,
}

/// End-user auth calls on one project. Build them through [`ProjectHandle`].
#[derive(Debug)]
pub(crate) enum AuthMsg {
    /// Create an account (with an already hashed password) and sign it in.
    SignUp {
        /// Who is asking.
        access: Access,
        /// The normalised email.
        email: String,
        /// The PHC string, hashed off the actor; `None` for a passwordless account.
        password_hash: Option<String>,
        /// Where the answer goes.
        reply: Reply<(SignedIn, Ticket)>,
    },
    /// Count a password attempt and hand out what to verify it against.
    AttemptLogin {
        /// Who is asking.
        access: Access,
        /// The normalised email.
        email: String,
        /// Where the answer goes.
        reply: Reply<Credentials>,
    },
    /// Sign in a user whose password was verified.
    SignIn {
        /// Who is asking.
        access: Access,
        /// The user's id.
        user_id: String,
        /// Where the answer goes.
        reply: Reply<(SignedIn, Ticket)>,
    },
    /// The user of a live session.
    Me {
        /// Who is asking.
        access: Access,
        /// The secret token as the client sent it.
        token: String,
        /// Where the answer goes.
        reply: Reply<User>,
    },
    /// End a session.
    SignOut {
        /// Who is asking.
        access: Access,
        /// The secret token as the client sent it.
        token: String,
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Make a magic link for an email, after checking the redirect's origin.
    RequestLink {
        /// Who is asking.
        access: Access,
        /// The normalised email.
        email: String,
        /// The redirect URL's origin, checked against the allowed origins.
        redirect_origin: Option<String>,
        /// Where the answer goes.
        reply: Reply<(IssuedLink, Ticket)>,
    },
    /// Consume a magic link and sign its email in (or up).
    RedeemLink {
        /// Who is asking.
        access: Access,
        /// The secret token as the client sent it.
        token: String,
        /// Where the answer goes.
        reply: Reply<(SignedIn, Ticket)>,
    },
}

impl ProjectState {
    pub(super) fn auth(&mut self, msg: AuthMsg) {
        self.purge_expired_auth();
        match msg {
            AuthMsg::SignUp {
                access,
                email,
                password_hash,
                reply,
            } => {
                let result = self.authorize_auth(&access, true).and_then(|_| {
                    let planned = self.users.sign_up(&self.env, &email, password_hash)?;
                    self.commit_auth(planned)
                });
                let _ = reply.send(result);
            }
            AuthMsg::AttemptLogin {
                access,
                email,
                reply,
            } => {
                let result = self
                    .authorize_auth(&access, true)
                    .and_then(|_| self.users.attempt_login(self.env.now_millis(), &email));
                let _ = reply.send(result);
            }
            AuthMsg::SignIn {
                access,
                user_id,
                reply,
            } => {
                let result = self.authorize_auth(&access, true).and_then(|_| {
                    let planned = self.users.sign_in(&self.env, &user_id)?;
                    self.commit_auth(planned)
                });
                let _ = reply.send(result);
            }
            AuthMsg::Me {
                access,
                token,
                reply,
            } => {
                let result = self
                    .authorize_auth(&access, false)
                    .and_then(|_| self.users.session_user(self.env.now_millis(), &token));
                let _ = reply.send(result);
            }
            AuthMsg::SignOut {
                access,
                token,
                reply,
            } => {
                let result = self.authorize_auth(&access, false).and_then(|_| {
                    let change = self.users.sign_out(self.env.now_millis(), &token)?;
                    self.commit_auth(((), change)).map(|((), ticket)| ticket)
                });
                let _ = reply.send(result);
            }
            AuthMsg::RequestLink {
                access,
                email,
                redirect_origin,
                reply,
            } => {
                let result = self.authorize_auth(&access, true).and_then(|_| {
                    if let Some(origin) = redirect_origin
                        && !self.record.allowed_origins.contains(&origin)
                    {
                        return Err(ProjectError::bad_request(format!(
                            "\"redirect_url\" must be on one of this project's allowed origins, and {origin} is not; add it with PATCH /admin/v1/projects/{{id}} {{\"allowed_origins\": [...]}}"
                        )));
                    }
                    let (token, change) = self.users.request_link(&self.env, &email)?;
                    let project_name = self.record.name.clone();
                    let issued = self.commit_auth((IssuedLink { token, project_name }, change))?;
                    self.users.count_link(false);
                    Ok(issued)
                });
                let _ = reply.send(result);
            }
            AuthMsg::RedeemLink {
                access,
                token,
                reply,
            } => {
                // A GET, so read keys may redeem (CONTRACT section 4); the token is the proof.
                let result = self.authorize_auth(&access, false).and_then(|_| {
                    let planned = self.users.redeem_link(&self.env, &token)?;
                    let signed = self.commit_auth(planned)?;
                    self.users.count_link(true);
                    Ok(signed)
                });
                let _ = reply.send(result);
            }
        }
    }

    /// Stores a planned change, then applies it to memory; a change storage refuses leaves no
    /// trace.
    fn commit_auth<T>(&mut self, (out, change): (T, Change)) -> Result<(T, Ticket), ProjectError> {
        let ticket = self.storage.submit(change.mutations(&self.record.id))?;
        self.users.apply(change);
        Ok((out, ticket))
    }

    /// Deletes a few expired sessions and links; on overload, tries again next time.
    fn purge_expired_auth(&mut self) {
        let change = self
            .users
            .purge_expired(self.env.now_millis(), PURGE_PER_MESSAGE);
        if change.is_empty() {
            return;
        }
        if self
            .storage
            .submit(change.mutations(&self.record.id))
            .is_ok()
        {
            self.users.apply(change);
        }
    }
}

impl ProjectHandle {
    async fn auth_call<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> AuthMsg,
    ) -> Result<T, ProjectError> {
        self.call(|reply| ProjectMsg::Auth(build(reply))).await
    }

    /// Creates an account and signs it in; durable on return. 409 when the email is taken.
    pub async fn sign_up(
        &self,
        access: Access,
        email: String,
        password_hash: Option<String>,
    ) -> Result<SignedIn, ProjectError> {
        let (signed, ticket) = self
            .auth_call(|reply| AuthMsg::SignUp {
                access,
                email,
                password_hash,
                reply,
            })
            .await?;
        self.durable(ticket).await?;
        Ok(signed)
    }

    /// Counts a password attempt for `email` and answers what to verify it against.
    pub async fn attempt_login(
        &self,
        access: Access,
        email: String,
    ) -> Result<Credentials, ProjectError> {
        self.auth_call(|reply| AuthMsg::AttemptLogin {
            access,
            email,
            reply,
        })
        .await
    }

    /// Signs in a user whose password was verified; durable on return.
    pub async fn sign_in(&self, access: Access, user_id: String) -> Result<SignedIn, ProjectError> {
        let (signed, ticket) = self
            .auth_call(|reply| AuthMsg::SignIn {
                access,
                user_id,
                reply,
            })
            .await?;
        self.durable(ticket).await?;
        Ok(signed)
    }

    /// The user of a live session token.
    pub async fn session_user(&self, access: Access, token: String) -> Result<User, ProjectError> {
        self.auth_call(|reply| AuthMsg::Me {
            access,
            token,
            reply,
        })
        .await
    }

    /// Ends a session; durable on return. The session is dead for every later call at once.
    pub async fn sign_out(&self, access: Access, token: String) -> Result<(), ProjectError> {
        let ticket = self
            .auth_call(|reply| AuthMsg::SignOut {
                access,
                token,
                reply,
            })
            .await?;
        self.durable(ticket).await
    }

    /// Makes a magic link for `email`; durable on return. `redirect_origin` (canonical
    /// `scheme://host[:port]`) must be one of the project's allowed origins.
    pub async fn request_link(
        &self,
        access: Access,
        email: String,
        redirect_origin: Option<String>,
    ) -> Result<IssuedLink, ProjectError> {
        let (link, ticket) = self
            .auth_call(|reply| AuthMsg::RequestLink {
                access,
                email,
                redirect_origin,
                reply,
            })
            .await?;
        self.durable(ticket).await?;
        Ok(link)
    }

    /// Consumes a magic link and signs its email in, creating the account if needed; durable
    /// on return.
    pub async fn redeem_link(
        &self,
        access: Access,
        token: String,
    ) -> Result<SignedIn, ProjectError> {
        let (signed, ticket) = self
            .auth_call(|reply| AuthMsg::RedeemLink {
                access,
                token,
                reply,
            })
            .await?;
        self.durable(ticket).await?;
        Ok(signed)
    }
}

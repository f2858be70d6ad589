//! Magic links of one project's users: requesting one (throttled per email, bounded per
//! project) and redeeming it (single use; signs the email in, creating the account if needed).

use super::*;

impl Users {
    /// A new single-use sign-in token for `email`, whether or not it has an account (so the
    /// answer reveals nothing). Throttled per email; refused when the project holds too many.
    pub fn request_link(
        &mut self,
        env: &Env,
        email: &str,
    ) -> Result<(String, Change), ProjectError> {
        let email = normalize_email(email)?;
        let now = env.now_millis();
        if self.links.len() >= MAX_PENDING_LINKS {
            return Err(Throttled {
                retry_after_secs: 60,
                message: "this project has too many unused sign-in links; retry in a minute".into(),
            }
            .into());
        }
        self.link_requests
            .hit(&email, now)
            .map_err(|retry_after_secs| Throttled {
                retry_after_secs,
                message: format!(
                    "too many sign-in links were requested for this email; wait {retry_after_secs} seconds (see Retry-After) and use the newest email"
                ),
            })?;
        let token = format!("{LINK_PREFIX}{}", hex(&env.random::<32>()));
        let record = LinkRecord {
            email,
            created_at_ms: now,
            expires_at_ms: now + MAGIC_LINK_TTL_MS,
        };
        Ok((
            token.clone(),
            Change {
                ops: vec![Op::PutLink(token_hash(&token), record)],
            },
        ))
    }

    /// Consumes a magic link: signs its email in, creating the account when there is none, and
    /// marks the email verified. 401 for an unknown, used or expired token.
    pub fn redeem_link(&self, env: &Env, token: &str) -> Result<(SignedIn, Change), ProjectError> {
        let now = env.now_millis();
        if !token.starts_with(LINK_PREFIX) || token.len() > MAX_TOKEN_LEN {
            return Err(ProjectError::unauthorized(BAD_LINK));
        }
        let hash = token_hash(token);
        let Some(link) = self.links.get(&hash) else {
            return Err(ProjectError::unauthorized(BAD_LINK));
        };
        if now >= link.expires_at_ms {
            return Err(ProjectError::unauthorized(BAD_LINK));
        }
        let mut change = Change {
            ops: vec![Op::DeleteLink(hash)],
        };
        let user = match self
            .by_email
            .get(&link.email)
            .and_then(|id| self.users.get(id))
        {
            Some(user) if user.email_verified => user.clone(),
            // The first proof of the inbox: whoever signed up with this email before keeps
            // nothing, neither the password they chose nor their sessions (pre-hijacking,
            // CONTRACT section 18).
            Some(user) => {
                let user = UserRecord {
                    email_verified: true,
                    password_hash: None,
                    ..user.clone()
                };
                change.ops.push(Op::PutUser(user.clone()));
                for (_, hash) in self.user_sessions.get(&user.id).into_iter().flatten() {
                    change.ops.push(Op::DeleteSession(hash.clone()));
                }
                let session_token = self.new_session(env, &user.id, &mut change, false);
                return Ok((
                    SignedIn {
                        user: user.public(),
                        session_token,
                    },
                    change,
                ));
            }
            None => {
                let user = UserRecord {
                    id: self.new_user_id(env),
                    email: link.email.clone(),
                    email_verified: true,
                    created_at: rfc3339_millis(now),
                    password_hash: None,
                };
                change.ops.push(Op::PutUser(user.clone()));
                user
            }
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
}

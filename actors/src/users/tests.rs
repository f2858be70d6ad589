//! Unit tests of the users, sessions and magic-link rules, on a manual clock.

use std::sync::Arc;

use mammoth_storage::Mutation;

use super::*;
use crate::env::{Clock, ManualClock, OsEntropy};

const T0: u64 = 1_800_000_000_000;

fn env() -> (Env, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (
        Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        },
        clock,
    )
}

fn apply<T>((out, change): (T, Change), users: &mut Users) -> T {
    users.apply(change);
    out
}

#[test]
fn emails_are_trimmed_lowercased_and_checked() {
    assert_eq!(
        normalize_email("  Foo@Example.COM ").unwrap(),
        "foo@example.com"
    );
    assert_eq!(
        normalize_email("a.b+tag@sub.example.co").unwrap(),
        "a.b+tag@sub.example.co"
    );
    for bad in [
        "",
        "foo",
        "@example.com",
        "foo@",
        "foo@example",
        "foo@@example.com",
        "foo bar@example.com",
        "foo@exa mple.com",
        ".foo@example.com",
        "foo..bar@example.com",
        "foo@-example.com",
        "foo@example.123",
        "fóo@example.com",
    ] {
        assert!(normalize_email(bad).is_err(), "{bad:?} was accepted");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert!(normalize_email(&long).is_err());
}

#[test]
fn sign_up_creates_a_user_and_a_session_and_refuses_a_duplicate() {
    let (env, _) = env();
    let mut users = Users::default();
    let signed = apply(
        users
            .sign_up(&env, " Ada@Example.com", Some("$argon2id$x".into()))
            .unwrap(),
        &mut users,
    );
    assert_eq!(signed.user.email, "ada@example.com");
    assert!(!signed.user.email_verified);
    assert!(signed.session_token.starts_with(SESSION_PREFIX));
    assert_eq!(signed.session_token.len(), 4 + 64);
    assert_eq!(
        users.session_user(T0, &signed.session_token).unwrap(),
        signed.user
    );
    let err = users.sign_up(&env, "ADA@example.com", None).unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[test]
fn only_the_hash_of_a_token_is_stored() {
    let (env, _) = env();
    let users = Users::default();
    let (signed, change) = users.sign_up(&env, "a@b.co", None).unwrap();
    let muts = change.mutations("p");
    let stored = format!("{muts:?}");
    assert!(!stored.contains(&signed.session_token));
    assert!(stored.contains(&token_hash(&signed.session_token)));
}

#[test]
fn sessions_expire_after_thirty_days() {
    let (env, clock) = env();
    let mut users = Users::default();
    let signed = apply(users.sign_up(&env, "a@b.co", None).unwrap(), &mut users);
    clock.advance(SESSION_TTL_MS - 1);
    assert!(
        users
            .session_user(clock.now_millis(), &signed.session_token)
            .is_ok()
    );
    clock.advance(1);
    let err = users
        .session_user(clock.now_millis(), &signed.session_token)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthorized);
    let purge = users.purge_expired(clock.now_millis(), 10);
    assert_eq!(purge.ops.len(), 1);
    users.apply(purge);
    assert_eq!(users.session_count(), 0);
}

#[test]
fn sign_out_ends_only_that_session() {
    let (env, _) = env();
    let mut users = Users::default();
    let first = apply(users.sign_up(&env, "a@b.co", None).unwrap(), &mut users);
    let second = apply(users.sign_in(&env, &first.user.id).unwrap(), &mut users);
    users.apply(users.sign_out(T0, &first.session_token).unwrap());
    assert!(users.session_user(T0, &first.session_token).is_err());
    assert!(users.session_user(T0, &second.session_token).is_ok());
    assert!(users.sign_out(T0, &first.session_token).is_err());
}

#[test]
fn a_user_keeps_at_most_the_newest_sessions() {
    let (env, clock) = env();
    let mut users = Users::default();
    let first = apply(users.sign_up(&env, "a@b.co", None).unwrap(), &mut users);
    let mut last = first.clone();
    for _ in 0..MAX_SESSIONS_PER_USER {
        clock.advance(1);
        last = apply(users.sign_in(&env, &first.user.id).unwrap(), &mut users);
    }
    assert_eq!(users.session_count(), MAX_SESSIONS_PER_USER);
    let now = clock.now_millis();
    assert!(users.session_user(now, &first.session_token).is_err());
    assert!(users.session_user(now, &last.session_token).is_ok());
}

#[test]
fn login_attempts_are_throttled_per_email_and_a_success_clears_them() {
    let (env, clock) = env();
    let mut users = Users::default();
    let signed = apply(users.sign_up(&env, "a@b.co", None).unwrap(), &mut users);
    for _ in 0..LOGIN_ATTEMPTS {
        users.attempt_login(clock.now_millis(), "a@b.co").unwrap();
        clock.advance(1_000);
    }
    let Err(e) = users.attempt_login(clock.now_millis(), "A@B.co") else {
        panic!("the sixth attempt must be throttled");
    };
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.retry_after, Some((THROTTLE_WINDOW_MS - 5_000) / 1000));
    // Other emails are not affected; unknown ones count the same way.
    for _ in 0..LOGIN_ATTEMPTS {
        let c = users
            .attempt_login(clock.now_millis(), "nobody@b.co")
            .unwrap();
        assert_eq!(c.user_id, None);
    }
    assert!(
        users
            .attempt_login(clock.now_millis(), "nobody@b.co")
            .is_err()
    );
    // The window slides: once the oldest attempt is 15 minutes old, one more is allowed.
    clock.advance(THROTTLE_WINDOW_MS - 5_000);
    let c = users.attempt_login(clock.now_millis(), "a@b.co").unwrap();
    assert_eq!(c.user_id.as_deref(), Some(signed.user.id.as_str()));
    assert!(users.attempt_login(clock.now_millis(), "a@b.co").is_err());
    // A successful sign-in clears the count.
    apply(users.sign_in(&env, &signed.user.id).unwrap(), &mut users);
    assert!(users.attempt_login(clock.now_millis(), "a@b.co").is_ok());
}

#[test]
fn magic_links_are_single_use_and_expire() {
    let (env, clock) = env();
    let mut users = Users::default();
    let token = apply(users.request_link(&env, "New@b.co").unwrap(), &mut users);
    assert!(token.starts_with(LINK_PREFIX));
    let signed = apply(users.redeem_link(&env, &token).unwrap(), &mut users);
    assert_eq!(signed.user.email, "new@b.co");
    assert!(signed.user.email_verified, "a used link verifies the email");
    assert_eq!(users.len(), 1);
    assert_eq!(
        users.redeem_link(&env, &token).unwrap_err().code,
        ErrorCode::Unauthorized
    );

    let token = apply(users.request_link(&env, "new@b.co").unwrap(), &mut users);
    clock.advance(MAGIC_LINK_TTL_MS);
    assert!(users.redeem_link(&env, &token).is_err());
    assert!(users.redeem_link(&env, "mml_forged").is_err());
    assert!(users.redeem_link(&env, "").is_err());
    users.apply(users.purge_expired(clock.now_millis(), 10));
    assert_eq!(users.link_count(), 0);
}

#[test]
fn a_magic_link_signs_in_an_existing_user_and_verifies_them() {
    let (env, _) = env();
    let mut users = Users::default();
    let first = apply(users.sign_up(&env, "a@b.co", None).unwrap(), &mut users);
    let token = apply(users.request_link(&env, "a@b.co").unwrap(), &mut users);
    let signed = apply(users.redeem_link(&env, &token).unwrap(), &mut users);
    assert_eq!(signed.user.id, first.user.id);
    assert!(signed.user.email_verified);
    assert_eq!(users.len(), 1);
}

#[test]
fn magic_link_requests_are_throttled() {
    let (env, clock) = env();
    let mut users = Users::default();
    for _ in 0..LINK_REQUESTS {
        let _ = users.request_link(&env, "a@b.co").unwrap();
    }
    assert!(matches!(
        users.request_link(&env, "a@b.co"),
        Err(ProjectError {
            code: ErrorCode::RateLimited,
            retry_after: Some(_),
            ..
        })
    ));
    clock.advance(THROTTLE_WINDOW_MS);
    assert!(users.request_link(&env, "a@b.co").is_ok());
}

#[test]
fn records_round_trip_through_storage_bytes() {
    let (env, _) = env();
    let mut users = Users::default();
    let signed = apply(
        users
            .sign_up(&env, "a@b.co", Some("$argon2id$h".into()))
            .unwrap(),
        &mut users,
    );
    let token = apply(users.request_link(&env, "c@d.co").unwrap(), &mut users);
    let (mut u, mut s, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for m in [
        users
            .users
            .values()
            .map(|r| Op::PutUser(r.clone()))
            .collect::<Vec<_>>(),
        users
            .sessions
            .iter()
            .map(|(h, r)| Op::PutSession(h.clone(), r.clone()))
            .collect(),
        users
            .links
            .iter()
            .map(|(h, r)| Op::PutLink(h.clone(), r.clone()))
            .collect(),
    ]
    .into_iter()
    .flat_map(|ops| Change { ops }.mutations("p"))
    {
        match m {
            Mutation::PutUser {
                user_id, record, ..
            } => u.push((user_id, record)),
            Mutation::PutSession {
                token_hash, record, ..
            } => s.push((token_hash, record)),
            Mutation::PutMagicLink {
                token_hash, record, ..
            } => l.push((token_hash, record)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let loaded = Users::load(
        u.iter().map(|(k, v)| (k, v)),
        s.iter().map(|(k, v)| (k, v)),
        l.iter().map(|(k, v)| (k, v)),
    )
    .unwrap();
    assert_eq!(
        loaded.session_user(T0, &signed.session_token).unwrap(),
        signed.user
    );
    assert_eq!(
        loaded.users[&signed.user.id].password_hash.as_deref(),
        Some("$argon2id$h")
    );
    assert!(loaded.redeem_link(&env, &token).is_ok());
    let public = serde_json::to_value(signed.user).unwrap();
    assert!(public.get("password_hash").is_none());
}

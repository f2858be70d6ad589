//! CONTRACT section 8 (issue 4): end-user sign-up and sign-in with passwords and magic links,
//! sessions, throttling, and real mail through an SMTP server started by the test.

use std::sync::Arc;
use std::time::Duration;

use mammoth::config::Config;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::{Instance, code};

const T0: u64 = 1_800_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const PASSWORD: &str = "correct horse battery";

/// What a test needs from one answer.
struct Answer {
    status: StatusCode,
    body: Value,
    /// The body exactly as sent.
    text: String,
    retry_after: Option<u64>,
}

impl Instance {
    /// A request with `key` in X-API-Key and, optionally, a session as Bearer.
    async fn auth(
        &self,
        key: &str,
        session: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if !key.is_empty() {
            request = request.header("X-API-Key", key);
        }
        if let Some(session) = session {
            request = request.bearer_auth(session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        if !status.is_success() {
            assert!(!code(&body).is_empty(), "error without a code: {text}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "error without a message: {text}"
            );
        }
        Answer {
            status,
            body,
            text,
            retry_after,
        }
    }

    async fn signup(&self, email: &str, password: &str) -> Answer {
        self.auth(
            &self.key,
            None,
            Method::POST,
            "/v1/auth/signup",
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    async fn login(&self, email: &str, password: &str) -> Answer {
        self.auth(
            &self.key,
            None,
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    async fn me(&self, session: &str) -> Answer {
        self.auth(&self.key, Some(session), Method::GET, "/v1/auth/me", None)
            .await
    }

    async fn logout(&self, session: &str) -> Answer {
        self.auth(
            &self.key,
            Some(session),
            Method::POST,
            "/v1/auth/logout",
            None,
        )
        .await
    }

    async fn magic_link(&self, body: Value) -> Answer {
        self.auth(
            &self.key,
            None,
            Method::POST,
            "/v1/auth/magic-link",
            Some(body),
        )
        .await
    }

    async fn verify(&self, token: &str) -> Answer {
        let path = format!("/v1/auth/verify?token={token}");
        self.auth(&self.key, None, Method::GET, &path, None).await
    }

    /// The newest outbox message to `to`.
    async fn last_mail_to(&self, to: &str) -> Value {
        let (status, outbox) = self.admin(Method::GET, "/outbox", None).await;
        assert_eq!(status, StatusCode::OK, "{outbox}");
        outbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["to"] == to)
            .unwrap_or_else(|| panic!("no mail to {to} in {outbox}"))
            .clone()
    }
}

/// A server whose clock moves only when the test says so.
async fn clocked() -> (Instance, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config {
        env: Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        },
        ..Config::in_memory()
    };
    (Instance::with_config(config).await, clock)
}

fn session_of(answer: &Answer) -> String {
    answer.body["session_token"].as_str().unwrap().to_owned()
}

fn token_in(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no token in {link}"))
}

fn assert_user_shape(user: &Value, email: &str, verified: bool) {
    let keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        4,
        "USER has exactly id, email, email_verified, created_at: {user}"
    );
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(user["email"], email);
    assert_eq!(user["email_verified"], verified);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn signup_me_login_and_logout_follow_the_contract() {
    let s = Instance::start().await;
    let up = s.signup("ada@example.com", PASSWORD).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.text);
    assert_user_shape(&up.body["user"], "ada@example.com", false);
    let session = session_of(&up);
    assert!(session.starts_with("mms_"));
    assert!(session.len() >= 4 + 43, "at least 256 bits: {session}");

    let me = s.me(&session).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body, json!({"user": up.body["user"]}));

    let login = s.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["user"], up.body["user"]);
    let second = session_of(&login);
    assert_ne!(second, session);

    let out = s.logout(&session).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    assert_eq!(out.text, "");
    let me = s.me(&session).await;
    assert_eq!(
        (me.status, code(&me.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(s.logout(&session).await.status, StatusCode::UNAUTHORIZED);
    assert!(!up.text.contains("argon2") && !login.text.contains("argon2"));
}

#[tokio::test]
async fn emails_are_trimmed_and_lower_cased() {
    let s = Instance::start().await;
    let up = s.signup("  Foo@Example.COM ", PASSWORD).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.text);
    assert_eq!(up.body["user"]["email"], "foo@example.com");
    let login = s.login("foo@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let login = s.login(" FOO@example.com\t", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["user"]["email"], "foo@example.com");
}

#[tokio::test]
async fn duplicate_signup_is_409_whatever_the_case() {
    let s = Instance::start().await;
    assert_eq!(
        s.signup("ada@example.com", PASSWORD).await.status,
        StatusCode::CREATED
    );
    let again = s.signup("ADA@example.com ", "another password").await;
    assert_eq!(
        (again.status, code(&again.body)),
        (StatusCode::CONFLICT, "conflict")
    );
}

#[tokio::test]
async fn bad_signups_are_400_with_a_hint() {
    let s = Instance::start().await;
    let cases = [
        json!({"email": "not-an-email", "password": PASSWORD}),
        json!({"email": "a@b", "password": PASSWORD}),
        json!({"email": "ada@example.com", "password": "short"}),
        json!({"email": "ada@example.com", "password": "x".repeat(1025)}),
        json!({"email": "ada@example.com"}),
        json!({"password": PASSWORD}),
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": "ada@example.com", "password": PASSWORD, "role": "admin"}),
    ];
    for body in cases {
        let a = s
            .auth(
                &s.key,
                None,
                Method::POST,
                "/v1/auth/signup",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (a.status, code(&a.body)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{body}"
        );
    }
    let longest = s.signup("ada@example.com", &"x".repeat(1024)).await;
    assert_eq!(longest.status, StatusCode::CREATED, "{}", longest.text);
    let malformed = s
        .client
        .post(format!("{}/v1/auth/signup", s.url))
        .header("X-API-Key", &s.key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_byte_identical_401s() {
    let s = Instance::start().await;
    assert_eq!(
        s.signup("ada@example.com", PASSWORD).await.status,
        StatusCode::CREATED
    );
    let wrong_password = s.login("ada@example.com", "not the password").await;
    let unknown_email = s.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.text, unknown_email.text);
    assert_eq!(code(&wrong_password.body), "unauthorized");
    // A magic-link-only account has no password: the same answer again.
    let link = s.magic_link(json!({"email": "links@example.com"})).await;
    assert_eq!(link.status, StatusCode::ACCEPTED);
    let mail = s.last_mail_to("links@example.com").await;
    assert_eq!(
        s.verify(&token_in(mail["link"].as_str().unwrap()))
            .await
            .status,
        StatusCode::OK
    );
    let no_password = s.login("links@example.com", "not the password").await;
    assert_eq!(no_password.text, wrong_password.text);
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let s = Instance::start().await;
    let first = session_of(&s.signup("ada@example.com", PASSWORD).await);
    let second = session_of(&s.login("ada@example.com", PASSWORD).await);
    assert_eq!(s.logout(&first).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.me(&first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.me(&second).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_is_refused_with_another_projects_key() {
    let s = Instance::start().await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    let (_, other_key) = s.new_project("other").await;
    let me = s
        .auth(&other_key, Some(&session), Method::GET, "/v1/auth/me", None)
        .await;
    assert_eq!(
        (me.status, code(&me.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let out = s
        .auth(
            &other_key,
            Some(&session),
            Method::POST,
            "/v1/auth/logout",
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    // Nor can the other project log the user in: its users are its own.
    let login = s
        .auth(
            &other_key,
            None,
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.me(&session).await.status,
        StatusCode::OK,
        "still live at home"
    );
}

#[tokio::test]
async fn me_without_a_live_session_is_401() {
    let s = Instance::start().await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    let none = s.auth(&s.key, None, Method::GET, "/v1/auth/me", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    for bad in [
        "mms_forged",
        "mms_",
        "garbage",
        &format!("{session}x"),
        &s.key,
    ] {
        let a = s.me(bad).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{bad}: {}", a.text);
    }
    // The session alone, without the project's key, is not enough.
    let keyless = s
        .auth("", Some(&session), Method::GET, "/v1/auth/me", None)
        .await;
    assert_eq!(keyless.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_expire_after_thirty_days() {
    let (s, clock) = clocked().await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    clock.advance(30 * DAY_MS - 1_000);
    assert_eq!(s.me(&session).await.status, StatusCode::OK);
    clock.advance(1_000);
    let me = s.me(&session).await;
    assert_eq!(
        (me.status, code(&me.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    // Signing in again gives a fresh 30 days.
    let fresh = session_of(&s.login("ada@example.com", PASSWORD).await);
    clock.advance(29 * DAY_MS);
    assert_eq!(s.me(&fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_magic_link_signs_up_a_new_email_once() {
    let s = Instance::start().await;
    let sent = s.magic_link(json!({"email": " New@Example.com"})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    assert_eq!(sent.body, json!({"status": "sent"}));

    let mail = s.last_mail_to("new@example.com").await;
    let link = mail["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/v1/auth/verify?token=mml_", s.url)),
        "{link}"
    );
    assert!(mail["body"].as_str().unwrap().contains(link));
    assert!(mail["subject"].as_str().unwrap().contains("default"));
    assert!(mail["sent_at"].as_str().unwrap().ends_with('Z'));

    let token = token_in(link);
    let verified = s.verify(&token).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_user_shape(&verified.body["user"], "new@example.com", true);
    let session = session_of(&verified);
    assert_eq!(s.me(&session).await.body["user"], verified.body["user"]);

    let again = s.verify(&token).await;
    assert_eq!(
        (again.status, code(&again.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    // The account exists now: a password signup for it is a conflict.
    assert_eq!(
        s.signup("new@example.com", PASSWORD).await.status,
        StatusCode::CONFLICT
    );
}

/// CONTRACT section 18 (issue 12): account pre-hijacking. Whoever signed up with someone else's
/// email keeps nothing once the owner proves the inbox: not the password, not the sessions.
#[tokio::test]
async fn a_magic_link_verifies_an_existing_account_and_ends_a_pre_hijacker() {
    let s = Instance::start().await;
    let up = s.signup("ada@example.com", PASSWORD).await;
    assert_eq!(up.body["user"]["email_verified"], false);
    let attacker = session_of(&up);
    let attacker_login = s.login("ada@example.com", PASSWORD).await;
    assert_eq!(attacker_login.status, StatusCode::OK);
    let attacker2 = session_of(&attacker_login);
    s.magic_link(json!({"email": "ada@example.com"})).await;
    let mail = s.last_mail_to("ada@example.com").await;
    let verified = s.verify(&token_in(mail["link"].as_str().unwrap())).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.body["user"]["id"], up.body["user"]["id"]);
    assert_eq!(verified.body["user"]["email_verified"], true);
    for old in [&attacker, &attacker2] {
        assert_eq!(
            s.me(old).await.status,
            StatusCode::UNAUTHORIZED,
            "the pre-hijacker's sessions are dead"
        );
    }
    let login = s.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (login.status, code(&login.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "the pre-hijacker's password no longer works"
    );
    let owner = session_of(&verified);
    assert_eq!(s.me(&owner).await.status, StatusCode::OK);
    // A second link for a verified account keeps its sessions.
    s.magic_link(json!({"email": "ada@example.com"})).await;
    let mail = s.last_mail_to("ada@example.com").await;
    let again = s.verify(&token_in(mail["link"].as_str().unwrap())).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(s.me(&owner).await.status, StatusCode::OK);
}

#[tokio::test]
async fn magic_links_answer_the_same_for_known_and_unknown_emails() {
    let s = Instance::start().await;
    s.signup("ada@example.com", PASSWORD).await;
    let known = s.magic_link(json!({"email": "ada@example.com"})).await;
    let unknown = s.magic_link(json!({"email": "nobody@example.com"})).await;
    assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));
    assert_eq!(known.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn magic_links_expire_after_fifteen_minutes() {
    let (s, clock) = clocked().await;
    s.magic_link(json!({"email": "ada@example.com"})).await;
    let first = token_in(
        s.last_mail_to("ada@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    s.magic_link(json!({"email": "ada@example.com"})).await;
    let second = token_in(
        s.last_mail_to("ada@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    assert_ne!(first, second);
    clock.advance(15 * 60 * 1000 - 1);
    assert_eq!(s.verify(&second).await.status, StatusCode::OK);
    clock.advance(1);
    let late = s.verify(&first).await;
    assert_eq!(
        (late.status, code(&late.body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn forged_and_unknown_link_tokens_are_401() {
    let s = Instance::start().await;
    s.magic_link(json!({"email": "ada@example.com"})).await;
    let real = token_in(
        s.last_mail_to("ada@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    let mut flipped = real.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let session = session_of(&s.signup("eve@example.com", PASSWORD).await);
    for token in [
        "mml_0000",
        flipped.as_str(),
        "anything",
        session.as_str(),
        &"a".repeat(5000),
    ] {
        let a = s.verify(token).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token}: {}", a.text);
    }
    let missing = s
        .auth(&s.key, None, Method::GET, "/v1/auth/verify", None)
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.verify(&real).await.status,
        StatusCode::OK,
        "the real one still works"
    );
}

#[tokio::test]
async fn redirect_urls_must_be_on_an_allowed_origin() {
    let s = Instance::start().await;
    let no_origins = s
        .magic_link(
            json!({"email": "ada@example.com", "redirect_url": "https://app.example.com/cb"}),
        )
        .await;
    assert_eq!(
        no_origins.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_origins.text
    );

    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({"allowed_origins": ["https://app.example.com", "http://localhost:3000"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let sent = s
        .magic_link(json!({"email": "ada@example.com", "redirect_url": "https://app.example.com/after-login?next=%2Fhome"}))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let link = s.last_mail_to("ada@example.com").await["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with("https://app.example.com/after-login?next=%2Fhome&token=mml_"),
        "{link}"
    );
    assert_eq!(s.verify(&token_in(&link)).await.status, StatusCode::OK);

    let local = s
        .magic_link(json!({"email": "bob@example.com", "redirect_url": "http://localhost:3000/"}))
        .await;
    assert_eq!(local.status, StatusCode::ACCEPTED, "{}", local.text);

    for bad in [
        "https://app.example.com.evil.com/cb",
        "https://evil.com/https://app.example.com",
        "http://app.example.com/cb",
        "https://app.example.com:8443/cb",
        "https://sub.app.example.com/cb",
        "http://localhost:3001/",
        "javascript:alert(1)",
        "/relative/path",
        "https://app.example.com@evil.com/",
    ] {
        let a = s
            .magic_link(json!({"email": "eve@example.com", "redirect_url": bad}))
            .await;
        assert_eq!(
            (a.status, code(&a.body)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}: {}",
            a.text
        );
    }
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    assert!(
        !outbox.to_string().contains("eve@example.com"),
        "refused requests send nothing"
    );
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let (s, clock) = clocked().await;
    s.signup("ada@example.com", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            s.login("ada@example.com", "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
        clock.advance(1_000);
    }
    let limited = s.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (limited.status, code(&limited.body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        limited.text
    );
    let retry = limited.retry_after.expect("429 carries Retry-After");
    assert!((1..=900).contains(&retry), "{retry}");
    // Other emails are unaffected; unknown emails are throttled alike.
    let other = s.signup("bob@example.com", PASSWORD).await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(
        s.login("bob@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    for _ in 0..5 {
        s.login("ghost@example.com", "whatever1").await;
    }
    let ghost = s.login("ghost@example.com", "whatever1").await;
    assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ghost.body["error"]["code"], limited.body["error"]["code"]);
    assert!(ghost.retry_after.is_some());
    // Once the window has slid past, the right password works again.
    clock.advance(retry * 1000);
    let login = s.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}

#[tokio::test]
async fn magic_link_requests_are_throttled_per_email() {
    let (s, clock) = clocked().await;
    for _ in 0..5 {
        let a = s.magic_link(json!({"email": "ada@example.com"})).await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    let limited = s.magic_link(json!({"email": "ADA@example.com"})).await;
    assert_eq!(
        (limited.status, code(&limited.body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(limited.retry_after.is_some_and(|r| (1..=900).contains(&r)));
    assert_eq!(
        s.magic_link(json!({"email": "bob@example.com"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    clock.advance(15 * 60 * 1000);
    assert_eq!(
        s.magic_link(json!({"email": "ada@example.com"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn read_keys_may_only_verify_ask_who_is_signed_in_and_sign_out() {
    let s = Instance::start().await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    let read = s.new_key(&s.project, "ro", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let creds = json!({"email": "bob@example.com", "password": PASSWORD});
    for (method, path, body) in [
        (Method::POST, "/v1/auth/signup", Some(creds.clone())),
        (Method::POST, "/v1/auth/login", Some(creds.clone())),
        (
            Method::POST,
            "/v1/auth/magic-link",
            Some(json!({"email": "bob@example.com"})),
        ),
    ] {
        let a = s.auth(&read, None, method.clone(), path, body).await;
        assert_eq!(
            (a.status, code(&a.body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path}: {}",
            a.text
        );
    }
    // Verify is a GET, which read keys may call (CONTRACT section 4): the app's own page receives
    // the link's token and verifies it with the key it ships.
    s.magic_link(json!({"email": "bob@example.com"})).await;
    let token = token_in(
        s.last_mail_to("bob@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    let verified = s
        .auth(
            &read,
            None,
            Method::GET,
            &format!("/v1/auth/verify?token={token}"),
            None,
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let me = s
        .auth(&read, Some(&session), Method::GET, "/v1/auth/me", None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let out = s
        .auth(&read, Some(&session), Method::POST, "/v1/auth/logout", None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    assert_eq!(s.me(&session).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reset_drops_users_sessions_and_links() {
    let s = Instance::start().await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    s.magic_link(json!({"email": "bob@example.com"})).await;
    let token = token_in(
        s.last_mail_to("bob@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/projects/{}/reset", s.project),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.me(&session).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.login("ada@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.verify(&token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.signup("ada@example.com", PASSWORD).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_outbox_is_for_operators_only() {
    let s = Instance::start().await;
    let anonymous = s
        .client
        .get(format!("{}/admin/v1/outbox", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let with_key = s
        .client
        .get(format!("{}/admin/v1/outbox", s.url))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = s.admin(Method::GET, "/outbox", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"messages": []})));
}

/// Argon2 runs on the password pool, never on the project actor: with every hash held in the
/// pool and 64 logins' actor messages queued, 100 document GETs on the same project take about
/// what they took before the storm (within 4x + 1.5 s: a 50 ms stall per login message costs
/// 3.2 s). Proportional, not a speed target: it compares the same reads on the same machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_reads_keep_answering_during_a_login_storm() {
    // Issue 11: the old version only checked for 200s, and passed with a 50 ms stall in the
    // actor's login message. Here every hash is held in the pool, so the storm costs the actor
    // only its login messages; if a login held the actor (Argon2 inside it, or any stall),
    // reads sent behind 64 queued logins would wait for all of them. The reads are compared
    // with the same reads before the storm, so the check follows the machine's speed.
    let s = Arc::new(Instance::start().await);
    let (status, _) = s
        .call(
            Method::PUT,
            "/v1/collections/c/documents/a",
            Some(json!({"v": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Four logins per email, within the per-email throttle.
    const USERS: usize = 16;
    const LOGINS: usize = 64;
    for i in 0..USERS {
        let up = s.signup(&format!("user{i}@example.com"), PASSWORD).await;
        assert_eq!(up.status, StatusCode::CREATED);
    }
    let reads = |s: Arc<Instance>| async move {
        let started = std::time::Instant::now();
        for _ in 0..100 {
            let (status, _) = s
                .call(Method::GET, "/v1/collections/c/documents/a", None)
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        started.elapsed()
    };
    let quiet = reads(s.clone()).await;
    let held = s.running.passwords().hold().await;
    let storm: Vec<_> = (0..LOGINS)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move {
                s.login(&format!("user{}@example.com", n % USERS), PASSWORD)
                    .await
                    .status
            })
        })
        .collect();
    // Every login has its pool place, so its actor message is sent or about to be.
    while s.running.passwords().queued() < LOGINS {
        tokio::task::yield_now().await;
    }
    let stormy = reads(s.clone()).await;
    let bound = quiet * 4 + std::time::Duration::from_millis(1_500);
    assert!(
        stormy < bound,
        "100 reads took {stormy:?} behind {LOGINS} logins, {quiet:?} before them: logins hold the actor"
    );
    drop(held);
    for login in storm {
        assert_eq!(login.await.unwrap(), StatusCode::OK);
    }
}

/// A minimal SMTP server on 127.0.0.1:0: answers 220/250/354/221 and hands each session's
/// transcript (commands and DATA) to the test.
async fn smtp_sink() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut transcript = String::new();
                let mut in_data = false;
                write.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                        } else {
                            transcript.push_str(line.strip_prefix('.').unwrap_or(&line));
                            transcript.push('\n');
                        }
                        continue;
                    }
                    transcript.push_str(&line);
                    transcript.push('\n');
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink.test\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 end data with <CR><LF>.<CR><LF>\r\n"
                        }
                        "QUIT" => b"221 2.0.0 bye\r\n",
                        _ => b"250 2.0.0 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                    if verb == "QUIT" {
                        break;
                    }
                }
                let _ = tx.send(transcript).await;
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn magic_links_go_out_through_smtp_when_configured() {
    let (port, mut sessions) = smtp_sink().await;
    let config = Config {
        smtp_url: Some(format!(
            "smtp://127.0.0.1:{port}?from=login@app.example.com"
        )),
        ..Config::in_memory()
    };
    let s = Instance::with_config(config).await;
    let sent = s.magic_link(json!({"email": "ada@example.com"})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);

    let transcript = tokio::time::timeout(Duration::from_secs(20), sessions.recv())
        .await
        .expect("the SMTP server got a message in time")
        .unwrap();
    assert!(
        transcript.contains("MAIL FROM:<login@app.example.com>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("RCPT TO:<ada@example.com>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Subject: Sign in to default"),
        "{transcript}"
    );
    let prefix = format!("{}/v1/auth/verify?token=", s.url);
    let link = transcript
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no link in {transcript}"));
    let verified = s.verify(&token_in(link)).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.body["user"]["email"], "ada@example.com");

    let (status, body) = s.admin(Method::GET, "/outbox", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no outbox with SMTP: {body}");
}

/// Sessions survive restarts (CONTRACT section 4); so do users, logouts and unused links.
#[tokio::test]
async fn users_sessions_and_links_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Instance::on_disk(dir.path()).await;
    let key = s.key.clone();
    let up = s.signup("ada@example.com", PASSWORD).await;
    assert_eq!(up.status, StatusCode::CREATED);
    let session = session_of(&up);
    let ended = session_of(&s.login("ada@example.com", PASSWORD).await);
    assert_eq!(s.logout(&ended).await.status, StatusCode::NO_CONTENT);
    s.magic_link(json!({"email": "bob@example.com"})).await;
    let token = token_in(
        s.last_mail_to("bob@example.com").await["link"]
            .as_str()
            .unwrap(),
    );
    s.stop().await;

    let mut s = Instance::on_disk(dir.path()).await;
    s.key = key;
    let me = s.me(&session).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"], up.body["user"]);
    assert_eq!(
        s.me(&ended).await.status,
        StatusCode::UNAUTHORIZED,
        "logout is durable"
    );
    assert_eq!(
        s.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.signup("ada@example.com", PASSWORD).await.status,
        StatusCode::CONFLICT
    );
    let verified = s.verify(&token).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.body["user"]["email_verified"], true);
}

/// A project actor that panics is reloaded from storage with its users and sessions.
#[tokio::test]
async fn sessions_survive_a_project_actor_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Instance::on_disk(dir.path()).await;
    let session = session_of(&s.signup("ada@example.com", PASSWORD).await);
    s.crash_and_wait(&s.project).await;
    let me = s.me(&session).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"]["email"], "ada@example.com");
    assert_eq!(
        s.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

//! Issue 21, part 2: the dashboard's end users, settings, operations and cluster pages, over
//! HTTP (CSRF and origin refusals, each action checked through the API) and in a headless
//! Chromium (screenshots under `target/screenshots/console2-*.png`).

use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, Locator};
use mammoth::config::Config;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::{Driver, browser_missing};
use crate::{Instance, read};

const OPS: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery staple";

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) async fn with_admins(config: Config) -> Instance {
    let mut config = config;
    config.admin_emails = vec![OPS.into()];
    Instance::with_config(config).await
}

pub(crate) async fn post(
    s: &Instance,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut request = no_redirects()
        .post(format!("{}{path}", s.url))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, cookie)
        .body(body);
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    request.send().await.unwrap()
}

/// Signs the operator in; answers the cookie pair and the session's CSRF token.
pub(crate) async fn sign_in(s: &Instance) -> (String, String) {
    let r = post(
        s,
        "/dashboard/sign-in",
        "",
        Some(&s.url),
        form(&[("email", OPS)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["to"] == OPS)
        .unwrap()["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = link.split_once("token=").unwrap().1;
    let r = post(
        s,
        "/dashboard/verify",
        "",
        Some(&s.url),
        form(&[("token", token)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page(s, "/dashboard", &cookie).await.1;
    let csrf = html
        .split_once(r#"name="csrf-token" content=""#)
        .unwrap()
        .1
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

pub(crate) async fn page(s: &Instance, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = no_redirects()
        .get(format!("{}{path}", s.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Signs an end user up with the bootstrap key; answers (user id, session token).
pub(crate) async fn end_user(s: &Instance, email: &str) -> (String, String) {
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/auth/signup",
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["user"]["id"].as_str().unwrap().to_owned(),
        body["session_token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn me(s: &Instance, session: &str) -> StatusCode {
    let r = s
        .client
        .get(format!("{}/v1/auth/me", s.url))
        .header("X-API-Key", &s.key)
        .bearer_auth(session)
        .send()
        .await
        .unwrap();
    read(r).await.0
}

/// Every new dashboard action is refused without the token, with a wrong one, without an
/// Origin and from another origin, and changes nothing then.
#[tokio::test]
async fn every_console_action_needs_the_csrf_token_and_our_origin() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_admins(Config::on_disk(dir.path())).await;
    let (cookie, csrf) = sign_in(&s).await;
    let (user, session) = end_user(&s, "ada@example.com").await;
    let p = format!("/dashboard/projects/{}", s.project);
    let actions = [
        format!("{p}/users/{user}/revoke"),
        format!("{p}/users/{user}/delete"),
        format!("{p}/backups"),
        format!("{p}/settings"),
    ];
    let evil = "https://evil.example";
    for path in &actions {
        for (token, origin) in [
            ("", Some(s.url.as_str())),
            ("wrong", Some(s.url.as_str())),
            (csrf.as_str(), None),
            (csrf.as_str(), Some(evil)),
        ] {
            let body = form(&[("csrf", token), ("name", "renamed")]);
            let r = post(&s, path, &cookie, origin, body).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{path} token={token:?} origin={origin:?}"
            );
        }
    }
    // Nothing happened: the session lives, the user is there, no backup, the name is unchanged.
    assert_eq!(me(&s, &session).await, StatusCode::OK);
    let (_, backups) = s.admin(Method::GET, "/backups", None).await;
    assert_eq!(backups["backups"], json!([]));
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(record["name"], "default");
    // The import the operations page sends (admin API with the cookie) is refused likewise.
    for (token, origin) in [("", s.url.as_str()), (csrf.as_str(), evil)] {
        let r = Client::new()
            .post(format!("{}/admin/v1/projects/{}/import", s.url, s.project))
            .header(COOKIE, &cookie)
            .header("X-CSRF-Token", token)
            .header(ORIGIN, origin)
            .body("{\"collection\":\"a\",\"id\":\"x\",\"doc\":{}}\n")
            .send()
            .await
            .unwrap();
        let (status, body) = read(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    // With the token and our origin each works.
    let ok = |path: &str| {
        let path = path.to_owned();
        let body = form(&[("csrf", &csrf)]);
        let s = &s;
        let cookie = &cookie;
        async move { post(s, &path, cookie, Some(&s.url), body).await }
    };
    let r = ok(&format!("{p}/backups")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, backups) = s.admin(Method::GET, "/backups", None).await;
    assert_eq!(backups["backups"].as_array().unwrap().len(), 1, "{backups}");
    let (_, html) = page(&s, &format!("{p}/ops"), &cookie).await;
    assert!(html.contains("id=\"backup-list\""), "{html}");
    assert!(html.contains("<svg"), "the chart is drawn");
    s.stop().await;
}

/// The users page lists users with live sessions; revoking ends the sessions for the API;
/// deleting removes the user; search filters by email.
#[tokio::test]
async fn operators_list_search_revoke_and_delete_end_users() {
    let s = with_admins(Config::in_memory()).await;
    let (cookie, csrf) = sign_in(&s).await;
    let (ada, ada_session) = end_user(&s, "ada@example.com").await;
    let (_, bob_session) = end_user(&s, "bob@example.org").await;
    let p = format!("/dashboard/projects/{}", s.project);

    let (status, html) = page(&s, &format!("{p}/users"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ada@example.com") && html.contains("bob@example.org"));
    assert!(
        html.contains(r#"<strong id="user-total">2</strong>"#),
        "{html}"
    );
    assert!(html.contains(r#"<td class="sessions">1</td>"#), "{html}");
    let (_, html) = page(&s, &format!("{p}/users?q=EXAMPLE.ORG"), &cookie).await;
    assert!(!html.contains("ada@example.com") && html.contains("bob@example.org"));

    let r = post(
        &s,
        &format!("{p}/users/{ada}/revoke"),
        &cookie,
        Some(&s.url),
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&s, &ada_session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&s, &bob_session).await, StatusCode::OK);

    let r = post(
        &s,
        &format!("{p}/users/{ada}/delete"),
        &cookie,
        Some(&s.url),
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&s, &format!("{p}/users"), &cookie).await;
    assert!(!html.contains("ada@example.com"), "{html}");
    // The email is free again: a new sign-up makes a new account.
    let (again, _) = end_user(&s, "ada@example.com").await;
    assert_ne!(again, ada);
    // An unknown user is a 404 page, not a 5xx.
    let r = post(
        &s,
        &format!("{p}/users/nobody/delete"),
        &cookie,
        Some(&s.url),
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

/// The settings form renames the project (and keeps refusing a bad scope as the API does); the
/// cluster page lists this node as owner of every project.
#[tokio::test]
async fn settings_rename_and_the_cluster_page() {
    let s = with_admins(Config::in_memory()).await;
    let (cookie, csrf) = sign_in(&s).await;
    let p = format!("/dashboard/projects/{}", s.project);
    let settings = |name: &str, scope: &str| {
        form(&[
            ("csrf", &csrf),
            ("name", name),
            ("session_scope", scope),
            ("allowed_origins", ""),
        ])
    };
    let r = post(
        &s,
        &format!("{p}/settings"),
        &cookie,
        Some(&s.url),
        settings("shop", ""),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(record["name"], "shop");
    let r = post(
        &s,
        &format!("{p}/settings"),
        &cookie,
        Some(&s.url),
        settings("other", r#"{"todos": {"owner": {"$nope": 1}}}"#),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(record["name"], "shop", "a refused form changes nothing");

    let (status, html) = page(&s, "/dashboard/cluster", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&s.project) && html.contains("leader"),
        "{html}"
    );
    s.stop().await;
}

/// Request counts survive a restart: the totals are written at shutdown and read at start.
#[tokio::test]
async fn request_totals_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_admins(Config::on_disk(dir.path())).await;
    let project = s.project.clone();
    for _ in 0..3 {
        let (status, _) = s.call(Method::GET, "/v1/collections", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    s.stop().await;
    let s = with_admins(Config::on_disk(dir.path())).await;
    let (cookie, _) = sign_in(&s).await;
    let (_, html) = page(&s, &format!("/dashboard/projects/{project}/ops"), &cookie).await;
    assert!(
        html.contains(r#"<strong id="requests-total">3</strong>"#),
        "{html}"
    );
    assert!(html.contains(r#"<strong id="requests-start">0</strong>"#));
    s.stop().await;
}

async fn text(b: &Browser, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn shot(b: &Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = b.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("console2-{name}.png")), png).unwrap();
}

/// Runs `action` and waits for the next page to load.
async fn navigate(b: &Browser, action: impl std::future::Future<Output = ()>) {
    let old = b.find(Locator::Css("html")).await.unwrap();
    action.await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "the page did not change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.wait().for_element(Locator::Css("main")).await.unwrap();
}

async fn click(b: &Browser, css: &str, confirm: bool) {
    let target = b
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    navigate(b, async {
        target.click().await.unwrap();
        if confirm {
            b.accept_alert().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn an_operator_revokes_a_user_and_changes_settings_in_a_real_browser() {
    if browser_missing() {
        return;
    }
    let s = with_admins(Config::in_memory()).await;
    let driver = Driver::start().await;
    let profile = tempfile::TempDir::new().unwrap();
    let b = driver.browser(profile.path()).await;
    let outcome = tokio::spawn(walk(b.clone(), s)).await;
    let _ = b.close().await;
    drop(driver);
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn walk(b: Browser, s: Instance) {
    let (_, session) = end_user(&s, "ada@example.com").await;
    end_user(&s, "bob@example.org").await;
    // Sign in through the outbox link.
    b.goto(&format!("{}/dashboard", s.url)).await.unwrap();
    b.find(Locator::Css("#email"))
        .await
        .unwrap()
        .send_keys(OPS)
        .await
        .unwrap();
    click(&b, "form[action='/dashboard/sign-in'] button", false).await;
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"][0]["link"].as_str().unwrap().to_owned();
    b.goto(&link).await.unwrap();
    click(&b, "#continue", false).await;
    shot(&b, "01-projects").await;
    click(&b, "a.project", false).await;

    // Users: revoke ada's sessions; the API then refuses her session.
    click(&b, "#users-link", false).await;
    assert_eq!(text(&b, "#user-total").await, "2");
    shot(&b, "02-users").await;
    assert_eq!(me(&s, &session).await, StatusCode::OK);
    click(&b, "tr[data-user='ada@example.com'] button.revoke", true).await;
    assert!(text(&b, "#done").await.contains("1 session(s) ended"));
    assert_eq!(
        text(&b, "tr[data-user='ada@example.com'] td.sessions").await,
        "0"
    );
    shot(&b, "03-users-revoked").await;
    assert_eq!(me(&s, &session).await, StatusCode::UNAUTHORIZED);

    // Settings: a session scope set in the form is enforced by the API.
    b.goto(&format!("{}/dashboard/projects/{}", s.url, s.project))
        .await
        .unwrap();
    let (_, client) = s
        .admin(
            Method::POST,
            &format!("/projects/{}/keys", s.project),
            Some(json!({"name": "web", "permission": "client"})),
        )
        .await;
    let client_key = client["key"].as_str().unwrap().to_owned();
    let (status, bob) = s
        .call_with(
            &client_key,
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "bob@example.org", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    let bob_session = bob["session_token"].as_str().unwrap().to_owned();
    let read_todos = || async {
        let r = s
            .client
            .get(format!("{}/v1/collections", s.url))
            .header("X-API-Key", &client_key)
            .bearer_auth(&bob_session)
            .send()
            .await
            .unwrap();
        read(r).await
    };
    let (before, body) = read_todos().await;
    assert_eq!(before, StatusCode::FORBIDDEN, "no scope, no data: {body}");
    let scope = b.find(Locator::Css("#session-scope")).await.unwrap();
    scope.clear().await.unwrap();
    scope
        .send_keys(r#"{"todos": {"owner": "{{user.id}}"}}"#)
        .await
        .unwrap();
    let name = b.find(Locator::Css("#project-rename")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("shop").await.unwrap();
    shot(&b, "04-settings").await;
    click(&b, "#save-settings", false).await;
    assert_eq!(text(&b, "h1").await, "shop");
    let (after, body): (StatusCode, Value) = read_todos().await;
    assert_eq!(
        after,
        StatusCode::OK,
        "the scope now lets bob read his own: {body}"
    );

    // Allowed origins set in the form: the API refuses another origin (403), serves the listed.
    let with_origin = |origin: &'static str| {
        let s = &s;
        async move {
            let r = s
                .client
                .get(format!("{}/v1/collections", s.url))
                .header("X-API-Key", &s.key)
                .header(ORIGIN, origin)
                .send()
                .await
                .unwrap();
            read(r).await.0
        }
    };
    assert_eq!(with_origin("https://evil.example").await, StatusCode::OK);
    let origins = b.find(Locator::Css("#allowed-origins")).await.unwrap();
    origins.clear().await.unwrap();
    origins.send_keys("https://app.example.com").await.unwrap();
    click(&b, "#save-settings", false).await;
    assert_eq!(
        with_origin("https://evil.example").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(with_origin("https://app.example.com").await, StatusCode::OK);

    // A key created as read in the form reads and may not write.
    b.find(Locator::Css("#key-name"))
        .await
        .unwrap()
        .send_keys("reporting")
        .await
        .unwrap();
    b.find(Locator::Css("#key-permission option[value='read']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&b, "form[action$='/keys'] button[type='submit']", false).await;
    let secret = b
        .find(Locator::Css("#secret"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    shot(&b, "04b-read-key-created").await;
    let (status, _) = s
        .call_with(&secret, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .call_with(
            &secret,
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"title": "no"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a read key may not write: {body}"
    );

    // Operations and cluster pages render.
    click(&b, "#ops-link", false).await;
    assert!(b.find(Locator::Css("#requests-chart")).await.is_ok());
    shot(&b, "05-operations").await;
    b.goto(&format!("{}/dashboard/cluster", s.url))
        .await
        .unwrap();
    assert_eq!(text(&b, "h1").await, "Cluster");
    shot(&b, "06-cluster").await;
}

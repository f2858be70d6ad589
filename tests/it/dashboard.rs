//! Issue 7: operator sign-in for the dashboard and the admin API, over plain HTTP (the browser
//! walk-through is `tests/dashboard_browser.rs`).

use std::sync::Arc;

use mammoth::config::Config;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, ROOT, read};

const OPS: &str = "ops@example.com";

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn with_admins(clock: Option<Arc<ManualClock>>) -> Instance {
    let mut config = Config::in_memory();
    config.admin_emails = vec![OPS.into()];
    if let Some(clock) = clock {
        config.env = Env {
            clock,
            entropy: Arc::new(OsEntropy),
        };
    }
    Instance::with_config(config).await
}

/// POSTs a form to a dashboard path from the server's own origin.
async fn post_form(
    s: &Instance,
    path: &str,
    cookie: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut request = no_redirects()
        .post(format!("{}{path}", s.url))
        .header(ORIGIN, &s.url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// The token of the newest outbox link to `to`, if any.
async fn mailed_token(s: &Instance, to: &str) -> Option<String> {
    let (status, outbox) = s.admin(Method::GET, "/outbox", None).await;
    assert_eq!(status, StatusCode::OK, "{outbox}");
    outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["to"] == to)
        .map(|m| token_of(m["link"].as_str().unwrap()))
}

fn token_of(link: &str) -> String {
    link.split_once("token=").unwrap().1.to_owned()
}

/// Redeems a link token; answers the `name=value` cookie pair.
async fn redeem(s: &Instance, token: &str) -> Result<String, StatusCode> {
    let response = post_form(s, "/dashboard/verify", None, form(&[("token", token)])).await;
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.status());
    }
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: no Secure");
    Ok(cookie.split(';').next().unwrap().to_owned())
}

async fn sign_in(s: &Instance) -> String {
    let response = post_form(s, "/dashboard/sign-in", None, form(&[("email", OPS)])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = mailed_token(s, OPS).await.expect("a link was mailed");
    redeem(s, &token).await.expect("the link signs in")
}

/// The dashboard page for a cookie, and the CSRF token in it.
async fn page(s: &Instance, path: &str, cookie: &str) -> (String, Option<String>) {
    let html = no_redirects()
        .get(format!("{}{path}", s.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split_once(r#"name="csrf-token" content=""#)
        .map(|(_, rest)| rest.split('"').next().unwrap().to_owned());
    (html, csrf)
}

async fn admin_with_cookie(
    s: &Instance,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    origin: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, format!("{}/admin/v1{path}", s.url))
        .header(COOKIE, cookie);
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_listed_operator_signs_in_once_per_link_and_uses_the_admin_api() {
    let s = with_admins(None).await;
    let response = post_form(&s, "/dashboard/sign-in", None, form(&[("email", OPS)])).await;
    let listed_answer = response.text().await.unwrap();
    let token = mailed_token(&s, OPS).await.expect("a link was mailed");

    // The link opens a confirmation page; only its POST signs in.
    let (html, csrf) = page(&s, &format!("/dashboard/verify?token={token}"), "x=y").await;
    assert!(html.contains("Continue signing in") && csrf.is_none());
    let cookie = redeem(&s, &token).await.unwrap();
    assert_eq!(
        redeem(&s, &token).await,
        Err(StatusCode::UNAUTHORIZED),
        "single use"
    );

    let (html, csrf) = page(&s, "/dashboard", &cookie).await;
    assert!(html.contains("Projects") && html.contains(OPS), "{html}");
    let csrf = csrf.expect("a CSRF token on the page");

    // The admin API with the cookie: reads need nothing more, writes need CSRF token and origin.
    let (status, list) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let body = Some(json!({"name": "from-cookie"}));
    let (status, _) = admin_with_cookie(
        &s,
        Method::POST,
        "/projects",
        &cookie,
        None,
        Some(&s.url),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _) = admin_with_cookie(
        &s,
        Method::POST,
        "/projects",
        &cookie,
        Some(&csrf),
        Some("https://evil.example"),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "cross-site origin");
    let (status, _) = admin_with_cookie(
        &s,
        Method::POST,
        "/projects",
        &cookie,
        Some(&csrf),
        None,
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no Origin or Referer");
    let (status, created) = admin_with_cookie(
        &s,
        Method::POST,
        "/projects",
        &cookie,
        Some(&csrf),
        Some(&s.url),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Dashboard forms: a missing token or a foreign origin is refused.
    let refused = post_form(
        &s,
        "/dashboard/projects",
        Some(&cookie),
        form(&[("name", "x")]),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let cross = no_redirects()
        .post(format!("{}/dashboard/projects", s.url))
        .header(ORIGIN, "https://evil.example")
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf), ("name", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let made = post_form(
        &s,
        "/dashboard/projects",
        Some(&cookie),
        form(&[("csrf", &csrf), ("name", "shop")]),
    )
    .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);

    // An unlisted email gets the same answer and no mail.
    let response = post_form(
        &s,
        "/dashboard/sign-in",
        None,
        form(&[("email", "eve@example.com")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let unlisted_answer = response.text().await.unwrap();
    assert_eq!(
        unlisted_answer.replace("eve@example.com", "X"),
        listed_answer.replace(OPS, "X")
    );
    assert_eq!(mailed_token(&s, "eve@example.com").await, None);

    // Sign-out kills the session.
    let out = post_form(
        &s,
        "/dashboard/sign-out",
        Some(&cookie),
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (status, _) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn forged_cookies_and_expired_links_are_refused() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = with_admins(Some(clock.clone())).await;
    let forged = "mammoth_operator=mmo_00000000000000000000000000000000";
    let (status, body) =
        admin_with_cookie(&s, Method::GET, "/projects", forged, None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (html, csrf) = page(&s, "/dashboard", forged).await;
    assert!(html.contains("Email me a sign-in link") && csrf.is_none());
    // The root token still works when a cookie is absent.
    assert_eq!(
        s.admin(Method::GET, "/projects", None).await.0,
        StatusCode::OK
    );

    post_form(&s, "/dashboard/sign-in", None, form(&[("email", OPS)])).await;
    let token = mailed_token(&s, OPS).await.unwrap();
    clock.advance(15 * 60 * 1000 + 1);
    assert_eq!(
        redeem(&s, &token).await,
        Err(StatusCode::UNAUTHORIZED),
        "expired"
    );

    // At most five live links per email; more requests answer the same and send nothing.
    let mailed = |outbox: Value| outbox["messages"].as_array().unwrap().len();
    let before = mailed(s.admin(Method::GET, "/outbox", None).await.1);
    for _ in 0..7 {
        let r = post_form(&s, "/dashboard/sign-in", None, form(&[("email", OPS)])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let after = mailed(s.admin(Method::GET, "/outbox", None).await.1);
    assert_eq!(after - before, 5);
    clock.advance(15 * 60 * 1000 + 1);

    let cookie = sign_in(&s).await;
    clock.advance(7 * 24 * 60 * 60 * 1000 + 1);
    let (status, _) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session expired");
    s.stop().await;
}

#[tokio::test]
async fn a_fresh_server_prints_a_link_and_sessions_survive_a_restart() {
    let dir = tempfile::TempDir::new().unwrap();
    let s = Instance::on_disk(dir.path()).await;
    let link = s
        .operator_link
        .clone()
        .expect("no admin emails: a start-up link");
    assert!(link.starts_with(&format!("{}/dashboard/verify?token=", s.url)));
    let cookie = redeem(&s, &token_of(&link)).await.unwrap();
    s.stop().await;

    let s = Instance::on_disk(dir.path()).await;
    assert_eq!(s.operator_link, None, "only on a fresh data directory");
    let (status, _) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::OK, "the session survived the restart");
    assert_eq!(
        redeem(&s, &token_of(&link)).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    // The outbox is an admin route: the root token reads it as before.
    let root = Client::new()
        .get(format!("{}/admin/v1/outbox", s.url))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn the_collections_browser_pages_with_the_cursor_and_shows_query_errors() {
    let s = with_admins(None).await;
    let cookie = sign_in(&s).await;
    for n in 1..=3 {
        let (status, body) = s
            .call(
                Method::POST,
                "/v1/collections/todos/documents",
                Some(json!({"id": format!("t{n}"), "n": n})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let base = format!("/dashboard/projects/{}/data", s.project);
    let (html, _) = page(&s, &base, &cookie).await;
    assert!(html.contains("todos"), "{html}");

    let first = format!(
        "{base}?collection=todos&query={}",
        url_encode(r#"{"limit": 2}"#)
    );
    let (html, _) = page(&s, &first, &cookie).await;
    assert!(html.contains(">t1<") && html.contains(">t2<") && !html.contains(">t3<"));
    let next = html
        .split_once("Next page")
        .and_then(|(before, _)| before.rsplit_once("href=\""))
        .map(|(_, rest)| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .expect("a next-page link");
    let (html, _) = page(&s, &next, &cookie).await;
    assert!(html.contains(">t3<") && !html.contains(">t1<"), "{html}");

    let (html, _) = page(&s, &format!("{base}?collection=todos&doc=t2"), &cookie).await;
    assert!(
        html.contains("&quot;n&quot;: 2") || html.contains("\"n\": 2"),
        "{html}"
    );

    let bad = format!(
        "{base}?collection=todos&query={}",
        url_encode(r#"{"limit": "x"}"#)
    );
    let response = no_redirects()
        .get(format!("{}{bad}", s.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.text().await.unwrap().contains("query-error"));

    // Without a session, the browser redirects to sign-in.
    let anonymous = no_redirects()
        .get(format!("{}{base}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    s.stop().await;
}

/// Issue 12: the dashboard shows each key's permission, makes client keys, and sets the
/// project's session scope and allowed origins (with the same validation as the admin API).
#[tokio::test]
async fn operators_make_client_keys_and_set_browser_access() {
    let s = with_admins(None).await;
    let cookie = sign_in(&s).await;
    let path = format!("/dashboard/projects/{}", s.project);
    let (_, csrf) = page(&s, &path, &cookie).await;
    let csrf = csrf.unwrap();
    let response = post_form(
        &s,
        &format!("{path}/keys"),
        Some(&cookie),
        form(&[("csrf", &csrf), ("name", "web"), ("permission", "client")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"class="pill client""#), "{html}");
    let (status, keys) = s
        .admin(Method::GET, &format!("/projects/{}/keys", s.project), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["permission"] == "client")
    );

    let scope = r#"{"todos": {"owner": "{{user.id}}"}}"#;
    let settings = |csrf: &str, scope: &str, origins: &str| {
        form(&[
            ("csrf", csrf),
            ("session_scope", scope),
            ("allowed_origins", origins),
        ])
    };
    let response = post_form(
        &s,
        &format!("{path}/settings"),
        Some(&cookie),
        settings(
            &csrf,
            scope,
            "https://app.example.com/\nhttp://localhost:3000",
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(
        record["session_scope"],
        json!({"todos": {"owner": "{{user.id}}"}})
    );
    assert_eq!(
        record["allowed_origins"],
        json!(["https://app.example.com", "http://localhost:3000"])
    );
    let (html, _) = page(&s, &path, &cookie).await;
    assert!(html.contains("https://app.example.com") && html.contains("{{user.id}}"));

    for (scope, origins) in [
        (r#"{"todos": {"$bad": 1}}"#, ""),
        ("not json", ""),
        ("", "ftp://x"),
    ] {
        let response = post_form(
            &s,
            &format!("{path}/settings"),
            Some(&cookie),
            settings(&csrf, scope, origins),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{scope} {origins}"
        );
    }
    let response = post_form(
        &s,
        &format!("{path}/settings"),
        Some(&cookie),
        settings("wrong", "", ""),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "CSRF");
    let response = post_form(
        &s,
        &format!("{path}/settings"),
        Some(&cookie),
        settings(&csrf, "", ""),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(record["session_scope"], Value::Null);
    assert_eq!(record["allowed_origins"], json!([]));
}

#[tokio::test]
async fn an_operator_session_dies_when_its_email_leaves_the_admin_list() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = Config::on_disk(dir.path());
    config.admin_emails = vec![OPS.into()];
    let s = Instance::with_config(config.clone()).await;
    let cookie = sign_in(&s).await;
    let (status, _) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;

    config.admin_emails = vec!["someone-else@example.com".into()];
    let s = Instance::with_config(config).await;
    let (status, body) =
        admin_with_cookie(&s, Method::GET, "/projects", &cookie, None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (html, csrf) = page(&s, "/dashboard", &cookie).await;
    assert_eq!(csrf, None, "the dashboard shows the sign-in page: {html}");
    s.stop().await;
}

/// Issue 15: the project page shows the TTL policies and its form sets and removes them, with
/// the admin API's validation.
#[tokio::test]
async fn operators_see_and_edit_ttl_policies() {
    let s = with_admins(None).await;
    let cookie = sign_in(&s).await;
    let path = format!("/dashboard/projects/{}", s.project);
    let (_, csrf) = page(&s, &path, &cookie).await;
    let csrf = csrf.unwrap();
    let post = |ttl: &'static str, csrf: String| {
        let s = &s;
        let cookie = cookie.clone();
        let path = path.clone();
        async move {
            post_form(
                s,
                &format!("{path}/ttl"),
                Some(&cookie),
                form(&[("csrf", &csrf), ("ttl", ttl)]),
            )
            .await
            .status()
        }
    };
    assert_eq!(
        post("sessions: expires_at\n\ncarts : meta.exp\n", csrf.clone()).await,
        StatusCode::SEE_OTHER
    );
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(
        record["ttl"],
        json!({"sessions": "expires_at", "carts": "meta.exp"})
    );
    let (html, _) = page(&s, &path, &cookie).await;
    assert!(
        html.contains("sessions: expires_at") && html.contains("carts: meta.exp"),
        "{html}"
    );
    for bad in ["no colon here", "bad name: x", "s: a..b", "s: updated_at"] {
        assert_eq!(
            post(bad, csrf.clone()).await,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(
        post("", "wrong".into()).await,
        StatusCode::FORBIDDEN,
        "CSRF"
    );
    assert_eq!(
        post("carts: exp", csrf.clone()).await,
        StatusCode::SEE_OTHER
    );
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(
        record["ttl"],
        json!({"carts": "exp"}),
        "unlisted ones are removed"
    );
    s.stop().await;
}

/// Issue 11: the dashboard and the admin API share one admin service. A key reached under
/// another project's page is 404 (regenerate used to ignore the page's `{id}`), and names are
/// trimmed before their length is checked, the same on both.
#[tokio::test]
async fn dashboard_key_actions_are_scoped_to_their_project_and_names_follow_one_rule() {
    let s = with_admins(None).await;
    let cookie = sign_in(&s).await;
    let (_, csrf) = page(&s, "/dashboard", &cookie).await;
    let csrf = csrf.expect("a CSRF token on the page");
    let (status, a) = s
        .admin(Method::POST, "/projects", Some(json!({"name": "a"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, b) = s
        .admin(Method::POST, "/projects", Some(json!({"name": "b"})))
        .await;
    let a_key = a["api_key"]["id"].as_str().unwrap();
    let b_id = b["project"]["id"].as_str().unwrap();
    for action in ["regenerate", "revoke"] {
        let response = post_form(
            &s,
            &format!("/dashboard/projects/{b_id}/keys/{a_key}/{action}"),
            Some(&cookie),
            form(&[("csrf", &csrf)]),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    // A's key still works: neither call touched it.
    let (status, _) = s
        .call_with(
            a["api_key"]["key"].as_str().unwrap(),
            Method::GET,
            "/v1/collections",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // 128 characters inside spaces is a valid name on both; 129 is not, on both.
    let padded = format!("  {}  ", "n".repeat(128));
    let (status, _) = s
        .admin(Method::POST, "/projects", Some(json!({"name": padded})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let made = post_form(
        &s,
        "/dashboard/projects",
        Some(&cookie),
        form(&[("csrf", &csrf), ("name", &padded)]),
    )
    .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let long = "n".repeat(129);
    let (status, _) = s
        .admin(Method::POST, "/projects", Some(json!({"name": long})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let refused = post_form(
        &s,
        "/dashboard/projects",
        Some(&cookie),
        form(&[("csrf", &csrf), ("name", &long)]),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    s.stop().await;
}

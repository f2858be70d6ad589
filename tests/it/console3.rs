//! Issue 21, the last gaps: the admin API for end users (`src/http/admin_users.rs`), magic-link
//! figures that survive an actor restart and a server restart, the requests chart fed on every
//! server, and one table over every state-changing dashboard route (CSRF token and origin).

use mammoth::config::Config;
use reqwest::header::{COOKIE, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

use crate::console2::{end_user, form, me, page, post, sign_in, with_admins};
use crate::{Instance, code, read};

/// The admin API lists, searches, revokes and deletes end users, with the root token or the
/// dashboard cookie (plus its CSRF token on writes), and answers the contract's errors.
#[tokio::test]
async fn the_admin_api_lists_revokes_and_deletes_end_users() {
    let s = with_admins(Config::in_memory()).await;
    let (ada, ada_session) = end_user(&s, "ada@example.com").await;
    let (bob, bob_session) = end_user(&s, "bob@example.org").await;
    let users = format!("/projects/{}/users", s.project);

    let (status, body) = s.admin(Method::GET, &users, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 2);
    assert_eq!(body["users"][0]["email"], "ada@example.com");
    assert_eq!(body["users"][0]["live_sessions"], 1);
    assert!(body["users"][0]["last_sign_in"].is_string(), "{body}");
    assert_eq!(body["magic_links"]["pending"], 0);
    let (_, body) = s
        .admin(Method::GET, &format!("{users}?email=EXAMPLE.ORG"), None)
        .await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["users"][0]["id"], bob.as_str());
    let (_, body) = s
        .admin(Method::GET, &format!("{users}?limit=1&offset=1"), None)
        .await;
    assert_eq!(
        (body["total"].as_u64(), body["users"][0]["id"].as_str()),
        (Some(2), Some(bob.as_str()))
    );
    for bad in ["limit=0", "limit=201", "offset=x", "sort=email"] {
        let (status, body) = s.admin(Method::GET, &format!("{users}?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(code(&body), "bad_request");
    }

    let (status, body) = s
        .admin(Method::POST, &format!("{users}/{ada}/revoke"), None)
        .await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"revoked": 1})));
    assert_eq!(me(&s, &ada_session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&s, &bob_session).await, StatusCode::OK);
    let (status, _) = s
        .admin(Method::DELETE, &format!("{users}/{ada}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = s.admin(Method::GET, &users, None).await;
    assert_eq!(body["total"], 1);
    for (method, path) in [
        (Method::DELETE, format!("{users}/{ada}")),
        (Method::POST, format!("{users}/nobody/revoke")),
        (Method::GET, "/projects/nope/users".to_owned()),
    ] {
        let (status, body) = s.admin(method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }

    // No credentials: 401. The dashboard cookie reads; it writes only with the CSRF token and
    // our origin.
    let url = |p: &str| format!("{}/admin/v1{p}", s.url);
    let (status, _) = read(Client::new().get(url(&users)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (cookie, csrf) = sign_in(&s).await;
    let r = Client::new()
        .get(url(&users))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.0, StatusCode::OK);
    let revoke = url(&format!("{users}/{bob}/revoke"));
    for (token, origin) in [
        ("", s.url.as_str()),
        (csrf.as_str(), "https://evil.example"),
    ] {
        for request in [
            Client::new().post(&revoke),
            Client::new().delete(url(&format!("{users}/{bob}"))),
        ] {
            let r = request
                .header(COOKIE, &cookie)
                .header("X-CSRF-Token", token)
                .header(ORIGIN, origin)
                .send()
                .await
                .unwrap();
            let (status, body) = read(r).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        }
    }
    assert_eq!(
        me(&s, &bob_session).await,
        StatusCode::OK,
        "nothing changed"
    );
    let r = Client::new()
        .post(&revoke)
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .header(ORIGIN, &s.url)
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.0, StatusCode::OK);
    assert_eq!(me(&s, &bob_session).await, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

/// Sends a magic link for `email` and redeems it; answers nothing, asserts each step.
async fn magic_sign_in(s: &Instance, email: &str) {
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/auth/magic-link",
            Some(json!({ "email": email })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["to"] == email)
        .unwrap()["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = link.split_once("token=").unwrap().1;
    let (status, body) = s
        .call(Method::GET, &format!("/v1/auth/verify?token={token}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn link_figures(s: &Instance, project: &str) -> (u64, u64) {
    let (status, body) = s
        .admin(Method::GET, &format!("/projects/{project}/users"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let links = &body["magic_links"];
    (
        links["requested"].as_u64().unwrap(),
        links["redeemed"].as_u64().unwrap(),
    )
}

/// Magic links sent and used are counted over the project's whole life: a restarted project
/// actor (which counts from zero) and a restarted server keep them.
#[tokio::test]
async fn magic_link_figures_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_admins(Config::on_disk(dir.path())).await;
    let project = s.project.clone();
    magic_sign_in(&s, "ada@example.com").await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/auth/magic-link",
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(link_figures(&s, &project).await, (2, 1));
    s.crash_and_wait(&s.project.clone()).await;
    assert_eq!(
        link_figures(&s, &project).await,
        (2, 1),
        "after the actor restarted"
    );
    magic_sign_in(&s, "carol@example.com").await;
    assert_eq!(link_figures(&s, &project).await, (3, 2));
    let key = s.key.clone();
    s.stop().await;

    let mut s = with_admins(Config::on_disk(dir.path())).await;
    (s.project, s.key) = (project.clone(), key);
    assert_eq!(
        link_figures(&s, &project).await,
        (3, 2),
        "after the server restarted"
    );
    let (cookie, _) = sign_in(&s).await;
    let (_, html) = page(&s, &format!("/dashboard/projects/{project}/users"), &cookie).await;
    assert!(
        html.contains(r#"<strong id="links-requested">3</strong>"#)
            && html.contains(r#"<strong id="links-redeemed">2</strong>"#),
        "{html}"
    );
    magic_sign_in(&s, "dan@example.com").await;
    assert_eq!(link_figures(&s, &project).await, (4, 3));
    s.stop().await;
}

/// The operations page's chart counts this server's requests, though embedded servers have no
/// Prometheus recorder.
#[tokio::test]
async fn the_requests_chart_is_fed_on_embedded_servers() {
    let s = with_admins(Config::in_memory()).await;
    for _ in 0..5 {
        let (status, _) = s.call(Method::GET, "/v1/collections", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (cookie, _) = sign_in(&s).await;
    let (_, html) = page(
        &s,
        &format!("/dashboard/projects/{}/ops", s.project),
        &cookie,
    )
    .await;
    let requests: u64 = html
        .split_once("Last hour: ")
        .unwrap_or_else(|| panic!("no chart summary in {html}"))
        .1
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(requests >= 5, "the chart shows {requests} requests");
    s.stop().await;
}

/// Every state-changing dashboard route, found in the router (so a route added later is
/// covered): without the CSRF token, with a wrong one, from another origin and with no origin,
/// each is refused with 403 and changes nothing. The sign-in forms have no session yet and are
/// held to the origin check alone.
#[tokio::test]
async fn every_dashboard_post_needs_the_csrf_token_and_our_origin() {
    let s = with_admins(Config::in_memory()).await;
    let (cookie, csrf) = sign_in(&s).await;
    let (user, session) = end_user(&s, "ada@example.com").await;
    let key = s.new_key(&s.project, "ci", "read").await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t1", "title": "keep"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let fill = |path: &str| {
        path.replace("{id}", &s.project)
            .replace("{user_id}", &user)
            .replace("{key_id}", &key_id)
    };
    // Fields that would make each action succeed with the right token.
    let fields = [
        ("name", "renamed"),
        ("collection", "todos"),
        ("doc", "t1"),
        ("json", r#"{"title": "changed"}"#),
        ("permission", "write"),
        ("email", "ops@example.com"),
        ("token", "mml_0"),
    ];
    let evil = "https://evil.example";
    let mut checked = Vec::new();
    for route in s.routes.iter().filter(|r| r.starts_with("/dashboard")) {
        let path = fill(route);
        // Which routes take a POST: a GET-only route answers 404/405 to one.
        let probe = post(&s, &path, &cookie, Some(evil), form(&fields)).await;
        if matches!(
            probe.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            continue;
        }
        checked.push(route.clone());
        let signing_in = route == "/dashboard/sign-in" || route == "/dashboard/verify";
        let mut cases = vec![
            ("another origin", Some(evil), csrf.as_str()),
            ("no origin", None, csrf.as_str()),
        ];
        if !signing_in {
            cases.push(("no token", Some(s.url.as_str()), ""));
            cases.push(("a wrong token", Some(s.url.as_str()), "forged"));
        }
        for (case, origin, token) in cases {
            let body = form(&[[("csrf", token)].as_slice(), &fields].concat());
            let r = post(&s, &path, &cookie, origin, body).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{route}: {case}");
        }
    }
    for expected in [
        "/dashboard/projects",
        "/dashboard/projects/{id}/data/documents",
        "/dashboard/projects/{id}/data/documents/save",
        "/dashboard/projects/{id}/data/documents/delete",
        "/dashboard/projects/{id}/keys",
        "/dashboard/projects/{id}/keys/{key_id}/regenerate",
        "/dashboard/projects/{id}/keys/{key_id}/revoke",
        "/dashboard/projects/{id}/settings",
        "/dashboard/projects/{id}/ttl",
        "/dashboard/projects/{id}/users/{user_id}/revoke",
        "/dashboard/projects/{id}/users/{user_id}/delete",
        "/dashboard/projects/{id}/backups",
        "/dashboard/sign-in",
        "/dashboard/sign-out",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} was not checked: {checked:?}"
        );
    }
    // Nothing happened.
    assert_eq!(me(&s, &session).await, StatusCode::OK);
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(doc["title"], "keep");
    let (_, record) = s
        .admin(Method::GET, &format!("/projects/{}", s.project), None)
        .await;
    assert_eq!(record["name"], "default");
    let (_, keys) = s
        .admin(Method::GET, &format!("/projects/{}/keys", s.project), None)
        .await;
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == key_id.as_str()),
        "the key lives: {keys}"
    );
    let (_, projects) = s.admin(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"].as_array().unwrap().len(), 1);
    let (_, backups) = s.admin(Method::GET, "/backups", None).await;
    assert!(
        backups["backups"].as_array().is_none_or(|b| b.is_empty()),
        "{backups}"
    );
    // The operator is still signed in.
    let (status, _) = page(&s, "/dashboard", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

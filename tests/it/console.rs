//! Issue 21, part 1, over plain HTTP: the dashboard's document table, create, edit (the ETag as
//! `If-Match`, a stale edit refused), delete, every write refused without the CSRF token or from
//! another origin, and the live stream of the open collection (the browser walk-through is
//! `console_browser.rs`).

use std::time::Duration;

use mammoth::config::Config;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

use crate::Instance;

const OPS: &str = "ops@example.com";

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn post_from(
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

async fn sign_in(s: &Instance) -> String {
    let response = post_from(
        s,
        "/dashboard/sign-in",
        "",
        Some(&s.url),
        form(&[("email", OPS)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"][0]["link"].as_str().unwrap();
    let token = link.split_once("token=").unwrap().1;
    let response = post_from(
        s,
        "/dashboard/verify",
        "",
        Some(&s.url),
        form(&[("token", token)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn page(s: &Instance, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(format!("{}{path}", s.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The value of the first `<input ... id="ID" ... value="...">` or `<meta name=... content=...>`.
fn attribute_after(html: &str, marker: &str, attribute: &str) -> String {
    let rest = html
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"))
        .1;
    let rest = rest.split_once(&format!("{attribute}=\"")).unwrap().1;
    rest.split('"').next().unwrap().replace("&quot;", "\"")
}

async fn signed_in() -> (Instance, String, String, String) {
    let mut config = Config::in_memory();
    config.admin_emails = vec![OPS.into()];
    let s = Instance::with_config(config).await;
    let cookie = sign_in(&s).await;
    let base = format!("/dashboard/projects/{}/data", s.project);
    let (_, html) = page(&s, &base, &cookie).await;
    let csrf = attribute_after(&html, r#"name="csrf-token""#, "content");
    (s, cookie, csrf, base)
}

#[tokio::test]
async fn operators_create_edit_and_delete_documents_with_etags() {
    let (s, cookie, csrf, base) = signed_in().await;
    let origin = Some(s.url.as_str());

    // Create, with an id of the operator's choosing.
    let created = post_from(
        &s,
        &format!("{base}/documents"),
        &cookie,
        origin,
        form(&[
            ("csrf", &csrf),
            ("collection", "todos"),
            (
                "json",
                r#"{"id": "t1", "title": "milk", "tags": {"shop": "corner"}}"#,
            ),
        ]),
    )
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert!(
        created.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("created=t1")
    );
    let (status, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["title"], "milk");

    // The table: a column per flattened path, a sort link per column.
    let (status, html) = page(&s, &format!("{base}?collection=todos"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-column="tags.shop""#), "{html}");
    assert!(html.contains(">corner<"), "{html}");
    assert!(html.contains("id=\"live\""), "the live indicator");

    // Invalid JSON, a non-object and a bad id are shown inline, the text kept; nothing written.
    for (json, says) in [
        (r#"{"title": "#, "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{"id": 5}"#, "\"id\" must be a string"),
        (r#"{"id": "t1"}"#, "exists"),
    ] {
        let refused = post_from(
            &s,
            &format!("{base}/documents"),
            &cookie,
            origin,
            form(&[("csrf", &csrf), ("collection", "todos"), ("json", json)]),
        )
        .await;
        let status = refused.status();
        assert!(status.is_client_error(), "{json}: {status}");
        let html = refused.text().await.unwrap().replace("&quot;", "\"");
        assert!(
            html.contains("create-error") && html.contains(says),
            "{json}: {html}"
        );
    }

    // Edit: the page carries the ETag; the save sends it as If-Match.
    let doc_page = format!("{base}?collection=todos&doc=t1");
    let (_, html) = page(&s, &doc_page, &cookie).await;
    let etag = attribute_after(&html, r#"id="etag""#, "value");
    let (_, api) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(api["id"], "t1");
    let save = |json: &'static str, etag: String| {
        let (s, cookie, csrf) = (&s, cookie.clone(), csrf.clone());
        let path = format!("{base}/documents/save");
        async move {
            post_from(
                s,
                &path,
                &cookie,
                Some(&s.url),
                form(&[
                    ("csrf", &csrf),
                    ("collection", "todos"),
                    ("doc", "t1"),
                    ("etag", &etag),
                    ("json", json),
                ]),
            )
            .await
        }
    };
    let saved = save(r#"{"id": "t1", "title": "oat milk"}"#, etag.clone()).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(doc["title"], "oat milk");
    assert!(doc.get("tags").is_none(), "a save replaces the document");

    // The same ETag again is stale: refused, the text kept, nothing written.
    let stale = save(r#"{"title": "overwrite"}"#, etag.clone()).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let html = stale.text().await.unwrap();
    assert!(html.contains("someone changed this document"), "{html}");
    assert!(html.contains("overwrite"), "the operator's text is kept");
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(doc["title"], "oat milk");
    let bad = save(r#"{"title": "#, String::new()).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let renamed = save(r#"{"id": "other"}"#, etag.clone()).await;
    assert_eq!(renamed.status(), StatusCode::BAD_REQUEST);

    // Delete with a stale ETag is refused; without one (the table's button) it deletes.
    let delete = |etag: String| {
        let (s, cookie, csrf) = (&s, cookie.clone(), csrf.clone());
        let path = format!("{base}/documents/delete");
        async move {
            post_from(
                s,
                &path,
                &cookie,
                Some(&s.url),
                form(&[
                    ("csrf", &csrf),
                    ("collection", "todos"),
                    ("doc", "t1"),
                    ("etag", &etag),
                ]),
            )
            .await
        }
    };
    assert_eq!(delete(etag).await.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(delete(String::new()).await.status(), StatusCode::SEE_OTHER);
    let (status, _) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(delete(String::new()).await.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn every_document_action_needs_the_csrf_token_and_the_same_origin() {
    let (s, cookie, csrf, base) = signed_in().await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t1", "title": "keep"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, html) = page(&s, &format!("{base}?collection=todos&doc=t1"), &cookie).await;
    let etag = attribute_after(&html, r#"id="etag""#, "value");
    let actions = [
        (
            "documents",
            vec![("collection", "todos"), ("json", r#"{"id": "t2"}"#)],
        ),
        (
            "documents/save",
            vec![
                ("collection", "todos"),
                ("doc", "t1"),
                ("etag", etag.as_str()),
                ("json", r#"{"title": "changed"}"#),
            ],
        ),
        (
            "documents/delete",
            vec![("collection", "todos"), ("doc", "t1")],
        ),
    ];
    for (action, fields) in &actions {
        let path = format!("{base}/{action}");
        let with_csrf: Vec<(&str, &str)> = [("csrf", csrf.as_str())]
            .into_iter()
            .chain(fields.iter().copied())
            .collect();
        let cases = [
            ("no token", Some(s.url.as_str()), form(fields)),
            (
                "a wrong token",
                Some(s.url.as_str()),
                form(&[[("csrf", "forged")].as_slice(), fields].concat()),
            ),
            (
                "another origin",
                Some("https://evil.example"),
                form(&with_csrf),
            ),
            ("no origin", None, form(&with_csrf)),
        ];
        for (case, origin, body) in cases {
            let response = post_from(&s, &path, &cookie, origin, body).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}: {case}");
        }
        // Without a session, a redirect to sign-in.
        let response = post_from(&s, &path, "", Some(&s.url), form(&with_csrf)).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{action}: signed out"
        );
    }
    let (status, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(
        (status, doc["title"].as_str()),
        (StatusCode::OK, Some("keep"))
    );
    let (status, _) = s
        .call(Method::GET, "/v1/collections/todos/documents/t2", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");
    s.stop().await;
}

/// Reads the stream until `needle` arrives (each wait bounded, so a missing event fails).
async fn until(response: &mut reqwest::Response, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle} in {seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended before {needle}: {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_open_collection_follows_changes_live() {
    let (s, cookie, _, base) = signed_in().await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t1", "title": "first"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let live = format!(
        "{}{base}/live?collection=todos&query={}",
        s.url,
        url_encode("{}")
    );
    let anonymous = no_redirects().get(&live).send().await.unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::SEE_OTHER,
        "no stream without a session"
    );
    let bad = no_redirects()
        .get(format!("{}{base}/live?collection=todos&query=%7B", s.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let mut response = no_redirects()
        .get(&live)
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let mut seen = String::new();
    until(&mut response, &mut seen, "event: snapshot").await;
    until(&mut response, &mut seen, "\"first\"").await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t2", "title": "second"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    until(&mut response, &mut seen, "\"added\"").await;
    until(&mut response, &mut seen, "\"second\"").await;
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    until(&mut response, &mut seen, "\"removed\"").await;
    drop(response);
    s.stop().await;
}

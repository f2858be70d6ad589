//! Issue 21, part 1, over plain HTTP: the dashboard's document table, create, edit (the ETag as
//! `If-Match`, a stale edit refused), delete, every write refused without the CSRF token or from
//! another origin, and the live stream of the open page (whole pages in sort order, later pages
//! too; the browser walk-through is `console_browser.rs`).

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

/// The next `page` event's documents' `n`, in the order sent.
async fn next_page(response: &mut reqwest::Response, buffer: &mut String) -> Vec<f64> {
    loop {
        if let Some(start) = buffer.find("event: page\n")
            && let Some(end) = buffer[start..].find("\n\n")
        {
            let event = buffer[start..start + end].to_owned();
            buffer.replace_range(..start + end + 2, "");
            let data = event.split_once("data: ").unwrap().1;
            let page: serde_json::Value = serde_json::from_str(data).unwrap();
            return page["docs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["n"].as_f64().unwrap())
                .collect();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no page event in {buffer}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended: {buffer}"));
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn open_live(s: &Instance, url: &str, cookie: &str) -> reqwest::Response {
    let response = no_redirects()
        .get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let _ = s;
    response
}

/// The open page follows its query exactly: each `page` event is the page in the query's sort
/// (a new row lands in its place, not at the end), and a page after the first (a cursor) is
/// live too, with its own window.
#[tokio::test]
async fn the_open_page_follows_its_query_live_in_sort_order() {
    let (s, cookie, _, base) = signed_in().await;
    for n in 0..25 {
        let (status, _) = s
            .call(
                Method::POST,
                "/v1/collections/todos/documents",
                Some(json!({"id": format!("t{n}"), "n": n})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let query = r#"{"sort": [{"field": "n", "order": "desc"}]}"#;
    let live = format!(
        "{}{base}/live?collection=todos&query={}",
        s.url,
        url_encode(query)
    );
    let anonymous = no_redirects().get(&live).send().await.unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::SEE_OTHER,
        "no stream without a session"
    );
    for bad in ["query=%7B", "query=%7B%7D&cursor=nonsense"] {
        let bad = no_redirects()
            .get(format!("{}{base}/live?collection=todos&{bad}", s.url))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    // The second page's cursor, as the page's "Next page" link carries it.
    let (_, first) = s
        .call(
            Method::POST,
            "/v1/collections/todos/query",
            Some(json!({"sort": [{"field": "n", "order": "desc"}], "limit": 20})),
        )
        .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, html) = page(
        &s,
        &format!(
            "{base}?collection=todos&query={}&cursor={}",
            url_encode(query),
            url_encode(&cursor)
        ),
        &cookie,
    )
    .await;
    assert!(
        html.contains(r#"id="live""#),
        "a later page is live: {html}"
    );

    let mut one = open_live(&s, &live, &cookie).await;
    let mut two = open_live(
        &s,
        &format!("{live}&cursor={}", url_encode(&cursor)),
        &cookie,
    )
    .await;
    let (mut b1, mut b2) = (String::new(), String::new());
    let desc =
        |range: std::ops::RangeInclusive<i32>| -> Vec<f64> { range.rev().map(f64::from).collect() };
    assert_eq!(next_page(&mut one, &mut b1).await, desc(5..=24));
    assert_eq!(next_page(&mut two, &mut b2).await, desc(0..=4));

    // A new document sorting first lands first, and the last row leaves the first page.
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "top", "n": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut expected = vec![100.0];
    expected.extend(desc(6..=24));
    assert_eq!(next_page(&mut one, &mut b1).await, expected);
    // The cursor is a position (after n = 5), so the second page keeps its rows.
    assert_eq!(next_page(&mut two, &mut b2).await, desc(0..=4));

    // A document that sorts inside the second page appears there, in its place.
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "mid", "n": 2.5})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        next_page(&mut two, &mut b2).await,
        vec![4.0, 3.0, 2.5, 2.0, 1.0, 0.0]
    );
    // An edit that moves a row, and a delete.
    let (status, _) = s
        .call(
            Method::PUT,
            "/v1/collections/todos/documents/t3",
            Some(json!({"n": 0.5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        next_page(&mut two, &mut b2).await,
        vec![4.0, 2.5, 2.0, 1.0, 0.5, 0.0]
    );
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/todos/documents/t0", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        next_page(&mut two, &mut b2).await,
        vec![4.0, 2.5, 2.0, 1.0, 0.5]
    );
    drop((one, two));
    s.stop().await;
}

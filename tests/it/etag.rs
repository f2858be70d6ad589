//! CONTRACT section 12, single documents: `ETag` on every 2xx single-document response, changing
//! on every write and never repeating (delete and re-create, restarts included); `If-Match` on
//! PUT/PATCH/DELETE, `If-None-Match: *` on PUT, `If-None-Match` on GET; and a scoped caller
//! learns nothing from a 412 about documents outside its scope (CONTRACT section 18).

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code, read};

/// A response's status, `ETag` header (if any) and JSON body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) etag: Option<String>,
    pub(crate) body: Value,
}

/// A request with `key`, an optional bearer, extra headers and a body.
pub(crate) async fn send(
    s: &Instance,
    key: &str,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut request = s
        .client
        .request(method, format!("{}{path}", s.url))
        .header("X-API-Key", key);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    Answer { status, etag, body }
}

fn doc(id: &str) -> String {
    format!("/v1/collections/things/documents/{id}")
}

#[tokio::test]
async fn every_write_gives_a_new_etag_that_never_repeats_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Instance::on_disk(dir.path()).await;
    let key = s.key.clone();
    let mut seen = HashSet::new();
    let mut fresh = |tag: &Option<String>| {
        let tag = tag.clone().expect("an ETag header");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "strong: {tag}");
        assert!(seen.insert(tag.clone()), "ETag {tag} repeated");
        tag
    };

    let a = send(
        &s,
        &key,
        None,
        Method::POST,
        "/v1/collections/things/documents",
        &[],
        Some(json!({"id": "a", "n": 1})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let created = fresh(&a.etag);
    let got = send(&s, &key, None, Method::GET, &doc("a"), &[], None).await;
    assert_eq!(
        got.etag.as_deref(),
        Some(created.as_str()),
        "GET names the version it serves"
    );

    // An identical body is still a new write: a new ETag.
    let put = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[],
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK);
    fresh(&put.etag);
    let patch = send(
        &s,
        &key,
        None,
        Method::PATCH,
        &doc("a"),
        &[],
        Some(json!({"m": 2})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::OK);
    fresh(&patch.etag);
    // Writes of other documents do not change this one's ETag.
    let b = send(&s, &key, None, Method::PUT, &doc("b"), &[], Some(json!({}))).await;
    assert_eq!(b.status, StatusCode::CREATED);
    let b_tag = fresh(&b.etag);
    let got = send(&s, &key, None, Method::GET, &doc("a"), &[], None).await;
    assert_eq!(got.etag, patch.etag);

    // Delete and re-create with the very same body: never an ETag it had.
    let del = send(&s, &key, None, Method::DELETE, &doc("a"), &[], None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let again = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[],
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    let last = fresh(&again.etag);

    // The ETags survive a restart, and later writes still never repeat one.
    s.stop().await;
    let s = Instance::on_disk(dir.path()).await;
    let got = send(&s, &key, None, Method::GET, &doc("a"), &[], None).await;
    assert_eq!(got.etag.as_deref(), Some(last.as_str()));
    let got = send(&s, &key, None, Method::GET, &doc("b"), &[], None).await;
    assert_eq!(got.etag.as_deref(), Some(b_tag.as_str()));
    let put = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-Match", &last)],
        Some(json!({"n": 3})),
    )
    .await;
    assert_eq!(
        put.status,
        StatusCode::OK,
        "an ETag read before the restart still matches"
    );
    fresh(&put.etag);
    s.stop().await;
}

#[tokio::test]
async fn if_match_and_if_none_match_decide_writes_and_reads() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let v1 = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[],
        Some(json!({"n": 1})),
    )
    .await;
    let v1 = v1.etag.unwrap();
    let v2 = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-Match", &v1)],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(v2.status, StatusCode::OK, "{}", v2.body);
    let v2 = v2.etag.unwrap();

    // A stale ETag: 412 on every write method, and nothing changes.
    for (method, body) in [
        (Method::PUT, Some(json!({"n": 9}))),
        (Method::PATCH, Some(json!({"n": 9}))),
        (Method::DELETE, None),
    ] {
        let r = send(
            &s,
            &key,
            None,
            method.clone(),
            &doc("a"),
            &[("If-Match", &v1)],
            body,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::PRECONDITION_FAILED,
            "{method} {}",
            r.body
        );
        assert_eq!(code(&r.body), "precondition_failed");
    }
    // Weak tags never match If-Match; unparsable ones neither.
    for bad in ["W/".to_owned() + &v2, "garbage".into(), "\"\"".into()] {
        let r = send(
            &s,
            &key,
            None,
            Method::PATCH,
            &doc("a"),
            &[("If-Match", &bad)],
            Some(json!({"n": 9})),
        )
        .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{bad}");
    }
    let got = send(&s, &key, None, Method::GET, &doc("a"), &[], None).await;
    assert_eq!(got.body["n"], 2);
    assert_eq!(got.etag.as_deref(), Some(v2.as_str()));

    // The current ETag (alone, or in a list) lets the write through.
    let list = format!("{v1}, {v2}");
    let r = send(
        &s,
        &key,
        None,
        Method::PATCH,
        &doc("a"),
        &[("If-Match", &list)],
        Some(json!({"m": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v3 = r.etag.unwrap();
    let r = send(
        &s,
        &key,
        None,
        Method::DELETE,
        &doc("a"),
        &[("If-Match", &v2)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = send(
        &s,
        &key,
        None,
        Method::DELETE,
        &doc("a"),
        &[("If-Match", &v3)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // A missing document never matches an If-Match, `*` included; PATCH and DELETE answer 412,
    // not 404, because the precondition is what failed.
    for (method, tag) in [
        (Method::PUT, v3.as_str()),
        (Method::PUT, "*"),
        (Method::PATCH, "*"),
        (Method::DELETE, v3.as_str()),
    ] {
        let body = (method != Method::DELETE).then(|| json!({"n": 1}));
        let r = send(
            &s,
            &key,
            None,
            method.clone(),
            &doc("a"),
            &[("If-Match", tag)],
            body,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::PRECONDITION_FAILED,
            "{method} If-Match {tag}"
        );
    }
    let r = send(&s, &key, None, Method::GET, &doc("a"), &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was created");

    // If-None-Match: * on PUT creates only.
    let r = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-None-Match", "*")],
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v4 = r.etag.unwrap();
    let r = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-None-Match", "*")],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(code(&r.body), "precondition_failed");
    let r = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-Match", "*")],
        Some(json!({"n": 3})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "If-Match: * on an existing document"
    );
    let v5 = r.etag.unwrap();
    // If-None-Match with a tag on a write, or both `*`s, is a client error.
    let r = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("a"),
        &[("If-None-Match", &v5)],
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(
        &s,
        &key,
        None,
        Method::DELETE,
        &doc("a"),
        &[("If-None-Match", "*")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // If-None-Match on GET: 304 without a body while it matches (weakly), 200 otherwise.
    for tag in [
        v5.clone(),
        format!("W/{v5}"),
        format!("{v4}, {v5}"),
        "*".into(),
    ] {
        let response = s
            .client
            .get(format!("{}{}", s.url, doc("a")))
            .header("X-API-Key", &key)
            .header("If-None-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(response.headers()["etag"].to_str().unwrap(), v5);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let r = send(
        &s,
        &key,
        None,
        Method::GET,
        &doc("a"),
        &[("If-None-Match", &v4)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag.as_deref(), Some(v5.as_str()));
    assert_eq!(r.body["n"], 3);
    let r = send(
        &s,
        &key,
        None,
        Method::GET,
        &doc("nope"),
        &[("If-None-Match", "*")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn a_scoped_caller_cannot_tell_a_hidden_document_from_a_missing_one() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let theirs = send(
        &s,
        &key,
        None,
        Method::PUT,
        &doc("theirs"),
        &[],
        Some(json!({"owner": "bob"})),
    )
    .await;
    let theirs_tag = theirs.etag.unwrap();
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"things": {"owner": "alice"}}, "permission": "write"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    let t = Some(token.as_str());
    let mine = send(
        &s,
        &key,
        t,
        Method::PUT,
        &doc("mine"),
        &[],
        Some(json!({"owner": "alice"})),
    )
    .await;
    assert_eq!(mine.status, StatusCode::CREATED);

    // With the hidden document's real ETag, or for an id that does not exist: the same answer.
    for (method, body) in [
        (Method::PUT, Some(json!({"owner": "alice"}))),
        (Method::PATCH, Some(json!({"x": 1}))),
        (Method::DELETE, None),
    ] {
        let hidden = send(
            &s,
            &key,
            t,
            method.clone(),
            &doc("theirs"),
            &[("If-Match", &theirs_tag)],
            body.clone(),
        )
        .await;
        let missing = send(
            &s,
            &key,
            t,
            method.clone(),
            &doc("nobody"),
            &[("If-Match", &theirs_tag)],
            body.clone(),
        )
        .await;
        assert_eq!(
            hidden.status,
            StatusCode::PRECONDITION_FAILED,
            "{method} {}",
            hidden.body
        );
        assert_eq!(
            (hidden.status, code(&hidden.body)),
            (missing.status, code(&missing.body)),
            "{method}"
        );
        let hidden = send(
            &s,
            &key,
            t,
            method.clone(),
            &doc("theirs"),
            &[("If-Match", "*")],
            body.clone(),
        )
        .await;
        let missing = send(
            &s,
            &key,
            t,
            method.clone(),
            &doc("nobody"),
            &[("If-Match", "*")],
            body,
        )
        .await;
        assert_eq!(hidden.status, StatusCode::PRECONDITION_FAILED, "{method} *");
        assert_eq!(hidden.status, missing.status, "{method} *");
    }
    // GET with If-None-Match: a hidden document is 404, whatever tag is sent.
    let r = send(
        &s,
        &key,
        t,
        Method::GET,
        &doc("theirs"),
        &[("If-None-Match", &theirs_tag)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.etag.is_none(), "no ETag of a hidden document");
    // The document outside the scope is untouched.
    let r = send(&s, &key, None, Method::GET, &doc("theirs"), &[], None).await;
    assert_eq!(r.etag.as_deref(), Some(theirs_tag.as_str()));
    assert_eq!(r.body["owner"], "bob");
    // In scope, preconditions work as usual.
    let r = send(
        &s,
        &key,
        t,
        Method::PATCH,
        &doc("mine"),
        &[("If-Match", mine.etag.as_deref().unwrap())],
        Some(json!({"x": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.stop().await;
}

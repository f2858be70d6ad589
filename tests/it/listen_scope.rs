//! CONTRACT sections 4, 9, 11 and 13 over HTTP: what a confined caller may listen to, and that a
//! document its scope hides never reaches its stream.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::listen::{Ev, Sse, ch, changes, ids};
use crate::{Instance, code};

async fn write(s: &Instance, method: Method, id: &str, body: Option<Value>) {
    let (status, body) = s
        .call(
            method,
            &format!("/v1/collections/todos/documents/{id}"),
            body,
        )
        .await;
    assert!(status.is_success(), "{body}");
}

/// Asserts no id of `hidden` appears anywhere in the event.
fn hides(ev: &Ev, hidden: &[&str]) {
    let text = ev.data.to_string();
    for id in hidden {
        assert!(
            !text.contains(&format!("\"{id}\"")),
            "{id} leaked in {}: {text}",
            ev.event
        );
    }
}

/// Signs up with `key`; answers (user id, session token).
async fn sign_up(s: &Instance, key: &str, email: &str) -> (String, String) {
    let (status, body) = s
        .send(
            key,
            None,
            Method::POST,
            "/v1/auth/signup",
            Some(json!({"email": email, "password": "long enough pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["user"]["id"].as_str().unwrap().to_owned(),
        body["session_token"].as_str().unwrap().to_owned(),
    )
}

fn todos(filter: Value, limit: Option<u64>) -> Value {
    let mut q = json!({"collection": "todos", "filter": filter});
    if let Some(limit) = limit {
        q["limit"] = json!(limit);
    }
    json!({"queries": {"mine": q}})
}

#[tokio::test]
async fn a_scoped_token_listens_only_inside_its_scope() {
    let s = Instance::start().await;
    write(&s, Method::PUT, "a1", Some(json!({"owner": "a", "n": 1}))).await;
    // Before a1 in the default sort, so it would take the window of limit 1 if it leaked.
    write(&s, Method::PUT, "a0-hidden", Some(json!({"owner": "b"}))).await;
    write(&s, Method::PUT, "h1", Some(json!({"owner": "b"}))).await;
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"todos": {"owner": "a"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();

    // A collection outside the scope: 403 before any stream, alone or among reachable ones.
    for body in [
        json!({"queries": {"n": {"collection": "notes"}}}),
        json!({"queries": {"t": {"collection": "todos"}, "n": {"collection": "notes"}}}),
    ] {
        let (status, err) = Sse::try_open(&s, &s.key, Some(&token), body.clone())
            .await
            .err()
            .expect("refused");
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {err}");
        assert_eq!(code(&err), "forbidden", "{err}");
    }

    let hidden = ["a0-hidden", "h1", "h2"];
    let mut all = Sse::try_open(&s, &s.key, Some(&token), todos(json!({}), None))
        .await
        .unwrap();
    let mut first = Sse::try_open(&s, &s.key, Some(&token), todos(json!({}), Some(1)))
        .await
        .unwrap();
    let snap = all.next().await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(ids(&snap.data["queries"]["mine"]), ["a1"]);
    let snap = first.next().await.unwrap();
    assert_eq!(ids(&snap.data["queries"]["mine"]), ["a1"], "{}", snap.data);

    // Create, update and delete of hidden documents: no event at all. The next event is the
    // visible write that follows them.
    write(&s, Method::PUT, "h2", Some(json!({"owner": "b"}))).await;
    write(&s, Method::PUT, "h1", Some(json!({"owner": "b", "n": 2}))).await;
    write(&s, Method::PATCH, "h2", Some(json!({"n": 3}))).await;
    write(&s, Method::DELETE, "h1", None).await;
    write(&s, Method::DELETE, "a0-hidden", None).await;
    write(&s, Method::PUT, "a2", Some(json!({"owner": "a"}))).await;
    let ev = all.next().await.unwrap();
    hides(&ev, &hidden);
    assert_eq!(ev.event, "changes");
    assert_eq!(
        ev.id,
        Some(snap.id.unwrap() + 6),
        "the event of a2's commit"
    );
    assert_eq!(changes(&ev, "mine"), [ch("added", "a2", "")]);

    // h2 enters the scope (a merge makes a its owner): added. a1 leaves: removed, unmatched.
    write(&s, Method::PATCH, "h2", Some(json!({"owner": "a"}))).await;
    let ev = all.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("added", "h2", "")]);
    assert_eq!(ev.data["changes"]["mine"][0]["document"]["n"], 3);
    write(&s, Method::PATCH, "a1", Some(json!({"owner": "b"}))).await;
    let ev = all.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("removed", "a1", "unmatched")]);
    assert!(ev.data["changes"]["mine"][0].get("document").is_none());
    // Gone from the scope, a1's later life is hidden too: its delete sends nothing.
    write(&s, Method::DELETE, "a1", None).await;
    write(&s, Method::DELETE, "a2", None).await;
    let ev = all.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("removed", "a2", "deleted")]);

    // The limit-1 window over the same commits: refilled only from visible documents.
    let ev = first.next().await.unwrap();
    hides(&ev, &hidden);
    assert_eq!(
        changes(&ev, "mine"),
        [ch("removed", "a1", "unmatched"), ch("added", "a2", "")]
    );
    let ev = first.next().await.unwrap();
    hides(&ev, &["a0-hidden", "h1"]);
    assert_eq!(
        changes(&ev, "mine"),
        [ch("removed", "a2", "deleted"), ch("added", "h2", "")]
    );
}

#[tokio::test]
async fn a_session_listens_inside_the_session_scope_and_logout_ends_the_stream() {
    let s = Instance::start().await;
    let client = s.new_key(&s.project, "web", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, sa) = sign_up(&s, &client, "a@example.com").await;

    // A session on a project without session_scope reaches no data, listening included.
    let (status, _) = Sse::try_open(&s, &client, Some(&sa), todos(json!({}), None))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({"session_scope": {"todos": {"owner": "{{user.id}}"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (b, sb) = sign_up(&s, &client, "b@example.com").await;
    let as_user = |session: &str, owner: &str, id: &str| {
        let (s, client, session) = (&s, client.clone(), session.to_owned());
        let body = json!({"owner": owner, "t": id});
        let path = format!("/v1/collections/todos/documents/{id}");
        async move {
            let (status, body) = s
                .send(&client, Some(&session), Method::PUT, &path, Some(body))
                .await;
            assert!(status.is_success(), "{body}");
        }
    };
    as_user(&sb, &b, "b1").await;
    as_user(&sa, &a, "a1").await;

    let (status, _) = Sse::try_open(
        &s,
        &client,
        Some(&sa),
        json!({"queries": {"n": {"collection": "notes"}}}),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(status, StatusCode::FORBIDDEN, "outside the session scope");

    let mut sse_a = Sse::try_open(&s, &client, Some(&sa), todos(json!({}), None))
        .await
        .unwrap();
    let mut sse_b = Sse::try_open(&s, &client, Some(&sb), todos(json!({}), None))
        .await
        .unwrap();
    let snap = sse_a.next().await.unwrap();
    assert_eq!(ids(&snap.data["queries"]["mine"]), ["a1"]);
    let snap = sse_b.next().await.unwrap();
    assert_eq!(ids(&snap.data["queries"]["mine"]), ["b1"]);

    as_user(&sb, &b, "b2").await;
    write(&s, Method::DELETE, "b1", None).await;
    as_user(&sa, &a, "a2").await;
    let ev = sse_a.next().await.unwrap();
    hides(&ev, &["b1", "b2"]);
    assert_eq!(changes(&ev, "mine"), [ch("added", "a2", "")]);
    let ev = sse_b.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("added", "b2", "")]);
    let ev = sse_b.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("removed", "b1", "deleted")]);

    // Logging out ends A's stream with `unauthorized`; B's stream lives on.
    let (status, _) = s
        .send(&client, Some(&sa), Method::POST, "/v1/auth/logout", None)
        .await;
    assert!(status.is_success());
    let started = Instant::now();
    let ev = sse_a.next().await.unwrap();
    assert_eq!(ev.event, "error", "{:?}", ev);
    assert_eq!(ev.data["error"]["code"], "unauthorized");
    assert!(sse_a.next().await.is_none(), "the stream closes");
    assert!(started.elapsed() < Duration::from_secs(2));
    as_user(&sb, &b, "b3").await;
    let ev = sse_b.next().await.unwrap();
    assert_eq!(changes(&ev, "mine"), [ch("added", "b3", "")]);
}

#[tokio::test]
async fn a_bare_client_key_cannot_listen() {
    let s = Instance::start().await;
    let client = s.new_key(&s.project, "web", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, err) = Sse::try_open(&s, &client, None, todos(json!({}), None))
        .await
        .err()
        .expect("refused");
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    // Also when the body is bad: the credential answers first.
    let (status, _) = Sse::try_open(&s, &client, None, json!({"queries": {}}))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn or_and_contains_queries_stream_exact_snapshots_and_changes() {
    let s = Instance::start().await;
    write(
        &s,
        Method::PUT,
        "a",
        Some(json!({"open": true, "tags": ["x"]})),
    )
    .await;
    write(
        &s,
        Method::PUT,
        "b",
        Some(json!({"pri": 1, "tags": ["red", "x"]})),
    )
    .await;
    write(&s, Method::PUT, "c", Some(json!({"open": false, "pri": 2}))).await;
    write(&s, Method::PUT, "d", Some(json!({"tags": "red"}))).await;
    let q = json!({"queries": {
        "either": {"collection": "todos", "filter": {"$or": [{"open": true}, {"pri": 1}]}},
        "red": {"collection": "todos", "filter": {"tags": {"$contains": "red"}}},
        "both": {"collection": "todos",
                 "filter": {"$or": [{"open": true}, {"pri": {"$gte": 2}}],
                            "tags": {"$contains": "x"}}}
    }});
    let mut sse = Sse::try_open(&s, &s.key, None, q).await.unwrap();
    let snap = sse.next().await.unwrap();
    assert_eq!(ids(&snap.data["queries"]["either"]), ["a", "b"]);
    assert_eq!(
        ids(&snap.data["queries"]["red"]),
        ["b"],
        "a string is not an array"
    );
    assert_eq!(ids(&snap.data["queries"]["both"]), ["a"]);

    // c joins `either` through its second branch and `both` once it is tagged x.
    write(&s, Method::PATCH, "c", Some(json!({"pri": 1}))).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "either"), [ch("added", "c", "")]);
    assert!(ev.data["changes"].get("red").is_none());
    assert!(ev.data["changes"].get("both").is_none());
    write(
        &s,
        Method::PATCH,
        "c",
        Some(json!({"pri": 3, "tags": ["x", "red"]})),
    )
    .await;
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "either"), [ch("removed", "c", "unmatched")]);
    assert_eq!(changes(&ev, "red"), [ch("added", "c", "")]);
    assert_eq!(changes(&ev, "both"), [ch("added", "c", "")]);
    // b loses its red tag: it leaves `red` but stays in `either` (pri 1), as a modification.
    write(&s, Method::PATCH, "b", Some(json!({"tags": ["x"], "n": 1}))).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "either"), [ch("modified", "b", "")]);
    assert_eq!(changes(&ev, "red"), [ch("removed", "b", "unmatched")]);
    assert!(ev.data["changes"].get("both").is_none());
    // A deep-equal object element.
    write(
        &s,
        Method::PUT,
        "e",
        Some(json!({"tags": [{"k": "red"}], "open": true})),
    )
    .await;
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "either"), [ch("added", "e", "")]);
    assert!(ev.data["changes"].get("red").is_none());
    write(&s, Method::DELETE, "a", None).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "either"), [ch("removed", "a", "deleted")]);
    assert_eq!(changes(&ev, "both"), [ch("removed", "a", "deleted")]);

    // Each result equals a fresh query at the end.
    for (name, filter) in [
        ("either", json!({"$or": [{"open": true}, {"pri": 1}]})),
        ("red", json!({"tags": {"$contains": "red"}})),
    ] {
        let (_, page) = s
            .call(
                Method::POST,
                "/v1/collections/todos/query",
                Some(json!({"filter": filter})),
            )
            .await;
        let want = match name {
            "either" => vec!["b", "e"],
            _ => vec!["c"],
        };
        assert_eq!(ids(&page["documents"]), want, "{name}");
    }
}

/// CONTRACT section 11, bounds: a client that reads nothing while far more than 8 MiB of events
/// are committed (far more than the kernel's socket buffers hold too) is cut off with
/// `unavailable`, and the stream closes.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_with_unavailable() {
    let s = Instance::start().await;
    let q = todos(json!({}), Some(1000));
    let mut sse = Sse::try_open(&s, &s.key, None, q).await.unwrap();
    let filler = "x".repeat(64 * 1024);
    // 400 events of 64 KiB: 25 MiB, over the 8 MiB bound plus a 4 MiB send buffer and the
    // receive window of a socket nobody reads.
    for i in 0..400 {
        write(
            &s,
            Method::PUT,
            &format!("d{i:04}"),
            Some(json!({"pad": filler})),
        )
        .await;
    }
    let mut last = None;
    while let Some(ev) = sse.next().await {
        last = Some(ev);
    }
    let ev = last.expect("some event");
    assert_eq!(ev.event, "error", "the last event is the error");
    assert_eq!(ev.data["error"]["code"], "unavailable", "{}", ev.data);
}

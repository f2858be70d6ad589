//! CONTRACT section 12, `POST /v1/batch`: 1-500 ops, at most 10 MiB, all or nothing in one
//! commit with one `seq` (one `changes` event per listener), each op checked as its single call
//! (scopes, preconditions, quota), the failing op's index in the error, read keys refused; and
//! value conserved by concurrent read-ETag-then-batch transfers with retries.

use mammoth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::etag::send;
use crate::listen::{Sse, ch, changes};
use crate::{Instance, code};

async fn batch(s: &Instance, key: &str, bearer: Option<&str>, ops: Value) -> (StatusCode, Value) {
    let r = send(
        s,
        key,
        bearer,
        Method::POST,
        "/v1/batch",
        &[],
        Some(json!({ "ops": ops })),
    )
    .await;
    (r.status, r.body)
}

async fn get(s: &Instance, id: &str) -> (StatusCode, Value, Option<String>) {
    let r = send(
        s,
        &s.key,
        None,
        Method::GET,
        &format!("/v1/collections/c/documents/{id}"),
        &[],
        None,
    )
    .await;
    (r.status, r.body, r.etag)
}

#[tokio::test]
async fn a_batch_applies_every_op_in_one_commit() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let old = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/old",
        &[],
        Some(json!({"n": 1})),
    )
    .await;
    let old_tag = old.etag.unwrap();
    let (status, out) = batch(
        &s,
        &key,
        None,
        json!([
            {"op": "create", "collection": "c", "id": "a", "body": {"n": 1}},
            {"op": "create", "collection": "d", "body": {"generated": true}},
            {"op": "replace", "collection": "c", "id": "b", "body": {"n": 2}},
            {"op": "merge", "collection": "c", "id": "a", "body": {"m": 3}},
            {"op": "delete", "collection": "c", "id": "old", "if_match": old_tag},
            {"op": "replace", "collection": "c", "id": "b", "body": {"n": 4}, "exists": true},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let seq = out["seq"].as_u64().unwrap();
    let tag = format!("\"{seq}\"");
    let statuses: Vec<u64> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 201, 201, 200, 204, 200]);
    for (i, r) in out["results"].as_array().unwrap().iter().enumerate() {
        if i == 4 {
            assert!(r.get("document").is_none() && r.get("etag").is_none());
        } else {
            assert_eq!(
                r["etag"],
                tag.as_str(),
                "every document of the batch has its seq"
            );
        }
    }
    // Later ops see earlier ones: the merge went into the created document.
    assert_eq!(out["results"][3]["document"]["n"], 1);
    assert_eq!(out["results"][3]["document"]["m"], 3);
    let generated = out["results"][1]["document"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, a, a_tag) = get(&s, "a").await;
    assert_eq!((a["n"].clone(), a["m"].clone()), (json!(1), json!(3)));
    assert_eq!(
        a_tag.as_deref(),
        Some(tag.as_str()),
        "GET's ETag is the batch's"
    );
    let (_, b, _) = get(&s, "b").await;
    assert_eq!(b["n"], 4);
    assert_eq!(get(&s, "old").await.0, StatusCode::NOT_FOUND);
    let r = send(
        &s,
        &key,
        None,
        Method::GET,
        &format!("/v1/collections/d/documents/{generated}"),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // The next single write takes the next seq: the batch was one commit.
    let next = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/z",
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(next.etag, Some(format!("\"{}\"", seq + 1)));
    s.stop().await;
}

#[tokio::test]
async fn any_failing_op_applies_nothing_and_is_named_by_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::on_disk(dir.path());
    config.max_project_bytes = 2_000;
    let s = Instance::with_config(config).await;
    let key = s.key.clone();
    let x = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/x",
        &[],
        Some(json!({"n": 0})),
    )
    .await;
    let x_tag = x.etag.unwrap();
    let ok = |i: usize| json!({"op": "replace", "collection": "c", "id": format!("new{i}"), "body": {"n": i}});
    let cases = [
        (
            json!({"op": "create", "collection": "c", "id": "x", "body": {}}),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            json!({"op": "merge", "collection": "c", "id": "missing", "body": {}}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "missing"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"op": "merge", "collection": "c", "id": "x", "body": {}, "if_match": "\"999\""}),
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        ),
        (
            json!({"op": "replace", "collection": "c", "id": "x", "body": {}, "exists": false}),
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        ),
        (
            json!({"op": "replace", "collection": "c", "id": "nope", "body": {}, "exists": true}),
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        ),
        (
            json!({"op": "create", "collection": "c", "body": {"pad": "x".repeat(3_000)}}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            json!({"op": "create", "collection": "bad name", "body": {}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "upsert", "collection": "c", "id": "q", "body": {}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "replace", "collection": "c", "body": {}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "replace", "collection": "c", "id": "q"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "replace", "collection": "c", "id": "q", "body": {"id": "other"}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "x", "body": {}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "x", "if_match": 5}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "x", "extra": 1}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!("not an object"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (bad, want, want_code) in cases {
        let ops = json!([ok(0), ok(1), bad.clone(), ok(3)]);
        let (status, err) = batch(&s, &key, None, ops).await;
        assert_eq!(status, want, "{bad}: {err}");
        assert_eq!(code(&err), want_code, "{bad}");
        assert_eq!(err["error"]["op"], 2, "{bad}: {err}");
    }
    // The quota counts the batch's own earlier ops: two documents of ~900 bytes fit beside x,
    // a third does not.
    let big = |i: usize| json!({"op": "replace", "collection": "c", "id": format!("big{i}"), "body": {"pad": "x".repeat(800)}});
    let (status, err) = batch(&s, &key, None, json!([big(0), big(1), big(2)])).await;
    assert_eq!(
        (status, err["error"]["op"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!(2)),
        "{err}"
    );
    // Nothing of any refused batch was applied, in memory or on disk.
    s.stop().await;
    let s = Instance::on_disk(dir.path()).await;
    let (status, list) = s
        .call_with(&key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["collections"],
        json!([{"name": "c", "count": 1}]),
        "{list}"
    );
    let x = send(
        &s,
        &key,
        None,
        Method::GET,
        "/v1/collections/c/documents/x",
        &[],
        None,
    )
    .await;
    assert_eq!(x.etag.as_deref(), Some(x_tag.as_str()));
    s.stop().await;
}

#[tokio::test]
async fn batch_limits_and_credentials() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let op =
        |i: usize| json!({"op": "replace", "collection": "c", "id": format!("d{i}"), "body": {}});
    let (status, err) = batch(&s, &key, None, json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = batch(&s, &key, None, Value::Array((0..501).map(op).collect())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, out) = batch(&s, &key, None, Value::Array((0..500).map(op).collect())).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["results"].as_array().unwrap().len(), 500);
    for body in [
        json!({}),
        json!({"ops": {}}),
        json!({"ops": [], "x": 1}),
        json!([1]),
    ] {
        let r = send(
            &s,
            &key,
            None,
            Method::POST,
            "/v1/batch",
            &[],
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
    }

    // Over 1 MiB is fine for a batch (three documents of 700 KB); over 10 MiB is 413.
    let pad = "y".repeat(700_000);
    let ops: Vec<Value> = (0..3).map(|i| json!({"op": "replace", "collection": "big", "id": format!("b{i}"), "body": {"pad": pad}})).collect();
    let (status, out) = batch(&s, &key, None, Value::Array(ops)).await;
    assert_eq!(status, StatusCode::OK, "{}", out["error"]);
    let ops: Vec<Value> = (0..16).map(|i| json!({"op": "replace", "collection": "big", "id": format!("h{i}"), "body": {"pad": pad}})).collect();
    let (status, err) = batch(&s, &key, None, Value::Array(ops)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(code(&err), "payload_too_large");

    // Read keys: 403, whatever the body. No key: 401.
    let read_key = s.new_key(&s.project, "reader", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, err) = batch(&s, &read_key, None, json!([op(0)])).await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = send(
        &s,
        &read_key,
        None,
        Method::POST,
        "/v1/batch",
        &[],
        Some(json!("junk")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call_with("", Method::POST, "/v1/batch", Some(json!({"ops": [op(0)]})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A client key alone reaches no data.
    let client = s.new_key(&s.project, "app", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = batch(&s, &client, None, json!([op(0)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test]
async fn each_op_is_confined_by_the_scope_as_its_single_call() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let r = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/theirs",
        &[],
        Some(json!({"owner": "bob"})),
    )
    .await;
    let theirs_tag = r.etag.unwrap();
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"c": {"owner": "alice"}}, "permission": "write"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = minted["token"].as_str().unwrap().to_owned();
    let t = Some(token.as_str());
    let mine = |id: &str| json!({"op": "replace", "collection": "c", "id": id, "body": {"owner": "alice"}});
    let (status, out) = batch(&s, &key, t, json!([mine("m1"), mine("m2")])).await;
    assert_eq!(status, StatusCode::OK, "{out}");

    let cases = [
        (
            json!({"op": "create", "collection": "other", "body": {"owner": "alice"}}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"op": "create", "collection": "c", "body": {"owner": "bob"}}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"op": "replace", "collection": "c", "id": "theirs", "body": {"owner": "alice"}}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"op": "merge", "collection": "c", "id": "m1", "body": {"owner": "bob"}}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"op": "merge", "collection": "c", "id": "theirs", "body": {}}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "theirs"}),
            StatusCode::NOT_FOUND,
        ),
        // A hidden document's real ETag fails exactly as for a missing document.
        (
            json!({"op": "delete", "collection": "c", "id": "theirs", "if_match": theirs_tag}),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            json!({"op": "delete", "collection": "c", "id": "nobody", "if_match": theirs_tag}),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            json!({"op": "merge", "collection": "c", "id": "theirs", "body": {}, "exists": true}),
            StatusCode::PRECONDITION_FAILED,
        ),
    ];
    for (bad, want) in cases {
        let (status, err) = batch(&s, &key, t, json!([mine("m3"), bad.clone()])).await;
        assert_eq!(status, want, "{bad}: {err}");
        assert_eq!(err["error"]["op"], 1, "{bad}");
    }
    // `exists: false` on a hidden id passes (it does not exist for the caller); the replace is
    // then refused as the single call would be (the id is not the caller's).
    let (status, err) = batch(&s, &key, t, json!([{"op": "replace", "collection": "c", "id": "theirs", "body": {"owner": "alice"}, "exists": false}])).await;
    assert_eq!(
        (status, err["error"]["op"].clone()),
        (StatusCode::FORBIDDEN, json!(0))
    );
    assert_eq!(
        get(&s, "m3").await.0,
        StatusCode::NOT_FOUND,
        "nothing applied"
    );
    assert_eq!(get(&s, "theirs").await.1["owner"], "bob");
    s.stop().await;
}

#[tokio::test]
async fn a_listener_gets_one_changes_event_for_a_whole_batch() {
    let s = Instance::start().await;
    let key = s.key.clone();
    let put = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/gone",
        &[],
        Some(json!({"n": 0})),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let mut sse = Sse::try_open(
        &s,
        &key,
        None,
        json!({"queries": {"all": {"collection": "c"}}}),
    )
    .await
    .unwrap();
    let snapshot = sse.next().await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let (status, out) = batch(
        &s,
        &key,
        None,
        json!([
            {"op": "create", "collection": "c", "id": "a", "body": {"n": 1}},
            {"op": "create", "collection": "c", "id": "b", "body": {"n": 1}},
            {"op": "merge", "collection": "c", "id": "a", "body": {"n": 2}},
            {"op": "delete", "collection": "c", "id": "gone"},
            {"op": "create", "collection": "c", "id": "tmp", "body": {}},
            {"op": "delete", "collection": "c", "id": "tmp"},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let seq = out["seq"].as_u64().unwrap();
    let ev = sse.next().await.unwrap();
    assert_eq!((ev.event.as_str(), ev.id), ("changes", Some(seq)));
    let mut got = changes(&ev, "all");
    got.sort();
    assert_eq!(
        got,
        [
            ch("added", "a", ""),
            ch("added", "b", ""),
            ch("removed", "gone", "deleted")
        ],
        "net changes, once each"
    );
    assert_eq!(
        ev.data["changes"]["all"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "a")
            .unwrap()["document"]["n"],
        2
    );
    // The next event is the next commit: the batch was not split.
    let put = send(
        &s,
        &key,
        None,
        Method::PUT,
        "/v1/collections/c/documents/z",
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.id, Some(seq + 1));
    s.stop().await;
}

/// Several clients move value between two documents with read-ETag-then-batch-with-`if_match`,
/// retrying on 412: every transfer is applied exactly once and the total is conserved.
#[tokio::test]
async fn concurrent_transfers_with_if_match_conserve_the_total() {
    const CLIENTS: usize = 4;
    const TRANSFERS: usize = 15;
    let s = std::sync::Arc::new(Instance::start().await);
    for id in ["a", "b"] {
        let r = send(
            &s,
            &s.key,
            None,
            Method::PUT,
            &format!("/v1/collections/c/documents/{id}"),
            &[],
            Some(json!({"balance": 1000, "moves": 0})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for t in 0..TRANSFERS {
                let amount = (client * 7 + t) as i64 % 50 + 1;
                let (from, to) = if (client + t) % 2 == 0 { ("a", "b") } else { ("b", "a") };
                loop {
                    let (_, f, f_tag) = get(&s, from).await;
                    let (_, d, d_tag) = get(&s, to).await;
                    let ops = json!([
                        {"op": "merge", "collection": "c", "id": from, "if_match": f_tag.unwrap(),
                         "body": {"balance": f["balance"].as_i64().unwrap() - amount, "moves": f["moves"].as_i64().unwrap() + 1}},
                        {"op": "merge", "collection": "c", "id": to, "if_match": d_tag.unwrap(),
                         "body": {"balance": d["balance"].as_i64().unwrap() + amount, "moves": d["moves"].as_i64().unwrap() + 1}},
                    ]);
                    let (status, out) = batch(&s, &s.key, None, ops).await;
                    match status {
                        StatusCode::OK => break,
                        StatusCode::PRECONDITION_FAILED => {
                            assert_eq!(code(&out), "precondition_failed");
                            conflicts += 1;
                        }
                        other => panic!("unexpected {other}: {out}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let (_, a, _) = get(&s, "a").await;
    let (_, b, _) = get(&s, "b").await;
    assert_eq!(
        a["balance"].as_i64().unwrap() + b["balance"].as_i64().unwrap(),
        2000,
        "{a} {b}"
    );
    // Each document took part in every transfer exactly once: no lost update.
    let moves = (CLIENTS * TRANSFERS) as i64;
    assert_eq!(
        (a["moves"].as_i64().unwrap(), b["moves"].as_i64().unwrap()),
        (moves, moves)
    );
    eprintln!("{conflicts} precondition failures were retried");
    match std::sync::Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("tasks still hold the instance"),
    }
}

#[tokio::test]
async fn a_session_with_a_client_key_is_confined_by_the_session_scope_op_by_op() {
    let s = Instance::start().await;
    let client = s.new_key(&s.project, "web", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({"session_scope": {"c": {"owner": "{{user.id}}"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = send(
        &s,
        &client,
        None,
        Method::POST,
        "/v1/auth/signup",
        &[],
        Some(json!({"email": "ann@example.com", "password": "long enough pw"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = r.body["user"]["id"].as_str().unwrap().to_owned();
    let session = r.body["session_token"].as_str().unwrap().to_owned();
    let own = json!({"op": "replace", "collection": "c", "id": "n1", "body": {"owner": user}});
    let (status, out) = batch(&s, &client, Some(&session), json!([own])).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    for bad in [
        json!({"op": "replace", "collection": "c", "id": "n2", "body": {"owner": "someone-else"}}),
        json!({"op": "create", "collection": "elsewhere", "body": {"owner": user}}),
    ] {
        let (status, err) = batch(
            &s,
            &client,
            Some(&session),
            json!([{"op": "merge", "collection": "c", "id": "n1", "body": {"x": 1}}, bad.clone()]),
        )
        .await;
        assert_eq!(
            (status, err["error"]["op"].clone()),
            (StatusCode::FORBIDDEN, json!(1)),
            "{bad}: {err}"
        );
    }
    let (_, n1, _) = get(&s, "n1").await;
    assert!(
        n1.get("x").is_none(),
        "the refused batch's first op was not applied"
    );
    s.stop().await;
}

//! CONTRACT section 14 over HTTP: TTL policies, exact invisibility, listeners, durable deletes.
//! The server's clock is a `ManualClock`: no test sleeps for an expiry.

use std::path::Path;
use std::sync::Arc;

use mammoth::config::Config;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use mammoth_actors::ids::rfc3339_millis;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::listen::{Sse, ch, changes, ids};
use crate::{Instance, code};

const T0: u64 = 1_800_000_000_000;

fn at(millis: u64) -> String {
    rfc3339_millis(millis)
}

fn config(clock: &Arc<ManualClock>, dir: Option<&Path>) -> Config {
    let base = match dir {
        Some(dir) => Config::on_disk(dir),
        None => Config::in_memory(),
    };
    Config {
        env: Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        },
        ..base
    }
}

async fn clocked() -> (Instance, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (Instance::with_config(config(&clock, None)).await, clock)
}

async fn set_policy(s: &Instance, project: &str, ttl: Value) -> (StatusCode, Value) {
    s.admin(
        Method::PATCH,
        &format!("/projects/{project}"),
        Some(json!({ "ttl": ttl })),
    )
    .await
}

async fn put(s: &Instance, collection: &str, id: &str, body: Value) {
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/v1/collections/{collection}/documents/{id}"),
            Some(body),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

async fn get(s: &Instance, collection: &str, id: &str) -> StatusCode {
    s.call(
        Method::GET,
        &format!("/v1/collections/{collection}/documents/{id}"),
        None,
    )
    .await
    .0
}

async fn query_ids(s: &Instance, collection: &str, filter: Value) -> Vec<String> {
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/collections/{collection}/query"),
            Some(json!({"filter": filter, "limit": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ids(&body["documents"])
        .into_iter()
        .map(str::to_owned)
        .collect()
}

async fn count(s: &Instance, collection: &str) -> Value {
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/collections/{collection}/aggregate"),
            Some(json!({"aggregates": {"n": {"count": {}}, "sum": {"sum": "v"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["aggregates"].clone()
}

async fn listing(s: &Instance) -> Value {
    let (status, body) = s.call(Method::GET, "/v1/collections", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["collections"].clone()
}

#[tokio::test]
async fn policies_are_shown_set_removed_and_validated() {
    let (s, _clock) = clocked().await;
    let p = s.project.clone();
    let (status, body) = set_policy(&s, &p, json!({"sessions": "expires_at", "a": "x.y"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ttl"], json!({"sessions": "expires_at", "a": "x.y"}));
    let (_, shown) = s.admin(Method::GET, &format!("/projects/{p}"), None).await;
    assert_eq!(shown["ttl"], json!({"sessions": "expires_at", "a": "x.y"}));
    let (status, body) = set_policy(&s, &p, json!({"a": null, "b": "t"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ttl"], json!({"sessions": "expires_at", "b": "t"}));
    for bad in [
        json!("expires_at"),
        json!(["sessions"]),
        json!({"bad name!": "t"}),
        json!({"s": ""}),
        json!({"s": "a..b"}),
        json!({"s": 7}),
        json!({"s": {"field": "t"}}),
        json!({"s": "updated_at"}),
        json!({"s": vec!["a"; 33].join(".")}),
    ] {
        let (status, body) = set_policy(&s, &p, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(code(&body), "bad_request", "{bad}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("ttl"),
            "{body}"
        );
    }
    let (_, shown) = s.admin(Method::GET, &format!("/projects/{p}"), None).await;
    assert_eq!(
        shown["ttl"],
        json!({"sessions": "expires_at", "b": "t"}),
        "a refused update changes nothing"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_expired_document_is_invisible_at_once_everywhere() {
    let (s, clock) = clocked().await;
    set_policy(&s, &s.project, json!({"s": "exp"})).await;
    put(&s, "s", "a", json!({"exp": at(T0 + 1000), "v": 1})).await;
    put(&s, "s", "b", json!({"exp": at(T0 + 2000), "v": 2})).await;
    put(&s, "s", "never", json!({"exp": "tomorrow", "v": 4})).await;
    put(&s, "s", "num", json!({"exp": T0, "v": 8})).await;
    put(&s, "s", "none", json!({"v": 16})).await;
    put(&s, "other", "a", json!({"exp": at(T0), "v": 1})).await;

    clock.set(T0 + 999);
    assert_eq!(get(&s, "s", "a").await, StatusCode::OK, "not yet");
    assert_eq!(count(&s, "s").await, json!({"n": 5, "sum": 31}));

    clock.set(T0 + 1000);
    assert_eq!(
        get(&s, "s", "a").await,
        StatusCode::NOT_FOUND,
        "at the instant"
    );
    assert_eq!(
        query_ids(&s, "s", json!({})).await,
        ["b", "never", "none", "num"]
    );
    assert_eq!(
        query_ids(&s, "s", json!({"v": {"$lte": 2}})).await,
        ["b"],
        "indexed queries too"
    );
    assert_eq!(count(&s, "s").await, json!({"n": 4, "sum": 30}));
    assert_eq!(
        listing(&s).await,
        json!([{"name": "other", "count": 1}, {"name": "s", "count": 4}])
    );
    // Gone means gone for writes too: a create succeeds, a merge and a delete find nothing.
    let (status, _) = s
        .call(
            Method::PATCH,
            "/v1/collections/s/documents/a",
            Some(json!({"v": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/s/documents/a", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/collections/s/documents",
            Some(json!({"id": "a", "v": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    clock.set(T0 + 1_000_000);
    assert_eq!(get(&s, "s", "b").await, StatusCode::NOT_FOUND);
    for id in ["a", "never", "num", "none"] {
        assert_eq!(get(&s, "s", id).await, StatusCode::OK, "{id} never expires");
    }
    assert_eq!(
        get(&s, "other", "a").await,
        StatusCode::OK,
        "no policy, no expiry"
    );
    s.stop().await;
}

#[tokio::test]
async fn writing_a_later_time_keeps_a_document_alive_and_removing_the_policy_stops_expiry() {
    let (s, clock) = clocked().await;
    set_policy(&s, &s.project, json!({"s": "meta.exp"})).await;
    put(&s, "s", "k", json!({"meta": {"exp": at(T0 + 1000)}})).await;
    put(&s, "s", "m", json!({"meta": {"exp": at(T0 + 1000)}})).await;
    put(&s, "s", "p", json!({"meta": {"exp": at(T0 + 1000)}})).await;
    // Keep-alive by replace and by merge; a merge can also make a document never expire.
    put(&s, "s", "k", json!({"meta": {"exp": at(T0 + 5000)}})).await;
    let (status, _) = s
        .call(
            Method::PATCH,
            "/v1/collections/s/documents/m",
            Some(json!({"meta": {"exp": null}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    clock.set(T0 + 1000);
    assert_eq!(get(&s, "s", "p").await, StatusCode::NOT_FOUND);
    assert_eq!(get(&s, "s", "k").await, StatusCode::OK, "kept alive");
    assert_eq!(get(&s, "s", "m").await, StatusCode::OK, "field removed");

    // Removing the policy: nothing expires any more; setting it again applies to what is stored.
    set_policy(&s, &s.project, json!({"s": null})).await;
    clock.set(T0 + 6000);
    assert_eq!(get(&s, "s", "k").await, StatusCode::OK, "policy removed");
    let (status, _) = set_policy(&s, &s.project, json!({"s": "meta.exp"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(&s, "s", "k").await,
        StatusCode::NOT_FOUND,
        "a new policy covers stored documents at once"
    );
    assert_eq!(query_ids(&s, "s", json!({})).await, ["m"]);
    s.stop().await;
}

#[tokio::test]
async fn listeners_get_removed_expired_without_a_request() {
    let (s, clock) = clocked().await;
    set_policy(&s, &s.project, json!({"s": "exp"})).await;
    put(&s, "s", "a", json!({"exp": at(T0 + 1000), "n": 1})).await;
    put(&s, "s", "b", json!({"exp": at(T0 + 9000), "n": 2})).await;
    let mut sse = Sse::try_open(
        &s,
        &s.key,
        None,
        json!({"queries": {"all": {"collection": "s"}}}),
    )
    .await
    .unwrap();
    let snap = sse.next().await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(ids(&snap.data["queries"]["all"]), ["a", "b"]);
    // No request at all (the actor's timer, or the fan-out's own liveness check, sweeps it): the
    // event follows once the delete is durable. The timer alone is tested in
    // actors/tests/model_ttl.rs.
    clock.set(T0 + 1000);
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.event, "changes", "{:?}", ev.data);
    assert_eq!(changes(&ev, "all"), [ch("removed", "a", "expired")]);
    assert!(ev.data["changes"]["all"][0].get("document").is_none());
    // A client delete is still `deleted`.
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/s/documents/b", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ev = sse.next().await.unwrap();
    assert_eq!(changes(&ev, "all"), [ch("removed", "b", "deleted")]);
    s.stop().await;
}

#[tokio::test]
async fn after_a_restart_due_documents_are_gone_before_anything_is_served_and_deleted_durably() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let s = Instance::with_config(config(&clock, Some(dir.path()))).await;
    let key = s.key.clone();
    set_policy(&s, &s.project, json!({"s": "exp"})).await;
    put(&s, "s", "due", json!({"exp": at(T0 + 1000)})).await;
    put(&s, "s", "later", json!({"exp": at(T0 + 60_000)})).await;
    s.stop().await;

    clock.set(T0 + 5000);
    let mut s = Instance::with_config(config(&clock, Some(dir.path()))).await;
    s.key = key.clone();
    assert_eq!(
        listing(&s).await,
        json!([{"name": "s", "count": 1}]),
        "the first answer already lacks it"
    );
    assert_eq!(get(&s, "s", "due").await, StatusCode::NOT_FOUND);
    assert_eq!(get(&s, "s", "later").await, StatusCode::OK);
    s.stop().await;

    // With the clock set back, a document still on disk would be visible again: it is not.
    clock.set(T0);
    let mut s = Instance::with_config(config(&clock, Some(dir.path()))).await;
    s.key = key;
    assert_eq!(
        get(&s, "s", "due").await,
        StatusCode::NOT_FOUND,
        "deleted on disk"
    );
    assert_eq!(get(&s, "s", "later").await, StatusCode::OK);
    s.stop().await;
}

//! Issue 13: a query no index serves runs in slices inside the project actor, so other
//! messages are answered between them, and its answer is exact as of its start. Ordering is
//! observed (which reply comes first), never timing.

use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::ErrorCode;
use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, ProjectHandle, SLICE_DOCS, WriteOp};
use mammoth_actors::query::{Page, Query};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Value, json};

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

/// A project whose collection `c` holds `3 * SLICE_DOCS` documents.
async fn project() -> (Registry, ProjectHandle, Access) {
    let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap();
    let registry = Registry::start(storage, snapshot, Env::default(), minter())
        .await
        .unwrap();
    let (project, issued) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let claims: KeyClaims = serde_json::from_str(&issued.key).unwrap();
    let access = Access::new(Principal::Key(KeyRef {
        key_id: claims.kid,
        nonce: claims.n,
    }));
    for i in 0..3 * SLICE_DOCS {
        let mut body = json!({"n": i % 17});
        if i % 3 == 0 {
            body["s"] = json!(format!("x{i:05}"));
        }
        handle
            .write(
                access.clone(),
                "c".into(),
                WriteOp::Create {
                    id: Some(format!("d{i:05}")),
                    body: body.as_object().unwrap().clone(),
                },
            )
            .await
            .unwrap();
    }
    (registry, handle, access)
}

/// Sorted on a field a third of the documents carry, then on another, filtered with `$ne`: no
/// index serves it, so every document is visited.
fn unindexable() -> Query {
    Query::parse(&json!({
        "filter": {"n": {"$ne": 3}},
        "sort": [{"field": "s"}, {"field": "n", "order": "desc"}],
        "limit": 5,
    }))
    .unwrap()
}

fn ids(page: &Page) -> Vec<String> {
    page.docs
        .iter()
        .map(|b| {
            serde_json::from_slice::<Value>(b).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn until_in_flight(handle: &ProjectHandle, n: usize) {
    while handle.in_flight() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_get_and_a_write_sent_after_a_long_unindexed_query_are_answered_before_it_and_the_write_does_not_change_its_answer()
 {
    let (registry, handle, access) = project().await;
    let before = handle
        .query(access.clone(), "c".into(), unindexable())
        .await
        .unwrap();

    let release = handle.stall();
    let (done, mut order) = tokio::sync::mpsc::unbounded_channel();
    let query = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let page = handle.query(access, "c".into(), unindexable()).await;
            done.send("query").unwrap();
            page
        }
    });
    until_in_flight(&handle, 1).await;
    let get = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let doc = handle.get(access, "c".into(), "d00001".into()).await;
            done.send("get").unwrap();
            doc
        }
    });
    until_in_flight(&handle, 2).await;
    // A document that sorts first (no `s`, the highest `n`): it would top the page if the scan
    // saw it.
    let write = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let written = handle
                .write(
                    access,
                    "c".into(),
                    WriteOp::Create {
                        id: Some("new".into()),
                        body: json!({"n": 100}).as_object().unwrap().clone(),
                    },
                )
                .await;
            done.send("write").unwrap();
            written
        }
    });
    until_in_flight(&handle, 3).await;
    drop(release);

    let page = query.await.unwrap().unwrap();
    get.await.unwrap().unwrap();
    write.await.unwrap().unwrap();
    let order: Vec<&str> = std::iter::from_fn(|| order.try_recv().ok()).collect();
    assert_eq!(
        order,
        ["get", "write", "query"],
        "the query's later slices wait behind the GET and the write"
    );
    assert_eq!(
        ids(&page),
        ids(&before),
        "the write that came in mid-scan is not in the answer"
    );
    assert_eq!(page.next_cursor, before.next_cursor);
    let after = handle
        .query(access, "c".into(), unindexable())
        .await
        .unwrap();
    assert_eq!(
        ids(&after)[0],
        "new",
        "a query sent after the write sees it"
    );
    assert_eq!(handle.in_flight(), 0);
    registry.stop();
}

#[tokio::test]
async fn a_call_the_actor_took_but_did_not_answer_in_time_may_have_been_applied() {
    let (registry, handle, access) = project().await;
    let first = handle.stall();
    let query = tokio::spawn({
        let (handle, access) = (handle.clone(), access.clone());
        async move { handle.query(access, "c".into(), unindexable()).await }
    });
    until_in_flight(&handle, 1).await;
    // Behind the query: the actor takes the query, runs its first slice, then stalls here
    // with the rest of the scan queued behind.
    let second = handle.stall();
    // Virtual time: the 10 s call timeout passes as soon as everything waits.
    tokio::time::pause();
    drop(first);
    let err = query
        .await
        .unwrap()
        .expect_err("the stalled scan does not answer");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(
        err.message.contains("may have been applied"),
        "the actor had taken the call: {err}"
    );
    assert_eq!(
        handle.in_flight(),
        1,
        "the unanswered scan still holds its place in the bound"
    );
    tokio::time::resume();
    drop(second);
    for _ in 0..1000 {
        if handle.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        handle.in_flight(),
        0,
        "the scan whose caller gave up ends and frees its place"
    );
    registry.stop();
}

/// Aggregates whose filter no index serves: counted and summed over every document.
fn unindexable_aggregation() -> mammoth_actors::query::Aggregation {
    mammoth_actors::query::Aggregation::parse(&json!({
        "filter": {"n": {"$ne": 3}},
        "aggregates": {"k": {"count": {}}, "total": {"sum": "n"}, "top": {"max": "n"}},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_get_and_a_write_sent_after_a_long_unindexed_aggregate_are_answered_before_it_and_the_write_does_not_change_its_answer()
 {
    let (registry, handle, access) = project().await;
    let before = handle
        .aggregate(access.clone(), "c".into(), unindexable_aggregation())
        .await
        .unwrap();
    let matching = (0..3 * SLICE_DOCS).filter(|i| i % 17 != 3);
    assert_eq!(before["k"], json!(matching.clone().count()));
    assert_eq!(
        before["total"],
        json!(matching.map(|i| i % 17).sum::<usize>())
    );

    let release = handle.stall();
    let (done, mut order) = tokio::sync::mpsc::unbounded_channel();
    let aggregate = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let values = handle
                .aggregate(access, "c".into(), unindexable_aggregation())
                .await;
            done.send("aggregate").unwrap();
            values
        }
    });
    until_in_flight(&handle, 1).await;
    let get = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let doc = handle.get(access, "c".into(), "d00001".into()).await;
            done.send("get").unwrap();
            doc
        }
    });
    until_in_flight(&handle, 2).await;
    // A document that the scan has not reached yet, with a value larger than any: it would
    // change every aggregate if the scan saw it.
    let write = tokio::spawn({
        let (handle, access, done) = (handle.clone(), access.clone(), done.clone());
        async move {
            let written = handle
                .write(
                    access,
                    "c".into(),
                    WriteOp::Create {
                        id: Some("zzz".into()),
                        body: json!({"n": 100}).as_object().unwrap().clone(),
                    },
                )
                .await;
            done.send("write").unwrap();
            written
        }
    });
    until_in_flight(&handle, 3).await;
    drop(release);

    let values = aggregate.await.unwrap().unwrap();
    get.await.unwrap().unwrap();
    write.await.unwrap().unwrap();
    let order: Vec<&str> = std::iter::from_fn(|| order.try_recv().ok()).collect();
    assert_eq!(
        order,
        ["get", "write", "aggregate"],
        "the aggregate's later slices wait behind the GET and the write"
    );
    assert_eq!(
        values, before,
        "the write that came in mid-scan is not counted"
    );
    let after = handle
        .aggregate(access, "c".into(), unindexable_aggregation())
        .await
        .unwrap();
    assert_eq!(
        after["top"],
        json!(100),
        "an aggregate sent after the write sees it"
    );
    assert_eq!(handle.in_flight(), 0);
    registry.stop();
}

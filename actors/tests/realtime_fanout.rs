//! Issue 14's fan-out: streams with the same subscription receive the very same encoded frame
//! (one encoding per commit, shared bytes), queued events leave as one chunk, and idle streams
//! get a `: ping` from the hub.

use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, ProjectHandle, WriteOp};
use mammoth_actors::query::Query;
use mammoth_actors::realtime::{ListenQuery, Listener, PING_EVERY};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::json;

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

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
    (registry, handle, access)
}

async fn listen(handle: &ProjectHandle, access: &Access, name: &str) -> Listener {
    let query = Query::parse(&json!({"filter": {"team": "a"}})).unwrap();
    let mut listener = handle
        .listen(
            access.clone(),
            vec![ListenQuery {
                name: name.into(),
                collection: "notes".into(),
                query,
            }],
            None,
        )
        .await
        .unwrap();
    let snapshot = chunk(&mut listener).await;
    assert!(snapshot.starts_with(b"event: snapshot\n"));
    listener
}

async fn chunk(listener: &mut Listener) -> bytes::Bytes {
    tokio::time::timeout(Duration::from_secs(10), listener.next_chunk())
        .await
        .expect("a chunk within 10 s")
        .expect("the stream is open")
}

async fn create(handle: &ProjectHandle, access: &Access, id: &str) {
    let body = json!({"team": "a"}).as_object().unwrap().clone();
    handle
        .write(
            access.clone(),
            "notes".into(),
            WriteOp::Create {
                id: Some(id.into()),
                body,
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn identical_subscriptions_share_one_encoded_frame_and_backlogs_leave_as_one_chunk() {
    let (_registry, handle, access) = project().await;
    let mut a = listen(&handle, &access, "q").await;
    let mut b = listen(&handle, &access, "q").await;
    let mut other_name = listen(&handle, &access, "r").await;
    create(&handle, &access, "n1").await;
    let (ca, cb, cr) = (
        chunk(&mut a).await,
        chunk(&mut b).await,
        chunk(&mut other_name).await,
    );
    assert!(ca.starts_with(b"event: changes\nid: "), "{ca:?}");
    assert!(
        std::str::from_utf8(&ca)
            .unwrap()
            .contains("\"q\":[{\"type\":\"added\""),
        "{ca:?}"
    );
    assert_eq!(ca, cb);
    assert_eq!(
        ca.as_ptr(),
        cb.as_ptr(),
        "the same subscription gets the same bytes, encoded once"
    );
    assert_ne!(ca, cr, "another query name is another frame");

    // Three commits while `a` does not read: one chunk of three events, in order.
    for id in ["n2", "n3", "n4"] {
        create(&handle, &access, id).await;
        chunk(&mut b).await;
    }
    let backlog = String::from_utf8(chunk(&mut a).await.to_vec()).unwrap();
    assert_eq!(backlog.matches("event: changes\n").count(), 3, "{backlog}");
    let ids: Vec<&str> = backlog
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    let seqs: Vec<u64> = ids.iter().map(|s| s.parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_gets_a_ping_from_the_hub() {
    let (_registry, handle, access) = project().await;
    let mut a = listen(&handle, &access, "q").await;
    let started = tokio::time::Instant::now();
    let ping = tokio::time::timeout(PING_EVERY * 2, a.next_chunk())
        .await
        .expect("a ping within two ping periods")
        .unwrap();
    assert_eq!(&ping[..], b": ping\n\n");
    assert!(started.elapsed() <= PING_EVERY + Duration::from_secs(1));
    assert!(PING_EVERY < Duration::from_secs(15), "the contract's bound");
}

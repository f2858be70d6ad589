//! Issue 14: the hub indexes subscriptions by equality conditions, so a write to one user's
//! documents evaluates that user's subscription only, and a document moving between users
//! reaches both (its before AND after state are looked up).

use std::sync::Arc;

use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, WriteOp};
use mammoth_actors::query::Query;
use mammoth_actors::realtime::{ListenQuery, Listener, StreamEvent};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Value, json};

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

async fn next(listener: &mut Listener) -> StreamEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), listener.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
}

fn body(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn a_write_evaluates_only_the_subscriptions_its_document_can_match() {
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

    const USERS: usize = 50;
    let mut listeners = Vec::new();
    for u in 0..USERS {
        let query = Query::parse(&json!({"filter": {"owner": format!("u{u}")}})).unwrap();
        let mut listener = handle
            .listen(
                access.clone(),
                vec![ListenQuery {
                    name: "mine".into(),
                    collection: "notes".into(),
                    query,
                }],
                None,
            )
            .await
            .unwrap();
        assert_eq!(next(&mut listener).await.event, "snapshot");
        listeners.push(listener);
    }
    let before = listeners[0].evaluations();

    // A create for u3: only u3's group is evaluated.
    handle
        .write(
            access.clone(),
            "notes".into(),
            WriteOp::Create {
                id: Some("n1".into()),
                body: body(json!({"owner": "u3", "text": "hi"})),
            },
        )
        .await
        .unwrap();
    let event = next(&mut listeners[3]).await;
    assert_eq!(event.event, "changes");
    assert!(event.data.contains("\"added\""), "{}", event.data);
    assert_eq!(
        listeners[0].evaluations() - before,
        1,
        "one write to u3's documents evaluates one of {USERS} subscriptions"
    );

    // Moving it to u7: u3's group sees it leave (before-state), u7's see it arrive (after).
    handle
        .write(
            access.clone(),
            "notes".into(),
            WriteOp::Merge {
                id: "n1".into(),
                patch: body(json!({"owner": "u7"})),
            },
        )
        .await
        .unwrap();
    let gone = next(&mut listeners[3]).await;
    assert!(gone.data.contains("\"unmatched\""), "{}", gone.data);
    let came = next(&mut listeners[7]).await;
    assert!(came.data.contains("\"added\""), "{}", came.data);
    assert_eq!(listeners[0].evaluations() - before, 3);

    // A delete reaches u7's group through the before-state only.
    handle
        .write(
            access.clone(),
            "notes".into(),
            WriteOp::Delete { id: "n1".into() },
        )
        .await
        .unwrap();
    let deleted = next(&mut listeners[7]).await;
    assert!(deleted.data.contains("\"deleted\""), "{}", deleted.data);
    assert_eq!(listeners[0].evaluations() - before, 4);
}

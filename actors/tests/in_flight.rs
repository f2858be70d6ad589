//! CONTRACT section 18 / issue 13: a call that times out neither leaks its in-flight place nor
//! gets applied later (a retried POST would otherwise create a duplicate).

use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::ErrorCode;
use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, WriteOp};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::json;

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

#[tokio::test]
async fn a_timed_out_write_is_dropped_unapplied_and_its_place_is_freed_when_the_actor_takes_it() {
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

    let release = handle.stall();
    // Virtual time: the 10 s call timeout passes at once while the actor is stalled.
    tokio::time::pause();
    let write = handle.write(
        access.clone(),
        "c".into(),
        WriteOp::Create {
            id: Some("dup".into()),
            body: json!({"n": 1}).as_object().unwrap().clone(),
        },
    );
    let err = write.await.expect_err("the stalled actor does not answer");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.contains("not applied"), "{err}");
    assert_eq!(
        handle.in_flight(),
        1,
        "the message still sits in the mailbox, so it still holds its place"
    );
    tokio::time::resume();

    drop(release);
    for _ in 0..1000 {
        if handle.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        handle.in_flight(),
        0,
        "freed once the actor took and dropped it"
    );
    let get = handle.get(access, "c".into(), "dup".into()).await;
    assert_eq!(
        get.expect_err("never applied").code,
        ErrorCode::NotFound,
        "a timed-out write is not applied later"
    );
    registry.stop();
}

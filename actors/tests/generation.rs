//! Issue 11: a durability failure reloads only the actor that wrote it. A reload naming an
//! earlier generation (a failure reported after a restart) leaves the fresh actor alone.

use std::sync::Arc;

use mammoth_actors::env::Env;
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

#[tokio::test]
async fn a_late_failure_of_a_replaced_actor_does_not_reload_its_successor() {
    let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap();
    let registry = Registry::start(storage, snapshot, Env::default(), minter())
        .await
        .unwrap();
    let (project, _) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let mut restarts = registry.restarts();
    let first = handle.generation();

    // The writer's own generation: it is reloaded (a restart event, a new generation).
    handle.reload(first);
    restarts.changed().await.unwrap();
    let second = handle.generation();
    assert_ne!(first, second);
    handle.describe().await.unwrap();

    // A late failure naming the first generation: the mailbox is FIFO, so once the call after
    // it answers, the actor has taken the reload and ignored it.
    let seen = *restarts.borrow_and_update();
    handle.reload(first);
    handle.describe().await.unwrap();
    assert_eq!(handle.generation(), second, "the successor was reloaded");
    assert_eq!(*restarts.borrow(), seen, "a restart happened");
}

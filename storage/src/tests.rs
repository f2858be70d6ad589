//! Tests of the whole crate through its public API, plus a reference model.
//!
//! Every file-backed test works in its own temporary directory. Tests that need the writer to
//! hold still use [`Storage::pause_writer`]; tests that need to see a commit happen wait on the
//! writer's commit signal (`Gate::wait_until`), never on a sleep.

mod backup;
mod clear;
mod durability;
mod format;
mod model;
mod roundtrip;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tempfile::TempDir;

use crate::{Durability, Mutation, Snapshot, Storage, StorageConfig};

/// Generous bound for waits that should take milliseconds; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// A file two directories deep (which `open` must create) inside `dir`.
fn data_file(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("nested").join("mammoth.redb")
}

fn sync_config(dir: &TempDir) -> StorageConfig {
    StorageConfig {
        path: Some(data_file(dir)),
        ..StorageConfig::default()
    }
}

fn periodic_config(dir: &TempDir, interval: Duration) -> StorageConfig {
    StorageConfig {
        path: Some(data_file(dir)),
        durability: Durability::Periodic { interval },
        ..StorageConfig::default()
    }
}

fn open(config: &StorageConfig) -> (Storage, Snapshot) {
    Storage::open(config.clone()).expect("open storage")
}

/// Closes and reopens, returning what was loaded.
fn reopen(storage: Storage, config: &StorageConfig) -> (Storage, Snapshot) {
    storage.close().expect("close");
    drop(storage);
    open(config)
}

fn project(id: &str) -> Mutation {
    Mutation::PutProject {
        project: id.into(),
        record: b(&format!("record of {id}")),
    }
}

fn put_doc(project: &str, collection: &str, id: &str, body: &str) -> Mutation {
    Mutation::PutDoc {
        project: project.into(),
        collection: collection.into(),
        id: id.into(),
        doc: b(body),
        seq: 1,
    }
}

fn delete_doc(project: &str, collection: &str, id: &str) -> Mutation {
    Mutation::DeleteDoc {
        project: project.into(),
        collection: collection.into(),
        id: id.into(),
    }
}

/// Waits until the writer has committed at least `n` transactions.
fn wait_for_commits(storage: &Storage, n: u64) {
    let committed = storage
        .shared()
        .gate
        .wait_until(PATIENCE, || storage.stats().commits >= n);
    assert!(
        committed,
        "expected {n} commits, stats: {:?}",
        storage.stats()
    );
}

/// The handle crosses threads and tasks; tickets are awaited in other tasks.
#[test]
fn handles_and_tickets_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<Storage>();
    send_sync::<crate::StorageError>();
    send::<crate::Ticket>();
    send::<crate::Snapshot>();
}

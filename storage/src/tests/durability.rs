//! What each durability mode promises: when tickets complete and when data reaches redb.

use std::fs;

use tempfile::TempDir;

use super::*;
use crate::StorageConfig;

#[test]
fn sync_tickets_wait_for_the_commit() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&sync_config(&dir));
    let pause = storage.pause_writer();
    let ticket = storage.submit(vec![project("p")]).expect("submit");
    let waiter = std::thread::spawn(move || ticket.wait());
    // While paused, nothing can complete the ticket and nothing is on disk.
    assert_eq!(storage.load_project("p"), Ok(None));
    assert_eq!(storage.stats().commits, 0);
    assert!(!waiter.is_finished());
    drop(pause);
    waiter.join().expect("waiter").expect("durable");
    assert!(
        storage.load_project("p").expect("load").is_some(),
        "durable means committed"
    );
    storage.close().expect("close");
}

#[test]
fn periodic_tickets_complete_at_once_and_flush_commits() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&periodic_config(&dir, Duration::from_secs(3600)));
    let pause = storage.pause_writer();
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("ready at once");
    drop(pause);
    storage
        .submit(vec![put_doc("p", "c", "1", "v")])
        .expect("submit")
        .wait()
        .expect("ready");
    // An hour-long interval and a small batch: only a flush commits now.
    assert_eq!(storage.load_project("p"), Ok(None));
    assert_eq!(storage.stats().pending, 2);
    storage.flush().wait().expect("flush");
    let stats = storage.stats();
    assert_eq!(
        (stats.commits, stats.pending, stats.last_batch_submits),
        (1, 0, 2)
    );
    assert_eq!(
        storage
            .load_project("p")
            .expect("load")
            .expect("p")
            .doc_count(),
        1
    );
    // A flush with nothing pending commits nothing.
    storage.flush().wait().expect("flush");
    assert_eq!(storage.stats().commits, 1);
    storage.close().expect("close");
}

#[test]
fn periodic_commits_on_close_and_on_drop() {
    let dir = TempDir::new().expect("tempdir");
    let config = periodic_config(&dir, Duration::from_secs(3600));
    let (storage, _) = open(&config);
    storage
        .submit(vec![project("p"), put_doc("p", "c", "1", "v")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    let (storage, loaded) = reopen(storage, &config);
    assert_eq!(loaded.projects["p"].doc_count(), 1, "close committed");

    storage
        .submit(vec![put_doc("p", "c", "2", "v")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    drop(storage);
    let (storage, loaded) = open(&config);
    assert_eq!(
        loaded.projects["p"].doc_count(),
        2,
        "dropping the last handle committed"
    );
    storage.close().expect("close");
}

#[test]
fn periodic_commits_when_the_interval_passes() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&periodic_config(&dir, Duration::from_millis(20)));
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    wait_for_commits(&storage, 1);
    assert!(storage.load_project("p").expect("load").is_some());
    storage.close().expect("close");
}

#[test]
fn periodic_commits_early_when_the_batch_is_full() {
    let dir = TempDir::new().expect("tempdir");
    let config = StorageConfig {
        max_batch_ops: 4,
        ..periodic_config(&dir, Duration::from_secs(3600))
    };
    let (storage, _) = open(&config);
    storage
        .submit(vec![project("p"), put_doc("p", "c", "1", "v")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    storage
        .submit(vec![put_doc("p", "c", "2", "v")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    assert_eq!(storage.stats().commits, 0, "3 of 4: not full yet");
    storage
        .submit(vec![put_doc("p", "c", "3", "v")])
        .expect("submit")
        .wait()
        .expect("periodic: ready at once");
    wait_for_commits(&storage, 1);
    assert_eq!(storage.stats().last_batch_mutations, 4);
    assert_eq!(
        storage
            .load_project("p")
            .expect("load")
            .expect("p")
            .doc_count(),
        3
    );
    storage.close().expect("close");
}

#[test]
fn in_memory_never_touches_disk_and_tickets_complete_at_once() {
    let cwd = std::env::current_dir().expect("cwd");
    let listing = || {
        let mut names: Vec<_> = fs::read_dir(&cwd)
            .expect("read cwd")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    // Periodic is ignored in memory: tickets are immediate and writes are applied eagerly.
    let config = StorageConfig {
        path: None,
        durability: crate::Durability::Periodic {
            interval: Duration::from_secs(3600),
        },
        ..StorageConfig::default()
    };
    let (storage, loaded) = open(&config);
    assert!(loaded.projects.is_empty());
    let pause = storage.pause_writer();
    let ticket = storage
        .submit(vec![project("p"), put_doc("p", "c", "1", "v")])
        .expect("submit");
    ticket
        .wait()
        .expect("complete although the writer is paused");
    drop(pause);
    wait_for_commits(&storage, 1);
    assert_eq!(
        storage
            .load_project("p")
            .expect("load")
            .expect("p")
            .doc_count(),
        1
    );
    storage.close().expect("close");
    assert_eq!(listing(), before, "no file appeared");

    // A fresh in-memory storage starts empty: nothing was kept anywhere.
    let (storage, loaded) = open(&config);
    assert!(loaded.projects.is_empty());
    storage.close().expect("close");
}

/// Issue 13: in periodic mode the count bound alone let 65 536 × 1 MiB wait in memory.
#[test]
fn periodic_pending_writes_are_bounded_by_bytes_too() {
    let dir = TempDir::new().expect("tempdir");
    let config = StorageConfig {
        max_pending_bytes: 1_000,
        max_batch_bytes: 1 << 20,
        ..periodic_config(&dir, Duration::from_secs(3600))
    };
    let (storage, _) = open(&config);
    let body = "x".repeat(300);
    for i in 0..3 {
        storage
            .submit(vec![put_doc("p", "c", &i.to_string(), &body)])
            .expect("under the byte bound");
    }
    assert_eq!(
        storage
            .submit(vec![put_doc("p", "c", "refused", &body)])
            .err(),
        Some(crate::StorageError::Overloaded),
        "past the byte bound while the count bound is far away"
    );
    storage.flush().wait().expect("flush");
    storage
        .submit(vec![put_doc("p", "c", "after", &body)])
        .expect("committed bytes are given back");
    storage.close().expect("close");
}

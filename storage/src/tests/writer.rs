//! The writer: back-pressure, group commit, batch bounds, failures, closing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::thread;

use tempfile::TempDir;

use super::model::FlakyBackend;
use super::*;
use crate::handle::Backend;
use crate::{Mutation, StorageConfig, StorageError, Ticket};

fn is_pending(ticket: &mut Ticket) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(ticket).poll(&mut cx).is_pending()
}

#[test]
fn submits_past_max_pending_are_refused_and_nothing_is_queued() {
    let dir = TempDir::new().expect("tempdir");
    let config = StorageConfig {
        max_pending: 4,
        ..sync_config(&dir)
    };
    let (storage, _) = open(&config);
    let pause = storage.pause_writer();

    let mut tickets = vec![
        storage
            .submit(vec![project("p"), put_doc("p", "c", "1", "v")])
            .expect("2 ops"),
        storage
            .submit(vec![put_doc("p", "c", "2", "v")])
            .expect("3 ops"),
        storage
            .submit(vec![put_doc("p", "c", "3", "v")])
            .expect("4 ops"),
    ];
    assert_eq!(storage.stats().pending, 4);
    let refused = storage.submit(vec![put_doc("p", "c", "refused", "v")]);
    assert_eq!(refused.err(), Some(StorageError::Overloaded));
    let refused = storage.submit(vec![
        put_doc("p", "c", "r2", "v"),
        put_doc("p", "c", "r3", "v"),
    ]);
    assert_eq!(refused.err(), Some(StorageError::Overloaded));
    assert_eq!(
        storage.stats().pending,
        4,
        "a refused submit queues nothing"
    );
    assert_eq!(storage.stats().overloaded, 2);
    assert!(
        tickets.iter_mut().all(is_pending),
        "paused: nothing committed"
    );

    drop(pause);
    tickets
        .into_iter()
        .for_each(|t| t.wait().expect("committed"));
    assert_eq!(storage.stats().pending, 0);
    storage
        .submit(vec![put_doc("p", "c", "4", "v")])
        .expect("room again")
        .wait()
        .expect("ok");

    let (storage, loaded) = reopen(storage, &config);
    let ids: Vec<_> = loaded.projects["p"].docs["c"].keys().cloned().collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4"],
        "refused writes never reached the disk"
    );
    storage.close().expect("close");
}

#[test]
fn an_oversized_submit_is_accepted_when_nothing_is_pending() {
    let config = StorageConfig {
        max_pending: 2,
        max_batch_ops: 2,
        ..StorageConfig::default()
    };
    let (storage, _) = open(&config);
    let pause = storage.pause_writer();
    let big: Vec<Mutation> = (0..5)
        .map(|i| put_doc("p", "c", &i.to_string(), "v"))
        .collect();
    let _ticket = storage
        .submit(big.clone())
        .expect("alone, it may pass the bound");
    assert_eq!(storage.submit(big).err(), Some(StorageError::Overloaded));
    drop(pause);
    storage.flush().wait().expect("flush");
    assert_eq!(
        storage.stats().last_batch_mutations,
        5,
        "a submit is never split"
    );
}

/// Submits that queue up while the writer is busy share one commit.
#[test]
fn queued_submits_share_one_commit() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&sync_config(&dir));
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("durable");
    let before = storage.stats();

    let pause = storage.pause_writer();
    let threads = 16;
    let barrier = Arc::new(Barrier::new(threads));
    let submitters: Vec<_> = (0..threads)
        .map(|i| {
            let storage = storage.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                storage
                    .submit(vec![put_doc("p", "c", &format!("{i:02}"), "v")])
                    .expect("submit")
            })
        })
        .collect();
    let mut tickets: Vec<Ticket> = submitters
        .into_iter()
        .map(|t| t.join().expect("submitter"))
        .collect();
    assert!(tickets.iter_mut().all(is_pending));
    drop(pause);
    tickets.into_iter().for_each(|t| t.wait().expect("durable"));

    let after = storage.stats();
    assert_eq!(
        after.commits - before.commits,
        1,
        "one fsync for all 16: {after:?}"
    );
    assert_eq!(after.last_batch_submits, 16);
    assert_eq!(
        storage
            .load_project("p")
            .expect("load")
            .expect("p")
            .doc_count(),
        16
    );
    storage.close().expect("close");
}

#[test]
fn batches_respect_max_batch_ops_without_splitting_a_submit() {
    for (max_batch_ops, expected_commits) in [(4, 10), (6, 5), (30, 1)] {
        let config = StorageConfig {
            max_batch_ops,
            ..StorageConfig::default()
        };
        let (storage, _) = open(&config);
        let pause = storage.pause_writer();
        for s in 0..10 {
            let submit = (0..3)
                .map(|i| put_doc("p", "c", &format!("{s}-{i}"), "v"))
                .collect();
            let _ticket = storage.submit(submit).expect("submit");
        }
        drop(pause);
        storage.flush().wait().expect("flush");
        let stats = storage.stats();
        assert_eq!(
            stats.commits, expected_commits,
            "max_batch_ops {max_batch_ops}: {stats:?}"
        );
        assert_eq!(stats.mutations_committed, 30);
        assert!(stats.max_batch_mutations <= max_batch_ops.max(3) as u64);
    }
}

#[test]
fn batches_respect_max_batch_bytes() {
    let config = StorageConfig {
        max_batch_bytes: 100,
        ..StorageConfig::default()
    };
    let (storage, _) = open(&config);
    let pause = storage.pause_writer();
    let body = "x".repeat(60);
    for i in 0..4 {
        let _ticket = storage.submit(vec![put_doc("p", "c", &i.to_string(), &body)]);
    }
    drop(pause);
    storage.flush().wait().expect("flush");
    assert_eq!(
        storage.stats().commits,
        4,
        "each 65-byte submit fills a 100-byte batch"
    );
}

#[test]
fn many_threads_submitting_all_complete_with_fewer_commits_than_submits() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("durable");
    let (threads, per_thread) = (8, 40);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let storage = storage.clone();
            thread::spawn(move || {
                for i in 0..per_thread {
                    let doc = put_doc("p", &format!("t{t}"), &format!("{i:03}"), "v");
                    storage
                        .submit(vec![doc])
                        .expect("submit")
                        .wait()
                        .expect("durable");
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().expect("worker"));

    let stats = storage.stats();
    assert_eq!(stats.submits, 1 + threads * per_thread);
    assert_eq!(stats.mutations_committed, stats.mutations_submitted);
    assert_eq!(stats.pending, 0);
    assert!(
        stats.commits < stats.submits,
        "no group commit happened: {stats:?}"
    );
    let (storage, loaded) = reopen(storage, &config);
    assert_eq!(
        loaded.projects["p"].doc_count(),
        (threads * per_thread) as usize
    );
    storage.close().expect("close");
}

#[tokio::test]
async fn tickets_are_futures() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&sync_config(&dir));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            storage
                .submit(vec![put_doc("p", "c", &i.to_string(), "v")])?
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("durable");
    }
    storage.flush().await.expect("flush");
    assert_eq!(storage.stats().mutations_committed, 32);
    tokio::task::spawn_blocking(move || storage.close())
        .await
        .expect("join")
        .expect("close");
}

#[test]
fn a_failed_commit_fails_every_ticket_of_its_batch_then_storage_recovers() {
    let backend = FlakyBackend::default();
    let fail = Arc::clone(&backend.fail);
    let (storage, _) =
        Storage::open_with(&StorageConfig::default(), Backend::Custom(backend.opener()))
            .expect("open");
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("healthy commit");

    let pause = storage.pause_writer();
    let first = storage
        .submit(vec![put_doc("p", "c", "lost-1", "v")])
        .expect("submit");
    let second = storage
        .submit(vec![put_doc("p", "c", "lost-2", "v")])
        .expect("submit");
    let flush = storage.flush();
    fail.store(true, Ordering::SeqCst);
    drop(pause);
    for ticket in [first, second, flush] {
        assert!(matches!(ticket.wait(), Err(StorageError::Io(_))));
    }
    let stats = storage.stats();
    assert_eq!((stats.failed_commits, stats.pending), (1, 0), "{stats:?}");

    // Once the disk works again the writer reopens the database and carries on from its last
    // committed state: the failed batch is not there, new writes are.
    fail.store(false, Ordering::SeqCst);
    storage
        .submit(vec![put_doc("p", "c", "after", "v")])
        .expect("still accepting")
        .wait()
        .expect("recovered");
    let p = storage.load_project("p").expect("load").expect("p");
    assert_eq!(p.docs["c"].keys().collect::<Vec<_>>(), ["after"]);
    storage.close().expect("close");
    assert_eq!(storage.submit(vec![]).err(), Some(StorageError::Closed));
}

#[test]
fn periodic_keeps_a_failed_batch_and_commits_it_once_the_disk_recovers() {
    let backend = FlakyBackend::default();
    let fail = Arc::clone(&backend.fail);
    let config = StorageConfig {
        durability: crate::Durability::Periodic {
            interval: Duration::from_secs(3600),
        },
        ..StorageConfig::default()
    };
    let (storage, _) =
        Storage::open_with(&config, Backend::Custom(backend.opener())).expect("open");
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("ready at once");

    fail.store(true, Ordering::SeqCst);
    assert!(matches!(storage.flush().wait(), Err(StorageError::Io(_))));
    let stats = storage.stats();
    assert_eq!(
        (stats.failed_commits, stats.pending),
        (1, 1),
        "kept for a retry: {stats:?}"
    );
    assert!(
        matches!(storage.flush().wait(), Err(StorageError::Io(_))),
        "still failing"
    );

    fail.store(false, Ordering::SeqCst);
    storage
        .flush()
        .wait()
        .expect("the retry commits the kept batch");
    assert_eq!(storage.stats().pending, 0);
    assert!(storage.load_project("p").expect("load").is_some());
    storage.close().expect("close");
}

#[test]
fn periodic_close_reports_writes_it_could_not_commit() {
    let backend = FlakyBackend::default();
    let fail = Arc::clone(&backend.fail);
    let config = StorageConfig {
        durability: crate::Durability::Periodic {
            interval: Duration::from_secs(3600),
        },
        ..StorageConfig::default()
    };
    let (storage, _) =
        Storage::open_with(&config, Backend::Custom(backend.opener())).expect("open");
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("ready at once");
    fail.store(true, Ordering::SeqCst);
    assert!(matches!(storage.close(), Err(StorageError::Io(_))));
}

#[test]
fn close_is_idempotent_and_refuses_later_work() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    let clone = storage.clone();
    let ticket = storage.submit(vec![project("p")]).expect("submit");
    storage.close().expect("close");
    ticket.wait().expect("close commits what was queued");
    clone.close().expect("second close");
    assert_eq!(
        clone.submit(vec![project("q")]).err(),
        Some(StorageError::Closed)
    );
    assert_eq!(storage.flush().wait(), Err(StorageError::Closed));
    // The file is released: it can be opened again while the old handles still exist.
    let (reopened, loaded) = open(&config);
    assert!(loaded.projects.contains_key("p"));
    reopened.close().expect("close");
}

#[test]
fn dropping_the_last_handle_stops_the_writer() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    let clone = storage.clone();
    let _ticket = storage.submit(vec![project("p")]).expect("submit");
    drop(storage);
    // One handle left: still open.
    clone.flush().wait().expect("still open");
    drop(clone);
    // The writer committed and released the file, or this open would fail.
    let (storage, loaded) = open(&config);
    assert!(loaded.projects.contains_key("p"));
    storage.close().expect("close");
}

#[test]
fn names_with_nul_are_refused_before_queueing() {
    let (storage, _) = open(&StorageConfig::default());
    let bad = vec![project("p"), put_doc("p", "c\0x", "1", "v")];
    assert_eq!(
        storage.submit(bad).err(),
        Some(StorageError::InvalidName("c\0x".into()))
    );
    assert_eq!(storage.stats().submits, 0);
    storage.flush().wait().expect("flush");
    assert_eq!(
        storage.load_project("p"),
        Ok(None),
        "not even the valid half was written"
    );
}

#[test]
fn close_does_not_hang_on_a_paused_writer() {
    let (storage, _) = open(&StorageConfig::default());
    let pause = storage.pause_writer();
    let ticket = storage.submit(vec![project("p")]).expect("submit");
    storage.close().expect("close commits what was queued");
    ticket.wait().expect("committed");
    drop(pause);
}

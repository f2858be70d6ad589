//! Counters the writer keeps, and the [`StorageStats`] view of them for metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A point-in-time copy of the writer's counters (all since `open`).
///
/// `commits < submits` means group commit is working: one transaction served several submits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageStats {
    /// Submits accepted.
    pub submits: u64,
    /// Mutations in the submits accepted.
    pub mutations_submitted: u64,
    /// Submits refused with `Overloaded`.
    pub overloaded: u64,
    /// Write transactions attempted (`commits + failed_commits`).
    pub batches: u64,
    /// Write transactions committed.
    pub commits: u64,
    /// Write transactions that failed (their tickets got `Io`).
    pub failed_commits: u64,
    /// Mutations committed.
    pub mutations_committed: u64,
    /// Mutations in the last committed transaction.
    pub last_batch_mutations: u64,
    /// Submits in the last committed transaction.
    pub last_batch_submits: u64,
    /// Most mutations in one committed transaction.
    pub max_batch_mutations: u64,
    /// Mutations submitted and not yet committed, now.
    pub pending: u64,
    /// Duration of the last `commit` (page writes plus fsync when durable), in microseconds.
    pub last_commit_micros: u64,
    /// Longest `commit`, in microseconds.
    pub max_commit_micros: u64,
    /// Sum of all `commit` durations, in microseconds (divide by `commits` for the mean).
    pub total_commit_micros: u64,
}

/// The live counters. Relaxed ordering: they are statistics; a ticket's completion (a oneshot
/// send after the update) is what orders them for a reader that waited on it.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submits: AtomicU64,
    mutations_submitted: AtomicU64,
    overloaded: AtomicU64,
    batches: AtomicU64,
    commits: AtomicU64,
    failed_commits: AtomicU64,
    mutations_committed: AtomicU64,
    last_batch_mutations: AtomicU64,
    last_batch_submits: AtomicU64,
    max_batch_mutations: AtomicU64,
    last_commit_micros: AtomicU64,
    max_commit_micros: AtomicU64,
    total_commit_micros: AtomicU64,
}

impl Counters {
    pub(crate) fn submitted(&self, mutations: usize) {
        self.submits.fetch_add(1, Relaxed);
        self.mutations_submitted
            .fetch_add(mutations as u64, Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.overloaded.fetch_add(1, Relaxed);
    }

    pub(crate) fn committed(&self, mutations: usize, submits: usize, took: Duration) {
        let (mutations, submits) = (mutations as u64, submits as u64);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.batches.fetch_add(1, Relaxed);
        self.commits.fetch_add(1, Relaxed);
        self.mutations_committed.fetch_add(mutations, Relaxed);
        self.last_batch_mutations.store(mutations, Relaxed);
        self.last_batch_submits.store(submits, Relaxed);
        self.max_batch_mutations.fetch_max(mutations, Relaxed);
        self.last_commit_micros.store(micros, Relaxed);
        self.max_commit_micros.fetch_max(micros, Relaxed);
        self.total_commit_micros.fetch_add(micros, Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.batches.fetch_add(1, Relaxed);
        self.failed_commits.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, pending: usize) -> StorageStats {
        StorageStats {
            submits: self.submits.load(Relaxed),
            mutations_submitted: self.mutations_submitted.load(Relaxed),
            overloaded: self.overloaded.load(Relaxed),
            batches: self.batches.load(Relaxed),
            commits: self.commits.load(Relaxed),
            failed_commits: self.failed_commits.load(Relaxed),
            mutations_committed: self.mutations_committed.load(Relaxed),
            last_batch_mutations: self.last_batch_mutations.load(Relaxed),
            last_batch_submits: self.last_batch_submits.load(Relaxed),
            max_batch_mutations: self.max_batch_mutations.load(Relaxed),
            pending: pending as u64,
            last_commit_micros: self.last_commit_micros.load(Relaxed),
            max_commit_micros: self.max_commit_micros.load(Relaxed),
            total_commit_micros: self.total_commit_micros.load(Relaxed),
        }
    }
}

//! The commit log: every committed write of a project, numbered, with each document's state
//! before and after.
//!
//! This is the one stream that features reading "what changed" consume: realtime listeners now
//! ([`crate::realtime`]), and later batches (one [`Commit`] of many documents), TTL expiry (a
//! commit whose changes carry [`Reason::Expired`]), backups at a consistent `seq`, and the
//! replicator.
//!
//! - The project actor owns one [`CommitLog`]. [`CommitLog::append`] gives a commit the next
//!   `seq`; the actor submits that `seq` to storage in the same submit (so the same redb
//!   transaction) as the write, through [`CommitLog::seq_mutation`], so the sequence survives
//!   restarts and never goes back.
//! - The log keeps a bounded ring of recent commits, at least [`MIN_COMMITS`] when they fit in
//!   [`MAX_BYTES`]; [`CommitLog::since`] answers every commit after a `seq` while the ring still
//!   holds them all.
//! - Document states are shared `Bytes` (the very bytes the collection serves), so a commit costs
//!   no copy of a document.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use mammoth_storage::Mutation;

/// Commits the ring holds at most (and at least, while they fit in [`MAX_BYTES`]).
pub const MIN_COMMITS: usize = 10_000;

/// Most document bytes (before and after images) the ring holds.
pub const MAX_BYTES: usize = 64 << 20;

/// Why a document changed, for readers that report removals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A client wrote it.
    Write,
    /// Its time to live ran out (CONTRACT section 14; not produced yet).
    Expired,
}

/// One document's change within a commit.
#[derive(Debug, Clone)]
pub struct DocChange {
    /// The collection.
    pub collection: Arc<str>,
    /// The document id.
    pub id: Arc<str>,
    /// Its stored bytes before the commit (`None`: it did not exist).
    pub before: Option<Bytes>,
    /// Its stored bytes after the commit (`None`: it was deleted).
    pub after: Option<Bytes>,
    /// Why it changed.
    pub reason: Reason,
}

impl DocChange {
    fn weight(&self) -> usize {
        self.before.as_ref().map_or(0, Bytes::len)
            + self.after.as_ref().map_or(0, Bytes::len)
            + self.collection.len()
            + self.id.len()
            + 64
    }
}

/// One commit: one write, one batch or one TTL sweep step; applied and reported whole.
#[derive(Debug)]
pub struct Commit {
    /// Its number in the project's sequence.
    pub seq: u64,
    /// Every document it changed, each at most once.
    pub changes: Vec<DocChange>,
}

/// The project's sequence and its ring of recent commits.
#[derive(Debug)]
pub struct CommitLog {
    project: String,
    /// The `seq` of the last commit appended (the restored one after a restart).
    last: u64,
    ring: VecDeque<Arc<Commit>>,
    bytes: usize,
    max_commits: usize,
    max_bytes: usize,
}

impl CommitLog {
    /// A log whose last commit was `last` (0 for a new project); the ring starts empty.
    pub fn new(project: String, last: u64) -> CommitLog {
        CommitLog::with_bounds(project, last, MIN_COMMITS, MAX_BYTES)
    }

    /// A log with other ring bounds (tests).
    pub fn with_bounds(
        project: String,
        last: u64,
        max_commits: usize,
        max_bytes: usize,
    ) -> CommitLog {
        CommitLog {
            project,
            last,
            ring: VecDeque::new(),
            bytes: 0,
            max_commits: max_commits.max(1),
            max_bytes,
        }
    }

    /// The `seq` of the last commit.
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// The `seq` the next commit will take.
    pub fn next_seq(&self) -> u64 {
        self.last + 1
    }

    /// The mutation that records `seq` as the project's last: submit it with the write it
    /// numbers.
    pub fn seq_mutation(&self, seq: u64) -> Mutation {
        Mutation::PutSeq {
            project: self.project.clone(),
            seq,
        }
    }

    /// Appends a commit with the next `seq`, dropping the oldest past the bounds.
    pub fn append(&mut self, changes: Vec<DocChange>) -> Arc<Commit> {
        self.last += 1;
        let commit = Arc::new(Commit {
            seq: self.last,
            changes,
        });
        self.bytes += weight(&commit);
        self.ring.push_back(commit.clone());
        while self.ring.len() > self.max_commits
            || (self.bytes > self.max_bytes && self.ring.len() > 1)
        {
            if let Some(old) = self.ring.pop_front() {
                self.bytes -= weight(&old);
            }
        }
        commit
    }

    /// Every commit after `seq`, in order, while the ring holds them all; `None` when some were
    /// dropped (or `seq` is in the future).
    pub fn since(&self, seq: u64) -> Option<Vec<Arc<Commit>>> {
        if seq > self.last {
            return None;
        }
        if seq == self.last {
            return Some(Vec::new());
        }
        let first = self.ring.front()?.seq;
        if first > seq + 1 {
            return None;
        }
        let skip = (seq + 1 - first) as usize;
        Some(self.ring.iter().skip(skip).cloned().collect())
    }

    /// Forgets the ring (after a project reset: no reader can be brought forward across it).
    pub fn forget(&mut self) {
        self.ring.clear();
        self.bytes = 0;
    }
}

fn weight(commit: &Commit) -> usize {
    commit.changes.iter().map(DocChange::weight).sum::<usize>() + 32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str) -> DocChange {
        DocChange {
            collection: "c".into(),
            id: id.into(),
            before: None,
            after: Some(Bytes::from_static(b"{}")),
            reason: Reason::Write,
        }
    }

    #[test]
    fn seq_continues_and_ring_is_bounded() {
        let mut log = CommitLog::with_bounds("p".into(), 41, 3, usize::MAX);
        for i in 0..5 {
            let c = log.append(vec![change(&i.to_string())]);
            assert_eq!(c.seq, 42 + i);
        }
        assert_eq!(log.last_seq(), 46);
        let seqs = |v: Vec<Arc<Commit>>| v.iter().map(|c| c.seq).collect::<Vec<_>>();
        assert_eq!(log.since(43).map(seqs), Some(vec![44, 45, 46]));
        assert_eq!(log.since(45).map(seqs), Some(vec![46]));
        assert_eq!(log.since(46).map(seqs), Some(vec![]));
        assert!(log.since(42).is_none(), "43 was dropped");
        assert!(log.since(47).is_none(), "the future is unknown");
        log.forget();
        assert!(log.since(45).is_none());
        assert_eq!(log.since(46).map(seqs), Some(vec![]));
    }

    #[test]
    fn ring_is_bounded_in_bytes() {
        let mut log = CommitLog::with_bounds("p".into(), 0, 1000, 500);
        for i in 0..100 {
            log.append(vec![change(&i.to_string())]);
        }
        assert!(log.bytes <= 500);
        assert!(log.ring.len() > 1 && log.ring.len() < 100);
    }
}

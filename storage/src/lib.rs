//! # mammoth-storage
//!
//! Persistence for Mammoth: every durable byte lives in one redb file. This crate knows nothing of
//! HTTP or actors; it speaks in projects, keys, documents, users and sessions, as opaque encoded
//! records (`Bytes`), and never interprets them.
//!
//! STUB: the real implementation (redb tables, group-commit writer, periodic snapshots) replaces
//! this file. The public API below is the contract the `actors` crate is written against.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

/// When a write counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A ticket completes only after the batch holding the write is committed with an fsync.
    Sync,
    /// Tickets complete at once; pending writes are committed every `interval` and on shutdown.
    Periodic {
        /// How often pending writes are committed.
        interval: Duration,
    },
}

/// How to open storage. Defaults: in-memory, `Sync`, at most 65 536 queued mutations, batches of
/// at most 4 096 mutations or 16 MiB.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The redb file; `None` keeps everything in memory and never touches disk.
    pub path: Option<PathBuf>,
    /// When a ticket completes (ignored in memory, where tickets complete at once).
    pub durability: Durability,
    /// Bound on mutations submitted but not yet committed; past it `submit` answers `Overloaded`.
    pub max_pending: usize,
    /// Most mutations in one write transaction.
    pub max_batch_ops: usize,
    /// Most bytes of values in one write transaction.
    pub max_batch_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: None,
            durability: Durability::Sync,
            max_pending: 65_536,
            max_batch_ops: 4_096,
            max_batch_bytes: 16 << 20,
        }
    }
}

/// One change to durable state. The records are opaque bytes encoded by the caller.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Server-wide settings (the signing secret, format version, ...).
    PutMeta { key: String, value: Bytes },
    /// Create or replace a project's record.
    PutProject { project: String, record: Bytes },
    /// Create or replace an API key of a project.
    PutKey {
        project: String,
        key_id: String,
        record: Bytes,
    },
    /// Remove an API key.
    DeleteKey { project: String, key_id: String },
    /// Create or replace a document.
    PutDoc {
        project: String,
        collection: String,
        id: String,
        doc: Bytes,
    },
    /// Remove a document.
    DeleteDoc {
        project: String,
        collection: String,
        id: String,
    },
    /// Create or replace an end user.
    PutUser {
        project: String,
        user_id: String,
        record: Bytes,
    },
    /// Create or replace a session, keyed by the hash of its token.
    PutSession {
        project: String,
        token_hash: String,
        record: Bytes,
    },
    /// Remove a session.
    DeleteSession { project: String, token_hash: String },
    /// Create or replace a one-time sign-in token, keyed by its hash.
    PutMagicLink {
        project: String,
        token_hash: String,
        record: Bytes,
    },
    /// Remove a one-time sign-in token.
    DeleteMagicLink { project: String, token_hash: String },
    /// Remove every document, user, session and magic link of a project (its record and keys stay).
    ClearProject { project: String },
}

/// Everything one project has on disk.
#[derive(Debug, Clone, Default)]
pub struct ProjectSnapshot {
    /// The project's record.
    pub record: Bytes,
    /// API keys by key id.
    pub keys: BTreeMap<String, Bytes>,
    /// Documents by collection, then id, in id order.
    pub docs: BTreeMap<String, BTreeMap<String, Bytes>>,
    /// End users by user id.
    pub users: BTreeMap<String, Bytes>,
    /// Sessions by token hash.
    pub sessions: BTreeMap<String, Bytes>,
    /// Magic-link tokens by token hash.
    pub magic_links: BTreeMap<String, Bytes>,
}

/// Everything on disk, as loaded on start.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Server-wide settings.
    pub meta: BTreeMap<String, Bytes>,
    /// Projects by id.
    pub projects: BTreeMap<String, ProjectSnapshot>,
}

/// What can go wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Too many writes are waiting for the disk; try again shortly.
    #[error("storage is overloaded: too many writes are waiting for the disk")]
    Overloaded,
    /// The writer has stopped (shutdown, or an earlier fatal error).
    #[error("storage is closed")]
    Closed,
    /// redb or the file system failed.
    #[error("storage failed: {0}")]
    Io(String),
}

/// Completes when the mutations it was issued for are as durable as the configuration promises.
#[derive(Debug)]
pub struct Ticket(Option<tokio::sync::oneshot::Receiver<Result<(), StorageError>>>);

impl Ticket {
    /// A ticket that is already complete.
    pub fn ready() -> Ticket {
        Ticket(None)
    }
}

impl Future for Ticket {
    type Output = Result<(), StorageError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            None => Poll::Ready(Ok(())),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StorageError::Closed))),
        }
    }
}

/// A cheap, cloneable handle to the one storage writer.
#[derive(Debug, Clone)]
pub struct Storage {}

impl Storage {
    /// Opens (or creates) the storage, loads everything it holds, and starts the writer.
    pub fn open(_config: StorageConfig) -> Result<(Storage, Snapshot), StorageError> {
        Ok((Storage {}, Snapshot::default()))
    }

    /// Queues mutations to be committed together, in order, in one transaction. Never blocks.
    pub fn submit(&self, _mutations: Vec<Mutation>) -> Result<Ticket, StorageError> {
        Ok(Ticket::ready())
    }

    /// Completes once everything submitted before it is committed.
    pub fn flush(&self) -> Ticket {
        Ticket::ready()
    }

    /// Reads one project's committed state (used to restart a project actor after a panic;
    /// call `flush` first so that it holds every acknowledged write).
    pub fn load_project(&self, _project: &str) -> Result<Option<ProjectSnapshot>, StorageError> {
        Ok(None)
    }

    /// Commits everything pending and stops the writer; later submits answer `Closed`.
    pub fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

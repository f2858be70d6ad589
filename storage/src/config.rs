//! How storage is opened: where, how durable, and how much may wait for the disk.

use std::path::PathBuf;
use std::time::Duration;

/// When a write counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A ticket completes only after the batch holding the write is committed with an fsync.
    Sync,
    /// Tickets complete at once; pending writes are committed every `interval` and on shutdown.
    Periodic {
        /// How often pending writes are committed (at least 1 ms is used).
        interval: Duration,
    },
}

/// How to open storage.
///
/// Defaults:
/// - `path`: `None` (in memory, nothing touches disk)
/// - `durability`: [`Durability::Sync`]
/// - `max_pending`: 65 536 mutations submitted but not yet committed
/// - `max_pending_bytes`: 256 MiB of names and values submitted but not yet committed
/// - `max_batch_ops`: 4 096 mutations in one write transaction
/// - `max_batch_bytes`: 16 MiB of names and values in one write transaction
///
/// In `Periodic` mode the two batch bounds are the size at which the writer commits early, before
/// the interval is up, so the memory held by pending writes stays bounded.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The redb file; `None` keeps everything in memory and never touches disk. Missing parent
    /// directories are created.
    pub path: Option<PathBuf>,
    /// When a ticket completes (ignored in memory, where tickets complete at once).
    pub durability: Durability,
    /// Bound on mutations submitted but not yet committed; past it `submit` answers `Overloaded`.
    /// A single submit larger than this is accepted only while nothing else is pending.
    pub max_pending: usize,
    /// Bound on the bytes of names and values submitted but not yet committed (the count bound
    /// alone allows 65 536 × 1 MiB in `Periodic` mode); past it `submit` answers `Overloaded`.
    /// A single submit larger than this is accepted only while nothing else is pending.
    pub max_pending_bytes: usize,
    /// Most mutations in one write transaction. The mutations of one submit are never split, so
    /// a larger submit forms a transaction of its own.
    pub max_batch_ops: usize,
    /// Most bytes of names and values in one write transaction (same rule for larger submits).
    pub max_batch_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: None,
            durability: Durability::Sync,
            max_pending: 65_536,
            max_pending_bytes: 256 << 20,
            max_batch_ops: 4_096,
            max_batch_bytes: 16 << 20,
        }
    }
}

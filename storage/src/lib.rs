//! # mammoth-storage
//!
//! Persistence for Mammoth: every durable byte lives in one redb file. This crate knows nothing of
//! HTTP or actors; it speaks in projects, keys, documents, users and sessions, as opaque encoded
//! records (`Bytes`), and never interprets them.
//!
//! ```
//! use bytes::Bytes;
//! use mammoth_storage::{Mutation, Storage, StorageConfig};
//!
//! // `path: None` keeps everything in memory; `Some(file)` opens or creates a redb file.
//! let (storage, snapshot) = Storage::open(StorageConfig::default())?;
//! assert!(snapshot.projects.is_empty());
//!
//! let ticket = storage.submit(vec![
//!     Mutation::PutProject { project: "p1".into(), record: Bytes::from_static(b"{}") },
//!     Mutation::PutDoc {
//!         project: "p1".into(),
//!         collection: "todos".into(),
//!         id: "a".into(),
//!         doc: Bytes::from_static(br#"{"id":"a"}"#),
//!         seq: 1,
//!     },
//! ])?;
//! ticket.wait()?; // async code: `ticket.await?`
//!
//! storage.flush().wait()?;
//! let project = storage.load_project("p1")?.expect("committed");
//! assert_eq!(project.docs["todos"]["a"], Bytes::from_static(br#"{"id":"a"}"#));
//! storage.close()?;
//! # Ok::<(), mammoth_storage::StorageError>(())
//! ```
//!
//! # Layout
//!
//! - [`Storage`] (`handle.rs`): the cloneable handle: open, submit, flush, load a project, close.
//! - `writer.rs`: the one writer thread that owns every redb write transaction; group commit in
//!   `Sync` mode, accumulate-and-commit in `Periodic` mode.
//! - `apply.rs`: how one batch of [`Mutation`]s becomes one write transaction.
//! - `schema.rs`: every table, once, the key encoding and the format version check.
//! - `load.rs`: reading everything on start, and one project on an actor restart.
//! - `backup.rs`: online backups into a new file and a project's export, each from one read
//!   transaction.
//! - [`Ticket`] (`ticket.rs`): the durability ticket a submit returns.
//! - [`StorageConfig`], [`Durability`], [`StorageError`], [`StorageStats`], [`Snapshot`].
//!
//! `DESIGN.md` beside this crate describes the on-disk layout and the writer in prose.
//!
//! # Threads and blocking
//!
//! `open` starts one OS thread, `mammoth-storage-writer`. `submit` and `flush` never block.
//! `open`, `load_project`, `close` and dropping the last handle do blocking IO: call them at
//! start-up and shutdown or from `spawn_blocking`, not on an async worker.

#![warn(missing_docs)]

mod apply;
mod backup;
mod config;
mod error;
#[cfg(any(test, feature = "testing"))]
mod gate;
mod handle;
mod load;
mod mutation;
mod open;
mod progress;
mod replicate;
mod schema;
mod snapshot;
mod stats;
mod ticket;
mod writer;

#[cfg(test)]
mod tests;

pub use backup::{BackupInfo, Export};
pub use config::{Durability, StorageConfig};
pub use error::StorageError;
#[cfg(any(test, feature = "testing"))]
pub use gate::WriterPause;
pub use handle::Storage;
pub use mutation::Mutation;
pub use progress::{LoadProgress, ProgressLine, progress_interval, set_progress_interval};
pub use replicate::Replicator;
pub use snapshot::{ProjectSnapshot, Snapshot};
pub use stats::StorageStats;
pub use ticket::{Promise, Ticket};

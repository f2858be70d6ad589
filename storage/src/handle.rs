//! [`Storage`]: the cloneable handle the rest of Mammoth holds.
//!
//! Opening loads everything and starts the writer; submitting puts a command on the writer's
//! channel without blocking; closing (or dropping the last handle) lets the writer commit what is
//! queued, joins it, and releases the file.

use std::fmt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;
use redb::Database;
use redb::backends::InMemoryBackend;
use tracing::{error, info};

use crate::config::{Durability, StorageConfig};
use crate::error::{StorageError, io};
use crate::mutation::Mutation;
use crate::open::open_file;
use crate::replicate::Replicator;
use crate::snapshot::{ProjectSnapshot, Snapshot};
use crate::stats::StorageStats;
use crate::ticket::Ticket;
use crate::writer::{Command, Limits, Mode, Reopen, Shared, Writer};
use crate::{load, schema};

/// A cheap, cloneable handle to the one storage writer.
///
/// Dropping the last handle closes the storage as [`Storage::close`] does (committing what is
/// pending and joining the writer thread), so it may block for about one commit.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    /// The only sender into the writer's FIFO channel; `None` once closed. Dropping it is how
    /// the writer learns to commit what is queued and stop. Submits take the read lock (shared,
    /// never held across anything that blocks), `close` the write lock.
    sender: RwLock<Option<Sender<Command>>>,
    /// The writer thread; taken and joined by the first `close`.
    writer: Mutex<Option<JoinHandle<Result<(), StorageError>>>>,
    /// The database, pending count and counters, shared with the writer.
    shared: Arc<Shared>,
    /// Whether submit tickets wait for the commit (`Sync` on a file).
    tickets_wait: bool,
    max_pending: usize,
    max_pending_bytes: usize,
    /// Set once in cluster mode: submits become proposals (see [`Storage::replicate_through`]).
    replicator: OnceLock<Arc<dyn Replicator>>,
}

/// Where the database lives.
pub(crate) enum Backend<'a> {
    File(&'a Path),
    Memory,
    /// A test backend (failure injection), treated like a file: the function opens it, and
    /// opens it again after an IO error.
    #[cfg(test)]
    Custom(Reopen),
}

impl Storage {
    /// Opens (or creates) the storage, loads everything it holds, and starts the writer.
    ///
    /// With `config.path = Some(file)` the redb file is opened or created (with its parent
    /// directories); a file of another format version is refused with [`StorageError::Io`].
    /// With `None` everything lives in memory. This does blocking IO: call it before serving,
    /// or from `spawn_blocking`.
    pub fn open(config: StorageConfig) -> Result<(Storage, Snapshot), StorageError> {
        let backend = match &config.path {
            Some(path) => Backend::File(path),
            None => Backend::Memory,
        };
        Self::open_with(&config, backend)
    }

    pub(crate) fn open_with(
        config: &StorageConfig,
        backend: Backend<'_>,
    ) -> Result<(Storage, Snapshot), StorageError> {
        let started = Instant::now();
        let file_mode = match config.durability {
            Durability::Sync => Mode::Sync,
            Durability::Periodic { interval } => Mode::Periodic(interval),
        };
        let (db, mode, reopen): (_, _, Option<Reopen>) = match backend {
            Backend::File(path) => {
                let path = path.to_path_buf();
                let db = open_file(&path)?;
                (db, file_mode, Some(Box::new(move || open_file(&path))))
            }
            Backend::Memory => {
                let db = Database::builder()
                    .create_with_backend(InMemoryBackend::new())
                    .map_err(io("create the in-memory database"))?;
                (db, Mode::Memory, None)
            }
            #[cfg(test)]
            Backend::Custom(open) => (open()?, file_mode, Some(open)),
        };
        schema::prepare(&db, mode.durability())?;
        let snapshot = load::load_all(&db)?;

        let shared = Arc::new(Shared {
            db: RwLock::new(Some(Arc::new(db))),
            ..Shared::default()
        });
        let (sender, commands) = crossbeam_channel::unbounded();
        let writer = Writer {
            reopen,
            commands,
            shared: Arc::clone(&shared),
            mode,
            limits: Limits {
                max_batch_ops: config.max_batch_ops.max(1),
                max_batch_bytes: config.max_batch_bytes.max(1),
            },
        }
        .spawn()?;
        info!(
            path = ?config.path,
            ?mode,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage open"
        );
        let inner = Inner {
            sender: RwLock::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            shared,
            tickets_wait: mode.tickets_wait(),
            max_pending: config.max_pending,
            max_pending_bytes: config.max_pending_bytes,
            replicator: OnceLock::new(),
        };
        Ok((
            Storage {
                inner: Arc::new(inner),
            },
            snapshot,
        ))
    }

    /// Queues mutations to be committed together, in order, in one transaction. Never blocks.
    ///
    /// Submits are committed in the order they were made. Answers `Overloaded` (queueing
    /// nothing) when `max_pending` mutations already wait for the disk, `Closed` after
    /// [`Storage::close`], and `InvalidName` for a NUL in a name. The ticket completes after the
    /// fsync'd commit in `Sync` mode on a file, and at once otherwise.
    ///
    /// In cluster mode ([`Storage::replicate_through`]) the mutations are proposed to the
    /// replicated log instead; the ticket then completes once they are committed on a majority
    /// and applied here.
    pub fn submit(&self, mutations: Vec<Mutation>) -> Result<Ticket, StorageError> {
        for mutation in &mutations {
            mutation.check_names()?;
        }
        if let Some(replicator) = self.inner.replicator.get() {
            return Ok(replicator.propose(mutations));
        }
        self.submit_local(mutations)
    }

    /// Routes every later [`Storage::submit`] through `replicator` (cluster mode). Set once, at
    /// start, before any project actor writes; a second call is refused. Single-node servers
    /// never call it and pay one empty `OnceLock` check per submit.
    pub fn replicate_through(&self, replicator: Arc<dyn Replicator>) -> Result<(), StorageError> {
        self.inner
            .replicator
            .set(replicator)
            .map_err(|_| StorageError::Io("a replicator is already set".into()))
    }

    /// Whether submits are proposals to a replicated log.
    pub fn is_replicated(&self) -> bool {
        self.inner.replicator.get().is_some()
    }

    /// [`Storage::submit`] to this node's own file, whatever the mode: how the replicated log's
    /// state machine applies committed entries.
    pub fn submit_local(&self, mutations: Vec<Mutation>) -> Result<Ticket, StorageError> {
        for mutation in &mutations {
            mutation.check_names()?;
        }
        let ops = mutations.len();
        let weight = mutations.iter().map(Mutation::weight).sum();
        let sender = self
            .inner
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Err(StorageError::Closed);
        };
        self.reserve(ops, weight)?;
        let (ack, ticket) = if self.inner.tickets_wait {
            let (ack, ticket) = Ticket::pending();
            (Some(ack), ticket)
        } else {
            (None, Ticket::ready())
        };
        if sender
            .send(Command::Write {
                mutations,
                weight,
                ack,
            })
            .is_err()
        {
            // The writer thread is gone (it panicked): nothing will ever commit this.
            self.inner.shared.pending.fetch_sub(ops, Ordering::AcqRel);
            self.inner
                .shared
                .pending_bytes
                .fetch_sub(weight, Ordering::AcqRel);
            return Err(StorageError::Closed);
        }
        self.inner.shared.counters.submitted(ops);
        Ok(ticket)
    }

    /// Like [`Storage::submit`], with a second ticket that completes no earlier than the first:
    /// for a reader of the commit log (the realtime fan-out) that must not see a write before
    /// its writer's client could. In `Sync` mode it is a flush queued right behind the submit;
    /// otherwise both are complete at once, as `submit`'s ticket is.
    pub fn submit_watched(
        &self,
        mutations: Vec<Mutation>,
    ) -> Result<(Ticket, Ticket), StorageError> {
        if let Some(replicator) = self.inner.replicator.get() {
            for mutation in &mutations {
                mutation.check_names()?;
            }
            return Ok(replicator.propose_watched(mutations));
        }
        let ticket = self.submit(mutations)?;
        Ok((ticket, self.durable_point()))
    }

    /// A ticket that completes once everything submitted so far is as durable as a submit's
    /// ticket promises: a flush in `Sync` mode, complete at once otherwise (where submit tickets
    /// are too, and a flush would force a `Periodic` commit).
    pub fn durable_point(&self) -> Ticket {
        if self.inner.tickets_wait {
            self.flush()
        } else {
            Ticket::ready()
        }
    }

    /// Counts `ops` mutations of `bytes` bytes as pending, or refuses them. A submit larger than
    /// a bound is accepted only when nothing is pending, so that it is not refused forever.
    fn reserve(&self, ops: usize, bytes: usize) -> Result<(), StorageError> {
        let shared = &self.inner.shared;
        let before = shared.pending.fetch_add(ops, Ordering::AcqRel);
        let before_bytes = shared.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        let over_count = before > 0 && before + ops > self.inner.max_pending;
        let over_bytes = before_bytes > 0 && before_bytes + bytes > self.inner.max_pending_bytes;
        if over_count || over_bytes {
            shared.pending.fetch_sub(ops, Ordering::AcqRel);
            shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            shared.counters.refused();
            return Err(StorageError::Overloaded);
        }
        Ok(())
    }

    /// Completes once everything submitted before it is committed, in every mode (in
    /// `Periodic` mode it forces a commit). Completes with the commit's error if that failed,
    /// and with `Closed` after [`Storage::close`].
    pub fn flush(&self) -> Ticket {
        let sender = self
            .inner
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Ticket::failed(StorageError::Closed);
        };
        let (ack, ticket) = Ticket::pending();
        match sender.send(Command::Flush { ack }) {
            Ok(()) => ticket,
            Err(_) => Ticket::failed(StorageError::Closed),
        }
    }

    /// Reads one project's committed state (used to restart a project actor after a panic;
    /// call `flush` first so that it holds every acknowledged write). `Ok(None)` when the
    /// project has no record. A read transaction: it never blocks the writer, but it does
    /// blocking IO, so call it from `spawn_blocking` or a thread of its own.
    pub fn load_project(&self, project: &str) -> Result<Option<ProjectSnapshot>, StorageError> {
        if project.as_bytes().contains(&0) {
            return Err(StorageError::InvalidName(project.to_owned()));
        }
        let db = self.database()?;
        load::load_project(&db, project)
    }

    /// The open database, for read transactions.
    pub(crate) fn database(&self) -> Result<Arc<Database>, StorageError> {
        match self.inner.shared.database() {
            Some(db) => Ok(db),
            None if self.is_closed() => Err(StorageError::Closed),
            None => Err(StorageError::Io(
                "the database is being reopened after an IO error".into(),
            )),
        }
    }

    /// Reads everything committed, as [`Storage::open`] does (a node that becomes a cluster's
    /// leader rebuilds its projects from it). Blocking IO, like `load_project`.
    pub fn load_everything(&self) -> Result<Snapshot, StorageError> {
        match self.inner.shared.database() {
            Some(db) => load::load_all(&db),
            None if self.is_closed() => Err(StorageError::Closed),
            None => Err(StorageError::Io(
                "the database is being reopened after an IO error".into(),
            )),
        }
    }

    /// Commits everything pending and stops the writer; later submits answer `Closed`.
    ///
    /// Idempotent; a concurrent second call waits for the first. Blocks for about one commit:
    /// call it at shutdown or from `spawn_blocking`. Returns the error of the final commit (in
    /// `Periodic` mode, the writes it held are then lost).
    pub fn close(&self) -> Result<(), StorageError> {
        self.inner.close()
    }

    /// Whether [`Storage::close`] has run (or begun).
    pub fn is_closed(&self) -> bool {
        self.inner
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The writer's counters, for metrics and tests.
    pub fn stats(&self) -> StorageStats {
        let shared = &self.inner.shared;
        shared
            .counters
            .snapshot(shared.pending.load(Ordering::Acquire))
    }

    /// Pauses the writer until the returned guard is dropped: submits are still accepted and
    /// counted as pending, nothing is committed. Lets tests make overload and batching
    /// deterministic.
    #[cfg(any(test, feature = "testing"))]
    pub fn pause_writer(&self) -> crate::gate::WriterPause {
        self.inner.shared.gate.set_paused(true);
        crate::gate::WriterPause {
            shared: Arc::clone(&self.inner.shared),
        }
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }
}

impl Inner {
    fn close(&self) -> Result<(), StorageError> {
        // Hold the writer slot for the whole close, so a concurrent close waits for this one.
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // The channel disconnects: the writer commits what is queued, then stops.
        drop(
            self.sender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        // A test's pause guard must not turn close into a hang.
        #[cfg(any(test, feature = "testing"))]
        self.shared.gate.set_paused(false);
        let result = match writer.take() {
            None => Ok(()),
            Some(handle) => match handle.join() {
                Ok(result) => result,
                Err(_) => Err(StorageError::Io(
                    "the storage writer thread panicked".into(),
                )),
            },
        };
        drop(
            self.shared
                .db
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(err) = self.close() {
            error!(error = %err, "closing storage on drop failed");
        }
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("tickets_wait", &self.inner.tickets_wait)
            .field("max_pending", &self.inner.max_pending)
            .field("max_pending_bytes", &self.inner.max_pending_bytes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

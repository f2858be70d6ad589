//! The single writer thread: it owns every redb write transaction.
//!
//! Commands arrive over one FIFO channel, so submits are committed in the order they were made
//! and the mutations of one submit always land in one transaction, in order.
//!
//! - **Sync** (a file, `Durability::Sync`): group commit. The writer blocks for the first
//!   command, drains whatever else is already queued (up to `max_batch_ops` mutations and
//!   `max_batch_bytes`; a submit is never split, the one that does not fit waits for the next
//!   batch), writes the batch in one transaction, commits once with an fsync, then completes
//!   every ticket of the batch. Latency is about one fsync; throughput grows with the number of
//!   concurrent writers because one fsync serves all who arrived meanwhile.
//! - **Periodic** (a file, `Durability::Periodic`): tickets completed at submit. The writer
//!   accumulates submits and commits them in one fsync'd transaction every `interval`, as soon
//!   as the accumulated batch reaches the batch bounds, on `flush`, and when the channel closes.
//!   A failed commit keeps the batch (still counted as pending, so `submit` eventually answers
//!   `Overloaded`) and retries at the next interval or flush.
//! - **Memory** (no file): like Sync, but commits without durability and tickets are completed
//!   at submit.
//!
//! After a failed commit redb refuses every write until the database is reopened, so the writer
//! of a file reopens it in place (see [`Writer::recover`]): the file then holds its last
//! committed state, and the next batch (or the retried Periodic batch) commits normally.
//!
//! The writer stops when the channel is disconnected (every sender dropped, which is how
//! `Storage::close` and the last handle's drop tell it) after committing everything queued.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redb::Database;
use tracing::{debug, error, info, warn};

use crate::apply::write_batch;
use crate::error::{StorageError, io};
use crate::mutation::Mutation;
use crate::stats::Counters;
use crate::ticket::Ack;

/// What goes down the channel to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// One submit: committed together, in order.
    Write {
        mutations: Vec<Mutation>,
        /// Sum of [`Mutation::weight`].
        weight: usize,
        /// Completed after the commit; `None` when the ticket was completed at submit.
        ack: Option<Ack>,
    },
    /// Completed once everything queued before it is committed.
    Flush { ack: Ack },
}

/// How the writer batches and how durable its commits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Sync,
    Periodic(Duration),
    Memory,
}

impl Mode {
    /// Whether submit tickets wait for the commit.
    pub(crate) fn tickets_wait(self) -> bool {
        self == Mode::Sync
    }

    /// The durability every commit of this mode uses.
    pub(crate) fn durability(self) -> redb::Durability {
        match self {
            // Sync: tickets promise an fsync. Periodic: a commit is the snapshot that must
            // survive a crash once written.
            Mode::Sync | Mode::Periodic(_) => redb::Durability::Immediate,
            // Nothing to make durable: the backend is a Vec in memory.
            Mode::Memory => redb::Durability::None,
        }
    }
}

/// Opens the database again after an IO error (a file backend only).
pub(crate) type Reopen = Box<dyn Fn() -> Result<Database, StorageError> + Send>;

/// State shared by the writer and every handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The open database. Handles clone the `Arc` for `load_project`'s read transactions; the
    /// writer clones it per batch. `None` while the writer is reopening it after an IO error
    /// failed to, and after close (which releases the file).
    pub(crate) db: RwLock<Option<Arc<Database>>>,
    /// Mutations submitted and not yet committed: incremented by `submit` before sending,
    /// decremented by the writer after the commit. Bounds memory and makes `Overloaded` possible.
    pub(crate) pending: AtomicUsize,
    /// The bytes of those mutations (their names and values), settled with `pending`.
    pub(crate) pending_bytes: AtomicUsize,
    pub(crate) counters: Counters,
    /// Test-only pause switch and commit signal.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) gate: crate::gate::Gate,
}

impl Shared {
    /// Blocks while a test holds the writer paused; nothing otherwise.
    fn wait_if_paused(&self) {
        #[cfg(any(test, feature = "testing"))]
        self.gate.wait_open();
    }

    fn after_commit(&self) {
        #[cfg(any(test, feature = "testing"))]
        self.gate.notify();
    }

    /// A reference to the open database, if there is one.
    pub(crate) fn database(&self) -> Option<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Bounds on one transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_batch_ops: usize,
    pub(crate) max_batch_bytes: usize,
}

/// Submits gathered for one transaction.
#[derive(Debug, Default)]
struct Batch {
    writes: Vec<Vec<Mutation>>,
    acks: Vec<Ack>,
    ops: usize,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, command: Command) {
        match command {
            Command::Write {
                mutations,
                weight,
                ack,
            } => {
                self.ops += mutations.len();
                self.bytes += weight;
                self.writes.push(mutations);
                self.acks.extend(ack);
            }
            Command::Flush { ack } => self.acks.push(ack),
        }
    }

    /// Whether `command` may join without passing the limits. An empty batch takes anything, so
    /// an oversized submit still gets its own transaction.
    fn fits(&self, command: &Command, limits: Limits) -> bool {
        match command {
            Command::Flush { .. } => true,
            Command::Write {
                mutations, weight, ..
            } => {
                self.writes.is_empty()
                    || (self.ops + mutations.len() <= limits.max_batch_ops
                        && self.bytes + weight <= limits.max_batch_bytes)
            }
        }
    }

    fn is_full(&self, limits: Limits) -> bool {
        self.ops >= limits.max_batch_ops || self.bytes >= limits.max_batch_bytes
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.acks.is_empty()
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    /// Reopens the file after an IO error; `None` in memory, where there is nothing to reopen.
    pub(crate) reopen: Option<Reopen>,
    /// The only receiver of the FIFO command channel.
    pub(crate) commands: Receiver<Command>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) mode: Mode,
    pub(crate) limits: Limits,
}

impl Writer {
    /// Starts the writer thread. It returns the result of its last commit when it stops.
    pub(crate) fn spawn(self) -> Result<JoinHandle<Result<(), StorageError>>, StorageError> {
        thread::Builder::new()
            .name("mammoth-storage-writer".into())
            .spawn(move || self.run())
            .map_err(io("start the storage writer thread"))
    }

    fn run(self) -> Result<(), StorageError> {
        debug!(mode = ?self.mode, "storage writer started");
        let result = match self.mode {
            Mode::Periodic(interval) => self.run_periodic(interval),
            Mode::Sync | Mode::Memory => self.run_eager(),
        };
        debug!("storage writer stopped");
        result
    }

    /// Sync and memory: commit whatever is queued as soon as possible.
    fn run_eager(&self) -> Result<(), StorageError> {
        // A submit that did not fit the previous batch: it opens the next one.
        let mut carried: Option<Command> = None;
        loop {
            let first = match carried.take() {
                Some(command) => command,
                None => match self.commands.recv() {
                    Ok(command) => command,
                    // Every sender is gone and the queue is empty: all is committed.
                    Err(_) => return Ok(()),
                },
            };
            self.shared.wait_if_paused();
            let mut batch = Batch::default();
            batch.push(first);
            // Empty or disconnected: commit what we have; `recv` reports the disconnect next.
            while let Ok(command) = self.commands.try_recv() {
                if !batch.fits(&command, self.limits) {
                    carried = Some(command);
                    break;
                }
                batch.push(command);
            }
            let result = self.commit(&batch);
            // Settled before any ticket completes, so whoever waited on one sees it.
            self.shared.pending.fetch_sub(batch.ops, Ordering::AcqRel);
            self.shared
                .pending_bytes
                .fetch_sub(batch.bytes, Ordering::AcqRel);
            for ack in batch.acks {
                // The receiver may have been dropped: nobody is waiting, which is fine.
                let _ = ack.send(result.clone());
            }
        }
    }

    /// Periodic: accumulate, commit on the interval, on size, on flush and on close.
    fn run_periodic(&self, interval: Duration) -> Result<(), StorageError> {
        let interval = interval.max(Duration::from_millis(1));
        let mut batch = Batch::default();
        // After a failed commit, only the interval, a flush or the close retry it (not every
        // new submit that finds the batch full).
        let mut backing_off = false;
        let mut deadline = Instant::now() + interval;
        loop {
            let (commit_now, stopping) = match self.commands.recv_deadline(deadline) {
                Ok(command) => {
                    let is_flush = matches!(command, Command::Flush { .. });
                    batch.push(command);
                    (
                        is_flush || (!backing_off && batch.is_full(self.limits)),
                        false,
                    )
                }
                Err(RecvTimeoutError::Timeout) => (true, false),
                Err(RecvTimeoutError::Disconnected) => (true, true),
            };
            if !commit_now {
                continue;
            }
            deadline = Instant::now() + interval;
            if batch.is_empty() {
                if stopping {
                    return Ok(());
                }
                continue;
            }
            self.shared.wait_if_paused();
            let result = self.commit(&batch);
            // The pending count is settled before any ticket completes, so whoever waited on
            // one sees it.
            let acks = std::mem::take(&mut batch.acks);
            match &result {
                Ok(()) => {
                    self.shared.pending.fetch_sub(batch.ops, Ordering::AcqRel);
                    self.shared
                        .pending_bytes
                        .fetch_sub(batch.bytes, Ordering::AcqRel);
                    batch = Batch::default();
                    backing_off = false;
                }
                // Keep the writes to retry them; their count stays pending.
                Err(_) => backing_off = true,
            }
            for ack in acks {
                let _ = ack.send(result.clone());
            }
            if stopping {
                if let Err(err) = &result {
                    error!(
                        mutations = batch.ops,
                        error = %err,
                        "storage closed with uncommitted writes: they are lost"
                    );
                }
                return result;
            }
        }
    }

    /// Writes `batch` in one transaction, updates the counters, logs a failure.
    fn commit(&self, batch: &Batch) -> Result<(), StorageError> {
        if batch.ops == 0 {
            // Only flushes or empty submits: nothing to write.
            return Ok(());
        }
        let durability = self.mode.durability();
        let result = self
            .database()
            .and_then(|db| write_batch(&db, batch.writes.iter().flatten(), durability));
        let result = match result {
            Ok(took) => {
                self.shared
                    .counters
                    .committed(batch.ops, batch.writes.len(), took);
                Ok(())
            }
            Err(err) => {
                self.shared.counters.failed();
                error!(
                    mutations = batch.ops,
                    submits = batch.writes.len(),
                    error = %err,
                    "storage commit failed"
                );
                self.recover();
                Err(err)
            }
        };
        self.shared.after_commit();
        result
    }

    /// The database to write to, reopening it if an earlier recovery could not.
    fn database(&self) -> Result<Arc<Database>, StorageError> {
        if let Some(db) = self.shared.database() {
            return Ok(db);
        }
        self.recover();
        self.shared.database().ok_or_else(|| {
            StorageError::Io("the database could not be reopened after an IO error".into())
        })
    }

    /// After a failed commit redb refuses all writes until the database is reopened: drop it
    /// and open the file again, which recovers its last committed state. Only possible when no
    /// read transaction holds the database; otherwise the next failure tries again. If opening
    /// fails, the slot stays empty and the next batch tries again before writing.
    fn recover(&self) {
        let Some(reopen) = &self.reopen else { return };
        let mut slot = self
            .shared
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = slot.take() {
            match Arc::try_unwrap(db) {
                // The last reference: dropping it closes the file.
                Ok(db) => drop(db),
                Err(shared) => {
                    warn!("a read is using the database; reopening after the next failure");
                    *slot = Some(shared);
                    return;
                }
            }
        }
        match reopen() {
            Ok(db) => {
                info!("storage reopened after an IO error");
                *slot = Some(Arc::new(db));
            }
            Err(err) => error!(error = %err, "reopening storage after an IO error failed"),
        }
    }
}

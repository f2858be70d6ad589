//! The raft log and vote, in a redb file of their own (`raft.redb` in the data directory).
//!
//! Why a second file rather than tables in `mammoth.redb`: the node's file has one writer thread
//! (group commit) that the state machine feeds; the log is written by openraft's storage task on
//! its own schedule (append, truncate, vote). Two files keep the two writers from queueing behind
//! each other, and the log can be deleted without touching data (a node rejoining from scratch).
//! Every write transaction commits with redb's default durability (fsync) before openraft is told
//! the IO is done: an entry this node acknowledged to a leader is on disk.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Entry, LogId, RaftStorageError, TypeConfig, Vote};

/// index -> serde_json of the entry.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log_v1");
/// "vote", "committed", "purged" -> serde_json.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state_v1");

/// The redb-backed log store. Cloning shares the database (the reader openraft asks for).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
    /// Append on the calling task instead of a blocking thread: for the deterministic
    /// simulation, where a thread outside the simulated runtime would reorder events.
    inline_writes: bool,
}

fn io(e: impl std::error::Error + 'static) -> AnyError {
    AnyError::new(&e)
}

impl LogStore {
    pub(crate) fn open(path: &Path) -> Result<LogStore, String> {
        let db = Database::create(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(LOG).map_err(|e| e.to_string())?;
        txn.open_table(STATE).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(LogStore {
            db: Arc::new(db),
            inline_writes: false,
        })
    }

    /// The same store, appending on the calling task (see `inline_writes`).
    #[cfg(feature = "sim")]
    pub(crate) fn inline_writes(mut self) -> LogStore {
        self.inline_writes = true;
        self
    }

    fn get_state<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AnyError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(STATE).map_err(io)?;
        match table.get(key).map_err(io)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(io),
        }
    }

    fn put_state<T: Serialize>(&self, key: &str, value: &T) -> Result<(), AnyError> {
        let bytes = serde_json::to_vec(value).map_err(io)?;
        let txn = self.db.begin_write().map_err(io)?;
        txn.open_table(STATE)
            .map_err(io)?
            .insert(key, bytes.as_slice())
            .map_err(io)?;
        txn.commit().map_err(io)
    }

    fn last_entry(&self) -> Result<Option<LogId>, AnyError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(LOG).map_err(io)?;
        match table.last().map_err(io)? {
            None => Ok(None),
            Some((_, v)) => {
                let entry: Entry = serde_json::from_slice(v.value()).map_err(io)?;
                Ok(Some(entry.log_id))
            }
        }
    }

    /// Removes entries with index in `range`.
    fn remove(&self, range: impl RangeBounds<u64>) -> Result<(), AnyError> {
        let txn = self.db.begin_write().map_err(io)?;
        txn.open_table(LOG)
            .map_err(io)?
            .retain_in::<u64, _>(range, |_, _| false)
            .map_err(io)?;
        txn.commit().map_err(io)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        let read = || -> Result<Vec<Entry>, AnyError> {
            let start = match range.start_bound() {
                Bound::Included(x) => Bound::Included(*x),
                Bound::Excluded(x) => Bound::Excluded(*x),
                Bound::Unbounded => Bound::Unbounded,
            };
            let end = match range.end_bound() {
                Bound::Included(x) => Bound::Included(*x),
                Bound::Excluded(x) => Bound::Excluded(*x),
                Bound::Unbounded => Bound::Unbounded,
            };
            let txn = self.db.begin_read().map_err(io)?;
            let table = txn.open_table(LOG).map_err(io)?;
            let mut out = Vec::new();
            for row in table.range::<u64>((start, end)).map_err(io)? {
                let (_, v) = row.map_err(io)?;
                out.push(serde_json::from_slice(v.value()).map_err(io)?);
            }
            Ok(out)
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let purged: Option<LogId> = self
            .get_state("purged")
            .map_err(StorageIOError::read_logs)?;
        let last = self.last_entry().map_err(StorageIOError::read_logs)?;
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), RaftStorageError> {
        Ok(self
            .put_state("vote", vote)
            .map_err(StorageIOError::write_vote)?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, RaftStorageError> {
        Ok(self.get_state("vote").map_err(StorageIOError::read_vote)?)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), RaftStorageError> {
        Ok(self
            .put_state("committed", &committed)
            .map_err(StorageIOError::write)?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, RaftStorageError> {
        let committed: Option<Option<LogId>> =
            self.get_state("committed").map_err(StorageIOError::read)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // The fsync runs on a blocking thread: the raft core still waits for it (the log is
        // appended in order), but the runtime's workers keep serving heartbeats and requests.
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = Arc::clone(&self.db);
        let write = move || -> Result<(), AnyError> {
            let txn = db.begin_write().map_err(io)?;
            {
                let mut table = txn.open_table(LOG).map_err(io)?;
                for entry in entries {
                    let bytes = serde_json::to_vec(&entry).map_err(io)?;
                    table
                        .insert(entry.log_id.index, bytes.as_slice())
                        .map_err(io)?;
                }
            }
            txn.commit().map_err(io)
        };
        let written = if self.inline_writes {
            write()
        } else {
            tokio::task::spawn_blocking(write)
                .await
                .unwrap_or_else(|e| Err(AnyError::error(format!("the log write panicked: {e}"))))
        };
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        Ok(self
            .remove(log_id.index..)
            .map_err(StorageIOError::write_logs)?)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        self.put_state("purged", &log_id)
            .map_err(StorageIOError::write_logs)?;
        Ok(self
            .remove(..=log_id.index)
            .map_err(StorageIOError::write_logs)?)
    }
}

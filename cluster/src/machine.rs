//! The state machine: applies committed entries to this node's storage (`mammoth.redb`).
//!
//! Every replica runs the same code path the single-node writer runs: one committed entry's
//! mutations go to `Storage::submit` as one batch, with the entry's log id (`raft.applied` in
//! the meta table) in the same transaction, so after a crash the node's data and the point it has
//! applied up to can never disagree; openraft replays the log from there.
//!
//! Snapshots are not built yet (the log is never purged, see DESIGN.md "Replication"): a node
//! that returns catches up from the log alone.

use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use mammoth_storage::{Mutation, Snapshot as StorageSnapshot, Storage, StorageError};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageIOError,
};
use tokio::sync::watch;

use crate::types::{Applied, Entry, LogId, Membership, NodeId, RaftStorageError, TypeConfig};

pub(crate) const APPLIED_KEY: &str = "raft.applied";
pub(crate) const MEMBERSHIP_KEY: &str = "raft.membership";

pub(crate) struct StateMachine {
    storage: Storage,
    applied: Option<LogId>,
    membership: Membership,
    /// The last applied index, for whoever waits on it (tests, catch-up).
    applied_tx: watch::Sender<u64>,
}

impl StateMachine {
    /// Resumes from what the node's storage says it applied.
    pub(crate) fn new(
        storage: Storage,
        loaded: &StorageSnapshot,
    ) -> Result<(StateMachine, watch::Receiver<u64>), String> {
        let applied: Option<LogId> = match loaded.meta.get(APPLIED_KEY) {
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| format!("{APPLIED_KEY}: {e}"))?),
            None => None,
        };
        let membership: Membership = match loaded.meta.get(MEMBERSHIP_KEY) {
            Some(b) => serde_json::from_slice(b).map_err(|e| format!("{MEMBERSHIP_KEY}: {e}"))?,
            None => Membership::default(),
        };
        let (applied_tx, rx) = watch::channel(applied.map_or(0, |l| l.index));
        Ok((
            StateMachine {
                storage,
                applied,
                membership,
                applied_tx,
            },
            rx,
        ))
    }

    async fn commit(&self, mutations: Vec<Mutation>) -> Result<(), StorageError> {
        // The writer refuses a submit only when it is overloaded; an applied entry must land,
        // so wait for room (the state machine is the writer's only client on a follower).
        let mut backoff = Duration::from_millis(1);
        loop {
            match self.storage.submit_local(mutations.clone()) {
                Ok(ticket) => return ticket.await,
                Err(StorageError::Overloaded) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("log ids and memberships serialise"))
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = NoSnapshots;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), RaftStorageError> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = Vec::new();
        let mut replies = Vec::new();
        let mut last = None;
        let mut membership = None;
        for entry in entries {
            last = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(command) => batch.extend(command.mutations),
                EntryPayload::Membership(m) => {
                    membership = Some(Membership::new(Some(entry.log_id), m));
                }
            }
            replies.push(Applied);
        }
        let Some(last) = last else {
            return Ok(replies);
        };
        batch.push(Mutation::PutMeta {
            key: APPLIED_KEY.into(),
            value: json(&last),
        });
        if let Some(m) = &membership {
            batch.push(Mutation::PutMeta {
                key: MEMBERSHIP_KEY.into(),
                value: json(m),
            });
        }
        self.commit(batch)
            .await
            .map_err(|e| StorageIOError::apply(last, AnyError::new(&e)))?;
        self.applied = Some(last);
        if let Some(m) = membership {
            self.membership = m;
        }
        self.applied_tx.send_replace(last.index);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        NoSnapshots
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        Err(StorageIOError::write_snapshot(
            Some(meta.signature()),
            AnyError::error("snapshots are not built yet; the log is never purged"),
        )
        .into())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        Ok(None)
    }
}

/// The snapshot builder of a state machine that does not build snapshots yet (the snapshot
/// policy is `Never`, so openraft never asks).
pub(crate) struct NoSnapshots;

impl RaftSnapshotBuilder<TypeConfig> for NoSnapshots {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        Err(StorageIOError::read_state_machine(AnyError::error(
            "snapshots are not built yet; the log is never purged",
        ))
        .into())
    }
}

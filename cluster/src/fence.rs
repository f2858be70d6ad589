//! Fenced reads: a node answers a read only while it is sure it is still the leader, so a
//! deposed leader that has not heard of the new term never answers a read that misses a write
//! the new leader acknowledged.
//!
//! Two ways to be sure, cheapest first:
//! - **Leader lease.** openraft reports `millis_since_quorum_ack`: how long ago a quorum
//!   acknowledged a heartbeat or append *sent* at that time. A follower that acknowledged it
//!   refuses to vote for anyone else for `election_timeout_max` after *receiving* it (openraft's
//!   `leader_lease`), and a new leader needs one of that quorum's votes; so no other leader can
//!   exist until `sent + election_timeout_max`. This node trusts its lease for
//!   `election_timeout_min` after `sent` (half the followers' lease with the default timing),
//!   which leaves the rest for clock-rate drift and for the delay between openraft's report and
//!   our reading of it. [`track`] turns each report into an `Instant` the lease ends at.
//! - **Read barrier.** When the lease has lapsed (a slow quorum, a partition), one
//!   `ensure_linearizable` (openraft's read index: a heartbeat round to a quorum, then wait until
//!   the committed index is applied) decides; it fails on a deposed leader. Barriers are
//!   coalesced ([`Barriers`]): at most one runs at a time, and every request that arrives while
//!   one runs waits for the *next* one, which starts after it arrived (so it still sees every
//!   write acknowledged before the request): under load one round trip serves a whole batch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mammoth_storage::StorageError;
use openraft::error::RaftError;
use tokio::sync::oneshot;

use crate::types::{NodeId, Raft};

type Waiter = oneshot::Sender<Result<(), StorageError>>;

/// Coalesced read barriers: the requests waiting for the next one, and whether one runs.
#[derive(Default)]
pub(crate) struct Barriers(Mutex<(bool, Vec<Waiter>)>);

impl Barriers {
    /// Waits for a read barrier that starts after this call (each barrier takes at most
    /// `timeout`).
    pub(crate) async fn pass(
        self: &Arc<Self>,
        raft: &Raft,
        timeout: Duration,
    ) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
            state.1.push(tx);
            !std::mem::replace(&mut state.0, true)
        };
        if start {
            tokio::spawn(run(raft.clone(), Arc::clone(self), timeout));
        }
        // It may first wait for the barrier already running, then for its own.
        match tokio::time::timeout(timeout * 2, rx).await {
            Ok(Ok(result)) => result,
            _ => Err(StorageError::Overloaded),
        }
    }
}

/// Runs barriers while requests wait for one, each for the batch that waited before it began.
async fn run(raft: Raft, barriers: Arc<Barriers>, timeout: Duration) {
    loop {
        let batch = {
            let mut state = barriers.0.lock().unwrap_or_else(|p| p.into_inner());
            if state.1.is_empty() {
                state.0 = false;
                return;
            }
            std::mem::take(&mut state.1)
        };
        let result = barrier(&raft, timeout).await;
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
}

/// When this node's leader lease ends (`None`: it holds none).
#[derive(Default)]
pub(crate) struct Lease(Mutex<Option<Instant>>);

impl Lease {
    /// Whether the lease holds now.
    pub(crate) fn holds(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    fn set(&self, until: Option<Instant>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }
}

/// Follows raft's metrics and keeps `lease` current: while this node leads, the lease ends
/// `lease_for` after the last quorum-acknowledged send.
pub(crate) async fn track(raft: Raft, me: NodeId, lease_for: Duration, lease: Arc<Lease>) {
    let mut metrics = raft.metrics();
    loop {
        let until = {
            let m = metrics.borrow_and_update();
            match (m.current_leader == Some(me), m.millis_since_quorum_ack) {
                (true, Some(ago)) => Instant::now()
                    .checked_sub(Duration::from_millis(ago))
                    .map(|acked| acked + lease_for),
                _ => None,
            }
        };
        lease.set(until);
        if metrics.changed().await.is_err() {
            lease.set(None);
            return;
        }
    }
}

/// One read barrier, retried until `timeout` when a heartbeat round merely failed (a loaded
/// quorum answers late): it ends as soon as this node learns it no longer leads.
async fn barrier(raft: &Raft, timeout: Duration) -> Result<(), StorageError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let me = raft.metrics().borrow().id;
    loop {
        match tokio::time::timeout_at(deadline, raft.ensure_linearizable()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(RaftError::Fatal(_))) => return Err(StorageError::Closed),
            Ok(Err(RaftError::APIError(_)))
                if raft.metrics().borrow().current_leader == Some(me) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(Err(RaftError::APIError(_))) | Err(_) => return Err(StorageError::Overloaded),
        }
    }
}

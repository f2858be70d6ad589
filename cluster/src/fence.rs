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
//!   the committed index is applied) decides; it fails on a deposed leader.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::types::{NodeId, Raft};

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
pub(crate) async fn track(
    raft: Raft,
    me: NodeId,
    lease_for: Duration,
    lease: std::sync::Arc<Lease>,
) {
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

//! [`Replicator`]: where a commit goes when the node is part of a cluster.
//!
//! The trait lives here, beside [`Storage::submit`](crate::Storage::submit), because it is the
//! same act — "make these mutations durable, tell me when" — with a stronger meaning of durable
//! (committed on a majority of replicas, then applied to this node's storage). The project actor
//! (`mammoth-actors`) holds an `Option<Arc<dyn Replicator>>`; the implementation lives in
//! `mammoth-cluster` (openraft), which depends on this crate. So the dependency arrows stay
//! `mammoth -> {actors, cluster} -> storage`, and no crate but `mammoth-cluster` names openraft.

use crate::mutation::Mutation;
use crate::ticket::Ticket;

/// A replicated commit log: a cluster's write path.
pub trait Replicator: Send + Sync + 'static {
    /// Proposes one commit (the mutations of one write, applied in one transaction on every
    /// replica). The ticket completes with `Ok` once the commit is in the log of a majority of
    /// replicas (each fsync'd) and applied to this node's storage; with
    /// [`StorageError::Overloaded`](crate::StorageError::Overloaded) when this node cannot
    /// propose now (it is not the leader, or there is none: the caller answers 503 and retries or
    /// forwards); with another error when the commit's fate is unknown.
    fn propose(&self, mutations: Vec<Mutation>) -> Ticket;

    /// [`Replicator::propose`] with a second ticket that completes no earlier than the first
    /// (for the realtime fan-out, as [`Storage::submit_watched`](crate::Storage::submit_watched)).
    fn propose_watched(&self, mutations: Vec<Mutation>) -> (Ticket, Ticket);

    /// Whether this node may serve reads and take writes now (it is the leader and a majority
    /// confirmed it after the last acknowledged write; a read-index check). Completes with `Ok`
    /// or `Overloaded` like [`Replicator::propose`].
    fn read_barrier(&self) -> Ticket;
}

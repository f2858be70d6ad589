//! # mammoth-cluster
//!
//! Replication for Mammoth on [openraft](https://docs.rs/openraft/0.9.25) (pinned `=0.9.25`):
//! a Raft group whose log entries are the project commits (`Vec<Mutation>` of one write), whose
//! state machine applies them to each node's own `mammoth.redb` through the ordinary storage
//! writer, and whose peer RPCs are signed HTTP requests.
//!
//! The rest of Mammoth never names an openraft type: it sees [`Cluster`], its status types, and
//! [`mammoth_storage::Replicator`], the trait the project actor proposes commits through.
//!
//! - `types.rs`: the openraft type configuration.
//! - `log.rs`: the raft log and vote in `raft.redb`.
//! - `machine.rs`: the state machine over [`Storage`].
//! - `network.rs`: the HTTP client and the peer routes.
//! - `auth.rs`: [`ClusterKey`], the MAC every peer request carries.
//! - `fence.rs`: the leader lease behind [`Cluster::fence`].
//! - `propose.rs`: the ordered proposal queue (group commit for the log).
//! - `peers.rs`: `--cluster` parsing and the health prober.

#![warn(missing_docs)]

mod auth;
mod fence;
mod log;
mod machine;
mod network;
mod peers;
mod propose;
#[cfg(feature = "sim")]
pub mod sim;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mammoth_storage::{Mutation, Promise, Replicator, Snapshot, Storage, StorageError, Ticket};
use openraft::error::RaftError;
use openraft::{BasicNode, Config, SnapshotPolicy};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use auth::ClusterKey;
pub use peers::parse_peers;

use crate::network::{Liveness, Network, Peer};
use crate::peers::probe;
use crate::propose::{propose_in_order, write};
use crate::types::{Command, Raft};

/// A peer is reported `up` when it answered within this long.
const UP_WITHIN: Duration = Duration::from_secs(2);
/// The longest a read waits for a read barrier when the leader lease has lapsed.
pub const FENCE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often each node probes its peers' health route.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// What a node needs to join its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's id (`--node-id`).
    pub node_id: u64,
    /// Every node's peer address (`host:port`), this node's included (`--cluster`).
    pub peers: BTreeMap<u64, String>,
    /// Where `raft.redb` lives (the data directory).
    pub dir: PathBuf,
    /// The key peer requests are signed with.
    pub key: ClusterKey,
    /// Raft timing.
    pub timing: Timing,
}

/// Raft's clocks, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The leader's heartbeat period.
    pub heartbeat_ms: u64,
    /// A follower stands for election after a random time in `[min, max)` without a leader.
    pub election_min_ms: u64,
    /// See `election_min_ms`.
    pub election_max_ms: u64,
}

impl Default for Timing {
    /// 200 ms heartbeats, elections after 600–1000 ms: a dead leader is replaced inside the
    /// contract's 5 s. openraft 0.9 gives every append RPC the heartbeat interval as its
    /// timeout, and a follower answers an append after its fsync, so the interval must exceed
    /// a loaded disk's fsync: at 100 ms, appends timed out on a busy machine, replication
    /// stalled and elections followed (measured with `cargo bench --bench cluster`).
    fn default() -> Timing {
        Timing {
            heartbeat_ms: 200,
            election_min_ms: 600,
            election_max_ms: 1000,
        }
    }
}

/// Why a cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--cluster` does not name this node, or names nothing.
    #[error("bad cluster configuration: {0}")]
    Config(String),
    /// The raft log could not be opened or raft could not start.
    #[error("cluster start failed: {0}")]
    Start(String),
}

/// One node as `GET /admin/v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// The node id.
    pub id: u64,
    /// Its peer address.
    pub addr: String,
    /// Whether it answered recently (this node is always up to itself).
    pub up: bool,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStatus {
    /// This node's id.
    pub node_id: u64,
    /// The current leader (the owner of every project while there is one group), if known.
    pub leader: Option<u64>,
    /// The raft term.
    pub term: u64,
    /// The last log index applied to this node's storage.
    pub applied: u64,
    /// Every configured node.
    pub nodes: Vec<NodeStatus>,
}

/// One node's membership in the cluster: a running Raft group over this node's storage.
pub struct Cluster {
    node_id: u64,
    peers: BTreeMap<u64, String>,
    raft: Raft,
    key: ClusterKey,
    liveness: Arc<Liveness>,
    applied: watch::Receiver<u64>,
    /// Proposals in the order they were made (see [`propose_in_order`]).
    proposals: mpsc::UnboundedSender<Proposal>,
    prober: JoinHandle<()>,
    proposer: JoinHandle<()>,
    lease: Arc<fence::Lease>,
    leaser: JoinHandle<()>,
    barriers: Arc<fence::Barriers>,
}

/// One commit and the tickets waiting for it.
type Proposal = (Command, Vec<Promise>);

impl Cluster {
    /// Starts this node's raft over `storage` (opened from the data directory; `loaded` is what
    /// opening it returned). On first start every node initialises the group with the same
    /// membership (openraft documents this as safe); on a restart the log and vote on disk are
    /// used and the node rejoins. Serve [`Cluster::router`] on the peer address before or soon
    /// after: elections need it.
    pub async fn start(
        config: ClusterConfig,
        storage: Storage,
        loaded: &Snapshot,
    ) -> Result<Cluster, ClusterError> {
        if !config.peers.contains_key(&config.node_id) {
            return Err(ClusterError::Config(format!(
                "--cluster does not list this node's id {}",
                config.node_id
            )));
        }
        let raft_config = Config {
            cluster_name: "mammoth".into(),
            heartbeat_interval: config.timing.heartbeat_ms,
            election_timeout_min: config.timing.election_min_ms,
            election_timeout_max: config.timing.election_max_ms,
            max_payload_entries: 64,
            // Never purged, so never needed: see DESIGN.md (snapshots are not built yet).
            snapshot_policy: SnapshotPolicy::Never,
            ..Config::default()
        }
        .validate()
        .map_err(|e| ClusterError::Config(e.to_string()))?;

        std::fs::create_dir_all(&config.dir).map_err(|e| ClusterError::Start(e.to_string()))?;
        let dir = config.dir.clone();
        let log = tokio::task::spawn_blocking(move || log::LogStore::open(&dir.join("raft.redb")))
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?
            .map_err(ClusterError::Start)?;
        let (machine, applied) =
            machine::StateMachine::new(storage, loaded).map_err(ClusterError::Start)?;
        let liveness = Arc::new(Liveness::default());
        let network = Network::new(config.key.clone(), Arc::clone(&liveness));
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network.clone(),
            log,
            machine,
        )
        .await
        .map_err(|e| ClusterError::Start(e.to_string()))?;

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        if !initialized {
            let members: BTreeMap<u64, BasicNode> = config
                .peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            // Another node may have initialised first and replicated to us meanwhile: then
            // this answers NotAllowed, which is fine.
            if let Err(e) = raft.initialize(members).await {
                tracing::info!(error = %e, "cluster already initialised elsewhere");
            }
        }

        let prober = tokio::spawn(probe(network, config.node_id, config.peers.clone()));
        let (proposals, queue) = mpsc::unbounded_channel();
        let proposer = tokio::spawn(propose_in_order(raft.clone(), queue));
        let lease = Arc::new(fence::Lease::default());
        let leaser = tokio::spawn(fence::track(
            raft.clone(),
            config.node_id,
            Duration::from_millis(config.timing.election_min_ms),
            Arc::clone(&lease),
        ));
        Ok(Cluster {
            node_id: config.node_id,
            peers: config.peers,
            raft,
            key: config.key,
            liveness,
            applied,
            proposals,
            prober,
            proposer,
            lease,
            leaser,
            barriers: Arc::default(),
        })
    }

    /// The peer port's routes (`/peer/v1/*`, every request MAC-checked).
    pub fn router(&self) -> axum::Router {
        network::router(Peer {
            raft: self.raft.clone(),
            key: self.key.clone(),
            me: self.node_id,
            liveness: Arc::clone(&self.liveness),
        })
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
    }

    /// Announces this node's HTTP (`--listen`) address to its peers (in its health answers),
    /// so they can forward requests here when this node owns them.
    pub fn advertise_http(&self, addr: impl Into<String>) {
        self.liveness.set_http(self.node_id, addr.into());
    }

    /// Node `id`'s HTTP address, once its health answer has announced it.
    pub fn http_addr(&self, id: u64) -> Option<String> {
        self.liveness.http(id)
    }

    /// The cluster key (for the hop header of forwarded requests).
    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The current leader, if this node knows one.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// The cluster as this node sees it now.
    pub fn status(&self) -> ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        ClusterStatus {
            node_id: self.node_id,
            leader: metrics.current_leader,
            term: metrics.current_term,
            applied: metrics.last_applied.map_or(0, |l| l.index),
            nodes: self
                .peers
                .iter()
                .map(|(id, addr)| NodeStatus {
                    id: *id,
                    addr: addr.clone(),
                    up: *id == self.node_id || self.liveness.up(*id, UP_WITHIN),
                })
                .collect(),
        }
    }

    /// Waits until this node knows a leader; answers it.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<u64> {
        let mut metrics = self.raft.metrics();
        let wait = metrics.wait_for(|m| m.current_leader.is_some());
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(m)) => m.current_leader,
            _ => None,
        }
    }

    /// Waits until this node has applied the log up to `index` to its storage.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut applied = self.applied.clone();
        let wait = applied.wait_for(|a| *a >= index);
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// The last log index applied to this node's storage.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The members of the group (voters).
    pub fn voters(&self) -> BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Stops raft (the peer routes then answer errors) and the health prober.
    pub async fn shutdown(&self) {
        self.prober.abort();
        self.proposer.abort();
        self.leaser.abort();
        let _ = self.raft.shutdown().await;
    }

    /// Succeeds only if this node is the leader *now*, so a read served after it sees every
    /// acknowledged write: under the leader lease at once, else after one read barrier
    /// (`ensure_linearizable`, coalesced with the other requests waiting, at most
    /// [`FENCE_TIMEOUT`]). A deposed or partitioned leader gets
    /// `Overloaded` (503 + `Retry-After`). See `fence.rs`.
    pub async fn fence(&self) -> Result<(), StorageError> {
        if self.leader() != Some(self.node_id) {
            return Err(StorageError::Overloaded);
        }
        if self.lease.holds() {
            return Ok(());
        }
        self.barriers.pass(&self.raft, FENCE_TIMEOUT).await
    }

    /// Tests only: cuts this node off from its peers (its RPCs fail, its peer routes answer 503)
    /// or reconnects it; a partition without touching sockets.
    #[doc(hidden)]
    pub fn isolate_for_test(&self, cut: bool) {
        self.liveness.set_cut(cut);
    }

    /// Whether this node holds its leader lease now (see [`Cluster::fence`]).
    pub fn holds_lease(&self) -> bool {
        self.lease.holds()
    }

    /// Proposes a commit and waits for the outcome: what [`Replicator::propose`]'s ticket says.
    pub async fn write(&self, mutations: Vec<Mutation>) -> Result<(), StorageError> {
        write(self.raft.clone(), mutations).await
    }
}

impl Cluster {
    fn enqueue(&self, mutations: Vec<Mutation>, tickets: usize) -> Vec<Ticket> {
        let (promises, out): (Vec<Promise>, Vec<Ticket>) =
            (0..tickets).map(|_| Ticket::promise()).unzip();
        // A closed queue (shut down) drops the promises: the tickets complete with `Closed`.
        let _ = self.proposals.send((Command { mutations }, promises));
        out
    }
}

impl Replicator for Cluster {
    fn propose(&self, mutations: Vec<Mutation>) -> Ticket {
        let mut tickets = self.enqueue(mutations, 1);
        tickets.pop().expect("one ticket")
    }

    fn propose_watched(&self, mutations: Vec<Mutation>) -> (Ticket, Ticket) {
        let mut tickets = self.enqueue(mutations, 2);
        let watch = tickets.pop().expect("two tickets");
        (tickets.pop().expect("two tickets"), watch)
    }

    fn read_barrier(&self) -> Ticket {
        let (promise, ticket) = Ticket::promise();
        let raft = self.raft.clone();
        tokio::spawn(async move {
            let result = match raft.ensure_linearizable().await {
                Ok(_) => Ok(()),
                Err(RaftError::APIError(_)) => Err(StorageError::Overloaded),
                Err(RaftError::Fatal(_)) => Err(StorageError::Closed),
            };
            promise.keep(result);
        });
        ticket
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.prober.abort();
        self.proposer.abort();
        self.leaser.abort();
    }
}

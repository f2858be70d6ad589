//! One simulated node: the real log store (`log.rs`) and state machine (`machine.rs`) on this
//! node's redb files, the openraft timing of [`crate::Timing::default`], and a server on the
//! simulated TCP port that answers raft RPCs and the sim clients' writes and reads.
//!
//! A crash drops the host's runtime, and with it raft, the storage handle and the log store; the
//! restarted software reopens the same two files, as `mammoth serve` does after a kill -9.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use mammoth_storage::{Mutation, Storage, StorageConfig};
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{BasicNode, Config, EntryPayload, OptionalSend, SnapshotMeta, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use turmoil::net::{TcpListener, TcpStream};

use super::net::{self, Lossy, PORT, READ, SimNetwork, WRITE};
use super::{Bug, Shared, mix};
use crate::log::LogStore;
use crate::machine::{NoSnapshots, StateMachine};
use crate::network::{APPEND, SNAPSHOT, VOTE};
use crate::types::{
    Applied, Command, Entry, LogId, Membership, NodeId, Raft, RaftStorageError, TypeConfig,
};

/// A sim client's write: `w/{key} = value` (the write's own key, for the loss check) and
/// `reg/{reg} = value` (a register many writes overwrite, so apply order shows in the state).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WriteReq {
    pub(crate) key: String,
    pub(crate) reg: String,
    pub(crate) value: String,
}

/// A sim client's read of `w/{key}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReadReq {
    pub(crate) key: String,
}

/// What a node answers a sim client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Answer {
    /// The write is committed and applied at this log index (0: unknown).
    Written { index: u64 },
    /// The value of the key after a linearizable read.
    Value { value: Option<String> },
    /// Ask the leader instead (if this node knows it).
    NotLeader { leader: Option<NodeId> },
    /// Anything else; try again.
    Failed { error: String },
}

/// The raft configuration every sim node runs: `lib.rs`'s (the default [`crate::Timing`],
/// `max_payload_entries`, no snapshots), except that the election timeout is a fixed value per
/// node and incarnation drawn from the seed. openraft draws election timeouts from
/// `rand::thread_rng()`, which no seed reaches; a range one millisecond wide makes the draw
/// constant, and the seed picks where each node's lies in `[min, max)`.
fn raft_config(seed: u64, id: NodeId, incarnation: u64) -> Result<Config, String> {
    let t = crate::Timing::default();
    let span = (t.election_max_ms - t.election_min_ms) / 3;
    // Each node gets its own third of the range, so no two nodes ever share a timeout.
    let min = t.election_min_ms + (id - 1) * span + mix(&[seed, id, incarnation]) % (span - 1);
    Config {
        cluster_name: "mammoth".into(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: min,
        election_timeout_max: min + 1,
        max_payload_entries: 64,
        snapshot_policy: SnapshotPolicy::Never,
        ..Config::default()
    }
    .validate()
    .map_err(|e| e.to_string())
}

/// The software of node `id`: what turmoil starts and restarts.
pub(crate) async fn run(shared: Shared, id: NodeId) -> turmoil::Result {
    let incarnation = shared.next_incarnation(id);
    shared.event(format!("n{id} starts (incarnation {incarnation})"));
    let dir = shared.dir.join(net::host(id));
    std::fs::create_dir_all(&dir)?;
    let (storage, loaded) = Storage::open(StorageConfig {
        path: Some(dir.join("mammoth.redb")),
        ..StorageConfig::default()
    })?;
    let log = LogStore::open(&dir.join("raft.redb"))?.inline_writes();
    let (machine, _applied) = StateMachine::new(storage.clone(), &loaded)?;
    let machine = SimMachine {
        inner: machine,
        skip_applies: shared.config.bug == Some(Bug::SkipApply) && id == 3,
    };
    let network = SimNetwork {
        key: shared.key.clone(),
        lossy: Lossy::new(
            mix(&[shared.config.seed, id, incarnation, 1]),
            shared.config.loss,
            shared.config.max_delay,
        ),
    };
    let config = raft_config(shared.config.seed, id, incarnation)?;
    let raft = Raft::new(id, Arc::new(config), network, log, machine).await?;
    if !raft.is_initialized().await? {
        let members: BTreeMap<NodeId, BasicNode> = (1..=3)
            .map(|n| (n, BasicNode::new(format!("{}:{PORT}", net::host(n)))))
            .collect();
        // As `Cluster::start`: every node initialises; all but the first are refused.
        let _ = raft.initialize(members).await;
    }
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let server = Server {
            raft: raft.clone(),
            storage: storage.clone(),
            shared: shared.clone(),
        };
        tokio::task::spawn_local(async move {
            // A broken connection is the network's business, not the node's.
            let _ = server.serve(stream).await;
        });
    }
}

/// What one connection's handler needs.
struct Server {
    raft: Raft,
    storage: Storage,
    shared: Shared,
}

fn json<T: Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(std::io::Error::other)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> std::io::Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

impl Server {
    async fn serve(self, mut s: TcpStream) -> std::io::Result<()> {
        let path = net::read_chunk(&mut s).await?;
        let mac = net::read_chunk(&mut s).await?;
        let body = net::read_chunk(&mut s).await?;
        let path = String::from_utf8_lossy(&path).into_owned();
        if !self.shared.key.verify(&path, &body, &mac) {
            return Ok(()); // refused: the connection closes unanswered
        }
        let answer = match path.as_str() {
            APPEND => json(&self.raft.append_entries(parse(&body)?).await)?,
            VOTE => json(&self.raft.vote(parse(&body)?).await)?,
            SNAPSHOT => json(&self.raft.install_snapshot(parse(&body)?).await)?,
            WRITE => json(&self.write(parse(&body)?).await)?,
            READ => json(&self.read(parse(&body)?).await)?,
            _ => return Ok(()),
        };
        net::write_chunks(&mut s, &[&answer]).await
    }

    async fn write(&self, req: WriteReq) -> Answer {
        let value = Bytes::from(req.value.into_bytes());
        let command = Command {
            mutations: vec![
                Mutation::PutMeta {
                    key: format!("w/{}", req.key),
                    value: value.clone(),
                },
                Mutation::PutMeta {
                    key: format!("reg/{}", req.reg),
                    value,
                },
            ],
        };
        if self.shared.config.bug == Some(Bug::AckBeforeCommit) {
            // The broken rule: acknowledge once the leader has accepted the proposal.
            return match self.raft.client_write_ff(command).await {
                Ok(_) => Answer::Written { index: 0 },
                Err(e) => Answer::Failed {
                    error: e.to_string(),
                },
            };
        }
        match self.raft.client_write(command).await {
            Ok(r) => Answer::Written {
                index: r.log_id.index,
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Answer::NotLeader {
                leader: f.leader_id,
            },
            Err(e) => Answer::Failed {
                error: e.to_string(),
            },
        }
    }

    async fn read(&self, req: ReadReq) -> Answer {
        if self.shared.config.bug != Some(Bug::StaleRead) {
            match self.raft.ensure_linearizable().await {
                Ok(_) => {}
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                    return Answer::NotLeader {
                        leader: f.leader_id,
                    };
                }
                Err(e) => {
                    return Answer::Failed {
                        error: e.to_string(),
                    };
                }
            }
        }
        match self.storage.load_everything() {
            Ok(snapshot) => Answer::Value {
                value: snapshot
                    .meta
                    .get(&format!("w/{}", req.key))
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            },
            Err(e) => Answer::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// `machine.rs`'s state machine, with each apply run to completion before the host's runtime
/// goes on. The storage writer is an OS thread: awaiting its ticket on the simulated runtime
/// would let turmoil's clock run while the thread commits, so when the apply finishes would
/// depend on the wall clock. Blocking the host for the commit (simulated time stands still)
/// keeps every run of a seed the same.
pub(crate) struct SimMachine {
    inner: StateMachine,
    /// [`Bug::SkipApply`]: this node drops every fifth normal entry instead of applying it.
    skip_applies: bool,
}

impl RaftStateMachine<TypeConfig> for SimMachine {
    type SnapshotBuilder = NoSnapshots;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), RaftStorageError> {
        self.inner.applied_state().await
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut entries: Vec<Entry> = entries.into_iter().collect();
        if self.skip_applies {
            for e in &mut entries {
                if matches!(e.payload, EntryPayload::Normal(_)) && e.log_id.index % 5 == 0 {
                    e.payload = EntryPayload::Blank;
                }
            }
        }
        futures_executor::block_on(self.inner.apply(entries))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.inner.get_snapshot_builder().await
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        self.inner.begin_receiving_snapshot().await
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        self.inner.install_snapshot(meta, snapshot).await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        self.inner.get_current_snapshot().await
    }
}

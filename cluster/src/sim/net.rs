//! The simulation's network adapter: openraft's RPCs (and the sim clients' writes and reads) as
//! length-prefixed frames over turmoil's simulated TCP, each carrying the cluster MAC of
//! `auth.rs` over its path and body, exactly as the HTTP peer routes do.
//!
//! A request is three chunks (path, hex MAC, JSON body), each a big-endian `u32` length and its
//! bytes; the answer is one chunk of JSON (`Result<Resp, Err>` for raft RPCs, as
//! `network.rs` answers). A request whose MAC does not verify is answered by closing the
//! connection. One connection per request: turmoil delivers each connection's segments with its
//! own random latency, so requests overtake each other (reordering).
//!
//! On top of turmoil's latency and partitions, [`Lossy`] drops requests and answers and delays
//! requests, from a seeded rng: message loss as the sender sees it (a timeout).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

use crate::auth::ClusterKey;
use crate::network::{APPEND, SNAPSHOT, VOTE};
use crate::types::{NodeId, TypeConfig};

/// Every node listens on this port.
pub(crate) const PORT: u16 = 7000;
/// The sim clients' routes (the raft routes are `network.rs`'s paths).
pub(crate) const WRITE: &str = "/sim/v1/write";
/// See [`WRITE`].
pub(crate) const READ: &str = "/sim/v1/read";
/// A frame chunk larger than this is refused.
const MAX_CHUNK: u32 = 64 << 20;

/// The turmoil host name of node `id`.
pub(crate) fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// Reads one length-prefixed chunk.
pub(crate) async fn read_chunk(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let len = s.read_u32().await?;
    if len > MAX_CHUNK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0; len as usize];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes length-prefixed chunks as one write.
pub(crate) async fn write_chunks(s: &mut TcpStream, chunks: &[&[u8]]) -> io::Result<()> {
    let mut buf = Vec::new();
    for c in chunks {
        let len = u32::try_from(c.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(c);
    }
    s.write_all(&buf).await?;
    s.flush().await
}

/// What one roll of the dice does to a request.
struct Fate {
    delay: Duration,
    drop_request: bool,
    drop_answer: bool,
}

/// Seeded message loss and delay, shared by one host's connections.
#[derive(Clone)]
pub(crate) struct Lossy {
    rng: Arc<Mutex<StdRng>>,
    /// The probability that a request (and, separately, its answer) is lost.
    loss: f64,
    /// A request waits a uniform `[0, max_delay]` before it is sent.
    max_delay: Duration,
}

impl Lossy {
    pub(crate) fn new(seed: u64, loss: f64, max_delay: Duration) -> Lossy {
        Lossy {
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
            loss,
            max_delay,
        }
    }

    fn roll(&self) -> Fate {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let max = u64::try_from(self.max_delay.as_millis()).unwrap_or(u64::MAX);
        Fate {
            delay: Duration::from_millis(rng.random_range(0..=max)),
            drop_request: rng.random_bool(self.loss),
            drop_answer: rng.random_bool(self.loss),
        }
    }
}

/// Sends one signed request to node `to` and waits (at most `timeout`) for its answer.
pub(crate) async fn call(
    key: &ClusterKey,
    lossy: &Lossy,
    to: NodeId,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let fate = lossy.roll();
    let exchange = async {
        tokio::time::sleep(fate.delay).await;
        if fate.drop_request {
            std::future::pending::<()>().await;
        }
        let mut s = TcpStream::connect((host(to), PORT)).await?;
        let mac = key.sign(path, body);
        write_chunks(&mut s, &[path.as_bytes(), mac.as_bytes(), body]).await?;
        let answer = read_chunk(&mut s).await?;
        if fate.drop_answer {
            std::future::pending::<()>().await;
        }
        Ok(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(answer) => answer,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time")),
    }
}

/// openraft's network factory over [`call`].
#[derive(Clone)]
pub(crate) struct SimNetwork {
    pub(crate) key: ClusterKey,
    pub(crate) lossy: Lossy,
}

impl RaftNetworkFactory<TypeConfig> for SimNetwork {
    type Network = SimConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> SimConnection {
        SimConnection {
            network: self.clone(),
            target,
        }
    }
}

/// The client side of the RPCs to one peer.
pub(crate) struct SimConnection {
    network: SimNetwork,
    target: NodeId,
}

type Rpc<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl SimConnection {
    async fn rpc<Req, Resp, Err>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, Err>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        Err: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let n = &self.network;
        let answer = call(&n.key, &n.lossy, self.target, path, &body, timeout)
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })?;
        let answer: Result<Resp, Err> = serde_json::from_slice(&answer)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for SimConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        self.rpc(APPEND, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.rpc(SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>> {
        self.rpc(VOTE, &rpc, option.hard_ttl()).await
    }
}

//! The peer network: openraft's RPCs as signed HTTP POSTs between nodes' peer ports.
//!
//! Client side: [`Network`] (openraft's `RaftNetworkFactory`) hands out one [`Connection`] per
//! target, sharing one `reqwest` client (HTTP/1 keep-alive). Server side: [`router`] serves
//! `POST /peer/v1/{append,vote,snapshot}` and `GET /peer/v1/health`, each checking the MAC first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{ClusterKey, HEADER};
use crate::types::{NodeId, Raft, TypeConfig};

pub(crate) const APPEND: &str = "/peer/v1/append";
pub(crate) const VOTE: &str = "/peer/v1/vote";
pub(crate) const SNAPSHOT: &str = "/peer/v1/snapshot";
pub(crate) const HEALTH: &str = "/peer/v1/health";

/// When each peer last answered a signed request (any RPC or a health probe), and the HTTP
/// (`--listen`) address each node announced in its health answer.
#[derive(Default)]
pub(crate) struct Liveness {
    seen: Mutex<BTreeMap<NodeId, Instant>>,
    http: Mutex<BTreeMap<NodeId, String>>,
    /// Tests only: this node is cut off (its RPCs fail, its peer routes answer 503).
    cut: std::sync::atomic::AtomicBool,
}

impl Liveness {
    pub(crate) fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Records node `node`'s HTTP address (its own, or a peer's from a health answer).
    pub(crate) fn set_http(&self, node: NodeId, addr: String) {
        self.http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, addr);
    }

    /// Node `node`'s HTTP address, once known.
    pub(crate) fn http(&self, node: NodeId) -> Option<String> {
        self.http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .cloned()
    }

    pub(crate) fn saw(&self, node: NodeId) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, Instant::now());
    }

    pub(crate) fn up(&self, node: NodeId, within: Duration) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .is_some_and(|t| t.elapsed() <= within)
    }
}

/// openraft's network factory.
#[derive(Clone)]
pub(crate) struct Network {
    pub(crate) client: reqwest::Client,
    pub(crate) key: ClusterKey,
    pub(crate) liveness: Arc<Liveness>,
}

impl Network {
    pub(crate) fn new(key: ClusterKey, liveness: Arc<Liveness>) -> Network {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Network {
            client,
            key,
            liveness,
        }
    }

    /// One signed POST; the body answers `Result<Resp, Err>` as JSON.
    pub(crate) async fn call<Req, Resp, Err>(
        &self,
        target: NodeId,
        addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, Err>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        Err: std::error::Error + DeserializeOwned,
    {
        if self.liveness.is_cut() {
            let err = AnyError::error("this node is cut off (test partition)");
            return Err(RPCError::Unreachable(Unreachable::new(&err)));
        }
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mac = self.key.sign(path, &body);
        let sent = self
            .client
            .post(format!("http://{addr}{path}"))
            .header(HEADER, mac)
            .header("content-type", "application/json")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !sent.status().is_success() {
            let err = AnyError::error(format!("peer {target} answered {}", sent.status()));
            return Err(RPCError::Network(NetworkError::new(&err)));
        }
        let answer: Result<Resp, Err> = sent
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.liveness.saw(target);
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            network: self.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// A connection to one peer (really: its address; the HTTP client pools the sockets).
pub(crate) struct Connection {
    network: Network,
    target: NodeId,
    addr: String,
}

type Rpc<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        self.network
            .call(self.target, &self.addr, APPEND, &rpc, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.network
            .call(self.target, &self.addr, SNAPSHOT, &rpc, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>> {
        self.network
            .call(self.target, &self.addr, VOTE, &rpc, option.hard_ttl())
            .await
    }
}

/// What the peer routes need.
#[derive(Clone)]
pub(crate) struct Peer {
    pub(crate) raft: Raft,
    pub(crate) key: ClusterKey,
    /// This node's id and the directory its HTTP address is announced from.
    pub(crate) me: NodeId,
    pub(crate) liveness: Arc<Liveness>,
}

/// The peer port's routes.
pub(crate) fn router(peer: Peer) -> Router {
    Router::new()
        .route(APPEND, post(append))
        .route(VOTE, post(vote))
        .route(SNAPSHOT, post(snapshot))
        .route(HEALTH, get(health))
        .with_state(peer)
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Checks the MAC, then parses the body.
fn open<T: DeserializeOwned>(
    peer: &Peer,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    if peer.liveness.is_cut() {
        return Err(Box::new(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this node is cut off (test partition)",
        )));
    }
    let mac = headers.get(HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
    if !peer.key.verify(uri.path(), body, mac) {
        return Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "peer requests must carry the cluster MAC (same --jwt-secret on every node)",
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("not a raft request: {e}"),
        ))
    })
}

async fn append(State(peer): State<Peer>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    match open::<AppendEntriesRequest<TypeConfig>>(&peer, &uri, &headers, &body) {
        Ok(rpc) => axum::Json(peer.raft.append_entries(rpc).await).into_response(),
        Err(refused) => *refused,
    }
}

async fn vote(State(peer): State<Peer>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    match open::<VoteRequest<NodeId>>(&peer, &uri, &headers, &body) {
        Ok(rpc) => axum::Json(peer.raft.vote(rpc).await).into_response(),
        Err(refused) => *refused,
    }
}

async fn snapshot(State(peer): State<Peer>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    match open::<InstallSnapshotRequest<TypeConfig>>(&peer, &uri, &headers, &body) {
        Ok(rpc) => axum::Json(peer.raft.install_snapshot(rpc).await).into_response(),
        Err(refused) => *refused,
    }
}

async fn health(State(peer): State<Peer>, uri: Uri, headers: HeaderMap) -> Response {
    let mac = headers.get(HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
    if !peer.key.verify(uri.path(), b"", mac) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing cluster MAC",
        );
    }
    let http = peer.liveness.http(peer.me);
    axum::Json(serde_json::json!({"status": "ok", "http": http})).into_response()
}

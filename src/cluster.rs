//! Cluster mode (`--node-id N --cluster 1=ADDR,...`, CONTRACT section 16): this node's raft
//! member, its peer listener, and the ownership gate.
//!
//! This sitting runs **one raft group for every project**: its leader owns all projects. The
//! leader's project actors serve requests and write through the replicated log (storage submits
//! become proposals, see `Storage::replicate_through`); other nodes keep their storage current
//! by applying the log and forward every request to the owner (`cluster/forward.rs`), so a
//! follower's stale memory never answers. A node that becomes leader first waits until it
//! has applied everything committed (openraft's read-index check), then rebuilds every project
//! from its storage (`Registry::reload_all`), and only then opens its gate.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use mammoth_actors::registry::Registry;
use mammoth_cluster::Cluster;
use mammoth_storage::{Replicator, Storage};
use tokio::sync::watch;

mod forward;

/// How often the ownership task looks at raft's view of the leader.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// A running cluster member, as the HTTP layer sees it.
pub struct ClusterNode {
    /// The raft member.
    pub cluster: Arc<Cluster>,
    /// Whether this node serves its projects now (it leads and has rebuilt them).
    pub serving: watch::Receiver<bool>,
    /// The client requests for another owner are forwarded on.
    client: reqwest::Client,
}

impl ClusterNode {
    /// Starts the ownership task: opens the gate when this node leads and has rebuilt its
    /// projects from storage, closes it as soon as raft reports another leader or none.
    pub fn start(cluster: Arc<Cluster>, registry: Registry, storage: Storage) -> ClusterNode {
        let (tx, serving) = watch::channel(false);
        tokio::spawn(own(Arc::clone(&cluster), registry, storage, tx));
        ClusterNode {
            cluster,
            serving,
            client: forward::client(),
        }
    }
}

async fn own(
    cluster: Arc<Cluster>,
    registry: Registry,
    storage: Storage,
    serving: watch::Sender<bool>,
) {
    let me = cluster.node_id();
    loop {
        if serving.is_closed() {
            return;
        }
        let leads = cluster.leader() == Some(me);
        let open = *serving.borrow();
        if leads && !open {
            // Everything committed before this term is applied to storage once the barrier
            // passes; the rebuild then sees every acknowledged write.
            if cluster.read_barrier().await.is_ok() && cluster.leader() == Some(me) {
                let _ = storage.flush().await;
                let reader = storage.clone();
                let loaded = tokio::task::spawn_blocking(move || reader.load_everything()).await;
                match loaded {
                    Ok(Ok(snapshot)) => match registry.reload_all(snapshot).await {
                        Ok(()) => {
                            tracing::info!(node = me, "leading: projects rebuilt, serving");
                            serving.send_replace(true);
                        }
                        Err(e) => tracing::error!(error = %e, "rebuilding projects failed"),
                    },
                    Ok(Err(e)) => tracing::error!(error = %e, "reading storage failed"),
                    Err(e) => tracing::error!(error = %e, "reading storage panicked"),
                }
            }
        } else if !leads && open {
            tracing::info!(node = me, leader = ?cluster.leader(), "no longer leading: gate closed");
            serving.send_replace(false);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The HTTP address peers forward to: the bound `--listen` address, or, when that is a
/// wildcard (`0.0.0.0`), this node's peer host with the listen port.
pub(crate) fn advertised(listen: std::net::SocketAddr, cluster: &Cluster) -> String {
    if !listen.ip().is_unspecified() {
        return listen.to_string();
    }
    let peer = cluster
        .status()
        .nodes
        .into_iter()
        .find(|n| n.id == cluster.node_id())
        .map(|n| n.addr)
        .unwrap_or_default();
    let host = peer.rsplit_once(':').map_or(peer.as_str(), |(h, _)| h);
    format!("{host}:{}", listen.port())
}

/// Paths every node answers itself.
fn local(path: &str) -> bool {
    path == "/healthz" || path == "/metrics" || path == "/admin/v1/cluster"
}

/// The ownership gate, outermost layer in cluster mode (a single node never pays for it):
/// - the owner serves a request once [`Cluster::fence`] says it still leads (leader lease, or
///   a read barrier), so a deposed leader never answers from stale memory;
/// - any other node forwards it to the owner (`forward.rs`), one hop at most;
/// - with no owner known (an election, a rebuild, an owner whose address is not yet known):
///   503 `unavailable` + `Retry-After: 1`.
pub(crate) async fn gate(
    State(node): State<Arc<ClusterNode>>,
    request: Request,
    next: Next,
) -> Response {
    if local(request.uri().path()) {
        return next.run(request).await;
    }
    let forwarded = request.headers().contains_key(forward::HOP);
    let request = if forwarded {
        match forward::open_hop(node.cluster.key(), request).await {
            Ok(request) => request,
            Err(refused) => return *refused,
        }
    } else {
        request
    };
    let me = node.cluster.node_id();
    if *node.serving.borrow() {
        return match node.cluster.fence().await {
            Ok(()) => next.run(request).await,
            Err(_) => forward::unavailable(format!(
                "node {me} may no longer own this project (it could not confirm its leadership); retry shortly"
            )),
        };
    }
    match node.cluster.leader() {
        Some(owner) if owner != me && !forwarded => match node.cluster.http_addr(owner) {
            Some(addr) => {
                forward::proxy(&node.client, node.cluster.key(), owner, &addr, request).await
            }
            None => forward::unavailable(format!(
                "node {owner} owns this project but has not announced its address yet; retry shortly"
            )),
        },
        Some(owner) if owner == me => forward::unavailable(
            "this node just became the owner and is loading the projects; retry shortly",
        ),
        Some(owner) => forward::unavailable(format!(
            "ownership moved while this request was forwarded (node {owner} owns it now); retry shortly"
        )),
        None => forward::unavailable(
            "the cluster has no owner for this project right now (an election is under way); retry shortly",
        ),
    }
}

//! Cluster mode (`--node-id N --cluster 1=ADDR,...`, CONTRACT section 16): this node's raft
//! member, its peer listener, and the ownership gate.
//!
//! This sitting runs **one raft group for every project**: its leader owns all projects. The
//! leader's project actors serve requests and write through the replicated log (storage submits
//! become proposals, see `Storage::replicate_through`); other nodes keep their storage current
//! by applying the log, and answer `503` + `Retry-After` (naming the owner) instead of serving,
//! so a follower's stale memory never answers. A node that becomes leader first waits until it
//! has applied everything committed (openraft's read-index check), then rebuilds every project
//! from its storage (`Registry::reload_all`), and only then opens its gate.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mammoth_actors::registry::Registry;
use mammoth_cluster::Cluster;
use mammoth_storage::{Replicator, Storage};
use tokio::sync::watch;

use mammoth_actors::ErrorCode;

use crate::error::ApiError;

/// How often the ownership task looks at raft's view of the leader.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// A running cluster member, as the HTTP layer sees it.
pub struct ClusterNode {
    /// The raft member.
    pub cluster: Arc<Cluster>,
    /// Whether this node serves its projects now (it leads and has rebuilt them).
    pub serving: watch::Receiver<bool>,
}

impl ClusterNode {
    /// Starts the ownership task: opens the gate when this node leads and has rebuilt its
    /// projects from storage, closes it as soon as raft reports another leader or none.
    pub fn start(cluster: Arc<Cluster>, registry: Registry, storage: Storage) -> ClusterNode {
        let (tx, serving) = watch::channel(false);
        tokio::spawn(own(Arc::clone(&cluster), registry, storage, tx));
        ClusterNode { cluster, serving }
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

/// Paths every node answers itself.
fn local(path: &str) -> bool {
    path == "/healthz" || path == "/metrics" || path == "/admin/v1/cluster"
}

/// The ownership gate: while this node does not own the projects, every request (but the
/// local ones) answers 503 with `Retry-After` and the owner's id. Only installed in cluster
/// mode.
pub(crate) async fn gate(
    State(node): State<Arc<ClusterNode>>,
    request: Request,
    next: Next,
) -> Response {
    if *node.serving.borrow() || local(request.uri().path()) {
        return next.run(request).await;
    }
    let message = match node.cluster.leader() {
        Some(leader) => format!(
            "this node ({}) does not own the project now; node {leader} does (forwarding is not built yet): retry there or later",
            node.cluster.node_id()
        ),
        None => "the cluster has no owner for this project right now (an election is under way); retry shortly".to_owned(),
    };
    let mut error = ApiError::new(ErrorCode::Unavailable, message);
    error.retry_after = Some(1);
    error.into_response()
}

//! `GET /admin/v1/cluster` (CONTRACT section 16): the nodes and who owns each project.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::admin::Operator;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/admin/v1/cluster", get(status))
}

/// One group for every project (this sitting): its leader owns all of them. A single-node
/// server answers itself as node 1, owner of everything.
#[utoipa::path(
    get,
    path = "/admin/v1/cluster",
    operation_id = "cluster_status",
    tag = "admin",
    summary = "Nodes and project owners (CONTRACT section 16)",
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The cluster", body = super::openapi::ClusterStatus),
        super::openapi::AdminErrors,
    )
)]
async fn status(State(state): State<AppState>, _operator: Operator) -> Json<Value> {
    Json(view(&state))
}

/// What `GET /admin/v1/cluster` answers (the dashboard's cluster page shows it too).
pub(crate) fn view(state: &AppState) -> Value {
    let mut ids: Vec<String> = state
        .registry
        .projects()
        .iter()
        .map(|p| p.id().to_owned())
        .collect();
    ids.sort();
    let (nodes, owner, leader) = match &state.cluster {
        Some(node) => {
            let status = node.cluster.status();
            let nodes: Vec<Value> = status
                .nodes
                .iter()
                .map(|n| json!({"id": n.id, "addr": n.addr, "up": n.up}))
                .collect();
            (nodes, status.leader, status.leader)
        }
        None => (
            vec![json!({"id": 1, "addr": state.public_url.as_ref(), "up": true})],
            Some(1),
            Some(1),
        ),
    };
    let projects: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({"id": id, "owner": owner}))
        .collect();
    json!({"nodes": nodes, "projects": projects, "leader": leader})
}

//! Liveness and metrics.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Prometheus text exposition of the server's gauges.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let projects = state.registry.projects();
    let mut documents = 0usize;
    for project in &projects {
        documents += project.document_count().await.unwrap_or(0);
    }
    let body = format!(
        "# HELP mammoth_projects Projects served.\n# TYPE mammoth_projects gauge\nmammoth_projects {}\n\
         # HELP mammoth_documents Documents stored, all projects.\n# TYPE mammoth_documents gauge\nmammoth_documents {documents}\n",
        projects.len()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

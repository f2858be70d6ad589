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

/// Prometheus text exposition.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = crate::telemetry::render(&state).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

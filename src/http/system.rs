//! Liveness. (`/metrics` is `telemetry`'s.)

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use serde_json::json;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

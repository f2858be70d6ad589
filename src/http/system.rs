//! Liveness and metrics.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;

use serde_json::json;

use super::{ApiError, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Prometheus text exposition; it names every tenant, so it takes the root token (CONTRACT 18).
async fn metrics(_root: RootToken, State(state): State<AppState>) -> impl IntoResponse {
    let body = crate::telemetry::render(&state).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// The caller presented the root token (a dashboard session is not enough: scrapers use the token).
struct RootToken;

impl FromRequestParts<AppState> for RootToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        super::admin::root_token(parts, state).map(|()| RootToken)
    }
}

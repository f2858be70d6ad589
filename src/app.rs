//! The router, assembled at the top: the HTTP API's routes ([`crate::http`]), the dashboard's
//! ([`crate::dashboard`]) and the metrics route ([`crate::telemetry`]), with the cross-cutting
//! layers (body limit, request metrics, the cluster ownership gate, CORS). Being the only module
//! that knows all three, it keeps them from knowing each other (see "Where things live" in
//! docs/DESIGN.md; `tests/it/layers.rs` checks that `src/` has no import cycle).

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::http::{MAX_BODY_BYTES, cors, no_route};
use crate::state::AppState;

/// The whole router.
pub fn app(state: AppState) -> Router {
    let tracked = state.metrics.is_some();
    let router = crate::http::routes()
        .merge(crate::telemetry::routes())
        .merge(crate::dashboard::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    // The dashboard's requests chart: every server, embedded ones too.
    let router = router.route_layer(axum::middleware::from_fn(crate::dashboard::track_series));
    let router = if tracked {
        router.route_layer(axum::middleware::from_fn(crate::telemetry::track))
    } else {
        router
    };
    let router = router.layer(axum::middleware::from_fn(cors::cors));
    // Cluster mode only (a single node never pays for it), outermost: a forwarded request gets
    // its CORS headers from the owner, which knows the project's origins.
    let router = match state.cluster.clone() {
        Some(node) => router.layer(axum::middleware::from_fn_with_state(
            node,
            crate::cluster::gate,
        )),
        None => router,
    };
    router.with_state(state)
}

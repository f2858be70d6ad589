//! The thin HTTP layer: one `routes()` per resource, merged here, with the cross-cutting layers.
//! A handler is extractors, one call on a typed handle, and a response; business rules live in
//! the actors.

pub(crate) mod admin;
mod auth;
mod batch;
pub(crate) mod cluster;
mod cors;
pub mod data;
mod documents;
pub mod error;
pub(crate) mod extract;
mod listen;
pub mod openapi;
mod system;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use mammoth_actors::registry::Registry;

use crate::config::Config;
use crate::keys::KeySigner;
use crate::mail::Mailer;
use crate::operators::Operators;
use crate::password::PasswordPool;
pub use error::ApiError;

/// Largest request body (CONTRACT section 3: 413 above it).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Cheap handles every handler may use.
#[derive(Clone)]
pub struct AppState {
    /// Finds projects.
    pub registry: Registry,
    /// Verifies API keys.
    pub signer: Arc<KeySigner>,
    /// Settings.
    pub config: Arc<Config>,
    /// Base of links in emails.
    pub public_url: Arc<str>,
    /// The metrics recorder, when this server owns one.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The storage writer, for its counters.
    pub storage: mammoth_storage::Storage,
    /// Sends sign-in links (the dev outbox unless the server sets SMTP).
    pub mailer: Mailer,
    /// Hashes and verifies passwords off the async workers, a bounded number at a time.
    pub passwords: PasswordPool,
    /// Operators' sign-in links and dashboard sessions.
    pub operators: Operators,
    /// This node's cluster membership (`--cluster`); `None` on a single node.
    pub cluster: Option<Arc<crate::cluster::ClusterNode>>,
    /// Per-project request totals across restarts (the dashboard's operations page).
    pub request_totals: crate::dashboard::RequestTotals,
}

impl AppState {
    /// State for a server bound to `addr`.
    pub fn new(
        registry: Registry,
        signer: Arc<KeySigner>,
        config: Arc<Config>,
        addr: SocketAddr,
        storage: mammoth_storage::Storage,
    ) -> AppState {
        let public_url = config.public_url_for(addr).into();
        let metrics = config.metrics.clone();
        let mailer = Mailer::outbox(config.env.clone());
        let operators = Operators::load(
            &config.admin_emails,
            config.env.clone(),
            storage.clone(),
            &mut Default::default(),
        );
        AppState {
            registry,
            signer,
            config,
            public_url,
            metrics,
            storage,
            mailer,
            passwords: PasswordPool::for_this_machine(),
            operators,
            cluster: None,
            request_totals: Default::default(),
        }
    }
}

/// The whole router.
pub fn app(state: AppState) -> Router {
    let tracked = state.metrics.is_some();
    let router = Router::new()
        .merge(documents::routes())
        .merge(batch::routes())
        .merge(admin::routes())
        .merge(data::routes())
        .merge(system::routes())
        .merge(tokens::routes())
        .merge(listen::routes())
        .merge(auth::routes())
        .merge(openapi::routes())
        .merge(crate::dashboard::routes())
        .merge(cluster::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
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

/// Every path the router serves (`/v1/collections/{name}/query`, ...), sorted: for tests that
/// must walk every route, including routes added later by code that never heard of the test.
/// axum offers no route listing, but its `Debug` of a router names every registered path, and
/// this reads them from there (a test checks that known routes are found, so a change in that
/// output fails loudly instead of listing nothing).
pub fn route_paths(router: &Router) -> Vec<String> {
    let listing = format!("{router:?}");
    let mut paths: Vec<String> = listing
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; see the API reference in the README",
        uri.path()
    ))
}

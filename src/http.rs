//! The thin HTTP layer: one `routes()` per resource, merged here, with the cross-cutting layers.
//! A handler is extractors, one call on a typed handle, and a response; business rules live in
//! the actors.

pub(crate) mod admin;
mod admin_users;
mod auth;
mod batch;
pub(crate) mod cluster;
pub(crate) mod cors;
pub mod data;
mod documents;
pub(crate) mod extract;
mod listen;
pub mod openapi;
mod system;
mod tokens;

use axum::Router;
use axum::http::{Method, Uri};

pub use crate::error::{self, ApiError};
pub use crate::state::AppState;

pub use crate::config::MAX_BODY_BYTES;

/// The HTTP API's routes (data, auth, admin, system, OpenAPI, cluster); [`crate::app::app`]
/// merges them with the dashboard's and the metrics route and applies the layers.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(documents::routes())
        .merge(batch::routes())
        .merge(admin::routes())
        .merge(admin_users::routes())
        .merge(data::routes())
        .merge(system::routes())
        .merge(tokens::routes())
        .merge(listen::routes())
        .merge(auth::routes())
        .merge(openapi::routes())
        .merge(cluster::routes())
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

pub(crate) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; see the API reference in the README",
        uri.path()
    ))
}

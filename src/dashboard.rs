//! The operator dashboard at `/dashboard`: server-rendered pages (maud), a little embedded CSS
//! and JS, no build step.
//!
//! Sign-in is by magic link ([`crate::operators`], `dashboard/session.rs`). The session rides in
//! an `HttpOnly`, `SameSite=Strict`, `Path=/` cookie; every state-changing form carries the
//! session's synchronizer token and must come from the public URL's origin: those rules are
//! [`crate::credentials`]'s. Project and key pages (`dashboard/projects.rs`) render the admin
//! service ([`crate::admin`]), the same operations the admin API renders as JSON; errors map
//! through the one [`ApiError`] table.

mod apidoc;
mod browse;
mod documents;
mod ops;
mod pages;
mod projects;
mod series;
mod session;
mod users;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mammoth_actors::project::ProjectHandle;
use serde::Deserialize;

pub(crate) use crate::credentials::Signed;
pub use crate::credentials::{COOKIE_NAME, link_url};
use crate::error::ApiError;
use crate::state::AppState;
pub use crate::state::RequestTotals;
pub(crate) use series::track as track_series;

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::routes())
        .merge(projects::routes())
        .route("/dashboard/api", get(apidoc::api_page))
        .route("/dashboard/assets/style.css", get(style))
        .route("/dashboard/assets/app.js", get(script))
        .route("/dashboard/assets/ops.js", get(ops_script))
        .route("/dashboard/projects/{id}/data", get(browse::data_page))
        .route("/dashboard/projects/{id}/data/live", get(documents::live))
        .route(
            "/dashboard/projects/{id}/data/documents",
            post(documents::create),
        )
        .route(
            "/dashboard/projects/{id}/data/documents/save",
            post(documents::save),
        )
        .route(
            "/dashboard/projects/{id}/data/documents/delete",
            post(documents::delete),
        )
        .route("/dashboard/projects/{id}/users", get(users::users_page))
        .route(
            "/dashboard/projects/{id}/users/{user_id}/revoke",
            post(users::revoke),
        )
        .route(
            "/dashboard/projects/{id}/users/{user_id}/delete",
            post(users::delete),
        )
        .route("/dashboard/projects/{id}/ops", get(ops::ops_page))
        .route("/dashboard/projects/{id}/backups", post(ops::take_backup))
        .route("/dashboard/cluster", get(ops::cluster_page))
        .layer(axum::middleware::map_response(protect))
}

/// Headers on every dashboard response: only our own assets, never framed (clickjacking on the
/// revoke buttons), referrers only to ourselves (the `Referer` check needs them), and pages that
/// may show a secret are never cached.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page that failed: rendered as an HTML error page (the admin API keeps its JSON errors).
pub(crate) struct Failure(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let page = pages::message_page("Something went wrong", &self.1, None);
        (self.0, page).into_response()
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Failure {
        let (status, _) = err.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %err.message, "dashboard request failed");
        }
        Failure(status, err.message)
    }
}

fn failure(status: StatusCode, message: &str) -> Response {
    Failure(status, message.to_owned()).into_response()
}

pub(crate) fn internal(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "dashboard request failed");
    failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server could not complete this request. Try again.",
    )
}

pub(crate) fn project(state: &AppState, id: &str) -> Result<ProjectHandle, Failure> {
    crate::admin::project(state, id).map_err(Failure::from)
}

/// Checks a form's origin and synchronizer token ([`crate::credentials::guard`]).
fn guard(
    headers: &HeaderMap,
    state: &AppState,
    signed: &Signed,
    csrf: &str,
) -> Result<(), Failure> {
    crate::credentials::guard(headers, state, &signed.session, csrf)
        .map_err(|message| Failure(StatusCode::FORBIDDEN, message.to_owned()))
}

async fn style() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("dashboard/assets/style.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("dashboard/assets/app.js"),
    )
}

async fn ops_script() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("dashboard/assets/ops.js"),
    )
}

/// A form that carries only the session's synchronizer token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

//! The operators' API for a project's end users (the console's Users page without a browser):
//! list with email search, revoke every session of a user, delete a user. The same project
//! actor calls as the dashboard ([`mammoth_actors::project::UsersMsg`]), behind the same
//! [`Operator`] credential as every `/admin/v1` route (root token, or the dashboard cookie with
//! `X-CSRF-Token` on state-changing methods).
//!
//! - `GET /admin/v1/projects/{id}/users?email=&offset=&limit=` → `{"users": [...], "total",
//!   "magic_links": {"requested", "redeemed", "pending"}}`, oldest account first; `email` keeps
//!   the users whose email contains it (case-insensitive), `limit` is 1-200 (50 when absent).
//! - `POST /admin/v1/projects/{id}/users/{user_id}/revoke` → `{"revoked": n}` once durable.
//! - `DELETE /admin/v1/projects/{id}/users/{user_id}` → 204 once durable (sessions and unused
//!   magic links go with the user).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use mammoth_actors::project::ProjectHandle;
use mammoth_actors::users::MAX_USER_PAGE;
use serde_json::json;
use utoipa::ToSchema;

use super::admin::Operator;
use super::extract::Path;
use super::{ApiError, AppState};

/// Users per page when no `limit` is given.
const DEFAULT_LIMIT: usize = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/projects/{id}/users", get(list_users))
        .route(
            "/admin/v1/projects/{id}/users/{user_id}/revoke",
            post(revoke_sessions),
        )
        .route(
            "/admin/v1/projects/{id}/users/{user_id}",
            delete(delete_user),
        )
}

fn project(state: &AppState, id: &str) -> Result<ProjectHandle, ApiError> {
    state
        .registry
        .project(id)
        .ok_or_else(|| ApiError::not_found(format!("no project '{id}'")))
}

/// The list's query string: `email`, `offset`, `limit`; anything else is a 400.
#[derive(Debug, PartialEq, Eq)]
struct ListParams {
    email: String,
    offset: usize,
    limit: usize,
}

fn list_params(query: Option<&str>) -> Result<ListParams, ApiError> {
    let mut out = ListParams {
        email: String::new(),
        offset: 0,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let number = || {
            value.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "'{key}' must be a non-negative integer, found '{value}'"
                ))
            })
        };
        match &*key {
            "email" => out.email = value.to_string(),
            "offset" => out.offset = number()?,
            "limit" => {
                out.limit = number()?;
                if !(1..=MAX_USER_PAGE).contains(&out.limit) {
                    return Err(ApiError::bad_request(format!(
                        "'limit' must be from 1 to {MAX_USER_PAGE}, found {}",
                        out.limit
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{other}'; allowed: email, offset, limit"
                )));
            }
        }
    }
    Ok(out)
}

/// List a project's end users.
#[utoipa::path(
    get,
    path = "/admin/v1/projects/{id}/users",
    operation_id = "list_users",
    tag = "admin",
    summary = "List a project's end users, with email search and magic-link figures",
    params(
        ("id" = String, Path, description = "Project id"),
        ("email" = Option<String>, Query, description = "Keep users whose email contains this (case-insensitive)"),
        ("offset" = Option<u64>, Query, minimum = 0, description = "Users to skip (default 0)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 200, description = "Users per page, 1-200 (default 50)"),
    ),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "A page of users, oldest account first", body = UserList),
        super::openapi::AdminErrors,
    )
)]
async fn list_users(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = list_params(query.as_deref())?;
    let handle = project(&state, &id)?;
    let page = handle
        .list_users(params.email, params.offset, params.limit)
        .await?;
    let links = state.request_totals.links(&handle).await?;
    let body = json!({ "users": page.users, "total": page.total, "magic_links": links });
    Ok(axum::Json(body).into_response())
}

/// End every session of a user.
#[utoipa::path(
    post,
    path = "/admin/v1/projects/{id}/users/{user_id}/revoke",
    operation_id = "revoke_user_sessions",
    tag = "admin",
    summary = "End every session of an end user (durable on return)",
    params(
        ("id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id"),
    ),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = Revoked),
        super::openapi::AdminErrors,
    )
)]
async fn revoke_sessions(
    _: Operator,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let revoked = project(&state, &id)?.revoke_user_sessions(user_id).await?;
    Ok(axum::Json(json!({ "revoked": revoked })).into_response())
}

/// Delete a user.
#[utoipa::path(
    delete,
    path = "/admin/v1/projects/{id}/users/{user_id}",
    operation_id = "delete_user",
    tag = "admin",
    summary = "Delete an end user with their sessions and unused magic links (durable on return)",
    params(
        ("id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id"),
    ),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        super::openapi::AdminErrors,
    )
)]
async fn delete_user(
    _: Operator,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    project(&state, &id)?.delete_user(user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v1/projects/{id}/users`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UserList {
    users: Vec<UserEntry>,
    /// Users matching the search, on every page.
    total: u64,
    magic_links: MagicLinks,
}

/// An end user as the operator sees them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UserEntry {
    id: String,
    email: String,
    email_verified: bool,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339 creation time of the newest live session; `null` when none is live.
    last_sign_in: Option<String>,
    /// Sessions not yet expired.
    live_sessions: u64,
}

/// Magic-link sign-in figures of the project, over every run of the server.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct MagicLinks {
    /// Links sent.
    requested: u64,
    /// Links used to sign in.
    redeemed: u64,
    /// Links stored now and not yet used.
    pending: u64,
}

/// `POST .../users/{user_id}/revoke`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Revoked {
    /// Sessions ended.
    revoked: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_is_checked() {
        assert_eq!(
            list_params(Some("email=ADA%40&offset=5&limit=200")).unwrap(),
            ListParams {
                email: "ADA@".into(),
                offset: 5,
                limit: 200
            }
        );
        assert_eq!(list_params(None).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["limit=0", "limit=201", "offset=-1", "limit=x", "sort=email"] {
            assert!(list_params(Some(bad)).is_err(), "{bad}");
        }
    }
}

//! The operators' API (CONTRACT section 5): projects, keys, reset. A JSON renderer of the admin
//! service ([`crate::admin`]); operator credentials are [`crate::credentials`]'s.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use mammoth_actors::project::ProjectUpdate;
use mammoth_actors::records::Permission;
use serde_json::{Value, json};

use super::extract::{JsonObject, Path, kind_of};
use super::{ApiError, AppState};
use crate::admin::{self, KeyName, MAX_NAME_CHARS, ProjectName, project};
pub(crate) use crate::credentials::Operator;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/projects",
            post(create_project).get(list_projects),
        )
        .route(
            "/admin/v1/projects/{id}",
            patch(update_project).get(get_project),
        )
        .route("/admin/v1/projects/{id}/reset", post(reset_project))
        .route(
            "/admin/v1/projects/{id}/keys",
            post(create_key).get(list_keys),
        )
        .route("/admin/v1/projects/{id}/crash", post(crash_project))
        .route("/admin/v1/keys/{key_id}/regenerate", post(regenerate_key))
        .route("/admin/v1/keys/{key_id}", axum::routing::delete(delete_key))
}

/// An optional string field of a body, as its JSON type allows (its value is validated by the
/// newtype it becomes).
fn string_field<'a>(
    body: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(format!(
            "\"{field}\" must be a string of 1 to {MAX_NAME_CHARS} characters, not {}",
            kind_of(other)
        ))),
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/projects",
    tag = "admin",
    summary = "Create a project (and its first write key)",
    request_body = super::openapi::NewProject,
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 201, description = "Created", body = super::openapi::ProjectCreated),
        super::openapi::AdminErrors,
    )
)]
async fn create_project(
    _: Operator,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let name = string_field(&body, "name")?.ok_or_else(|| {
        ApiError::bad_request("\"name\" is required, e.g. {\"name\": \"my-app\"}")
    })?;
    let (project, key) = admin::create_project(&state, ProjectName::parse(name)?).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"project": project, "api_key": key})),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/admin/v1/projects",
    tag = "admin",
    summary = "The projects",
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The projects", body = super::openapi::ProjectList),
        super::openapi::AdminErrors,
    )
)]
async fn list_projects(_: Operator, State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut projects = Vec::new();
    for handle in state.registry.projects() {
        projects.push(handle.describe().await?);
    }
    Ok(axum::Json(json!({ "projects": projects })).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/v1/projects/{id}",
    tag = "admin",
    summary = "A project",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The project", body = super::openapi::Project),
        super::openapi::AdminErrors,
    )
)]
async fn get_project(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = project(&state, &id)?.describe().await?;
    Ok(axum::Json(json!(record)).into_response())
}

#[utoipa::path(
    patch,
    path = "/admin/v1/projects/{id}",
    tag = "admin",
    summary = "Change a project's name, allowed origins or session scope",
    params(("id" = String, Path, description = "Project id")),
    request_body = super::openapi::ProjectUpdate,
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The project", body = super::openapi::Project),
        super::openapi::AdminErrors,
    )
)]
async fn update_project(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let handle = project(&state, &id)?;
    for field in body.keys() {
        if !matches!(
            field.as_str(),
            "name" | "allowed_origins" | "session_scope" | "ttl"
        ) {
            return Err(ApiError::bad_request(format!(
                "unknown field \"{field}\"; a project has \"name\", \"allowed_origins\", \"session_scope\" and \"ttl\""
            )));
        }
    }
    let name = string_field(&body, "name")?
        .map(|n| ProjectName::parse(n).map(ProjectName::into_string))
        .transpose()?;
    let origins = match body.get("allowed_origins") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(admin::parse_origin)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"allowed_origins\" must be an array of origins like \"https://app.example.com\", not {}",
                kind_of(other)
            )));
        }
    };
    // Validated by the actor, as a minted scope is (400 when it is not a scope).
    let session_scope = body.get("session_scope").map(|v| match v {
        Value::Null => None,
        scope => Some(scope.clone()),
    });
    let ttl = body
        .get("ttl")
        .map(mammoth_actors::ttl::parse_update)
        .transpose()?;
    let record = handle
        .update(ProjectUpdate {
            name,
            allowed_origins: origins,
            session_scope,
            ttl,
        })
        .await?;
    Ok(axum::Json(json!(record)).into_response())
}

#[utoipa::path(
    post,
    path = "/admin/v1/projects/{id}/reset",
    tag = "admin",
    summary = "Delete a project's collections, users and sessions (its keys stay)",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 204, description = "Reset"),
        super::openapi::AdminErrors,
    )
)]
async fn reset_project(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    project(&state, &id)?.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/admin/v1/projects/{id}/keys",
    tag = "admin",
    summary = "Create an API key",
    params(("id" = String, Path, description = "Project id")),
    request_body = super::openapi::NewKey,
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = super::openapi::IssuedKey),
        super::openapi::AdminErrors,
    )
)]
async fn create_key(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let handle = project(&state, &id)?;
    let name = string_field(&body, "name")?.ok_or_else(|| {
        ApiError::bad_request(
            "\"name\" is required, e.g. {\"name\": \"staging\", \"permission\": \"read\"}",
        )
    })?;
    let permission = match body.get("permission") {
        None => Permission::Write,
        Some(Value::String(p)) => Permission::parse(p).ok_or_else(|| {
            ApiError::bad_request(format!(
                "\"permission\" must be \"read\", \"write\" or \"client\", not '{p}'"
            ))
        })?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"permission\" must be \"read\", \"write\" or \"client\", not {}",
                kind_of(other)
            )));
        }
    };
    let key = admin::create_key(&state, handle.id(), KeyName::parse(name)?, permission).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(key))).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/v1/projects/{id}/keys",
    tag = "admin",
    summary = "A project's keys, without their secrets",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The keys", body = super::openapi::KeyList),
        super::openapi::AdminErrors,
    )
)]
async fn list_keys(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let keys = project(&state, &id)?.keys().await?;
    Ok(axum::Json(json!({ "keys": keys })).into_response())
}

#[utoipa::path(
    post,
    path = "/admin/v1/keys/{key_id}/regenerate",
    tag = "admin",
    summary = "Replace a key's secret; the old one is dead at once",
    params(("key_id" = String, Path, description = "Key id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 201, description = "The new key", body = super::openapi::IssuedKey),
        super::openapi::AdminErrors,
    )
)]
async fn regenerate_key(
    _: Operator,
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    let key = admin::regenerate_key(&state, None, &key_id).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(key))).into_response())
}

#[utoipa::path(
    delete,
    path = "/admin/v1/keys/{key_id}",
    tag = "admin",
    summary = "Revoke a key",
    params(("key_id" = String, Path, description = "Key id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        super::openapi::AdminErrors,
    )
)]
async fn delete_key(
    _: Operator,
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    admin::revoke_key(&state, None, &key_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Test hook: makes a project's actor panic. Exists only when the server runs with test hooks.
#[utoipa::path(
    post,
    path = "/admin/v1/projects/{id}/crash",
    tag = "admin",
    summary = "Test hook: make a project's actor panic (404 unless the server runs with test hooks)",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 202, description = "The actor will crash"),
        super::openapi::AdminErrors,
    )
)]
async fn crash_project(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.config.test_hooks {
        return Err(ApiError::not_found(
            "no route for POST /admin/v1/projects/{id}/crash",
        ));
    }
    project(&state, &id)?.crash();
    Ok(StatusCode::ACCEPTED.into_response())
}

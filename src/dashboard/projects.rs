//! The dashboard's project pages: create a project, its page (record, keys, usage), keys
//! (create, regenerate, revoke, scoped to the page's project), settings and TTL policies. Each
//! handler renders an admin service call ([`crate::admin`]); errors keep their status through
//! the one [`ApiError`] table.

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mammoth_actors::project::ProjectOverview;
use mammoth_actors::records::{IssuedKey, Permission};
use serde::Deserialize;

use super::{CsrfForm, Failure, Signed, failure, guard, pages, project};
use crate::admin::{self, KeyName, ProjectName};
use crate::error::ApiError;
use crate::state::AppState;

/// Project, key, settings and TTL pages.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/projects", post(create_project))
        .route("/dashboard/projects/{id}", get(project_page))
        .route("/dashboard/projects/{id}/keys", post(create_key))
        .route("/dashboard/projects/{id}/settings", post(update_settings))
        .route("/dashboard/projects/{id}/ttl", post(update_ttl))
        .route(
            "/dashboard/projects/{id}/keys/{key_id}/regenerate",
            post(regenerate_key),
        )
        .route(
            "/dashboard/projects/{id}/keys/{key_id}/revoke",
            post(revoke_key),
        )
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Form(form): Form<NameForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let created = match ProjectName::parse(&form.name) {
        Ok(name) => admin::create_project(&state, name).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((record, _)) => {
            Redirect::to(&format!("/dashboard/projects/{}", record.id)).into_response()
        }
        Err(e) => Failure::from(e).into_response(),
    }
}

async fn project_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    render_project(&state, &signed, &id, None).await
}

async fn render_project(
    state: &AppState,
    signed: &Signed,
    id: &str,
    secret: Option<pages::Secret>,
) -> Response {
    let handle = match project(state, id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let ProjectOverview {
        record,
        keys,
        documents,
    } = match handle.overview().await {
        Ok(overview) => overview,
        Err(e) => return Failure::from(ApiError::from(e)).into_response(),
    };
    let usage = pages::Usage {
        documents,
        requests: handle.requests(),
    };
    pages::project_page(&signed.session, &record, &keys, &usage, secret.as_ref()).into_response()
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    name: String,
    permission: String,
}

async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let Some(permission) = Permission::parse(&form.permission) else {
        return failure(StatusCode::BAD_REQUEST, "Choose read, write or client.");
    };
    let created = match KeyName::parse(&form.name) {
        Ok(name) => admin::create_key(&state, &id, name, permission).await,
        Err(e) => Err(e),
    };
    show_key(&state, &signed, &id, "Key created", created).await
}

/// The project page with a key's secret shown once, or the error page.
async fn show_key(
    state: &AppState,
    signed: &Signed,
    id: &str,
    title: &'static str,
    issued: Result<IssuedKey, ApiError>,
) -> Response {
    match issued {
        Ok(key) => render_project(state, signed, id, Some(pages::Secret { title, key })).await,
        Err(e) => Failure::from(e).into_response(),
    }
}

async fn regenerate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path((id, key_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    // Scoped to the page's project: a key of another project is 404 here.
    let issued = admin::regenerate_key(&state, Some(&id), &key_id).await;
    let title = "Key regenerated: the old secret no longer works";
    show_key(&state, &signed, &id, title, issued).await
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path((id, key_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    match admin::revoke_key(&state, Some(&id), &key_id).await {
        Ok(()) => Redirect::to(&format!("/dashboard/projects/{id}")).into_response(),
        Err(e) => Failure::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct TtlForm {
    #[serde(default)]
    csrf: String,
    /// One `collection: field.path` per line; the listed policies replace the current ones.
    #[serde(default)]
    ttl: String,
}

/// Sets the project's TTL policies (CONTRACT section 14) from one `collection: field` per line;
/// collections not listed lose their policy. Validated by the same code as
/// `PATCH /admin/v1/projects/{id}` (`mammoth_actors::ttl::parse_update`).
async fn update_ttl(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<TtlForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let current = match handle.describe().await {
        Ok(record) => record.ttl,
        Err(e) => return Failure::from(ApiError::from(e)).into_response(),
    };
    let mut wanted = serde_json::Map::new();
    for line in form.ttl.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((collection, path)) = line.split_once(':') else {
            return failure(
                StatusCode::BAD_REQUEST,
                &format!(
                    "'{line}' is not a policy; write one per line as collection: field, e.g. sessions: expires_at"
                ),
            );
        };
        wanted.insert(
            collection.trim().to_owned(),
            serde_json::Value::String(path.trim().to_owned()),
        );
    }
    for collection in current.keys() {
        if !wanted.contains_key(collection) {
            wanted.insert(collection.clone(), serde_json::Value::Null);
        }
    }
    let update = match mammoth_actors::ttl::parse_update(&serde_json::Value::Object(wanted)) {
        Ok(update) => update,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.message),
    };
    let update = mammoth_actors::project::ProjectUpdate {
        ttl: Some(update),
        ..Default::default()
    };
    match handle.update(update).await {
        Ok(_) => Redirect::to(&format!("/dashboard/projects/{id}")).into_response(),
        Err(e) => Failure::from(ApiError::from(e)).into_response(),
    }
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    allowed_origins: String,
    #[serde(default)]
    session_scope: String,
    /// The project's new name; empty or absent keeps it.
    #[serde(default)]
    name: String,
}

/// Sets the project's allowed origins (one per line) and session scope (JSON; empty removes
/// it), validated by the same code as `PATCH /admin/v1/projects/{id}`.
async fn update_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let origins: Result<Vec<String>, _> = form
        .allowed_origins
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| admin::parse_origin(&serde_json::Value::String(l.to_owned())))
        .collect();
    let origins = match origins {
        Ok(o) => o,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.message),
    };
    let scope = form.session_scope.trim();
    let session_scope = if scope.is_empty() {
        None
    } else {
        match serde_json::from_str(scope) {
            Ok(value) => Some(value),
            Err(e) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    &format!("The session scope is not JSON: {e}."),
                );
            }
        }
    };
    // An empty name keeps the current one.
    let name = match form.name.trim() {
        "" => None,
        raw => match ProjectName::parse(raw) {
            Ok(name) => Some(name.into_string()),
            Err(e) => return Failure::from(e).into_response(),
        },
    };
    let update = mammoth_actors::project::ProjectUpdate {
        name,
        allowed_origins: Some(origins),
        session_scope: Some(session_scope),
        ..Default::default()
    };
    match handle.update(update).await {
        Ok(_) => Redirect::to(&format!("/dashboard/projects/{id}")).into_response(),
        Err(e) => Failure::from(ApiError::from(e)).into_response(),
    }
}

//! The operator dashboard at `/dashboard`: server-rendered pages (maud), a little embedded CSS
//! and JS, no build step.
//!
//! Sign-in is by magic link ([`crate::operators`]). The session rides in an `HttpOnly`,
//! `SameSite=Strict`, `Path=/` cookie (`Secure` when the public URL is https). Every
//! state-changing form carries the session's synchronizer token and must come from the public
//! URL's origin ([`csrf`]). Pages call the same registry and `ProjectHandle` operations as the
//! admin API.

mod apidoc;
mod browse;
mod csrf;
mod documents;
mod ops;
mod pages;
mod series;
mod usage;
mod users;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mammoth_actors::project::ProjectHandle;
use mammoth_actors::records::Permission;
use serde::Deserialize;

use crate::http::AppState;
use crate::mail::Mail;
use crate::operators::{OperatorSession, SESSION_TTL_MS};
pub(crate) use csrf::{check_origin, check_token};
pub(crate) use series::track as track_series;
pub use usage::RequestTotals;

/// Name of the operator session cookie.
pub const COOKIE_NAME: &str = "mammoth_operator";

/// The URL an emailed or printed sign-in link points at.
pub fn link_url(public_url: &str, token: &str) -> String {
    format!("{public_url}/dashboard/verify?token={token}")
}

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/", get(home))
        .route("/dashboard/api", get(apidoc::api_page))
        .route("/dashboard/assets/style.css", get(style))
        .route("/dashboard/assets/app.js", get(script))
        .route("/dashboard/assets/ops.js", get(ops_script))
        .route("/dashboard/sign-in", post(sign_in))
        .route("/dashboard/verify", get(verify_page).post(verify))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/dashboard/projects", post(create_project))
        .route("/dashboard/projects/{id}", get(project_page))
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
        .route("/dashboard/projects/{id}/keys", post(create_key))
        .route("/dashboard/projects/{id}/settings", post(update_settings))
        .route("/dashboard/projects/{id}/ttl", post(update_ttl))
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
        .route(
            "/dashboard/projects/{id}/keys/{key_id}/regenerate",
            post(regenerate_key),
        )
        .route(
            "/dashboard/projects/{id}/keys/{key_id}/revoke",
            post(revoke_key),
        )
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

/// The session cookie's token, if the request has one.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

/// A signed-in operator on a dashboard page; without a session, the page shows sign-in.
pub(crate) struct Signed {
    token: String,
    pub(crate) session: OperatorSession,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        cookie_token(&parts.headers)
            .and_then(|token| {
                let session = state.operators.session(&token)?;
                Some(Signed { token, session })
            })
            .ok_or_else(|| Redirect::to("/dashboard").into_response())
    }
}

/// A page that failed: rendered as an HTML error page (the admin API keeps its JSON errors).
pub(crate) struct Failure(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let page = pages::message_page("Something went wrong", &self.1, None);
        (self.0, page).into_response()
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
    state.registry.project(id).ok_or_else(|| {
        Failure(
            StatusCode::NOT_FOUND,
            format!("There is no project '{id}'."),
        )
    })
}

/// Checks a form's origin and synchronizer token.
fn guard(
    headers: &HeaderMap,
    state: &AppState,
    signed: &Signed,
    csrf: &str,
) -> Result<(), Failure> {
    check_origin(headers, &state.public_url)
        .and_then(|()| check_token(&signed.session, csrf))
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

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = cookie_token(&headers).and_then(|t| state.operators.session(&t));
    let Some(session) = session else {
        return pages::sign_in_page(None).into_response();
    };
    let mut projects = Vec::new();
    for handle in state.registry.projects() {
        match (handle.describe().await, handle.document_count().await) {
            (Ok(record), Ok(count)) => projects.push((record, count)),
            (Err(e), _) | (_, Err(e)) => return internal(e).into_response(),
        }
    }
    projects.sort_by(|a, b| a.0.created_at.cmp(&b.0.created_at));
    pages::projects_page(&session, &projects).into_response()
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<EmailForm>,
) -> Response {
    if let Err(message) = check_origin(&headers, &state.public_url) {
        return failure(StatusCode::FORBIDDEN, message).into_response();
    }
    let email = form.email.trim().to_lowercase();
    if email.is_empty() || !email.contains('@') || email.len() > 254 {
        return pages::sign_in_page(Some("Enter an email address like you@example.com."))
            .into_response();
    }
    match state.operators.request_link(&email).await {
        Ok(Some(token)) => state.mailer.send(Mail {
            to: email.clone(),
            subject: "Sign in to the Mammoth dashboard".into(),
            body: format!(
                "Open this link within 15 minutes to sign in to the Mammoth dashboard:\n\n{}\n\nIf you did not ask for it, ignore this email.",
                link_url(&state.public_url, &token)
            ),
            link: link_url(&state.public_url, &token),
        }),
        Ok(None) => {}
        Err(e) => return internal(e).into_response(),
    }
    // The same answer whether or not the email is listed.
    pages::message_page(
        "Check your inbox",
        &format!(
            "If {email} may sign in, a sign-in link is on its way. It works once, for 15 minutes."
        ),
        None,
    )
    .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

/// A link opens a confirmation page rather than signing in on `GET`: mail scanners that follow
/// links cannot burn it, and the cookie is set by a same-site `POST`, so `SameSite=Strict`
/// holds from the first page.
async fn verify_page(Query(form): Query<TokenForm>) -> Response {
    pages::verify_page(&form.token).into_response()
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(message) = check_origin(&headers, &state.public_url) {
        return failure(StatusCode::FORBIDDEN, message).into_response();
    }
    match state.operators.redeem(&form.token).await {
        Ok(Some((token, _))) => {
            let secure = if state.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                SESSION_TTL_MS / 1000
            );
            with_cookie(Redirect::to("/dashboard").into_response(), &cookie)
        }
        Ok(None) => failure(
            StatusCode::UNAUTHORIZED,
            "This sign-in link is not valid: it was already used, has expired, or was mistyped. Ask for a new one.",
        ),
        Err(e) => internal(e),
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    if let Err(e) = state.operators.sign_out(&signed.token).await {
        return internal(e).into_response();
    }
    let cookie = format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    with_cookie(Redirect::to("/dashboard").into_response(), &cookie)
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
    let name = form.name.trim();
    if name.is_empty() || name.len() > 128 {
        return failure(
            StatusCode::BAD_REQUEST,
            "A project name is 1 to 128 characters.",
        );
    }
    match state.registry.create_project(name.to_owned()).await {
        Ok((record, _)) => {
            Redirect::to(&format!("/dashboard/projects/{}", record.id)).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn project_page(
    State(state): State<AppState>,
    signed: Signed,
    axum::extract::Path(id): axum::extract::Path<String>,
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
    let (record, keys, documents) = match (
        handle.describe().await,
        handle.keys().await,
        handle.document_count().await,
    ) {
        (Ok(r), Ok(k), Ok(d)) => (r, k, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(e).into_response(),
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
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let Some(permission) = Permission::parse(&form.permission) else {
        return failure(StatusCode::BAD_REQUEST, "Choose read, write or client.");
    };
    let name = form.name.trim();
    if name.is_empty() || name.len() > 128 {
        return failure(
            StatusCode::BAD_REQUEST,
            "A key name is 1 to 128 characters.",
        );
    }
    match state
        .registry
        .create_key(&handle, name.to_owned(), permission)
        .await
    {
        Ok(key) => {
            let secret = pages::Secret {
                title: "Key created",
                key,
            };
            render_project(&state, &signed, &id, Some(secret)).await
        }
        Err(e) => internal(e),
    }
}

async fn regenerate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    axum::extract::Path((id, key_id)): axum::extract::Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    match state.registry.regenerate_key(&key_id).await {
        Ok(key) => {
            let secret = pages::Secret {
                title: "Key regenerated: the old secret no longer works",
                key,
            };
            render_project(&state, &signed, &id, Some(secret)).await
        }
        Err(e) => failure(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    axum::extract::Path((id, key_id)): axum::extract::Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    match state.registry.delete_key(&key_id).await {
        Ok(()) => Redirect::to(&format!("/dashboard/projects/{id}")).into_response(),
        Err(e) => failure(StatusCode::NOT_FOUND, &e.to_string()),
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
    axum::extract::Path(id): axum::extract::Path<String>,
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
        Err(e) => return internal(e),
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
        Err(e) if e.code == mammoth_actors::ErrorCode::BadRequest => {
            failure(StatusCode::BAD_REQUEST, &e.message)
        }
        Err(e) => internal(e),
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
    axum::extract::Path(id): axum::extract::Path<String>,
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
        .map(|l| crate::http::admin::parse_origin(&serde_json::Value::String(l.to_owned())))
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
    let name = form.name.trim();
    if name.len() > 128 {
        return failure(
            StatusCode::BAD_REQUEST,
            "A project name is 1 to 128 characters.",
        );
    }
    let update = mammoth_actors::project::ProjectUpdate {
        name: (!name.is_empty()).then(|| name.to_owned()),
        allowed_origins: Some(origins),
        session_scope: Some(session_scope),
        ..Default::default()
    };
    match handle.update(update).await {
        Ok(_) => Redirect::to(&format!("/dashboard/projects/{id}")).into_response(),
        Err(e)
            if e.code == mammoth_actors::ErrorCode::BadRequest
                || e.code == mammoth_actors::ErrorCode::InvalidQuery =>
        {
            failure(StatusCode::BAD_REQUEST, &e.message)
        }
        Err(e) => internal(e),
    }
}

//! End-user auth (CONTRACT section 8): sign-up, login, logout, who-am-I, magic links; and the
//! dev mailer's outbox for operators.
//!
//! Every route needs the project's API key in `X-API-Key` (a client key is enough: these are the
//! routes a browser app calls with the key it ships); the end user's session rides in
//! `Authorization: Bearer mms_...`. Read keys may call `GET /v1/auth/me`,
//! `POST /v1/auth/logout` and, being a `GET`, `GET /v1/auth/verify` (CONTRACT section 4: the app's
//! page that receives a magic link verifies it with the key it ships). A password sign-in is three steps, so that Argon2 never runs on an
//! async worker or inside the project actor: the actor counts the attempt and hands out the
//! stored hash, the [`crate::password::PasswordPool`] verifies it, and the actor makes the session.

use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mammoth_actors::access;
use mammoth_actors::users::{
    MAGIC_LINK_TTL_MS, SESSION_PREFIX, SignedIn, WRONG_CREDENTIALS, normalize_email,
};
use serde_json::{Map, Value, json};

use super::admin::Operator;
use super::extract::{AuthKey, JsonObject, bearer, kind_of};
use super::{ApiError, AppState};
use crate::mail::Mail;
use crate::password::{MAX_PASSWORD_CHARS, check_password};

/// Longest `redirect_url` accepted.
const MAX_REDIRECT_LEN: usize = 2_048;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/magic-link", post(magic_link))
        .route("/v1/auth/verify", get(verify))
        .route("/admin/v1/outbox", get(outbox))
}

/// The end user's session token, from `Authorization: Bearer mms_...`.
struct Session(String);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) if token.starts_with(SESSION_PREFIX) => Ok(Session(token.to_owned())),
            _ => Err(ApiError::unauthorized(
                "no session: send the user's session token as Authorization: Bearer mms_... (and the API key in X-API-Key)",
            )),
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/auth/signup",
    tag = "auth",
    summary = "Sign up with email and password",
    request_body = super::openapi::EmailPassword,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Signed up and in", body = super::openapi::SignedIn),
        super::openapi::AuthErrors,
    )
)]
async fn signup(
    State(state): State<AppState>,
    AuthKey(key): AuthKey,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // Refused before any password is hashed (the actor checks again).
    access::require_sign_in(key.permission)?;
    only_fields(&body, &["email", "password"])?;
    let email = normalize_email(required(&body, "email")?)?;
    let password = required(&body, "password")?;
    check_password(password)?;
    let salt = state.config.env.random::<16>();
    let hash = state.passwords.hash(password.to_owned(), salt).await?;
    let signed = key.project.sign_up(key.access, email, Some(hash)).await?;
    Ok(signed_in(StatusCode::CREATED, signed))
}

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Sign in with email and password",
    request_body = super::openapi::EmailPassword,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Signed in", body = super::openapi::SignedIn),
        super::openapi::AuthErrors,
    )
)]
async fn login(
    State(state): State<AppState>,
    AuthKey(key): AuthKey,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // Refused before any password is hashed (the actor checks again).
    access::require_sign_in(key.permission)?;
    only_fields(&body, &["email", "password"])?;
    let email = normalize_email(required(&body, "email")?)?;
    let password = required(&body, "password")?;
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::bad_request(format!(
            "\"password\" has more than {MAX_PASSWORD_CHARS} characters; no account can have it"
        )));
    }
    // The pool place first: an attempt the full pool refuses (503) must not count against the
    // email's throttle, or a login storm would lock everyone out.
    let place = state.passwords.reserve()?;
    let credentials = key.project.attempt_login(key.access.clone(), email).await?;
    // Always one Argon2 verification, against a dummy hash when the email has no account, so
    // a wrong email and a wrong password cost the same time and get the same answer.
    let matches = place
        .verify(password.to_owned(), credentials.password_hash)
        .await?;
    let user_id = match (matches, credentials.user_id) {
        (true, Some(user_id)) => user_id,
        _ => return Err(ApiError::unauthorized(WRONG_CREDENTIALS)),
    };
    let signed = key.project.sign_in(key.access, user_id).await?;
    Ok(signed_in(StatusCode::OK, signed))
}

#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    summary = "End the session",
    security(("api_key" = [], "session" = [])),
    responses(
        (status = 204, description = "The session is dead"),
        super::openapi::AuthErrors,
    )
)]
async fn logout(AuthKey(key): AuthKey, Session(token): Session) -> Result<Response, ApiError> {
    key.project.sign_out(key.access, token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    summary = "The signed-in user",
    security(("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "The user", body = super::openapi::Me),
        super::openapi::AuthErrors,
    )
)]
async fn me(AuthKey(key): AuthKey, Session(token): Session) -> Result<Response, ApiError> {
    let user = key.project.session_user(key.access, token).await?;
    Ok(axum::Json(json!({ "user": user })).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/auth/magic-link",
    tag = "auth",
    summary = "Email a single-use sign-in link",
    request_body = super::openapi::MagicLinkRequest,
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Sent (whether or not the account exists)", body = super::openapi::MagicLinkSent),
        super::openapi::AuthErrors,
    )
)]
async fn magic_link(
    State(state): State<AppState>,
    AuthKey(key): AuthKey,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // Refused before any password is hashed (the actor checks again).
    access::require_sign_in(key.permission)?;
    only_fields(&body, &["email", "redirect_url"])?;
    let email = normalize_email(required(&body, "email")?)?;
    let redirect = match body.get("redirect_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_redirect(s)?),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"redirect_url\" must be a URL string like \"https://app.example.com/after-login\", not {}",
                kind_of(other)
            )));
        }
    };
    let origin = redirect.as_ref().map(|u| u.origin().ascii_serialization());
    let issued = key
        .project
        .request_link(key.access, email.clone(), origin)
        .await?;
    let link = match redirect {
        Some(url) => with_token(url, &issued.token),
        None => format!("{}/v1/auth/verify?token={}", state.public_url, issued.token),
    };
    let minutes = MAGIC_LINK_TTL_MS / 60_000;
    state.mailer.send(Mail {
        to: email,
        subject: format!("Sign in to {}", issued.project_name),
        body: format!(
            "Hello,\n\nUse this link to sign in to {}:\n\n{link}\n\nIt works once and expires in {minutes} minutes. If you did not ask for it, ignore this email.\n",
            issued.project_name
        ),
        link,
    });
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"status": "sent"}))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/auth/verify",
    tag = "auth",
    summary = "Redeem a sign-in link (creates the account when needed)",
    params(("token" = String, Query, min_length = 1, description = "The token from the link")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Signed in", body = super::openapi::SignedIn),
        super::openapi::AuthErrors,
    )
)]
async fn verify(AuthKey(key): AuthKey, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let token = query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "the \"token\" query parameter is missing; call /v1/auth/verify?token=mml_... with the token from the email",
            )
        })?;
    let signed = key.project.redeem_link(key.access, token).await?;
    Ok(signed_in(StatusCode::OK, signed))
}

#[utoipa::path(
    get,
    path = "/admin/v1/outbox",
    tag = "admin",
    summary = "The dev mailer's outbox",
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The messages, oldest first", body = super::openapi::Outbox),
        super::openapi::AdminErrors,
    )
)]
async fn outbox(_: Operator, State(state): State<AppState>) -> Result<Response, ApiError> {
    let messages = state.mailer.outbox_messages().ok_or_else(|| {
        ApiError::not_found(
            "there is no outbox: MAMMOTH_SMTP_URL is set, so mail goes to that SMTP server",
        )
    })?;
    Ok(axum::Json(json!({ "messages": messages })).into_response())
}

fn signed_in(status: StatusCode, signed: SignedIn) -> Response {
    (
        status,
        axum::Json(json!({"user": signed.user, "session_token": signed.session_token})),
    )
        .into_response()
}

fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(field) => Err(ApiError::bad_request(format!(
            "unknown field \"{field}\"; this request takes {}",
            allowed
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "\"{field}\" is required, e.g. {{\"email\": \"ada@example.com\", \"password\": \"at least 8 characters\"}}"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "\"{field}\" must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// Parses a redirect URL: absolute `http(s)`, with a host, no credentials in it.
fn parse_redirect(raw: &str) -> Result<url::Url, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "\"redirect_url\" {why}; send an absolute URL on one of the project's allowed origins, like \"https://app.example.com/after-login\""
        ))
    };
    if raw.len() > MAX_REDIRECT_LEN {
        return Err(bad("is longer than 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.origin().is_tuple() {
        return Err(bad("must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    Ok(url)
}

/// `url` with `token=...` in its query (replacing any `token` already there).
fn with_token(mut url: url::Url, token: &str) -> String {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("token", token);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_joins_the_redirect_query() {
        let url = parse_redirect("https://app.example.com/cb?next=%2Fhome&token=old#top").unwrap();
        assert_eq!(
            with_token(url, "mml_abc"),
            "https://app.example.com/cb?next=%2Fhome&token=mml_abc#top"
        );
        let url = parse_redirect("https://app.example.com").unwrap();
        assert_eq!(
            with_token(url, "mml_x"),
            "https://app.example.com/?token=mml_x"
        );
    }

    #[test]
    fn redirects_are_parsed_not_prefix_matched() {
        let url = parse_redirect("https://app.example.com.evil.com/cb").unwrap();
        assert_eq!(
            url.origin().ascii_serialization(),
            "https://app.example.com.evil.com"
        );
        let url = parse_redirect("https://APP.example.com:443/x").unwrap();
        assert_eq!(
            url.origin().ascii_serialization(),
            "https://app.example.com"
        );
        assert!(parse_redirect("javascript:alert(1)").is_err());
        assert!(parse_redirect("/relative").is_err());
        assert!(parse_redirect("https://user:pw@app.example.com/").is_err());
    }
}

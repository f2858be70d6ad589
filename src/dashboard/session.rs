//! Operator sign-in on the dashboard: the home page (sign-in form or project list), the emailed
//! link, its confirmation page, and sign-out. Cookies and CSRF checks are
//! [`crate::credentials`]'s; accounts and links are [`crate::operators`]'s.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{CsrfForm, Failure, Signed, failure, guard, internal, pages};
use crate::credentials::{check_origin, cleared_cookie, cookie_token, link_url, session_cookie};
use crate::mail::Mail;
use crate::state::AppState;

/// Sign-in, its link, sign-out, and the home page.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/", get(home))
        .route("/dashboard/sign-in", post(sign_in))
        .route("/dashboard/verify", get(verify_page).post(verify))
        .route("/dashboard/sign-out", post(sign_out))
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = cookie_token(&headers).and_then(|t| state.operators.session(&t));
    let Some(session) = session else {
        return pages::sign_in_page(None).into_response();
    };
    match crate::admin::overview(&state).await {
        Ok(projects) => pages::projects_page(&session, &projects).into_response(),
        Err(e) => Failure::from(e).into_response(),
    }
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
            let cookie = session_cookie(&state.public_url, &token);
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
    with_cookie(
        Redirect::to("/dashboard").into_response(),
        &cleared_cookie(),
    )
}

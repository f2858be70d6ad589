//! The end-users page of a project: the users (email, verified, created, last sign-in, live
//! sessions), search by email, revoke every session of a user, delete a user, and magic-link
//! figures. Every action goes through the project actor's operator calls
//! ([`mammoth_actors::project::UsersMsg`]), the same ones the admin API uses.

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::documents::refused;
use super::{CsrfForm, Signed, guard, pages, project};
use crate::http::AppState;

/// Users per page.
const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub(crate) struct Params {
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    done: String,
}

/// The users page.
pub(crate) async fn users_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let (record, page, links) = match (
        handle.describe().await,
        handle
            .list_users(params.q.clone(), params.offset, PAGE)
            .await,
        state.request_totals.links(&handle).await,
    ) {
        (Ok(r), Ok(p), Ok(l)) => (r, p, l),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return refused(e),
    };
    let base = format!("/dashboard/projects/{id}");
    let csrf = &signed.session.csrf;
    let q = url_encode(&params.q);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/dashboard" { "Projects" } " / " a href=(base) { (record.name) } " / " span { "Users" }
        }
        h1 { "Users" }
        @if !params.done.is_empty() { p.notice #done role="status" { (params.done) } }
        section.stats aria-label="Magic-link sign-in" {
            div.stat { span.label { "Users" } strong #user-total { (page.total) } }
            div.stat { span.label { "Magic links sent" } strong #links-requested { (links.requested) } }
            div.stat { span.label { "Magic links used" } strong #links-redeemed { (links.redeemed) } }
            div.stat { span.label { "Links pending" } strong #links-pending { (links.pending) } }
        }
        p.muted { "Sent and used count every link of this project (kept across restarts); pending links expire after 15 minutes." }
        section.card {
            form.inline method="get" action={ (base) "/users" } role="search" {
                label for="user-search" { "Search by email" }
                input #user-search type="search" name="q" value=(params.q) placeholder="ada@";
                button.primary type="submit" { "Search" }
            }
            div.tablewrap {
                table #users {
                    thead { tr {
                        th { "Email" } th { "Verified" } th.hide-sm { "Created" }
                        th { "Last sign-in" } th { "Live sessions" } th { span.sr { "Actions" } }
                    } }
                    tbody {
                        @for u in &page.users {
                            tr data-user=(u.user.email) {
                                td { (u.user.email) }
                                td { @if u.user.email_verified { "yes" } @else { "no" } }
                                td.hide-sm { (u.user.created_at) }
                                td { (u.last_sign_in.as_deref().unwrap_or("—")) }
                                td.sessions { (u.live_sessions) }
                                td.actions {
                                    form method="post" action={ (base) "/users/" (u.user.id) "/revoke" } data-confirm={ "End every session of " (u.user.email) "?" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.ghost.revoke type="submit" aria-label={ "Revoke sessions of " (u.user.email) } { "Revoke sessions" }
                                    }
                                    form method="post" action={ (base) "/users/" (u.user.id) "/delete" } data-confirm={ "Delete " (u.user.email) " and their sessions? This cannot be undone." } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.danger.delete type="submit" aria-label={ "Delete " (u.user.email) } { "Delete" }
                                    }
                                }
                            }
                        }
                        @if page.users.is_empty() { tr { td colspan="6" { "No users." } } }
                    }
                }
            }
            p {
                @if params.offset > 0 {
                    a href={ (base) "/users?q=" (q) "&offset=" (params.offset.saturating_sub(PAGE)) } { "← Previous" } " "
                }
                @if params.offset + page.users.len() < page.total {
                    a href={ (base) "/users?q=" (q) "&offset=" (params.offset + PAGE) } { "Next →" }
                }
            }
        }
    };
    pages::layout("Users", Some(&signed.session), body).into_response()
}

/// Ends every session of a user.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path((id, user_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    match handle.revoke_user_sessions(user_id).await {
        Ok(n) => done(&id, &format!("{n} session(s) ended.")),
        Err(e) => refused(e),
    }
}

/// Deletes a user with their sessions.
pub(crate) async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path((id, user_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    match handle.delete_user(user_id).await {
        Ok(()) => done(&id, "User deleted."),
        Err(e) => refused(e),
    }
}

fn done(id: &str, message: &str) -> Response {
    Redirect::to(&format!(
        "/dashboard/projects/{id}/users?done={}",
        url_encode(message)
    ))
    .into_response()
}

/// Percent-encodes a query-string value.
pub(crate) fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

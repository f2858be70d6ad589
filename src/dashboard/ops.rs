//! The operations page of a project (backups, export, import, request counts and the last
//! hour's chart) and the cluster page. Backups and the cluster view call the same service code as
//! `POST/GET /admin/v1/backups` and `GET /admin/v1/cluster`; export and import are the admin API
//! routes themselves, called by the browser with the session cookie (import by `fetch`-style XHR
//! with `X-CSRF-Token`, so it shows upload progress).

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::documents::refused;
use super::{CsrfForm, Signed, failure, guard, pages, project, series};
use crate::http::AppState;

/// The operations page.
pub(crate) async fn ops_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let record = match handle.describe().await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let backups = crate::http::data::backups(&state).await;
    let points = series::PROCESS.last_hour(series::wall_ms());
    let total = state.request_totals.total(&handle);
    let base = format!("/dashboard/projects/{id}");
    let csrf = &signed.session.csrf;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/dashboard" { "Projects" } " / " a href=(base) { (record.name) } " / " span { "Operations" }
        }
        h1 { "Operations" }
        section.stats aria-label="Requests" {
            div.stat { span.label { "Data requests (all time)" } strong #requests-total { (total) } }
            div.stat { span.label { "Since this start" } strong #requests-start { (handle.requests()) } }
        }
        section.card {
            h2 { "Requests and p99 latency, last hour (whole server)" }
            (series::chart(&points))
        }
        section.card #backups {
            h2 { "Backups" }
            p.muted { "A backup copies the whole data file (every project) while the server keeps serving." }
            form method="post" action={ (base) "/backups" } {
                input type="hidden" name="csrf" value=(csrf);
                button.primary #take-backup type="submit" { "Take a backup" }
            }
            @match &backups {
                Ok(list) => {
                    ul #backup-list {
                        @for b in list {
                            li { code { (b["path"].as_str().unwrap_or("")) } " · " (b["bytes"]) " bytes" }
                        }
                        @if list.is_empty() { li { "No backups yet." } }
                    }
                }
                Err(e) => { p.muted #backup-list { (e.message) } }
            }
        }
        section.card #export {
            h2 { "Export" }
            p { a.button #export-link href={ "/admin/v1/projects/" (id) "/export" } download={ (id) ".ndjson" } { "Download NDJSON" } }
        }
        section.card #import {
            h2 { "Import" }
            p.muted { "NDJSON lines as the export writes them; existing documents with the same id are replaced." }
            form #import-form data-url={ "/admin/v1/projects/" (id) "/import" } {
                label for="import-file" { "File" }
                input #import-file type="file" name="file" accept=".ndjson,.jsonl,application/x-ndjson" required;
                button.primary #import-start type="submit" { "Import" }
                progress #import-progress max="100" value="0" aria-label="Import progress" {}
                p #import-result role="status" aria-live="polite" {}
            }
        }
        script src="/dashboard/assets/ops.js" defer {}
    };
    pages::layout("Operations", Some(&signed.session), body).into_response()
}

/// Takes a backup.
pub(crate) async fn take_backup(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    match crate::http::data::take_backup(&state).await {
        Ok(_) => Redirect::to(&format!("/dashboard/projects/{id}/ops#backups")).into_response(),
        Err(e) => failure(e.status_and_code().0, &e.message),
    }
}

/// The cluster page: nodes and which node owns each project.
pub(crate) async fn cluster_page(State(state): State<AppState>, signed: Signed) -> Response {
    let view = crate::http::cluster::view(&state);
    let empty = Vec::new();
    let nodes = view["nodes"].as_array().unwrap_or(&empty);
    let projects = view["projects"].as_array().unwrap_or(&empty);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/dashboard" { "Projects" } " / " span { "Cluster" } }
        h1 { "Cluster" }
        @if state.cluster.is_none() { p.muted { "This server runs alone: it owns every project." } }
        section.card {
            h2 { "Nodes" }
            div.tablewrap { table #nodes {
                thead { tr { th { "Node" } th { "Address" } th { "State" } th { "Role" } } }
                tbody { @for n in nodes { tr {
                    td { (n["id"]) } td { (n["addr"].as_str().unwrap_or("")) }
                    td { @if n["up"] == true { "up" } @else { "down" } }
                    td { @if n["id"] == view["leader"] { "leader" } @else { "follower" } }
                } } }
            } }
        }
        section.card {
            h2 { "Project owners" }
            div.tablewrap { table #owners {
                thead { tr { th { "Project" } th { "Owner node" } } }
                tbody { @for p in projects { tr {
                    td { a href={ "/dashboard/projects/" (p["id"].as_str().unwrap_or("")) } { (p["id"].as_str().unwrap_or("")) } }
                    td { @if p["owner"].is_null() { "none (no leader)" } @else { (p["owner"]) } }
                } } }
            } }
        }
    };
    pages::layout("Cluster", Some(&signed.session), body).into_response()
}

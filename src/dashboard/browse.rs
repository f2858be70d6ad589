//! The collections browser: collections with counts, a collection's documents paged with the
//! cursor API, one document's JSON, and a query box taking CONTRACT section 7's query JSON.
//! Reads go through the project actor with [`Access::operator_read`].

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mammoth_actors::project::Access;
use mammoth_actors::query::Query;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::{Signed, internal, pages, project};
use crate::http::AppState;

/// Documents per page.
const PAGE_SIZE: u64 = 20;

#[derive(Deserialize, Default)]
pub(crate) struct Params {
    collection: Option<String>,
    cursor: Option<String>,
    doc: Option<String>,
    query: Option<String>,
}

/// The browser page.
pub(crate) async fn data_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<Params>,
) -> Response {
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let (record, collections) = match (
        handle.describe().await,
        handle.collections(Access::operator_read()).await,
    ) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    let base = format!("/dashboard/projects/{id}/data");
    let selected = params.collection.clone().filter(|c| !c.is_empty());
    let query_text = params
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| "{}".into());

    let mut error = None;
    let mut docs: Vec<(String, String)> = Vec::new();
    let mut next = None;
    let mut document = None;
    if let Some(collection) = &selected {
        if let Some(doc_id) = params.doc.as_ref().filter(|d| !d.is_empty()) {
            match handle
                .get(Access::operator_read(), collection.clone(), doc_id.clone())
                .await
            {
                Ok(bytes) => document = Some((doc_id.clone(), pretty(&bytes))),
                Err(e) => error = Some(e.to_string()),
            }
        } else {
            match run_query(&query_text, params.cursor.as_deref()) {
                Err(message) => error = Some(message),
                Ok(query) => match handle
                    .query(Access::operator_read(), collection.clone(), query)
                    .await
                {
                    Ok(page) => {
                        next = page.next_cursor;
                        docs = page.docs.iter().map(|b| summary(b)).collect();
                    }
                    Err(e) => error = Some(e.to_string()),
                },
            }
        }
    }

    let link =
        |collection: &str, extra: &str| format!("{base}?collection={}{extra}", encode(collection));
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/dashboard" { "Projects" } " / "
            a href={ "/dashboard/projects/" (id) } { (record.name) } " / " span { "Data" }
        }
        h1 { "Collections" }
        div.browse {
            section.card aria-label="Collections" {
                h2 { "Collections" }
                @if collections.is_empty() { p.muted { "No documents yet." } }
                ul.collections {
                    @for c in &collections {
                        li { a href=(link(&c.name, "")) aria-current=[(selected.as_deref() == Some(c.name.as_str())).then_some("page")] {
                            span { (c.name) } span.pill { (c.count) }
                        } }
                    }
                }
            }
            section.card aria-live="polite" {
                @if let Some(collection) = &selected {
                    @if let Some((doc_id, json)) = &document {
                        h2 { (collection) " / " code { (doc_id) } }
                        pre.json #document { (json) }
                        p { a href=(link(collection, "")) { "← Back to " (collection) } }
                    } @else {
                        h2 { (collection) }
                        form method="get" action=(base) {
                            input type="hidden" name="collection" value=(collection);
                            label for="query" { "Query (JSON with filter, sort, limit)" }
                            textarea #query name="query" spellcheck="false" { (query_text) }
                            button.primary type="submit" { "Run query" }
                        }
                        @if docs.is_empty() && error.is_none() { p.muted { "No documents match." } }
                        ul.docs #documents {
                            @for (doc_id, preview) in &docs {
                                li {
                                    a href=(link(collection, &format!("&doc={}", encode(doc_id)))) { (doc_id) }
                                    span.preview { (preview) }
                                }
                            }
                        }
                        @if let Some(cursor) = &next {
                            div.pager {
                                a.button href=(link(collection, &format!("&query={}&cursor={}", encode(&query_text), encode(cursor)))) { "Next page →" }
                            }
                        }
                    }
                    @if let Some(error) = &error { p.error #query-error role="alert" { (error) } }
                } @else {
                    h2 { "Pick a collection" }
                    p.muted { "Choose a collection to page through its documents or query it." }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, pages::layout("Data", Some(&signed.session), body)).into_response()
}

/// The query JSON with this page's size and cursor.
fn run_query(text: &str, cursor: Option<&str>) -> Result<Query, String> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| format!("the query is not valid JSON: {e}"))?;
    if let Value::Object(body) = &mut value {
        body.entry("limit").or_insert(PAGE_SIZE.into());
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            body.insert("cursor".into(), cursor.into());
        }
    }
    Query::parse(&value).map_err(|e| e.to_string())
}

fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

/// A document's id and a one-line preview.
fn summary(bytes: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let id = value["id"].as_str().unwrap_or("?").to_owned();
    let mut preview = value.to_string();
    if preview.len() > 160 {
        let mut end = 160;
        while !preview.is_char_boundary(end) {
            end -= 1;
        }
        preview.truncate(end);
        preview.push('…');
    }
    (id, preview)
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

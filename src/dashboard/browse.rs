//! The collections browser: collections with counts, a collection's documents as a table (one
//! column per field path present on the page, nested objects flattened to `a.b`, sortable by
//! clicking a header, which runs the query with that `sort`), a query box taking CONTRACT
//! section 7's query JSON, a JSON editor to create a document, and one document's editor with
//! save and delete ([`super::documents`] handles the writes). Reads go through the project actor
//! with [`Access::operator_read`]; the open collection follows changes live (`assets/app.js`).

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mammoth_actors::project::Access;
use mammoth_actors::query::{MAX_LIMIT, Query};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};

mod table;

use super::documents::encode;
use super::documents::refused;
use super::{Signed, pages, project};
use crate::http::AppState;
use table::table;

/// Documents per page.
const PAGE_SIZE: u64 = 20;

/// At most this many columns; further field paths are left to the document's editor.
const MAX_COLUMNS: usize = 24;

#[derive(Deserialize, Default)]
pub(crate) struct Params {
    collection: Option<String>,
    cursor: Option<String>,
    doc: Option<String>,
    query: Option<String>,
    /// Flash: a document was just created, saved or deleted.
    created: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
}

impl Params {
    pub(crate) fn for_collection(collection: &str) -> Params {
        Params {
            collection: Some(collection.to_owned()),
            ..Default::default()
        }
    }

    pub(crate) fn for_document(collection: &str, doc: &str) -> Params {
        Params {
            collection: Some(collection.to_owned()),
            doc: Some(doc.to_owned()),
            ..Default::default()
        }
    }
}

/// An editor's text sent back to the operator with what was wrong with it.
pub(crate) struct Draft {
    /// The JSON as typed.
    pub(crate) text: String,
    /// Why it was not written.
    pub(crate) error: String,
    /// The ETag the editor was opened with (a save), kept so a stale edit stays stale.
    pub(crate) etag: Option<String>,
}

/// The browser page.
pub(crate) async fn data_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<Params>,
) -> Response {
    render(&state, &signed, &id, params, None, StatusCode::OK).await
}

/// Renders the browser; `draft` is an editor's refused text (the create form when no `doc`).
pub(crate) async fn render(
    state: &AppState,
    signed: &Signed,
    id: &str,
    params: Params,
    draft: Option<Draft>,
    status: StatusCode,
) -> Response {
    let handle = match project(state, id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let (record, collections) = match (
        handle.describe().await,
        handle.collections(Access::operator_read()).await,
    ) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => return refused(e),
    };
    let base = format!("/dashboard/projects/{id}/data");
    let selected = params.collection.clone().filter(|c| !c.is_empty());
    let query_text = params
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| "{}".into());
    let csrf = signed.session.csrf.as_str();

    let mut error = None;
    let mut docs: Vec<Map<String, Value>> = Vec::new();
    let mut next = None;
    let mut document = None;
    if let Some(collection) = &selected {
        if let Some(doc_id) = params.doc.as_ref().filter(|d| !d.is_empty()) {
            match handle
                .get_tagged(Access::operator_read(), collection.clone(), doc_id.clone())
                .await
            {
                Ok((bytes, seq)) => {
                    document = Some((
                        doc_id.clone(),
                        pretty(&bytes),
                        mammoth_actors::etag::format(seq),
                    ))
                }
                Err(e) => error = Some(e.to_string()),
            }
        } else {
            match page_query(&query_text, params.cursor.as_deref()) {
                Err(message) => error = Some(message),
                Ok(query) => match handle
                    .query(Access::operator_read(), collection.clone(), query)
                    .await
                {
                    Ok(page) => {
                        next = page.next_cursor;
                        docs = page
                            .docs
                            .iter()
                            .filter_map(|b| serde_json::from_slice(b).ok())
                            .collect();
                    }
                    Err(e) => error = Some(e.to_string()),
                },
            }
        }
    }
    let draft_error = draft.as_ref().map(|d| d.error.clone());

    let link =
        |collection: &str, extra: &str| format!("{base}?collection={}{extra}", encode(collection));
    let flash = params
        .created
        .as_ref()
        .map(|d| format!("Created document {d}."))
        .or_else(|| params.saved.as_ref().map(|_| "Saved.".to_owned()))
        .or_else(|| {
            params
                .deleted
                .as_ref()
                .map(|d| format!("Deleted document {d}."))
        });
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/dashboard" { "Projects" } " / "
            a href={ "/dashboard/projects/" (id) } { (record.name) } " / " span { "Data" }
        }
        h1 { "Collections" }
        @if let Some(flash) = &flash { p.flash #flash role="status" { (flash) } }
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
            section.card {
                @if let Some(collection) = &selected {
                    @if let Some((doc_id, json, etag)) = &document {
                        h2 { (collection) " / " code { (doc_id) } }
                        (editor(&base, csrf, collection, doc_id, json, etag, draft.as_ref()))
                        p { a #back href=(link(collection, "")) { "← Back to " (collection) } }
                    } @else if params.doc.as_ref().is_some_and(|d| !d.is_empty()) {
                        h2 { (collection) }
                        @if let Some(error) = &error { p.error #query-error role="alert" { (error) } }
                        p { a #back href=(link(collection, "")) { "← Back to " (collection) } }
                    } @else {
                        div.tablehead {
                            h2 { (collection) }
                            @if error.is_none() {
                                span.live #live role="status" data-state="connecting" { "Connecting…" }
                            }
                        }
                        form method="get" action=(base) {
                            input type="hidden" name="collection" value=(collection);
                            label for="query" { "Query (JSON with filter, sort, limit)" }
                            textarea #query name="query" spellcheck="false" { (query_text) }
                            button.primary #run-query type="submit" { "Run query" }
                        }
                        @if let Some(error) = &error { p.error #query-error role="alert" { (error) } }
                        (table(&base, csrf, collection, &query_text, &docs, error.is_none().then_some(params.cursor.as_deref().unwrap_or(""))))
                        @if docs.is_empty() && error.is_none() { p.muted #no-documents { "No documents match." } }
                        @if let Some(cursor) = &next {
                            div.pager {
                                a.button href=(link(collection, &format!("&query={}&cursor={}", encode(&query_text), encode(cursor)))) { "Next page →" }
                            }
                        }
                        (create_form(&base, csrf, collection, draft.as_ref()))
                    }
                } @else {
                    h2 { "Pick a collection" }
                    p.muted { "Choose a collection to page through its documents or query it, or create a document in a new collection." }
                    (create_form(&base, csrf, "", draft.as_ref()))
                }
            }
        }
    };
    let status = if draft_error.is_some() {
        status
    } else if error.is_some() {
        if params.doc.is_some() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        }
    } else {
        status
    };
    (status, pages::layout("Data", Some(&signed.session), body)).into_response()
}

/// The form that creates a document.
fn create_form(base: &str, csrf: &str, collection: &str, draft: Option<&Draft>) -> Markup {
    let text = draft.map_or("{\n  \n}", |d| d.text.as_str());
    html! {
        details.create #create open[draft.is_some()] {
            summary { "New document" }
            form method="post" action={ (base) "/documents" } {
                input type="hidden" name="csrf" value=(csrf);
                label for="new-collection" { "Collection" }
                input #new-collection type="text" name="collection" value=(collection) required
                    pattern="[A-Za-z0-9_-]{1,64}" autocomplete="off";
                label for="new-document" { "Document (JSON object; \"id\" optional)" }
                textarea #new-document name="json" spellcheck="false" rows="8"
                    aria-invalid=[draft.map(|_| "true")] aria-describedby=[draft.map(|_| "create-error")] { (text) }
                @if let Some(draft) = draft { p.error #create-error role="alert" { (draft.error) } }
                button.primary #create-document type="submit" { "Create document" }
            }
        }
    }
}

/// One document's JSON editor, save and delete.
fn editor(
    base: &str,
    csrf: &str,
    collection: &str,
    doc_id: &str,
    json: &str,
    etag: &str,
    draft: Option<&Draft>,
) -> Markup {
    let text = draft.map_or(json, |d| d.text.as_str());
    let etag = draft.and_then(|d| d.etag.as_deref()).unwrap_or(etag);
    html! {
        form.editor method="post" action={ (base) "/documents/save" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="collection" value=(collection);
            input type="hidden" name="doc" value=(doc_id);
            input #etag type="hidden" name="etag" value=(etag);
            label for="document" { "Document JSON " span.muted { "(version " code { (etag) } ", sent as If-Match)" } }
            textarea #document name="json" spellcheck="false" rows="14"
                aria-invalid=[draft.map(|_| "true")] aria-describedby=[draft.map(|_| "edit-error")] { (text) }
            @if let Some(draft) = draft {
                p.error #edit-error role="alert" { (draft.error) }
                @if draft.error == super::documents::stale_message() {
                    p { a #current href={ (base) "?collection=" (encode(collection)) "&doc=" (encode(doc_id)) } { "Open the current version" } }
                }
            }
            button.primary #save type="submit" { "Save" }
        }
        form.deleteform method="post" action={ (base) "/documents/delete" } data-confirm={ "Delete document " (doc_id) "? This cannot be undone." } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="collection" value=(collection);
            input type="hidden" name="doc" value=(doc_id);
            input type="hidden" name="etag" value=(etag);
            button.danger #delete type="submit" { "Delete document" }
        }
    }
}

/// The query JSON with this page's size and cursor: what the page shows, and what its live
/// stream re-runs.
pub(crate) fn page_query(text: &str, cursor: Option<&str>) -> Result<Query, String> {
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

/// The page's query for the realtime subscription that triggers its re-runs: its filter and
/// sort; as the limit, the page's size on the first page (the window is the page), else
/// [`MAX_LIMIT`] (a cursor's page lies somewhere after the first: any change in the first
/// thousand documents re-runs it; a page further out than that is not live).
pub(crate) fn listen_query(text: &str, later_page: bool) -> Result<Query, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the query is not valid JSON: {e}"))?;
    let Value::Object(body) = value else {
        return Err("the query must be a JSON object".into());
    };
    let later_page = later_page || body.contains_key("start_after") || body.contains_key("cursor");
    let mut kept: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| matches!(k.as_str(), "filter" | "sort" | "limit"))
        .collect();
    if later_page {
        kept.insert("limit".into(), MAX_LIMIT.into());
    } else {
        kept.entry("limit").or_insert(PAGE_SIZE.into());
    }
    Query::parse(&Value::Object(kept)).map_err(|e| e.to_string())
}

fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

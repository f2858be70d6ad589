//! The documents table of a collection page: one column per field path present on the page
//! (nested objects flattened to `a.b`), each header a link that reruns the query sorted by it.

use maud::{Markup, html};
use serde_json::{Map, Value};

use super::MAX_COLUMNS;
use crate::dashboard::documents::encode;

/// The documents of one page as a table.
pub(super) fn table(
    base: &str,
    csrf: &str,
    collection: &str,
    query_text: &str,
    docs: &[Map<String, Value>],
    live: Option<&str>,
) -> Markup {
    let columns = columns(docs);
    let rows: Vec<Map<String, Value>> = docs.iter().map(flatten).collect();
    let sorted = current_sort(query_text);
    let live_url = live.map(|cursor| {
        format!(
            "{base}/live?collection={}&query={}&cursor={}",
            encode(collection),
            encode(query_text),
            encode(cursor)
        )
    });
    let columns_json = serde_json::to_string(&columns).unwrap_or_default();
    html! {
        div.tablewrap.docwrap {
            table.doctable #doc-table data-live=[live_url] data-columns=(columns_json)
                data-base=(base) data-collection=(collection) {
                caption.sr { "Documents of " (collection) ". Select a column header to sort by it." }
                thead { tr {
                    @for column in &columns {
                        @let (order, next) = match &sorted {
                            Some((field, desc)) if field == column => (Some(if *desc { "descending" } else { "ascending" }), !*desc),
                            _ => (None, false),
                        };
                        th scope="col" aria-sort=[order] {
                            a.sort href=(sort_link(base, collection, query_text, column, next)) data-column=(column) {
                                (column)
                                @match order { Some("ascending") => span aria-hidden="true" { " ▲" }, Some(_) => span aria-hidden="true" { " ▼" }, None => {} }
                            }
                        }
                    }
                    th scope="col" { span.sr { "Actions" } }
                } }
                tbody #documents {
                    @for row in &rows {
                        @let doc_id = row.get("id").and_then(Value::as_str).unwrap_or("?");
                        tr data-id=(doc_id) {
                            @for column in &columns {
                                @if column == "id" {
                                    td { a.docid href={ (base) "?collection=" (encode(collection)) "&doc=" (encode(doc_id)) } { (doc_id) } }
                                } @else {
                                    td data-column=(column) { (cell(row.get(column))) }
                                }
                            }
                            td.rowactions {
                                form method="post" action={ (base) "/documents/delete" } data-confirm={ "Delete document " (doc_id) "? This cannot be undone." } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="collection" value=(collection);
                                    input type="hidden" name="doc" value=(doc_id);
                                    button.danger type="submit" aria-label={ "Delete " (doc_id) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The page's columns: `id` first, then each flattened field path in the order first seen,
/// `created_at` and `updated_at` last.
fn columns(docs: &[Map<String, Value>]) -> Vec<String> {
    let mut out = vec!["id".to_owned()];
    for doc in docs {
        for path in flatten(doc).keys() {
            if !out.contains(path) && path != "created_at" && path != "updated_at" {
                out.push(path.clone());
            }
        }
    }
    out.truncate(MAX_COLUMNS);
    if docs.iter().any(|d| d.contains_key("created_at")) {
        out.push("created_at".into());
    }
    if docs.iter().any(|d| d.contains_key("updated_at")) {
        out.push("updated_at".into());
    }
    out
}

/// A document's fields by path: nested objects become `a.b`; arrays and scalars are leaves.
fn flatten(doc: &Map<String, Value>) -> Map<String, Value> {
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut Map<String, Value>) {
        for (key, value) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Object(inner) if !inner.is_empty() => walk(&path, inner, out),
                other => {
                    out.insert(path, other.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    walk("", doc, &mut out);
    out
}

/// A cell's text: strings as they are, anything else as JSON, missing as empty.
fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    truncate(text, 120)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The first sort field of the query text and whether it is descending.
fn current_sort(query_text: &str) -> Option<(String, bool)> {
    let value: Value = serde_json::from_str(query_text).ok()?;
    let first = value.get("sort")?.as_array()?.first()?;
    let field = first.get("field")?.as_str()?.to_owned();
    let desc = first.get("order").and_then(Value::as_str) == Some("desc");
    Some((field, desc))
}

/// The page's query sorted by `column` (its filter and limit kept, paging dropped).
fn sort_link(base: &str, collection: &str, query_text: &str, column: &str, desc: bool) -> String {
    let mut query = match serde_json::from_str::<Value>(query_text) {
        Ok(Value::Object(q)) => q,
        _ => Map::new(),
    };
    query.remove("cursor");
    query.remove("start_after");
    let order = if desc { "desc" } else { "asc" };
    query.insert(
        "sort".into(),
        serde_json::json!([{ "field": column, "order": order }]),
    );
    let text = Value::Object(query).to_string();
    format!(
        "{base}?collection={}&query={}",
        encode(collection),
        encode(&text)
    )
}

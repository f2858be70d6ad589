//! `GET /dashboard/api`: the OpenAPI document (CONTRACT section 17) as a plain HTML list of
//! operations, rendered by the binary from the same document `/v1/openapi.json` serves (no
//! CDN, no script). Public, like the document itself.

use maud::{Markup, html};
use serde_json::Value;

use super::pages::layout;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One operation of the document: method, path, summary, tag.
struct Operation {
    method: String,
    path: String,
    summary: String,
    tag: String,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: op["summary"].as_str().unwrap_or("").to_owned(),
                tag: op["tags"][0].as_str().unwrap_or("other").to_owned(),
            });
        }
    }
    out.sort_by(|a, b| a.tag.cmp(&b.tag).then_with(|| a.path.cmp(&b.path)));
    out
}

/// The page.
pub(crate) async fn api_page() -> Markup {
    let doc: Value = serde_json::from_str(crate::http::openapi::json()).unwrap_or(Value::Null);
    let ops = operations(&doc);
    let mut tags: Vec<&str> = ops.iter().map(|o| o.tag.as_str()).collect();
    tags.dedup();
    let body = html! {
        h1 { "API reference" }
        p {
            "Every route of the HTTP API, from its OpenAPI 3.1 description ("
            a href="/v1/openapi.json" { "/v1/openapi.json" }
            ", for client generators)."
        }
        @for tag in &tags {
            h2 { (tag) }
            ul.operations {
                @for op in ops.iter().filter(|o| o.tag == *tag) {
                    li {
                        code { (op.method) " " (op.path) }
                        @if !op.summary.is_empty() { " — " (op.summary) }
                    }
                }
            }
        }
    };
    layout("API reference", None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_document_is_listed() {
        let doc: Value = serde_json::from_str(crate::http::openapi::json()).unwrap();
        let ops = operations(&doc);
        assert!(
            ops.iter()
                .any(|o| o.method == "POST" && o.path == "/v1/batch")
        );
        assert!(
            ops.iter()
                .any(|o| o.method == "GET" && o.path == "/admin/v1/cluster")
        );
        let count: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
            .sum();
        assert_eq!(ops.len(), count);
    }
}

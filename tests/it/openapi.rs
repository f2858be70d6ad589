//! `GET /v1/openapi.json` (CONTRACT section 17): served without credentials, cacheable, and in
//! step with the router: every (method, path) the router serves under `/v1` and `/admin/v1` is
//! in the document, and every operation of the document is served.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Instance;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The document as a client fetches it: no key, no token.
async fn fetch_document(server: &Instance) -> Value {
    let response = server
        .client
        .get(format!("{}/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.starts_with("public"), "{cache}");
    response.json().await.unwrap()
}

/// The (method, path) pairs of the document, e.g. `("POST", "/v1/collections/{name}/query")`.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.as_str().to_lowercase()).is_some() {
                out.insert((method.as_str().to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Whether the router serves `method` on `path` (its parameters filled in): anything but the
/// router's own "no route" answer means a handler took it. No credentials are sent, so no
/// handler does anything beyond refusing the request.
async fn served(server: &Instance, method: &Method, path: &str) -> bool {
    let concrete: String = path
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    let response = server
        .client
        .request(method.clone(), format!("{}{concrete}", server.url))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let fallback = status == StatusCode::NOT_FOUND
        && body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route for"));
    !fallback
}

#[tokio::test]
async fn the_document_and_the_router_list_the_same_operations() {
    let server = Instance::start().await;
    let doc = fetch_document(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let in_doc = documented(&doc);

    let api_paths: Vec<&String> = server
        .routes
        .iter()
        .filter(|p| p.starts_with("/v1/") || p.starts_with("/admin/v1/"))
        .collect();
    // The router walk must see the routes (a change in its output must not hide every route).
    assert!(api_paths.len() >= 20, "{api_paths:?}");

    let mut in_router = BTreeSet::new();
    for path in &api_paths {
        for method in &METHODS {
            if served(&server, method, path).await {
                in_router.insert((method.as_str().to_owned(), (*path).clone()));
            }
        }
    }
    let undocumented: Vec<_> = in_router.difference(&in_doc).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in /v1/openapi.json (add #[utoipa::path] to the handler and list it in \
         src/http/openapi.rs): {undocumented:?}"
    );
    let unserved: Vec<_> = in_doc.difference(&in_router).collect();
    assert!(
        unserved.is_empty(),
        "in /v1/openapi.json but not served: {unserved:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_operation_names_its_credentials_and_errors() {
    let server = Instance::start().await;
    let doc = fetch_document(&server).await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in [
        "api_key",
        "scoped_token",
        "session",
        "root_token",
        "operator_session",
    ] {
        assert!(schemes.contains_key(scheme), "{scheme} missing");
    }
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    // A document holds any fields besides id, created_at and updated_at.
    let document = &doc["components"]["schemas"]["Document"];
    assert_eq!(document["additionalProperties"], true, "{document}");
    assert_eq!(
        document["required"],
        serde_json::json!(["id", "created_at", "updated_at"])
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let security = op["security"].as_array().unwrap_or_else(|| {
                panic!("{method} {path} declares no security");
            });
            if path == "/v1/openapi.json" {
                assert_eq!(security, &[serde_json::json!({})]);
                continue;
            }
            let names: BTreeSet<&str> = security
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                .collect();
            if path.starts_with("/admin/v1/") {
                assert!(names.contains("root_token"), "{method} {path}");
            } else {
                assert!(names.contains("api_key"), "{method} {path}");
            }
            let responses = op["responses"].as_object().unwrap();
            for status in ["400", "401"] {
                let shared = responses[status]["$ref"].as_str().unwrap_or_else(|| {
                    panic!("{method} {path} {status} is not a shared error response")
                });
                let pointer = shared.strip_prefix('#').unwrap();
                let error =
                    &doc.pointer(pointer).unwrap()["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    error, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success response"
            );
        }
    }
    // Operation ids name client functions: present and unique.
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
    }
    // Every reference resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    server.stop().await;
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_dashboard_links_to_the_document() {
    let server = Instance::start().await;
    let page = server
        .client
        .get(format!("{}/dashboard", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/v1/openapi.json\""), "{page}");
    assert!(page.contains("href=\"/dashboard/api\""), "{page}");
    // The operations, listed by the binary itself.
    let response = server
        .client
        .get(format!("{}/dashboard/api", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script src=\"http"), "{page}");
    let doc = fetch_document(&server).await;
    for (method, path) in documented(&doc) {
        let shown = format!("{method} {path}");
        assert!(page.contains(&shown), "{shown} missing from the page");
    }
    server.stop().await;
}

/// A schema's `properties`, following a `$ref` into the components.
fn properties<'d>(doc: &'d Value, schema: &'d Value) -> &'d serde_json::Map<String, Value> {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    schema["properties"].as_object().expect("an object schema")
}

#[tokio::test]
async fn preconditions_batches_backups_import_cluster_and_ttl_have_real_schemas() {
    let server = Instance::start().await;
    let doc = fetch_document(&server).await;
    let paths = &doc["paths"];
    let json_body = |op: &Value, status: &str| {
        op["responses"][status]["content"]["application/json"]["schema"].clone()
    };
    let one = &paths["/v1/collections/{name}/documents/{id}"];
    let params = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(params(&one["get"]), ["If-None-Match"]);
    assert!(one["get"]["responses"]["304"].is_object());
    assert!(one["get"]["responses"]["200"]["headers"]["ETag"].is_object());
    assert_eq!(params(&one["put"]), ["If-Match", "If-None-Match"]);
    for method in ["put", "patch", "delete"] {
        assert!(one[method]["responses"]["412"].is_object(), "{method}");
    }
    assert_eq!(params(&one["patch"]), ["If-Match"]);
    assert!(one["patch"]["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(one["put"]["responses"]["201"]["headers"]["ETag"].is_object());
    assert!(
        paths["/v1/collections/{name}/documents"]["post"]["responses"]["201"]["headers"]["ETag"]
            .is_object()
    );
    assert_eq!(
        doc["components"]["responses"]["E412"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );

    let batch = &paths["/v1/batch"]["post"];
    let request = &batch["requestBody"]["content"]["application/json"]["schema"];
    assert!(properties(&doc, request).contains_key("ops"));
    let result = properties(&doc, &json_body(batch, "200")).clone();
    assert!(result.contains_key("results") && result.contains_key("seq"));
    let backup = properties(&doc, &json_body(&paths["/admin/v1/backups"]["post"], "201")).clone();
    for field in ["path", "bytes", "seq"] {
        assert!(backup.contains_key(field), "{field}");
    }
    let list = json_body(&paths["/admin/v1/backups"]["get"], "200");
    assert!(properties(&doc, &list).contains_key("backups"));
    let import = &paths["/admin/v1/projects/{id}/import"]["post"];
    assert!(import["requestBody"]["content"]["application/x-ndjson"].is_object());
    let imported = properties(&doc, &json_body(import, "200")).clone();
    assert!(imported.contains_key("imported") && imported.contains_key("errors"));
    let cluster = properties(&doc, &json_body(&paths["/admin/v1/cluster"]["get"], "200")).clone();
    assert!(cluster.contains_key("nodes") && cluster.contains_key("projects"));
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Project"]["properties"]["ttl"].is_object());
    assert!(schemas["ProjectUpdate"]["properties"]["ttl"].is_object());
    server.stop().await;
}

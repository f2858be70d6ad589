//! CONTRACT section 6: documents and collections.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code};

#[tokio::test]
async fn create_get_replace_merge_delete_round_trip() {
    let s = Instance::start().await;
    let (status, doc) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"title": "milk", "n": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26, "generated ids are ULIDs");
    assert_eq!(doc["title"], "milk");
    let created_at = doc["created_at"].as_str().unwrap().to_owned();
    assert_eq!(created_at.len(), "2026-11-23T06:07:47.123Z".len());
    assert!(created_at.ends_with('Z'));
    assert_eq!(doc["updated_at"], doc["created_at"]);

    let path = format!("/v1/collections/todos/documents/{id}");
    let (status, got) = s.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, doc);

    let (status, replaced) = s
        .call(Method::PUT, &path, Some(json!({"title": "eggs"})))
        .await;
    assert_eq!(status, StatusCode::OK, "replacing an existing document");
    assert_eq!(replaced["title"], "eggs");
    assert!(replaced.get("n").is_none(), "replace drops fields not sent");
    assert_eq!(
        replaced["created_at"],
        created_at.as_str(),
        "replace keeps created_at"
    );

    let (status, merged) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"title": null, "tags": {"a": 1}, "done": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(merged.get("title").is_none(), "null deletes a field");
    assert_eq!(merged["tags"], json!({"a": 1}));
    let (_, merged) = s
        .call(Method::PATCH, &path, Some(json!({"tags": {"b": 2}})))
        .await;
    assert_eq!(
        merged["tags"],
        json!({"a": 1, "b": 2}),
        "objects merge recursively"
    );
    assert_eq!(merged["done"], true);

    let (status, body) = s.call(Method::DELETE, &path, None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = s.call(Method::GET, &path, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = s.call(Method::DELETE, &path, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = s.call(Method::PATCH, &path, Some(json!({"a": 1}))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "merge into a missing doc"
    );
}

#[tokio::test]
async fn client_ids_conflicts_and_put_creates() {
    let s = Instance::start().await;
    let body = json!({"id": "task-1.a_B", "v": 1});
    let (status, doc) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(doc["id"], "task-1.a_B");
    let (status, err) = s
        .call(Method::POST, "/v1/collections/c/documents", Some(body))
        .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "conflict"));

    let (status, doc) = s
        .call(
            Method::PUT,
            "/v1/collections/c/documents/fresh",
            Some(json!({"v": 2})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "PUT creates a missing document"
    );
    assert_eq!(doc["id"], "fresh");
    let (status, err) = s
        .call(
            Method::PUT,
            "/v1/collections/c/documents/fresh",
            Some(json!({"id": "other"})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "body id differs from path"
    );
    let (status, _) = s
        .call(
            Method::PUT,
            "/v1/collections/c/documents/fresh",
            Some(json!({"id": "fresh", "v": 3})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a body id equal to the path is fine"
    );

    for bad in [
        json!({"id": 5}),
        json!({"id": ""}),
        json!({"id": "a/b"}),
        json!({"id": "x".repeat(129)}),
    ] {
        let (status, err) = s
            .call(
                Method::POST,
                "/v1/collections/c/documents",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn server_fields_are_managed_by_the_server() {
    let s = Instance::start().await;
    let (_, doc) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(json!({"created_at": "1999-01-01T00:00:00.000Z", "updated_at": "x", "a": 1})),
        )
        .await;
    assert_ne!(doc["created_at"], "1999-01-01T00:00:00.000Z");
    assert_ne!(doc["updated_at"], "x");
    let path = format!(
        "/v1/collections/c/documents/{}",
        doc["id"].as_str().unwrap()
    );
    let (_, merged) = s
        .call(Method::PATCH, &path, Some(json!({"created_at": null})))
        .await;
    assert_eq!(
        merged["created_at"], doc["created_at"],
        "created_at cannot be deleted or changed"
    );
}

#[tokio::test]
async fn collections_are_listed_sorted_with_counts_and_vanish_when_empty() {
    let s = Instance::start().await;
    for (collection, n) in [("zeta", 1), ("alpha", 3), ("mid-dle_1", 2)] {
        for i in 0..n {
            let (status, _) = s
                .call(
                    Method::POST,
                    &format!("/v1/collections/{collection}/documents"),
                    Some(json!({"id": format!("d{i}")})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
    }
    let (status, list) = s.call(Method::GET, "/v1/collections", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!({"collections": [
            {"name": "alpha", "count": 3}, {"name": "mid-dle_1", "count": 2}, {"name": "zeta", "count": 1}
        ]})
    );
    s.call(Method::DELETE, "/v1/collections/zeta/documents/d0", None)
        .await;
    let (_, list) = s.call(Method::GET, "/v1/collections", None).await;
    assert_eq!(
        list["collections"].as_array().unwrap().len(),
        2,
        "an empty collection does not exist"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_400s() {
    let s = Instance::start().await;
    let url = format!("{}/v1/collections/c/documents", s.url);
    let raw = |body: &'static str| {
        s.client
            .post(&url)
            .header("X-API-Key", &s.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in ["{not json", "", "[1,2]", "\"text\"", "42", "null"] {
        let (status, err) = crate::read(raw(body).await.unwrap()).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "body {body:?}"
        );
    }
    for name in ["has.dot", "sp ace", &"x".repeat(65)] {
        let (status, err) = s
            .call(
                Method::POST,
                &format!("/v1/collections/{name}/documents"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "name {name}"
        );
    }
    let (status, err) = s
        .call(Method::GET, "/v1/collections/c/documents/bad%20id", None)
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
}

fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth - 1 {
        value = json!({"n": value});
    }
    value
}

#[tokio::test]
async fn depth_and_size_limits() {
    let s = Instance::start().await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(nested(33)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "32 levels of objects (plus a scalar) are allowed"
    );
    let (status, err) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(nested(34)),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "33 levels are too deep"
    );
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let response = s
        .client
        .post(format!("{}/v1/collections/c/documents", s.url))
        .header("X-API-Key", &s.key)
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, err) = crate::read(response).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "deep nesting never crashes"
    );

    let big = json!({"blob": "x".repeat(1 << 20)});
    let (status, err) = s
        .call(Method::POST, "/v1/collections/c/documents", Some(big))
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let just_under = json!({"blob": "x".repeat((1 << 20) - 200)});
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(just_under),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a body under 1 MiB is accepted"
    );
    let (_, doc) = s
        .call(
            Method::POST,
            "/v1/collections/c/documents",
            Some(json!({"blob": "x".repeat((1 << 20) - 300)})),
        )
        .await;
    let path = format!(
        "/v1/collections/c/documents/{}",
        doc["id"].as_str().unwrap()
    );
    let (status, err) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"more": "y".repeat(1000)})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "a merge may not grow a doc past 1 MiB"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_404() {
    let s = Instance::start().await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::DELETE, "/v1/collections"),
        (Method::POST, "/v1/collections/c/documents/x"),
    ] {
        let (status, err) = s.call(method, path, None).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn healthz_and_metrics() {
    let s = Instance::start().await;
    let (status, body) = s.call_with("", Method::GET, "/healthz", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    s.call(Method::POST, "/v1/collections/c/documents", Some(json!({})))
        .await;
    let anonymous = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "metrics take the root token"
    );
    let (status, _) = crate::read(
        s.client
            .get(format!("{}/metrics", s.url))
            .bearer_auth("not-the-root-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let text = s
        .client
        .get(format!("{}/metrics", s.url))
        .bearer_auth(crate::ROOT)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("mammoth_documents{{project=\"{}\"}} 1", s.project);
    assert!(text.lines().any(|l| l == line), "{text}");
    assert!(text.lines().any(|l| l == "mammoth_projects 1"), "{text}");
    assert!(
        text.lines().any(|l| l == "mammoth_password_hash_queue 0"),
        "{text}"
    );
    // In memory, writes are acknowledged before the writer commits them: pending may be 0 or 1.
    assert!(
        text.lines()
            .any(|l| l.starts_with("mammoth_storage_pending ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("mammoth_storage_commits_total ")),
        "{text}"
    );
}

//! One project never sees another's data, whatever it sends.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Instance, code};

#[tokio::test]
async fn projects_cannot_see_each_others_data() {
    let s = Instance::start().await;
    let (_, key_a) = s.new_project("a").await;
    let (_, key_b) = s.new_project("b").await;
    let path = "/v1/collections/shared/documents/same-id";
    let (status, _) = s
        .call_with(&key_a, Method::PUT, path, Some(json!({"owner": "a"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, err) = s.call_with(&key_b, Method::GET, path, None).await;
    assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, list) = s
        .call_with(&key_b, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(list, json!({"collections": []}));
    let (status, _) = s.call_with(&key_b, Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, doc) = s
        .call_with(&key_b, Method::PUT, path, Some(json!({"owner": "b"})))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same id in another project is another document"
    );
    assert_eq!(doc["owner"], "b");
    let (_, doc) = s.call_with(&key_a, Method::GET, path, None).await;
    assert_eq!(doc["owner"], "a");

    // Resetting one project leaves the other untouched.
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/projects/{}/reset", s.project),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, doc) = s.call_with(&key_a, Method::GET, path, None).await;
    assert_eq!(doc["owner"], "a");
}

#[tokio::test]
async fn a_panic_in_one_project_leaves_the_others_serving() {
    let s = Instance::start().await;
    let (a, key_a) = s.new_project("a").await;
    let (_, key_b) = s.new_project("b").await;
    let path = "/v1/collections/c/documents/d";
    s.call_with(&key_a, Method::PUT, path, Some(json!({"v": "a"})))
        .await;
    s.call_with(&key_b, Method::PUT, path, Some(json!({"v": "b"})))
        .await;

    let (status, _) = s
        .admin(Method::POST, &format!("/projects/{a}/crash"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for _ in 0..50 {
        let (status, doc) = s.call_with(&key_b, Method::GET, path, None).await;
        assert_eq!((status, doc["v"].clone()), (StatusCode::OK, json!("b")));
    }
    // Project a comes back from storage with its data; while it restarts it may answer 503.
    let mut restored = None;
    for _ in 0..200 {
        let (status, doc) = s.call_with(&key_a, Method::GET, path, None).await;
        if status == StatusCode::OK {
            restored = Some(doc);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(restored.expect("project a came back")["v"], "a");
}

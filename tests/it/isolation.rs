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
}

/// Resetting project b, which holds the same collection and id as a, empties b only.
#[tokio::test]
async fn resetting_one_project_leaves_the_other_untouched() {
    let s = Instance::start().await;
    let (_, key_a) = s.new_project("a").await;
    let (b, key_b) = s.new_project("b").await;
    let path = "/v1/collections/shared/documents/same-id";
    for (key, owner) in [(&key_a, "a"), (&key_b, "b")] {
        let (status, _) = s
            .call_with(key, Method::PUT, path, Some(json!({"owner": owner})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let (status, _) = s
        .admin(Method::POST, &format!("/projects/{b}/reset"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _) = s.call_with(&key_b, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the reset emptied b");
    let (status, doc) = s.call_with(&key_a, Method::GET, path, None).await;
    assert_eq!((status, doc["owner"].clone()), (StatusCode::OK, json!("a")));
    let (_, list) = s
        .call_with(&key_a, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(
        list["collections"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
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

    let mut restarts = s.running.registry().restarts();
    let before = *restarts.borrow_and_update();
    let (status, _) = s
        .admin(Method::POST, &format!("/projects/{a}/crash"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // While a restarts (it may answer 503), b keeps serving.
    for _ in 0..50 {
        let (status, doc) = s.call_with(&key_b, Method::GET, path, None).await;
        assert_eq!((status, doc["v"].clone()), (StatusCode::OK, json!("b")));
    }
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        restarts.wait_for(|n| *n > before),
    )
    .await
    .expect("project a restarted")
    .unwrap();
    // Project a is back from storage with its data.
    let (status, doc) = s.call_with(&key_a, Method::GET, path, None).await;
    assert_eq!((status, doc["v"].clone()), (StatusCode::OK, json!("a")));
}

//! CONTRACT section 18: a per-project byte quota (`--max-project-bytes`) over the encoded size of
//! stored documents; a write past it answers 413, deletes and shrinking writes always pass, and the
//! count is rebuilt from storage on restart.

use mammoth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code};

/// The quota the tests run with.
const QUOTA: u64 = 1_000;

/// A body whose stored form (with `id`, `created_at`, `updated_at`) is a few hundred bytes.
fn body(fill: usize) -> Value {
    json!({ "pad": "x".repeat(fill) })
}

fn with_quota(mut config: Config) -> Config {
    config.max_project_bytes = QUOTA;
    config
}

/// Encoded size of a stored document, as the server answers it.
fn stored_len(doc: &Value) -> u64 {
    serde_json::to_vec(doc).unwrap().len() as u64
}

#[tokio::test]
async fn writes_past_the_quota_answer_413_deletes_make_room_and_a_restart_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Instance::with_config(with_quota(Config::on_disk(dir.path()))).await;
    let (project, key) = (s.project.clone(), s.key.clone());

    // Two documents of ~400 bytes fit under 1000.
    let mut used = 0;
    for id in ["a", "b"] {
        let (status, doc) = s
            .call(
                Method::PUT,
                &format!("/v1/collections/c/documents/{id}"),
                Some(body(300)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        used += stored_len(&doc);
    }
    assert!(used < QUOTA && used + 400 > QUOTA, "used {used}");

    // A third one does not, on any write route, in another collection too.
    let (status, err) = s
        .call(
            Method::POST,
            "/v1/collections/other/documents",
            Some(body(300)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(code(&err), "payload_too_large");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("1000"), "names the quota: {message}");
    assert!(message.contains("--max-project-bytes"), "{message}");
    assert!(message.contains("delete documents"), "{message}");
    let (status, _) = s
        .call(
            Method::PUT,
            "/v1/collections/c/documents/z",
            Some(body(300)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Growing an existing document past the quota by merge is refused too, and changes nothing.
    let (status, _) = s
        .call(
            Method::PATCH,
            "/v1/collections/c/documents/a",
            Some(json!({"more": "y".repeat(400)})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, a) = s
        .call(Method::GET, "/v1/collections/c/documents/a", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(a.get("more").is_none(), "a refused write leaves no trace");
    let (status, _) = s
        .call(Method::GET, "/v1/collections/other/documents/z", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Shrinking is always allowed.
    let (status, _) = s
        .call(Method::PUT, "/v1/collections/c/documents/a", Some(body(10)))
        .await;
    assert_eq!(status, StatusCode::OK);

    // The quota is per project: another project is untouched by this one's usage.
    let (_, other_key) = s.new_project("other").await;
    let (status, _) = s
        .call_with(
            &other_key,
            Method::PUT,
            "/v1/collections/c/documents/a",
            Some(body(300)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    s.stop().await;

    // After a restart the usage is recounted from storage: still full.
    let s = Instance::with_config(with_quota(Config::on_disk(dir.path()))).await;
    let (status, doc) = s
        .call_with(
            &key,
            Method::PUT,
            "/v1/collections/c/documents/big",
            Some(body(600)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{doc} ({project})");

    // A delete makes room.
    let (status, _) = s
        .call_with(&key, Method::DELETE, "/v1/collections/c/documents/b", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, doc) = s
        .call_with(
            &key,
            Method::PUT,
            "/v1/collections/c/documents/big",
            Some(body(600)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");

    // A reset empties the project, and its usage with it.
    let (status, _) = s
        .call_with(
            &key,
            Method::PUT,
            "/v1/collections/c/documents/z",
            Some(body(300)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = s
        .admin(Method::POST, &format!("/projects/{project}/reset"), None)
        .await;
    assert!(status.is_success(), "{status}");
    for id in ["p", "q"] {
        let (status, doc) = s
            .call_with(
                &key,
                Method::PUT,
                &format!("/v1/collections/c/documents/{id}"),
                Some(body(300)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    s.stop().await;
}

#[tokio::test]
async fn no_quota_by_default() {
    let s = Instance::start().await;
    for i in 0..4 {
        let (status, doc) = s
            .call(
                Method::PUT,
                &format!("/v1/collections/c/documents/d{i}"),
                Some(body(300_000)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    s.stop().await;
}

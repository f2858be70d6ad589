//! CONTRACT section 5: the operators' API.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Instance, code};

#[tokio::test]
async fn projects_are_created_listed_and_updated() {
    let s = Instance::start().await;
    let (status, created) = s
        .admin(Method::POST, "/projects", Some(json!({"name": "shop"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let project = &created["project"];
    let id = project["id"].as_str().unwrap();
    assert_eq!(project["name"], "shop");
    assert!(project["created_at"].as_str().unwrap().ends_with('Z'));
    let key = &created["api_key"];
    assert_eq!(key["permission"], "write");
    assert!(key["key"].as_str().unwrap().starts_with("mm_"));
    for field in ["id", "name", "created_at"] {
        assert!(key.get(field).is_some(), "KEY has {field}");
    }

    let (status, list) = s.admin(Method::GET, "/projects", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&"shop"),
        "{names:?}"
    );

    let (status, updated) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{id}"),
            Some(json!({"name": "store", "allowed_origins": ["https://app.example.com", "http://localhost:3000/"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "store");
    assert_eq!(
        updated["allowed_origins"],
        json!(["https://app.example.com", "http://localhost:3000"])
    );

    for bad in [
        json!({"allowed_origins": ["not a url"]}),
        json!({"allowed_origins": ["https://app.example.com/path"]}),
        json!({"allowed_origins": "https://app.example.com"}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"colour": "red"}),
    ] {
        let (status, err) = s
            .admin(Method::PATCH, &format!("/projects/{id}"), Some(bad.clone()))
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    let (status, _) = s
        .admin(Method::PATCH, "/projects/nope", Some(json!({"name": "x"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [json!({}), json!({"name": ""}), json!({"name": ["x"]})] {
        let (status, err) = s.admin(Method::POST, "/projects", Some(bad.clone())).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn reset_empties_the_project_but_keeps_its_keys() {
    let s = Instance::start().await;
    for i in 0..5 {
        s.call(
            Method::POST,
            &format!("/v1/collections/c{i}/documents"),
            Some(json!({"i": i})),
        )
        .await;
    }
    let (status, body) = s
        .admin(
            Method::POST,
            &format!("/projects/{}/reset", s.project),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    let (status, list) = s.call(Method::GET, "/v1/collections", None).await;
    assert_eq!(
        (status, list),
        (StatusCode::OK, json!({"collections": []})),
        "the key still works"
    );
    let (status, _) = s.admin(Method::POST, "/projects/nope/reset", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn key_creation_is_validated() {
    let s = Instance::start().await;
    let path = format!("/projects/{}/keys", s.project);
    for bad in [
        json!({"name": "x", "permission": "admin"}),
        json!({"permission": "read"}),
        json!({"name": "x", "permission": 1}),
    ] {
        let (status, err) = s.admin(Method::POST, &path, Some(bad.clone())).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    let (status, _) = s
        .admin(
            Method::POST,
            "/projects/nope/keys",
            Some(json!({"name": "x", "permission": "read"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

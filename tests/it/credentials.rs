//! CONTRACT section 4: API keys, read keys, regeneration and revocation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Instance, code};

#[tokio::test]
async fn missing_malformed_and_forged_keys_are_401() {
    let s = Instance::start().await;
    let other = Instance::start().await; // another server, another signing secret
    let forged = other.key.clone();
    let tampered = format!("{}x", &s.key[..s.key.len() - 1]);
    for key in [
        "",
        "mm_",
        "nonsense",
        "mm_a.b.c",
        forged.as_str(),
        tampered.as_str(),
    ] {
        let (status, err) = s.call_with(key, Method::GET, "/v1/collections", None).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "key {key:?}"
        );
    }
}

#[tokio::test]
async fn a_key_works_as_a_bearer_token_too() {
    let s = Instance::start().await;
    let response = s
        .client
        .get(format!("{}/v1/collections", s.url))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = s
        .client
        .get(format!("{}/v1/collections", s.url))
        .bearer_auth("mm_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn read_keys_read_but_never_write() {
    let s = Instance::start().await;
    s.call(
        Method::POST,
        "/v1/collections/c/documents",
        Some(json!({"id": "d1", "a": 1})),
    )
    .await;
    let read = s.new_key(&s.project, "ro", "read").await;
    assert_eq!(read["permission"], "read");
    let key = read["key"].as_str().unwrap();

    let (status, _) = s
        .call_with(key, Method::GET, "/v1/collections/c/documents/d1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call_with(key, Method::GET, "/v1/collections", None).await;
    assert_eq!(status, StatusCode::OK);
    let writes = [
        (
            Method::POST,
            "/v1/collections/c/documents",
            Some(json!({"a": 2})),
        ),
        (
            Method::PUT,
            "/v1/collections/c/documents/d1",
            Some(json!({"a": 2})),
        ),
        (
            Method::PATCH,
            "/v1/collections/c/documents/d1",
            Some(json!({"a": 2})),
        ),
        (Method::DELETE, "/v1/collections/c/documents/d1", None),
    ];
    for (method, path, body) in writes {
        let (status, err) = s.call_with(key, method.clone(), path, body).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path}"
        );
    }
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/c/documents/d1", None)
        .await;
    assert_eq!(doc["a"], 1, "nothing changed");
}

#[tokio::test]
async fn regenerated_and_revoked_keys_die_on_the_next_request() {
    let s = Instance::start().await;
    let first = s.new_key(&s.project, "staging", "write").await;
    let second = s.new_key(&s.project, "ci", "read").await;
    let (k1, k2) = (
        first["key"].as_str().unwrap(),
        second["key"].as_str().unwrap(),
    );
    assert_eq!(
        s.call_with(k1, Method::GET, "/v1/collections", None)
            .await
            .0,
        StatusCode::OK
    );

    let (status, regenerated) = s
        .admin(
            Method::POST,
            &format!("/keys/{}/regenerate", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(regenerated["id"], first["id"]);
    assert_eq!(regenerated["name"], "staging");
    assert_eq!(regenerated["permission"], "write");
    let new_key = regenerated["key"].as_str().unwrap();
    assert_ne!(new_key, k1);
    let (status, err) = s.call_with(k1, Method::GET, "/v1/collections", None).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "old key dead"
    );
    assert_eq!(
        s.call_with(new_key, Method::GET, "/v1/collections", None)
            .await
            .0,
        StatusCode::OK
    );

    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/keys/{}", second["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call_with(k2, Method::GET, "/v1/collections", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked key dead");

    let (status, err) = s
        .admin(
            Method::DELETE,
            &format!("/keys/{}", second["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = s.admin(Method::POST, "/keys/nope/regenerate", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_are_listed_without_secrets() {
    let s = Instance::start().await;
    let key = s.new_key(&s.project, "staging", "read").await;
    let (status, list) = s
        .admin(Method::GET, &format!("/projects/{}/keys", s.project), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the default key and the new one");
    let listed = keys.iter().find(|k| k["id"] == key["id"]).unwrap();
    assert_eq!(listed["name"], "staging");
    assert_eq!(listed["permission"], "read");
    assert_eq!(listed["created_at"], key["created_at"]);
    let secret = key["key"].as_str().unwrap();
    assert_eq!(listed["last4"], &secret[secret.len() - 4..]);
    assert!(listed.get("key").is_none());
    assert!(
        !list.to_string().contains(secret),
        "no secret anywhere in the listing"
    );
}

#[tokio::test]
async fn the_admin_api_needs_the_root_token() {
    let s = Instance::start().await;
    let url = format!("{}/admin/v1/projects", s.url);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic abc"),
        Some(s.key.as_str()),
    ] {
        let mut request = s.client.get(&url);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let (status, err) = crate::read(request.send().await.unwrap()).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn without_a_root_token_the_admin_api_is_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = mammoth::server::Server::start(mammoth::config::Config::in_memory(), listener)
        .await
        .unwrap();
    let url = format!("http://{}/admin/v1/projects", server.local_addr());
    tokio::spawn(server.serve(std::future::pending()));
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    let (status, err) = crate::read(response).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MAMMOTH_ROOT_TOKEN")
    );
}

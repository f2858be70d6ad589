//! CONTRACT section 10: CORS.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::Instance;

const ORIGIN: &str = "https://app.example.com";

#[tokio::test]
async fn preflights_are_answered_for_any_origin_on_every_v1_route() {
    let s = Instance::start().await;
    for path in [
        "/v1/collections/todos/query",
        "/v1/collections",
        "/v1/auth/signup",
        "/v1/tokens",
    ] {
        let r = s
            .client
            .request(Method::OPTIONS, format!("{}{path}", s.url))
            .header("Origin", "https://anywhere.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-api-key, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://anywhere.example");
        assert_eq!(
            h["access-control-allow-methods"],
            "GET, POST, PUT, PATCH, DELETE"
        );
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for name in [
            "x-api-key",
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "last-event-id",
        ] {
            assert!(allowed.contains(name), "{name} in {allowed}");
        }
        assert!(h.contains_key("access-control-max-age"));
        assert_eq!(h["vary"], "Origin");
        assert!(!h.contains_key("access-control-allow-credentials"));
    }
}

#[tokio::test]
async fn every_v1_answer_to_a_browser_carries_the_headers_errors_included() {
    let s = Instance::start().await;
    let cases = [
        (
            Method::GET,
            "/v1/collections",
            s.key.clone(),
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/v1/collections/todos/documents/nope",
            s.key.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/collections",
            "mm_bad".to_owned(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::GET,
            "/v1/nothing-here",
            s.key.clone(),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, key, want) in cases {
        let r = s
            .client
            .request(method, format!("{}{path}", s.url))
            .header("Origin", ORIGIN)
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN, "{path}");
        assert_eq!(h["vary"], "Origin");
        assert_eq!(h["access-control-expose-headers"], "ETag, Retry-After");
        assert!(!h.contains_key("access-control-allow-credentials"));
    }
    // Servers and curl send no Origin: no CORS headers, nothing refused.
    let r = s
        .client
        .get(format!("{}/v1/collections", s.url))
        .header("X-API-Key", &s.key)
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_project_with_allowed_origins_refuses_other_origins() {
    let s = Instance::start().await;
    let (status, _) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({"allowed_origins": [ORIGIN]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let send = |origin: Option<&'static str>, method: Method, path: &'static str| {
        let mut r = s
            .client
            .request(method, format!("{}{path}", s.url))
            .header("X-API-Key", &s.key)
            .json(&json!({"email": "x@example.com", "password": "long enough pw"}));
        if let Some(origin) = origin {
            r = r.header("Origin", origin);
        }
        r.send()
    };
    for (method, path) in [
        (Method::GET, "/v1/collections"),
        (Method::PUT, "/v1/collections/todos/documents/a"),
        (Method::POST, "/v1/auth/signup"),
        (Method::POST, "/v1/tokens"),
    ] {
        let r = send(Some("https://evil.example"), method.clone(), path)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(!r.headers().contains_key("access-control-allow-origin"));
        let (_, body) = crate::read(r).await;
        assert_eq!(crate::code(&body), "forbidden");
    }
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/a", None)
        .await;
    assert_eq!(
        crate::code(&doc),
        "not_found",
        "the refused write did not happen"
    );
    let r = send(
        Some(ORIGIN),
        Method::PUT,
        "/v1/collections/todos/documents/a",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let r = send(None, Method::GET, "/v1/collections").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no Origin is never refused");
}

#[tokio::test]
async fn admin_and_dashboard_send_no_cors_headers() {
    let s = Instance::start().await;
    for path in ["/admin/v1/projects", "/dashboard"] {
        for method in [Method::GET, Method::OPTIONS] {
            let r = s
                .client
                .request(method.clone(), format!("{}{path}", s.url))
                .header("Origin", ORIGIN)
                .header("Access-Control-Request-Method", "GET")
                .bearer_auth(crate::ROOT)
                .send()
                .await
                .unwrap();
            assert!(
                !r.headers().contains_key("access-control-allow-origin"),
                "{method} {path}"
            );
        }
    }
}

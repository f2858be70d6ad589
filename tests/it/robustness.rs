//! Every bad input gets a clear 4xx JSON error, never a 5xx, a panic or a hang: a few thousand
//! random requests (a fixed seed, so every run sends the same) against every route.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Instance;

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next(if depth > 3 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.next(2) == 0),
            2 => json!(self.next(1_000_000) as i64 - 500_000),
            3 => json!(f64::from(self.next(1000) as u32) / 7.0),
            4 => json!(u64::MAX),
            5 => json!(self.pick(&[
                "",
                "a",
                "é🦣",
                "$gt",
                "a.b",
                "\u{0}",
                "x".repeat(300).as_str()
            ])),
            6 => Value::Array((0..self.next(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let keys = [
                    "id",
                    "$eq",
                    "$gt",
                    "$in",
                    "$prefix",
                    "status",
                    "a.b",
                    "",
                    "created_at",
                    "filter",
                    "sort",
                    "limit",
                    "start_after",
                    "cursor",
                    "scope",
                    "ttl",
                    "permission",
                    "email",
                    "password",
                    "name",
                    "field",
                    "order",
                ];
                let mut map = serde_json::Map::new();
                for _ in 0..self.next(5) {
                    map.insert(self.pick(&keys).to_owned(), self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

#[tokio::test]
async fn random_requests_never_get_a_5xx() {
    let s = Instance::start().await;
    s.call(
        Method::PUT,
        "/v1/collections/c/documents/d",
        Some(json!({"a": 1})),
    )
    .await;
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = minted["token"].as_str().unwrap().to_owned();
    let paths = [
        "/v1/collections",
        "/v1/collections/c/documents",
        "/v1/collections/c/documents/d",
        "/v1/collections/c/query",
        "/v1/collections/%ZZ/documents",
        "/v1/collections/a%2Fb/documents/x",
        "/v1/collections/c/documents/..",
        "/v1/tokens",
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/me",
        "/v1/auth/magic-link",
        "/v1/auth/verify?token=%FF",
        "/v1/auth/verify",
        "/admin/v1/projects",
        "/admin/v1/keys/x/regenerate",
        "/healthz",
    ];
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    for i in 0..1500 {
        let method = methods[rng.next(methods.len() as u64) as usize].clone();
        let path = rng.pick(&paths);
        let mut request = s.client.request(method.clone(), format!("{}{path}", s.url));
        request = match rng.next(6) {
            0 => request,
            1 => request.header("X-API-Key", "mm_garbage"),
            2 => request.header("X-API-Key", &s.key).bearer_auth(&token),
            3 => request
                .header("X-API-Key", &s.key)
                .header("Authorization", "Bearer mms_nope"),
            4 => request.header("Authorization", "Basic Zm9vOmJhcg=="),
            _ => request.header("X-API-Key", &s.key),
        };
        let body = match rng.next(4) {
            0 => Vec::new(),
            1 => (0..rng.next(64)).map(|_| rng.next(256) as u8).collect(),
            _ => rng.value(0).to_string().into_bytes(),
        };
        let response = request.body(body.clone()).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            !status.is_server_error(),
            "request {i}: {method} {path} with {:?} answered {status}: {text}",
            String::from_utf8_lossy(&body)
        );
        if !status.is_success() {
            let error: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("request {i}: {method} {path}: not JSON: {text}"));
            assert!(error["error"]["code"].is_string(), "request {i}: {text}");
        }
    }
    let (status, _) = s.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

//! CONTRACT section 9: scoped tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mammoth::config::Config;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code};

impl Instance {
    /// Mints a token with the bootstrap key.
    async fn mint(&self, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/tokens", Some(body)).await
    }

    /// A request with the bootstrap key and a scoped token.
    async fn with_token(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("X-API-Key", &self.key)
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        crate::read(request.send().await.unwrap()).await
    }
}

async fn token_for(s: &Instance, body: Value) -> String {
    let (status, minted) = s.mint(body).await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_seed_example_confines_a_client_to_its_own_todos() {
    let s = Instance::start().await;
    for (id, user) in [("mine", "abc123"), ("theirs", "zzz999")] {
        s.call(
            Method::PUT,
            &format!("/v1/collections/todos/documents/{id}"),
            Some(json!({"user_id": user, "t": id})),
        )
        .await;
    }
    s.call(
        Method::PUT,
        "/v1/collections/notes/documents/n1",
        Some(json!({"any": "thing"})),
    )
    .await;

    let (status, minted) = s
        .mint(json!({"scope": {"todos": {"user_id": "abc123"}, "*": {}}, "ttl": 3600}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(
        minted["permission"], "write",
        "defaults to the key's permission"
    );
    assert_eq!(
        minted["scope"],
        json!({"todos": {"user_id": "abc123"}, "*": {}})
    );
    assert!(minted["expires_at"].as_str().unwrap().ends_with('Z'));
    let t = minted["token"].as_str().unwrap();
    let todo = |id: &str| format!("/v1/collections/todos/documents/{id}");

    // get
    assert_eq!(
        s.with_token(t, Method::GET, &todo("mine"), None).await.0,
        StatusCode::OK
    );
    let (status, err) = s.with_token(t, Method::GET, &todo("theirs"), None).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "not_found"),
        "outside the scope is missing"
    );

    // query
    let (status, page) = s
        .with_token(
            t,
            Method::POST,
            "/v1/collections/todos/query",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mine"]);

    // create
    let (status, _) = s
        .with_token(
            t,
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "new", "user_id": "abc123"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for body in [json!({"user_id": "zzz999"}), json!({"title": "no owner"})] {
        let (status, err) = s
            .with_token(
                t,
                Method::POST,
                "/v1/collections/todos/documents",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{body}"
        );
    }

    // replace
    let (status, _) = s
        .with_token(
            t,
            Method::PUT,
            &todo("mine"),
            Some(json!({"user_id": "abc123", "t": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .with_token(
            t,
            Method::PUT,
            &todo("mine"),
            Some(json!({"user_id": "zzz999"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a replace may not move a doc out of scope"
    );
    let (status, _) = s
        .with_token(
            t,
            Method::PUT,
            &todo("theirs"),
            Some(json!({"user_id": "abc123"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a replace may not take over a doc outside the scope"
    );

    // merge
    let (status, _) = s
        .with_token(t, Method::PATCH, &todo("mine"), Some(json!({"done": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .with_token(
            t,
            Method::PATCH,
            &todo("mine"),
            Some(json!({"user_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .with_token(
            t,
            Method::PATCH,
            &todo("theirs"),
            Some(json!({"done": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "outside the scope is missing, as a missing id is (CONTRACT section 18)"
    );

    // delete
    let (status, _) = s.with_token(t, Method::DELETE, &todo("theirs"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.with_token(t, Method::DELETE, &todo("mine"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // the wildcard reaches everything else, unfiltered
    let (status, _) = s
        .with_token(t, Method::GET, "/v1/collections/notes/documents/n1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = s.with_token(t, Method::GET, "/v1/collections", None).await;
    assert_eq!(list["collections"].as_array().unwrap().len(), 2);

    // nothing outside the scope changed
    let (_, theirs) = s.call(Method::GET, &todo("theirs"), None).await;
    assert_eq!(theirs["user_id"], "zzz999");
    assert!(theirs.get("done").is_none());
}

#[tokio::test]
async fn collections_outside_the_scope_are_forbidden_and_unlisted() {
    let s = Instance::start().await;
    s.call(
        Method::PUT,
        "/v1/collections/todos/documents/a",
        Some(json!({"u": 1})),
    )
    .await;
    s.call(
        Method::PUT,
        "/v1/collections/notes/documents/b",
        Some(json!({"u": 1})),
    )
    .await;
    let t = token_for(&s, json!({"scope": {"todos": {}}})).await;
    let (_, list) = s.with_token(&t, Method::GET, "/v1/collections", None).await;
    assert_eq!(
        list,
        json!({"collections": [{"name": "todos", "count": 1}]})
    );
    for (method, path, body) in [
        (Method::GET, "/v1/collections/notes/documents/b", None),
        (Method::POST, "/v1/collections/notes/query", Some(json!({}))),
        (
            Method::POST,
            "/v1/collections/notes/documents",
            Some(json!({})),
        ),
        (Method::DELETE, "/v1/collections/notes/documents/b", None),
    ] {
        let (status, err) = s.with_token(&t, method.clone(), path, body).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn forged_tampered_foreign_and_expired_tokens_are_401() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let config = Config {
        env: Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        },
        ..Config::in_memory()
    };
    let s = Instance::with_config(config).await;
    let path = "/v1/collections/todos/documents/a";
    s.call(Method::PUT, path, Some(json!({"user_id": "abc123"})))
        .await;
    let good = token_for(
        &s,
        json!({"scope": {"todos": {"user_id": "abc123"}}, "ttl": 1}),
    )
    .await;
    assert_eq!(
        s.with_token(&good, Method::GET, path, None).await.0,
        StatusCode::OK
    );

    let parts: Vec<&str> = good.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["scope"] = json!({"*": {}});
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);

    let other = Instance::start().await; // another server: another secret
    let foreign_server = token_for(&other, json!({"scope": {"*": {}}})).await;
    let (_, key_b) = s.new_project("b").await;
    let (status, minted) = s
        .call_with(
            &key_b,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let other_project = minted["token"].as_str().unwrap().to_owned();

    for (what, token) in [
        ("payload edited", edited.as_str()),
        ("alg none", alg_none.as_str()),
        ("another server's secret", foreign_server.as_str()),
        ("another project's token", other_project.as_str()),
        ("garbage", "a.b.c"),
    ] {
        let (status, err) = s.with_token(token, Method::GET, path, None).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{what}"
        );
    }

    clock.advance(1_000);
    let (status, err) = s.with_token(&good, Method::GET, path, None).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "expired after its ttl"
    );

    // A token is no API key, and needs one beside it.
    let fresh = token_for(&s, json!({"scope": {"*": {}}})).await;
    let (status, _) = s.call_with(&fresh, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = s
        .client
        .get(format!("{}{path}", s.url))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn permissions_never_exceed_the_key() {
    let s = Instance::start().await;
    let read_key = s.new_key(&s.project, "ro", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, err) = s
        .call_with(
            &read_key,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}, "permission": "write"})),
        )
        .await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, minted) = s
        .call_with(
            &read_key,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(minted["permission"], "read", "a read key mints read tokens");

    let read_token = token_for(&s, json!({"scope": {"*": {}}, "permission": "read"})).await;
    let (status, err) = s
        .with_token(
            &read_token,
            Method::POST,
            "/v1/collections/c/documents",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "a read token cannot write"
    );
    let (status, _) = s
        .with_token(
            &read_token,
            Method::POST,
            "/v1/collections/c/query",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a read token can query");
}

#[tokio::test]
async fn minting_needs_an_api_key_alone_and_valid_arguments() {
    let s = Instance::start().await;
    let t = token_for(&s, json!({"scope": {"*": {}}})).await;
    let (status, err) = s
        .with_token(
            &t,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "a token cannot mint tokens"
    );
    let response = s
        .client
        .post(format!("{}/v1/tokens", s.url))
        .header("X-API-Key", &s.key)
        .bearer_auth("mms_0123456789abcdef")
        .json(&json!({"scope": {"*": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a bearer that does not verify is 401, never ignored"
    );
    let (_, up) = s
        .call(
            Method::POST,
            "/v1/auth/signup",
            Some(json!({"email": "minter@example.com", "password": "long enough"})),
        )
        .await;
    let response = s
        .client
        .post(format!("{}/v1/tokens", s.url))
        .header("X-API-Key", &s.key)
        .bearer_auth(up["session_token"].as_str().unwrap())
        .json(&json!({"scope": {"*": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a session cannot mint tokens"
    );

    for bad in [
        json!({}),
        json!({"scope": {}}),
        json!({"scope": []}),
        json!({"scope": {"bad.name": {}}}),
        json!({"scope": {"todos": "abc"}}),
        json!({"scope": {"*": {}}, "ttl": 0}),
        json!({"scope": {"*": {}}, "ttl": 86_401}),
        json!({"scope": {"*": {}}, "ttl": "1h"}),
        json!({"scope": {"*": {}}, "ttl": 1.5}),
        json!({"scope": {"*": {}}, "permission": "admin"}),
        json!({"scope": {"*": {}}, "colour": "red"}),
    ] {
        let (status, err) = s.mint(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
    }
    let (status, minted) = s.mint(json!({"scope": {"*": {}}, "ttl": 86_400})).await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
}

#[tokio::test]
async fn regenerating_the_minting_key_kills_its_tokens() {
    let s = Instance::start().await;
    let key = s.new_key(&s.project, "backend", "write").await;
    let (status, minted) = s
        .call_with(
            key["key"].as_str().unwrap(),
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let t = minted["token"].as_str().unwrap();
    assert_eq!(
        s.with_token(t, Method::GET, "/v1/collections", None)
            .await
            .0,
        StatusCode::OK
    );
    s.admin(
        Method::POST,
        &format!("/keys/{}/regenerate", key["id"].as_str().unwrap()),
        None,
    )
    .await;
    let (status, err) = s.with_token(t, Method::GET, "/v1/collections", None).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

/// A scope's condition, evaluated in the test.
type Predicate = Box<dyn Fn(&Value) -> bool>;

/// A small deterministic generator, so that every run checks the same cases.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Walks a query to its end with `start_after`, as a client would.
async fn walk(s: &Instance, token: Option<&str>, filter: &Value, limit: u64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut body =
            json!({"filter": filter, "sort": [{"field": "n", "order": "desc"}], "limit": limit});
        if let Some(a) = &after {
            body["start_after"] = json!(a);
        }
        let (status, page) = match token {
            Some(t) => {
                s.with_token(t, Method::POST, "/v1/collections/items/query", Some(body))
                    .await
            }
            None => {
                s.call(Method::POST, "/v1/collections/items/query", Some(body))
                    .await
            }
        };
        assert_eq!(status, StatusCode::OK, "{page}");
        ids.extend(
            page["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match page["next_start_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn a_scoped_client_sees_exactly_the_full_set_filtered_by_both() {
    let s = Instance::start().await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let owners = ["ann", "bob", "cy"];
    let mut docs = std::collections::BTreeMap::new();
    for i in 0..80 {
        let mut doc = json!({"id": format!("d{i:02}"), "n": rng.next(12), "owner": owners[rng.next(3) as usize]});
        if rng.next(4) == 0 {
            doc.as_object_mut().unwrap().remove("owner"); // a missing field never matches
        }
        if rng.next(3) == 0 {
            doc["tag"] = json!(["x", "y"][rng.next(2) as usize]);
        }
        let (status, _) = s
            .call(
                Method::POST,
                "/v1/collections/items/documents",
                Some(doc.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        docs.insert(format!("d{i:02}"), doc);
    }
    for case in 0..40 {
        let owner = owners[rng.next(3) as usize];
        // The scope, and the same condition as a predicate evaluated here.
        let (scope, in_scope): (Value, Predicate) = match rng.next(3) {
            0 => (
                json!({"owner": owner}),
                Box::new(move |d: &Value| d["owner"] == owner),
            ),
            1 => (
                json!({"owner": {"$in": [owner, "cy"]}}),
                Box::new(move |d: &Value| d["owner"] == owner || d["owner"] == "cy"),
            ),
            _ => (
                json!({"tag": {"$ne": "y"}}),
                Box::new(|d: &Value| d.get("tag").is_some_and(|t| t != "y")),
            ),
        };
        let floor = rng.next(12);
        let filter = match rng.next(3) {
            0 => json!({}),
            1 => json!({"n": {"$gte": floor}}),
            _ => json!({"n": {"$lt": floor}, "owner": owner}),
        };
        let limit = 1 + rng.next(7);
        let token = token_for(&s, json!({"scope": {"items": scope}, "permission": "read"})).await;
        let seen = walk(&s, Some(&token), &filter, limit).await;
        let expected: Vec<String> = walk(&s, None, &filter, 1000)
            .await
            .into_iter()
            .filter(|id| in_scope(&docs[id]))
            .collect();
        assert_eq!(
            seen, expected,
            "case {case}: scope {scope}, filter {filter}, limit {limit}"
        );
    }
}

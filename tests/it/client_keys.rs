//! Issue 12: client keys, session scopes, and bearers that do not verify (CONTRACT sections 4,
//! 5, 9 and 18), over real HTTP.

use std::sync::Arc;

use mammoth::config::Config;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code};

/// Routes a client key alone may call (everything else under `/v1` is data or minting).
const CLIENT_ROUTES: &[&str] = &[
    "/v1/auth/signup",
    "/v1/auth/login",
    "/v1/auth/logout",
    "/v1/auth/me",
    "/v1/auth/magic-link",
    "/v1/auth/verify",
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

impl Instance {
    /// A request with `key` in X-API-Key and an optional bearer.
    pub(crate) async fn send(
        &self,
        key: &str,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if !key.is_empty() {
            request = request.header("X-API-Key", key);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        crate::read(request.send().await.unwrap()).await
    }

    async fn client_key(&self) -> String {
        let key = self.new_key(&self.project, "web", "client").await;
        assert_eq!(key["permission"], "client");
        key["key"].as_str().unwrap().to_owned()
    }

    /// Signs up with `key`; answers (user id, session token).
    async fn sign_up_with(&self, key: &str, email: &str) -> (String, String) {
        let (status, body) = self
            .send(
                key,
                None,
                Method::POST,
                "/v1/auth/signup",
                Some(json!({"email": email, "password": "long enough pw"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["session_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn set_session_scope(&self, scope: Value) -> (StatusCode, Value) {
        self.admin(
            Method::PATCH,
            &format!("/projects/{}", self.project),
            Some(json!({ "session_scope": scope })),
        )
        .await
    }

    /// Every `/v1` data route of the router (every path but the client routes), its
    /// parameters filled in.
    fn data_routes(&self) -> Vec<String> {
        assert!(
            self.routes
                .iter()
                .any(|p| p == "/v1/collections/{name}/query")
                && self.routes.iter().any(|p| p == "/v1/auth/signup"),
            "the router's listing must name known routes: {:?}",
            self.routes
        );
        self.routes
            .iter()
            .filter(|p| p.starts_with("/v1/") && !CLIENT_ROUTES.contains(&p.as_str()))
            .filter(|p| *p != "/v1/openapi.json")
            .map(|p| fill(p))
            .collect()
    }

    /// Sends every method to every path; each answer is either "no such route" or `want`.
    async fn walk(&self, key: &str, bearer: Option<&str>, paths: &[String], want: StatusCode) {
        let mut served = 0;
        for path in paths {
            for method in METHODS {
                let (status, body) = self
                    .send(key, bearer, method.clone(), path, Some(json!({})))
                    .await;
                let no_route = status == StatusCode::NOT_FOUND
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route for"));
                if no_route {
                    continue;
                }
                served += 1;
                assert_eq!(status, want, "{method} {path} answered {body}");
            }
        }
        assert!(served >= paths.len(), "every path serves some method");
    }
}

/// A route pattern with sample parameters.
fn fill(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{name}" => "todos",
            "{id}" => "d1",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn ids(page: &Value) -> Vec<String> {
    page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn client_keys_are_issued_listed_and_regenerated_as_client() {
    let s = Instance::start().await;
    let key = s.new_key(&s.project, "web", "client").await;
    let (_, list) = s
        .admin(Method::GET, &format!("/projects/{}/keys", s.project), None)
        .await;
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == key["id"] && k["permission"] == "client"),
        "{list}"
    );
    let (status, again) = s
        .admin(
            Method::POST,
            &format!("/keys/{}/regenerate", key["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["permission"], "client");
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/projects/{}/keys", s.project),
            Some(json!({"name": "x", "permission": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Walks every data route the router has, so a route added later without confinement fails.
#[tokio::test]
async fn a_bare_client_key_is_refused_on_every_data_route_and_reaches_auth() {
    let s = Instance::start().await;
    s.call(
        Method::PUT,
        "/v1/collections/todos/documents/d1",
        Some(json!({"owner": "someone"})),
    )
    .await;
    let client = s.client_key().await;
    let data = s.data_routes();
    assert!(data.iter().any(|p| p == "/v1/tokens"));
    s.walk(&client, None, &data, StatusCode::FORBIDDEN).await;
    let (_, body) = s
        .send(&client, None, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(code(&body), "forbidden");

    // The auth family works with the client key alone.
    let (_, session) = s.sign_up_with(&client, "ada@example.com").await;
    let (status, _) = s
        .send(
            &client,
            None,
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "ada@example.com", "password": "long enough pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, me) = s
        .send(&client, Some(&session), Method::GET, "/v1/auth/me", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, _) = s
        .send(
            &client,
            None,
            Method::POST,
            "/v1/auth/magic-link",
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"].as_array().unwrap().last().unwrap()["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = link.split("token=").nth(1).unwrap();
    let (status, verified) = s
        .send(
            &client,
            None,
            Method::GET,
            &format!("/v1/auth/verify?token={token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .send(&client, Some(&session), Method::GET, "/v1/auth/me", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "first verification ends older sessions"
    );
    let session = verified["session_token"].as_str().unwrap();
    let (status, _) = s
        .send(
            &client,
            Some(session),
            Method::POST,
            "/v1/auth/logout",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Without a session_scope, a session with a client key reaches no data either.
    let (_, session) = s.sign_up_with(&client, "bob@example.com").await;
    s.walk(&client, Some(&session), &data, StatusCode::FORBIDDEN)
        .await;
}

#[tokio::test]
async fn session_scopes_are_validated_stored_and_removable() {
    let s = Instance::start().await;
    for bad in [
        json!({"todos": {"owner": {"$bad": "{{user.id}}"}}}),
        json!({}),
        json!("todos"),
        json!({"bad.name": {}}),
    ] {
        let (status, body) = s.set_session_scope(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let scope = json!({"todos": {"owner": "{{user.id}}"}});
    let (status, project) = s.set_session_scope(scope.clone()).await;
    assert_eq!(status, StatusCode::OK, "{project}");
    assert_eq!(project["session_scope"], scope);
    let (_, listed) = s.admin(Method::GET, "/projects", None).await;
    assert_eq!(listed["projects"][0]["session_scope"], scope);
    let (status, project) = s.set_session_scope(Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(project["session_scope"], Value::Null);
}

/// User A cannot read, list, query, overwrite or delete user B's documents, with a session
/// (client key + session_scope) or with a scoped token; the answers tell nothing about B's.
#[tokio::test]
async fn user_a_cannot_reach_user_b_through_any_route() {
    let s = Instance::start().await;
    let client = s.client_key().await;
    let (status, _) = s
        .set_session_scope(json!({
            "todos": {"owner": "{{user.id}}"},
            "profiles": {"id": "{{user.id}}"}
        }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (a, sa) = s.sign_up_with(&client, "a@example.com").await;
    let (b, sb) = s.sign_up_with(&client, "b@example.com").await;
    let todo = |id: &str| format!("/v1/collections/todos/documents/{id}");

    let (status, body) = s
        .send(
            &client,
            Some(&sb),
            Method::PUT,
            &todo("b1"),
            Some(json!({"owner": b, "t": "secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = s
        .send(
            &client,
            Some(&sa),
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "a1", "owner": a})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A token minted by the backend for A, used with the client key, confines the same way.
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"todos": {"owner": a}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = minted["token"].as_str().unwrap().to_owned();

    for bearer in [&sa, &token] {
        let req = |m: Method, p: String, body: Option<Value>| {
            let (client, bearer) = (client.clone(), bearer.clone());
            let s = &s;
            async move { s.send(&client, Some(&bearer), m, &p, body).await }
        };
        assert_eq!(req(Method::GET, todo("a1"), None).await.0, StatusCode::OK);
        let (st, hidden) = req(Method::GET, todo("b1"), None).await;
        let (st2, missing) = req(Method::GET, todo("zz"), None).await;
        assert_eq!((st, code(&hidden)), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!((st2, code(&missing)), (StatusCode::NOT_FOUND, "not_found"));
        let (_, page) = req(
            Method::POST,
            "/v1/collections/todos/query".into(),
            Some(json!({})),
        )
        .await;
        assert_eq!(ids(&page), ["a1"]);
        let (_, page) = req(
            Method::POST,
            "/v1/collections/todos/query".into(),
            Some(json!({"filter": {"owner": b}})),
        )
        .await;
        assert!(ids(&page).is_empty());
        let (_, list) = req(Method::GET, "/v1/collections".into(), None).await;
        assert_eq!(
            list,
            json!({"collections": [{"name": "todos", "count": 1}]}),
            "B's document is not counted"
        );
        // Overwrite and merge: refused the same whether or not the id exists outside.
        let (st, taken) = req(Method::PUT, todo("b1"), Some(json!({"owner": a}))).await;
        let (st2, foreign) = req(
            Method::POST,
            "/v1/collections/todos/documents".into(),
            Some(json!({"id": "b1", "owner": a})),
        )
        .await;
        let (st3, outside) = req(Method::PUT, todo("new"), Some(json!({"owner": b}))).await;
        assert_eq!(
            (st, st2, st3),
            (
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN
            )
        );
        assert_eq!(taken, foreign);
        assert_eq!(
            taken, outside,
            "the same answer as a body outside the scope"
        );
        let (st, _) = req(Method::PATCH, todo("b1"), Some(json!({"t": "x"}))).await;
        let (st2, _) = req(Method::PATCH, todo("zz"), Some(json!({"t": "x"}))).await;
        assert_eq!((st, st2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        let (st, _) = req(Method::DELETE, todo("b1"), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = req(
            Method::GET,
            "/v1/collections/notes/documents/n".into(),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "a collection outside the scope");
    }

    // B's document is untouched, and the write key sees both.
    let (_, doc) = s.call(Method::GET, &todo("b1"), None).await;
    assert_eq!(doc["t"], "secret");
    let (_, list) = s.call(Method::GET, "/v1/collections", None).await;
    assert_eq!(list["collections"][0]["count"], 2);

    // profiles: {"id": "{{user.id}}"}: each user writes only the profile under their own id.
    let profile = |id: &str| format!("/v1/collections/profiles/documents/{id}");
    let (st, _) = s
        .send(
            &client,
            Some(&sa),
            Method::PUT,
            &profile(&a),
            Some(json!({"name": "A"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s
        .send(
            &client,
            Some(&sa),
            Method::PUT,
            &profile(&b),
            Some(json!({"name": "A"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // With a server key, a session only identifies its user: nothing is confined.
    let (st, _) = s
        .send(&s.key, Some(&sa), Method::GET, &todo("b1"), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    // A client key cannot mint tokens.
    let (st, _) = s
        .send(
            &client,
            None,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A session that ends reaches nothing any more.
    s.send(&client, Some(&sa), Method::POST, "/v1/auth/logout", None)
        .await;
    let (st, _) = s
        .send(&client, Some(&sa), Method::GET, &todo("a1"), None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// CONTRACT section 4: a bearer that is present but does not verify is 401 on every route.
#[tokio::test]
async fn bearers_that_do_not_verify_are_401_on_every_route() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let config = Config {
        env: Env {
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
        },
        ..Config::in_memory()
    };
    let s = Instance::with_config(config).await;
    let good = mint_any(&s, s.key.clone(), 3600).await;
    let expiring = mint_any(&s, s.key.clone(), 1).await;
    let (_, other_key) = s.new_project("other").await;
    let foreign = mint_any(&s, other_key, 3600).await;
    let doomed_key = s.new_key(&s.project, "doomed", "write").await;
    let revoked = mint_any(&s, doomed_key["key"].as_str().unwrap().to_owned(), 3600).await;
    s.admin(
        Method::DELETE,
        &format!("/keys/{}", doomed_key["id"].as_str().unwrap()),
        None,
    )
    .await;
    let (_, dead_session) = s.sign_up_with(&s.key, "gone@example.com").await;
    s.send(
        &s.key,
        Some(&dead_session),
        Method::POST,
        "/v1/auth/logout",
        None,
    )
    .await;
    clock.advance(2_000);
    let mut forged = good.clone();
    forged.pop();
    forged.push(if good.ends_with('A') { 'B' } else { 'A' });

    let everything: Vec<String> = s
        .routes
        .iter()
        .filter(|p| p.starts_with("/v1/") || p.starts_with("/admin/v1/"))
        // The OpenAPI document is public: it reads no credential, so none can fail.
        .filter(|p| *p != "/v1/openapi.json")
        .map(|p| fill(p))
        .collect();
    for bearer in [
        "mmgarbage",
        "garbage",
        forged.as_str(),
        expiring.as_str(),
        foreign.as_str(),
        revoked.as_str(),
        dead_session.as_str(),
        "mms_0123456789abcdef",
    ] {
        s.walk(&s.key, Some(bearer), &everything, StatusCode::UNAUTHORIZED)
            .await;
    }
    // The good token still works: the walk failed for the bearers, not the key.
    let (st, _) = s
        .send(&s.key, Some(&good), Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(st, StatusCode::OK);
}

async fn mint_any(s: &Instance, key: String, ttl: u64) -> String {
    let (status, body) = s
        .send(
            &key,
            None,
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": {"*": {}}, "ttl": ttl})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

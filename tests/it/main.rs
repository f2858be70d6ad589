//! End-to-end tests: a real server on 127.0.0.1:0, driven over real HTTP.

mod admin;
mod auth;
mod backup;
mod batch;
mod browser;
mod client_keys;
mod cluster;
mod connections;
mod console;
mod console2;
mod console3;
mod console_browser;
mod cors;
mod credentials;
mod dashboard;
mod datacli;
mod documents;
mod durability;
mod etag;
mod harness;
mod isolation;
mod js_browser;
mod layers;
mod listen;
mod listen_browser;
mod listen_kill;
mod listen_model;
mod listen_scope;
mod openapi;
mod query;
mod query_more;
mod quota;
mod robustness;
mod secrets;
mod tokens;
mod ttl;

use std::path::Path;

use mammoth::config::Config;
use mammoth::testing::Running;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const ROOT: &str = "test-root-token";

/// A running in-process server and what a test needs to talk to it.
pub(crate) struct Instance {
    pub(crate) url: String,
    pub(crate) client: Client,
    /// The bootstrap project's id and write key, when this start made them.
    pub(crate) project: String,
    pub(crate) key: String,
    /// The dashboard sign-in link printed at start, when this start made one.
    pub(crate) operator_link: Option<String>,
    /// The shared in-process runner (`mammoth::testing::Running`).
    pub(crate) running: Running,
    /// Every path the router serves.
    pub(crate) routes: Vec<String>,
}

impl Instance {
    pub(crate) async fn start() -> Instance {
        Instance::with_config(Config::in_memory()).await
    }

    pub(crate) async fn on_disk(dir: &Path) -> Instance {
        Instance::with_config(Config::on_disk(dir)).await
    }

    pub(crate) async fn with_config(mut config: Config) -> Instance {
        config.root_token = Some(ROOT.into());
        config.test_hooks = true;
        let server = Running::bind(config).await.unwrap();
        let (project, key) = match server.bootstrap() {
            Some(b) => (b.project.id.clone(), b.key.key.clone()),
            None => (String::new(), String::new()),
        };
        let operator_link = server.operator_link().map(str::to_owned);
        let routes = server.route_paths();
        let running = Running::serve(server);
        Instance {
            url: running.url().to_owned(),
            client: Client::new(),
            project,
            key,
            operator_link,
            running,
            routes,
        }
    }

    /// Graceful shutdown; returns once storage is flushed.
    pub(crate) async fn stop(self) {
        self.running.stop().await.unwrap();
    }

    /// A request with the bootstrap key.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(&self.key, method, path, body).await
    }

    /// A request with `key` in X-API-Key.
    pub(crate) async fn call_with(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if !key.is_empty() {
            request = request.header("X-API-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// An admin request with the root token.
    pub(crate) async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/admin/v1{path}", self.url))
            .bearer_auth(ROOT);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// Crashes a project's actor through the test hook and returns once the supervisor has
    /// swapped in its replacement (the registry's restart event, not polling).
    pub(crate) async fn crash_and_wait(&self, project: &str) {
        let mut restarts = self.running.registry().restarts();
        let before = *restarts.borrow_and_update();
        let (status, _) = self
            .admin(Method::POST, &format!("/projects/{project}/crash"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            restarts.wait_for(|n| *n > before),
        )
        .await
        .expect("the project restarted within 30 s")
        .expect("the registry is running");
    }

    /// Creates a project through the admin API; answers (project id, write key).
    pub(crate) async fn new_project(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .admin(Method::POST, "/projects", Some(json!({"name": name})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["project"]["id"].as_str().unwrap().to_owned(),
            body["api_key"]["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a key; answers the KEY object.
    pub(crate) async fn new_key(&self, project: &str, name: &str, permission: &str) -> Value {
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/projects/{project}/keys"),
                Some(json!({"name": name, "permission": permission})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Status and JSON body (`Value::Null` when empty); asserts every error has the contract's shape.
pub(crate) async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    if !status.is_success() {
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error without code: {body}"));
        assert!(!code.is_empty());
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    (status, body)
}

/// The error code of an error body.
pub(crate) fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

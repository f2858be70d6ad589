//! Issue 18: the compiled JavaScript client (`clients/js`) in a real headless Chromium. A page
//! served from one origin signs up with a client key, writes, queries and listens against
//! Mammoth on another origin (CORS, `allowed_origins`, `session_scope`), and sees a change that
//! a server writes arrive over the listen stream.
//!
//! Needs chromium and chromedriver (as `browser.rs`) and `clients/js/node_modules` (tsc), which
//! `.ci/run` installs; outside CI a machine without them skips with a message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fantoccini::Client;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Instance;
use crate::browser::{Driver, browser_missing};

const CLIENT: &str = "clients/js";

/// Compiles the client into `out` with its own tsc; `None` (skip) when node modules are absent.
fn compile_client(out: &Path) -> Option<()> {
    let tsc = Path::new(CLIENT).join("node_modules/.bin/tsc");
    if !tsc.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("clients/js/node_modules is missing under CI: .ci/run must run npm ci there");
        }
        eprintln!("skipped: clients/js/node_modules is not installed (npm ci in clients/js)");
        return None;
    }
    let status = Command::new(tsc)
        .args(["-p", &format!("{CLIENT}/tsconfig.json"), "--outDir"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "the client does not compile");
    Some(())
}

/// The app's own origin: the test page and the compiled client, nothing else.
async fn serve_page(client_dir: PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    async fn file(dir: &Path, name: &str) -> Response {
        if name.contains("..") {
            return StatusCode::NOT_FOUND.into_response();
        }
        let kind = if name.ends_with(".html") {
            "text/html; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let page_dir = Path::new(CLIENT).join("test/browser");
    let router =
        Router::new()
            .route(
                "/",
                get(|State((page, _)): State<(PathBuf, PathBuf)>| async move {
                    file(&page, "index.html").await
                }),
            )
            .route(
                "/app.js",
                get(|State((page, _)): State<(PathBuf, PathBuf)>| async move {
                    file(&page, "app.js").await
                }),
            )
            .route(
                "/client/{name}",
                get(
                    |State((_, client)): State<(PathBuf, PathBuf)>,
                     UrlPath(name): UrlPath<String>| async move {
                        file(&client, &name).await
                    },
                ),
            )
            .with_state((page_dir, client_dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (origin, task)
}

/// The page's `window.__state`.
async fn state(browser: &Client) -> Value {
    browser
        .execute("return window.__state || null", vec![])
        .await
        .unwrap()
}

/// Waits until the page's phase leaves `from`; answers the state.
async fn wait_phase(browser: &Client, from: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = state(browser).await;
        let phase = s["phase"].as_str().unwrap_or("starting");
        if phase != from && phase != "starting" {
            return s;
        }
        assert!(Instant::now() < deadline, "the page stayed in {phase}: {s}");
        // WebDriver has no way to wait on a page variable: poll it.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_js_client_works_from_a_page_on_another_origin() {
    if browser_missing() {
        return;
    }
    let compiled = tempfile::TempDir::new().unwrap();
    if compile_client(compiled.path()).is_none() {
        return;
    }
    let started = Instant::now();
    let s = Instance::start().await;
    let (origin, page_server) = serve_page(compiled.path().to_owned()).await;
    assert_ne!(origin, s.url, "two origins");
    let client_key = s.new_key(&s.project, "web", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({
                "allowed_origins": [origin],
                "session_scope": {"todos": {"owner": "{{user.id}}"}},
            })),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let driver = Driver::start().await;
    let profile = tempfile::TempDir::new().unwrap();
    let browser = driver.browser(profile.path()).await;
    let outcome = tokio::spawn(walk(browser.clone(), s, origin, client_key)).await;
    let _ = browser.close().await;
    drop(driver);
    page_server.abort();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
    eprintln!("js client browser test took {:?}", started.elapsed());
}

async fn walk(browser: Client, s: Instance, origin: String, client_key: String) {
    let page = format!("{origin}/?api={}&key={client_key}", s.url);
    browser.goto(&page).await.unwrap();
    let listening = wait_phase(&browser, "starting").await;
    assert_eq!(listening["phase"], "listening", "{listening}");
    assert_eq!(
        listening["stored"], true,
        "the session is kept in localStorage"
    );
    assert_eq!(
        listening["refused"], "MammothError forbidden 403",
        "{listening}"
    );
    assert_eq!(listening["queried"], json!(["first"]));
    assert_eq!(listening["ids"], json!(["first"]));
    let user = listening["user"].as_str().unwrap();

    // A server (write key, no Origin) writes into the user's todos: the page hears it.
    let (status, body) = s
        .call(
            Method::PUT,
            "/v1/collections/todos/documents/second",
            Some(json!({"owner": user, "title": "b: written by the server"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let changed = wait_phase(&browser, "listening").await;
    assert_eq!(changed["phase"], "changed", "{changed}");
    assert_eq!(changed["ids"], json!(["first", "second"]));
    assert_eq!(changed["changes"], json!(["added:second"]));
    let shot = browser.screenshot().await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("js-client.png"), shot).unwrap();

    s.stop().await;
}

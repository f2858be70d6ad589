//! Issue 7 end to end in a real headless Chromium, driven over WebDriver: sign in through the
//! outbox link, create a project and keys, use them over HTTP, regenerate and revoke, and find
//! documents in the collections browser. Screenshots of each page go to `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`.ci/run` installs them). Outside CI a
//! machine without them skips with a message; under CI (CI=true) a missing browser fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mammoth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::Instance;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const OPS: &str = "ops@example.com";

pub(crate) fn browser_missing() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return false;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("chromium or chromedriver is missing under CI: .ci/run must install them");
    }
    eprintln!("skipped: chromium/chromedriver are not installed (run .ci/run to install them)");
    true
}

/// A chromedriver on a free port, killed on drop.
pub(crate) struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        // A process start cannot be awaited otherwise: poll its status route briefly.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { _child: child, url }
    }

    pub(crate) async fn browser(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1200,900",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks a copy button and waits for it to say so.
async fn click_copy(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while text(browser, css).await != "Copied" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Clicks what navigates to a new page, and waits for that page.
async fn click(browser: &Client, css: &str) {
    let target = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    navigate(browser, async { target.click().await.unwrap() }).await;
}

/// Runs `action` and waits until the page it leaves is gone and the next one has loaded.
async fn navigate(browser: &Client, action: impl std::future::Future<Output = ()>) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    action.await;
    // WebDriver has no "page replaced" event: poll the old root until it is stale.
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "the page did not change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    browser
        .wait()
        .for_element(Locator::Css("main"))
        .await
        .unwrap();
}

/// Creates a key from the project page; answers its secret, shown once.
async fn create_key(browser: &Client, name: &str, permission: &str) -> String {
    fill(browser, "#key-name", name).await;
    browser
        .find(Locator::Css("#key-permission"))
        .await
        .unwrap()
        .select_by_value(permission)
        .await
        .unwrap();
    click(browser, "form[action$='/keys'] button[type=submit]").await;
    secret(browser).await
}

async fn secret(browser: &Client) -> String {
    browser
        .find(Locator::Css("#secret"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the secret is shown")
}

/// The key row's form for `action` (regenerate or revoke), by the key's name.
async fn key_action(browser: &Client, name: &str, action: &str) {
    let xpath =
        format!("//tr[td[1][text()='{name}']]//form[contains(@action,'/{action}')]//button");
    let button = browser.find(Locator::XPath(&xpath)).await.unwrap();
    navigate(browser, async {
        button.click().await.unwrap();
        // The confirmation dialog.
        browser.accept_alert().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_operator_manages_a_project_in_a_real_browser() {
    if browser_missing() {
        return;
    }
    let started = Instant::now();
    let mut config = Config::in_memory();
    config.admin_emails = vec![OPS.into()];
    let s = Instance::with_config(config).await;
    let driver = Driver::start().await;
    let profile = tempfile::TempDir::new().unwrap();
    let browser = driver.browser(profile.path()).await;
    // The walk runs in its own task so that a failed step still closes the browser (a session
    // left open would outlive chromedriver), then the failure is re-raised.
    let outcome = tokio::spawn(walk(browser.clone(), s)).await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
    eprintln!("browser test took {:?}", started.elapsed());
}

async fn walk(browser: Client, s: Instance) {
    // Sign in through the outbox link.
    browser.goto(&format!("{}/dashboard", s.url)).await.unwrap();
    shot(&browser, "01-sign-in").await;
    fill(&browser, "#email", OPS).await;
    click(&browser, "form[action='/dashboard/sign-in'] button").await;
    assert_eq!(text(&browser, "h1").await, "Check your inbox");
    shot(&browser, "02-check-inbox").await;
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"][0]["link"].as_str().unwrap().to_owned();
    browser.goto(&link).await.unwrap();
    shot(&browser, "02b-continue").await;
    click(&browser, "#continue").await;
    assert_eq!(text(&browser, "h1").await, "Projects");
    shot(&browser, "02c-projects").await;

    // Create a project and a read key and a write key.
    fill(&browser, "#project-name", "shop").await;
    click(&browser, "form[action='/dashboard/projects'] button").await;
    assert_eq!(text(&browser, "h1").await, "shop");
    let read_key = create_key(&browser, "reader", "read").await;
    let write_key = create_key(&browser, "writer", "write").await;
    click_copy(&browser, "[data-copy]").await;
    assert_eq!(text(&browser, "[data-copy]").await, "Copied");
    shot(&browser, "04-project-key-created").await;
    assert!(read_key.starts_with("mm_") && write_key.starts_with("mm_"));

    // Use each from an HTTP client.
    let doc = |n: u32| Some(json!({"title": format!("task {n}"), "done": n.is_multiple_of(2)}));
    let post = "/v1/collections/todos/documents";
    let (status, _) = s.call_with(&read_key, Method::POST, post, doc(0)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a read key cannot write");
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (status, body) = s.call_with(&write_key, Method::POST, post, doc(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = s
        .call_with(&read_key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Regenerate the read key: the old secret fails, the new one works.
    key_action(&browser, "reader", "regenerate").await;
    let new_read_key = secret(&browser).await;
    assert_ne!(new_read_key, read_key);
    let (status, _) = s
        .call_with(&read_key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old read key fails");
    let (status, _) = s
        .call_with(&new_read_key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Revoke the write key.
    key_action(&browser, "writer", "revoke").await;
    let (status, _) = s.call_with(&write_key, Method::POST, post, doc(9)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key fails");
    assert_eq!(text(&browser, "#documents").await, "3");
    shot(&browser, "03-project").await;

    // A client key, and the session scope that lets its signed-in users reach their own todos.
    let client_key = create_key(&browser, "web", "client").await;
    let pill = "//tr[td[1][text()='web']]//span[contains(@class,'pill')]";
    let pill = browser.find(Locator::XPath(pill)).await.unwrap();
    assert_eq!(pill.text().await.unwrap(), "client");
    fill(
        &browser,
        "#session-scope",
        r#"{"todos": {"owner": "{{user.id}}"}}"#,
    )
    .await;
    fill(&browser, "#allowed-origins", "https://app.example.com").await;
    click(&browser, "#save-settings").await;
    assert!(
        browser
            .find(Locator::Css("#allowed-origins"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap()
            .contains("https://app.example.com")
    );
    shot(&browser, "03b-browser-access").await;
    let (status, _) = s
        .call_with(&client_key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a client key alone reaches no data"
    );
    let (status, up) = s
        .call_with(
            &client_key,
            Method::POST,
            "/v1/auth/signup",
            Some(json!({"email": "user@example.com", "password": "long enough pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let mine = s
        .client
        .post(format!("{}{post}", s.url))
        .header("X-API-Key", &client_key)
        .bearer_auth(up["session_token"].as_str().unwrap())
        .json(&json!({"owner": up["user"]["id"], "title": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        mine.status(),
        StatusCode::CREATED,
        "the session writes inside its scope"
    );

    // Find the documents in the collections browser.
    click(&browser, "#browse").await;
    click(&browser, "ul.collections a").await;
    let listed = text(&browser, "#documents").await;
    for id in &ids {
        assert!(listed.contains(id.as_str()), "{id} not in {listed}");
    }
    shot(&browser, "05-collection").await;
    fill(
        &browser,
        "#query",
        r#"{"filter": {"done": {"$eq": true}}, "sort": 5}"#,
    )
    .await;
    click(&browser, "form[method=get] button").await;
    assert!(text(&browser, "#query-error").await.contains("sort"));
    shot(&browser, "06-query-error").await;
    fill(&browser, "#query", r#"{"filter": {"done": true}}"#).await;
    click(&browser, "form[method=get] button").await;
    let filtered = text(&browser, "#documents").await;
    assert!(
        filtered.contains("task 2") && !filtered.contains("task 1"),
        "{filtered}"
    );
    click(&browser, "#documents a").await;
    assert!(text(&browser, "#document").await.contains("\"task 2\""));
    shot(&browser, "07-document").await;

    // The project page at phone width.
    browser.set_window_size(375, 812).await.unwrap();
    click(&browser, "nav.crumbs a[href^='/dashboard/projects/']").await;
    shot(&browser, "08-project-375px").await;
    browser
        .execute("document.querySelector('table').scrollIntoView()", vec![])
        .await
        .unwrap();
    shot(&browser, "09-keys-375px").await;
    let overflow = browser
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        overflow.as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px: {overflow}"
    );

    s.stop().await;
}

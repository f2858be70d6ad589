//! CONTRACT sections 10 and 11 in a real headless Chromium: a page on another origin calls
//! `POST /v1/listen` with plain `fetch` and reads the body as a `ReadableStream` (no client
//! library, no EventSource), gets the snapshot, then a change another client makes through the API.
//!
//! Needs chromium and chromedriver (as `browser.rs`); outside CI a machine without them skips.

use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::Client;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Instance;
use crate::browser::{Driver, browser_missing};

/// Started by the page: listens with fetch streaming and keeps what it parsed in `window.__sse`.
const LISTEN: &str = r#"
const [api, key] = arguments;
window.__sse = {events: [], error: null, status: null};
(async () => {
  try {
    const response = await fetch(api + "/v1/listen", {
      method: "POST",
      headers: {"X-API-Key": key, "Content-Type": "application/json"},
      body: JSON.stringify({queries: {open: {collection: "todos", filter: {open: true}}}}),
    });
    window.__sse.status = response.status;
    window.__sse.type = response.headers.get("content-type");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) { window.__sse.error = "closed"; return; }
      buf += value;
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const ev = {event: "message", id: null, data: null};
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) ev.event = line.slice(7);
          else if (line.startsWith("id: ")) ev.id = Number(line.slice(4));
          else if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data !== null) window.__sse.events.push(ev);
      }
    }
  } catch (e) {
    window.__sse.error = String(e);
  }
})();
"#;

/// The page's parsed events, once there are at least `n` (or an error).
async fn events(browser: &Client, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = browser
            .execute("return window.__sse || null", vec![])
            .await
            .unwrap();
        assert!(
            state["error"].is_null(),
            "the page's stream failed: {state}"
        );
        if state["events"].as_array().is_some_and(|e| e.len() >= n) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} events on the page: {state}"
        );
        // WebDriver cannot wait on a page variable: poll it.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_page_listens_with_plain_fetch_streaming() {
    if browser_missing() {
        return;
    }
    let s = Instance::start().await;
    let (status, body) = s
        .call(
            Method::PUT,
            "/v1/collections/todos/documents/first",
            Some(json!({"open": true, "title": "before the page"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let reader = s.new_key(&s.project, "page", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The page's own origin, distinct from the API's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().route(
        "/",
        get(|| async { Html("<!doctype html><title>listen</title><p>listening</p>") }),
    );
    let page_server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let driver = Driver::start().await;
    let profile = tempfile::TempDir::new().unwrap();
    let browser = driver.browser(profile.path()).await;
    let outcome = tokio::spawn(walk(browser.clone(), s, origin, reader)).await;
    let _ = browser.close().await;
    drop(driver);
    page_server.abort();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn walk(browser: Client, s: Instance, origin: String, key: String) {
    browser.goto(&origin).await.unwrap();
    browser
        .execute(LISTEN, vec![json!(s.url), json!(key)])
        .await
        .unwrap();
    let state = events(&browser, 1).await;
    assert_eq!(state["status"], 200, "{state}");
    assert_eq!(state["type"], "text/event-stream", "{state}");
    let snapshot = &state["events"][0];
    assert_eq!(snapshot["event"], "snapshot", "{state}");
    let docs = snapshot["data"]["queries"]["open"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{state}");
    assert_eq!(docs[0]["id"], "first");
    let at = snapshot["id"].as_u64().unwrap();

    // Another client writes through the API: the page's stream carries it.
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "second", "open": true, "title": "from the API"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let state = events(&browser, 2).await;
    let change = &state["events"][1];
    assert_eq!(change["event"], "changes", "{state}");
    assert_eq!(change["id"], at + 1, "{state}");
    let list = &change["data"]["changes"]["open"];
    assert_eq!(list.as_array().unwrap().len(), 1, "{state}");
    assert_eq!(list[0]["type"], "added");
    assert_eq!(list[0]["id"], "second");
    assert_eq!(list[0]["document"]["title"], "from the API");
    s.stop().await;
}

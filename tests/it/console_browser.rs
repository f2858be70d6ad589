//! Issue 21, part 1, in a real headless Chromium: an operator creates a document in the table,
//! sees a change made through the API appear live, sorts by a column, has an edit with a stale
//! ETag refused, saves, and deletes; at 375 px wide too. Screenshots go to `target/screenshots/`.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use mammoth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::Instance;
use crate::browser::{Driver, browser_missing};

const OPS: &str = "ops@example.com";

async fn shot(browser: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
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

/// Waits until `css`'s text satisfies `ok` (live updates have no other event to wait on).
async fn wait_text(browser: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = text(browser, css).await;
        if ok(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{css} stayed {seen:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `action` and waits until the page it leaves is gone and the next one has loaded.
async fn navigate(browser: &Client, action: impl std::future::Future<Output = ()>) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    action.await;
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

async fn click(browser: &Client, css: &str) {
    let target = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    navigate(browser, async { target.click().await.unwrap() }).await;
}

#[tokio::test]
async fn an_operator_edits_documents_live_in_a_real_browser() {
    if browser_missing() {
        return;
    }
    let mut config = Config::in_memory();
    config.admin_emails = vec![OPS.into()];
    let s = Instance::with_config(config).await;
    let driver = Driver::start().await;
    let profile = tempfile::TempDir::new().unwrap();
    let browser = driver.browser(profile.path()).await;
    let outcome = tokio::spawn(walk(browser.clone(), s)).await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn walk(browser: Client, s: Instance) {
    browser.goto(&format!("{}/dashboard", s.url)).await.unwrap();
    fill(&browser, "#email", OPS).await;
    click(&browser, "form[action='/dashboard/sign-in'] button").await;
    let (_, outbox) = s.admin(Method::GET, "/outbox", None).await;
    let link = outbox["messages"][0]["link"].as_str().unwrap().to_owned();
    browser.goto(&link).await.unwrap();
    click(&browser, "#continue").await;
    let data = format!("{}/dashboard/projects/{}/data", s.url, s.project);
    browser.goto(&data).await.unwrap();

    // Create a document in a new collection from the JSON editor; a mistake is shown inline.
    // By keyboard: Enter on the focused "New document" disclosure opens the editor.
    browser
        .find(Locator::Css("#create summary"))
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    let open = browser
        .execute("return document.getElementById('create').open", vec![])
        .await
        .unwrap();
    assert_eq!(open, json!(true), "Enter opens the create form");
    fill(&browser, "#new-collection", "todos").await;
    fill(&browser, "#new-document", r#"{"id": "t1", "title": "milk""#).await;
    click(&browser, "#create-document").await;
    assert!(
        text(&browser, "#create-error")
            .await
            .contains("not valid JSON")
    );
    shot(&browser, "21-create-error").await;
    fill(
        &browser,
        "#new-document",
        r#"{"id": "t1", "title": "milk", "shop": {"aisle": 3}}"#,
    )
    .await;
    click(&browser, "#create-document").await;
    assert_eq!(text(&browser, "#flash").await, "Created document t1.");
    let table = text(&browser, "#documents").await;
    assert!(table.contains("t1") && table.contains("milk"), "{table}");
    assert!(text(&browser, "thead").await.contains("shop.aisle"));

    // A change made through the API appears live; so do an edit and a delete.
    wait_text(&browser, "#live", |t| t == "Live").await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t2", "title": "bread"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_text(&browser, "#documents", |t| t.contains("bread")).await;
    shot(&browser, "22-live-row-added").await;
    let (status, _) = s
        .call(
            Method::PATCH,
            "/v1/collections/todos/documents/t2",
            Some(json!({"title": "rye bread"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    wait_text(&browser, "#documents", |t| t.contains("rye bread")).await;
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/todos/documents/t2", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_text(&browser, "#documents", |t| !t.contains("bread")).await;
    for n in 3..=4 {
        let (status, _) = s
            .call(
                Method::POST,
                "/v1/collections/todos/documents",
                Some(json!({"id": format!("t{n}"), "title": format!("{} item", ["", "", "", "apple", "zucchini"][n])})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    wait_text(&browser, "#documents", |t| t.contains("zucchini")).await;

    // Sort by a column header: descending on the second click.
    click(&browser, "th a[data-column='title']").await;
    let th = "th[aria-sort]";
    assert_eq!(
        browser
            .find(Locator::Css(th))
            .await
            .unwrap()
            .attr("aria-sort")
            .await
            .unwrap()
            .as_deref(),
        Some("ascending")
    );
    assert!(
        text(&browser, "#documents tr:first-child")
            .await
            .contains("apple")
    );
    click(&browser, "th a[data-column='title']").await;
    assert!(
        text(&browser, "#documents tr:first-child")
            .await
            .contains("zucchini")
    );
    shot(&browser, "23-sorted-table").await;

    // On the sorted page, a document added through the API lands in its place in the order.
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/todos/documents",
            Some(json!({"id": "t5", "title": "mango item"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_text(&browser, "#documents", |t| t.contains("mango")).await;
    let titles = browser
        .execute(
            "return Array.from(document.querySelectorAll('#documents td[data-column=title]')).map(td => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        titles,
        json!(["zucchini item", "milk", "mango item", "apple item"]),
        "the live row is placed in the page's sort order"
    );
    shot(&browser, "23b-live-row-in-sort-order").await;

    // Edit t1; meanwhile someone changes it through the API: the stale save is refused.
    click(&browser, "#documents a[href$='doc=t1']").await;
    assert!(text(&browser, "#document").await.contains("milk"));
    let (status, _) = s
        .call(
            Method::PATCH,
            "/v1/collections/todos/documents/t1",
            Some(json!({"title": "milk (2 l)"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    fill(&browser, "#document", r#"{"title": "soy milk"}"#).await;
    click(&browser, "#save").await;
    assert!(
        text(&browser, "#edit-error")
            .await
            .contains("someone changed this document")
    );
    shot(&browser, "24-stale-edit-refused").await;
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(doc["title"], "milk (2 l)", "the stale edit wrote nothing");

    // Open the current version and save again.
    click(&browser, "#current").await;
    fill(
        &browser,
        "#document",
        r#"{"title": "soy milk", "done": false}"#,
    )
    .await;
    click(&browser, "#save").await;
    assert_eq!(text(&browser, "#flash").await, "Saved.");
    let (_, doc) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(doc["title"], "soy milk");

    // Delete, after confirming.
    let button = browser.find(Locator::Css("#delete")).await.unwrap();
    navigate(&browser, async {
        button.click().await.unwrap();
        browser.accept_alert().await.unwrap();
    })
    .await;
    assert_eq!(text(&browser, "#flash").await, "Deleted document t1.");
    assert!(!text(&browser, "#documents").await.contains("soy milk"));
    let (status, _) = s
        .call(Method::GET, "/v1/collections/todos/documents/t1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    shot(&browser, "25-deleted").await;

    // Every control is labelled, and the page fits a phone.
    let unlabelled = browser
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select, button'))
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
               .map(e => e.outerHTML)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "unlabelled controls");
    browser.set_window_size(375, 812).await.unwrap();
    browser.refresh().await.unwrap();
    wait_text(&browser, "#live", |t| t == "Live").await;
    shot(&browser, "26-table-375px").await;
    let width = browser
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px: {width}"
    );
    // Close the live stream before the server stops.
    browser.goto("about:blank").await.unwrap();
    s.stop().await;
}

//! `mammoth::testing::TestServer`: isolated instances, a manual clock, the outbox read directly.

use std::sync::Arc;

use mammoth::testing::TestServer;
use mammoth_actors::env::ManualClock;
use serde_json::{Value, json};

#[tokio::test]
async fn instances_are_isolated_and_read_their_outbox_directly() -> anyhow::Result<()> {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let a = TestServer::builder().clock(clock.clone()).start().await?;
    let b = TestServer::start().await?;
    assert_ne!(a.url(), b.url());
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/collections/c/documents", a.url()))
        .header("X-API-Key", a.write_key())
        .json(&json!({"id": "x"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let doc: Value = created.json().await?;
    assert_eq!(
        doc["created_at"], "2027-01-15T08:00:00.000Z",
        "the manual clock stamps documents"
    );
    let other = client
        .get(format!("{}/v1/collections/c/documents/x", b.url()))
        .header("X-API-Key", b.write_key())
        .send()
        .await?;
    assert_eq!(other.status(), 404, "another instance sees nothing of it");
    let cross = client
        .get(format!("{}/v1/collections", a.url()))
        .header("X-API-Key", b.write_key())
        .send()
        .await?;
    assert_eq!(
        cross.status(),
        401,
        "keys of one instance are forged to another"
    );

    let sent = client
        .post(format!("{}/v1/auth/magic-link", a.url()))
        .header("X-API-Key", a.write_key())
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await?;
    assert_eq!(sent.status(), 202);
    let mut outbox = a.outbox();
    for _ in 0..100 {
        if !outbox.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
        outbox = a.outbox();
    }
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, "ada@example.com");
    assert!(outbox[0].link.contains("token="));
    assert!(b.outbox().is_empty());

    let read_only = client
        .delete(format!("{}/v1/collections/c/documents/x", a.url()))
        .header("X-API-Key", a.read_key())
        .send()
        .await?;
    assert_eq!(read_only.status(), 403);
    let projects = client
        .get(format!("{}/admin/v1/projects", a.url()))
        .bearer_auth(a.root_token())
        .send()
        .await?;
    assert_eq!(projects.status(), 200);
    a.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_persistent_instance_keeps_its_data_in_the_given_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::builder().data_dir(dir.path()).start().await?;
    let client = reqwest::Client::new();
    let created = client
        .put(format!("{}/v1/collections/c/documents/kept", server.url()))
        .header("X-API-Key", server.write_key())
        .json(&json!({"v": 1}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    server.stop().await?;
    assert!(dir.path().join("mammoth.redb").exists());
    let again = TestServer::builder().data_dir(dir.path()).start().await;
    assert!(
        again.is_err(),
        "a data directory that holds projects is refused, not reused silently"
    );
    Ok(())
}

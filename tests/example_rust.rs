// The README's Rust example ("Testing your app against Mammoth"), run by CI exactly as written.
use mammoth::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn creates_and_reads_a_todo() -> anyhow::Result<()> {
    let server = TestServer::start().await?; // in memory, on 127.0.0.1:0, in milliseconds
    let client = reqwest::Client::new();
    let todos = format!("{}/v1/collections/todos/documents", server.url());

    let created: Value = client
        .post(&todos)
        .header("X-API-Key", server.write_key())
        .json(&json!({"title": "write tests", "done": false}))
        .send()
        .await?
        .json()
        .await?;

    let id = created["id"].as_str().unwrap();
    let read = client
        .get(format!("{todos}/{id}"))
        .header("X-API-Key", server.read_key())
        .send()
        .await?;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await?["title"], "write tests");
    Ok(())
}

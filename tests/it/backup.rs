//! Backups, export and import (CONTRACT section 15, issue 19).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, ROOT, code, read};

async fn export_lines(server: &Instance, project: &str) -> (u64, Vec<String>) {
    let response = server
        .client
        .get(format!("{}/admin/v1/projects/{project}/export", server.url))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let seq = response.headers()["x-mammoth-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = response.text().await.unwrap();
    (seq, text.lines().map(str::to_owned).collect())
}

async fn import(server: &Instance, project: &str, body: String) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}/admin/v1/projects/{project}/import", server.url))
        .bearer_auth(ROOT)
        .body(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

/// Four writers write `w{k}-{i:06}` in order while a backup runs. The copy holds every write
/// acknowledged before the backup request was sent, each writer's writes form a prefix of its
/// sequence, and the copy's document count equals the commits in its `seq`: no holes anywhere
/// in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_four_writers_is_a_consistent_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Instance::on_disk(&data).await;
    let (project, key) = server.new_project("b").await;
    let (seq_before, _) = export_lines(&server, &project).await;
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for k in 0..4 {
        let (client, url, key) = (server.client.clone(), server.url.clone(), key.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let status = client
                    .post(format!("{url}/v1/collections/c/documents"))
                    .header("X-API-Key", &key)
                    .json(&json!({"id": format!("w{k}-{i:06}"), "i": i}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::CREATED);
                i += 1;
                acked[k].store(i, Ordering::SeqCst);
            }
        }));
    }
    // Let the writers get going, then back up with writes in flight.
    while acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>() < 200 {
        tokio::task::yield_now().await;
    }
    let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let (status, backup) = server.admin(Method::POST, "/backups", None).await;
    assert_eq!(status, StatusCode::CREATED, "{backup}");
    // Keep writing a little after the copy, so later writes exist and must not leak in.
    let after_backup: u64 = acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>() + 100;
    while acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>() < after_backup {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let (status, listed) = server.admin(Method::GET, "/backups", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["backups"][0]["path"], backup["path"]);
    server.stop().await;

    let restored = Instance::on_disk(std::path::Path::new(backup["path"].as_str().unwrap())).await;
    let (seq, lines) = export_lines(&restored, &project).await;
    let mut per_writer = vec![Vec::new(); 4];
    for line in &lines {
        let line: Value = serde_json::from_str(line).unwrap();
        let id = line["document"]["id"].as_str().unwrap();
        let k: usize = id[1..2].parse().unwrap();
        per_writer[k].push(line["document"]["i"].as_u64().unwrap());
    }
    for (k, seen) in per_writer.iter_mut().enumerate() {
        seen.sort_unstable();
        let n = seen.len() as u64;
        assert!(
            n >= before[k],
            "writer {k}: {} acknowledged before the backup, {n} in it",
            before[k]
        );
        assert_eq!(*seen, (0..n).collect::<Vec<_>>(), "writer {k} has holes");
    }
    assert_eq!(lines.len() as u64, seq - seq_before, "documents = commits");
    assert!(
        (lines.len() as u64) < after_backup,
        "writes made after the backup are not in it"
    );
    restored.stop().await;
}

#[tokio::test]
async fn in_memory_servers_refuse_backups_with_a_4xx() {
    let server = Instance::start().await;
    let (status, body) = server.admin(Method::POST, "/backups", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "bad_request");
    server.stop().await;
}

#[tokio::test]
async fn export_then_import_round_trips_byte_identical_documents() {
    let server = Instance::start().await;
    let (from, key) = server.new_project("from").await;
    for i in 0..30 {
        let collection = if i % 3 == 0 { "a" } else { "b-2" };
        let (status, _) = server
            .call_with(
                &key,
                Method::POST,
                &format!("/v1/collections/{collection}/documents"),
                Some(json!({"n": i, "f": 0.1 + f64::from(i), "s": "é\"\\\n", "deep": {"x": [1, {"y": null}]}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (seq, lines) = export_lines(&server, &from).await;
    assert_eq!(lines.len(), 30);
    assert_eq!(seq, 30);
    let (to, _) = server.new_project("to").await;
    let (status, body) = import(&server, &to, lines.join("\n") + "\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"], 30);
    assert_eq!(body["errors"], json!([]));
    let (_, again) = export_lines(&server, &to).await;
    assert_eq!(again, lines, "byte-identical after the round trip");
    server.stop().await;
}

#[tokio::test]
async fn an_import_reports_each_bad_line_with_its_number_and_keeps_the_good_ones() {
    let server = Instance::start().await;
    let (project, key) = server.new_project("p").await;
    let deep = (0..40).fold(json!(1), |v, _| json!({"d": v}));
    let lines = [
        r#"{"collection":"c","document":{"id":"a","x":1}}"#.to_owned(), // 1 ok
        "not json".to_owned(),                                          // 2
        r#"{"collection":"bad name","document":{}}"#.to_owned(),        // 3
        String::new(),                                                  // 4 blank: skipped
        r#"{"collection":"c","document":{"id":"b"}}"#.to_owned(),       // 5 ok
        r#"{"collection":"c","document":[1]}"#.to_owned(),              // 6
        r#"{"collection":"c","document":{"id":"no/slash"}}"#.to_owned(), // 7
        json!({"collection": "c", "document": deep}).to_string(),       // 8
        r#"{"collection":"c","document":{"id":"c"},"extra":1}"#.to_owned(), // 9
        r#"{"collection":"c","document":{}}"#.to_owned(),               // 10 ok, id generated
    ];
    let (status, body) = import(&server, &project, lines.join("\n")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"], 3, "{body}");
    let bad: Vec<u64> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(bad, vec![2, 3, 6, 7, 8, 9], "{body}");
    for e in body["errors"].as_array().unwrap() {
        assert_eq!(e["error"]["code"], "bad_request", "{e}");
    }
    let (status, doc) = server
        .call_with(&key, Method::GET, "/v1/collections/c/documents/b", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "imported documents are served: {doc}"
    );
    let (status, page) = server
        .call_with(
            &key,
            Method::POST,
            "/v1/collections/c/query",
            Some(json!({"filter": {"x": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["documents"][0]["id"], "a", "indexes see imports");
    server.stop().await;
}

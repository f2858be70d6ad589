//! CONTRACT section 2: restarts keep everything; an acknowledged write survives `kill -9`;
//! SIGTERM flushes periodic snapshots.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::Instance;

#[tokio::test]
async fn a_restart_keeps_projects_keys_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let s = Instance::on_disk(dir.path()).await;
    let (project, key) = (s.project.clone(), s.key.clone());
    assert!(
        !key.is_empty(),
        "a new data directory gets the default project"
    );
    let read_key = s.new_key(&project, "ro", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (other, other_key) = s.new_project("other").await;
    s.call(
        Method::PUT,
        "/v1/collections/c/documents/a",
        Some(json!({"v": 1, "nested": {"x": [1, 2]}})),
    )
    .await;
    s.call(
        Method::PUT,
        "/v1/collections/c/documents/b",
        Some(json!({"v": 2})),
    )
    .await;
    s.call(Method::DELETE, "/v1/collections/c/documents/b", None)
        .await;
    s.call_with(
        &other_key,
        Method::PUT,
        "/v1/collections/o/documents/z",
        Some(json!({"v": 3})),
    )
    .await;
    let (_, before) = s
        .call(Method::GET, "/v1/collections/c/documents/a", None)
        .await;
    s.stop().await;

    let s = Instance::on_disk(dir.path()).await;
    assert!(s.key.is_empty(), "no second default project on restart");
    let (status, after) = s
        .call_with(&key, Method::GET, "/v1/collections/c/documents/a", None)
        .await;
    assert_eq!(
        (status, &after),
        (StatusCode::OK, &before),
        "documents and keys survive"
    );
    let (status, _) = s
        .call_with(&key, Method::GET, "/v1/collections/c/documents/b", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deletes survive");
    let (status, _) = s
        .call_with(&read_key, Method::GET, "/v1/collections", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .call_with(
            &read_key,
            Method::POST,
            "/v1/collections/c/documents",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "permissions survive");
    let (_, doc) = s
        .call_with(
            &other_key,
            Method::GET,
            "/v1/collections/o/documents/z",
            None,
        )
        .await;
    assert_eq!(doc["v"], 3);
    let (_, projects) = s.admin(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"].as_array().unwrap().len(), 2);
    let (_, list) = s
        .admin(Method::GET, &format!("/projects/{other}/keys"), None)
        .await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    s.stop().await;
}

/// The binary, started on `dir`, with its stdout lines.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) key: Option<String>,
    _lines: Lines<BufReader<ChildStdout>>,
}

pub(crate) async fn spawn(dir: &std::path::Path, extra: &[&str], new_dir: bool) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .args(extra)
        .env("MAMMOTH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("a first line");
    let url = first
        .strip_prefix("listening on ")
        .expect("first line names the address")
        .to_owned();
    let mut key = None;
    if new_dir {
        // On a new data directory the next lines name the default project and key.
        for _ in 0..2 {
            let line = lines.next_line().await.unwrap().expect("bootstrap lines");
            if let Some(k) = line.strip_prefix("write key: ") {
                key = Some(k.to_owned());
            }
        }
    }
    Process {
        child,
        url,
        key,
        _lines: lines,
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(dir.path(), &["--durability", "sync"], true).await;
    let key = server.key.clone().expect("the default key is printed");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut writers = Vec::new();
    for w in 0..16 {
        let (url, key, acknowledged) = (server.url.clone(), key.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let client = Client::new();
            for i in 0..100_000 {
                let id = format!("w{w}-{i}");
                let sent = client
                    .post(format!("{url}/v1/collections/crash/documents"))
                    .header("X-API-Key", &key)
                    .json(&json!({"id": id, "writer": w, "i": i}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push(id)
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep_until(deadline.into()).await;
    server.child.start_kill().unwrap(); // SIGKILL, writers still running
    server.child.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 100,
        "the writers got going: {}",
        acknowledged.len()
    );

    let server = spawn(dir.path(), &[], false).await;
    let client = Client::new();
    let mut found = 0;
    for id in &acknowledged {
        let response = client
            .get(format!(
                "{}/v1/collections/crash/documents/{id}",
                server.url
            ))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            found += 1;
        }
    }
    eprintln!(
        "kill -9: {} writes acknowledged, {found} found after restart",
        acknowledged.len()
    );
    assert_eq!(
        found,
        acknowledged.len(),
        "every acknowledged write survives kill -9"
    );
}

#[tokio::test]
async fn sigterm_flushes_periodic_snapshots_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(
        dir.path(),
        &["--durability", "periodic", "--snapshot-interval", "1h"],
        true,
    )
    .await;
    let key = server.key.clone().unwrap();
    let client = Client::new();
    for i in 0..50 {
        let response = client
            .put(format!("{}/v1/collections/p/documents/d{i}", server.url))
            .header("X-API-Key", &key)
            .json(&json!({"i": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let pid = server.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().await.unwrap();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");

    let server = spawn(dir.path(), &["--durability", "periodic"], false).await;
    let response = client
        .get(format!("{}/v1/collections", server.url))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"collections": [{"name": "p", "count": 50}]}));
}

#[tokio::test]
async fn the_binary_counts_requests_by_route_and_status_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &["--root-token", "metrics-root"], true).await;
    let key = server.key.clone().unwrap();
    let client = Client::new();
    for _ in 0..3 {
        let response = client
            .get(format!("{}/v1/collections", server.url))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client
        .get(format!("{}/v1/collections", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = client
        .get(format!("{}/metrics", server.url))
        .bearer_auth("metrics-root")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ok = r#"mammoth_http_requests_total{method="GET",route="/v1/collections",status="200"} 3"#;
    let denied =
        r#"mammoth_http_requests_total{method="GET",route="/v1/collections",status="401"} 1"#;
    assert!(text.lines().any(|l| l == ok), "{text}");
    assert!(text.lines().any(|l| l == denied), "{text}");
    assert!(
        text.lines()
            .any(|l| l
                == r#"mammoth_http_request_duration_seconds_count{route="/v1/collections"} 4"#),
        "{text}"
    );
}

//! GET latency while an online backup runs (issue 19): seeds a project on disk through the
//! import route, measures GET-by-id latency for a baseline window, then starts
//! `POST /admin/v1/backups` and measures the GETs answered while it runs. Prints
//! `bench: <name> = <value> <unit>` lines (p50/p99/max of both windows, the backup's time and
//! size).
//!
//! Run: `cargo bench --bench backup_p99` (`MAMMOTH_BENCH_DOCS` sets the documents, default
//! 1,000,000; `MAMMOTH_BENCH_CONNECTIONS` the concurrent readers, default 8).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mammoth::testing::TestServer;
use serde_json::json;

const ROOT: &str = "bench-root-token";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(i: usize) -> String {
    let statuses = ["active", "inactive", "pending"];
    json!({"collection": "users", "document": {
        "id": format!("u{i:08}"), "name": format!("user-{i}"), "status": statuses[i % 3],
        "age": 18 + (i * 7919) % 62, "score": ((i * 104_729) % 10_000) as f64 / 100.0,
        "address": {"city": format!("city{}", i % 97), "zip": format!("{:05}", (i * 31) % 100_000)},
    }})
    .to_string()
}

/// Sorted latencies' quantile, in ms.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// GETs from `connections` readers until `stop`; every latency seen.
async fn readers(
    server: &TestServer,
    docs: usize,
    connections: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/collections/users/documents", server.url());
        let key = server.read_key().to_owned();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut x = c as u64 * 7_919 + 1;
            while !stop.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let id = (x >> 33) as usize % docs;
                let started = Instant::now();
                let response = client
                    .get(format!("{url}/u{id:08}"))
                    .header("X-API-Key", &key)
                    .send()
                    .await
                    .expect("a GET is answered");
                assert!(response.status().is_success(), "{}", response.status());
                let _ = response.bytes().await;
                seen.push(started.elapsed());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a reader"));
    }
    all.sort_unstable();
    all
}

fn print(name: &str, sorted: &[Duration], secs: f64) {
    println!("bench: backup.{name}.gets = {} requests", sorted.len());
    println!(
        "bench: backup.{name}.get_per_s = {:.0} req/s",
        sorted.len() as f64 / secs
    );
    for (label, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "bench: backup.{name}.get_{label} = {:.3} ms",
            quantile(sorted, q)
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let docs = env_usize("MAMMOTH_BENCH_DOCS", 1_000_000);
    let connections = env_usize("MAMMOTH_BENCH_CONNECTIONS", 8);
    let dir = tempfile::tempdir()?;
    let server = TestServer::builder()
        .data_dir(dir.path().join("data"))
        .root_token(ROOT)
        .start()
        .await?;
    let client = reqwest::Client::new();

    let started = Instant::now();
    let mut body = String::with_capacity(docs * 200);
    for i in 0..docs {
        body.push_str(&line(i));
        body.push('\n');
    }
    let answer: serde_json::Value = client
        .post(format!(
            "{}/admin/v1/projects/{}/import",
            server.url(),
            server.project()
        ))
        .bearer_auth(ROOT)
        .body(body)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(answer["imported"] == docs, "seeding failed: {answer}");
    eprintln!(
        "seeded {docs} documents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("bench: backup.docs = {docs} documents");

    // Baseline: GETs with no backup running.
    let window = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let base_started = Instant::now();
    let baseline = readers(&server, docs, connections, stop).await;
    timer.await?;
    print("idle", &baseline, base_started.elapsed().as_secs_f64());

    // The same GETs while a backup of every document runs (started once the readers are going).
    let stop = Arc::new(AtomicBool::new(false));
    let backup = {
        let (stop, client) = (stop.clone(), client.clone());
        let url = format!("{}/admin/v1/backups", server.url());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let answer: anyhow::Result<serde_json::Value> = async {
                Ok(client
                    .post(url)
                    .bearer_auth(ROOT)
                    .send()
                    .await?
                    .json()
                    .await?)
            }
            .await;
            let took = started.elapsed();
            // A little tail after the backup, so its last moments are measured too.
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.store(true, Ordering::Relaxed);
            (answer, took)
        })
    };
    let during_started = Instant::now();
    let during = readers(&server, docs, connections, stop).await;
    let (answer, took) = backup.await?;
    let answer = answer?;
    anyhow::ensure!(answer["path"].is_string(), "the backup failed: {answer}");
    print("during", &during, during_started.elapsed().as_secs_f64());
    println!(
        "bench: backup.seconds = {:.3} s ({} bytes, {} documents)",
        took.as_secs_f64(),
        answer["bytes"],
        answer["documents"]
    );
    server.stop().await?;
    Ok(())
}

//! Issue 13: a GET's latency on a project while another client runs queries no index serves
//! on the same project (a sort on a field a third of the documents carry, then on another,
//! filtered by `$ne`: no index serves it, every query visits every document). Before the sliced scan each such query held the
//! project actor for the whole scan; with it a GET waits for at most one slice.
//!
//! Starts a real server process (`MAMMOTH_BIN`, default this build's `mammoth`) in memory,
//! seeds `BENCH_DOCS` documents (default 100,000), then measures for `BENCH_SECS` seconds
//! each (default 10): GETs alone, then GETs while one client loops on the unindexable query,
//! then GETs while one client loops on aggregates with the same unindexable filter.
//! Prints `bench: <name> = <value> <unit>` lines. Bounded to well under 2 minutes.
//!
//! Run (after): `cargo bench --bench get_under_scan`
//! Run (before, on main's binary): `MAMMOTH_BIN=/work/main/target/release/mammoth cargo bench --bench get_under_scan`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!("bench: get_under_scan.{name}.count = {}", samples.len());
    for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "bench: get_under_scan.{name}.{label} = {:.3} ms",
            pct(&samples, p)
        );
    }
}

async fn gets(client: &reqwest::Client, url: &str, key: &str, secs: u64) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut samples = Vec::new();
    let mut i = 0usize;
    while Instant::now() < deadline {
        let id = format!("d{:06}", (i * 7919) % 1000);
        i += 1;
        let started = Instant::now();
        let response = client
            .get(format!("{url}/v1/collections/c/documents/{id}"))
            .header("X-API-Key", key)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
        samples.push(started.elapsed());
        // About 1,000 GETs per second: a steady reader, not a saturating one.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    samples
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin = std::env::var("MAMMOTH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mammoth").into());
    let docs: usize = std::env::var("BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--in-memory",
            "--listen",
            "127.0.0.1:0",
            "--ready-json",
            "--log",
            "error",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // The first stdout line that is JSON (a "listening on" line may come first).
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let ready: Value = loop {
        let mut line = String::new();
        anyhow::ensure!(stdout.read_line(&mut line)? > 0, "the server exited");
        if let Ok(ready) = serde_json::from_str(&line) {
            break ready;
        }
    };
    let url = ready["url"].as_str().expect("url").to_owned();
    let key = ready["write_key"].as_str().expect("write_key").to_owned();
    println!("bench: get_under_scan.server = {bin}");

    let client = reqwest::Client::new();
    let seeded = Instant::now();
    for chunk in (0..docs).collect::<Vec<_>>().chunks(500) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let mut body = json!({"n": i % 17, "title": format!("document number {i}")});
                if i % 3 == 0 {
                    body["s"] = json!(format!("x{i:06}"));
                }
                json!({"op": "create", "collection": "c", "id": format!("d{i:06}"), "body": body})
            })
            .collect();
        client
            .post(format!("{url}/v1/batch"))
            .header("X-API-Key", &key)
            .json(&json!({"ops": ops}))
            .send()
            .await?
            .error_for_status()?;
    }
    println!(
        "bench: get_under_scan.seed = {docs} docs in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    report("alone", gets(&client, &url, &key, secs).await);

    let query = (
        "query",
        json!({
            "filter": {"n": {"$ne": 3}},
            "sort": [{"field": "s"}, {"field": "n", "order": "desc"}],
            "limit": 20,
        }),
    );
    let aggregate = (
        "aggregate",
        json!({
            "filter": {"n": {"$ne": 3}},
            "aggregates": {"k": {"count": {}}, "total": {"sum": "n"}, "top": {"max": "s"}},
        }),
    );
    for (route, body) in [query, aggregate] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scanner = tokio::spawn({
            let (client, url, key, stop) = (client.clone(), url.clone(), key.clone(), stop.clone());
            async move {
                let mut samples = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = client
                        .post(format!("{url}/v1/collections/c/{route}"))
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await
                        .expect(route);
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                    samples.push(started.elapsed());
                }
                samples
            }
        });
        let under = gets(&client, &url, &key, secs).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let scans = scanner.await?;
        report(&format!("during_unindexed_{route}s"), under);
        report(&format!("unindexed_{route}"), scans);
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

//! Start-up of embedded test instances (issue 8): time from `TestServer::start()` to the first
//! successful document write, time from `mammoth serve --in-memory` to its ready line, and the
//! memory of an idle instance. Prints `bench: <name> = <value> <unit>` lines.
//!
//! Run: `cargo bench --bench startup`

use std::process::Stdio;
use std::time::{Duration, Instant};

use mammoth::testing::TestServer;
use tokio::io::{AsyncBufReadExt, BufReader};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!("bench: {name}.median = {:.2} ms", percentile(&samples, 0.5));
    println!("bench: {name}.p90 = {:.2} ms", percentile(&samples, 0.9));
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut to_first_write = Vec::new();
    for _ in 0..60 {
        let started = Instant::now();
        let server = TestServer::start().await?;
        let response = client
            .post(format!("{}/v1/collections/c/documents", server.url()))
            .header("X-API-Key", server.write_key())
            .body("{}")
            .send()
            .await?;
        assert_eq!(response.status(), 201);
        to_first_write.push(started.elapsed());
        server.stop().await?;
    }
    report("test_server_start_to_first_write", to_first_write);

    let mut to_ready = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
            .args([
                "serve",
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                "--ready-json",
                "--log",
                "warn",
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        while let Some(line) = lines.next_line().await? {
            if line.starts_with('{') {
                break;
            }
        }
        to_ready.push(started.elapsed());
        child.kill().await?;
    }
    report("serve_in_memory_to_ready_line", to_ready);

    let before = rss_bytes();
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TestServer::start().await?);
    }
    let per_instance = (rss_bytes().saturating_sub(before)) / 50;
    println!(
        "bench: idle_instance_memory = {:.1} KiB",
        per_instance as f64 / 1024.0
    );
    drop(idle);
    Ok(())
}

//! Import and export throughput (issue 19): `POST /admin/v1/projects/{id}/import` of
//! [`DOCS`] documents of about 200 bytes as NDJSON into a fresh instance on disk with `sync`
//! durability (the answer comes once every chunk is durable), then
//! `GET /admin/v1/projects/{id}/export` of them, over real HTTP on 127.0.0.1. Prints
//! `bench: import.docs_per_s`, `bench: export.docs_per_s` (targets: >= 150,000 and >= 300,000).
//!
//! Also prints the process's CPU time per document of each phase (`import.cpu_us_per_doc`,
//! `export.cpu_us_per_doc`: user + system, from `/proc/self/stat`), which a machine shared with
//! other work disturbs far less than the wall-clock rates.
//!
//! Run: `cargo bench --bench import_export`

use std::fmt::Write as _;
use std::time::Instant;

use mammoth::testing::TestServer;

/// The binary's allocator, so the figures are the shipped server's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

const DOCS: usize = 200_000;
const ROUNDS: usize = 3;

fn ndjson(docs: usize, round: usize) -> String {
    let mut out = String::with_capacity(docs * 260);
    for i in 0..docs {
        let _ = writeln!(
            out,
            r#"{{"collection":"items","document":{{"id":"r{round}-{i:07}","name":"item {i}","status":"{}","score":{},"city":"city{}","tags":["a","b{}"],"note":"lorem ipsum dolor sit amet, consectetur adipiscing elit"}}}}"#,
            ["active", "idle", "gone"][i % 3],
            i % 1000,
            i % 50,
            i % 7
        );
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut import_best = 0f64;
    let mut export_best = 0f64;
    let mut import_cpu = f64::MAX;
    let mut export_cpu = f64::MAX;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir()?;
        let server = TestServer::builder().data_dir(dir.path()).start().await?;
        let body = ndjson(DOCS, round);
        let bytes = body.len();
        let started = Instant::now();
        let cpu = cpu_seconds();
        let response = client
            .post(format!(
                "{}/admin/v1/projects/{}/import",
                server.url(),
                server.project()
            ))
            .bearer_auth(server.root_token())
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await?;
        let import_s = started.elapsed().as_secs_f64();
        let import_cpu_s = cpu_seconds() - cpu;
        anyhow::ensure!(
            status == 200 && answer["imported"] == DOCS,
            "import answered {status}: {answer}"
        );

        let started = Instant::now();
        let cpu = cpu_seconds();
        let response = client
            .get(format!(
                "{}/admin/v1/projects/{}/export",
                server.url(),
                server.project()
            ))
            .bearer_auth(server.root_token())
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "export answered {}",
            response.status()
        );
        let exported = response.bytes().await?;
        let export_s = started.elapsed().as_secs_f64();
        let export_cpu_s = cpu_seconds() - cpu;
        let lines = exported.iter().filter(|&&b| b == b'\n').count();
        anyhow::ensure!(lines >= DOCS, "export gave {lines} lines");
        println!(
            "round {round}: import {DOCS} docs ({:.1} MB) in {import_s:.3} s (cpu {import_cpu_s:.2} s), export {lines} lines in {export_s:.3} s (cpu {export_cpu_s:.2} s)",
            bytes as f64 / 1e6
        );
        import_cpu = import_cpu.min(import_cpu_s * 1e6 / DOCS as f64);
        export_cpu = export_cpu.min(export_cpu_s * 1e6 / DOCS as f64);
        import_best = import_best.max(DOCS as f64 / import_s);
        export_best = export_best.max(DOCS as f64 / export_s);
        server.stop().await?;
    }
    println!("bench: import.docs_per_s = {import_best:.0} docs/s");
    println!("bench: export.docs_per_s = {export_best:.0} docs/s");
    println!("bench: import.cpu_us_per_doc = {import_cpu:.2} us (server and client, this process)");
    println!("bench: export.cpu_us_per_doc = {export_cpu:.2} us (server and client, this process)");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

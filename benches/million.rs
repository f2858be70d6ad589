//! A million documents (issue 6): time for a server to load 1,000,000 documents of ~200 bytes
//! from redb, rebuild every index and accept requests, and the resident memory per stored
//! document once loaded. Prints `bench: <name> = <value> <unit>` lines.
//!
//! Two shapes, each in a fresh process: the ~200 B one (`million.*`) and the nested ~240 B
//! one the external judge loads (`million.nested.*`: server-made ULID ids and timestamps, an
//! `address` object and a `tags` array, like /work/shared/tools/perf/memory.py).
//!
//! Run: `cargo bench --bench million` (`MAMMOTH_BENCH_DOCS` changes the count).

use std::time::Instant;

use bytes::Bytes;
use mammoth::config::Config;
use mammoth::server::Server;
use mammoth_storage::{Mutation, Storage, StorageConfig};
use serde_json::json;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A document of about 200 bytes, a function of its index.
fn document(i: usize) -> serde_json::Value {
    let statuses = ["active", "inactive", "pending"];
    json!({
        "id": format!("u{i:08}"),
        "name": format!("user-{i}"),
        "status": statuses[i % 3],
        "age": 18 + (i * 7919) % 62,
        "score": ((i * 104_729) % 10_000) as f64 / 100.0,
        "address": {"city": format!("city{}", i % 97), "zip": format!("{:05}", (i * 31) % 100_000)},
        "created_at": "2026-11-25T00:00:00.000Z",
        "updated_at": "2026-11-25T00:00:00.000Z",
    })
}

/// The judge's nested shape: ~240 B once encoded.
fn nested(i: usize) -> (String, serde_json::Value) {
    let millis = 1_765_000_000_000 + i as u64 / 16;
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    let id = mammoth_actors::ids::ulid(millis, random);
    let t = mammoth_actors::ids::rfc3339_millis(millis);
    let doc = json!({
        "status": "active", "age": i % 90, "name": format!("user {i}"),
        "email": format!("u{i}@example.com"), "tags": ["a", "b"],
        "address": {"city": "Lyon", "zip": "69001"},
        "id": id, "created_at": t, "updated_at": t,
    });
    (id, doc)
}

fn main() -> anyhow::Result<()> {
    if let Ok(shape) = std::env::var("MILLION_SHAPE") {
        return run(&shape);
    }
    let exe = std::env::current_exe()?;
    for shape in ["plain", "nested"] {
        let out = std::process::Command::new(&exe)
            .env("MILLION_SHAPE", shape)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        anyhow::ensure!(out.status.success(), "the {shape} run failed");
    }
    Ok(())
}

#[tokio::main]
async fn run(shape: &str) -> anyhow::Result<()> {
    let prefix = if shape == "nested" {
        "million.nested"
    } else {
        "million"
    };
    let docs: usize = std::env::var("MAMMOTH_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mammoth.redb");

    // Write the data directory straight through storage, in large batches.
    let started = Instant::now();
    let config = StorageConfig {
        path: Some(path.clone()),
        ..StorageConfig::default()
    };
    let (storage, _) = Storage::open(config)?;
    let record = json!({"id": "bench", "name": "bench", "created_at": "2026-11-25T00:00:00.000Z", "allowed_origins": []});
    storage
        .submit(vec![Mutation::PutProject {
            project: "bench".into(),
            record: Bytes::from(record.to_string()),
        }])?
        .await?;
    let mut json_bytes = 0usize;
    for chunk in (0..docs).collect::<Vec<_>>().chunks(2_000) {
        let batch: Vec<Mutation> = chunk
            .iter()
            .map(|&i| {
                let (id, doc) = if prefix == "million" {
                    (format!("u{i:08}"), document(i))
                } else {
                    nested(i)
                };
                let bytes = serde_json::to_vec(&doc).expect("encodes");
                json_bytes += bytes.len();
                Mutation::PutDoc {
                    project: "bench".into(),
                    collection: "users".into(),
                    id,
                    doc: Bytes::from(bytes),
                    seq: 1,
                }
            })
            .collect();
        storage.submit(batch)?.await?;
    }
    storage.close()?;
    drop(storage);
    eprintln!(
        "wrote {docs} documents in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let before = rss_bytes();
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = Server::start(Config::on_disk(dir.path()), listener).await?;
    let loaded = started.elapsed();
    let after = rss_bytes();
    assert!(server.bootstrap().is_none(), "the bench project was loaded");
    let count = server
        .registry()
        .project("bench")
        .expect("loaded")
        .document_count()
        .await?;
    assert_eq!(count, docs);
    let per_doc = after.saturating_sub(before) as f64 / docs as f64;
    let avg_json = json_bytes as f64 / docs as f64;
    println!("bench: {prefix}.documents = {docs} docs");
    println!("bench: {prefix}.average_json = {avg_json:.0} bytes");
    println!(
        "bench: {prefix}.start_to_accepting = {:.2} s",
        loaded.as_secs_f64()
    );
    println!("bench: {prefix}.resident_per_document = {per_doc:.0} bytes");
    println!(
        "bench: {prefix}.resident_vs_json = {:.2} x",
        per_doc / avg_json
    );
    Ok(())
}

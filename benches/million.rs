//! A million documents (issue 6): time for a server to load 1,000,000 documents of ~200 bytes
//! from redb, rebuild every index and accept requests, and the resident memory per stored
//! document once loaded. Prints `bench: <name> = <value> <unit>` lines.
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
                let bytes = serde_json::to_vec(&document(i)).expect("encodes");
                json_bytes += bytes.len();
                Mutation::PutDoc {
                    project: "bench".into(),
                    collection: "users".into(),
                    id: format!("u{i:08}"),
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
    println!("bench: million.documents = {docs} docs");
    println!("bench: million.average_json = {avg_json:.0} bytes");
    println!(
        "bench: million.start_to_accepting = {:.2} s",
        loaded.as_secs_f64()
    );
    println!("bench: million.resident_per_document = {per_doc:.0} bytes");
    println!(
        "bench: million.resident_vs_json = {:.2} x",
        per_doc / avg_json
    );
    Ok(())
}

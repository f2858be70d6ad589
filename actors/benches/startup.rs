//! Start-up of a registry holding 4 projects × 100,000 documents (~200 bytes each): the time
//! `Registry::start` takes to build every project's state (documents parsed, indexes built)
//! and spawn its actor. Storage is in memory and the snapshot is built beforehand, so only the
//! registry's own loading is timed. Prints `bench: <name> = <value> <unit>` lines.
//!
//! Run with `cargo bench -p mammoth-actors --bench startup`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mammoth_actors::env::Env;
use mammoth_actors::records::{KeyMinter, ProjectRecord};
use mammoth_actors::registry::Registry;
use mammoth_storage::{ProjectSnapshot, Snapshot, Storage, StorageConfig};
use serde_json::json;

const PROJECTS: usize = 4;
const DOCS: usize = 100_000;

fn snapshot() -> Snapshot {
    let mut projects = BTreeMap::new();
    for p in 0..PROJECTS {
        let id = format!("p{p:03}");
        let record = ProjectRecord {
            id: id.clone(),
            name: format!("project {p}"),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            allowed_origins: Vec::new(),
            session_scope: None,
            ttl: Default::default(),
        };
        let mut docs = BTreeMap::new();
        for i in 0..DOCS {
            let doc = json!({
                "title": format!("document number {i} of project {p}"),
                "status": (["open", "closed", "draft"][i % 3]),
                "priority": i % 10,
                "tags": ["a", "b"],
                "owner": {"name": format!("user{}", i % 97), "age": 20 + i % 50},
            });
            docs.insert(
                format!("d{i:08}"),
                Bytes::from(serde_json::to_vec(&doc).unwrap()),
            );
        }
        let mut snapshot = ProjectSnapshot {
            record: Bytes::from(serde_json::to_vec(&record).unwrap()),
            ..ProjectSnapshot::default()
        };
        snapshot.docs.insert("items".into(), docs);
        projects.insert(id, snapshot);
    }
    Snapshot {
        meta: BTreeMap::new(),
        projects,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let minter: KeyMinter = Arc::new(|_| String::from("key"));
    let mut samples = Vec::new();
    for _ in 0..3 {
        let snapshot = snapshot();
        let (storage, _) = Storage::open(StorageConfig::default()).unwrap();
        let started = Instant::now();
        let registry = runtime
            .block_on(Registry::start(
                storage,
                snapshot,
                Env::default(),
                minter.clone(),
            ))
            .unwrap();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(registry.projects().len(), PROJECTS);
        registry.stop();
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "bench: registry start {PROJECTS}x{DOCS} docs = {:.0} ms (median of 3; cores {})",
        samples[1],
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

//! TTL sweep (CONTRACT section 14, issue 15): 100,000 documents of one project expire in the
//! same second while 4 readers GET other documents of that project in a loop. Prints how long
//! the sweep takes (memory, and until every delete is durable on disk with fsync) and the GET
//! latency percentiles before and during the sweep. Storage is redb on disk, `sync`
//! durability; calls go straight to the actor (no HTTP). The clock is a `ManualClock` moved by
//! one step, so all 100,000 are due at one instant (the worst case).
//!
//! Run with `cargo bench -p mammoth-actors --bench ttl_sweep`. Prints `bench: <name> = <value>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use mammoth_actors::ids::rfc3339_millis;
use mammoth_actors::project::{Access, KeyRef, Principal, ProjectUpdate};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Durability, Mutation, Storage, StorageConfig};
use serde_json::json;

const T0: u64 = 1_800_000_000_000;
const EXPIRING: usize = 100_000;
const LIVE: usize = 10_000;
const READERS: usize = 4;

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        path: Some(dir.path().join("db.redb")),
        durability: Durability::Sync,
        ..StorageConfig::default()
    };
    let clock = Arc::new(ManualClock::new(T0));
    let env = Env {
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
    };
    let (storage, snapshot) = Storage::open(config).unwrap();
    let registry = Registry::start(storage.clone(), snapshot, env, minter())
        .await
        .unwrap();
    let (project, issued) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let claims: KeyClaims = serde_json::from_str(&issued.key).unwrap();
    let access = Access::new(Principal::Key(KeyRef {
        key_id: claims.kid,
        nonce: claims.n,
    }));
    let mut ttl = BTreeMap::new();
    ttl.insert("sessions".to_owned(), Some("expires_at".to_owned()));
    handle
        .update(ProjectUpdate {
            ttl: Some(ttl),
            ..Default::default()
        })
        .await
        .unwrap();

    // Load: documents written straight to storage, then the actor reloads them (a restart).
    let started = Instant::now();
    let due = rfc3339_millis(T0 + 1_000);
    let later = rfc3339_millis(T0 + 3_600_000);
    let mut batch = Vec::new();
    for i in 0..EXPIRING + LIVE {
        let expires_at = if i < EXPIRING { &due } else { &later };
        let doc = json!({
            "id": format!("s{i:07}"),
            "user": format!("u{}", i % 997),
            "expires_at": expires_at,
            "data": "x".repeat(64),
            "created_at": rfc3339_millis(T0),
            "updated_at": rfc3339_millis(T0),
        });
        batch.push(Mutation::PutDoc {
            project: project.id.clone(),
            collection: "sessions".into(),
            id: format!("s{i:07}"),
            seq: 1,
            doc: Bytes::from(serde_json::to_vec(&doc).unwrap()),
        });
        if batch.len() == 4096 {
            storage
                .submit(std::mem::take(&mut batch))
                .unwrap()
                .await
                .unwrap();
        }
    }
    storage.submit(batch).unwrap().await.unwrap();
    let mut restarts = registry.restarts();
    let before = *restarts.borrow_and_update();
    handle.crash();
    restarts.wait_for(|n| *n > before).await.unwrap();
    assert_eq!(handle.document_count().await.unwrap(), EXPIRING + LIVE);
    println!(
        "bench: ttl_sweep.load_ms = {:.0} ({} documents)",
        started.elapsed().as_secs_f64() * 1e3,
        EXPIRING + LIVE
    );

    // Readers: GETs of documents that do not expire, timed one by one.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let handle = handle.clone();
        let access = access.clone();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("s{:07}", EXPIRING + i % LIVE);
                let t = Instant::now();
                handle
                    .get(access.clone(), "sessions".into(), id)
                    .await
                    .unwrap();
                samples.push((t, t.elapsed()));
                i += READERS;
            }
            samples
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The instant: every one of the 100,000 is due now. Only the readers' gets and the actor's
    // own timer drive the sweep (a get sweeps one step; anything else would sweep it all).
    let committed = storage.stats().mutations_committed;
    let steps = EXPIRING.div_ceil(1_024) as u64;
    let expired_at = Instant::now();
    clock.set(T0 + 1_000);
    while storage.stats().mutations_committed < committed + EXPIRING as u64 + steps {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let durable = expired_at.elapsed();
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(expired_at.elapsed())).await;
    let left = handle.document_count().await.unwrap();
    assert_eq!(left, LIVE);
    stop.store(true, Ordering::Relaxed);
    let mut baseline = Vec::new();
    let mut during = Vec::new();
    for reader in readers {
        for (at, took) in reader.await.unwrap() {
            if at + took < expired_at {
                baseline.push(took);
            } else {
                during.push(took);
            }
        }
    }
    baseline.sort();
    during.sort();
    let stored = storage.load_project(&project.id).unwrap().unwrap();
    assert_eq!(
        stored.doc_count(),
        LIVE,
        "every expired document is deleted on disk"
    );

    println!(
        "bench: ttl_sweep.durable_ms = {:.1} ({EXPIRING} documents due at one instant, until every delete is committed with fsync)",
        durable.as_secs_f64() * 1e3
    );
    println!(
        "bench: ttl_sweep.get_baseline p50/p99/max ms = {:.3} / {:.3} / {:.3} ({} GETs done before the instant)",
        pct(&baseline, 0.5),
        pct(&baseline, 0.99),
        pct(&baseline, 1.0),
        baseline.len()
    );
    println!(
        "bench: ttl_sweep.get_during p50/p99/max ms = {:.3} / {:.3} / {:.3} ({} GETs done in the second from the instant, sweep included)",
        pct(&during, 0.5),
        pct(&during, 0.99),
        pct(&during, 1.0),
        during.len()
    );
    registry.stop();
}

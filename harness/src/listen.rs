//! `--workload listen`: realtime fan-out (issue 14).
//!
//! Opens `--listeners` SSE streams (`POST /v1/listen`), each on its own connection, waits for
//! every snapshot, then merge-patches documents at `--rate` writes/s from [`WRITERS`]
//! connections for `--duration`. Every patch carries `sent_us`, the microseconds since the run
//! started on this process's clock, taken just before the request is sent; a listener that
//! receives the `changes` event records `now - sent_us`: commit-to-delivery latency including
//! the write itself (durability included), on an HDR histogram.
//!
//! - `--queries one` (default): every listener runs the same query, over [`HOT_DOCS`]
//!   documents; each write is delivered to every listener.
//! - `--queries per-user`: listener `i` watches `{"owner": "u<i>"}`, and each write patches the
//!   document of a random user; each write is delivered to one listener.
//!
//! It also reports the resident memory the open idle streams added (RSS after the snapshots
//! minus before: of the server process with `--server-bin` or `--rss-pid`, else of this
//! process, client and in-process server together) and the writes' own latency, to compare
//! against a run with `--listeners 0`. The stream reader lives in `listen/reader.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::Method;
use serde::Serialize;

use super::client::{Conn, Target};
use super::report::{Latency, Stats, TargetReport};

mod reader;

use reader::{Shared, histogram, latency, open_stream, rss_bytes};

/// Writer connections (each one write in flight).
pub(crate) const WRITERS: usize = 16;
/// Documents of the shared query.
pub(crate) const HOT_DOCS: usize = 10;
/// Streams opened at a time.
const OPENERS: usize = 64;
/// How long to wait for the last events after the writers stop.
const DRAIN: Duration = Duration::from_secs(1);
/// Latency histogram shards (listeners flush into `i % SHARDS`).
pub(crate) const SHARDS: usize = 16;

/// Which queries the listeners run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenQueries {
    /// All listeners on one query; every write reaches all of them.
    One,
    /// Listener i watches user i's documents; every write reaches one listener.
    PerUser,
}

/// What `--workload listen` measured.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ListenReport {
    /// Streams opened.
    pub listeners: u32,
    /// `one` or `per-user`.
    pub queries: String,
    /// Writes/s asked for.
    pub rate: u32,
    /// Writes acknowledged per second.
    pub writes_per_s: f64,
    /// Change events received per second (over the writers' time).
    pub delivered_per_s: f64,
    /// Change events received.
    pub delivered: u64,
    /// Change events the acknowledged writes should have produced.
    pub expected: u64,
    /// Streams that ended early (an `error` event or a dropped connection).
    pub streams_failed: u64,
    /// Commit-to-delivery latency (from just before the write was sent).
    pub delivery_ms: Option<Latency>,
    /// RSS the idle streams added, in MiB (this process; includes an in-process server).
    pub idle_rss_mib: Option<f64>,
    /// Seconds to open every stream and receive its snapshot.
    pub open_s: f64,
}

/// The document a write patches: a hot one, or user `i`'s.
fn doc_id(queries: ListenQueries, i: usize) -> String {
    match queries {
        ListenQueries::One => format!("hot{i}"),
        ListenQueries::PerUser => format!("user{i}"),
    }
}

/// Runs the listen workload on `target`; answers the writes' stats and the listen report.
pub(crate) async fn measure(
    target: &Arc<Target>,
    listeners: u32,
    rate: u32,
    queries: ListenQueries,
    duration: Duration,
    rss_pid: Option<u32>,
) -> anyhow::Result<(TargetReport, ListenReport)> {
    let collection = target
        .base
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let docs = match queries {
        ListenQueries::One => HOT_DOCS,
        ListenQueries::PerUser => (listeners as usize).max(1),
    };
    eprintln!("creating {docs} documents to patch");
    let mut setup = Vec::new();
    for w in 0..WRITERS.min(docs) {
        let target = target.clone();
        setup.push(tokio::spawn(async move {
            let mut conn = Conn::open(target.clone()).await?;
            for i in (w..docs).step_by(WRITERS) {
                let body =
                    serde_json::json!({"group": "all", "owner": format!("u{i}"), "sent_us": 0});
                let path = format!("{}/documents/{}", target.base, doc_id(queries, i));
                let (status, body) = conn
                    .send(target.request(Method::PUT, &path, Bytes::from(body.to_string())))
                    .await?;
                if !status.is_success() {
                    bail!(
                        "PUT {path} answered {status}: {}",
                        super::client::error_message(&body)
                    );
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in setup {
        task.await??;
    }

    let shared = Arc::new(Shared {
        base: Instant::now(),
        shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        counting: AtomicBool::new(false),
    });
    let rss_before = rss_bytes(rss_pid);
    eprintln!("opening {listeners} streams");
    let opened_at = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut openers = Vec::new();
    for _ in 0..OPENERS.min(listeners.max(1) as usize) {
        let (target, shared, next, collection) = (
            target.clone(),
            shared.clone(),
            next.clone(),
            collection.clone(),
        );
        openers.push(tokio::spawn(async move {
            let mut readers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= u64::from(listeners) {
                    break;
                }
                let filter = match queries {
                    ListenQueries::One => serde_json::json!({"group": "all"}),
                    ListenQueries::PerUser => serde_json::json!({"owner": format!("u{i}")}),
                };
                let body = serde_json::json!({"queries": {"q": {
                    "collection": collection, "filter": filter}}});
                let reader = open_stream(
                    target.clone(),
                    Bytes::from(body.to_string()),
                    shared.clone(),
                    i as usize % SHARDS,
                )
                .await
                .with_context(|| format!("opening stream {i}"))?;
                readers.push(reader);
            }
            anyhow::Ok(readers)
        }));
    }
    let mut readers = Vec::new();
    for opener in openers {
        readers.extend(opener.await??);
    }
    let open_s = opened_at.elapsed().as_secs_f64();
    // Let the server settle its per-stream allocations before reading the RSS.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = rss_bytes(rss_pid);
    let idle_rss_mib = match (rss_before, rss_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / (1 << 20) as f64),
        _ => None,
    };
    eprintln!(
        "{listeners} streams open in {open_s:.1} s; writing {rate}/s for {:.1} s",
        duration.as_secs_f64()
    );

    shared.counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let period = Duration::from_secs_f64(WRITERS as f64 / f64::from(rate.max(1)));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (target, shared) = (target.clone(), shared.clone());
        writers.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            let mut conn = Conn::open(target.clone()).await?;
            let mut rng = fastrand::Rng::with_seed(w as u64);
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + period.mul_f64(w as f64 / WRITERS as f64),
                period,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let end = started + duration;
            loop {
                tick.tick().await;
                if Instant::now() >= end {
                    break;
                }
                let i = rng.usize(0..docs);
                let path = format!("{}/documents/{}", target.base, doc_id(queries, i));
                let sent = Instant::now();
                let sent_us = shared.base.elapsed().as_micros() as u64;
                let body = format!("{{\"sent_us\":{sent_us}}}");
                match conn
                    .send(target.request(Method::PATCH, &path, Bytes::from(body)))
                    .await
                {
                    Ok((status, _)) if status.is_success() => stats.record_ok(sent.elapsed()),
                    Ok((status, _)) => stats.record_error(status.as_str()),
                    Err(_) => stats.record_error("io"),
                }
            }
            stats.set_elapsed(started.elapsed());
            anyhow::Ok(stats)
        }));
    }
    let mut writes = Stats::new();
    for writer in writers {
        let stats = writer.await??;
        writes.merge(&stats);
    }
    let elapsed = started.elapsed();
    writes.set_elapsed(elapsed);
    tokio::time::sleep(DRAIN).await;
    shared.counting.store(false, Ordering::Relaxed);
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    for reader in &readers {
        reader.abort();
    }
    for reader in readers {
        let _ = reader.await;
    }
    let mut all = histogram();
    for shard in &shared.shards {
        let h = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.add(&*h).expect("same bounds");
    }
    let writes = writes.summary();
    let expected = match queries {
        ListenQueries::One => writes.ok * u64::from(listeners),
        ListenQueries::PerUser if listeners > 0 => writes.ok,
        ListenQueries::PerUser => 0,
    };
    let report = ListenReport {
        listeners,
        queries: match queries {
            ListenQueries::One => "one".into(),
            ListenQueries::PerUser => "per-user".into(),
        },
        rate,
        writes_per_s: writes.req_per_s,
        delivered_per_s: delivered as f64 / elapsed.as_secs_f64(),
        delivered,
        expected,
        streams_failed: failed,
        delivery_ms: latency(&all),
        idle_rss_mib,
        open_s,
    };
    Ok((writes, report))
}

//! Commit latency and throughput of the storage writer, and load time on start.
//!
//! `cargo bench -p mammoth-storage --bench commit`. Plain `fn main`, timed with `Instant`, to keep
//! the build light. Knobs (environment):
//! - `MAMMOTH_BENCH_SECS` (default 2): how long each concurrency level runs.
//! - `MAMMOTH_BENCH_LOAD_DOCS` (default 1000000; 0 skips): documents written, then loaded.
//!
//! Sections:
//! 1. Baseline: redb directly, one insert per `Durability::Immediate` commit (one fsync per
//!    write), one writer.
//! 2. `Storage` in `Sync` mode: N submitters, each submitting one ~200-byte document and waiting
//!    for its ticket, in a loop. Group commit lets one fsync serve every submitter that arrived
//!    meanwhile, so writes/s grows with N while latency stays near one fsync.
//! 3. Load: a file of `MAMMOTH_BENCH_LOAD_DOCS` ~200-byte documents, reopened and fully loaded.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mammoth_storage::{Mutation, Storage, StorageConfig};
use redb::{Database, TableDefinition};

const DOC_BYTES: usize = 200;

fn main() {
    let secs = env_u64("MAMMOTH_BENCH_SECS", 2);
    let load_docs = env_u64("MAMMOTH_BENCH_LOAD_DOCS", 1_000_000) as usize;
    let run_for = Duration::from_secs(secs);
    let dir = tempfile::TempDir::new().expect("tempdir");
    let doc = Bytes::from(vec![b'x'; DOC_BYTES]);

    println!("commit benchmark: {secs} s per row, ~{DOC_BYTES}-byte documents, temp dir on the");
    println!("same disk as {}", dir.path().display());
    println!();
    println!(
        "{:<34} {:>7} {:>10} {:>8} {:>8} {:>8} {:>9}",
        "what", "writers", "writes/s", "p50 ms", "p99 ms", "commits", "writes/tx"
    );

    let baseline = baseline(&dir.path().join("baseline.redb"), &doc, run_for);
    baseline.print("redb: one fsync per write", 1);

    for writers in [1, 16, 64] {
        let path = dir.path().join(format!("sync-{writers}.redb"));
        let result = group_commit(&path, writers, &doc, run_for);
        result.print("storage Sync (group commit)", writers);
    }

    if load_docs > 0 {
        println!();
        load(&dir.path().join("load.redb"), load_docs, &doc);
    }
}

struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
    commits: u64,
}

impl Run {
    fn print(mut self, what: &str, writers: usize) {
        self.latencies.sort_unstable();
        let writes = self.latencies.len();
        let rate = writes as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<34} {:>7} {:>10.0} {:>8.3} {:>8.3} {:>8} {:>9.1}",
            what,
            writers,
            rate,
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            self.commits,
            writes as f64 / self.commits.max(1) as f64,
        );
        let key = if what.starts_with("redb") {
            "one_fsync_per_write".to_owned()
        } else {
            format!("group_commit_{writers}_writers")
        };
        println!("bench: {key}.writes_per_s = {rate:.0} writes/s");
        println!(
            "bench: {key}.p99 = {:.3} ms",
            ms(percentile(&self.latencies, 0.99))
        );
    }
}

/// One insert per fsync'd commit, straight into redb.
fn baseline(path: &std::path::Path, doc: &[u8], run_for: Duration) -> Run {
    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");
    let db = Database::create(path).expect("create");
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut i: u64 = 0;
    while started.elapsed() < run_for {
        let t = Instant::now();
        let mut txn = db.begin_write().expect("begin");
        txn.set_durability(redb::Durability::Immediate)
            .expect("durability");
        {
            let mut table = txn.open_table(TABLE).expect("table");
            let key = format!("p\0c\0{i:012}");
            table.insert(key.as_bytes(), doc).expect("insert");
        }
        txn.commit().expect("commit");
        latencies.push(t.elapsed());
        i += 1;
    }
    Run {
        elapsed: started.elapsed(),
        commits: latencies.len() as u64,
        latencies,
    }
}

/// `writers` threads, each: submit one document, wait for its ticket, repeat.
fn group_commit(path: &std::path::Path, writers: usize, doc: &Bytes, run_for: Duration) -> Run {
    let config = StorageConfig {
        path: Some(path.to_path_buf()),
        ..StorageConfig::default()
    };
    let (storage, _) = Storage::open(config).expect("open");
    let project = Mutation::PutProject {
        project: "p".into(),
        record: Bytes::new(),
    };
    storage
        .submit(vec![project])
        .expect("submit")
        .wait()
        .expect("durable");
    let commits_before = storage.stats().commits;

    let barrier = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let storage = storage.clone();
            let barrier = Arc::clone(&barrier);
            let doc = doc.clone();
            thread::spawn(move || {
                let mut latencies = Vec::new();
                barrier.wait();
                let started = Instant::now();
                let mut i: u64 = 0;
                while started.elapsed() < run_for {
                    let mutation = Mutation::PutDoc {
                        project: "p".into(),
                        collection: "c".into(),
                        id: format!("{w:03}-{i:010}"),
                        doc: doc.clone(),
                        seq: 1,
                    };
                    let t = Instant::now();
                    storage
                        .submit(vec![mutation])
                        .expect("submit")
                        .wait()
                        .expect("durable");
                    latencies.push(t.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for t in threads {
        latencies.extend(t.join().expect("writer thread"));
    }
    let elapsed = started.elapsed();
    let commits = storage.stats().commits - commits_before;
    storage.close().expect("close");
    Run {
        latencies,
        elapsed,
        commits,
    }
}

/// Writes `docs` documents with time-ordered ids, then times a full open.
fn load(path: &std::path::Path, docs: usize, doc: &Bytes) {
    let config = StorageConfig {
        path: Some(path.to_path_buf()),
        ..StorageConfig::default()
    };
    let (storage, _) = Storage::open(config.clone()).expect("open");
    let project = Mutation::PutProject {
        project: "p".into(),
        record: Bytes::new(),
    };
    storage
        .submit(vec![project])
        .expect("submit")
        .wait()
        .expect("durable");
    let started = Instant::now();
    let chunk = 1_000;
    let mut tickets = Vec::new();
    for start in (0..docs).step_by(chunk) {
        let batch = (start..(start + chunk).min(docs))
            .map(|i| Mutation::PutDoc {
                project: "p".into(),
                collection: format!("c{}", i % 4),
                id: format!("{i:012}"),
                doc: doc.clone(),
                seq: 1,
            })
            .collect();
        tickets.push(storage.submit(batch).expect("submit"));
        // Stay well under max_pending.
        if tickets.len() >= 32 {
            tickets.drain(..).for_each(|t| t.wait().expect("durable"));
        }
    }
    tickets.drain(..).for_each(|t| t.wait().expect("durable"));
    let wrote = started.elapsed();
    storage.close().expect("close");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let started = Instant::now();
    let (storage, snapshot) = Storage::open(config).expect("reopen");
    let loaded = started.elapsed();
    let count = snapshot.projects["p"].doc_count();
    assert_eq!(count, docs, "every document loads");
    println!(
        "load: wrote {docs} docs in {:.2} s ({:.0} docs/s, file {:.0} MiB); open + full load \
         took {:.2} s ({:.0} docs/s)",
        wrote.as_secs_f64(),
        docs as f64 / wrote.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0),
        loaded.as_secs_f64(),
        docs as f64 / loaded.as_secs_f64(),
    );
    println!("bench: load_{docs}_docs = {:.2} s", loaded.as_secs_f64());
    drop(snapshot);
    storage.close().expect("close");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

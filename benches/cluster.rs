//! Issue 16's benchmark: durable creates at 64 connections on a three-node local cluster
//! (127.0.0.1-3, real processes) against a single node, and the failover time over 20 `kill -9`s
//! of the owner. Prints `bench: <name> = <value> <unit>` lines.
//!
//! Run: `cargo bench --bench cluster` (env `CLUSTER_BENCH_SECS`, default 10, seconds per
//! throughput run; `CLUSTER_BENCH_KILLS`, default 20).
//!
//! Throughput comes from `mammoth bench --url ... --workload create --connections 64` (the
//! load harness, an HDR histogram per run) against: a single node `--durability sync`, the
//! cluster's owner, and a non-owner (every request forwarded one hop). Failover time is from the
//! SIGKILL of the owner to the first create a survivor acknowledges (one prober trying both
//! survivors, 2 s per attempt); the killed node is restarted and must serve a forwarded write
//! before the next kill.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const SECRET: &str = "cluster-bench-secret-0123456789abcdef";
const ROOT: &str = "root-cluster-bench";
const BIN: &str = env!("CARGO_BIN_EXE_mammoth");

struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(ip: &str, dir: &Path, cluster: Option<(u64, &str)>) -> Node {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", &format!("{ip}:0"), "--data"])
        .arg(dir)
        .args(["--jwt-secret", SECRET, "--root-token", ROOT])
        .env(
            "MAMMOTH_LOG",
            std::env::var("CLUSTER_BENCH_LOG_LEVEL").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::piped())
        .stderr(match std::env::var_os("CLUSTER_BENCH_LOGS") {
            // `CLUSTER_BENCH_LOGS=DIR`: each process's log goes to DIR/<ip>.log (appended).
            Some(dir) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(&dir).join(format!("{ip}.log")))
                    .expect("the log file opens"),
            ),
            None => Stdio::null(),
        });
    if let Some((id, list)) = cluster {
        command.args(["--node-id", &id.to_string(), "--cluster", list]);
    }
    let mut child = command.spawn().expect("mammoth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("a listening line").unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Node { child, url }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// The leader some node reports, waiting up to 20 s.
fn leader(http: &reqwest::blocking::Client, urls: &[&str]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for url in urls {
            if let Ok(answer) = http
                .get(format!("{url}/admin/v1/cluster"))
                .bearer_auth(ROOT)
                .send()
                && let Ok(body) = answer.json::<Value>()
                && let Some(l) = body["leader"].as_u64()
            {
                return l;
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A write key of a new project, created through `url` (retrying 503s).
fn project(http: &reqwest::blocking::Client, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(answer) = http
            .post(format!("{url}/admin/v1/projects"))
            .bearer_auth(ROOT)
            .json(&json!({"name": "bench"}))
            .send()
            && answer.status().is_success()
        {
            let body: Value = answer.json().unwrap();
            return body["api_key"]["key"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no project on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mammoth bench` creates at 64 connections against `url`; answers req/s.
fn creates(url: &str, key: &str, secs: u64, out: &Path) -> f64 {
    let status = Command::new(BIN)
        .args(["bench", "--url", url, "--key", key, "--workload", "create"])
        .args([
            "--connections",
            "64",
            "--docs",
            "64",
            "--seed-connections",
            "4",
        ])
        .args(["--warmup", "1s"])
        .args(["--duration", &format!("{secs}s"), "--json"])
        .arg(out)
        .output()
        .expect("mammoth bench runs");
    assert!(
        status.status.success(),
        "mammoth bench failed against {url}: {}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let errors = &report["mammoth"]["errors"];
    if errors.as_object().is_some_and(|e| !e.is_empty()) {
        println!("bench: errors against {url}: {errors}");
    }
    report["mammoth"]["req_per_s"].as_f64().unwrap()
}

fn create_ok(http: &reqwest::blocking::Client, url: &str, key: &str, timeout: Duration) -> bool {
    http.post(format!("{url}/v1/collections/probe/documents"))
        .header("X-API-Key", key)
        .json(&json!({"n": 1}))
        .timeout(timeout)
        .send()
        .is_ok_and(|a| a.status() == 201)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let secs = env_u64("CLUSTER_BENCH_SECS", 10);
    let kills = env_u64("CLUSTER_BENCH_KILLS", 20);
    let root = tempfile::tempdir().unwrap();
    let http = client();

    // A single node (CLUSTER_BENCH_SECS=0 skips the throughput runs).
    if secs > 0 {
        throughput(&http, root.path(), secs);
    }
    failover(&http, root.path(), kills);
}

/// Creates at 64 connections: one node, then three (through the owner and a non-owner).
fn throughput(http: &reqwest::blocking::Client, root: &Path, secs: u64) {
    let single = spawn("127.0.0.1", &root.join("single"), None);
    let key = project(http, &single.url);
    let one = creates(&single.url, &key, secs, &root.join("single.json"));
    drop(single);
    println!("bench: cluster.single_node_creates = {one:.0} req/s");

    // Three nodes.
    let list = cluster_list();
    let dirs: Vec<_> = (1..=3).map(|i| root.join(format!("n{i}"))).collect();
    let nodes: Vec<Node> = (1..=3u64)
        .map(|id| {
            spawn(
                &format!("127.0.0.{id}"),
                &dirs[id as usize - 1],
                Some((id, &list)),
            )
        })
        .collect();
    let urls = |nodes: &[Node]| nodes.iter().map(|n| n.url.clone()).collect::<Vec<_>>();
    let all = urls(&nodes);
    let owner = leader(http, &all.iter().map(String::as_str).collect::<Vec<_>>()) as usize;
    let key = project(http, &all[owner - 1]);
    let three = creates(&all[owner - 1], &key, secs, &root.join("owner.json"));
    println!("bench: cluster.three_nodes_owner_creates = {three:.0} req/s");
    println!(
        "bench: cluster.three_nodes_vs_single = {:.0} %",
        three / one * 100.0
    );
    let other = &all[owner % 3];
    let forwarded = creates(other, &key, secs, &root.join("forwarded.json"));
    println!("bench: cluster.three_nodes_forwarded_creates = {forwarded:.0} req/s");
}

fn cluster_list() -> String {
    (1..=3)
        .map(|id| {
            let ip = format!("127.0.0.{id}");
            format!("{id}={ip}:{}", free_port(&ip))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Failover over `kills` kill -9s of the owner, on a fresh three-node cluster.
fn failover(http: &reqwest::blocking::Client, root: &Path, kills: u64) {
    let list = cluster_list();
    let dirs: Vec<_> = (1..=3).map(|i| root.join(format!("f{i}"))).collect();
    let mut nodes: Vec<Node> = (1..=3u64)
        .map(|id| {
            spawn(
                &format!("127.0.0.{id}"),
                &dirs[id as usize - 1],
                Some((id, &list)),
            )
        })
        .collect();
    let urls = |nodes: &[Node]| nodes.iter().map(|n| n.url.clone()).collect::<Vec<_>>();
    let all = urls(&nodes);
    let owner = leader(http, &all.iter().map(String::as_str).collect::<Vec<_>>()) as usize;
    let key = project(http, &all[owner - 1]);
    // Failover over `kills` kill -9s of the owner.
    let mut times = Vec::new();
    for k in 0..kills {
        let all = urls(&nodes);
        let owner = leader(http, &all.iter().map(String::as_str).collect::<Vec<_>>()) as usize;
        // The owner serves before it is killed.
        while !create_ok(http, &all[owner - 1], &key, Duration::from_secs(2)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let victim = &mut nodes[owner - 1];
        victim.child.kill().unwrap(); // SIGKILL
        let killed = Instant::now();
        victim.child.wait().unwrap();
        let survivors: Vec<&String> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != owner - 1)
            .map(|(_, u)| u)
            .collect();
        'probe: loop {
            for url in &survivors {
                if create_ok(http, url, &key, Duration::from_secs(2)) {
                    break 'probe;
                }
            }
            assert!(killed.elapsed() < Duration::from_secs(30), "no failover");
        }
        let ms = killed.elapsed().as_secs_f64() * 1000.0;
        println!("kill {k}: node {owner}, failover {ms:.0} ms");
        times.push(ms);
        // Restart it; it must serve (forwarding to the new owner) before the next kill.
        let ip = format!("127.0.0.{owner}");
        nodes[owner - 1] = spawn(&ip, &dirs[owner - 1], Some((owner as u64, &list)));
        let back = nodes[owner - 1].url.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !create_ok(http, &back, &key, Duration::from_secs(2)) {
            assert!(Instant::now() < deadline, "the restarted node never served");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !times.is_empty() {
        times.sort_by(f64::total_cmp);
        println!(
            "bench: cluster.failover_ms over {} kills: p50 = {:.0} ms, p90 = {:.0} ms, max = {:.0} ms",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times[times.len() - 1]
        );
    }
}

//! End-user auth (issue 4): what one Argon2id hash costs, how many password logins per second a
//! server answers over real HTTP with N concurrent clients, and what a login storm does to the
//! latency of document reads (p50/p99 with and without the storm).
//!
//! The server runs as its own process (`mammoth serve --in-memory`), the clients here. Prints
//! `bench: <name> = <value> <unit>` lines.
//!
//! Run: `cargo bench --bench auth`

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::PasswordHasher;
use mammoth::password::{PARAMS, PasswordPool, hasher};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "correct horse battery";
/// How long each load phase runs.
const PHASE: Duration = Duration::from_secs(3);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Server {
    url: String,
    key: String,
    child: tokio::process::Child,
}

async fn start_server() -> anyhow::Result<Server> {
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
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting mammoth")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        if let Ok(ready) = serde_json::from_str::<Value>(&line)
            && let (Some(url), Some(key)) = (ready["url"].as_str(), ready["write_key"].as_str())
        {
            return Ok(Server {
                url: url.to_owned(),
                key: key.to_owned(),
                child,
            });
        }
    }
    anyhow::bail!("the server stopped before printing its ready line")
}

async fn post(client: &reqwest::Client, s: &Server, path: &str, body: Value) -> u16 {
    client
        .post(format!("{}{path}", s.url))
        .header("X-API-Key", &s.key)
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// `clients` tasks, each logging its own user in again and again for [`PHASE`].
async fn login_storm(
    client: &reqwest::Client,
    s: &Arc<Server>,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(usize, usize, Vec<Duration>)>> {
    (0..clients)
        .map(|i| {
            let (client, s, stop) = (client.clone(), s.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
                let body = json!({"email": format!("user{i}@example.com"), "password": PASSWORD});
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    if post(&client, &s, "/v1/auth/login", body.clone()).await == 200 {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                    latencies.push(started.elapsed());
                }
                (ok, failed, latencies)
            })
        })
        .collect()
}

/// One client reading one document back to back for [`PHASE`]; answers the latencies.
async fn read_for_a_while(client: &reqwest::Client, s: &Server) -> anyhow::Result<Vec<Duration>> {
    let url = format!("{}/v1/collections/bench/documents/doc", s.url);
    let mut latencies = Vec::new();
    let until = Instant::now() + PHASE;
    while Instant::now() < until {
        let started = Instant::now();
        let response = client.get(&url).header("X-API-Key", &s.key).send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "GET answered {}",
            response.status()
        );
        response.bytes().await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}

fn report_latency(name: &str, sorted: &[Duration]) {
    println!("bench: {name}.requests = {}", sorted.len());
    println!("bench: {name}.p50 = {:.3} ms", ms(percentile(sorted, 0.5)));
    println!("bench: {name}.p99 = {:.3} ms", ms(percentile(sorted, 0.99)));
    println!("bench: {name}.max = {:.3} ms", ms(percentile(sorted, 1.0)));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Argon2id itself, on this thread.
    let (m, t, p) = PARAMS;
    println!("bench: argon2.params = Argon2id v19 m={m} KiB t={t} p={p}");
    let argon = hasher();
    let mut hashes = Vec::new();
    let mut last = String::new();
    for i in 0..30u8 {
        let started = Instant::now();
        last = argon
            .hash_password_with_salt(PASSWORD.as_bytes(), &[i; 16])
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        hashes.push(started.elapsed());
    }
    hashes.sort();
    println!(
        "bench: argon2.hash.median = {:.2} ms",
        ms(percentile(&hashes, 0.5))
    );
    println!(
        "bench: argon2.hash.p90 = {:.2} ms",
        ms(percentile(&hashes, 0.9))
    );
    let pool = PasswordPool::for_this_machine();
    let mut verifies = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        assert!(pool.verify(PASSWORD.into(), Some(last.clone())).await?);
        verifies.push(started.elapsed());
    }
    verifies.sort();
    println!(
        "bench: argon2.verify_on_pool.median = {:.2} ms",
        ms(percentile(&verifies, 0.5))
    );
    println!("bench: pool.threads = {}", pool.threads());

    // 2. Logins over real HTTP.
    let s = Arc::new(start_server().await?);
    let client = reqwest::Client::new();
    const MAX_CLIENTS: usize = 64;
    for i in 0..MAX_CLIENTS {
        let body = json!({"email": format!("user{i}@example.com"), "password": PASSWORD});
        anyhow::ensure!(
            post(&client, &s, "/v1/auth/signup", body).await == 201,
            "signup"
        );
    }
    anyhow::ensure!(
        post(
            &client,
            &s,
            "/v1/collections/bench/documents",
            json!({"id": "doc", "v": 1})
        )
        .await
            == 201,
        "document"
    );
    for clients in [1, 4, 16, 64] {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tasks = login_storm(&client, &s, clients, stop.clone()).await;
        tokio::time::sleep(PHASE).await;
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
        for task in tasks {
            let (o, f, l) = task.await?;
            ok += o;
            failed += f;
            latencies.extend(l);
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "bench: login.clients_{clients}.throughput = {:.1} logins/s ({ok} ok, {failed} failed)",
            ok as f64 / elapsed
        );
        println!(
            "bench: login.clients_{clients}.p50 = {:.1} ms, p99 = {:.1} ms",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
    }

    // 3. Document reads alone, then during a storm of 32 concurrent logins.
    let quiet = read_for_a_while(&client, &s).await?;
    report_latency("get_without_storm", &quiet);
    let stop = Arc::new(AtomicBool::new(false));
    let storm = login_storm(&client, &s, 32, stop.clone()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stormy = read_for_a_while(&client, &s).await?;
    stop.store(true, Ordering::Relaxed);
    let mut logins = 0;
    for task in storm {
        logins += task.await?.0;
    }
    report_latency("get_during_login_storm", &stormy);
    println!("bench: get_during_login_storm.logins_meanwhile = {logins}");

    let mut s = Arc::into_inner(s).context("clients are done")?;
    s.child.start_kill()?;
    s.child.wait().await?;
    Ok(())
}

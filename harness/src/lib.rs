//! # The load harness: `mammoth bench`
//!
//! Its own crate so the server crate stays the server: it depends on HTTP crates and on
//! `mammoth-actors` (the ceiling reuses its merge-patch), never on `mammoth`; the binary's
//! `bench` subcommand calls [`main`] with the in-process runner ([`Launch`]).
//!
//! Drives a Mammoth over HTTP the way `redis-benchmark` or `pgbench` drive theirs: it seeds a
//! fresh collection (`bench_<random>`, documents of about 200 bytes, many requests at a time),
//! warms up, then runs a workload on `--connections` keep-alive connections for `--duration`
//! and prints requests per second and latency percentiles (an HDR histogram), with failures
//! counted by HTTP status.
//!
//! With `--ceiling` the same process also starts a bare axum server that answers the same
//! routes from a `HashMap` (`ceiling`), seeds it with the same documents, and runs the same
//! workload against it in alternating rounds (Mammoth, ceiling, ceiling, Mammoth, ...), so that
//! the noise of a shared machine hits both; Mammoth's req/s over the ceiling's is its share of
//! what HTTP alone allows here.
//!
//! Without `--url` it starts its own Mammoth in this process (`--server memory|sync|periodic`),
//! so one command measures everything. The servers (that one and the ceiling) run on a runtime
//! of their own, apart from the client's, as a separate process would.
//!
//! # Layout
//! - `workload`: the seeded documents, the request mixes, the example query.
//! - `client`: one hyper HTTP/1 connection per worker; the requests; the start-up probe.
//! - `seed`: concurrent seeding with progress on stderr.
//! - `round`: timed rounds over a target's connections.
//! - `report`: histograms and counts, the printed table and the `--json` file.
//! - `ceiling`: the bare HashMap server of `--ceiling`.
//! - `instance`: what the harness asks of the caller to start its own Mammoth ([`Launch`]).
//! - `process`: `--server-bin`, the Mammoth under test as a child process; the open-file limit.
//! - `listen`: `--workload listen`, realtime fan-out (its stream reader in `listen/reader`).
//!
//! Its end-to-end tests live in the server crate (`tests/it/harness.rs`), which has both.

mod ceiling;
mod client;
mod cpu;
mod instance;
mod listen;
mod measure;
mod plot;
mod process;
mod report;
mod round;
mod seed;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hyper::{Method, StatusCode};

use ceiling::Ceiling;
use client::{Conn, Target};
pub use instance::{BoxFuture, Instance, Launch, ServerKind};
pub use listen::{ListenQueries, ListenReport};
use measure::measure;
use process::ServerProcess;
pub use report::{Latency, Report, TargetReport};
use round::Pool;
use workload::PageQuery;
pub use workload::{EXAMPLE_QUERY, OR_QUERY, Workload};

/// `mammoth bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of a running Mammoth (plain http). Without it, bench starts its own instance
    /// in this process (see --server).
    #[arg(long, requires = "key")]
    pub url: Option<String>,
    /// A write key of a project on --url (bench seeds its own collection there).
    #[arg(long, requires = "url")]
    pub key: Option<String>,
    /// The instance to start when no --url is given: in memory, or on disk acknowledging
    /// writes after an fsync'd group commit (sync) or from memory (periodic).
    #[arg(long, value_enum, default_value_t = ServerKind::Memory, conflicts_with = "url")]
    pub server: ServerKind,
    /// Start the Mammoth under test as a separate process, `PATH serve --in-memory` on a free
    /// port (e.g. the `mammoth` binary itself), instead of in this process: its RSS is then its
    /// own, and each side holds only its own sockets (needed for 10,000 listeners).
    #[arg(long, conflicts_with_all = ["url", "data"])]
    pub server_bin: Option<PathBuf>,
    /// Data directory of the instance started with --server sync|periodic (default: a fresh
    /// temporary directory, removed afterwards).
    #[arg(long, conflicts_with = "url")]
    pub data: Option<PathBuf>,
    /// What to send: get by random id, the example query, creates, merge-patches, a mix
    /// of 80 % get, 10 % query, 10 % update, batches of creates, or the `$or` query.
    #[arg(long, value_enum, default_value_t = Workload::Get)]
    pub workload: Workload,
    /// Keep-alive connections per target, each with one request in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Time measured per target (e.g. 10, 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up per target before the first round (0 for none).
    #[arg(long, default_value = "1s", value_parser = parse_warmup)]
    pub warmup: Duration,
    /// Documents to seed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub docs: u64,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub seed_connections: u32,
    /// Also measure a bare axum server answering the same requests from a HashMap, and print
    /// Mammoth's share of its req/s.
    #[arg(long)]
    pub ceiling: bool,
    /// Rounds per target; with --ceiling they alternate with the ceiling's. Each round lasts
    /// duration / rounds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also draw the run as an SVG picture (latency histogram, throughput per round).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// `--workload listen`: SSE streams to open (each its own connection; an in-process server
    /// needs two descriptors per stream, so use --server-bin or --url beyond a few thousand;
    /// bench raises its soft open-file limit to the hard one, `ulimit -n` raises that).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub listeners: u32,
    /// `--workload listen`: merge-patches per second, from 16 connections.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,
    /// `--workload listen`: every listener on one query, or each on its own user's documents.
    #[arg(long, value_enum, default_value_t = ListenQueries::One)]
    pub queries: ListenQueries,
    /// `--workload listen`: read the idle streams' RSS from this process (the server's, with
    /// --url) instead of the bench's own.
    #[arg(long)]
    pub rss_pid: Option<u32>,
}

/// A duration like `10`, `10s`, `500ms`, `1m` or `1h` (1 ms to 24 h): the syntax of
/// `mammoth serve --snapshot-interval`, kept equal by `tests/it/harness.rs`
/// (`durations_parse_as_serve_does`), since this crate cannot import the server's config.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 1s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit; use ms, s, m or h")),
    };
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(format!("'{s}' is out of range (1ms to 24h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_warmup(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        other => parse_duration(other),
    }
}

/// Runs `mammoth bench`: prints the report on stdout (progress on stderr) and writes `--json`.
/// A failure (an unreachable server, a refused key, ...) is printed as one line on stderr and
/// ends the process with status 1, without the backtrace `RUST_BACKTRACE` would add.
/// `launch` starts the in-process instance when no `--url` is given.
pub fn main(args: BenchArgs, launch: Launch) -> anyhow::Result<()> {
    if let Err(e) = run_main(&args, launch) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn run_main(args: &BenchArgs, launch: Launch) -> anyhow::Result<()> {
    let needed = u64::from(args.listeners) * 2 + 256;
    if let Some(limit) = process::raise_nofile_limit()
        && args.workload == Workload::Listen
        && limit < needed
    {
        eprintln!(
            "warning: the open-file limit is {limit}; {} listeners may need {needed} \
             (raise it with `ulimit -n {needed}`, or use --server-bin)",
            args.listeners
        );
    }
    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()
        .context("starting the client runtime")?;
    let servers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()
        .context("starting the server runtime")?;
    let report = client.block_on(run(args, servers.handle(), launch))?;
    print!("{report}");
    if let Some(path) = &args.json {
        write_json(&report, path)?;
    }
    if let Some(path) = &args.plot {
        plot::write_svg(&report, path)?;
    }
    client.shutdown_timeout(Duration::from_secs(1));
    servers.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Writes the report as pretty JSON.
pub fn write_json(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report).expect("a report encodes");
    std::fs::write(path, json + "\n")
        .with_context(|| format!("writing the results to {}", path.display()))
}

/// Seeds, measures and reports. Servers the harness starts (its own Mammoth, the ceiling) run
/// on `servers` (its own Mammoth started by `launch`); requests are sent from the current runtime.
pub async fn run(
    args: &BenchArgs,
    servers: &tokio::runtime::Handle,
    launch: Launch,
) -> anyhow::Result<Report> {
    let child = match (&args.server_bin, &args.url) {
        (Some(bin), None) => {
            let bin = process::server_bin(bin)?;
            let connections = args.listeners + 1_000;
            let started =
                tokio::task::spawn_blocking(move || ServerProcess::start(&bin, connections))
                    .await??;
            eprintln!(
                "started a separate Mammoth (pid {}) at {}",
                started.pid(),
                started.url
            );
            Some(started)
        }
        _ => None,
    };
    let (instance, url, key, server) = match (&args.url, &args.key) {
        (Some(url), Some(key)) => (None, url.clone(), key.clone(), "external".to_owned()),
        (None, None) if child.is_some() => {
            let started = child.as_ref().expect("checked");
            (
                None,
                started.url.clone(),
                started.key.clone(),
                "process".to_owned(),
            )
        }
        (None, None) => {
            let instance = servers
                .spawn(launch(args.server, args.data.clone()))
                .await??;
            let (url, key) = (instance.url.clone(), instance.key.clone());
            eprintln!(
                "started an in-process Mammoth ({}) at {url}",
                args.server.name()
            );
            (Some(instance), url, key, args.server.name().to_owned())
        }
        _ => anyhow::bail!("--url and --key go together"),
    };
    let mut args = args.clone();
    if let Some(child) = &child {
        args.rss_pid = args.rss_pid.or(Some(child.pid()));
    }
    let result = measure(&args, servers, &url, &key, server).await;
    drop(child);
    if let Some(instance) = instance {
        instance
            .stop
            .await
            .context("stopping the in-process server")?;
    }
    result
}

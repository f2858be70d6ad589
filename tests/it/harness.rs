//! Tests of the harness itself: arguments, short runs against real servers, the JSON file, and
//! the one-line errors. No assertion is about speed. They live here, not in the harness crate,
//! because they need a real Mammoth and the harness must not depend on the server crate.

use std::time::Duration;

use clap::Parser;
use mammoth::testing::{TestServer, bench_launcher};
use mammoth_harness::{BenchArgs, Report, ServerKind, Workload, write_json};
use tokio::runtime::Handle;

async fn run(args: &BenchArgs, servers: &Handle) -> anyhow::Result<Report> {
    mammoth_harness::run(args, servers, bench_launcher).await
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn parse(line: &str) -> Result<BenchArgs, clap::Error> {
    let argv = std::iter::once("bench").chain(line.split_whitespace());
    Cli::try_parse_from(argv).map(|cli| cli.args)
}

/// Short-run arguments for `url` and `key` (or an in-process instance when `None`).
fn quick(url_key: Option<(&str, &str)>, workload: &str, extra: &str) -> BenchArgs {
    let target = match url_key {
        Some((url, key)) => format!("--url {url} --key {key}"),
        None => String::new(),
    };
    parse(&format!(
        "{target} --workload {workload} --docs 200 --connections 4 --seed-connections 8 \
         --warmup 0 {extra}"
    ))
    .expect("valid arguments")
}

#[test]
fn defaults_parse() {
    let args = parse("").unwrap();
    assert_eq!(args.workload, Workload::Get);
    assert_eq!(args.connections, 16);
    assert_eq!(args.duration, Duration::from_secs(10));
    assert_eq!(args.server, ServerKind::Memory);
    assert!(!args.ceiling);
    let args = parse("--workload mixed --duration 500ms --warmup 0 --server sync").unwrap();
    assert_eq!(args.workload, Workload::Mixed);
    assert_eq!(args.duration, Duration::from_millis(500));
    assert_eq!(args.warmup, Duration::ZERO);
}

#[test]
fn durations_parse_as_serve_does() {
    for s in [
        "1s", "250ms", "2", "1.5m", "1h", " 3s ", "0", "0ms", "25h", "1d", "x", "", "1.2.3s",
    ] {
        assert_eq!(
            mammoth_harness::parse_duration(s),
            mammoth::config::parse_duration(s),
            "{s:?}"
        );
    }
}

#[test]
fn bad_arguments_are_refused() {
    for line in [
        "--connections 0",
        "--connections many",
        "--workload scan",
        "--duration 0",
        "--duration forever",
        "--docs 0",
        "--rounds 0",
        "--url http://127.0.0.1:1",
        "--key mm_x",
        "--url http://127.0.0.1:1 --key mm_x --server sync",
        "--unknown",
    ] {
        assert!(parse(line).is_err(), "accepted: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_run_against_a_test_server_reports_sanely() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let args = quick(
        Some((server.url(), server.write_key())),
        "get",
        "--duration 1s --rounds 2",
    );
    let report = run(&args, &Handle::current()).await?;
    assert_eq!(report.workload, "get");
    assert_eq!(report.server, "external");
    assert!(report.collection.starts_with("bench_"));
    assert!(report.mammoth.ok > 0);
    assert!(report.mammoth.req_per_s > 0.0);
    assert!(
        report.mammoth.errors.is_empty(),
        "{:?}",
        report.mammoth.errors
    );
    let latency = report.mammoth.latency_ms.as_ref().expect("latencies");
    assert!(latency.p50 > 0.0 && latency.p50 <= latency.p99 && latency.p99 <= latency.max);
    assert!(report.ceiling.is_none() && report.ratio.is_none());
    assert!(report.to_string().contains("req/s"));

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("get.json");
    write_json(&report, &path)?;
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(value["workload"], "get");
    assert_eq!(value["mammoth"]["ok"], report.mammoth.ok);
    assert!(value["mammoth"]["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let back: Report = serde_json::from_value(value)?;
    assert_eq!(back.mammoth.ok, report.mammoth.ok);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_against_an_in_process_instance_and_the_ceiling() -> anyhow::Result<()>
{
    for workload in ["get", "query", "create", "update", "mixed", "or"] {
        let args = quick(None, workload, "--duration 300ms --rounds 2 --ceiling");
        let report = run(&args, &Handle::current()).await?;
        assert_eq!(report.server, "memory");
        let ceiling = report.ceiling.as_ref().expect("a ceiling");
        assert!(ceiling.ok > 0, "{workload}: {ceiling:?}");
        assert!(ceiling.errors.is_empty(), "{workload}: {ceiling:?}");
        assert!(report.ratio.is_some(), "{workload}");
        // The query engine may not be there yet: its refusals are counted, not fatal.
        if workload != "query" && workload != "mixed" {
            assert!(report.mammoth.ok > 0, "{workload}");
            assert!(report.mammoth.errors.is_empty(), "{workload}: {report}");
        }
        if workload == "query" {
            assert_eq!(report.notes.len(), 1, "{report}");
        }
        if workload == "or" {
            // The `$or` query is served (issue 17) and its first page is a full scan's.
            assert_eq!(report.workload, "or");
            assert_eq!(
                report.notes,
                ["the $or query's first page matches a full scan"],
                "{report}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_url_and_a_bad_key_are_one_line_errors() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    drop(listener);
    let args = quick(Some((&url, "mm_whatever")), "get", "--duration 1s");
    let error = run(&args, &Handle::current())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("cannot reach"), "{error}");
    assert!(!error.contains('\n'), "{error}");

    let server = TestServer::start().await?;
    let args = quick(Some((server.url(), "mm_forged")), "get", "--duration 1s");
    let error = run(&args, &Handle::current())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("rejected the API key"), "{error}");
    assert!(!error.contains('\n'), "{error}");

    let args = quick(
        Some((server.url(), server.read_key())),
        "get",
        "--duration 1s",
    );
    let error = run(&args, &Handle::current())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs a write key"), "{error}");

    let args = quick(Some(("https://127.0.0.1:1", "k")), "get", "--duration 1s");
    let error = run(&args, &Handle::current())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an http:// URL"), "{error}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_run_delivers_every_write_to_every_listener_and_reports_latency()
-> anyhow::Result<()> {
    for queries in ["one", "per-user"] {
        let args = quick(
            None,
            "listen",
            &format!("--listeners 20 --rate 200 --duration 500ms --queries {queries}"),
        );
        let report = run(&args, &Handle::current()).await?;
        let listen = report.listen.as_ref().expect("a listen report");
        assert_eq!(listen.listeners, 20);
        assert!(report.mammoth.ok > 0, "{report}");
        assert!(report.mammoth.errors.is_empty(), "{report}");
        assert_eq!(listen.streams_failed, 0, "{report}");
        assert_eq!(
            listen.delivered, listen.expected,
            "{queries}: every acknowledged write reaches its listeners: {report}"
        );
        let delivery = listen.delivery_ms.as_ref().expect("delivery latencies");
        assert!(
            delivery.p50 > 0.0 && delivery.p50 <= delivery.p99,
            "{report}"
        );
        assert!(listen.delivered_per_s > 0.0);
        assert!(report.to_string().contains("delivery"), "{report}");
    }
    let args = quick(None, "listen", "--listeners 0 --rate 100 --duration 300ms");
    let report = run(&args, &Handle::current()).await?;
    let listen = report.listen.as_ref().expect("a listen report");
    assert_eq!((listen.delivered, listen.expected), (0, 0), "{report}");
    assert!(report.mammoth.ok > 0, "{report}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_run_against_a_server_process_reads_that_process_rss() -> anyhow::Result<()> {
    let bin = env!("CARGO_BIN_EXE_mammoth");
    let args = quick(
        None,
        "listen",
        &format!("--listeners 50 --rate 100 --duration 400ms --server-bin {bin}"),
    );
    assert_eq!(args.server_bin.as_deref(), Some(std::path::Path::new(bin)));
    let report = run(&args, &Handle::current()).await?;
    assert_eq!(report.server, "process", "{report}");
    let listen = report.listen.as_ref().expect("a listen report");
    assert_eq!(listen.streams_failed, 0, "{report}");
    assert_eq!(listen.delivered, listen.expected, "{report}");
    assert!(listen.expected > 0, "{report}");
    assert!(listen.idle_rss_mib.is_some(), "{report}");

    let error = run(
        &quick(
            None,
            "listen",
            "--listeners 1 --server-bin /nonexistent/mammoth",
        ),
        &Handle::current(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("is not a file"), "{error}");
    assert!(parse("--server-bin x --url http://127.0.0.1:1 --key k").is_err());
    Ok(())
}

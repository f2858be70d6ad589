//! Schemathesis against the real binary: it reads `/v1/openapi.json`, generates valid and
//! invalid requests for every operation for a bounded time, and fails on any 5xx and on any
//! response (status, content type, headers, body) that the document does not describe.
//!
//! The pinned schemathesis lives in a virtual environment that `.ci/run` creates at
//! `target/ci-venv`. Outside CI a machine without it skips this test with a message; under CI
//! (CI=true) a missing schemathesis fails. `MAMMOTH_SCHEMATHESIS_SECONDS` sets the time budget
//! (default 120 s).

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const ROOT: &str = "schemathesis-root-token";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/schemathesis");
    if !bin.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("schemathesis is missing under CI: .ci/run must install it");
        }
        eprintln!("skipped: schemathesis is not installed (run .ci/run to install it)");
        return;
    }
    let seconds = std::env::var("MAMMOTH_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "120".into());

    let mut server = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--in-memory", "--listen", "127.0.0.1:0"])
        .env("MAMMOTH_ROOT_TOKEN", ROOT)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines
        .next_line()
        .await
        .unwrap()
        .expect("the server prints its address");
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let created: Value = reqwest::Client::new()
        .post(format!("{url}/admin/v1/projects"))
        .bearer_auth(ROOT)
        .json(&json!({"name": "schemathesis"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["api_key"]["key"]
        .as_str()
        .expect("a write key")
        .to_owned();

    // Two runs: the data API with the write key, then the admin API with the root token, so
    // admin calls (which may regenerate or delete any key they list) cannot cut the data run
    // off its key. The data API, the larger, gets two thirds of the time budget.
    let total: u64 = seconds.parse().expect("a number of seconds");
    let data = (total * 2 / 3).max(1);
    let admin = total.saturating_sub(data).max(1);
    for (name, paths, budget) in [("data", "^/v1/", data), ("admin", "^/admin/v1/", admin)] {
        let status = schemathesis(&bin, &url, &key, paths, budget, name).await;
        assert!(
            status.success(),
            "schemathesis found failures in the {name} API (see its output above)"
        );
    }
    server.kill().await.unwrap();
}

/// One schemathesis run over the operations whose path matches `paths`.
async fn schemathesis(
    bin: &Path,
    url: &str,
    key: &str,
    paths: &str,
    seconds: u64,
    name: &str,
) -> std::process::ExitStatus {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    Command::new(bin)
        .arg("--config-file")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/schemathesis.toml"))
        .arg("run")
        .arg(format!("{url}/v1/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--include-path-regex",
            paths,
            // A listen stream stays open by design, so every valid request would run into the
            // request timeout; tests/it/listen*.rs cover it over real HTTP.
            "--exclude-path",
            "/v1/listen",
            // Its body is NDJSON, which schemathesis cannot generate ("no supported serializers
            // for application/x-ndjson"); tests/it/backup.rs and tests/it/datacli.rs cover it.
            "--exclude-path",
            "/admin/v1/projects/{id}/import",
            // One worker: schemathesis' generator is not thread-safe on every Python (3.11's
            // ast.parse fails under threads), and the server needs the other core.
            "--workers",
            "1",
            "--request-timeout",
            "10",
        ])
        .arg("--max-time")
        .arg(seconds.to_string())
        .arg("--report-dir")
        .arg(tmp.join(format!("schemathesis-report-{name}")))
        .env("MAMMOTH_KEY", key)
        .env("MAMMOTH_ROOT_TOKEN", ROOT)
        .env("NO_COLOR", "1")
        // Its cache directory (.schemathesis) goes there too, not into the worktree.
        .current_dir(tmp)
        .status()
        .await
        .unwrap()
}

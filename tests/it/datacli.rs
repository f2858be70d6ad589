//! `mammoth backup`, `mammoth export` and `mammoth import` (issue 19): the real binary against a
//! real server.

use std::path::Path;
use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Instance, ROOT};

/// Runs `mammoth ARGS` with the root token in the environment; stdout is a pipe, so no bar.
async fn mammoth(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mammoth"));
    command
        .args(args)
        .env("MAMMOTH_ROOT_TOKEN", ROOT)
        .env_remove("MAMMOTH_ROOT_TOKEN_FILE")
        .kill_on_drop(true);
    command.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn fill(server: &Instance, key: &str, n: u32) {
    for i in 0..n {
        let collection = if i % 3 == 0 { "a" } else { "b-2" };
        let (status, body) = server
            .call_with(
                key,
                Method::POST,
                &format!("/v1/collections/{collection}/documents"),
                Some(json!({"n": i, "f": 0.1 + f64::from(i), "s": "é\"\\\n", "deep": {"x": [1, {"y": null}]}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_export_then_import_into_a_new_project_round_trips_byte_identical_documents() {
    let server = Instance::start().await;
    let (from, key) = server.new_project("from").await;
    fill(&server, &key, 40).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from.ndjson");
    let out = mammoth(&[
        "export",
        "--url",
        &server.url,
        "--project",
        &from,
        "--out",
        file.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("exported 40 documents"),
        "{}",
        text(&out.stdout)
    );
    assert!(!dir.path().join("from.ndjson.partial").exists());
    let exported = lines(&file);
    assert_eq!(exported.len(), 40);

    let (to, _) = server.new_project("to").await;
    let out = mammoth(&[
        "import",
        "--url",
        &server.url,
        "--project",
        &to,
        file.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 40 documents, 0 bad lines"),
        "{}",
        text(&out.stdout)
    );
    let again = dir.path().join("to.ndjson");
    let out = mammoth(&[
        "export",
        "--url",
        &server.url,
        "--project",
        &to,
        "--out",
        again.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&file).unwrap(),
        "byte-identical after the round trip"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_import_reports_bad_lines_with_their_numbers_and_fails() {
    let server = Instance::start().await;
    let (project, key) = server.new_project("p").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.ndjson");
    std::fs::write(
        &file,
        [
            r#"{"collection":"c","document":{"id":"a","x":1}}"#, // 1 ok
            "not json",                                          // 2
            r#"{"collection":"bad name","document":{}}"#,        // 3
            r#"{"collection":"c","document":{"id":"b"}}"#,       // 4 ok
        ]
        .join("\n"),
    )
    .unwrap();
    let out = mammoth(&[
        "import",
        "--url",
        &server.url,
        "--project",
        &project,
        file.to_str().unwrap(),
    ])
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "bad lines fail the command: {stdout}"
    );
    assert!(
        stdout.contains("imported 2 documents, 2 bad lines"),
        "{stdout}"
    );
    let name = file.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:2: bad_request")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:3: bad_request")),
        "{stderr}"
    );
    assert!(!stderr.contains(&format!("{name}:1:")), "{stderr}");
    assert!(!stderr.contains(&format!("{name}:4:")), "{stderr}");
    let (status, _) = server
        .call_with(&key, Method::GET, "/v1/collections/c/documents/b", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the good lines are imported");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_are_one_line_and_nonzero() {
    let server = Instance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.ndjson");
    // An unknown project: the server's 404 message, no file left behind.
    let out = mammoth(&[
        "export",
        "--url",
        &server.url,
        "--project",
        "nope",
        "--out",
        file.to_str().unwrap(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
    assert!(!file.exists() && !dir.path().join("x.ndjson.partial").exists());
    // A wrong token.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["backup", "--url", &server.url, "--root-token", "wrong"])
        .args(["--out", dir.path().to_str().unwrap()])
        .env_remove("MAMMOTH_ROOT_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    // In memory: nothing to back up, and the server says why.
    let out = mammoth(&[
        "backup",
        "--url",
        &server.url,
        "--out",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("400"), "{}", text(&out.stderr));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_backup_copies_a_restorable_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Instance::on_disk(&dir.path().join("data")).await;
    let (project, key) = server.new_project("b").await;
    fill(&server, &key, 25).await;
    let out_dir = dir.path().join("copies");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{ROOT}\n")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["backup", "--url", &server.url])
        .args(["--root-token-file", token.to_str().unwrap()])
        .args(["--out", out_dir.to_str().unwrap()])
        .env_remove("MAMMOTH_ROOT_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.stop().await;
    let copies: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].join("mammoth.redb").exists());
    let restored = Instance::on_disk(&copies[0]).await;
    let response = restored
        .client
        .get(format!(
            "{}/admin/v1/projects/{project}/export",
            restored.url
        ))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap().lines().count(), 25);
    restored.stop().await;
}

//! CONTRACT section 18, secrets and exposure: a short JWT secret is refused at start, secrets can
//! come from files, sign-in links never reach the logs, the data directory and its files are
//! private.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Instance;

/// The binary with `--ready-json`; answers the child and its ready line.
async fn start(dir: &Path, extra: &[&str], stderr: Stdio) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--ready-json", "--data"])
        .arg(dir)
        .args(extra)
        .env("MAMMOTH_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with('{') {
            let ready = serde_json::from_str(&line).unwrap();
            // Keep draining stdout so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, ready);
        }
    }
    panic!("the server exited before its ready line");
}

async fn terminate(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(12), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_short_jwt_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .args(["--jwt-secret", "too-short-a-secret"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "refused before touching the data directory"
    );
}

#[tokio::test]
async fn secrets_are_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "0123456789abcdef0123456789abcdef-from-a-file";
    std::fs::write(dir.path().join("jwt"), format!("{secret}\n")).unwrap();
    std::fs::write(dir.path().join("root"), "root-from-a-file\n").unwrap();
    let data = dir.path().join("data");
    let jwt_file = dir.path().join("jwt");
    let root_file = dir.path().join("root");
    let (child, ready) = start(
        &data,
        &[
            "--jwt-secret-file",
            jwt_file.to_str().unwrap(),
            "--root-token-file",
            root_file.to_str().unwrap(),
        ],
        Stdio::null(),
    )
    .await;
    assert_eq!(ready["root_token"], "root-from-a-file");
    let url = ready["url"].as_str().unwrap().to_owned();
    let key = ready["write_key"].as_str().unwrap().to_owned();
    let client = Client::new();
    let response = client
        .get(format!("{url}/admin/v1/projects"))
        .bearer_auth("root-from-a-file")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    terminate(child).await;

    // The key was signed with the file's secret: the same secret given inline accepts it.
    let (child, ready) = start(&data, &["--jwt-secret", secret], Stdio::null()).await;
    let url = ready["url"].as_str().unwrap().to_owned();
    let response = client
        .get(format!("{url}/v1/collections"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    terminate(child).await;
}

#[tokio::test]
async fn sign_in_links_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (child, ready) = start(
        &dir.path().join("data"),
        &["--admin-emails", "ops@example.com"],
        Stdio::from(log),
    )
    .await;
    let url = ready["url"].as_str().unwrap().to_owned();
    let key = ready["write_key"].as_str().unwrap().to_owned();
    let root = ready["root_token"].as_str().unwrap().to_owned();
    let client = Client::new();
    let response = client
        .post(format!("{url}/v1/auth/magic-link"))
        .header("X-API-Key", &key)
        .json(&json!({"email": "user@example.com"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = client
        .post(format!("{url}/dashboard/sign-in"))
        .header("Origin", &url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("email=ops%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let outbox: Value = client
        .get(format!("{url}/admin/v1/outbox"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let links: Vec<String> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["link"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 2, "the dev outbox keeps both links: {outbox}");
    terminate(child).await;
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("dev mailer"),
        "the mail is logged: {logged}"
    );
    for link in links {
        let token = link.split_once("token=").unwrap().1;
        assert!(!logged.contains(token), "a sign-in token was logged");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_0700_and_its_file_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Instance::on_disk(&data).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("mammoth.redb")), 0o600);
    s.stop().await;
    // A file made by an older version with wider permissions is tightened at start.
    std::fs::set_permissions(
        data.join("mammoth.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let s = Instance::on_disk(&data).await;
    assert_eq!(mode(&data.join("mammoth.redb")), 0o600);
    s.stop().await;
}

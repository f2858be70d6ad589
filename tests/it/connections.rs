//! CONTRACT section 18, connections: a header-read timeout, an idle timeout, a cap on open
//! connections, and a SIGTERM that finishes in time whatever clients hold open, losing nothing.

use std::time::{Duration, Instant};

use mammoth::config::Config;
use mammoth::connections::ConnectionLimits;
use reqwest::{Client, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Instance;
use crate::durability::spawn;

fn host(url: &str) -> &str {
    url.strip_prefix("http://").unwrap()
}

/// Reads until the server closes the socket (EOF or reset); answers what was read.
async fn read_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// One keep-alive request on a raw socket; answers the status line.
async fn raw_get(socket: &mut TcpStream, host: &str) -> String {
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn half_a_header_is_closed_by_the_default_header_timeout() {
    let s = Instance::start().await;
    let mut socket = TcpStream::connect(host(&s.url)).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(15), read_until_closed(&mut socket))
        .await
        .expect("a half-sent header is closed within 15 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "closed by the 10 s timeout, not earlier: {waited:?}"
    );
    // hyper answers a timed-out head with 408 or just closes; nothing else.
    let text = String::from_utf8_lossy(&read);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    s.stop().await;
}

fn short_limits() -> Config {
    let mut config = Config::in_memory();
    config.connections = ConnectionLimits {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        ..ConnectionLimits::default()
    };
    config
}

#[tokio::test]
async fn the_header_timeout_counts_from_a_requests_first_byte_and_idle_sockets_last_longer() {
    let s = Instance::with_config(short_limits()).await;
    let host = host(&s.url).to_owned();

    // An idle keep-alive connection outlives the header timeout...
    let mut idle = TcpStream::connect(&host).await.unwrap();
    assert_eq!(raw_get(&mut idle, &host).await, "HTTP/1.1 200 OK");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        raw_get(&mut idle, &host).await,
        "HTTP/1.1 200 OK",
        "an idle connection is kept past the header timeout"
    );
    // ...and is closed by the idle timeout.
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut idle))
        .await
        .expect("an idle connection is closed by the idle timeout");
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // A connection that never sends anything is idle, not reading a head.
    let mut silent = TcpStream::connect(&host).await.unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut silent))
        .await
        .expect("a silent connection is closed by the idle timeout");
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Half a header: closed by the header timeout.
    let mut slow = TcpStream::connect(&host).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut slow))
        .await
        .expect("half a header is closed");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "by the header timeout, not the idle one: {:?}",
        started.elapsed()
    );
    s.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_at_accept() {
    let mut config = Config::in_memory();
    config.connections.max_connections = 2;
    let s = Instance::with_config(config).await;
    let host = host(&s.url).to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut socket = TcpStream::connect(&host).await.unwrap();
        assert_eq!(raw_get(&mut socket, &host).await, "HTTP/1.1 200 OK");
        held.push(socket);
    }
    let mut third = TcpStream::connect(&host).await.unwrap();
    let _ = third
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await;
    let read = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut third))
        .await
        .expect("the third connection is closed");
    assert!(read.is_empty(), "no answer beyond the cap");

    // Closing one frees its slot.
    drop(held.pop());
    let mut fourth = None;
    for _ in 0..50 {
        let mut socket = TcpStream::connect(&host).await.unwrap();
        let _ = socket
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await;
        let mut buf = [0u8; 64];
        if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
            fourth = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fourth.is_some(), "a closed connection frees its slot");
    drop(held);
    s.stop().await;
}

#[tokio::test]
async fn sigterm_with_idle_and_half_open_sockets_exits_in_time_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(
        dir.path(),
        &["--durability", "periodic", "--snapshot-interval", "1h"],
        true,
    )
    .await;
    let key = server.key.clone().unwrap();
    let client = Client::new();
    for i in 0..20 {
        let response = client
            .put(format!("{}/v1/collections/p/documents/d{i}", server.url))
            .header("X-API-Key", &key)
            .json(&json!({"i": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let host = host(&server.url).to_owned();
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(TcpStream::connect(&host).await.unwrap());
    }
    for _ in 0..5 {
        let mut socket = TcpStream::connect(&host).await.unwrap();
        socket
            .write_all(b"POST /v1/collections/p/documents HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        sockets.push(socket);
    }
    // A request whose body never finishes.
    let mut socket = TcpStream::connect(&host).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /v1/collections/p/documents HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    sockets.push(socket);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = server.child.id().unwrap().to_string();
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(12), server.child.wait())
        .await
        .expect("SIGTERM exits within 12 s whatever clients hold open")
        .unwrap();
    assert!(status.success(), "exits 0: {status:?}");
    eprintln!("exited {:?} after SIGTERM", started.elapsed());
    drop(sockets);

    let server = spawn(dir.path(), &["--durability", "periodic"], false).await;
    let body: serde_json::Value = client
        .get(format!("{}/v1/collections", server.url))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"collections": [{"name": "p", "count": 20}]}));
}

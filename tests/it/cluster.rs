//! CONTRACT section 16: three real processes on 127.0.0.1, .2 and .3; writers on every node
//! (non-owners forward to the owner); each acknowledged write is read back through another node
//! (read-your-writes across nodes); a listen stream through a non-owner; `kill -9` of the owner;
//! every acknowledged write is served by the next owner and through every survivor; the killed
//! node returns, catches up, and serves them too when it owns the projects.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "cluster-test-secret-0123456789abcdef";
const ROOT: &str = "root-cluster-test";

struct Node {
    child: Child,
    url: String,
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn(id: usize, dir: &std::path::Path, cluster: &str) -> Node {
    let ip = format!("127.0.0.{id}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", &format!("{ip}:0"), "--data"])
        .arg(dir)
        .args(["--node-id", &id.to_string(), "--cluster", cluster])
        .args(["--jwt-secret", SECRET, "--root-token", ROOT])
        .env("MAMMOTH_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("a first line");
    let url = first.strip_prefix("listening on ").unwrap().to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Node { child, url }
}

/// The leader as some live node reports it, waiting up to 10 s.
async fn leader(client: &reqwest::Client, urls: &[String]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for url in urls {
            let answer = client
                .get(format!("{url}/admin/v1/cluster"))
                .bearer_auth(ROOT)
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if let Ok(answer) = answer
                && let Ok(body) = answer.json::<Value>().await
                && let Some(l) = body["leader"].as_u64()
            {
                return l as usize;
            }
        }
        assert!(Instant::now() < deadline, "no leader within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes one document through the writer's own node first (any node accepts any request and
/// forwards it to the owner), retrying 503s on the live nodes for up to 15 s; answers the node
/// that acknowledged it.
async fn write(
    client: &reqwest::Client,
    urls: &Mutex<Vec<String>>,
    first: usize,
    key: &str,
    id: &str,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let mut candidates = urls.lock().unwrap().clone();
        let n = candidates.len();
        candidates.rotate_left(first % n);
        for url in candidates {
            let answer = client
                .post(format!("{url}/v1/collections/todos/documents"))
                .header("X-API-Key", key)
                .json(&json!({"id": id}))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match answer.map(|a| a.status().as_u16()) {
                Ok(201) => return Some(url),
                Ok(409) => return None, // an earlier try was applied but not acknowledged
                Ok(503) | Err(_) => {}
                Ok(other) => panic!("write {id} answered {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Reads `id` through a live node other than `via`: 200, or 503 / no answer while ownership
/// moves (retried); never 404 for an acknowledged write.
async fn read_elsewhere(
    client: &reqwest::Client,
    urls: &Mutex<Vec<String>>,
    via: &str,
    key: &str,
    id: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let others: Vec<String> = urls
            .lock()
            .unwrap()
            .iter()
            .filter(|u| *u != via)
            .cloned()
            .collect();
        for url in others {
            let answer = client
                .get(format!("{url}/v1/collections/todos/documents/{id}"))
                .header("X-API-Key", key)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match answer.map(|a| a.status().as_u16()) {
                Ok(200) => return,
                Ok(503) | Err(_) => {}
                Ok(other) => panic!(
                    "read-your-writes: {id}, acknowledged by {via}, answered {other} on {url}"
                ),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} was never readable on another node");
}

async fn served_by(client: &reqwest::Client, url: &str, key: &str, ids: &BTreeSet<String>) {
    for id in ids {
        let answer = client
            .get(format!("{url}/v1/collections/todos/documents/{id}"))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "acknowledged {id} missing on {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_of_three_processes_loses_no_acknowledged_write_when_its_owner_is_killed() {
    let root = tempfile::tempdir().unwrap();
    let peers: Vec<String> = (1..=3)
        .map(|id| {
            let ip = format!("127.0.0.{id}");
            format!("{id}={ip}:{}", free_port(&ip))
        })
        .collect();
    let cluster = peers.join(",");
    let dirs: Vec<_> = (1..=3).map(|i| root.path().join(format!("d{i}"))).collect();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(Some(spawn(id, &dirs[id - 1], &cluster).await));
    }
    let client = reqwest::Client::new();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().url.clone())
        .collect();
    let owner = leader(&client, &urls).await;

    // A project, created through a node that is not the owner (forwarded).
    let other = urls[owner % 3].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let created: Value = loop {
        let answer = client
            .post(format!("{other}/admin/v1/projects"))
            .bearer_auth(ROOT)
            .json(&json!({"name": "app"}))
            .send()
            .await
            .unwrap();
        if answer.status() == 201 || answer.status() == 200 {
            break answer.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the owner never took the project"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let key = created["api_key"]["key"].as_str().unwrap().to_owned();

    // A listen stream through a non-owner streams: its snapshot arrives through the proxy.
    let mut stream = client
        .post(format!("{other}/v1/listen"))
        .header("X-API-Key", &key)
        .json(&json!({"queries": {"all": {"collection": "todos"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the snapshot event streams through the proxy")
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("snapshot"),
        "{first:?}"
    );
    drop(stream);

    let live = Arc::new(Mutex::new(urls.clone()));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, live, acked, key) = (client.clone(), live.clone(), acked.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..30 {
                let id = format!("w{w}-{i:02}");
                if let Some(via) = write(&client, &live, w, &key, &id).await {
                    acked.lock().unwrap().insert(id.clone());
                    if i % 5 == 0 {
                        read_elsewhere(&client, &live, &via, &key, &id).await;
                    }
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = acked.lock().unwrap().len();
    let mut victim = nodes[owner - 1].take().unwrap();
    victim.child.start_kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    victim.child.wait().await.unwrap();
    live.lock().unwrap().retain(|u| *u != urls[owner - 1]);
    while acked.lock().unwrap().len() == before {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "no write acknowledged after the kill"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let failover = killed.elapsed();
    println!(
        "failover after kill -9 of node {owner}: {} ms",
        failover.as_millis()
    );
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // The new owner serves every acknowledged write.
    let survivors: Vec<String> = live.lock().unwrap().clone();
    let second = leader(&client, &survivors).await;
    assert_ne!(second, owner);
    for url in &survivors {
        served_by(&client, url, &key, &acked).await;
    }

    // The killed node returns and catches up; then the second owner is killed, and whichever
    // of the other two takes over serves every acknowledged write as well.
    nodes[owner - 1] = Some(spawn(owner, &dirs[owner - 1], &cluster).await);
    let returned = nodes[owner - 1].as_ref().unwrap().url.clone();
    let mut urls = urls;
    urls[owner - 1] = returned;
    // Wait until the returning node knows the leader (it heard from it).
    let _ = leader(&client, std::slice::from_ref(&urls[owner - 1])).await;
    let mut second_node = nodes[second - 1].take().unwrap();
    second_node.child.start_kill().unwrap();
    second_node.child.wait().await.unwrap();
    let rest: Vec<String> = (1..=3)
        .filter(|i| *i != second)
        .map(|i| urls[i - 1].clone())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        let l = leader(&client, &rest).await;
        if l != second {
            break l;
        }
        assert!(Instant::now() < deadline, "no third owner");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Its gate opens once it has rebuilt its projects.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client
            .get(format!(
                "{}/v1/collections/todos/documents/w0-00",
                urls[third - 1]
            ))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        if answer.status() != 503 {
            break;
        }
        assert!(Instant::now() < deadline, "the third owner never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("third owner: node {third} (the returned node was {owner})");
    served_by(&client, &urls[third - 1], &key, &acked).await;
}

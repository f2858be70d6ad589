//! Three raft nodes in one process, over real HTTP on 127.0.0.1: writes acknowledged by a
//! majority survive the leader's loss, and a returning node catches up from the log.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mammoth_cluster::{Cluster, ClusterConfig, ClusterKey, Timing};
use mammoth_storage::{Mutation, Replicator, Storage, StorageConfig, StorageError};
use tokio::task::JoinHandle;

const PROJECT: &str = "p";

struct Node {
    id: u64,
    storage: Storage,
    cluster: Arc<Cluster>,
    server: JoinHandle<()>,
}

async fn start(
    id: u64,
    dir: &Path,
    peers: &BTreeMap<u64, String>,
    key: &ClusterKey,
    listener: tokio::net::TcpListener,
) -> Node {
    let data = dir.to_path_buf();
    let (storage, loaded) = tokio::task::spawn_blocking(move || {
        Storage::open(StorageConfig {
            path: Some(data.join("mammoth.redb")),
            ..StorageConfig::default()
        })
    })
    .await
    .unwrap()
    .expect("storage opens");
    let cluster = Cluster::start(
        ClusterConfig {
            node_id: id,
            peers: peers.clone(),
            dir: dir.to_path_buf(),
            key: key.clone(),
            timing: Timing::default(),
        },
        storage.clone(),
        &loaded,
    )
    .await
    .expect("cluster starts");
    let cluster = Arc::new(cluster);
    let router = cluster.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Node {
        id,
        storage,
        cluster,
        server,
    }
}

/// Stops a node the way a crash does, as far as its disk is concerned: raft and its routes
/// stop at once; what it acknowledged is already fsync'd.
async fn stop(node: Node) {
    node.server.abort();
    node.cluster.shutdown().await;
    let storage = node.storage.clone();
    tokio::task::spawn_blocking(move || storage.close())
        .await
        .unwrap()
        .expect("storage closes");
}

fn doc(id: &str) -> Mutation {
    Mutation::PutDoc {
        project: PROJECT.into(),
        collection: "c".into(),
        id: id.into(),
        seq: 1,
        doc: Bytes::from(format!(r#"{{"id":"{id}"}}"#)),
    }
}

/// The document ids a node's storage holds.
async fn ids_on(storage: &Storage) -> BTreeSet<String> {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || storage.load_project(PROJECT))
        .await
        .unwrap()
        .expect("load")
        .map(|p| {
            p.docs
                .get("c")
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// Writes through whichever node leads; a refusal (no leader, not leader) moves on.
async fn write_somewhere(
    nodes: &Mutex<Vec<Arc<Cluster>>>,
    m: Mutation,
) -> Result<(), StorageError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let candidates: Vec<Arc<Cluster>> = nodes.lock().unwrap().clone();
        let leader = candidates
            .iter()
            .find_map(|c| c.leader())
            .and_then(|l| candidates.iter().find(|c| c.node_id() == l).cloned());
        if let Some(leader) = leader {
            match leader.propose(vec![m.clone()]).await {
                Ok(()) => return Ok(()),
                Err(StorageError::Overloaded | StorageError::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        if Instant::now() > deadline {
            return Err(StorageError::Overloaded);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bind_all(n: u64) -> Vec<std::net::TcpListener> {
    (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect()
}

fn tokio_listener(l: std::net::TcpListener) -> tokio::net::TcpListener {
    l.set_nonblocking(true).unwrap();
    tokio::net::TcpListener::from_std(l).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_the_leaders_loss_and_a_returning_node_catches_up() {
    let key = ClusterKey::derive(b"test jwt secret");
    let root = tempfile::tempdir().unwrap();
    let listeners = bind_all(3);
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let peers: BTreeMap<u64, String> = (1..=3u64)
        .map(|id| (id, addrs[id as usize - 1].to_string()))
        .collect();
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|id| root.path().join(format!("n{id}")))
        .collect();

    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        nodes.push(start(id, &dirs[i], &peers, &key, tokio_listener(l)).await);
    }
    for n in &nodes {
        assert!(
            n.cluster
                .wait_leader(Duration::from_secs(10))
                .await
                .is_some()
        );
    }
    let live = Arc::new(Mutex::new(
        nodes
            .iter()
            .map(|n| Arc::clone(&n.cluster))
            .collect::<Vec<_>>(),
    ));
    write_somewhere(
        &live,
        Mutation::PutProject {
            project: PROJECT.into(),
            record: Bytes::from_static(b"{}"),
        },
    )
    .await
    .unwrap();

    // 8 writers, each acknowledging its own documents.
    let acked = Arc::new(Mutex::new(BTreeSet::new()));

    let mut writers = Vec::new();
    for w in 0..8 {
        let live = Arc::clone(&live);
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            for i in 0..40 {
                let id = format!("w{w}-{i:03}");
                if write_somewhere(&live, doc(&id)).await.is_ok() {
                    acked.lock().unwrap().insert(id);
                }
            }
        }));
    }

    // Kill the leader once some writes are in.
    while acked.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let leader = nodes[0].cluster.leader().expect("a leader");
    let at = nodes.iter().position(|n| n.id == leader).unwrap();
    let victim = nodes.remove(at);
    live.lock().unwrap().retain(|c| c.node_id() != leader);
    let killed = Instant::now();
    let before = acked.lock().unwrap().len();
    stop(victim).await;
    // Failover: until a survivor acknowledges a new write.
    while acked.lock().unwrap().len() == before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let failover = killed.elapsed();
    println!(
        "failover: {} ms (leader {leader} stopped)",
        failover.as_millis()
    );
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );

    for w in writers {
        w.await.unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );

    // Every acknowledged write is on both survivors' storage.
    let new_leader = nodes[0].cluster.leader().expect("a new leader");
    let top = nodes
        .iter()
        .find(|n| n.id == new_leader)
        .unwrap()
        .cluster
        .applied();
    for n in &nodes {
        assert!(n.cluster.wait_applied(top, Duration::from_secs(10)).await);
        let held = ids_on(&n.storage).await;
        let missing: Vec<_> = acked.difference(&held).collect();
        assert!(missing.is_empty(), "node {} lost {missing:?}", n.id);
    }

    // The old leader returns on the same address and data, and catches up from the log.
    let i = leader as usize - 1;
    let listener = tokio::net::TcpListener::bind(addrs[i]).await.unwrap();
    let back = start(leader, &dirs[i], &peers, &key, listener).await;
    assert!(
        back.cluster
            .wait_applied(top, Duration::from_secs(20))
            .await,
        "the returning node applied only up to {} of {top}",
        back.cluster.applied()
    );
    let held = ids_on(&back.storage).await;
    assert!(acked.is_subset(&held), "the returning node misses writes");
    let status = back.cluster.status();
    assert_eq!(status.nodes.len(), 3);
    assert_eq!(status.leader, Some(new_leader));

    nodes.push(back);
    for n in nodes {
        stop(n).await;
    }
}

/// A leader cut off from its followers keeps believing it leads until it hears a higher term;
/// meanwhile the others elect a new leader that acknowledges a write. The old leader's fence
/// (what its gate asks before every request) must refuse from then on: serving a read from its
/// memory would miss that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_old_leader_refuses_reads_once_a_new_leader_acknowledged_a_write() {
    let key = ClusterKey::derive(b"test jwt secret");
    let root = tempfile::tempdir().unwrap();
    let listeners = bind_all(3);
    let peers: BTreeMap<u64, String> = (1..=3u64)
        .zip(listeners.iter())
        .map(|(id, l)| (id, l.local_addr().unwrap().to_string()))
        .collect();
    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let dir = root.path().join(format!("n{i}"));
        nodes.push(start(i as u64 + 1, &dir, &peers, &key, tokio_listener(l)).await);
    }
    let old = nodes[0]
        .cluster
        .wait_leader(Duration::from_secs(10))
        .await
        .expect("a leader");
    let old_node = nodes.iter().find(|n| n.id == old).unwrap();
    let live = Mutex::new(nodes.iter().map(|n| Arc::clone(&n.cluster)).collect());
    write_somewhere(&live, doc("before")).await.unwrap();
    assert!(old_node.cluster.fence().await.is_ok(), "the leader fences");

    old_node.cluster.isolate_for_test(true);
    let others: Vec<&Node> = nodes.iter().filter(|n| n.id != old).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        if let Some(l) = others[0].cluster.leader().filter(|l| *l != old) {
            break others.iter().find(|n| n.id == l).unwrap();
        }
        assert!(Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    new.cluster.propose(vec![doc("after")]).await.unwrap();
    println!(
        "old leader {old} still believes it leads: {}; holds its lease: {}",
        old_node.cluster.leader() == Some(old),
        old_node.cluster.holds_lease()
    );
    assert!(
        old_node.cluster.fence().await.is_err(),
        "the deposed leader would answer a read that misses an acknowledged write"
    );

    old_node.cluster.isolate_for_test(false);
    for n in nodes {
        stop(n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_requests_without_the_cluster_mac_are_refused() {
    let key = ClusterKey::derive(b"right secret");
    let root = tempfile::tempdir().unwrap();
    let listener = bind_all(1).pop().unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: BTreeMap<u64, String> = [(1, addr.to_string())].into();
    let node = start(1, root.path(), &peers, &key, tokio_listener(listener)).await;
    assert_eq!(
        node.cluster.wait_leader(Duration::from_secs(10)).await,
        Some(1)
    );

    let client = reqwest::Client::new();
    let body = r#"{"vote":{"leader_id":{"term":99,"node_id":2},"committed":true},"prev_log_id":null,"entries":[],"leader_commit":null}"#;
    let wrong = ClusterKey::derive(b"wrong").sign_for_test("/peer/v1/append", body.as_bytes());
    for mac in [None, Some("00".to_owned()), Some(wrong)] {
        let mut req = client
            .post(format!("http://{addr}/peer/v1/append"))
            .body(body.to_owned());
        if let Some(mac) = &mac {
            req = req.header("x-mammoth-peer-mac", mac.as_str());
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status(), 401, "mac {mac:?}");
        let json: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(json["error"]["code"], "unauthorized");
    }
    // The forged term-99 append never reached raft.
    assert!(node.cluster.status().term < 99);
    // A signed but malformed request is a 400, not a panic.
    let bad = "not json";
    let answer = client
        .post(format!("http://{addr}/peer/v1/append"))
        .header(
            "x-mammoth-peer-mac",
            key.sign_for_test("/peer/v1/append", bad.as_bytes()),
        )
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    stop(node).await;
}

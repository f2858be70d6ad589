//! CONTRACT section 11 "only durable news" against a real `mammoth serve` process: a listener
//! records every document state it is told about while writers run; the server gets SIGKILL; after
//! a restart every document ever reported `added` or `modified` exists with at least that state.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::durability::spawn;

/// Folds one event's documents into `seen` (id -> highest `v` reported).
fn fold(seen: &mut HashMap<String, u64>, event: &str, data: &Value) {
    let mut note = |doc: &Value| {
        let id = doc["id"].as_str().unwrap().to_owned();
        let v = doc["v"].as_u64().unwrap();
        let at = seen.entry(id).or_insert(0);
        *at = (*at).max(v);
    };
    match event {
        "snapshot" => data["queries"]["all"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(&mut note),
        "changes" => {
            for change in data["changes"]["all"].as_array().unwrap() {
                if change["type"] != "removed" {
                    note(&change["document"]);
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_reported_state_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(dir.path(), &["--durability", "sync"], true).await;
    let key = server.key.clone().expect("the default key is printed");
    let url = server.url.clone();

    // The listener: 8 writers x 40 ids fit in one window of 1,000. A stream the server closes
    // as too slow (`error`) is resumed from its last id; it ends when the server is gone.
    let client = Client::new();
    let query = json!({"queries": {"all": {"collection": "crash", "limit": 1000}}});
    let (lurl, lkey) = (url.clone(), key.clone());
    let (opened_tx, opened) = tokio::sync::oneshot::channel();
    let listener = tokio::spawn(async move {
        let client = Client::new();
        let mut seen = HashMap::new();
        let (mut events, mut resumes) = (0u64, 0u64);
        let mut last: Option<u64> = None;
        let mut opened_tx = Some(opened_tx);
        loop {
            let mut req = client
                .post(format!("{lurl}/v1/listen"))
                .header("X-API-Key", &lkey)
                .json(&query);
            if let Some(last) = last {
                req = req.header("Last-Event-ID", last.to_string());
                resumes += 1;
            }
            let Ok(mut stream) = req.send().await else {
                return (seen, events, resumes);
            };
            assert_eq!(stream.status(), StatusCode::OK);
            let mut buf = String::new();
            let mut closed_by_error = false;
            while let Ok(Some(chunk)) = stream.chunk().await {
                buf.push_str(std::str::from_utf8(&chunk).unwrap());
                while let Some(at) = buf.find("\n\n") {
                    let block: String = buf.drain(..at + 2).collect();
                    let mut event = "";
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            event = v;
                        } else if let Some(v) = line.strip_prefix("id: ") {
                            last = Some(v.parse().unwrap());
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            let data: Value = serde_json::from_str(v).unwrap();
                            fold(&mut seen, event, &data);
                            closed_by_error |= event == "error";
                            events += 1;
                        }
                    }
                    if let Some(tx) = opened_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
            if !closed_by_error {
                return (seen, events, resumes); // the server is gone
            }
        }
    });
    opened.await.expect("a snapshot");

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut writers = Vec::new();
    for w in 0..8 {
        let (url, key) = (url.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            let client = Client::new();
            for v in 1..100_000u64 {
                let id = format!("w{w}-{}", v % 40);
                let sent = client
                    .put(format!("{url}/v1/collections/crash/documents/{id}"))
                    .header("X-API-Key", &key)
                    .json(&json!({"writer": w, "v": v}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep_until(deadline.into()).await;
    server.child.start_kill().unwrap(); // SIGKILL, writers and listener still running
    server.child.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let (seen, events, resumes) = listener.await.unwrap();
    assert!(seen.len() > 50, "the listener heard writes: {}", seen.len());

    let server = spawn(dir.path(), &[], false).await;
    let mut behind = Vec::new();
    for (id, v) in &seen {
        let response = client
            .get(format!(
                "{}/v1/collections/crash/documents/{id}",
                server.url
            ))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        let now = if response.status() == StatusCode::OK {
            response.json::<Value>().await.unwrap()["v"]
                .as_u64()
                .unwrap()
        } else {
            0
        };
        if now < *v {
            behind.push(format!("{id}: reported v={v}, after restart {now}"));
        }
    }
    eprintln!(
        "listen kill -9: {events} events ({resumes} resumes), {} documents reported, {} behind \
         after restart",
        seen.len(),
        behind.len()
    );
    assert!(
        behind.is_empty(),
        "a reported state was lost: {:?}",
        &behind[..behind.len().min(10)]
    );
}

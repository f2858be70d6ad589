//! CONTRACT section 11 over HTTP: `POST /v1/listen` as a Server-Sent Events stream.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code, read};

/// One parsed SSE event.
#[derive(Debug)]
pub(crate) struct Ev {
    pub(crate) event: String,
    pub(crate) id: Option<u64>,
    pub(crate) data: Value,
}

/// Reads SSE events off a streaming response.
pub(crate) struct Sse {
    response: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(s: &Instance, key: &str, body: Value, last: Option<u64>) -> Sse {
        let mut req = s
            .client
            .post(format!("{}/v1/listen", s.url))
            .header("X-API-Key", key)
            .json(&body);
        if let Some(last) = last {
            req = req.header("Last-Event-ID", last.to_string());
        }
        let response = req.send().await.unwrap();
        Sse::from_response(response)
    }

    /// Opens a stream with `key` and an optional bearer; a refusal answers its status and body.
    pub(crate) async fn try_open(
        s: &Instance,
        key: &str,
        bearer: Option<&str>,
        body: Value,
    ) -> Result<Sse, (StatusCode, Value)> {
        let mut req = s.client.post(format!("{}/v1/listen", s.url)).json(&body);
        if !key.is_empty() {
            req = req.header("X-API-Key", key);
        }
        if let Some(bearer) = bearer {
            req = req.bearer_auth(bearer);
        }
        let response = req.send().await.unwrap();
        if response.status() != StatusCode::OK {
            return Err(read(response).await);
        }
        Ok(Sse::from_response(response))
    }

    fn from_response(response: reqwest::Response) -> Sse {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            response,
            buf: String::new(),
        }
    }

    /// The next event (pings skipped); panics after 5 s without one.
    pub(crate) async fn next(&mut self) -> Option<Ev> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut ev = Ev {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = v.into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = serde_json::from_str(v).unwrap();
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event within 5 s")
                .unwrap();
            match chunk {
                Some(bytes) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }
}

pub(crate) fn ids(docs: &Value) -> Vec<&str> {
    docs.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

pub(crate) fn changes(ev: &Ev, name: &str) -> Vec<(String, String, String)> {
    ev.data["changes"][name]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

pub(crate) fn ch(t: &str, id: &str, reason: &str) -> (String, String, String) {
    (t.into(), id.into(), reason.into())
}

async fn put(s: &Instance, id: &str, body: Value) {
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/v1/collections/todos/documents/{id}"),
            Some(body),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

#[tokio::test]
async fn snapshot_then_exact_window_changes_then_resume_and_reset() {
    let s = Instance::start().await;
    for id in ["b", "c", "d"] {
        put(&s, id, json!({"open": true})).await;
    }
    put(&s, "x", json!({"open": false})).await;
    let q =
        json!({"queries": {"open": {"collection": "todos", "filter": {"open": true}, "limit": 2}}});
    let mut sse = Sse::open(&s, &s.key, q.clone(), None).await;
    let snap = sse.next().await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(ids(&snap.data["queries"]["open"]), ["b", "c"]);
    let s0 = snap.id.unwrap();
    assert_eq!(s0, 4, "four writes so far");

    // Pulled in at the front: c is pushed out of the window.
    put(&s, "a", json!({"open": true})).await;
    let ev = sse.next().await.unwrap();
    assert_eq!((ev.event.as_str(), ev.id), ("changes", Some(s0 + 1)));
    assert_eq!(
        changes(&ev, "open"),
        [ch("removed", "c", "unmatched"), ch("added", "a", "")]
    );
    // A write outside the query and outside the window: no event. Then a modification.
    put(&s, "y", json!({"open": false})).await;
    put(&s, "zz", json!({"open": true})).await;
    put(&s, "b", json!({"open": true, "n": 1})).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.id, Some(s0 + 4));
    assert_eq!(changes(&ev, "open"), [ch("modified", "b", "")]);
    assert_eq!(ev.data["changes"]["open"][0]["document"]["n"], 1);
    // A delete of a member: the window refills from beyond its end.
    let (status, _) = s
        .call(Method::DELETE, "/v1/collections/todos/documents/a", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.id, Some(s0 + 5));
    assert_eq!(
        changes(&ev, "open"),
        [ch("removed", "a", "deleted"), ch("added", "c", "")]
    );
    // Leaving the filter.
    put(&s, "c", json!({"open": false})).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(
        changes(&ev, "open"),
        [ch("removed", "c", "unmatched"), ch("added", "d", "")]
    );
    let last = ev.id.unwrap();
    drop(sse);

    // Resume: the commits missed come as changes, none repeated.
    put(&s, "b", json!({"open": false})).await;
    let mut sse = Sse::open(&s, &s.key, q.clone(), Some(last)).await;
    let ev = sse.next().await.unwrap();
    assert_eq!((ev.event.as_str(), ev.id), ("changes", Some(last + 1)));
    assert_eq!(
        changes(&ev, "open"),
        [ch("removed", "b", "unmatched"), ch("added", "zz", "")]
    );
    put(&s, "e", json!({"open": true})).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.id, Some(last + 2));
    assert_eq!(
        changes(&ev, "open"),
        [ch("removed", "zz", "unmatched"), ch("added", "e", "")]
    );
    drop(sse);

    // An id the server cannot continue from: reset, then a fresh snapshot.
    let mut sse = Sse::open(&s, &s.key, q, Some(1_000_000)).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.event, "reset");
    let snap = sse.next().await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.id, Some(last + 2));
    assert_eq!(ids(&snap.data["queries"]["open"]), ["d", "e"]);
}

#[tokio::test]
async fn bad_requests_are_400_and_a_revoked_key_ends_the_stream() {
    let s = Instance::start().await;
    for body in [
        json!({}),
        json!({"queries": {}}),
        json!({"queries": {"bad name": {"collection": "t"}}}),
        json!({"queries": {"q": {"collection": "t", "cursor": "x"}}}),
        json!({"queries": {"q": {"filter": {}}}}),
        json!({"queries": {"q": {"collection": "t", "limit": 0}}}),
    ] {
        let (status, err) = read(
            s.client
                .post(format!("{}/v1/listen", s.url))
                .header("X-API-Key", &s.key)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            ["bad_request", "invalid_query"].contains(&code(&err)),
            "{err}"
        );
    }
    let key = s.new_key(&s.project, "reader", "read").await;
    let secret = key["key"].as_str().unwrap();
    let key_id = key["id"].as_str().unwrap();
    let q = json!({"queries": {"all": {"collection": "todos"}}});
    let mut sse = Sse::open(&s, secret, q, None).await;
    assert_eq!(sse.next().await.unwrap().event, "snapshot");
    let (status, _) = s
        .admin(Method::DELETE, &format!("/keys/{key_id}"), None)
        .await;
    assert!(status.is_success());
    let started = std::time::Instant::now();
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.event, "error");
    assert_eq!(ev.data["error"]["code"], "unauthorized");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        sse.next().await.is_none(),
        "the stream closes after the error"
    );
}

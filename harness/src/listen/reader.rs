//! The listeners' side of `--workload listen`: opening a stream, reading its SSE blocks, and
//! recording each `changes` event's commit-to-delivery latency on a sharded HDR histogram.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};

use super::super::client::{self, Conn, Target};
use super::super::report::Latency;

/// The resident set of process `pid` (this one by default) in bytes (Linux), or `None`.
pub(super) fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or("/proc/self/statm".to_owned(), |p| {
        format!("/proc/{p}/statm")
    });
    let statm = std::fs::read_to_string(path).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

pub(super) struct Shared {
    pub(super) base: Instant,
    pub(super) shards: Vec<Mutex<Histogram<u64>>>,
    pub(super) delivered: AtomicU64,
    pub(super) failed: AtomicU64,
    /// Set when measuring starts; events before it are not counted.
    pub(super) counting: AtomicBool,
}

pub(super) fn histogram() -> Histogram<u64> {
    // 1 µs to 1 min, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

pub(super) fn latency(h: &Histogram<u64>) -> Option<Latency> {
    let ms = |us: u64| us as f64 / 1e3;
    (!h.is_empty()).then(|| Latency {
        mean: h.mean() / 1e3,
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        p99_9: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

/// The `sent_us` values in one SSE event block of type `changes`.
fn sent_times(block: &[u8], out: &mut Vec<u64>) {
    const NEEDLE: &[u8] = b"\"sent_us\":";
    let mut rest = block;
    while let Some(at) = rest.windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        rest = &rest[at + NEEDLE.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(n) = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
        {
            out.push(n);
        }
    }
}

/// Opens one stream and answers once its snapshot arrived; the returned task reads it on.
pub(super) async fn open_stream(
    target: Arc<Target>,
    body: Bytes,
    shared: Arc<Shared>,
    shard: usize,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut conn = Conn::open(target.clone()).await?;
    let request = target.request(Method::POST, "/v1/listen", body);
    let response = conn.stream(request).await?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        bail!(
            "POST /v1/listen answered {status}: {}",
            client::error_message(&body)
        );
    }
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    // Up to the snapshot.
    loop {
        let frame = body
            .frame()
            .await
            .context("the stream ended before its snapshot")??;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        if let Some(end) = find_block_end(&buf) {
            let block = buf.split_to(end);
            if !block.starts_with(b"event: snapshot") {
                bail!(
                    "the stream began with {:?}",
                    String::from_utf8_lossy(&block[..block.len().min(200)])
                );
            }
            break;
        }
    }
    Ok(tokio::spawn(async move {
        let _conn = conn;
        let mut times = Vec::new();
        let mut pending: Vec<u64> = Vec::new();
        loop {
            while let Some(end) = find_block_end(&buf) {
                let block = buf.split_to(end);
                if block.starts_with(b"event: changes") {
                    times.clear();
                    sent_times(&block, &mut times);
                    if shared.counting.load(Ordering::Relaxed) && !times.is_empty() {
                        let now = shared.base.elapsed().as_micros() as u64;
                        shared
                            .delivered
                            .fetch_add(times.len() as u64, Ordering::Relaxed);
                        pending.extend(times.iter().map(|t| now.saturating_sub(*t).max(1)));
                        if pending.len() >= 256 {
                            flush(&shared, shard, &mut pending);
                        }
                    }
                } else if block.starts_with(b"event: error") {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    flush(&shared, shard, &mut pending);
                    return;
                }
            }
            // Before waiting for more: nothing recorded is left unflushed when the run ends.
            flush(&shared, shard, &mut pending);
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
                _ => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    flush(&shared, shard, &mut pending);
                    return;
                }
            }
        }
    }))
}

fn flush(shared: &Shared, shard: usize, pending: &mut Vec<u64>) {
    if pending.is_empty() {
        return;
    }
    let mut h = shared.shards[shard]
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for v in pending.drain(..) {
        h.saturating_record(v);
    }
}

/// The end (after the blank line) of the first complete SSE block in `buf`.
fn find_block_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_times_are_read_from_a_changes_block() {
        let block = b"event: changes\nid: 7\ndata: {\"changes\":{\"q\":[{\"type\":\"modified\",\"id\":\"hot1\",\"document\":{\"sent_us\":1234,\"x\":1}}]}}\n\n";
        let mut out = Vec::new();
        sent_times(block, &mut out);
        assert_eq!(out, vec![1234]);
        assert_eq!(find_block_end(block), Some(block.len()));
        assert_eq!(find_block_end(b"event: x\n"), None);
    }
}

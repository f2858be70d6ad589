//! Rounds: every connection of one target sends requests back to back (closed loop: the next
//! request leaves when the previous answer is read) until the round's deadline.
//!
//! Closed-loop latencies hide queueing a server would cause to an open-loop arrival of requests
//! (coordinated omission), as with `redis-benchmark` and `pgbench`; percentiles here are those of
//! requests that were sent, at the rate the server allowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Conn, SendError, Target};
use super::report::Stats;
use super::workload::Workload;

/// The connections of one target, kept open across rounds.
pub(crate) struct Pool {
    conns: Vec<Conn>,
}

impl Pool {
    /// Opens `n` connections to `target`.
    pub(crate) async fn open(target: &Arc<Target>, n: u32) -> anyhow::Result<Pool> {
        let mut conns = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let conn = Conn::open(target.clone()).await.map_err(|e| {
                anyhow::anyhow!(
                    "opening connection {} to {}: {e}",
                    conns.len() + 1,
                    target.addr
                )
            })?;
            conns.push(conn);
        }
        Ok(Pool { conns })
    }

    /// Runs `workload` on every connection for `duration`; with `record` false (warm-up) the
    /// counts are thrown away.
    pub(crate) async fn round(
        &mut self,
        workload: Workload,
        duration: Duration,
        record: bool,
    ) -> Stats {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::with_capacity(self.conns.len());
        for conn in self.conns.drain(..) {
            tasks.push(tokio::spawn(worker(conn, workload, deadline)));
        }
        let mut total = Stats::new();
        for task in tasks {
            let (conn, stats) = task.await.expect("bench workers do not panic");
            self.conns.push(conn);
            total.merge(&stats);
        }
        if record {
            total.set_elapsed(started.elapsed());
            total
        } else {
            Stats::new()
        }
    }
}

async fn worker(mut conn: Conn, workload: Workload, deadline: Instant) -> (Conn, Stats) {
    let mut stats = Stats::new();
    let mut rng = fastrand::Rng::new();
    let target = conn.target().clone();
    while Instant::now() < deadline {
        let request = target.op_request(workload.pick(&mut rng), &mut rng);
        let sent = Instant::now();
        match conn.send(request).await {
            Ok((status, _)) if status.is_success() => stats.record_ok(sent.elapsed()),
            Ok((status, _)) => stats.record_error(status.as_str()),
            Err(SendError::Connect(_) | SendError::Http(_)) => stats.record_error("io"),
        }
    }
    (conn, stats)
}

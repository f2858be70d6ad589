//! Seeding: documents `0..docs` created through the API by many concurrent connections, with
//! progress on stderr. The first refusal stops it with the server's own message.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use hyper::{Method, StatusCode};

use super::client::{Conn, Target, error_message};
use super::workload;

/// Creates documents `0..target.docs` with `connections` concurrent requests; returns the time
/// it took.
pub(crate) async fn seed(target: &Arc<Target>, connections: u32) -> anyhow::Result<Duration> {
    let total = target.docs;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let progress = tokio::spawn(progress(done.clone(), total, started));

    let mut workers = Vec::new();
    for _ in 0..connections.min(total.try_into().unwrap_or(u32::MAX)).max(1) {
        let (target, next, done, failed, first_error) = (
            target.clone(),
            next.clone(),
            done.clone(),
            failed.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            let fail = |message: String| {
                failed.store(true, Ordering::Relaxed);
                first_error.lock().expect("lock").get_or_insert(message);
            };
            let mut conn = match Conn::open(target.clone()).await {
                Ok(conn) => conn,
                Err(e) => return fail(format!("cannot connect: {e}")),
            };
            let path = format!("{}/documents", target.base);
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let request = target.request(Method::POST, &path, workload::seed_body(i));
                match conn.send(request).await {
                    Ok((StatusCode::CREATED, _)) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((StatusCode::FORBIDDEN, body)) => {
                        return fail(format!(
                            "the server refused to create documents (403: {}); bench seeds its \
                             own collection and needs a write key",
                            error_message(&body)
                        ));
                    }
                    Ok((status, body)) => {
                        return fail(format!(
                            "POST {path} answered {status}: {}",
                            error_message(&body)
                        ));
                    }
                    Err(e) => return fail(format!("POST {path} failed: {e}")),
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    progress.abort();
    let elapsed = started.elapsed();
    let done = done.load(Ordering::Relaxed);
    let clear = if std::io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    };
    if let Some(message) = first_error.lock().expect("lock").take() {
        eprint!("{clear}");
        bail!("seeding failed after {done} documents: {message}");
    }
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{clear}seeded {done} documents in {:.2} s ({rate:.0} docs/s)",
        elapsed.as_secs_f64()
    );
    Ok(elapsed)
}

/// Prints progress: a line rewritten in place on a terminal, a line per tenth otherwise.
async fn progress(done: Arc<AtomicU64>, total: u64, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut tenths_shown = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(if terminal { 200 } else { 500 })).await;
        let done = done.load(Ordering::Relaxed);
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        if terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2Kseeding {done}/{total} ({rate:.0} docs/s)");
            let _ = err.flush();
        } else if done * 10 / total.max(1) > tenths_shown {
            tenths_shown = done * 10 / total.max(1);
            eprintln!("seeding {done}/{total} ({rate:.0} docs/s)");
        }
    }
}

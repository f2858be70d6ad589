//! Start-up progress: while a large data directory loads, a ticker thread logs the documents
//! loaded so far, the rate and the ETA every [`progress_interval`] (1 s unless changed with
//! [`set_progress_interval`]). The loaders only bump an atomic counter; the ticker reads it.
//! A load shorter than one interval logs nothing beyond its final `storage loaded` line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static INTERVAL_MICROS: AtomicU64 = AtomicU64::new(1_000_000);

/// How often a loading server logs its progress.
pub fn progress_interval() -> Duration {
    Duration::from_micros(INTERVAL_MICROS.load(Ordering::Relaxed))
}

/// Changes how often loading logs its progress (tests use a few milliseconds); at least 1 ms.
pub fn set_progress_interval(every: Duration) {
    let micros = every.as_micros().clamp(1_000, u128::from(u64::MAX)) as u64;
    INTERVAL_MICROS.store(micros, Ordering::Relaxed);
}

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressLine {
    /// Documents loaded so far.
    pub done: u64,
    /// Documents to load in all.
    pub total: u64,
    /// Documents per second since the load started.
    pub per_sec: f64,
    /// Seconds left at that rate; `None` before anything was loaded.
    pub eta_secs: Option<f64>,
}

type Sink = Box<dyn Fn(&ProgressLine) + Send + Sync>;

struct Shared {
    done: AtomicU64,
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// A counter the loaders bump, and the ticker that reports it until dropped.
pub struct LoadProgress {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
}

impl LoadProgress {
    /// Starts a ticker that logs through `tracing` every [`progress_interval`].
    pub fn start(total: u64) -> LoadProgress {
        LoadProgress::with_sink(
            total,
            progress_interval(),
            Box::new(|line: &ProgressLine| {
                tracing::info!(
                    docs = line.done,
                    total = line.total,
                    docs_per_sec = line.per_sec as u64,
                    eta_secs = line.eta_secs.map(|s| s.ceil() as u64),
                    "loading storage: {} of {} documents ({:.0}%)",
                    line.done,
                    line.total,
                    100.0 * line.done as f64 / line.total.max(1) as f64,
                );
            }),
        )
    }

    /// Starts a ticker that hands each report to `sink` every `every`.
    pub fn with_sink(total: u64, every: Duration, sink: Sink) -> LoadProgress {
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let started = Instant::now();
        let ticker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("load-progress".into())
                .spawn(move || {
                    let mut stopped = shared.stopped.lock().expect("progress lock");
                    loop {
                        // Stopped before this thread first waited: nobody will notify again.
                        if *stopped {
                            return;
                        }
                        let (guard, timeout) = shared
                            .wake
                            .wait_timeout(stopped, every)
                            .expect("progress lock");
                        stopped = guard;
                        if *stopped {
                            return;
                        }
                        if timeout.timed_out() {
                            let done = shared.done.load(Ordering::Relaxed);
                            let secs = started.elapsed().as_secs_f64().max(1e-9);
                            let per_sec = done as f64 / secs;
                            let eta_secs = (done > 0)
                                .then(|| total.saturating_sub(done) as f64 / per_sec.max(1e-9));
                            sink(&ProgressLine {
                                done,
                                total,
                                per_sec,
                                eta_secs,
                            });
                        }
                    }
                })
                .ok()
        };
        LoadProgress { shared, ticker }
    }

    /// Counts `n` more documents loaded.
    pub fn add(&self, n: u64) {
        self.shared.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Documents counted so far.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Relaxed)
    }
}

impl Drop for LoadProgress {
    fn drop(&mut self) {
        *self.shared.stopped.lock().expect("progress lock") = true;
        self.shared.wake.notify_all();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load slower than the interval reports its progress: the ticker wakes on its own, with
    /// no help from the loader, and says how far it got.
    #[test]
    fn a_slow_load_reports_progress_with_rate_and_eta() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let progress = LoadProgress::with_sink(
            100,
            Duration::from_millis(2),
            Box::new(move |line| {
                let _ = tx.lock().unwrap().send(line.clone());
            }),
        );
        progress.add(25);
        // Wait on the report itself (not a sleep): the first one after the bump.
        let line = loop {
            let line = rx.recv_timeout(Duration::from_secs(10)).expect("a report");
            if line.done == 25 {
                break line;
            }
        };
        assert_eq!(line.total, 100);
        assert!(line.per_sec > 0.0, "{line:?}");
        let eta = line.eta_secs.expect("an ETA once something loaded");
        assert!(eta > 0.0, "{line:?}");
        drop(progress);
        // Dropping stops the ticker: no report after it.
        while rx.try_recv().is_ok() {}
        std::thread::yield_now();
        assert!(rx.try_recv().is_err());
    }

    /// A load that ends before the ticker thread first waits (every small load) must not keep
    /// the loader waiting for one whole interval in `drop`: it used to (1 s per `open`).
    #[test]
    fn a_load_shorter_than_the_ticker_start_does_not_wait_an_interval() {
        for _ in 0..5 {
            let started = Instant::now();
            drop(LoadProgress::with_sink(
                1,
                Duration::from_secs(20),
                Box::new(|_| {}),
            ));
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "drop waited the interval"
            );
        }
    }

    #[test]
    fn the_interval_is_at_least_a_millisecond() {
        let before = progress_interval();
        set_progress_interval(Duration::ZERO);
        assert_eq!(progress_interval(), Duration::from_millis(1));
        set_progress_interval(before);
        assert_eq!(progress_interval(), before);
    }
}

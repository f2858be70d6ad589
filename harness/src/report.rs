//! Counting and reporting: per-worker [`Stats`] merged into one per target, summarised as a
//! [`TargetReport`], and the whole run as a [`Report`] printed for people or written as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// What one worker, or a whole target, saw.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Latencies of 2xx answers, in nanoseconds.
    latencies: Histogram<u64>,
    /// 2xx answers.
    ok: u64,
    /// Failures by HTTP status (`"404"`), or `"io"` when no answer came.
    errors: BTreeMap<String, u64>,
    /// Time measured, summed over rounds.
    elapsed: Duration,
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            // 1 ns to 1 min at 3 significant digits: ~30 KiB per histogram.
            latencies: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("constant bounds are valid"),
            ok: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn record_ok(&mut self, latency: Duration) {
        self.ok += 1;
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latencies.saturating_record(nanos.max(1));
    }

    pub(crate) fn record_error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }

    /// Adds another worker's counts (for the same span of time).
    pub(crate) fn merge(&mut self, other: &Stats) {
        self.latencies
            .add(&other.latencies)
            .expect("histograms with the same bounds add");
        self.ok += other.ok;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
    }

    /// Marks these counts as measured over `elapsed`.
    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// Adds a round's counts and its measured time.
    pub(crate) fn add_round(&mut self, round: &Stats) {
        self.merge(round);
        self.elapsed += round.elapsed;
    }

    /// 2xx answers per second over these counts' time.
    pub(crate) fn req_per_s(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }

    /// The latency distribution in logarithmic buckets (each 25 % wider than the last, from
    /// 10 µs): `(upper bound in ms, answers in the bucket)`, empty buckets left out.
    fn buckets(&self) -> Vec<(f64, u64)> {
        if self.latencies.is_empty() {
            return Vec::new();
        }
        self.latencies
            .iter_log(10_000, 1.25)
            .filter(|v| v.count_since_last_iteration() > 0)
            .map(|v| {
                (
                    v.value_iterated_to() as f64 / 1e6,
                    v.count_since_last_iteration(),
                )
            })
            .collect()
    }

    pub(crate) fn summary(&self) -> TargetReport {
        let errors: u64 = self.errors.values().sum();
        let seconds = self.elapsed.as_secs_f64();
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let latency_ms = (!self.latencies.is_empty()).then(|| Latency {
            mean: self.latencies.mean() / 1e6,
            p50: ms(self.latencies.value_at_quantile(0.5)),
            p90: ms(self.latencies.value_at_quantile(0.9)),
            p99: ms(self.latencies.value_at_quantile(0.99)),
            p99_9: ms(self.latencies.value_at_quantile(0.999)),
            max: ms(self.latencies.max()),
        });
        TargetReport {
            requests: self.ok + errors,
            ok: self.ok,
            errors: self.errors.clone(),
            elapsed_s: seconds,
            req_per_s: if seconds > 0.0 {
                self.ok as f64 / seconds
            } else {
                0.0
            },
            latency_ms,
            latency_buckets: self.buckets(),
        }
    }
}

/// Latency percentiles of successful requests, in milliseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Slowest.
    pub max: f64,
}

/// One target's results over all its rounds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TargetReport {
    /// Requests that got an answer or failed.
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Failures by HTTP status, or `io` when no answer came.
    pub errors: BTreeMap<String, u64>,
    /// Seconds measured.
    pub elapsed_s: f64,
    /// 2xx answers per second.
    pub req_per_s: f64,
    /// Latencies of 2xx answers; `None` when there was none.
    pub latency_ms: Option<Latency>,
    /// The latency histogram: `(bucket's upper bound in ms, answers)`, for `--plot`.
    #[serde(default)]
    pub latency_buckets: Vec<(f64, u64)>,
}

/// A whole run: what was measured, on what, and the results.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    /// `get`, `query`, `create`, `update` or `mixed`.
    pub workload: String,
    /// Keep-alive connections per target.
    pub connections: u32,
    /// Seconds measured per target.
    pub duration_s: f64,
    /// Seconds of unmeasured warm-up per target.
    pub warmup_s: f64,
    /// Rounds per target (alternating with the ceiling when there is one).
    pub rounds: u32,
    /// Documents seeded.
    pub docs: u64,
    /// Cores of this machine.
    pub cores: usize,
    /// The Mammoth measured.
    pub url: String,
    /// `external`, or the in-process instance's kind (`memory`, `sync`, `periodic`).
    pub server: String,
    /// The seeded collection.
    pub collection: String,
    /// Seconds spent seeding Mammoth.
    pub seed_s: f64,
    /// Mammoth's results.
    pub mammoth: TargetReport,
    /// The bare HTTP server's results, with `--ceiling`.
    pub ceiling: Option<TargetReport>,
    /// Mammoth's req/s over the ceiling's.
    pub ratio: Option<f64>,
    /// Remarks on the run, e.g. whether Mammoth's query answer matched a full scan.
    pub notes: Vec<String>,
    /// Mammoth's req/s in each round, in order: throughput over the run's time, for `--plot`.
    #[serde(default)]
    pub round_req_per_s: Vec<f64>,
    /// The realtime figures of `--workload listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<crate::listen::ListenReport>,
}

fn ms_cell(value: Option<f64>) -> String {
    match value {
        Some(ms) if ms < 10.0 => format!("{ms:.3}ms"),
        Some(ms) => format!("{ms:.1}ms"),
        None => "-".into(),
    }
}

fn row(f: &mut fmt::Formatter<'_>, name: &str, r: &TargetReport) -> fmt::Result {
    let lat = r.latency_ms.as_ref();
    let errors: u64 = r.errors.values().sum();
    writeln!(
        f,
        "{name:<10} {:>10.0} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        r.req_per_s,
        ms_cell(lat.map(|l| l.p50)),
        ms_cell(lat.map(|l| l.p90)),
        ms_cell(lat.map(|l| l.p99)),
        ms_cell(lat.map(|l| l.p99_9)),
        ms_cell(lat.map(|l| l.max)),
        errors
    )?;
    if !r.errors.is_empty() {
        let list: Vec<String> = r.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        writeln!(f, "{:<10} errors by status: {}", "", list.join(", "))?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workload {}, {} connection{}, {:.1} s measured per target in {} round(s) after \
             {:.1} s of warm-up, {} documents, {} cores",
            self.workload,
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.duration_s,
            self.rounds,
            self.warmup_s,
            self.docs,
            self.cores
        )?;
        writeln!(
            f,
            "mammoth: {} ({}), collection {}",
            self.url, self.server, self.collection
        )?;
        writeln!(
            f,
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "", "req/s", "p50", "p90", "p99", "p99.9", "max", "errors"
        )?;
        row(f, "mammoth", &self.mammoth)?;
        if let Some(ceiling) = &self.ceiling {
            row(f, "ceiling", ceiling)?;
        }
        if let Some(ratio) = self.ratio {
            writeln!(
                f,
                "mammoth/ceiling: {:.1} % of the ceiling's req/s",
                ratio * 100.0
            )?;
        }
        if let Some(l) = &self.listen {
            writeln!(
                f,
                "listen: {} stream(s) on {} quer{}, {} writes/s asked, {:.0} acknowledged/s",
                l.listeners,
                l.queries,
                if l.queries == "one" { "y" } else { "ies" },
                l.rate,
                l.writes_per_s
            )?;
            let d = l.delivery_ms.as_ref();
            writeln!(
                f,
                "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "", "events/s", "p50", "p90", "p99", "p99.9", "max"
            )?;
            writeln!(
                f,
                "{:<10} {:>10.0} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "delivery",
                l.delivered_per_s,
                ms_cell(d.map(|l| l.p50)),
                ms_cell(d.map(|l| l.p90)),
                ms_cell(d.map(|l| l.p99)),
                ms_cell(d.map(|l| l.p99_9)),
                ms_cell(d.map(|l| l.max)),
            )?;
            writeln!(
                f,
                "delivered {} of {} expected events, {} stream(s) ended early; streams opened in \
                 {:.1} s, idle streams added {} RSS",
                l.delivered,
                l.expected,
                l.streams_failed,
                l.open_s,
                l.idle_rss_mib
                    .map_or("?".to_owned(), |m| format!("{m:.1} MiB"))
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

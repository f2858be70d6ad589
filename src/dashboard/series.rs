//! The process's request rate and latency over the last hour, per minute, for the dashboard's
//! chart: 60 slots of a request count and a latency histogram (the Prometheus buckets), recorded
//! lock-free by [`track`], a middleware every server's router has (embedded test servers too,
//! which have no Prometheus recorder), so the server's own traffic is what the chart shows. A
//! slot is reused when its minute comes round again; a rollover race loses at most a few
//! samples of the old minute, which a chart can afford.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in microseconds (the last bucket is everything slower).
const BOUNDS_US: [u64; 13] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];
/// Minutes kept.
pub(crate) const MINUTES: usize = 60;

struct Slot {
    /// Minute since the epoch plus one (0: never used).
    minute: AtomicU64,
    count: AtomicU64,
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
}

/// Per-minute request counts and latency histograms.
pub(crate) struct Series {
    slots: [Slot; MINUTES],
}

/// One minute's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Point {
    /// Requests in the minute.
    pub(crate) requests: u64,
    /// 99th percentile latency in microseconds (a bucket's upper bound), 0 without requests.
    pub(crate) p99_us: u64,
}

/// The process's series, fed by [`track`].
pub(crate) static PROCESS: Series = Series::new();

/// Middleware: records each routed request's latency in [`PROCESS`].
pub(crate) async fn track(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    PROCESS.record_now(started.elapsed().as_micros() as u64);
    response
}

impl Series {
    #[allow(clippy::declare_interior_mutable_const)]
    pub(crate) const fn new() -> Series {
        const ZERO: AtomicU64 = AtomicU64::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const SLOT: Slot = Slot {
            minute: ZERO,
            count: ZERO,
            buckets: [ZERO; BOUNDS_US.len() + 1],
        };
        Series {
            slots: [SLOT; MINUTES],
        }
    }

    /// Records one request that took `micros`, now (wall clock: process metrics are wall-clock,
    /// as Prometheus scrapes are).
    pub(crate) fn record_now(&self, micros: u64) {
        self.record(wall_ms(), micros);
    }

    /// Records one request that took `micros`, at `now_ms`.
    pub(crate) fn record(&self, now_ms: u64, micros: u64) {
        let minute = now_ms / 60_000 + 1;
        let slot = &self.slots[(minute as usize) % MINUTES];
        let seen = slot.minute.load(Ordering::Acquire);
        if seen != minute
            && slot
                .minute
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.count.store(0, Ordering::Relaxed);
            for b in &slot.buckets {
                b.store(0, Ordering::Relaxed);
            }
        }
        let bucket = BOUNDS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BOUNDS_US.len());
        slot.count.fetch_add(1, Ordering::Relaxed);
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The last [`MINUTES`] minutes up to `now_ms`, oldest first.
    pub(crate) fn last_hour(&self, now_ms: u64) -> Vec<Point> {
        let current = now_ms / 60_000 + 1;
        (0..MINUTES as u64)
            .rev()
            .map(|ago| {
                let minute = current.saturating_sub(ago);
                let slot = &self.slots[(minute as usize) % MINUTES];
                if minute == 0 || slot.minute.load(Ordering::Acquire) != minute {
                    return Point {
                        requests: 0,
                        p99_us: 0,
                    };
                }
                let requests = slot.count.load(Ordering::Relaxed);
                let counts: Vec<u64> = slot
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                Point {
                    requests,
                    p99_us: p99(&counts),
                }
            })
            .collect()
    }
}

/// Milliseconds since the epoch, by the system clock.
pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The upper bound of the bucket holding the 99th percentile (the slowest bucket answers its
/// lower bound doubled).
fn p99(counts: &[u64]) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = total.saturating_mul(99).div_ceil(100);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return BOUNDS_US.get(i).copied().unwrap_or(2 * BOUNDS_US[12]);
        }
    }
    2 * BOUNDS_US[12]
}

/// An inline SVG of requests per minute (bars) and p99 latency (line), with a text summary for
/// screen readers.
pub(crate) fn chart(points: &[Point]) -> maud::Markup {
    let (w, h) = (600.0_f64, 120.0_f64);
    let n = points.len().max(1) as f64;
    let max_req = points.iter().map(|p| p.requests).max().unwrap_or(0).max(1) as f64;
    let max_lat = points.iter().map(|p| p.p99_us).max().unwrap_or(0).max(1) as f64;
    let bar = w / n;
    let total: u64 = points.iter().map(|p| p.requests).sum();
    let worst = points.iter().map(|p| p.p99_us).max().unwrap_or(0);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                (i as f64 + 0.5) * bar,
                h - (p.p99_us as f64 / max_lat) * (h - 4.0)
            )
        })
        .collect();
    let summary = format!(
        "Last hour: {total} requests; worst per-minute p99 latency {} ms.",
        worst as f64 / 1000.0
    );
    maud::html! {
        figure.chart {
            svg #requests-chart viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(summary) preserveAspectRatio="none" {
                @for (i, p) in points.iter().enumerate() {
                    @let height = p.requests as f64 / max_req * (h - 4.0);
                    rect x=(format!("{:.1}", i as f64 * bar)) y=(format!("{:.1}", h - height))
                        width=(format!("{:.1}", (bar - 1.0).max(0.5))) height=(format!("{:.1}", height))
                        fill="#7aa7d9" { title { (p.requests) " requests" } }
                }
                polyline points=(line.join(" ")) fill="none" stroke="#c0392b" stroke-width="2" {}
            }
            figcaption { (summary) " Bars: requests per minute (max " (max_req as u64) "); line: p99 latency (max " (max_lat / 1000.0) " ms)." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_fill_roll_over_and_give_a_p99() {
        let series = Series::new();
        let t0 = 1_800_000_000_000;
        for _ in 0..99 {
            series.record(t0, 80);
        }
        series.record(t0, 40_000);
        series.record(t0 + 60_000, 10);
        let hour = series.last_hour(t0 + 60_000);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(
            hour[MINUTES - 2],
            Point {
                requests: 100,
                p99_us: 100
            }
        );
        assert_eq!(hour[MINUTES - 1].requests, 1);
        // An hour later the slot of t0 is reused, its old figures gone.
        series.record(t0 + 3_600_000, 10);
        let later = series.last_hour(t0 + 3_600_000);
        assert_eq!(later[MINUTES - 1].requests, 1);
        // The minute after t0 is still within the hour; t0's 100 requests are gone.
        assert_eq!(later.iter().map(|p| p.requests).sum::<u64>(), 2);
        let svg = chart(&later).into_string();
        assert!(svg.contains("<svg") && svg.contains("1 requests"), "{svg}");
    }
}

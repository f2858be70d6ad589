//! `mammoth bench --plot FILE.svg`: one SVG picture of a run, the latency histogram on the left
//! and Mammoth's throughput per round (over the run's time) on the right. plotters draws with
//! its SVG backend only: text is written as SVG `<text>`, so no font files or system libraries
//! are needed.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::report::Report;

/// Writes the picture of `report` to `path`.
pub(crate) fn write_svg(report: &Report, path: &Path) -> anyhow::Result<()> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg).with_context(|| format!("writing the plot to {}", path.display()))
}

/// The picture of `report` as SVG text.
pub(crate) fn render_svg(report: &Report) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let (left, right) = root.split_horizontally(500);
        histogram(report, &left)?;
        throughput(report, &right)?;
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

fn draw<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e:?}")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Answers per latency bucket, on a logarithmic latency axis (one bar per bucket).
fn histogram(report: &Report, area: &Area<'_>) -> anyhow::Result<()> {
    let buckets = &report.mammoth.latency_buckets;
    let lo = buckets.first().map_or(0.01, |b| b.0 / 1.25).max(1e-3);
    let hi = buckets.last().map_or(1.0, |b| b.0).max(lo * 2.0);
    let top = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let p99 = report.mammoth.latency_ms.as_ref().map(|l| l.p99);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{} latency ({} answers{})",
                report.workload,
                report.mammoth.ok,
                p99.map(|p| format!(", p99 {p:.3} ms")).unwrap_or_default()
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0u64..top + top / 10)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("answers")
        .draw()
        .map_err(draw)?;
    chart
        .draw_series(buckets.iter().map(|&(upper, n)| {
            Rectangle::new([(upper / 1.25, 0), (upper, n)], BLUE.mix(0.6).filled())
        }))
        .map_err(draw)?;
    Ok(())
}

/// Mammoth's req/s per round against the round's end time.
fn throughput(report: &Report, area: &Area<'_>) -> anyhow::Result<()> {
    let rounds = &report.round_req_per_s;
    let step = report.duration_s / rounds.len().max(1) as f64;
    let points: Vec<(f64, f64)> = rounds
        .iter()
        .enumerate()
        .map(|(i, &r)| ((i + 1) as f64 * step, r))
        .collect();
    let top = rounds.iter().copied().fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "throughput ({:.0} req/s, {} connections)",
                report.mammoth.req_per_s, report.connections
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..report.duration_s.max(step), 0.0..top * 1.1)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("seconds measured")
        .y_desc("req/s")
        .draw()
        .map_err(draw)?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), &RED))
        .map_err(draw)?;
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 3, RED.filled())))
        .map_err(draw)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::Stats;

    #[test]
    fn a_run_draws_as_svg_with_both_charts() {
        let mut stats = Stats::new();
        for us in [50u64, 60, 80, 120, 120, 400, 2_000] {
            stats.record_ok(Duration::from_micros(us));
        }
        stats.set_elapsed(Duration::from_secs(2));
        let mammoth = stats.summary();
        assert!(!mammoth.latency_buckets.is_empty());
        assert_eq!(
            mammoth.latency_buckets.iter().map(|b| b.1).sum::<u64>(),
            7,
            "every answer is in a bucket"
        );
        let report = Report {
            workload: "get".into(),
            connections: 4,
            duration_s: 2.0,
            warmup_s: 0.0,
            rounds: 4,
            docs: 10,
            cores: 2,
            url: "http://127.0.0.1:1".into(),
            server: "memory".into(),
            collection: "c".into(),
            seed_s: 0.1,
            mammoth,
            ceiling: None,
            ratio: None,
            notes: Vec::new(),
            round_req_per_s: vec![3.0, 4.0, 2.5, 3.5],
            listen: None,
        };
        let svg = render_svg(&report).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(
            svg.contains("get latency (7 answers"),
            "the histogram's caption"
        );
        assert!(
            svg.contains("throughput ("),
            "the throughput chart's caption"
        );
        assert!(svg.contains("<polyline"), "the throughput line");
        assert!(svg.matches("<rect").count() > 3, "histogram bars");
    }
}

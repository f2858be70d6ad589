//! Metrics: a Prometheus recorder for the `mammoth` process, per-route request counters and
//! latency histograms recorded by a middleware, and gauges read from the live system at scrape
//! time (projects, documents, calls waiting per project).
//!
//! The `metrics` crate allows one global recorder per process, so only the binary installs one;
//! embedded instances (tests, `TestServer`) run without the request middleware and their
//! `/metrics` shows the scrape-time gauges only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets, in seconds: 50 µs to 1 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Installs the process-wide recorder and starts its upkeep; `None` when one is installed already.
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })
        .ok()?;
    Some(handle)
}

/// Middleware: counts requests by method, route and status, and records their latency by route.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = known_method(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        if !handles.contains_key(route) {
            let latency = metrics::histogram!(
                "mammoth_http_request_duration_seconds", "route" => route.to_owned()
            );
            handles.insert(
                route.into(),
                RouteHandles {
                    latency,
                    counts: HashMap::new(),
                },
            );
        }
        let Some(entry) = handles.get_mut(route) else {
            return;
        };
        entry.latency.record(started.elapsed().as_secs_f64());
        entry
            .counts
            .entry((method, status))
            .or_insert_with(|| {
                metrics::counter!(
                    "mammoth_http_requests_total",
                    "method" => method, "route" => route.to_owned(), "status" => status.to_string()
                )
            })
            .increment(1);
    });
    response
}

thread_local! {
    /// Metric handles by route, then by (method, status). Asking the recorder for a metric
    /// hashes every label on every request; a handle, once made, is reused, with no lock and no
    /// allocation. Bounded: the routes are the router's, methods outside the standard set count
    /// as `OTHER`, and statuses are three digits.
    static HANDLES: RefCell<HashMap<Box<str>, RouteHandles>> = RefCell::default();
}

struct RouteHandles {
    latency: metrics::Histogram,
    counts: HashMap<(&'static str, u16), metrics::Counter>,
}

/// The method as a static label; anything non-standard is `OTHER`, so clients cannot grow the
/// label set.
fn known_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The Prometheus text: what the recorder holds, then the scrape-time gauges.
pub(crate) async fn render(state: &AppState) -> String {
    let mut out = state
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let projects = state.registry.projects();
    let _ = writeln!(
        out,
        "# HELP mammoth_projects Projects served.\n# TYPE mammoth_projects gauge"
    );
    let _ = writeln!(out, "mammoth_projects {}", projects.len());
    let _ = writeln!(
        out,
        "# HELP mammoth_documents Documents stored, by project.\n# TYPE mammoth_documents gauge"
    );
    for project in &projects {
        if let Ok(count) = project.document_count().await {
            let _ = writeln!(
                out,
                "mammoth_documents{{project=\"{}\"}} {count}",
                project.id()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP mammoth_project_calls_in_flight Calls waiting on a project actor (its mailbox depth).\n# TYPE mammoth_project_calls_in_flight gauge"
    );
    for project in &projects {
        let _ = writeln!(
            out,
            "mammoth_project_calls_in_flight{{project=\"{}\"}} {}",
            project.id(),
            project.in_flight()
        );
    }
    let _ = writeln!(
        out,
        "# HELP mammoth_password_hash_queue Password hashes and verifications waiting or running.\n# TYPE mammoth_password_hash_queue gauge\nmammoth_password_hash_queue {}",
        state.passwords.queued()
    );
    let s = state.storage.stats();
    let counters = [
        (
            "mammoth_storage_commits_total",
            "counter",
            "Write transactions committed.",
            s.commits,
        ),
        (
            "mammoth_storage_failed_commits_total",
            "counter",
            "Commits that failed (unhealthy when above 0).",
            s.failed_commits,
        ),
        (
            "mammoth_storage_mutations_committed_total",
            "counter",
            "Mutations committed.",
            s.mutations_committed,
        ),
        (
            "mammoth_storage_overloaded_total",
            "counter",
            "Writes refused because too many were waiting for the disk.",
            s.overloaded,
        ),
        (
            "mammoth_storage_pending",
            "gauge",
            "Mutations submitted and not yet committed.",
            s.pending,
        ),
        (
            "mammoth_storage_last_batch_mutations",
            "gauge",
            "Mutations in the last committed batch (group commit size).",
            s.last_batch_mutations,
        ),
        (
            "mammoth_storage_max_batch_mutations",
            "gauge",
            "Largest committed batch.",
            s.max_batch_mutations,
        ),
        (
            "mammoth_storage_last_commit_microseconds",
            "gauge",
            "Duration of the last commit, fsync included.",
            s.last_commit_micros,
        ),
        (
            "mammoth_storage_max_commit_microseconds",
            "gauge",
            "Longest commit.",
            s.max_commit_micros,
        ),
        (
            "mammoth_storage_commit_microseconds_total",
            "counter",
            "Time spent committing, fsync included.",
            s.total_commit_micros,
        ),
    ];
    for (name, kind, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    out
}

/// The `/metrics` route.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", axum::routing::get(metrics))
}

/// Prometheus text exposition; it names every tenant, so it takes the root token (CONTRACT 18):
/// a dashboard session is not enough, scrapers use the token.
async fn metrics(
    _root: RootToken,
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    let body = render(&state).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
}

/// The caller presented the root token.
struct RootToken;

impl axum::extract::FromRequestParts<AppState> for RootToken {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, crate::error::ApiError> {
        crate::credentials::root_token(parts, state).map(|()| RootToken)
    }
}

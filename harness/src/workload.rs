//! What the harness sends: the seeded documents (a pure function of their index, so Mammoth and
//! the ceiling hold the same data without the harness keeping it), the workloads and their mix,
//! and the example query with the answer a full scan gives.

use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The request mix a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// GET a random seeded document by id.
    Get,
    /// The example query: active users aged 21 or more, oldest first, 20 per page.
    Query,
    /// POST a new document (the server picks its id).
    Create,
    /// PATCH a random seeded document (a two-field merge).
    Update,
    /// 80 % get, 10 % query, 10 % update.
    Mixed,
    /// `POST /v1/batch` of [`BATCH_SIZE`] creates per request (the server picks the ids).
    Batch,
    /// The `$or` query: pending, or in Oslo, or assigned to one user; oldest first, 20 per page.
    Or,
    /// Realtime: --listeners SSE streams, merge-patches at --rate writes/s; prints
    /// commit-to-delivery latency and delivered events/s.
    Listen,
}

/// Creates per request of the batch workload.
pub(crate) const BATCH_SIZE: usize = 100;

/// One request's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    Query,
    Create,
    Update,
    Batch,
    Or,
}

impl Workload {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Query => "query",
            Workload::Create => "create",
            Workload::Update => "update",
            Workload::Mixed => "mixed",
            Workload::Batch => "batch",
            Workload::Or => "or",
            Workload::Listen => "listen",
        }
    }

    /// Draws the next request's kind.
    pub(crate) fn pick(self, rng: &mut fastrand::Rng) -> Op {
        match self {
            Workload::Get => Op::Get,
            Workload::Query => Op::Query,
            Workload::Create => Op::Create,
            Workload::Update => Op::Update,
            Workload::Batch => Op::Batch,
            Workload::Or => Op::Or,
            Workload::Listen => Op::Update,
            Workload::Mixed => match rng.u32(0..10) {
                0..=7 => Op::Get,
                8 => Op::Query,
                _ => Op::Update,
            },
        }
    }
}

/// The query of the seed's example: active adults, oldest first.
pub const EXAMPLE_QUERY: &str = r#"{"filter":{"status":"active","age":{"$gte":21}},"sort":[{"field":"age","order":"desc"}],"limit":20}"#;

/// The `$or` workload's query: three equalities on three indexed paths ("pending, or in Oslo,
/// or assigned to me"), sorted and limited like the example query.
pub const OR_QUERY: &str = r#"{"filter":{"$or":[{"status":"pending"},{"address.city":"Oslo"},{"assignee":"user-42"}]},"sort":[{"field":"age","order":"desc"}],"limit":20}"#;

/// The example query's `limit` (the `$or` query's too).
const EXAMPLE_LIMIT: usize = 20;

/// Seeded documents are assigned to one of this many users.
const ASSIGNEES: u32 = 500;

/// A query whose first page the harness checks and the ceiling serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageQuery {
    /// [`EXAMPLE_QUERY`].
    Example,
    /// [`OR_QUERY`].
    Or,
}

impl PageQuery {
    /// The request body.
    pub(crate) fn body(self) -> &'static str {
        match self {
            PageQuery::Example => EXAMPLE_QUERY,
            PageQuery::Or => OR_QUERY,
        }
    }

    /// What the report calls it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PageQuery::Example => "the example query",
            PageQuery::Or => "the $or query",
        }
    }

    /// Whether a document matches its filter.
    fn matches(self, doc: &Map<String, Value>) -> bool {
        match self {
            PageQuery::Example => matches_example(doc),
            PageQuery::Or => {
                doc.get("status").and_then(Value::as_str) == Some("pending")
                    || doc
                        .get("address")
                        .and_then(|a| a.get("city"))
                        .and_then(Value::as_str)
                        == Some("Oslo")
                    || doc.get("assignee").and_then(Value::as_str) == Some("user-42")
            }
        }
    }
}

const STATUSES: [&str; 3] = ["active", "inactive", "pending"];
const CITIES: [&str; 8] = [
    "Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Toronto", "Leipzig", "Hobart",
];
const TAGS: [&str; 8] = [
    "admin",
    "beta",
    "mobile",
    "premium",
    "trial",
    "newsletter",
    "verified",
    "legacy",
];

/// The id of seeded document `i`: zero-padded, so ids sort like their indexes.
pub(crate) fn doc_id(i: u64) -> String {
    format!("u{i:08}")
}

/// Seeded document `i` without its id, about 200 bytes encoded. The same `i` always gives the
/// same document.
pub(crate) fn doc_body(i: u64) -> Map<String, Value> {
    let mut rng = fastrand::Rng::with_seed(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6d61_6d6d);
    let first = rng.usize(0..TAGS.len());
    let second = (first + 1 + rng.usize(0..TAGS.len() - 1)) % TAGS.len();
    let tags = json!([TAGS[first], TAGS[second]]);
    let Value::Object(map) = json!({
        "name": format!("user-{i}"),
        "email": format!("user-{i}@example.com"),
        "status": STATUSES[rng.usize(0..STATUSES.len())],
        "age": rng.u32(18..=80),
        "score": (rng.f64() * 100_000.0).round() / 100.0,
        "address": {
            "city": CITIES[rng.usize(0..CITIES.len())],
            "zip": format!("{:05}", rng.u32(0..100_000)),
        },
        "tags": tags,
        "assignee": format!("user-{}", rng.u32(0..ASSIGNEES)),
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    map
}

/// The body that seeds document `i` (its id included).
pub(crate) fn seed_body(i: u64) -> Bytes {
    let mut doc = doc_body(i);
    doc.insert("id".into(), Value::String(doc_id(i)));
    Bytes::from(serde_json::to_vec(&doc).expect("a JSON map encodes"))
}

/// A `POST` body for the create workload: a fresh document without id.
pub(crate) fn create_body(rng: &mut fastrand::Rng) -> Bytes {
    let doc = doc_body(rng.u64(1 << 40..1 << 50));
    Bytes::from(serde_json::to_vec(&doc).expect("a JSON map encodes"))
}

/// A `POST /v1/batch` body of [`BATCH_SIZE`] creates into `collection`.
pub(crate) fn batch_body(collection: &str, rng: &mut fastrand::Rng) -> Bytes {
    let ops: Vec<Value> = (0..BATCH_SIZE)
        .map(|_| {
            json!({
                "op": "create",
                "collection": collection,
                "body": doc_body(rng.u64(1 << 40..1 << 50)),
            })
        })
        .collect();
    Bytes::from(serde_json::to_vec(&json!({ "ops": ops })).expect("JSON encodes"))
}

/// A `PATCH` body for the update workload. It leaves `status` and `age` alone, so the example
/// query's answer keeps its members.
pub(crate) fn update_body(rng: &mut fastrand::Rng) -> Bytes {
    let score = rng.u32(0..10_000_000) as f64 / 100.0;
    Bytes::from(format!(
        r#"{{"score":{score},"visits":{}}}"#,
        rng.u32(0..1000)
    ))
}

/// Whether a document matches the example query's filter.
fn matches_example(doc: &Map<String, Value>) -> bool {
    doc.get("status").and_then(Value::as_str) == Some("active")
        && doc
            .get("age")
            .and_then(Value::as_u64)
            .is_some_and(|age| age >= 21)
}

/// Collects a [`PageQuery`]'s first page from documents as a full scan sees them: matches sorted
/// by `age` descending, ties by id ascending, the first [`EXAMPLE_LIMIT`] kept.
#[derive(Debug)]
pub(crate) struct ExamplePage {
    query: PageQuery,
    /// `(age, id)` of every match so far.
    matches: Vec<(u64, String)>,
}

impl ExamplePage {
    /// An empty page of `query`.
    pub(crate) fn new(query: PageQuery) -> ExamplePage {
        ExamplePage {
            query,
            matches: Vec::new(),
        }
    }

    /// Considers one document.
    pub(crate) fn offer(&mut self, id: &str, doc: &Map<String, Value>) {
        if self.query.matches(doc) {
            let age = doc.get("age").and_then(Value::as_u64).unwrap_or(0);
            self.matches.push((age, id.to_owned()));
        }
    }

    /// The ids of the first page, in order, and whether more pages follow.
    pub(crate) fn finish(mut self) -> (Vec<String>, bool) {
        self.matches
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let more = self.matches.len() > EXAMPLE_LIMIT;
        self.matches.truncate(EXAMPLE_LIMIT);
        (self.matches.into_iter().map(|(_, id)| id).collect(), more)
    }
}

/// `query`'s first page over seeded documents `0..docs`.
pub(crate) fn expected_page(query: PageQuery, docs: u64) -> Vec<String> {
    let mut page = ExamplePage::new(query);
    for i in 0..docs {
        page.offer(&doc_id(i), &doc_body(i));
    }
    page.finish().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_deterministic_and_about_200_bytes() {
        assert_eq!(seed_body(42), seed_body(42));
        assert_ne!(seed_body(42), seed_body(43));
        let sizes: Vec<usize> = (0..1000).map(|i| seed_body(i).len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((170..=240).contains(&mean), "mean size {mean}");
    }

    #[test]
    fn the_example_page_is_sorted_by_age_then_id() {
        for query in [PageQuery::Example, PageQuery::Or] {
            let ids = expected_page(query, 2000);
            assert_eq!(ids.len(), EXAMPLE_LIMIT);
            let ages: Vec<u64> = ids
                .iter()
                .map(|id| {
                    let i: u64 = id[1..].parse().unwrap();
                    doc_body(i)["age"].as_u64().unwrap()
                })
                .collect();
            assert!(ages.windows(2).all(|w| w[0] >= w[1]), "{ages:?}");
        }
    }

    #[test]
    fn the_or_query_matches_each_branch() {
        let docs: Vec<_> = (0..5000).map(doc_body).collect();
        let hits = docs.iter().filter(|d| PageQuery::Or.matches(d)).count();
        // pending (1/3) or Oslo (1/8) or one of 500 assignees: about 42 %.
        assert!((1800..2400).contains(&hits), "{hits}");
        let mine = docs.iter().filter(|d| d["assignee"] == "user-42").count();
        assert!((3..30).contains(&mine), "{mine}");
        let oslo = docs
            .iter()
            .filter(|d| d["address"]["city"] == "Oslo")
            .count();
        assert!((400..900).contains(&oslo), "{oslo}");
    }

    #[test]
    fn mixed_is_mostly_gets() {
        let mut rng = fastrand::Rng::with_seed(7);
        let gets = (0..10_000)
            .filter(|_| Workload::Mixed.pick(&mut rng) == Op::Get)
            .count();
        assert!((7_500..8_500).contains(&gets), "{gets}");
    }
}

//! Aggregates (CONTRACT section 13): `count`, `sum`, `avg`, `min`, `max` over the documents a
//! filter (and scope) matches.
//!
//! Served from the indexes where they can answer alone: `count` of a whole collection is its
//! size; `count` of one equality on an indexed path is the posting's length; with no filter,
//! `min`/`max` are the ends of the path's index and `sum`/`avg` walk only its number range
//! (each value once, times its posting's length). Anything else visits exactly the matching
//! documents, found by the query planner. Either way the answer is the full scan's.
//!
//! Decisions: `sum` of integers is exact (an integer when it fits 64 bits, else a float); with
//! any float it is a float sum; `sum` of no number is `0`, `avg` of none `null`, `min`/`max` of
//! no present value `null`.

use serde_json::{Map, Number, Value};

use super::filter::{Filter, Op, check_path};
use super::{Query, QueryError, invalid};
use crate::collection::{Docs, StoredDoc};
use crate::index::{Indexes, PathId};
use crate::value::{self, is_capped};

/// Most aliases one request asks for.
pub const MAX_AGGREGATES: usize = 10;

/// One aggregate.
#[derive(Debug, Clone)]
enum Agg {
    Count,
    Sum(Box<str>),
    Avg(Box<str>),
    Min(Box<str>),
    Max(Box<str>),
}

/// A parsed `POST .../aggregate` body.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// A query with this filter, no sort, and a limit set at run time.
    filter: Filter,
    items: Vec<(String, Agg)>,
}

const SHAPE: &str = r#"aggregates must be an object of 1 to 10 aliases, like {"open": {"count": {}}, "total": {"sum": "amount"}}"#;

impl Aggregation {
    /// Parses and validates the body.
    pub fn parse(body: &Value) -> Result<Aggregation, QueryError> {
        let Value::Object(body) = body else {
            return Err(invalid(
                "the aggregate body must be a JSON object with aggregates and an optional filter",
            ));
        };
        if let Some(key) = body.keys().find(|k| *k != "filter" && *k != "aggregates") {
            return Err(invalid(format!(
                "unknown aggregate key '{key}'; allowed keys: filter, aggregates"
            )));
        }
        let filter = match body.get("filter") {
            None | Some(Value::Null) => Filter::default(),
            Some(f) => Filter::parse(f)?,
        };
        let Some(Value::Object(aliases)) = body.get("aggregates") else {
            return Err(invalid(SHAPE));
        };
        if !(1..=MAX_AGGREGATES).contains(&aliases.len()) {
            return Err(invalid(SHAPE));
        }
        let mut items = Vec::new();
        for (alias, spec) in aliases {
            if alias.is_empty()
                || alias.len() > 64
                || !alias
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(format!(
                    "aggregate alias '{alias}' must match ^[A-Za-z0-9_-]{{1,64}}$"
                )));
            }
            let agg = match spec {
                Value::Object(op) if op.len() == 1 => {
                    let Some((name, arg)) = op.iter().next() else {
                        return Err(invalid(SHAPE));
                    };
                    let name = name.as_str();
                    let path = || match arg {
                        Value::String(p) => Ok(Box::<str>::from(check_path(p)?)),
                        _ => Err(invalid(format!(
                            "{name} of '{alias}' takes a field path string"
                        ))),
                    };
                    match name {
                        "count" if arg.as_object().is_some_and(Map::is_empty) => Agg::Count,
                        "count" => return Err(invalid(format!("count of '{alias}' takes {{}}"))),
                        "sum" => Agg::Sum(path()?),
                        "avg" => Agg::Avg(path()?),
                        "min" => Agg::Min(path()?),
                        "max" => Agg::Max(path()?),
                        other => {
                            return Err(invalid(format!(
                                "unknown aggregate '{other}' for '{alias}'; use count, sum, avg, min or max"
                            )));
                        }
                    }
                }
                _ => {
                    return Err(invalid(format!(
                        "aggregate '{alias}' must be one of {{\"count\": {{}}}}, {{\"sum\": PATH}}, \
                         {{\"avg\": PATH}}, {{\"min\": PATH}}, {{\"max\": PATH}}"
                    )));
                }
            };
            items.push((alias.clone(), agg));
        }
        Ok(Aggregation { filter, items })
    }
}

/// Computes every aggregate of `agg` over `docs`, restricted to `scope`.
pub(crate) fn run(
    docs: &Docs,
    indexes: &Indexes,
    agg: &Aggregation,
    scope: Option<&Filter>,
) -> Map<String, Value> {
    run_probed(docs, indexes, agg, scope, None).unwrap_or_default()
}

/// As [`run`], unless the matching documents are found by a scan of more than `above`
/// documents (no index serves the filter): then `None`, and the caller slices the scan
/// (`query/sliced.rs`).
pub(crate) fn run_indexed(
    docs: &Docs,
    indexes: &Indexes,
    agg: &Aggregation,
    scope: Option<&Filter>,
    above: usize,
) -> Option<Map<String, Value>> {
    run_probed(docs, indexes, agg, scope, Some(above))
}

fn run_probed(
    docs: &Docs,
    indexes: &Indexes,
    agg: &Aggregation,
    scope: Option<&Filter>,
    probe: Option<usize>,
) -> Option<Map<String, Value>> {
    let unfiltered = agg.filter.is_empty() && scope.is_none_or(Filter::is_empty);
    // Count of one exact equality on an indexed path: the posting's length.
    let posting_count = || -> Option<usize> {
        if scope.is_some_and(|s| !s.is_empty()) || !agg.filter.any.is_empty() {
            return None;
        }
        let [cond] = agg.filter.conds.as_slice() else {
            return None;
        };
        let Op::Eq(key) = &cond.op else { return None };
        if is_capped(key.as_bytes()) {
            return None;
        }
        let count = indexes
            .path_id(&cond.path)
            .and_then(|pid| indexes.field(pid))
            .and_then(|f| f.entries.get(key.as_bytes()))
            .map_or(0, |p| p.len());
        Some(count)
    };
    let mut over: Option<Acc> = None;
    let mut out = Map::new();
    for (i, (alias, item)) in agg.items.iter().enumerate() {
        let value = match item {
            Agg::Count if unfiltered => Value::from(docs.len()),
            Agg::Count if posting_count().is_some() => Value::from(posting_count().unwrap_or(0)),
            _ if unfiltered => from_index(docs, indexes, item),
            _ => {
                if over.is_none() {
                    let query = agg.query(docs.len());
                    let matched = super::plan::matching(docs, indexes, &query, scope, probe)?;
                    let pids = agg.path_ids(indexes);
                    let mut acc = Acc::new(agg);
                    for doc in matched {
                        acc.add(agg, &pids, doc);
                    }
                    over = Some(acc);
                }
                over.as_ref().map_or(Value::Null, |acc| acc.value(i, item))
            }
        };
        out.insert(alias.clone(), value);
    }
    Some(out)
}

impl Aggregation {
    /// The filter the aggregates are computed over.
    pub(crate) fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The query whose matches are aggregated, over a collection of `n` documents.
    pub(crate) fn query(&self, n: usize) -> Query {
        Query {
            filter: self.filter.clone(),
            limit: n.max(1),
            ..Query::default()
        }
    }

    /// Each aggregate's path, interned in `indexes` (`None`: for `count`, or a path no
    /// document carries).
    pub(crate) fn path_ids(&self, indexes: &Indexes) -> Vec<Option<PathId>> {
        self.items
            .iter()
            .map(|(_, item)| match item {
                Agg::Count => None,
                item => indexes.path_id(path_of(item)),
            })
            .collect()
    }
}

/// One aggregate's running state over the matching documents.
#[derive(Debug)]
enum State {
    Count(u64),
    Sum(Summer),
    /// The best exact key so far.
    Extreme(Option<Vec<u8>>),
}

/// The aggregates of an [`Aggregation`] over matching documents fed one at a time, in any
/// order (a full pass, or a sliced scan over several collections' states: keys and numbers
/// compare the same whatever collection they come from).
#[derive(Debug)]
pub(crate) struct Acc(Vec<State>);

impl Acc {
    pub(crate) fn new(agg: &Aggregation) -> Acc {
        Acc(agg
            .items
            .iter()
            .map(|(_, item)| match item {
                Agg::Count => State::Count(0),
                Agg::Sum(_) | Agg::Avg(_) => State::Sum(Summer::default()),
                Agg::Min(_) | Agg::Max(_) => State::Extreme(None),
            })
            .collect())
    }

    /// Adds one matching document; `pids` are [`Aggregation::path_ids`] in `doc`'s collection.
    pub(crate) fn add(&mut self, agg: &Aggregation, pids: &[Option<PathId>], doc: &StoredDoc) {
        for ((state, (_, item)), pid) in self.0.iter_mut().zip(&agg.items).zip(pids) {
            if let State::Count(n) = state {
                *n += 1;
                continue;
            }
            let Some(key) = pid.and_then(|pid| super::plan::key_at(doc, pid, path_of(item))) else {
                continue;
            };
            match state {
                State::Count(_) => {}
                State::Sum(summer) => {
                    if let Some(Value::Number(n)) = value::decode(&key).filter(Value::is_number) {
                        summer.add(&n, 1);
                    }
                }
                State::Extreme(best) => {
                    let max = matches!(item, Agg::Max(_));
                    let better = best
                        .as_deref()
                        .is_none_or(|b| if max { &*key > b } else { &*key < b });
                    if better {
                        *best = Some(key.into_owned());
                    }
                }
            }
        }
    }

    fn value_of(state: &State, item: &Agg) -> Value {
        match (state, item) {
            (State::Count(n), _) => Value::from(*n),
            (State::Sum(s), Agg::Sum(_)) => s.sum(),
            (State::Sum(s), _) => s.avg(),
            (State::Extreme(best), _) => best
                .as_deref()
                .and_then(value::decode)
                .unwrap_or(Value::Null),
        }
    }

    fn value(&self, i: usize, item: &Agg) -> Value {
        Self::value_of(&self.0[i], item)
    }

    /// Every aggregate by alias.
    pub(crate) fn values(&self, agg: &Aggregation) -> Map<String, Value> {
        self.0
            .iter()
            .zip(&agg.items)
            .map(|(state, (alias, item))| (alias.clone(), Self::value_of(state, item)))
            .collect()
    }
}

/// Sums numbers exactly while they are integers.
#[derive(Debug, Default)]
struct Summer {
    int: i128,
    float: Option<f64>,
    count: u64,
}

impl Summer {
    fn add(&mut self, n: &Number, times: usize) {
        self.count += times as u64;
        let int = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from));
        match (int, &mut self.float) {
            (Some(i), None) => match i
                .checked_mul(times as i128)
                .and_then(|x| self.int.checked_add(x))
            {
                Some(sum) => self.int = sum,
                None => self.float = Some(self.int as f64 + i as f64 * times as f64),
            },
            (Some(i), Some(f)) => *f += i as f64 * times as f64,
            (None, float) => {
                let x = n.as_f64().unwrap_or(0.0) * times as f64;
                *float = Some(float.unwrap_or(self.int as f64) + x);
            }
        }
    }

    fn sum(&self) -> Value {
        match self.float {
            Some(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            None => i64::try_from(self.int)
                .map(Value::from)
                .or_else(|_| u64::try_from(self.int).map(Value::from))
                .unwrap_or_else(|_| {
                    Number::from_f64(self.int as f64).map_or(Value::Null, Value::Number)
                }),
        }
    }

    fn avg(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        let total = self.float.unwrap_or(self.int as f64);
        Number::from_f64(total / self.count as f64).map_or(Value::Null, Value::Number)
    }
}

fn path_of(item: &Agg) -> &str {
    match item {
        Agg::Count => "",
        Agg::Sum(p) | Agg::Avg(p) | Agg::Min(p) | Agg::Max(p) => p,
    }
}

/// An aggregate of the whole collection, from the path's index.
fn from_index(docs: &Docs, indexes: &Indexes, item: &Agg) -> Value {
    let path = path_of(item);
    let Some(field) = indexes.path_id(path).and_then(|pid| indexes.field(pid)) else {
        return match item {
            Agg::Sum(_) => Value::from(0),
            _ => Value::Null,
        };
    };
    match item {
        Agg::Count => Value::from(docs.len()),
        Agg::Sum(_) | Agg::Avg(_) => {
            let mut summer = Summer::default();
            let (lo, hi) = value::class_bounds(value::TAG_NUMBER);
            for (key, posting) in field.entries.range::<[u8], _>((
                std::ops::Bound::Included(lo.as_slice()),
                std::ops::Bound::Excluded(hi.as_slice()),
            )) {
                if let Some(Value::Number(n)) = key.to_value() {
                    summer.add(&n, posting.len());
                }
            }
            if matches!(item, Agg::Sum(_)) {
                summer.sum()
            } else {
                summer.avg()
            }
        }
        Agg::Min(_) | Agg::Max(_) => {
            let end = if matches!(item, Agg::Min(_)) {
                field.entries.iter().next()
            } else {
                field.entries.iter().next_back()
            };
            let Some((key, posting)) = end else {
                return Value::Null;
            };
            if !is_capped(key.as_bytes()) {
                return key.to_value().unwrap_or(Value::Null);
            }
            // A capped end key stands for several values: compare them in full.
            let group: Vec<&StoredDoc> = docs.posting(posting, None).map(|(_, d)| d).collect();
            extreme(&group, path, matches!(item, Agg::Max(_)))
        }
    }
}

fn extreme(docs: &[&StoredDoc], path: &str, max: bool) -> Value {
    let keys = docs.iter().filter_map(|d| d.full_key(path));
    let best = if max { keys.max() } else { keys.min() };
    best.and_then(|k| value::decode(&k)).unwrap_or(Value::Null)
}

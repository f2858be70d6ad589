//! Model-based test of the query engine: random collections of mixed-type documents (built
//! through inserts, replaces and removes) and random valid queries, each walked to its end with
//! `start_after` and with `cursor` (deleting each page's anchor document and changing others
//! between pages), compared page by page with a plain full-scan evaluator written here from
//! CONTRACT section 7, independently of the engine's value keys.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mammoth_actors::collection::{Collection, StoredDoc};
use mammoth_actors::query::Aggregation;
use mammoth_actors::query::sliced::{AggBegun, Begun, SlicedAggregate, SlicedQuery};
use mammoth_actors::query::{Filter, Page, Query, QueryError};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// The reference evaluator.

fn get_path<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut cur: Option<&Value> = None;
    for (i, seg) in path.split('.').enumerate() {
        let obj = if i == 0 { doc } else { cur?.as_object()? };
        cur = Some(obj.get(seg)?);
    }
    cur
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 1,
        Value::Bool(false) => 2,
        Value::Bool(true) => 3,
        Value::Number(_) => 4,
        Value::String(_) => 5,
        Value::Array(_) => 6,
        Value::Object(_) => 7,
    }
}

/// The type for `$gt`-like operators: booleans are one type.
fn kind(v: &Value) -> u8 {
    match rank(v) {
        3 => 2,
        r => r,
    }
}

enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &serde_json::Number) -> Num {
    if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else {
        Num::Float(n.as_f64().unwrap())
    }
}

/// Exact comparison of an integer and a float.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f >= 1e30 {
        return Ordering::Less;
    }
    if f <= -1e30 {
        return Ordering::Greater;
    }
    let fl = f.floor();
    match i.cmp(&(fl as i128)) {
        Ordering::Equal if f > fl => Ordering::Less,
        o => o,
    }
}

fn cmp_num(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (num(a), num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap(),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_val(a: &Value, b: &Value) -> Ordering {
    let r = rank(a).cmp(&rank(b));
    if r != Ordering::Equal {
        return r;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_num(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = cmp_val(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
            ys.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
            for ((ka, va), (kb, vb)) in xs.iter().zip(&ys) {
                let o = ka
                    .as_bytes()
                    .cmp(kb.as_bytes())
                    .then_with(|| cmp_val(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => Ordering::Equal,
    }
}

fn deep_eq(a: &Value, b: &Value) -> bool {
    cmp_val(a, b) == Ordering::Equal
}

fn op_matches(op: &str, arg: &Value, v: Option<&Value>) -> bool {
    let Some(v) = v else { return false };
    let same = kind(v) == kind(arg);
    match op {
        "$eq" => deep_eq(v, arg),
        "$ne" => !deep_eq(v, arg),
        "$in" => arg.as_array().unwrap().iter().any(|a| deep_eq(v, a)),
        "$gt" => same && cmp_val(v, arg) == Ordering::Greater,
        "$gte" => same && cmp_val(v, arg) != Ordering::Less,
        "$lt" => same && cmp_val(v, arg) == Ordering::Less,
        "$lte" => same && cmp_val(v, arg) != Ordering::Greater,
        "$contains" => v
            .as_array()
            .is_some_and(|items| items.iter().any(|e| deep_eq(e, arg))),
        "$containsAny" => v.as_array().is_some_and(|items| {
            items
                .iter()
                .any(|e| arg.as_array().unwrap().iter().any(|a| deep_eq(e, a)))
        }),
        "$prefix" => match (v, arg) {
            (Value::String(s), Value::String(p)) => s.starts_with(p.as_str()),
            _ => false,
        },
        other => panic!("generated unknown op {other}"),
    }
}

fn filter_matches(filter: &Value, doc: &Map<String, Value>) -> bool {
    filter.as_object().unwrap().iter().all(|(path, cond)| {
        if path == "$or" {
            return cond
                .as_array()
                .unwrap()
                .iter()
                .any(|branch| filter_matches(branch, doc));
        }
        let v = get_path(doc, path);
        match cond {
            Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => {
                ops.iter().all(|(op, arg)| op_matches(op, arg, v))
            }
            plain => v.is_some_and(|v| deep_eq(v, plain)),
        }
    })
}

type Sort = Vec<(String, bool)>;
type Pos = (Vec<Option<Value>>, String);

fn pos_of(sort: &Sort, id: &str, doc: &Map<String, Value>) -> Pos {
    (
        sort.iter()
            .map(|(p, _)| get_path(doc, p).cloned())
            .collect(),
        id.to_owned(),
    )
}

fn cmp_pos(sort: &Sort, a: &Pos, b: &Pos) -> Ordering {
    for (i, (_, desc)) in sort.iter().enumerate() {
        let o = match (&a.0[i], &b.0[i]) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => cmp_val(x, y),
        };
        if o != Ordering::Equal {
            return if *desc { o.reverse() } else { o };
        }
    }
    a.1.as_bytes().cmp(b.1.as_bytes())
}

type Model = BTreeMap<String, Map<String, Value>>;

/// Ids of the expected page and whether more follow.
fn expected_page(
    model: &Model,
    filter: &Value,
    scope: Option<&Value>,
    sort: &Sort,
    after: Option<&Pos>,
    limit: usize,
) -> (Vec<String>, bool) {
    let mut hits: Vec<Pos> = model
        .iter()
        .filter(|(_, d)| filter_matches(filter, d) && scope.is_none_or(|s| filter_matches(s, d)))
        .map(|(id, d)| pos_of(sort, id, d))
        .filter(|p| after.is_none_or(|a| cmp_pos(sort, p, a) == Ordering::Greater))
        .collect();
    hits.sort_by(|a, b| cmp_pos(sort, a, b));
    let more = hits.len() > limit;
    (hits.into_iter().take(limit).map(|p| p.1).collect(), more)
}

// ---------------------------------------------------------------------------------------------
// Generators.

const PATHS: &[&str] = &["a", "b", "s", "n", "n.x", "n.y", "id", "zz"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        (-3i64..=3).prop_map(Value::from),
        prop::sample::select(vec![0.5, -0.0, 1.0, 2.0, -1.5, 1e20, 2.5]).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            json!(9007199254740992u64),
            json!(9007199254740993u64),
            json!(9007199254740992.0),
            json!(u64::MAX),
            json!(18446744073709551615.0),
            json!(i64::MIN),
        ]),
        prop::sample::select(vec![
            "", "a", "ab", "abc", "b", "a\u{0}", "a\u{0}b", "é", "B"
        ])
        .prop_map(Value::from),
        // Long strings sharing a long prefix: arrays and objects holding them have index keys
        // past the cap (issue 13), equal in their capped prefix, so exactness depends on the
        // engine re-reading them.
        prop::sample::select(vec!["", "x", "y", "xx"])
            .prop_map(|tail| Value::from(format!("{}{tail}", "p".repeat(50)))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["x", "y"]).prop_map(String::from),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn doc_body() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::option::weighted(0.8, value()),
        prop::option::weighted(0.6, scalar()),
        prop::option::weighted(
            0.9,
            prop::sample::select(vec![json!("x"), json!("y"), json!(1)]),
        ),
        prop::option::weighted(
            0.6,
            prop_oneof![
                3 => (prop::option::of(scalar()), prop::option::of(value())).prop_map(|(x, y)| {
                    let mut m = Map::new();
                    if let Some(x) = x {
                        m.insert("x".into(), x);
                    }
                    if let Some(y) = y {
                        m.insert("y".into(), y);
                    }
                    Value::Object(m)
                }),
                1 => scalar(),
            ],
        ),
    )
        .prop_map(|(a, b, s, n)| {
            let mut m = Map::new();
            for (k, v) in [("a", a), ("b", b), ("s", s), ("n", n)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            m
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    Put(usize, Map<String, Value>),
    Delete(usize),
}

fn mutations(max_docs: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let id = 0..max_docs;
    prop::collection::vec(
        prop_oneof![
            6 => (id.clone(), doc_body()).prop_map(|(i, d)| Mutation::Put(i, d)),
            1 => id.prop_map(Mutation::Delete),
        ],
        0..max_docs + max_docs / 2,
    )
}

fn doc_id(i: usize) -> String {
    format!("d{i:03}")
}

/// A condition on one path: (operator or "" for a plain value, argument).
fn condition(inequality_ok: bool) -> impl Strategy<Value = (String, Value)> {
    let eqs = prop_oneof![
        value().prop_map(|v| (String::new(), v)),
        value().prop_map(|v| ("$eq".to_owned(), v)),
        prop::collection::vec(value(), 1..4).prop_map(|v| ("$in".to_owned(), Value::Array(v))),
    ];
    if !inequality_ok {
        return eqs.boxed();
    }
    prop_oneof![
        1 => eqs,
        3 => (prop::sample::select(vec!["$ne", "$gt", "$gte", "$lt", "$lte"]), value())
            .prop_map(|(op, v)| (op.to_owned(), v)),
        1 => prop::sample::select(vec!["", "a", "ab", "a\u{0}", "é"])
            .prop_map(|p| ("$prefix".to_owned(), json!(p))),
    ]
    .boxed()
}

/// A valid filter: inequality operators on one path only.
fn filter() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(PATHS),
        prop::collection::vec(condition(true), 0..3),
        prop::collection::vec((prop::sample::select(PATHS), condition(false)), 0..3),
    )
        .prop_map(|(ineq_path, ineqs, eqs)| {
            let mut f = Map::new();
            let mut add = |path: &str, (op, arg): (String, Value)| {
                if op.is_empty() && !f.contains_key(path) {
                    f.insert(path.to_owned(), arg);
                    return;
                }
                let op = if op.is_empty() { "$eq".to_owned() } else { op };
                let entry = f.entry(path.to_owned()).or_insert_with(|| json!({}));
                if !entry
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k.starts_with('$')))
                {
                    *entry = json!({"$eq": entry.clone()});
                }
                entry.as_object_mut().unwrap().insert(op, arg);
            };
            for c in ineqs {
                add(ineq_path, c);
            }
            for (p, c) in eqs {
                add(p, c);
            }
            Value::Object(f)
        })
}

/// A valid filter, with an `$or` of 1-4 branches (each a valid filter) a third of the time.
fn filter_or() -> impl Strategy<Value = Value> {
    let membership = prop_oneof![
        value().prop_map(|v| ("$contains", v)),
        scalar().prop_map(|v| ("$contains", v)),
        prop::collection::vec(value(), 1..4).prop_map(|v| ("$containsAny", Value::Array(v))),
    ];
    (
        filter(),
        prop::option::weighted(0.35, prop::collection::vec(filter(), 1..5)),
        prop::option::weighted(0.3, (prop::sample::select(PATHS), membership)),
    )
        .prop_map(|(mut f, or, member)| {
            if let Some((path, (op, arg))) = member {
                let m = f.as_object_mut().unwrap();
                let entry = m.entry(path.to_owned()).or_insert_with(|| json!({}));
                if !entry
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k.starts_with('$')))
                {
                    *entry = json!({"$eq": entry.clone()});
                }
                entry.as_object_mut().unwrap().insert(op.to_owned(), arg);
            }
            if let Some(branches) = or {
                f.as_object_mut()
                    .unwrap()
                    .insert("$or".into(), Value::Array(branches));
            }
            f
        })
}

fn sort() -> impl Strategy<Value = Sort> {
    prop::collection::vec(
        (
            prop::sample::select(PATHS).prop_map(String::from),
            any::<bool>(),
        ),
        0..3,
    )
}

#[derive(Debug, Clone)]
struct QueryCase {
    filter: Value,
    scope: Option<Value>,
    sort: Sort,
    limit: usize,
    anchor: usize,
    churn: Vec<Mutation>,
}

fn query_case(max_docs: usize) -> impl Strategy<Value = QueryCase> {
    (
        filter_or(),
        prop::option::weighted(0.25, filter_or()),
        sort(),
        prop_oneof![4 => 1usize..8, 1 => 8usize..60],
        0..max_docs,
        prop::collection::vec(
            prop_oneof![
                (0..max_docs, doc_body()).prop_map(|(i, d)| Mutation::Put(i, d)),
                (0..max_docs).prop_map(Mutation::Delete),
            ],
            0..3,
        ),
    )
        .prop_map(|(filter, scope, sort, limit, anchor, churn)| QueryCase {
            filter,
            scope,
            sort,
            limit,
            anchor,
            churn,
        })
}

// ---------------------------------------------------------------------------------------------
// Driving the engine.

fn apply(coll: &mut Collection, model: &mut Model, m: &Mutation) {
    match m {
        Mutation::Put(i, body) => {
            let id = doc_id(*i);
            let mut doc = body.clone();
            doc.insert("id".into(), json!(id));
            coll.insert(id.clone(), StoredDoc::new(doc.clone()));
            model.insert(id, doc);
        }
        Mutation::Delete(i) => {
            let id = doc_id(*i);
            assert_eq!(coll.remove(&id).is_some(), model.remove(&id).is_some());
        }
    }
}

fn body(case: &QueryCase, start: Option<(&str, Value)>) -> Value {
    let sort: Vec<Value> = case
        .sort
        .iter()
        .map(|(p, desc)| json!({"field": p, "order": if *desc { "desc" } else { "asc" }}))
        .collect();
    let mut b = json!({"filter": case.filter, "sort": sort, "limit": case.limit});
    if let Some((k, v)) = start {
        b[k] = v;
    }
    b
}

fn ids(page: &Page) -> Vec<String> {
    page.docs
        .iter()
        .map(|bytes| {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn run(coll: &Collection, scope: Option<&Filter>, body: &Value) -> Page {
    let q = Query::parse(body).unwrap_or_else(|e| panic!("{body}: {e}"));
    coll.query(&q, scope)
        .unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn check_page(
    page: &Page,
    expected: &(Vec<String>, bool),
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&ids(page), &expected.0, "{}", what);
    prop_assert_eq!(
        page.next_start_after.is_some(),
        expected.1,
        "{}: more?",
        what
    );
    prop_assert_eq!(page.next_cursor.is_some(), expected.1, "{}: more?", what);
    if expected.1 {
        prop_assert_eq!(
            page.next_start_after.as_ref(),
            expected.0.last(),
            "{}",
            what
        );
    }
    Ok(())
}

fn check_query(coll: &Collection, model: &Model, case: &QueryCase) -> Result<(), TestCaseError> {
    let scope = case.scope.as_ref().map(|s| Filter::parse(s).unwrap());
    let expect = |model: &Model, after: Option<&Pos>| {
        expected_page(
            model,
            &case.filter,
            case.scope.as_ref(),
            &case.sort,
            after,
            case.limit,
        )
    };
    // Filter::matches on Maps agrees with the reference.
    let filter = Filter::parse(&case.filter).unwrap();
    for doc in model.values() {
        prop_assert_eq!(
            filter.matches(doc),
            filter_matches(&case.filter, doc),
            "{:?}",
            doc
        );
    }

    // 1. Walk to the end with start_after.
    let mut after: Option<Pos> = None;
    let mut page = run(coll, scope.as_ref(), &body(case, None));
    for n in 0.. {
        let expected = expect(model, after.as_ref());
        check_page(
            &page,
            &expected,
            &format!("start_after page {n} of {}", body(case, None)),
        )?;
        let Some(next) = page.next_start_after.clone() else {
            break;
        };
        after = Some(pos_of(&case.sort, &next, &model[&next]));
        page = run(
            coll,
            scope.as_ref(),
            &body(case, Some(("start_after", json!(next)))),
        );
    }

    // 2. start_after an arbitrary document (in scope), matching the filter or not.
    let anchor = doc_id(case.anchor);
    let anchor_body = body(case, Some(("start_after", json!(anchor))));
    let q = Query::parse(&anchor_body).unwrap();
    let in_scope = model
        .get(&anchor)
        .is_some_and(|d| case.scope.as_ref().is_none_or(|s| filter_matches(s, d)));
    match coll.query(&q, scope.as_ref()) {
        Ok(page) => {
            prop_assert!(
                in_scope,
                "start_after an unknown or out-of-scope id must fail"
            );
            let pos = pos_of(&case.sort, &anchor, &model[&anchor]);
            check_page(
                &page,
                &expect(model, Some(&pos)),
                "start_after arbitrary anchor",
            )?;
        }
        Err(e) => {
            prop_assert!(!in_scope, "{e}");
            prop_assert!(matches!(
                e,
                mammoth_actors::query::QueryError::InvalidCursor(_)
            ));
        }
    }

    // 3. Walk with cursors, deleting each anchor and churning other documents between pages.
    let mut coll = coll.clone();
    let mut model = model.clone();
    let mut page = run(&coll, scope.as_ref(), &body(case, None));
    let mut after: Option<Pos> = None;
    for n in 0.. {
        let expected = expect(&model, after.as_ref());
        check_page(
            &page,
            &expected,
            &format!("cursor page {n} of {}", body(case, None)),
        )?;
        let (Some(cursor), Some(last)) = (page.next_cursor.clone(), page.next_start_after.clone())
        else {
            break;
        };
        after = Some(pos_of(&case.sort, &last, &model[&last]));
        coll.remove(&last);
        model.remove(&last);
        for m in &case.churn {
            apply(&mut coll, &mut model, m);
        }
        page = run(
            &coll,
            scope.as_ref(),
            &body(case, Some(("cursor", json!(cursor)))),
        );
        prop_assert!(n < 2000, "paging does not terminate");
    }
    Ok(())
}

fn check_collection(muts: &[Mutation], queries: &[QueryCase]) -> Result<(), TestCaseError> {
    let mut coll = Collection::new();
    let mut model = Model::new();
    for m in muts {
        apply(&mut coll, &mut model, m);
    }
    prop_assert_eq!(coll.len(), model.len());
    prop_assert_eq!(coll.check_consistency(), Ok(()));
    for (id, doc) in &model {
        prop_assert_eq!(&coll.get(id).unwrap().value(), doc);
    }
    for q in queries {
        check_query(&coll, &model, q)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Small collections, many queries: every operator and type pairing, mostly through the
    /// planner's candidate-collection paths.
    #[test]
    fn small_collections_match_the_full_scan(
        muts in mutations(60),
        queries in prop::collection::vec(query_case(60), 1..16),
    ) {
        check_collection(&muts, &queries)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Larger collections, where postings and ranges outgrow the "cheap" threshold, so the
    /// ordered index walks and scans are chosen too.
    #[test]
    fn larger_collections_match_the_full_scan(
        muts in mutations(400),
        queries in prop::collection::vec(query_case(400), 1..6),
    ) {
        check_collection(&muts, &queries)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: arbitrary bodies and cursors are refused or answered, never a panic.

fn any_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "filter",
        "sort",
        "limit",
        "start_after",
        "cursor",
        "field",
        "order",
        "a",
        "n.x",
        "$gt",
        "$in",
        "$prefix",
        "$ne",
        "$eq",
        "$or",
        "",
        "a..b",
        "desc",
    ])
    .prop_map(String::from);
    let leaf = prop_oneof![
        scalar(),
        prop::sample::select(vec![
            json!("asc"),
            json!("desc"),
            json!(20),
            json!(0),
            json!("d001")
        ]),
        "[A-Za-z0-9_-]{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_never_panic(muts in mutations(30), body in any_json(), scope in any_json()) {
        let mut coll = Collection::new();
        let mut model = Model::new();
        for m in &muts {
            apply(&mut coll, &mut model, m);
        }
        let scope = Filter::parse(&scope).ok();
        if let Ok(q) = Query::parse(&body) {
            let _ = coll.query(&q, scope.as_ref());
        }
        if let Ok(q) = Query::parse(&json!({"filter": body})) {
            let _ = coll.query(&q, scope.as_ref());
        }
    }

    /// Cursors of real shape: a `next_cursor` from a real page, mutated at the JSON level (sort
    /// values, id, version, sort hash) or the byte level (flips, truncation), then used under
    /// the same or another sort. Most cases decode and run a query; each answers a valid page
    /// or `invalid_cursor`, never a panic or another error.
    #[test]
    fn arbitrary_cursors_never_panic(
        muts in mutations(30).prop_filter("two documents", |m| m.len() > 1),
        first in sort(),
        second in sort(),
        limit in 1usize..4,
        mutation in cursor_mutation(),
        same_sort in prop::bool::weighted(0.9),
    ) {
        let mut coll = Collection::new();
        let mut model = Model::new();
        for m in &muts {
            apply(&mut coll, &mut model, m);
        }
        let page = run(&coll, None, &sort_body(&first, 1, None));
        // A real cursor, or one of the documented shape when the first page was the last.
        let real = page.next_cursor.clone().unwrap_or_else(|| {
            let cursor = page.docs.first().map(|_| {
                URL_SAFE_NO_PAD.encode(json!([1, "AAAAAAAA", [], "d000"]).to_string())
            });
            cursor.unwrap_or_default()
        });
        let cursor = mutation.apply(&real);
        let sort = if same_sort { &first } else { &second };
        let body = sort_body(sort, limit, Some(Value::from(cursor.clone())));
        let outcome = Query::parse(&body).and_then(|q| coll.query(&q, None));
        match outcome {
            Ok(page) => {
                prop_assert!(page.docs.len() <= limit);
                for doc in &page.docs {
                    prop_assert!(serde_json::from_slice::<Value>(doc).is_ok());
                }
            }
            Err(QueryError::InvalidCursor(_)) => {
                // The cursor a page hands out is always accepted by the same query.
                prop_assert!(
                    !(matches!(mutation, CursorMutation::Keep) && same_sort && page.next_cursor.is_some()),
                    "the unmodified next_cursor {cursor} was refused"
                );
            }
            Err(other) => prop_assert!(false, "{body}: not invalid_cursor: {other}"),
        }
    }
}

/// A query body sorted by `sort`, starting at `cursor`.
fn sort_body(sort: &Sort, limit: usize, cursor: Option<Value>) -> Value {
    let sort: Vec<Value> = sort
        .iter()
        .map(|(p, desc)| json!({"field": p, "order": if *desc { "desc" } else { "asc" }}))
        .collect();
    let mut b = json!({"sort": sort, "limit": limit});
    if let Some(c) = cursor {
        b["cursor"] = c;
    }
    b
}

/// How a real `next_cursor` is bent before it is sent back.
#[derive(Debug, Clone)]
enum CursorMutation {
    Keep,
    /// Replace the sort value at this index (modulo the sort's length) with any JSON.
    Value(usize, Value),
    /// Drop or add a sort value entry.
    Arity(bool),
    /// Replace the id with any JSON.
    Id(Value),
    /// Replace the version with any JSON.
    Version(Value),
    /// Change one character of the sort hash.
    Hash(usize, char),
    /// Flip bits of one byte of the decoded JSON, then re-encode.
    FlipDecoded(usize, u8),
    /// Flip bits of one byte of the base64 text.
    FlipText(usize, u8),
    /// Keep only a prefix of the base64 text.
    Truncate(usize),
}

fn cursor_mutation() -> impl Strategy<Value = CursorMutation> {
    prop_oneof![
        2 => Just(CursorMutation::Keep),
        6 => (0usize..3, any_json()).prop_map(|(i, v)| CursorMutation::Value(i, v)),
        1 => any::<bool>().prop_map(CursorMutation::Arity),
        2 => prop_oneof![3 => "[a-z0-9]{0,6}".prop_map(Value::from), 1 => any_json()]
            .prop_map(CursorMutation::Id),
        1 => any_json().prop_map(CursorMutation::Version),
        1 => (0usize..8, any::<char>()).prop_map(|(i, c)| CursorMutation::Hash(i, c)),
        1 => (any::<usize>(), 1u8..=255).prop_map(|(i, b)| CursorMutation::FlipDecoded(i, b)),
        1 => (any::<usize>(), 1u8..=255).prop_map(|(i, b)| CursorMutation::FlipText(i, b)),
        1 => any::<usize>().prop_map(CursorMutation::Truncate),
    ]
}

impl CursorMutation {
    fn apply(&self, cursor: &str) -> String {
        let decoded = URL_SAFE_NO_PAD.decode(cursor).unwrap_or_default();
        let mut parts: Value = serde_json::from_slice(&decoded).unwrap_or(json!([1, "", [], "x"]));
        let text = |parts: &Value| URL_SAFE_NO_PAD.encode(parts.to_string());
        match self {
            CursorMutation::Keep => cursor.to_owned(),
            CursorMutation::Value(i, v) => {
                if let Some(values) = parts[2].as_array_mut() {
                    let len = values.len();
                    if let Some(slot) = values.get_mut(i % len.max(1)) {
                        *slot = json!([v]);
                    }
                }
                text(&parts)
            }
            CursorMutation::Arity(drop) => {
                if let Some(values) = parts[2].as_array_mut() {
                    if *drop {
                        values.pop();
                    } else {
                        values.push(json!([]));
                    }
                }
                text(&parts)
            }
            CursorMutation::Id(v) => {
                parts[3] = v.clone();
                text(&parts)
            }
            CursorMutation::Version(v) => {
                parts[0] = v.clone();
                text(&parts)
            }
            CursorMutation::Hash(i, c) => {
                let mut hash: Vec<char> = parts[1].as_str().unwrap_or("").chars().collect();
                if !hash.is_empty() {
                    let at = i % hash.len();
                    hash[at] = *c;
                }
                parts[1] = Value::from(hash.into_iter().collect::<String>());
                text(&parts)
            }
            CursorMutation::FlipDecoded(i, bits) => {
                let mut bytes = decoded;
                if !bytes.is_empty() {
                    let at = i % bytes.len();
                    bytes[at] ^= bits;
                }
                URL_SAFE_NO_PAD.encode(bytes)
            }
            CursorMutation::FlipText(i, bits) => {
                let mut bytes = cursor.as_bytes().to_vec();
                if !bytes.is_empty() {
                    let at = i % bytes.len();
                    bytes[at] ^= bits;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            CursorMutation::Truncate(n) => {
                let cut = if cursor.is_empty() {
                    0
                } else {
                    n % cursor.len()
                };
                cursor[..cut].to_owned()
            }
        }
    }
}

#[test]
fn query_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Collection>();
    send_sync::<Query>();
    send_sync::<Filter>();
    send_sync::<Page>();
}

/// Every path of `v` (objects descended), with its value.
fn all_paths(v: &Map<String, Value>, base: &str, out: &mut Vec<(String, Value)>) {
    for (k, x) in v {
        let p = if base.is_empty() {
            k.clone()
        } else {
            format!("{base}.{k}")
        };
        out.push((p.clone(), x.clone()));
        if let Value::Object(m) = x {
            all_paths(m, &p, out);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// `select` (CONTRACT section 13): each selected path holds the document's value, and the
    /// projection holds nothing else but `id` and the objects leading to selected paths.
    #[test]
    fn select_keeps_exactly_the_selected_paths(
        bodies in prop::collection::vec(doc_body(), 1..12),
        select in prop::collection::vec(prop::sample::select(PATHS), 1..4),
        filter in filter_or(),
    ) {
        let mut coll = Collection::new();
        let mut model = Model::new();
        for (i, body) in bodies.into_iter().enumerate() {
            apply(&mut coll, &mut model, &Mutation::Put(i, body));
        }
        let body = json!({"filter": filter, "select": select, "limit": 1000});
        let page = run(&coll, None, &body);
        let full = run(&coll, None, &json!({"filter": filter, "limit": 1000}));
        prop_assert_eq!(ids(&page), ids(&full));
        for bytes in &page.docs {
            let p: Map<String, Value> = serde_json::from_slice(bytes).unwrap();
            let doc = &model[p["id"].as_str().unwrap()];
            for s in &select {
                prop_assert_eq!(get_path(&p, s), get_path(doc, s), "{}", s);
            }
            let mut paths = Vec::new();
            all_paths(&p, "", &mut paths);
            for (q, _) in paths {
                let allowed = q == "id"
                    || select.iter().any(|s| {
                        q == *s || q.starts_with(&format!("{s}.")) || s.starts_with(&format!("{q}."))
                    });
                prop_assert!(allowed, "{} in {:?}", q, p);
            }
        }
    }
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Aggregates (CONTRACT section 13) against the reference evaluator: count, sum, avg (numbers
    /// only), min and max (total order among present values), with and without filter and scope,
    /// after inserts, replaces and deletes.
    #[test]
    fn aggregates_match_the_full_scan(
        muts in mutations(24),
        filter in prop::option::weighted(0.7, filter_or()),
        scope in prop::option::weighted(0.2, filter_or()),
        path in prop::sample::select(PATHS),
    ) {
        let mut coll = Collection::new();
        let mut model = Model::new();
        for m in &muts {
            apply(&mut coll, &mut model, m);
        }
        let scope_f = scope.as_ref().map(|s| Filter::parse(s).unwrap());
        let mut body = json!({"aggregates": {
            "n": {"count": {}}, "s": {"sum": path}, "a": {"avg": path},
            "lo": {"min": path}, "hi": {"max": path}
        }});
        if let Some(f) = &filter {
            body["filter"] = f.clone();
        }
        let agg = mammoth_actors::query::Aggregation::parse(&body).unwrap();
        let got = coll.aggregate(&agg, scope_f.as_ref());
        let matching: Vec<&Map<String, Value>> = model
            .values()
            .filter(|d| filter.as_ref().is_none_or(|f| filter_matches(f, d)))
            .filter(|d| scope.as_ref().is_none_or(|s| filter_matches(s, d)))
            .collect();
        prop_assert_eq!(&got["n"], &json!(matching.len()));
        let values: Vec<&Value> = matching.iter().filter_map(|d| get_path(d, path)).collect();
        let nums: Vec<&serde_json::Number> = values.iter().filter_map(|v| v.as_number()).collect();
        let ints: Option<i128> = nums
            .iter()
            .map(|n| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)))
            .sum();
        let float_sum: f64 = nums.iter().map(|n| n.as_f64().unwrap()).sum();
        match ints {
            Some(i) if i64::try_from(i).is_ok() || u64::try_from(i).is_ok() => {
                prop_assert_eq!(got["s"].to_string(), i.to_string());
            }
            _ => prop_assert!(close(&got["s"], &json!(float_sum)), "sum {} vs {}", got["s"], float_sum),
        }
        if nums.is_empty() {
            prop_assert_eq!(&got["a"], &Value::Null);
        } else {
            let total = ints.map_or(float_sum, |i| i as f64);
            prop_assert!(close(&got["a"], &json!(total / nums.len() as f64)), "avg {}", got["a"]);
        }
        let lo = values.iter().copied().min_by(|a, b| cmp_val(a, b));
        let hi = values.iter().copied().max_by(|a, b| cmp_val(a, b));
        for (key, want) in [("lo", lo), ("hi", hi)] {
            match want {
                None => prop_assert_eq!(&got[key], &Value::Null),
                Some(w) => prop_assert!(deep_eq(&got[key], w), "{} {} vs {}", key, got[key], w),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sliced scans (issue 13): writes between the slices never change the answer.

/// Runs `case` as a sliced scan of `slice` documents per step over the collection `muts`
/// build, applying `churn` between steps (and, at step `drop_at`, dropping the collection as a
/// reset does), and checks the page against the collection as it was at the start.
fn check_sliced(
    muts: &[Mutation],
    case: &QueryCase,
    churn: &[Mutation],
    slice: usize,
    drop_at: Option<usize>,
    start_after: bool,
) -> Result<bool, TestCaseError> {
    let mut coll = Collection::new();
    let mut model = Model::new();
    for m in muts {
        apply(&mut coll, &mut model, m);
    }
    let before = coll.clone();
    let scope = case.scope.as_ref().map(|s| Filter::parse(s).unwrap());
    let mut b = body(case, None);
    if start_after && model.contains_key(&doc_id(case.anchor)) {
        b["start_after"] = json!(doc_id(case.anchor));
    }
    let q = Query::parse(&b).unwrap();
    let expected = before.query(&q, scope.as_ref());
    let (got, sliced) = match SlicedQuery::begin(&mut coll, Box::new(q), scope.clone(), 0) {
        Err(e) => (Err(e), false),
        Ok(Begun::Answered(page)) => (Ok(page), false),
        Ok(Begun::Sliced(mut scan)) => {
            let mut live = Some(coll);
            let mut churn = churn.iter();
            let mut steps = 0;
            while !scan.step(live.as_ref(), slice) {
                steps += 1;
                prop_assert!(steps < 10_000, "the scan does not end");
                if Some(steps) == drop_at {
                    live = None;
                } else if let (Some(c), Some(m)) = (live.as_mut(), churn.next()) {
                    apply(c, &mut model, m);
                }
            }
            (scan.finish(), true)
        }
    };
    match (got, expected) {
        (Ok(got), Ok(expected)) => {
            prop_assert_eq!(&got.docs, &expected.docs, "{}", b);
            prop_assert_eq!(&got.next_start_after, &expected.next_start_after);
            prop_assert_eq!(&got.next_cursor, &expected.next_cursor);
        }
        (got, expected) => prop_assert_eq!(got.err(), expected.err(), "{}", b),
    }
    Ok(sliced)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A sliced scan with inserts, replaces and deletes between its slices (and sometimes its
    /// collection dropped) answers what the collection held when it began.
    #[test]
    fn sliced_scans_answer_as_of_their_start(
        muts in mutations(200),
        queries in prop::collection::vec(query_case(200), 1..6),
        churn in mutations(200),
        slice in 1usize..40,
        drop_at in prop::option::weighted(0.2, 1usize..20),
        start_after in any::<bool>(),
    ) {
        for q in &queries {
            check_sliced(&muts, q, &churn, slice, drop_at, start_after)?;
        }
    }
}

/// The engine does slice the queries no index serves (so the property above is not vacuous).
#[test]
fn unindexable_queries_are_sliced() {
    let muts: Vec<Mutation> = (0..300)
        .map(|i| {
            let mut m = Map::new();
            m.insert("n".into(), json!(i % 17));
            if i % 3 == 0 {
                m.insert("s".into(), json!(format!("x{i}")));
            }
            Mutation::Put(i, m)
        })
        .collect();
    let churn: Vec<Mutation> = (0..300)
        .map(|i| match i % 3 {
            0 => Mutation::Delete((i * 7) % 300),
            _ => Mutation::Put((i * 11) % 350, {
                let mut m = Map::new();
                m.insert("n".into(), json!(i % 5));
                m
            }),
        })
        .collect();
    for (filter, sort) in [
        (
            json!({"n": {"$ne": 3}}),
            vec![("s".to_owned(), false), ("n".to_owned(), true)],
        ),
        (json!({"n": {"$ne": 1}}), vec![]),
        (
            json!({}),
            vec![("s".to_owned(), false), ("n".to_owned(), true)],
        ),
    ] {
        let case = QueryCase {
            filter,
            scope: None,
            sort,
            limit: 7,
            anchor: 42,
            churn: Vec::new(),
        };
        for start_after in [false, true] {
            let sliced = check_sliced(&muts, &case, &churn, 5, None, start_after).unwrap();
            assert!(sliced, "{:?} was answered by an index", case.filter);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sliced aggregates (issue 13): as sliced queries, exact as of their start.

/// Runs aggregates over `path` (filtered, scoped) as a sliced scan of `slice` documents per
/// step, applying `churn` between steps (and at step `drop_at` dropping the collection), and
/// checks them against the collection as it was at the start; answers whether it was sliced.
fn check_sliced_aggregate(
    muts: &[Mutation],
    filter: Option<&Value>,
    scope: Option<&Value>,
    path: &str,
    churn: &[Mutation],
    slice: usize,
    drop_at: Option<usize>,
) -> Result<bool, TestCaseError> {
    let mut coll = Collection::new();
    let mut model = Model::new();
    for m in muts {
        apply(&mut coll, &mut model, m);
    }
    let before = coll.clone();
    let scope = scope.map(|s| Filter::parse(s).unwrap());
    let mut body = json!({"aggregates": {
        "n": {"count": {}}, "s": {"sum": path}, "a": {"avg": path},
        "lo": {"min": path}, "hi": {"max": path}
    }});
    if let Some(f) = filter {
        body["filter"] = f.clone();
    }
    let agg = Aggregation::parse(&body).unwrap();
    let expected = before.aggregate(&agg, scope.as_ref());
    let (got, sliced) = match SlicedAggregate::begin(&mut coll, Box::new(agg), scope, 0) {
        AggBegun::Answered(values) => (values, false),
        AggBegun::Sliced(mut scan) => {
            let mut live = Some(coll);
            let mut churn = churn.iter();
            let mut steps = 0;
            while !scan.step(live.as_ref(), slice) {
                steps += 1;
                prop_assert!(steps < 10_000, "the scan does not end");
                if Some(steps) == drop_at {
                    live = None;
                } else if let (Some(c), Some(m)) = (live.as_mut(), churn.next()) {
                    apply(c, &mut model, m);
                }
            }
            (scan.finish(), true)
        }
    };
    for key in ["n", "s", "a", "lo", "hi"] {
        prop_assert!(
            got[key] == expected[key] || close(&got[key], &expected[key]),
            "{}: {} vs {} ({})",
            key,
            got[key],
            expected[key],
            body
        );
    }
    Ok(sliced)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A sliced aggregate with inserts, replaces and deletes between its slices (and sometimes
    /// its collection dropped) answers what the collection held when it began.
    #[test]
    fn sliced_aggregates_answer_as_of_their_start(
        muts in mutations(200),
        filter in prop::option::weighted(0.8, filter_or()),
        scope in prop::option::weighted(0.2, filter_or()),
        path in prop::sample::select(PATHS),
        churn in mutations(200),
        slice in 1usize..40,
        drop_at in prop::option::weighted(0.2, 1usize..20),
    ) {
        check_sliced_aggregate(
            &muts, filter.as_ref(), scope.as_ref(), path, &churn, slice, drop_at,
        )?;
    }
}

/// The engine does slice aggregates whose filter no index serves (so the property above is not
/// vacuous), and answers unfiltered ones from the indexes at once.
#[test]
fn unindexable_aggregates_are_sliced() {
    let muts: Vec<Mutation> = (0..300)
        .map(|i| {
            let mut m = Map::new();
            m.insert("n".into(), json!(i % 17));
            if i % 3 == 0 {
                m.insert("s".into(), json!(format!("x{i}")));
            }
            Mutation::Put(i, m)
        })
        .collect();
    let churn: Vec<Mutation> = (0..300)
        .map(|i| match i % 3 {
            0 => Mutation::Delete((i * 7) % 300),
            _ => Mutation::Put((i * 11) % 350, {
                let mut m = Map::new();
                m.insert("n".into(), json!(i % 5 + 100));
                m
            }),
        })
        .collect();
    for filter in [
        json!({"n": {"$ne": 3}}),
        json!({"$or": [{"n": {"$ne": 3}}, {"s": {"$prefix": "x1"}}]}),
    ] {
        let sliced =
            check_sliced_aggregate(&muts, Some(&filter), None, "n", &churn, 5, None).unwrap();
        assert!(sliced, "{filter} was answered by an index");
    }
    let sliced = check_sliced_aggregate(&muts, None, None, "n", &churn, 5, None).unwrap();
    assert!(!sliced, "unfiltered aggregates come from the indexes");
}

//! CONTRACT sections 13 and 18 over HTTP: the query limits and the newer operators' 400s.
//! (Exactness is the model test's job: `actors/tests/query_model.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::{Instance, code};

async fn expect_invalid(s: &Instance, query: Value) {
    let (status, err) = s
        .call(
            Method::POST,
            "/v1/collections/users/query",
            Some(query.clone()),
        )
        .await;
    let shown: String = query.to_string().chars().take(120).collect();
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "invalid_query"),
        "{shown}: {err}"
    );
}

async fn expect_ok(s: &Instance, query: Value) {
    let (status, body) = s
        .call(Method::POST, "/v1/collections/users/query", Some(query))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn query_limits_of_section_18_are_400() {
    let s = Instance::start().await;
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/users/documents",
            Some(json!({"a": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sort =
        |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"field": format!("f{i}")})).collect() };
    let conds = |n: usize| -> Value {
        let m: Map<String, Value> = (0..n).map(|i| (format!("f{i}"), json!(i))).collect();
        Value::Object(m)
    };
    let path = |n: usize| vec!["a"; n].join(".");
    expect_ok(&s, json!({"sort": sort(16)})).await;
    expect_invalid(&s, json!({"sort": sort(17)})).await;
    expect_ok(&s, json!({"filter": conds(64)})).await;
    expect_invalid(&s, json!({"filter": conds(65)})).await;
    expect_ok(&s, json!({"filter": {path(32): 1}})).await;
    expect_invalid(&s, json!({"filter": {path(33): 1}})).await;
    expect_invalid(&s, json!({"sort": [{"field": path(33)}]})).await;
}

async fn seed(s: &Instance) {
    for (id, status, owner, age) in [
        ("a", "open", "me", 30),
        ("b", "done", "me", 20),
        ("c", "open", "you", 40),
        ("d", "late", "you", 10),
        ("e", "done", "you", 50),
    ] {
        let doc = json!({"id": id, "status": status, "owner": owner, "age": age});
        let (code, body) = s
            .call(Method::POST, "/v1/collections/users/documents", Some(doc))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn or_is_a_union_in_sort_order_and_pages_with_cursors() {
    let s = Instance::start().await;
    seed(&s).await;
    let q = json!({
        "filter": {"$or": [{"status": "open"}, {"owner": "me"}, {"status": "late"}],
                   "age": {"$gte": 15}},
        "sort": [{"field": "age", "order": "desc"}],
        "limit": 2
    });
    let (status, page) = s
        .call(Method::POST, "/v1/collections/users/query", Some(q.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["c", "a"]);
    let mut next = q.clone();
    next["cursor"] = page["next_cursor"].clone();
    let (_, page2) = s
        .call(Method::POST, "/v1/collections/users/query", Some(next))
        .await;
    assert_eq!(ids(&page2), ["b"]);
    assert!(page2["next_cursor"].is_null());
    let mut after = q;
    after["start_after"] = page["next_start_after"].clone();
    let (_, page3) = s
        .call(Method::POST, "/v1/collections/users/query", Some(after))
        .await;
    assert_eq!(ids(&page3), ["b"]);
}

#[tokio::test]
async fn or_400s() {
    let s = Instance::start().await;
    seed(&s).await;
    let branches = |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"age": i})).collect() };
    expect_ok(&s, json!({"filter": {"$or": branches(30)}})).await;
    expect_invalid(&s, json!({"filter": {"$or": branches(31)}})).await;
    expect_invalid(&s, json!({"filter": {"$or": []}})).await;
    expect_invalid(&s, json!({"filter": {"$or": {"age": 1}}})).await;
    expect_invalid(&s, json!({"filter": {"$or": [{"$or": [{"age": 1}]}]}})).await;
    expect_invalid(&s, json!({"filter": {"$and": [{"age": 1}]}})).await;
    // The inequality rule holds inside each branch, not across them.
    expect_ok(
        &s,
        json!({"filter": {"$or": [{"age": {"$gt": 1}}, {"status": {"$ne": "x"}}]}}),
    )
    .await;
    expect_invalid(
        &s,
        json!({"filter": {"$or": [{"age": {"$gt": 1}, "status": {"$ne": "x"}}]}}),
    )
    .await;
    // 64 conditions counting every branch's, and one more.
    let many = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"age": i, "status": "x", "owner": "y", "n": 1}))
            .collect()
    };
    expect_ok(&s, json!({"filter": {"$or": many(16)}})).await;
    expect_invalid(&s, json!({"filter": {"$or": many(16), "age": 1}})).await;
    expect_invalid(&s, json!({"filter": {"$or": [{"a..b": 1}]}})).await;
}

#[tokio::test]
async fn select_returns_only_those_paths() {
    let s = Instance::start().await;
    let doc =
        json!({"id": "x", "title": "t", "body": "b", "address": {"city": "Oslo", "zip": "1"}});
    let (status, _) = s
        .call(Method::POST, "/v1/collections/users/documents", Some(doc))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, page) = s
        .call(
            Method::POST,
            "/v1/collections/users/query",
            Some(json!({"select": ["title", "address.city", "missing"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let d = &page["documents"][0];
    let mut keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["address", "created_at", "id", "title", "updated_at"]);
    assert_eq!(d["address"], json!({"city": "Oslo"}));
    for bad in [
        json!({"select": []}),
        json!({"select": "title"}),
        json!({"select": [1]}),
        json!({"select": ["a..b"]}),
        json!({"select": [""]}),
        json!({"select": [vec!["a"; 33].join(".")]}),
        json!({"select": (0..101).map(|i| format!("f{i}")).collect::<Vec<_>>()}),
    ] {
        expect_invalid(&s, bad).await;
    }
}

#[tokio::test]
async fn aggregates_count_sum_avg_min_max_with_a_read_key() {
    let s = Instance::start().await;
    seed(&s).await;
    let read = s.new_key(&s.project, "ro", "read").await;
    let key = read["key"].as_str().unwrap();
    let body = json!({
        "filter": {"$or": [{"status": "open"}, {"owner": "me"}]},
        "aggregates": {
            "n": {"count": {}}, "total": {"sum": "age"}, "mean": {"avg": "age"},
            "young": {"min": "age"}, "old": {"max": "age"}, "none": {"avg": "status"}
        }
    });
    let (status, out) = s
        .call_with(
            key,
            Method::POST,
            "/v1/collections/users/aggregate",
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out,
        json!({"aggregates": {"n": 3, "total": 90, "mean": 30.0, "young": 20, "old": 40,
                              "none": null}})
    );
    let (_, all) = s
        .call(
            Method::POST,
            "/v1/collections/users/aggregate",
            Some(json!({"aggregates": {"n": {"count": {}}, "top": {"max": "status"}}})),
        )
        .await;
    assert_eq!(all, json!({"aggregates": {"n": 5, "top": "open"}}));
    let (_, none) = s
        .call(
            Method::POST,
            "/v1/collections/nothing/aggregate",
            Some(json!({"aggregates": {"n": {"count": {}}, "s": {"sum": "x"}}})),
        )
        .await;
    assert_eq!(none, json!({"aggregates": {"n": 0, "s": 0}}));
}

#[tokio::test]
async fn aggregate_400s() {
    let s = Instance::start().await;
    seed(&s).await;
    let aliases = |n: usize| -> Map<String, Value> {
        (0..n)
            .map(|i| (format!("a{i}"), json!({"count": {}})))
            .collect()
    };
    let bad = [
        json!({"aggregates": aliases(11)}),
        json!({"aggregates": {}}),
        json!({}),
        json!({"aggregates": {"x": {"median": "age"}}}),
        json!({"aggregates": {"x": {"sum": 3}}}),
        json!({"aggregates": {"x": {"sum": "a..b"}}}),
        json!({"aggregates": {"x": {"count": {}, "sum": "age"}}}),
        json!({"aggregates": {"x": {"count": 1}}}),
        json!({"aggregates": {"bad alias": {"count": {}}}}),
        json!({"aggregates": {"x": {"count": {}}}, "filter": {"age": {"$bad": 1}}}),
        json!({"aggregates": {"x": {"count": {}}}, "sort": []}),
        json!([]),
    ];
    for body in bad {
        let (status, err) = s
            .call(
                Method::POST,
                "/v1/collections/users/aggregate",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{body}: {err}"
        );
    }
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/collections/users/aggregate",
            Some(json!({"aggregates": aliases(10)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn contains_and_contains_any_match_array_elements() {
    let s = Instance::start().await;
    for (id, tags) in [
        ("a", json!(["red", "big"])),
        ("b", json!(["blue", {"k": 1}])),
        ("c", json!("red")),
        ("d", json!([["red"]])),
    ] {
        let (status, _) = s
            .call(
                Method::POST,
                "/v1/collections/users/documents",
                Some(json!({"id": id, "tags": tags})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for (filter, want) in [
        (json!({"tags": {"$contains": "red"}}), vec!["a"]),
        (json!({"tags": {"$contains": {"k": 1.0}}}), vec!["b"]),
        (json!({"tags": {"$contains": ["red"]}}), vec!["d"]),
        (
            json!({"tags": {"$containsAny": ["big", "blue", "x"]}}),
            vec!["a", "b"],
        ),
    ] {
        let (status, page) = s
            .call(
                Method::POST,
                "/v1/collections/users/query",
                Some(json!({"filter": filter})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(ids(&page), want, "{filter}");
    }
    let values = |n: usize| -> Vec<Value> { (0..n).map(|i| json!(i)).collect() };
    expect_ok(
        &s,
        json!({"filter": {"tags": {"$containsAny": values(30)}}}),
    )
    .await;
    expect_invalid(
        &s,
        json!({"filter": {"tags": {"$containsAny": values(31)}}}),
    )
    .await;
    expect_invalid(&s, json!({"filter": {"tags": {"$containsAny": []}}})).await;
    expect_invalid(&s, json!({"filter": {"tags": {"$containsAny": "red"}}})).await;
    expect_invalid(
        &s,
        json!({"filter": {"tags": {"$contains": "a"}, "more": {"$containsAny": ["b"]}}}),
    )
    .await;
    expect_invalid(
        &s,
        json!({"filter": {"tags": {"$contains": "a"}, "$or": [{"x": {"$contains": 1}}]}}),
    )
    .await;
    // Membership is not an inequality: it combines with one.
    expect_ok(
        &s,
        json!({"filter": {"tags": {"$contains": "a"}, "n": {"$gt": 1}}}),
    )
    .await;
    expect_ok(
        &s,
        json!({"filter": {"$or": [{"x": {"$contains": 1}}, {"y": {"$contains": 2}}]}}),
    )
    .await;
}

#[tokio::test]
async fn bad_paths_and_doubled_membership_are_400_in_every_new_form() {
    let s = Instance::start().await;
    seed(&s).await;
    let deep = vec!["a"; 33].join(".");
    for bad in [
        json!({"filter": {"a..b": {"$contains": 1}}}),
        json!({"filter": {"": {"$containsAny": [1]}}}),
        json!({"filter": {(deep.clone()): {"$contains": 1}}}),
        json!({"filter": {"$or": [{"status": "open"}, {(deep.clone()): 1}]}}),
        json!({"filter": {"$or": [{"status": "open"}, {".x": {"$in": [1]}}]}}),
        // Two membership operators on one field count as two.
        json!({"filter": {"tags": {"$contains": "a", "$containsAny": ["b"]}}}),
        // A membership operator in two `$or` branches plus one outside.
        json!({"filter": {"tags": {"$contains": "a"},
                          "$or": [{"x": 1}, {"y": {"$containsAny": [2]}}]}}),
    ] {
        expect_invalid(&s, bad).await;
    }
    for bad in [
        json!({"aggregates": {"x": {"min": (deep.clone())}}}),
        json!({"aggregates": {"x": {"max": ""}}}),
        json!({"aggregates": {"x": {"avg": "a..b"}}}),
        json!({"aggregates": {"x": {"count": {}}}, "filter": {"$or": [{"a..b": 1}]}}),
    ] {
        let (status, err) = s
            .call(
                Method::POST,
                "/v1/collections/users/aggregate",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{bad}: {err}"
        );
    }
}

//! CONTRACT section 7 over HTTP: the response shape, pagination with `start_after` and
//! `next_cursor`, and the 400s. (The engine's exactness is proven by the property test in
//! `actors/tests/query_model.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Instance, code};

async fn seed(s: &Instance) {
    let people = [
        ("ann", "active", 34, "Oslo"),
        ("bob", "active", 19, "Rome"),
        ("cy", "inactive", 45, "Oslo"),
        ("dee", "active", 21, "Lima"),
        ("eve", "active", 52, "Oslo"),
        ("fay", "pending", 28, "Rome"),
    ];
    for (id, status, age, city) in people {
        let doc = json!({"id": id, "status": status, "age": age, "address": {"city": city}});
        let (code, _) = s
            .call(Method::POST, "/v1/collections/users/documents", Some(doc))
            .await;
        assert_eq!(code, StatusCode::CREATED);
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
async fn the_seed_example_query_filters_sorts_and_pages() {
    let s = Instance::start().await;
    seed(&s).await;
    let query = json!({
        "filter": {"status": "active", "age": {"$gte": 21}},
        "sort": [{"field": "age", "order": "desc"}],
        "limit": 2
    });
    let (status, page) = s
        .call(
            Method::POST,
            "/v1/collections/users/query",
            Some(query.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["eve", "ann"]);
    assert_eq!(
        page["documents"][0]["address"]["city"], "Oslo",
        "whole documents come back"
    );
    assert_eq!(page["next_start_after"], "ann");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();

    let mut next = query.clone();
    next["start_after"] = json!("ann");
    let (_, page2) = s
        .call(Method::POST, "/v1/collections/users/query", Some(next))
        .await;
    assert_eq!(ids(&page2), ["dee"]);
    assert_eq!(
        page2["next_start_after"],
        Value::Null,
        "the last page says so"
    );
    assert_eq!(page2["next_cursor"], Value::Null);

    // The cursor survives the deletion of its anchor document.
    s.call(Method::DELETE, "/v1/collections/users/documents/ann", None)
        .await;
    let mut by_cursor = query.clone();
    by_cursor["cursor"] = json!(cursor);
    let (status, page3) = s
        .call(Method::POST, "/v1/collections/users/query", Some(by_cursor))
        .await;
    assert_eq!(status, StatusCode::OK, "{page3}");
    assert_eq!(ids(&page3), ["dee"]);
    let mut gone = query;
    gone["start_after"] = json!("ann");
    let (status, err) = s
        .call(Method::POST, "/v1/collections/users/query", Some(gone))
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "invalid_cursor"),
        "start_after a deleted id"
    );
}

#[tokio::test]
async fn nested_paths_operators_and_defaults() {
    let s = Instance::start().await;
    seed(&s).await;
    let cases = [
        (
            json!({"filter": {"address.city": "Oslo"}}),
            vec!["ann", "cy", "eve"],
        ),
        (
            json!({"filter": {"status": {"$in": ["pending", "inactive"]}}}),
            vec!["cy", "fay"],
        ),
        (
            json!({"filter": {"status": {"$ne": "active"}}}),
            vec!["cy", "fay"],
        ),
        (
            json!({"filter": {"age": {"$gt": 20, "$lt": 40}}}),
            vec!["ann", "dee", "fay"],
        ),
        (json!({"filter": {"id": {"$prefix": "d"}}}), vec!["dee"]),
        (json!({"filter": {"age": {"$gt": "20"}}}), vec![]),
        (json!({"filter": {"missing": {"$ne": 1}}}), vec![]),
        (
            json!({"sort": [{"field": "address.city"}, {"field": "age", "order": "desc"}]}),
            vec!["dee", "eve", "cy", "ann", "fay", "bob"],
        ),
        (json!({}), vec!["ann", "bob", "cy", "dee", "eve", "fay"]),
    ];
    for (query, want) in cases {
        let (status, page) = s
            .call(
                Method::POST,
                "/v1/collections/users/query",
                Some(query.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), want, "{query}");
    }
    let (status, page) = s
        .call(
            Method::POST,
            "/v1/collections/nothing-here/query",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, page),
        (
            StatusCode::OK,
            json!({"documents": [], "next_start_after": null, "next_cursor": null})
        )
    );
}

#[tokio::test]
async fn invalid_queries_are_400_with_the_right_code() {
    let s = Instance::start().await;
    seed(&s).await;
    let invalid_query = [
        json!({"filter": {"age": {"$between": [1, 2]}}}),
        json!({"filter": {"age": {"$gt": 1}, "status": {"$ne": "x"}}}),
        json!({"filter": {"age": {"$gt": 1, "x": 2}}}),
        json!({"filter": {"age": {"$in": (0..31).collect::<Vec<_>>()}}}),
        json!({"filter": {"age": {"$in": []}}}),
        json!({"filter": {"name": {"$prefix": 5}}}),
        json!({"limit": 0}),
        json!({"limit": 1001}),
        json!({"limit": "ten"}),
        json!({"sort": [{"field": "age", "order": "sideways"}]}),
        json!({"sort": "age"}),
        json!({"filter": []}),
        json!({"start_after": "ann", "cursor": "abc"}),
        json!({"colour": "red"}),
        json!([]),
    ];
    for query in invalid_query {
        let (status, err) = s
            .call(
                Method::POST,
                "/v1/collections/users/query",
                Some(query.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{query}: {err}"
        );
    }
    for query in [
        json!({"start_after": "nobody"}),
        json!({"cursor": "not-a-cursor"}),
    ] {
        let (status, err) = s
            .call(
                Method::POST,
                "/v1/collections/users/query",
                Some(query.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{query}: {err}"
        );
    }
    let (status, err) = s
        .call(
            Method::POST,
            "/v1/collections/bad.name/query",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
}

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

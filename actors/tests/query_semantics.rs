//! CONTRACT section 7, case by case: every operator against every type of value (through
//! `Filter::matches` and through the indexes, which must agree), the total order, paging, and
//! every `invalid_query` / `invalid_cursor` case.

use mammoth_actors::collection::{Collection, StoredDoc};
use mammoth_actors::query::{Filter, Query, QueryError};
use serde_json::{Map, Value, json};

/// The values under test, by index; document `v{i:02}` holds `{"f": VALUES[i]}` and `v99`
/// lacks `f`.
fn values() -> Vec<Value> {
    vec![
        json!(null),     // 0
        json!(false),    // 1
        json!(true),     // 2
        json!(-2),       // 3
        json!(0),        // 4
        json!(1),        // 5
        json!(1.0),      // 6
        json!(1.5),      // 7
        json!(""),       // 8
        json!("a"),      // 9
        json!("ab"),     // 10
        json!("b"),      // 11
        json!([]),       // 12
        json!([1]),      // 13
        json!([1, 2]),   // 14
        json!([2]),      // 15
        json!({}),       // 16
        json!({"a": 1}), // 17
        json!({"a": 2}), // 18
        json!({"b": 0}), // 19
    ]
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn collection() -> (Collection, Vec<Map<String, Value>>) {
    let mut coll = Collection::new();
    let mut docs = Vec::new();
    for (i, v) in values().into_iter().enumerate() {
        let doc = obj(json!({"id": format!("v{i:02}"), "f": v}));
        coll.insert(format!("v{i:02}"), StoredDoc::new(doc.clone()));
        docs.push(doc);
    }
    let doc = obj(json!({"id": "v99"}));
    coll.insert("v99".into(), StoredDoc::new(doc.clone()));
    docs.push(doc);
    (coll, docs)
}

fn page_ids(coll: &Collection, body: Value) -> Vec<String> {
    let q = Query::parse(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    let page = coll
        .query(&q, None)
        .unwrap_or_else(|e| panic!("{body}: {e}"));
    page.docs
        .iter()
        .map(|b| {
            serde_json::from_slice::<Value>(b).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Checks which of `values()` match `{"f": cond}`: through `Filter::matches` and through a query.
fn check(cond: Value, expected: &[usize]) {
    let (coll, docs) = collection();
    let filter = json!({ "f": cond });
    let parsed = Filter::parse(&filter).unwrap();
    let by_map: Vec<usize> = (0..docs.len() - 1)
        .filter(|&i| parsed.matches(&docs[i]))
        .collect();
    assert_eq!(by_map, expected, "Filter::matches of {filter}");
    assert!(
        !parsed.matches(&docs[docs.len() - 1]),
        "a missing field never matches: {filter}"
    );
    let expected_ids: Vec<String> = expected.iter().map(|i| format!("v{i:02}")).collect();
    assert_eq!(
        page_ids(&coll, json!({"filter": filter, "limit": 1000})),
        expected_ids,
        "query {filter}"
    );
    // The same through an ordered index walk (sorting on the filtered field), re-sorted by id.
    let mut sorted = page_ids(
        &coll,
        json!({"filter": filter, "sort": [{"field": "f"}], "limit": 1000}),
    );
    sorted.sort();
    assert_eq!(sorted, expected_ids, "sorted query {filter}");
}

#[test]
fn equality_is_deep_and_numeric_across_representations() {
    check(json!(1), &[5, 6]);
    check(json!(1.0), &[5, 6]);
    check(json!({"$eq": 1}), &[5, 6]);
    check(json!(null), &[0]);
    check(json!(false), &[1]);
    check(json!(""), &[8]);
    check(json!([1]), &[13]);
    check(json!([1.0, 2]), &[14]);
    check(json!({"a": 1}), &[17]);
    check(json!({"a": 1.0}), &[17]);
    // An object without `$` keys is a plain value; `{}` is equality with the empty object.
    check(json!({}), &[16]);
    check(json!({"$eq": {}}), &[16]);
    check(json!({"$eq": {"a": 2}}), &[18]);
}

#[test]
fn ne_matches_every_present_unequal_value() {
    let all_but = |skip: &[usize]| (0..20).filter(|i| !skip.contains(i)).collect::<Vec<_>>();
    check(json!({"$ne": 1}), &all_but(&[5, 6]));
    check(json!({"$ne": null}), &all_but(&[0]));
    check(json!({"$ne": "a"}), &all_but(&[9]));
    check(json!({"$ne": [1]}), &all_but(&[13]));
    check(json!({"$ne": {}}), &all_but(&[16]));
}

#[test]
fn in_is_deep_equality_against_each_value() {
    check(json!({"$in": [1, "a", null]}), &[0, 5, 6, 9]);
    check(json!({"$in": [[1], {}]}), &[13, 16]);
    check(json!({"$in": [true, true]}), &[2]);
    check(json!({"$in": ["zzz"]}), &[]);
    // Arrays are plain values: no implicit membership.
    check(json!(2), &[]);
}

#[test]
fn ranges_match_only_their_own_type() {
    check(json!({"$gt": 1}), &[7]);
    check(json!({"$gte": 1}), &[5, 6, 7]);
    check(json!({"$lt": 1}), &[3, 4]);
    check(json!({"$lte": 1.0}), &[3, 4, 5, 6]);
    check(json!({"$gt": -100, "$lt": 100}), &[3, 4, 5, 6, 7]);
    check(json!({"$gt": 1, "$lt": 2}), &[7]);
    check(json!({"$gte": 0, "$lte": 1}), &[4, 5, 6]);
    check(json!({"$gt": 2, "$lt": 1}), &[]);
    check(json!({"$gt": 0, "$lt": "z"}), &[]);
    // false < true, one type.
    check(json!({"$gt": false}), &[2]);
    check(json!({"$gte": false}), &[1, 2]);
    check(json!({"$lt": true}), &[1]);
    check(json!({"$lte": true}), &[1, 2]);
    // null is its own type with one value.
    check(json!({"$gt": null}), &[]);
    check(json!({"$gte": null}), &[0]);
    check(json!({"$lt": null}), &[]);
    check(json!({"$lte": null}), &[0]);
    // Strings by UTF-8 bytes.
    check(json!({"$gt": "a"}), &[10, 11]);
    check(json!({"$gte": "a"}), &[9, 10, 11]);
    check(json!({"$lt": "a"}), &[8]);
    check(json!({"$lte": "ab"}), &[8, 9, 10]);
    check(json!({"$gt": "a", "$ne": "b"}), &[10]);
    // Arrays element by element, a prefix first.
    check(json!({"$gt": [1]}), &[14, 15]);
    check(json!({"$lt": [1]}), &[12]);
    check(json!({"$gte": []}), &[12, 13, 14, 15]);
    // Objects entry by entry in key order.
    check(json!({"$gt": {}}), &[17, 18, 19]);
    check(json!({"$lt": {"a": 2}}), &[16, 17]);
    check(json!({"$gt": {"a": 1}}), &[18, 19]);
}

#[test]
fn prefix_matches_strings_only() {
    check(json!({"$prefix": "a"}), &[9, 10]);
    check(json!({"$prefix": "ab"}), &[10]);
    check(json!({"$prefix": ""}), &[8, 9, 10, 11]);
    check(json!({"$prefix": "b"}), &[11]);
    check(json!({"$prefix": "abc"}), &[]);
    check(json!({"$prefix": "a", "$gt": "a"}), &[10]);
}

#[test]
fn numbers_beyond_two_to_the_53_compare_exactly() {
    let mut coll = Collection::new();
    for (id, v) in [
        ("a", json!(9007199254740992u64)),
        ("b", json!(9007199254740993u64)),
        ("c", json!(9007199254740992.0)),
        ("d", json!(u64::MAX)),
        ("e", json!(i64::MIN)),
    ] {
        coll.insert(id.into(), StoredDoc::new(obj(json!({"id": id, "n": v}))));
    }
    assert_eq!(
        page_ids(&coll, json!({"filter": {"n": 9007199254740992u64}})),
        ["a", "c"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"n": {"$gt": 9007199254740992.0}}})),
        ["b", "d"]
    );
    assert_eq!(
        page_ids(&coll, json!({"sort": [{"field": "n"}]})),
        ["e", "a", "c", "b", "d"]
    );
}

#[test]
fn sort_follows_the_total_order_and_breaks_ties_by_id_ascending() {
    let (coll, _) = collection();
    let asc = page_ids(&coll, json!({"sort": [{"field": "f"}], "limit": 1000}));
    let expected_asc: Vec<String> = [
        "v99", "v00", "v01", "v02", "v03", "v04", "v05", "v06", "v07",
    ]
    .into_iter()
    .map(String::from)
    .chain((8..20).map(|i| format!("v{i:02}")))
    .collect();
    assert_eq!(asc, expected_asc);
    let desc = page_ids(
        &coll,
        json!({"sort": [{"field": "f", "order": "desc"}], "limit": 1000}),
    );
    let mut expected_desc: Vec<String> = (8..20).rev().map(|i| format!("v{i:02}")).collect();
    // 1 and 1.0 are equal: still id ascending under desc.
    expected_desc.extend(
        [
            "v07", "v05", "v06", "v04", "v03", "v02", "v01", "v00", "v99",
        ]
        .map(String::from),
    );
    assert_eq!(desc, expected_desc);
    // Sorting on id itself, both ways; no sort means id ascending.
    let mut ids: Vec<String> = (0..20).map(|i| format!("v{i:02}")).collect();
    ids.push("v99".into());
    assert_eq!(page_ids(&coll, json!({"limit": 1000})), ids);
    assert_eq!(
        page_ids(&coll, json!({"sort": [{"field": "id"}], "limit": 1000})),
        ids
    );
    ids.reverse();
    assert_eq!(
        page_ids(
            &coll,
            json!({"sort": [{"field": "id", "order": "desc"}], "limit": 1000})
        ),
        ids
    );
}

#[test]
fn field_paths_reach_into_objects_but_not_arrays_or_dotted_keys() {
    let mut coll = Collection::new();
    let docs = [
        json!({"id": "a", "address": {"city": "Oslo", "zip": "0150"}, "tags": ["x"]}),
        json!({"id": "b", "address": {"city": "Rome"}, "address.city": "Oslo"}),
        json!({"id": "c", "address": "Oslo"}),
    ];
    for d in docs {
        let id = d["id"].as_str().unwrap().to_owned();
        coll.insert(id, StoredDoc::new(obj(d)));
    }
    assert_eq!(
        page_ids(&coll, json!({"filter": {"address.city": "Oslo"}})),
        ["a"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"address": {"city": "Rome"}}})),
        ["b"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"address.zip": {"$ne": "x"}}})),
        ["a"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"tags.0": "x"}})),
        Vec::<String>::new()
    );
    assert_eq!(page_ids(&coll, json!({"filter": {"tags": ["x"]}})), ["a"]);
    assert_eq!(
        page_ids(
            &coll,
            json!({"sort": [{"field": "address.city", "order": "desc"}]})
        ),
        ["b", "a", "c"]
    );
}

fn invalid_query(body: Value) -> String {
    match Query::parse(&body) {
        Err(QueryError::InvalidQuery(msg)) => msg,
        other => panic!("{body}: expected InvalidQuery, got {other:?}"),
    }
}

fn invalid_cursor(body: Value) -> String {
    match Query::parse(&body) {
        Err(QueryError::InvalidCursor(msg)) => msg,
        other => panic!("{body}: expected InvalidCursor, got {other:?}"),
    }
}

#[test]
fn invalid_queries_are_refused_with_a_reason() {
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        assert!(invalid_query(body).contains("JSON object"));
    }
    assert!(invalid_query(json!({"filters": {}})).contains("unknown query key 'filters'"));
    assert!(invalid_query(json!({"filter": []})).contains("filter must be a JSON object"));
    assert!(invalid_query(json!({"filter": "x"})).contains("filter must be a JSON object"));
    assert!(
        invalid_query(json!({"filter": {"$or": []}})).contains("$or takes an array of 1 to 30")
    );
    assert!(invalid_query(json!({"filter": {"$and": []}})).contains("not a field path"));
    assert!(invalid_query(json!({"filter": {"": 1}})).contains("must not be empty"));
    for path in ["a..b", ".a", "a."] {
        assert!(invalid_query(json!({"filter": {path: 1}})).contains("empty segment"));
    }
    let mixed = invalid_query(json!({"filter": {"age": {"$gt": 1, "x": 2}}}));
    assert!(mixed.contains("mixes operators"), "{mixed}");
    for op in ["$regex", "$exists", "$nin", "$GT", "$"] {
        let msg = invalid_query(json!({"filter": {"age": {op: 1}}}));
        assert!(
            msg.contains("unknown operator") && msg.contains("$prefix"),
            "{msg}"
        );
    }
    let too_many: Vec<Value> = (0..31).map(Value::from).collect();
    for arg in [json!(1), json!([]), json!(too_many), json!({"a": 1})] {
        assert!(invalid_query(json!({"filter": {"a": {"$in": arg}}})).contains("1 to 30"));
    }
    let thirty: Vec<Value> = (0..30).map(Value::from).collect();
    assert!(Query::parse(&json!({"filter": {"a": {"$in": thirty}}})).is_ok());
    for arg in [json!(1), json!(null), json!(["a"])] {
        assert!(
            invalid_query(json!({"filter": {"a": {"$prefix": arg}}})).contains("takes a string")
        );
    }
    let two = invalid_query(json!({"filter": {"age": {"$gt": 1}, "name": {"$ne": "x"}}}));
    assert_eq!(
        two,
        "inequality filters ($ne $gt $gte $lt $lte $prefix) may be used on one field only, \
         found 'age' and 'name'"
    );
    assert!(
        invalid_query(json!({"filter": {"a": {"$prefix": "x"}, "b": {"$lt": 1}}}))
            .contains("one field only")
    );
    // One inequality field with equalities elsewhere is fine.
    assert!(
        Query::parse(
            &json!({"filter": {"a": {"$gt": 1, "$lt": 5, "$ne": 3}, "b": 1, "c": {"$in": [1]}}})
        )
        .is_ok()
    );

    for sort in [
        json!({"field": "a"}),
        json!("a"),
        json!([1]),
        json!([{"order": "asc"}]),
        json!([{"field": 1}]),
    ] {
        assert!(invalid_query(json!({"sort": sort})).contains("sort must be an array"));
    }
    assert!(
        invalid_query(json!({"sort": [{"field": "a", "order": "up"}]}))
            .contains("\"asc\" or \"desc\"")
    );
    assert!(
        invalid_query(json!({"sort": [{"field": "a", "dir": "asc"}]}))
            .contains("unknown key 'dir'")
    );
    assert!(invalid_query(json!({"sort": [{"field": "a..b"}]})).contains("empty segment"));
    for limit in [
        json!(0),
        json!(1001),
        json!(-1),
        json!(1.5),
        json!(20.0),
        json!("20"),
        json!(true),
    ] {
        assert!(invalid_query(json!({"limit": limit})).contains("1 to 1000"));
    }
    for ok in [json!(1), json!(1000), json!(null)] {
        assert!(Query::parse(&json!({"limit": ok})).is_ok());
    }
    for id in [json!(1), json!(""), json!(["a"])] {
        assert!(invalid_query(json!({"start_after": id})).contains("start_after must be"));
    }
    assert!(invalid_query(json!({"start_after": "a", "cursor": "b"})).contains("not both"));
    // Nulls mean absent.
    assert!(
        Query::parse(&json!({"filter": null, "sort": null, "start_after": null, "cursor": null}))
            .is_ok()
    );
    // Scopes use the same syntax and rules.
    assert!(matches!(
        Filter::parse(&json!({"a": {"$bad": 1}})),
        Err(QueryError::InvalidQuery(_))
    ));
    assert!(matches!(
        Filter::parse(&json!([])),
        Err(QueryError::InvalidQuery(_))
    ));
}

fn big_collection() -> Collection {
    let mut coll = Collection::new();
    for i in 0..50 {
        let doc = obj(
            json!({"id": format!("d{i:02}"), "n": i % 7, "owner": if i % 2 == 0 { "me" } else { "you" }}),
        );
        coll.insert(format!("d{i:02}"), StoredDoc::new(doc));
    }
    coll
}

#[test]
fn invalid_cursors_are_refused() {
    let sorted = json!([{"field": "n", "order": "desc"}]);
    let coll = big_collection();
    let q = Query::parse(&json!({"sort": sorted, "limit": 5})).unwrap();
    let cursor = coll.query(&q, None).unwrap().next_cursor.unwrap();
    assert!(Query::parse(&json!({"sort": sorted, "cursor": cursor})).is_ok());

    for bad in ["!!!", "", "e30", "WzEsMl0", "bnVsbA", "WzIsIiIsW10sImEiXQ"] {
        // not base64url, empty, "{}", "[1,2]", "null", version 2
        invalid_cursor(json!({"sort": sorted, "cursor": bad}));
    }
    // A cursor of another sort.
    for other in [
        json!([{"field": "n"}]),
        json!([{"field": "m", "order": "desc"}]),
        json!([]),
        json!([{"field": "n", "order": "desc"}, {"field": "id"}]),
    ] {
        assert!(
            invalid_cursor(json!({"sort": other, "cursor": cursor})).contains("different sort")
        );
    }
    // Tampered: every single-character change is refused or, if it still decodes to a
    // well-formed position, accepted as that position (positions are not secret).
    let mut refused = 0;
    for i in 0..cursor.len() {
        let mut chars: Vec<char> = cursor.chars().collect();
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        match Query::parse(&json!({"sort": sorted, "cursor": tampered})) {
            Err(QueryError::InvalidCursor(_)) => refused += 1,
            Err(other) => panic!("{other:?}"),
            Ok(q) => {
                coll.query(&q, None).unwrap();
            }
        }
    }
    assert!(refused > 0);
    invalid_cursor(json!({"cursor": 12}));
    // start_after an unknown id.
    let q = Query::parse(&json!({"start_after": "nope"})).unwrap();
    let Err(QueryError::InvalidCursor(unknown)) = coll.query(&q, None) else {
        panic!()
    };
    // ... or one outside the token's scope: the same answer, so the scope leaks nothing.
    let scope = Filter::parse(&json!({"owner": "me"})).unwrap();
    let q = Query::parse(&json!({"start_after": "d01"})).unwrap();
    assert!(coll.query(&q, None).is_ok());
    let Err(QueryError::InvalidCursor(outside)) = coll.query(&q, Some(&scope)) else {
        panic!()
    };
    assert_eq!(outside.replace("d01", "nope"), unknown);
}

#[test]
fn cursors_survive_the_deletion_of_their_anchor_and_start_after_does_not() {
    let mut coll = big_collection();
    let body = json!({"filter": {"n": {"$gte": 2}}, "sort": [{"field": "n", "order": "desc"}], "limit": 4});
    let first = coll.query(&Query::parse(&body).unwrap(), None).unwrap();
    let anchor = first.next_start_after.clone().unwrap();
    let mut with_cursor = body.clone();
    with_cursor["cursor"] = json!(first.next_cursor.unwrap());
    let mut with_id = body.clone();
    with_id["start_after"] = json!(anchor);
    let before = coll
        .query(&Query::parse(&with_cursor).unwrap(), None)
        .unwrap();
    assert_eq!(
        before.docs,
        coll.query(&Query::parse(&with_id).unwrap(), None)
            .unwrap()
            .docs
    );
    coll.remove(&anchor);
    let after = coll
        .query(&Query::parse(&with_cursor).unwrap(), None)
        .unwrap();
    assert_eq!(after.docs, before.docs);
    assert!(matches!(
        coll.query(&Query::parse(&with_id).unwrap(), None),
        Err(QueryError::InvalidCursor(_))
    ));
}

#[test]
fn pages_are_limit_long_and_the_last_one_says_so() {
    let coll = big_collection();
    let mut body =
        json!({"sort": [{"field": "n"}, {"field": "owner", "order": "desc"}], "limit": 7});
    let mut seen = Vec::new();
    loop {
        let page = coll.query(&Query::parse(&body).unwrap(), None).unwrap();
        assert!(page.docs.len() <= 7);
        seen.extend(
            page.docs
                .iter()
                .map(|b| serde_json::from_slice::<Value>(b).unwrap()),
        );
        match page.next_cursor {
            Some(c) => {
                assert_eq!(page.docs.len(), 7);
                body["cursor"] = json!(c);
            }
            None => break,
        }
    }
    // 50 documents: 7 full pages and one of 1; with exactly 49 the 7th page would be the last.
    assert_eq!(seen.len(), 50);
    let key = |v: &Value| {
        (
            v["n"].as_i64().unwrap(),
            v["owner"] != "you",
            v["id"].as_str().unwrap().to_owned(),
        )
    };
    assert!(seen.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    let q = Query::parse(&json!({"limit": 50})).unwrap();
    let page = coll.query(&q, None).unwrap();
    assert_eq!(
        (page.docs.len(), page.next_cursor, page.next_start_after),
        (50, None, None)
    );
    let q = Query::parse(&json!({"limit": 49})).unwrap();
    assert!(coll.query(&q, None).unwrap().next_cursor.is_some());
}

#[test]
fn scope_restricts_queries_and_gets() {
    let coll = big_collection();
    let scope = Filter::parse(&json!({"owner": "me"})).unwrap();
    let q = Query::parse(&json!({"filter": {"n": 3}, "limit": 100})).unwrap();
    let page = coll.query(&q, Some(&scope)).unwrap();
    let ids: Vec<Value> = page
        .docs
        .iter()
        .map(|b| serde_json::from_slice::<Value>(b).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [json!("d10"), json!("d24"), json!("d38")]);
    assert!(coll.get_in_scope("d10", Some(&scope)).is_some());
    assert!(coll.get_in_scope("d11", Some(&scope)).is_none());
    assert!(coll.get_in_scope("d11", None).is_some());
}

#[test]
fn replace_and_remove_keep_the_indexes_exact() {
    let mut coll = big_collection();
    coll.insert(
        "d03".into(),
        StoredDoc::new(obj(json!({"id": "d03", "n": 100, "extra": {"deep": [1]}}))),
    );
    coll.remove("d04");
    coll.check_consistency().unwrap();
    assert_eq!(
        page_ids(&coll, json!({"filter": {"n": {"$gte": 100}}})),
        ["d03"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"extra.deep": [1]}})),
        ["d03"]
    );
    assert_eq!(
        page_ids(&coll, json!({"filter": {"owner": "you", "n": 3}})),
        ["d17", "d31", "d45"]
    );
    let old = coll
        .insert("d03".into(), StoredDoc::new(obj(json!({"id": "d03"}))))
        .unwrap();
    assert_eq!(old.value()["n"], json!(100));
    assert_eq!(
        page_ids(&coll, json!({"filter": {"extra.deep": [1]}})),
        Vec::<String>::new()
    );
    coll.check_consistency().unwrap();
    let stored = StoredDoc::from_bytes(coll.get("d05").unwrap().bytes().clone()).unwrap();
    assert_eq!(stored.value()["n"], json!(5));
    assert!(StoredDoc::from_bytes(bytes::Bytes::from_static(b"[1]")).is_err());
    // A document built from a Map and its encoding is indexed like any other.
    let value = obj(json!({"id": "d77", "n": 77}));
    let bytes = bytes::Bytes::from(serde_json::to_vec(&value).unwrap());
    coll.insert(
        "d77".into(),
        StoredDoc::from_parts(value.clone(), bytes.clone()),
    );
    assert_eq!(page_ids(&coll, json!({"filter": {"n": 77}})), ["d77"]);
    assert_eq!(
        (
            coll.get("d77").unwrap().value(),
            coll.get("d77").unwrap().bytes()
        ),
        (value, &bytes)
    );
    coll.check_consistency().unwrap();
}

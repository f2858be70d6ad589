//! Tests of the value order and its keys.

use serde_json::json;

use super::*;

#[test]
fn type_order_follows_the_contract() {
    let ordered = [
        json!(null),
        json!(false),
        json!(true),
        json!(-1e300),
        json!(-5),
        json!(0),
        json!(0.5),
        json!(1),
        json!(9007199254740992u64),
        json!(9007199254740993u64),
        json!(u64::MAX),
        json!(1e300),
        json!(""),
        json!("\u{0}"),
        json!("a"),
        json!("a\u{0}"),
        json!("a\u{1}"),
        json!("ab"),
        json!("é"),
        json!([]),
        json!([null]),
        json!([1]),
        json!([1, 2]),
        json!([2]),
        json!(["a"]),
        json!({}),
        json!({"a": 1}),
        json!({"a": 1, "b": 1}),
        json!({"a": 2}),
        json!({"b": 0}),
    ];
    for pair in ordered.windows(2) {
        assert_eq!(
            total_cmp(&pair[0], &pair[1]),
            Ordering::Less,
            "{} < {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn numbers_compare_exactly() {
    assert!(deep_eq(&json!(1), &json!(1.0)));
    assert!(deep_eq(&json!(0), &json!(-0.0)));
    assert!(deep_eq(&json!(-3), &json!(-3.0)));
    assert!(!deep_eq(
        &json!(9007199254740993u64),
        &json!(9007199254740992.0)
    ));
    assert!(deep_eq(
        &json!(9007199254740992u64),
        &json!(9007199254740992.0)
    ));
    assert_eq!(
        total_cmp(&json!(i64::MIN), &json!(i64::MIN + 1)),
        Ordering::Less
    );
    assert_eq!(
        total_cmp(&json!(u64::MAX - 1), &json!(u64::MAX)),
        Ordering::Less
    );
    assert_eq!(
        total_cmp(
            &json!(18446744073709551615u64),
            &json!(1.8446744073709552e19)
        ),
        Ordering::Less
    );
}

#[test]
fn short_keys_are_inline_and_compare_like_long_ones() {
    assert_eq!(std::mem::size_of::<ValueKey>(), 32);
    let short = ValueKey::of(&json!("abc"));
    let long = ValueKey::of(&json!("abc".repeat(20)));
    assert!(matches!(short.0, Repr::Inline { .. }));
    assert!(matches!(long.0, Repr::Heap(_)));
    assert_eq!(short.cmp(&long), Ordering::Less);
    assert_eq!(long, ValueKey::from_raw(long.as_bytes().to_vec()));
}

#[test]
fn index_keys_are_capped_prefixes() {
    let long = json!({"a": {"b": "x".repeat(200)}, "c": [1, 2, 3]});
    let mut deep = json!(["s", "t"]);
    for _ in 0..30 {
        deep = json!([deep]);
    }
    for v in [
        long,
        deep,
        json!({"a": 1}),
        json!("y".repeat(100)),
        json!([]),
    ] {
        let full = ValueKey::of(&v);
        let mut capped = Vec::new();
        encode_index_key(&v, &mut capped);
        assert_eq!(capped, index_form(full.as_bytes()), "{v}");
        assert!(full.as_bytes().starts_with(&capped));
        assert!(capped.len() <= NODE_KEY_CAP || matches!(v, Value::String(_)));
    }
}

#[test]
fn array_elements_split_an_array_key() {
    let v = json!([1, "a\u{0}b", [2, {"x": null}], {"k": [true]}, null, 2.5]);
    let key = ValueKey::of(&v);
    let elems = array_elements(key.as_bytes()).unwrap();
    let want: Vec<ValueKey> = v.as_array().unwrap().iter().map(ValueKey::of).collect();
    assert_eq!(
        elems,
        want.iter().map(ValueKey::as_bytes).collect::<Vec<_>>()
    );
    assert!(array_elements(ValueKey::of(&json!({"a": 1})).as_bytes()).is_none());
    assert!(array_elements(&key.as_bytes()[..5]).is_none());
}

#[test]
fn keys_round_trip() {
    for v in [
        json!(null),
        json!(true),
        json!(-0.25),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e300),
        json!("a\u{0}b"),
        json!([1, [2, {"x": "y"}], {}]),
        json!({"": 1, "a": {"b": [null]}}),
    ] {
        let key = ValueKey::of(&v);
        let back = key.to_value().unwrap();
        assert_eq!(ValueKey::of(&back), key, "{v}");
    }
    assert_eq!(decode(&[0x09]), None);
    assert_eq!(decode(&[TAG_STRING, b'a', 0x00, 0x01]), None);
}

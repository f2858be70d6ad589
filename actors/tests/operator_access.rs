//! `Access::operator_read`: the dashboard's read-only way into a project's data.

use std::sync::Arc;

use mammoth_actors::ErrorCode;
use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, WriteOp};
use mammoth_actors::query::Query;
use mammoth_actors::records::{KeyClaims, KeyMinter, Permission};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Map, Value, json};

/// The "signed" key is its claims as JSON: this crate never checks signatures.
fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

fn body(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn operators_read_every_collection_and_write_nothing() {
    let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap();
    let registry = Registry::start(storage, snapshot, Env::default(), minter())
        .await
        .unwrap();
    let (project, issued) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let claims: KeyClaims = serde_json::from_str(&issued.key).unwrap();
    assert_eq!(claims.perm, Permission::Write);
    let writer = Access::new(Principal::Key(KeyRef {
        key_id: claims.kid,
        nonce: claims.n,
    }));
    let create = |title: &str| WriteOp::Create {
        id: Some(title.into()),
        body: body(json!({ "title": title })),
    };
    let written = handle
        .write(writer, "todos".into(), create("a"))
        .await
        .unwrap();
    handle.durable(written.ticket).await.unwrap();

    let operator = Access::operator_read();
    let collections = handle.collections(operator.clone()).await.unwrap();
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].count, 1);
    let doc = handle
        .get(operator.clone(), "todos".into(), "a".into())
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&doc).contains("\"title\":\"a\""));
    let page = handle
        .query(
            operator.clone(),
            "todos".into(),
            Query::parse(&json!({})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.docs.len(), 1);

    let refused = handle
        .write(operator, "todos".into(), create("b"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    assert!(handle.requests() >= 5, "data calls are counted");
    registry.stop();
}

/// `Access::operator_write`: the dashboard's document editor writes as the operator, with the
/// same preconditions as the API; it still cannot act as a project's user.
#[tokio::test]
async fn the_operator_editor_writes_with_preconditions() {
    use mammoth_actors::etag::Precondition;
    let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap();
    let registry = Registry::start(storage, snapshot, Env::default(), minter())
        .await
        .unwrap();
    let (project, _) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let editor = Access::operator_write();
    let written = handle
        .write(
            editor.clone(),
            "todos".into(),
            WriteOp::Create {
                id: Some("a".into()),
                body: body(json!({"title": "a"})),
            },
        )
        .await
        .unwrap();
    handle.durable(written.ticket).await.unwrap();
    let stale = Precondition {
        if_match: Some(vec![format!("\"{}\"", written.seq + 1)]),
        exists: None,
    };
    let replace = || WriteOp::Replace {
        id: "a".into(),
        body: body(json!({"title": "b"})),
    };
    let refused = handle
        .write_if(editor.clone(), "todos".into(), replace(), stale)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::PreconditionFailed);
    let current = Precondition {
        if_match: Some(vec![mammoth_actors::etag::format(written.seq)]),
        exists: None,
    };
    handle
        .write_if(editor.clone(), "todos".into(), replace(), current)
        .await
        .unwrap();
    assert_eq!(
        handle.authenticate(editor).await.unwrap_err().code,
        ErrorCode::Forbidden,
        "operators are no project's users"
    );
    registry.stop();
}

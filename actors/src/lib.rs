//! # mammoth-actors
//!
//! The project registry and the per-project actors. Each project's collections, indexes, keys,
//! users and sessions are owned by exactly one actor; every change is a message. This crate knows
//! nothing of HTTP; it persists through `mammoth-storage`.
//!
//! # Layout
//! - [`registry`]: finds projects by id without locking, creates them, supervises their actors.
//! - [`project`]: the project actor, its messages, and [`project::ProjectHandle`], the typed way in.
//! - [`collection`], [`index`], [`value`], [`query`]: documents, indexes, the total order of JSON
//!   values, and query planning and execution.
//! - [`access`]: who is asking (a typed principal) and what they may reach; [`scope`]: what a
//!   scoped token (or a session scope) grants.
//! - [`users`]: end users, sessions, magic links and sign-in throttles of one project.
//! - [`records`]: projects and API keys as stored; [`env`]: injectable clock and randomness;
//!   [`ids`]: ids, timestamps, name rules; [`error`]: the closed set of error kinds.
//!
//! # The main flow
//! The registry starts one actor per project; a caller with a verified key sends one message
//! through the project's handle; the actor answers with stored bytes (and, for a write, a
//! durability ticket the caller awaits).
//!
//! ```
//! use std::sync::Arc;
//! use mammoth_actors::env::Env;
//! use mammoth_actors::project::{Access, KeyRef, Principal, WriteOp};
//! use mammoth_actors::query::Query;
//! use mammoth_actors::records::KeyClaims;
//! use mammoth_actors::registry::Registry;
//! use mammoth_storage::{Storage, StorageConfig};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap(); // in memory
//! // The server signs keys as JWTs; this demo "signs" them as `mm_<key id>.<nonce>`.
//! let minter = Arc::new(|c: &KeyClaims| format!("mm_{}.{}", c.kid, c.n));
//! let registry = Registry::start(storage, snapshot, Env::default(), minter).await.unwrap();
//! let (project, key) = registry.create_project("demo".into()).await.unwrap();
//! let handle = registry.project(&project.id).unwrap();
//!
//! // What the HTTP layer builds from a verified key; the actor checks it against its live keys.
//! let (key_id, nonce) = key.key["mm_".len()..].split_once('.').unwrap();
//! let key = KeyRef { key_id: key_id.into(), nonce: nonce.into() };
//! let access = Access::new(Principal::Key(key.clone()));
//!
//! let body = json!({"title": "milk", "done": false}).as_object().unwrap().clone();
//! let op = WriteOp::Create { id: Some("t1".into()), body };
//! let written = handle.write(access.clone(), "todos".into(), op).await.unwrap();
//! handle.durable(written.ticket).await.unwrap(); // the caller, not the actor, waits for disk
//!
//! let bytes = handle.get(access.clone(), "todos".into(), "t1".into()).await.unwrap();
//! assert!(std::str::from_utf8(&bytes).unwrap().contains("\"title\":\"milk\""));
//! let query = Query::parse(&json!({"filter": {"done": false}})).unwrap();
//! let page = handle.query(access.clone(), "todos".into(), query).await.unwrap();
//! assert_eq!(page.docs.len(), 1);
//!
//! let forged = Access::new(Principal::Key(KeyRef { nonce: "guessed".into(), ..key }));
//! assert!(handle.collections(forged).await.is_err(), "a nonce that is not live is refused");
//! # });
//! ```

#![warn(missing_docs)]

pub mod access;
pub mod collection;
pub mod commitlog;
pub mod env;
pub mod error;
pub mod etag;
pub mod ids;
pub mod index;
pub mod meta;
pub mod project;
pub mod query;
pub mod realtime;
pub mod records;
pub mod registry;
pub mod scope;
pub mod ttl;
pub mod users;
pub mod value;

pub use error::{ErrorCode, ProjectError};

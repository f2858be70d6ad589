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
//! - [`scope`]: what a scoped token grants.
//! - [`users`]: end users, sessions, magic links and sign-in throttles of one project.
//! - [`records`]: projects and API keys as stored; [`env`]: injectable clock and randomness;
//!   [`ids`]: ids, timestamps, name rules; [`error`]: the closed set of error kinds.

pub mod collection;
pub mod env;
pub mod error;
pub mod ids;
pub mod index;
pub mod project;
pub mod query;
pub mod records;
pub mod registry;
pub mod scope;
pub mod users;
pub mod value;

pub use error::{ErrorCode, ProjectError};

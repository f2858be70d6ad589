//! # mammoth-actors
//!
//! The project registry and the per-project actors. Each project's collections, indexes, users and
//! sessions are owned by exactly one actor; every change is a message. This crate knows nothing of
//! HTTP; it persists through `mammoth-storage`.

pub mod collection;
pub mod index;
pub mod query;
pub mod value;

//! # Mammoth
//!
//! An actor-based, in-memory document database with persistence, served over HTTP as a
//! multi-tenant backend: projects, API keys, JSON documents, queries.
//!
//! # Layout
//! - [`config`]: every setting, from flags or environment variables.
//! - [`server`]: opens storage, starts the registry, bootstraps the `default` project, serves
//!   HTTP until shutdown, then flushes.
//! - [`connections`]: the accept loop: header-read and idle timeouts, the connection cap, the
//!   shutdown deadline.
//! - [`credcache`]: the bounded per-thread cache of verified API keys and scoped tokens.
//! - [`keys`]: API keys as signed JWTs (minting and verification).
//! - [`http`]: the thin axum layer: routes, extractors, the one error type.
//! - [`password`]: Argon2id hashing on a bounded pool, away from async workers and actors.
//! - [`mail`]: sign-in mail, through SMTP or the in-memory dev outbox.
//! - [`testing`]: the one in-process runner (`Running`), shared by `TestServer`, the end-to-end
//!   tests and `mammoth bench`; the load harness itself is the `mammoth-harness` crate.
//!
//! Three floors, each importing only the one below: this crate over `mammoth-actors` over
//! `mammoth-storage`. `mammoth-harness` sits beside this crate, over `mammoth-actors`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = mammoth::config::Config::in_memory();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = mammoth::server::Server::start(config, listener).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.serve(std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod app;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod credcache;
pub mod credentials;
pub mod dashboard;
pub mod datacli;
pub mod error;
pub mod http;
pub mod keys;
pub mod mail;
pub mod operators;
pub mod password;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod testing;

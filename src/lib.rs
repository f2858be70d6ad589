//! # Mammoth
//!
//! An actor-based, in-memory document database with persistence, served over HTTP as a
//! multi-tenant backend: projects, API keys, JSON documents, queries.
//!
//! # Layout
//! Each module imports only modules listed above it here; nothing reaches back up
//! (`tests/it/layers.rs` fails on an import cycle between top-level modules).
//! - [`config`]: every setting, from flags or environment variables.
//! - [`connections`]: the accept loop: header-read and idle timeouts, the connection cap, the
//!   shutdown deadline.
//! - [`credcache`]: the bounded per-thread cache of verified API keys and scoped tokens.
//! - [`keys`]: API keys as signed JWTs (minting and verification).
//! - [`password`]: Argon2id hashing on a bounded pool, away from async workers and actors.
//! - [`mail`]: sign-in mail, through SMTP or the in-memory dev outbox.
//! - [`operators`]: operator accounts, sign-in links and dashboard sessions (stored as meta
//!   records through `mammoth_actors::meta`).
//! - [`error`]: `ApiError`, the one table from error kinds to CONTRACT section 3 answers.
//! - [`cluster`]: this node's cluster membership and the ownership gate.
//! - [`state`]: `AppState`, the cheap handles every handler may use; request totals.
//! - [`credentials`]: operator credentials: root token, session cookie, CSRF and origin
//!   checks, the `Operator` (admin API) and `Signed` (dashboard) extractors.
//! - [`admin`]: the admin service: project and key operations with validated names
//!   (`ProjectName`, `KeyName`, ...), rendered by the admin API and the dashboard alike.
//! - [`http`]: the thin axum layer of the API: one file per resource, extractors.
//! - [`dashboard`]: the operator console (server-rendered pages).
//! - [`telemetry`]: Prometheus metrics: the request middleware and `/metrics`.
//! - [`app`]: the router, assembled from `http`, `dashboard` and `telemetry`, with its layers.
//! - [`server`]: opens storage, starts the registry, bootstraps the `default` project, serves
//!   HTTP until shutdown, then flushes.
//! - [`datacli`]: the `mammoth export` / `import` commands.
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

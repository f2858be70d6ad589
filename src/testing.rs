//! Embedded test instances: an isolated Mammoth per test, started in milliseconds inside the
//! caller's process, the way Firebase's emulator or mongodb-memory-server are used, with no JVM,
//! no Docker and no start-up wait.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = mammoth::testing::TestServer::start().await?;
//! let client = reqwest::Client::new();
//! let response = client
//!     .post(format!("{}/v1/collections/todos/documents", server.url()))
//!     .header("X-API-Key", server.write_key())
//!     .body(r#"{"title": "write tests"}"#)
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 201);
//! # Ok(()) }
//! ```
//!
//! Each instance has its own dev mailer, whose messages [`TestServer::outbox`] reads directly
//! (a magic-link test needs no SMTP server). Each instance has its own storage (in memory unless [`TestServerBuilder::data_dir`] is set),
//! its own signing secret, its own `default` project with a write key and a read key, and its own
//! root token. Dropping the instance shuts it down.
//!
//! [`Running`] is the one in-process runner: a [`Server`] on `127.0.0.1:0` serving on a task
//! until stopped. [`TestServer`], the end-to-end tests (`tests/it/main.rs`) and the load harness
//! ([`bench_launcher`]) all start their servers through it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::env::{Clock, Env, OsEntropy};
use mammoth_actors::ids::hex;
use mammoth_actors::records::Permission;
use mammoth_actors::registry::Registry;
use mammoth_harness::{BoxFuture, Instance, ServerKind};
use tokio::sync::oneshot;

use crate::config::{Config, DurabilityMode, StorageMode};
use crate::mail::{Mailer, OutboxMessage};
use crate::server::Server;

/// A [`Server`] serving on a task of the current runtime until [`Running::stop`] (or drop).
#[derive(Debug)]
pub struct Running {
    url: String,
    registry: Registry,
    /// The server's password hashing pool.
    passwords: crate::password::PasswordPool,
    /// Completes the server's shutdown future: it stops accepting, drains, and flushes.
    stop: Option<oneshot::Sender<()>>,
    /// The serving task; its result says whether the flush succeeded.
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Binds `127.0.0.1:0` and starts a server with `config`; it serves once passed to
    /// [`Running::serve`], so the caller can read its bootstrap keys first.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Server::start(config, listener).await
    }

    /// Serves `server` on a task of the current runtime.
    pub fn serve(server: Server) -> Running {
        let url = format!("http://{}", server.local_addr());
        let registry = server.registry().clone();
        let passwords = server.passwords().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            url,
            registry,
            passwords,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's project registry (its restart events, for tests).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The server's password hashing pool (tests hold it, [`crate::password::PasswordPool::hold`]).
    pub fn passwords(&self) -> &crate::password::PasswordPool {
        &self.passwords
    }

    /// Shuts down gracefully and waits until storage is flushed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the instance `mammoth bench` measures when no `--url` is given: in memory, or on disk
/// in `data` (default: a fresh temporary directory, removed when it stops) acknowledging writes
/// after an fsync'd group commit (`sync`) or from memory with a snapshot every second.
pub fn bench_launcher(
    kind: ServerKind,
    data: Option<PathBuf>,
) -> BoxFuture<anyhow::Result<Instance>> {
    Box::pin(async move {
        let mut temp_dir = None;
        let storage = match kind {
            ServerKind::Memory => StorageMode::InMemory,
            ServerKind::Sync | ServerKind::Periodic => {
                let dir = match data {
                    Some(dir) => dir,
                    None => {
                        let temp = tempfile::Builder::new()
                            .prefix("mammoth-bench-")
                            .tempdir()?;
                        let dir = temp.path().to_owned();
                        temp_dir = Some(temp);
                        dir
                    }
                };
                let durability = if kind == ServerKind::Sync {
                    DurabilityMode::Sync
                } else {
                    DurabilityMode::Periodic {
                        interval: Duration::from_secs(1),
                    }
                };
                StorageMode::Disk { dir, durability }
            }
        };
        let config = Config {
            storage,
            ..Config::in_memory()
        };
        let server = Running::bind(config).await?;
        let key = match server.bootstrap() {
            Some(boot) => boot.key.key.clone(),
            None => anyhow::bail!(
                "the data directory already holds projects, so no key could be made for the \
                 benchmark; point --data at an empty directory, or use --url and --key"
            ),
        };
        let running = Running::serve(server);
        let url = running.url().to_owned();
        Ok(Instance {
            url,
            key,
            stop: Box::pin(async move {
                let stopped = running.stop().await;
                drop(temp_dir);
                stopped
            }),
        })
    })
}

/// A running instance. Dropping it shuts it down.
#[derive(Debug)]
pub struct TestServer {
    project: String,
    write_key: String,
    read_key: String,
    root_token: String,
    mailer: Mailer,
    running: Running,
}

/// Options for a [`TestServer`]. Defaults: in memory, the system clock, a random root token.
#[derive(Debug, Default)]
pub struct TestServerBuilder {
    data_dir: Option<PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    root_token: Option<String>,
}

impl TestServerBuilder {
    /// Persist to this directory (with `sync` durability) instead of memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Use this clock, e.g. a [`mammoth_actors::env::ManualClock`] to test expiry without sleeping.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use this root token instead of a random one.
    pub fn root_token(mut self, token: impl Into<String>) -> Self {
        self.root_token = Some(token.into());
        self
    }

    /// Starts the instance on `127.0.0.1:0`.
    pub async fn start(self) -> anyhow::Result<TestServer> {
        let mut env = Env::default();
        if let Some(clock) = self.clock {
            env = Env {
                clock,
                entropy: Arc::new(OsEntropy),
            };
        }
        let root_token = self
            .root_token
            .unwrap_or_else(|| format!("root_{}", hex(&env.random::<16>())));
        let storage = match self.data_dir {
            None => StorageMode::InMemory,
            Some(dir) => StorageMode::Disk {
                dir,
                durability: DurabilityMode::Sync,
            },
        };
        let config = Config {
            storage,
            root_token: Some(root_token.clone()),
            env,
            ..Config::in_memory()
        };
        let server = Running::bind(config).await?;
        let (project, write_key) = match server.bootstrap() {
            Some(boot) => (boot.project.id.clone(), boot.key.key.clone()),
            None => anyhow::bail!(
                "the data directory already holds projects; a TestServer needs a fresh one"
            ),
        };
        let handle = server
            .registry()
            .project(&project)
            .expect("the bootstrap project exists");
        let read_key = server
            .registry()
            .create_key(&handle, "read".into(), Permission::Read)
            .await?;
        let mailer = server.mailer().clone();
        Ok(TestServer {
            project,
            write_key,
            read_key: read_key.key,
            root_token,
            mailer,
            running: Running::serve(server),
        })
    }
}

impl TestServer {
    /// An in-memory instance with defaults.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::builder().start().await
    }

    /// Options.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        self.running.url()
    }

    /// The `default` project's id.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// A write key of the `default` project.
    pub fn write_key(&self) -> &str {
        &self.write_key
    }

    /// A read key of the `default` project.
    pub fn read_key(&self) -> &str {
        &self.read_key
    }

    /// The root token for `/admin/v1/*`.
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Every message the dev mailer has "sent" (magic links, ...), oldest first.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.mailer.outbox_messages().unwrap_or_default()
    }

    /// Shuts down gracefully and waits until storage is flushed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }
}

//! The Mammoth that `mammoth bench` starts in its own process when no `--url` is given: the real
//! server ([`Server`]), on `127.0.0.1:0`, in memory or on disk with the chosen durability.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use crate::config::{Config, DurabilityMode, StorageMode};
use crate::server::Server;

/// Which instance to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerKind {
    /// In memory: nothing touches disk.
    Memory,
    /// On disk; writes are acknowledged after an fsync'd group commit.
    Sync,
    /// On disk; writes are acknowledged from memory and snapshotted every second.
    Periodic,
}

impl ServerKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Memory => "memory",
            ServerKind::Sync => "sync",
            ServerKind::Periodic => "periodic",
        }
    }
}

/// A running in-process instance.
pub(crate) struct Instance {
    url: String,
    key: String,
    /// Completes the server's shutdown future: it stops accepting, drains, and flushes.
    stop: Option<oneshot::Sender<()>>,
    /// The serving task; its result says whether the flush succeeded.
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// A data directory this instance made, removed when it stops.
    temp_dir: Option<PathBuf>,
}

impl Instance {
    /// Starts an instance on the current runtime. On disk, it uses `data` or else a fresh
    /// directory under the system's temporary directory.
    pub(crate) async fn start(kind: ServerKind, data: Option<PathBuf>) -> anyhow::Result<Instance> {
        let mut temp_dir = None;
        let storage = match kind {
            ServerKind::Memory => StorageMode::InMemory,
            ServerKind::Sync | ServerKind::Periodic => {
                let dir = match data {
                    Some(dir) => dir,
                    None => {
                        let suffix = mammoth_actors::ids::hex(&fastrand::u64(..).to_le_bytes());
                        let dir = std::env::temp_dir().join(format!("mammoth-bench-{suffix}"));
                        temp_dir = Some(dir.clone());
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0 for the in-process server")?;
        let server = Server::start(config, listener).await?;
        let key = match server.bootstrap() {
            Some(boot) => boot.key.key.clone(),
            None => anyhow::bail!(
                "the data directory already holds projects, so no key could be made for the \
                 benchmark; point --data at an empty directory, or use --url and --key"
            ),
        };
        let url = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Ok(Instance {
            url,
            key,
            stop: Some(stop),
            task: Some(task),
            temp_dir,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A write key of its `default` project.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Shuts down gracefully, waits for the flush, and removes a temporary data directory.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = match self.task.take() {
            Some(task) => task.await.context("the in-process server panicked")?,
            None => Ok(()),
        };
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        served
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

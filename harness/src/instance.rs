//! The Mammoth that `mammoth bench` starts in its own process when no `--url` is given. The
//! harness knows only HTTP, so the caller supplies how to start one ([`Launch`]); the binary
//! passes `mammoth::testing::bench_launcher`, the same runner the tests use.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

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

/// A future the harness can hand to another runtime.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Starts an instance of `kind` on `127.0.0.1:0`, on disk in `data` (or a fresh temporary
/// directory) for `sync` and `periodic`. Called on the servers' runtime.
pub type Launch = fn(ServerKind, Option<PathBuf>) -> BoxFuture<anyhow::Result<Instance>>;

/// A running in-process instance.
pub struct Instance {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// A write key of its `default` project.
    pub key: String,
    /// Shuts it down gracefully, waits for the flush and removes a temporary data directory.
    /// Dropped unpolled, the instance still stops (without waiting).
    pub stop: BoxFuture<anyhow::Result<()>>,
}

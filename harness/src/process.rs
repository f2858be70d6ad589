//! `--server-bin`: the Mammoth under test as a separate process (`BIN serve --in-memory
//! --listen 127.0.0.1:0 --ready-json`), so its resident memory is its own and client and server
//! each have their own descriptor table: 10,000 SSE streams need 10,000 sockets on each side.
//!
//! Both processes need `RLIMIT_NOFILE` above the streams they hold; [`raise_nofile_limit`]
//! lifts this process's soft limit to its hard limit before the server is spawned (a child
//! inherits it). Beyond the hard limit only the shell can help: `ulimit -n 65536`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; answers the soft limit now.
pub(crate) fn raise_nofile_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => Some(soft),
        Err(e) => {
            eprintln!("could not raise the open-file limit: {e}");
            None
        }
    }
}

/// A `mammoth serve` child; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    /// Its base URL.
    pub(crate) url: String,
    /// A write key of its `default` project.
    pub(crate) key: String,
}

impl ServerProcess {
    /// Starts `bin serve` in memory on a free port, allowing `connections` connections, and
    /// waits for its ready line.
    pub(crate) fn start(bin: &Path, connections: u32) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                "--ready-json",
            ])
            .args([
                "--log",
                "warn",
                "--max-connections",
                &connections.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("the child's stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{} serve exited before its ready line", bin.display());
            }
            if line.starts_with('{') {
                break;
            }
        }
        let ready: serde_json::Value = serde_json::from_str(&line).context("the ready line")?;
        let field = |name: &str| ready[name].as_str().map(str::to_owned);
        let (Some(url), Some(key)) = (field("url"), field("write_key")) else {
            bail!("the ready line lacks url or write_key: {line}");
        };
        Ok(ServerProcess {
            child,
            _stdout: stdout,
            url,
            key,
        })
    }

    /// Its process id (for `--rss-pid`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary `--server-bin` names, checked to exist.
pub(crate) fn server_bin(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_file() {
        bail!("--server-bin {} is not a file", path.display());
    }
    Ok(path.to_owned())
}

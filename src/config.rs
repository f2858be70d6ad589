//! Server settings. The command line fills them (each flag also reads a `MAMMOTH_*` variable);
//! embedders build them directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mammoth_actors::env::Env;

/// Largest request body (CONTRACT section 3: 413 above it). Here, beside the other limits,
/// because both the HTTP layer and the cluster's forwarding proxy apply it.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Where state lives and when a write counts as done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageMode {
    /// Nothing touches disk.
    InMemory,
    /// A redb file in `dir`.
    Disk {
        /// The data directory (holds `mammoth.redb`).
        dir: PathBuf,
        /// `sync` or `periodic`.
        durability: DurabilityMode,
    },
}

/// CONTRACT section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityMode {
    /// Acknowledge only after an fsync'd group commit.
    Sync,
    /// Acknowledge from memory; snapshot every interval and on shutdown.
    Periodic {
        /// Time between snapshots.
        interval: Duration,
    },
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Storage and durability.
    pub storage: StorageMode,
    /// Accepted as `Authorization: Bearer <token>` on `/admin/v1/*` when set.
    pub root_token: Option<String>,
    /// Overrides the stored API-key signing secret.
    pub jwt_secret: Option<String>,
    /// Base of links put in emails; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Enables test-only routes (a panic hook). Never on in production.
    pub test_hooks: bool,
    /// Clock and randomness.
    pub env: Env,
    /// Send mail through this SMTP server (`smtp://host:port`, `smtps://...`); `None` keeps
    /// it in the dev outbox.
    pub smtp_url: Option<String>,
    /// The process's metrics recorder, when this server owns it (the binary does; embedded
    /// instances do not).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Who may sign in to the dashboard by magic link (lower-cased emails).
    pub admin_emails: Vec<String>,
    /// Timeouts and the connection cap (CONTRACT section 18).
    pub connections: crate::connections::ConnectionLimits,
    /// Each project's quota on the encoded bytes of its stored documents
    /// (`--max-project-bytes`, CONTRACT section 18); a write past it answers 413. 0 = no limit.
    pub max_project_bytes: u64,
    /// Cluster mode (`--node-id`, `--cluster`, CONTRACT section 16); `None` is a single node.
    pub cluster: Option<ClusterSettings>,
}

/// This node's place in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `--node-id`.
    pub node_id: u64,
    /// `--cluster`: every node's peer address, by id.
    pub peers: std::collections::BTreeMap<u64, String>,
}

impl Config {
    /// An in-memory server with defaults.
    pub fn in_memory() -> Config {
        Config {
            storage: StorageMode::InMemory,
            root_token: None,
            jwt_secret: None,
            public_url: None,
            test_hooks: false,
            env: Env::default(),
            metrics: None,
            smtp_url: None,
            admin_emails: Vec::new(),
            connections: Default::default(),
            max_project_bytes: 0,
            cluster: None,
        }
    }

    /// A server persisting to `dir` with `sync` durability.
    pub fn on_disk(dir: impl Into<PathBuf>) -> Config {
        Config {
            storage: StorageMode::Disk {
                dir: dir.into(),
                durability: DurabilityMode::Sync,
            },
            ..Config::in_memory()
        }
    }

    /// The public base URL for links, given the bound address.
    pub fn public_url_for(&self, addr: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        }
    }
}

/// Parses durations such as `1s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 1s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit; use ms, s, m or h")),
    };
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(format!("'{s}' is out of range (1ms to 24h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("1d").is_err());

        assert!(parse_duration("0").is_err());
        assert!(parse_duration("x").is_err());
    }
}

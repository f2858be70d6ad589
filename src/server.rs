//! Start-up and shutdown: open storage and load everything, start the registry (every project
//! actor with its indexes rebuilt), bootstrap the `default` project on an empty data directory,
//! then serve HTTP until the shutdown future completes, and flush.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use mammoth_actors::meta::{self, MetaChange};
use mammoth_actors::records::{IssuedKey, ProjectRecord};
use mammoth_actors::registry::Registry;
use mammoth_cluster::{Cluster, ClusterConfig, ClusterKey, Timing};
use mammoth_storage::{Durability, Storage, StorageConfig};
use tokio::net::TcpListener;

use crate::config::{Config, DurabilityMode, StorageMode};
use crate::http;
use crate::keys::KeySigner;
use crate::mail::Mailer;
use crate::operators::{BOOTSTRAP_EMAIL, Operators};
use crate::state::AppState;

/// Meta key under which the API-key signing secret is stored.
const SECRET_META_KEY: &str = "api_key_secret";

/// The project and key made on first start, to print once.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The `default` project.
    pub project: ProjectRecord,
    /// Its write key, secret included.
    pub key: IssuedKey,
}

/// A loaded server, bound but not yet serving.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    storage: Storage,
    bootstrap: Option<Bootstrap>,
    operator_link: Option<String>,
    /// Cluster mode: the raft member and the task serving its peer port.
    cluster: Option<(Arc<Cluster>, tokio::task::JoinHandle<()>)>,
}

impl Server {
    /// Opens storage, loads every project and rebuilds its indexes, and bootstraps the `default`
    /// project when there is none. Connections wait in the listener's backlog meanwhile.
    pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
        let addr = listener.local_addr().context("reading the bound address")?;
        if let Some(secret) = &config.jwt_secret
            && secret.len() < MIN_JWT_SECRET_BYTES
        {
            anyhow::bail!(
                "the JWT secret (--jwt-secret, MAMMOTH_JWT_SECRET or --jwt-secret-file) is {} bytes; \
                 it must be at least {MIN_JWT_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                secret.len()
            );
        }
        let storage_config = storage_config(&config.storage);
        let started = Instant::now();
        let (storage, mut snapshot) = tokio::task::spawn_blocking(move || {
            if let Some(path) = &storage_config.path
                && let Some(dir) = path.parent()
            {
                private_dir(dir)?;
            }
            let opened = Storage::open(storage_config.clone()).context("opening storage")?;
            if let Some(path) = &storage_config.path {
                private_file(path)?;
            }
            Ok::<_, anyhow::Error>(opened)
        })
        .await??;

        let secret = match (&config.jwt_secret, snapshot.meta.remove(SECRET_META_KEY)) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, Some(stored)) => stored.to_vec(),
            (None, None) => {
                let secret = config.env.random::<32>().to_vec();
                let change = MetaChange::Put {
                    key: SECRET_META_KEY.into(),
                    value: Bytes::from(secret.clone()),
                };
                meta::apply(&storage, vec![change])
                    .await
                    .context("storing the signing secret")?;
                secret
            }
        };
        let signer = Arc::new(KeySigner::new(&secret));
        let cluster = match &config.cluster {
            None => None,
            Some(settings) => Some(start_cluster(settings, &config, &storage, &snapshot).await?),
        };
        let mut meta = std::mem::take(&mut snapshot.meta);

        let documents: usize = snapshot
            .projects
            .values()
            .map(|p| p.docs.values().map(|c| c.len()).sum::<usize>())
            .sum();
        let projects = snapshot.projects.len();
        let registry = Registry::start_with_quota(
            storage.clone(),
            snapshot,
            config.env.clone(),
            signer.minter(),
            config.max_project_bytes,
        )
        .await
        .context("starting projects")?;
        tracing::info!(
            projects,
            documents,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded"
        );

        // A cluster's nodes would each make a `default` project of their own: operators create
        // projects through the admin API on the owner instead.
        let bootstrap = if registry.projects().is_empty() && cluster.is_none() {
            let (project, key) = registry
                .create_project("default".into())
                .await
                .context("creating the default project")?;
            Some(Bootstrap { project, key })
        } else {
            None
        };

        let mut state = AppState::new(registry, signer, Arc::new(config), addr, storage.clone());
        if let Some((member, _)) = &cluster {
            member.advertise_http(crate::cluster::advertised(addr, member));
            state.cluster = Some(Arc::new(crate::cluster::ClusterNode::start(
                Arc::clone(member),
                state.registry.clone(),
                storage.clone(),
            )));
        }
        state.operators = Operators::load(
            &state.config.admin_emails,
            state.config.env.clone(),
            storage.clone(),
            &mut meta,
        );
        state.request_totals = crate::state::RequestTotals::load(storage.clone(), &mut meta);
        state.request_totals.spawn_flusher(state.registry.clone());
        // A fresh data directory with no admin emails: the one way in is a link printed at start.
        let operator_link = if bootstrap.is_some() && !state.operators.has_emails() {
            let token = state
                .operators
                .issue_link(BOOTSTRAP_EMAIL)
                .await
                .context("storing the start-up sign-in link")?;
            Some(crate::credentials::link_url(&state.public_url, &token))
        } else {
            None
        };
        if let Some(url) = &state.config.smtp_url {
            state.mailer = Mailer::smtp(url, &state.public_url)?;
        }

        Ok(Server {
            listener,
            addr,
            state,
            storage,
            bootstrap,
            operator_link,
            cluster,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `default` project and key, when this start created them.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    /// The mailer (the dev outbox unless SMTP is configured).
    pub fn mailer(&self) -> &crate::mail::Mailer {
        &self.state.mailer
    }

    /// The one-time dashboard sign-in link made at start (fresh data directory, no admin emails).
    pub fn operator_link(&self) -> Option<&str> {
        self.operator_link.as_deref()
    }

    /// Every path the router serves (see [`http::route_paths`]).
    pub fn route_paths(&self) -> Vec<String> {
        http::route_paths(&crate::app::app(self.state.clone()))
    }

    /// The password hashing pool (tests hold it).
    pub fn passwords(&self) -> &crate::password::PasswordPool {
        &self.state.passwords
    }

    /// The project registry.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish (for at most the
    /// configured grace; the connections still open then are dropped), stops the actors and
    /// commits everything pending.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            listener,
            state,
            storage,
            cluster,
            ..
        } = self;
        let registry = state.registry.clone();
        let totals = state.request_totals.clone();
        let limits = state.config.connections;
        let app = crate::app::app(state);
        crate::connections::serve(listener, app, limits, shutdown).await;
        if let Err(e) = totals.flush(&registry).await {
            tracing::warn!(error = %e, "could not store the request totals at shutdown");
        }
        if let Some((member, peer)) = cluster {
            member.shutdown().await;
            peer.abort();
        }
        registry.stop();
        let closed = tokio::task::spawn_blocking(move || storage.close()).await;
        closed?.context("flushing storage")?;
        Ok(())
    }
}

/// Starts this node's raft member over `storage`, routes every later submit through it, and
/// serves its peer port.
async fn start_cluster(
    settings: &crate::config::ClusterSettings,
    config: &Config,
    storage: &Storage,
    loaded: &mammoth_storage::Snapshot,
) -> anyhow::Result<(Arc<Cluster>, tokio::task::JoinHandle<()>)> {
    let Some(jwt_secret) = &config.jwt_secret else {
        anyhow::bail!(
            "cluster mode needs the same --jwt-secret on every node (it signs API keys and, derived, every peer request)"
        );
    };
    let StorageMode::Disk { dir, .. } = &config.storage else {
        anyhow::bail!("cluster mode needs --data (the raft log lives beside mammoth.redb)");
    };
    let peer_addr = settings
        .peers
        .get(&settings.node_id)
        .with_context(|| format!("--cluster does not list --node-id {}", settings.node_id))?
        .clone();
    let peer_listener = TcpListener::bind(&peer_addr)
        .await
        .with_context(|| format!("binding the peer address {peer_addr}"))?;
    let member = Cluster::start(
        ClusterConfig {
            node_id: settings.node_id,
            peers: settings.peers.clone(),
            dir: dir.clone(),
            key: ClusterKey::derive(jwt_secret.as_bytes()),
            timing: Timing::default(),
        },
        storage.clone(),
        loaded,
    )
    .await?;
    let member = Arc::new(member);
    storage.replicate_through(member.clone())?;
    let router = member.router();
    let peer = tokio::spawn(async move {
        if let Err(e) = axum::serve(peer_listener, router).await {
            tracing::error!(error = %e, "the peer listener stopped");
        }
    });
    tracing::info!(node = settings.node_id, peer = %peer_addr, "cluster member started");
    Ok((member, peer))
}

/// The shortest `--jwt-secret` accepted (HS256 wants a key as long as its hash).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Creates the data directory (and missing parents) `0700`; an existing one is left
/// as it is.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Makes a data file readable by its owner only.
fn private_file(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn storage_config(mode: &StorageMode) -> StorageConfig {
    match mode {
        StorageMode::InMemory => StorageConfig::default(),
        StorageMode::Disk { dir, durability } => StorageConfig {
            path: Some(dir.join("mammoth.redb")),
            durability: match durability {
                DurabilityMode::Sync => Durability::Sync,
                DurabilityMode::Periodic { interval } => Durability::Periodic {
                    interval: *interval,
                },
            },
            ..StorageConfig::default()
        },
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

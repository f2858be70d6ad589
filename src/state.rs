//! The state every handler may use: cheap handles only (the registry, the key signer, settings,
//! the mailer, the password pool, operator accounts, cluster membership, request totals). It sits
//! below every module that serves requests (`http`, `dashboard`, `telemetry`, the admin service),
//! so none of them needs another to reach it.

mod totals;

use std::net::SocketAddr;
use std::sync::Arc;

use mammoth_actors::registry::Registry;

use crate::config::Config;
use crate::keys::KeySigner;
use crate::mail::Mailer;
use crate::operators::Operators;
use crate::password::PasswordPool;
pub use totals::RequestTotals;

/// Cheap handles every handler may use.
#[derive(Clone)]
pub struct AppState {
    /// Finds projects.
    pub registry: Registry,
    /// Verifies API keys.
    pub signer: Arc<KeySigner>,
    /// Settings.
    pub config: Arc<Config>,
    /// Base of links in emails.
    pub public_url: Arc<str>,
    /// The metrics recorder, when this server owns one.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The storage writer, for its counters.
    pub storage: mammoth_storage::Storage,
    /// Sends sign-in links (the dev outbox unless the server sets SMTP).
    pub mailer: Mailer,
    /// Hashes and verifies passwords off the async workers, a bounded number at a time.
    pub passwords: PasswordPool,
    /// Operators' sign-in links and dashboard sessions.
    pub operators: Operators,
    /// This node's cluster membership (`--cluster`); `None` on a single node.
    pub cluster: Option<Arc<crate::cluster::ClusterNode>>,
    /// Per-project request totals across restarts (the dashboard's operations page).
    pub request_totals: RequestTotals,
}

impl AppState {
    /// State for a server bound to `addr`.
    pub fn new(
        registry: Registry,
        signer: Arc<KeySigner>,
        config: Arc<Config>,
        addr: SocketAddr,
        storage: mammoth_storage::Storage,
    ) -> AppState {
        let public_url = config.public_url_for(addr).into();
        let metrics = config.metrics.clone();
        let mailer = Mailer::outbox(config.env.clone());
        let operators = Operators::load(
            &config.admin_emails,
            config.env.clone(),
            storage.clone(),
            &mut Default::default(),
        );
        AppState {
            registry,
            signer,
            config,
            public_url,
            metrics,
            storage,
            mailer,
            passwords: PasswordPool::for_this_machine(),
            operators,
            cluster: None,
            request_totals: Default::default(),
        }
    }
}

//! The `mammoth` binary: parse flags, start logging, bind, serve.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mammoth::config::{Config, DurabilityMode, StorageMode, parse_duration};
use mammoth::server::{Server, shutdown_signal};
use tracing_subscriber::filter::LevelFilter;

/// mimalloc rather than glibc's malloc: measured in docs/DESIGN.md ("Write path"), throughput
/// and resident memory both.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mammoth",
    version,
    about = "An in-memory document database with persistence, served over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Load-test a Mammoth over HTTP (or one started in this process) and print req/s and
    /// latency percentiles; --ceiling compares with a bare HTTP server.
    Bench(mammoth_harness::BenchArgs),
    /// Take an online backup of a running server and copy it into --out.
    Backup(mammoth::datacli::BackupArgs),
    /// Stream one project's documents from a running server into an NDJSON file.
    Export(mammoth::datacli::ExportArgs),
    /// Stream an NDJSON file (as `export` writes it) into a project; reports bad lines.
    Import(mammoth::datacli::ImportArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MAMMOTH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory (holds mammoth.redb).
    #[arg(
        long,
        env = "MAMMOTH_DATA",
        default_value = "./mammoth-data",
        conflicts_with = "in_memory"
    )]
    data: PathBuf,
    /// Keep everything in memory; nothing touches disk.
    #[arg(long, env = "MAMMOTH_IN_MEMORY")]
    in_memory: bool,
    /// When a write is acknowledged: after an fsync'd group commit (sync), or from memory with a
    /// snapshot every --snapshot-interval (periodic).
    #[arg(long, env = "MAMMOTH_DURABILITY", value_enum, default_value_t = DurabilityArg::Sync)]
    durability: DurabilityArg,
    /// Time between snapshots with --durability periodic (e.g. 1s, 500ms, 2m).
    #[arg(long, env = "MAMMOTH_SNAPSHOT_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    snapshot_interval: Duration,
    /// Accepted as `Authorization: Bearer <token>` on /admin/v1/* and /metrics.
    #[arg(long, env = "MAMMOTH_ROOT_TOKEN", hide_env_values = true)]
    root_token: Option<String>,
    /// Reads the root token from this file (keeps it out of `ps`); one trailing newline is
    /// dropped.
    #[arg(long, env = "MAMMOTH_ROOT_TOKEN_FILE", conflicts_with = "root_token")]
    root_token_file: Option<PathBuf>,
    /// Overrides the stored secret that signs API keys; at least 32 bytes.
    #[arg(long, env = "MAMMOTH_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Reads the JWT secret from this file (keeps it out of `ps`); one trailing newline is
    /// dropped.
    #[arg(long, env = "MAMMOTH_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    jwt_secret_file: Option<PathBuf>,
    /// Base of links put in emails (default http://<listen address>).
    #[arg(long, env = "MAMMOTH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Send sign-in mail through this SMTP server: smtp://host:port, smtp://host:port?tls=required
    /// or smtps://user:password@host:port (default: the dev outbox at /admin/v1/outbox).
    #[arg(long, env = "MAMMOTH_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Log lines as human-readable text or as one JSON object per line.
    #[arg(long, env = "MAMMOTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Comma-separated emails that may sign in to the dashboard at /dashboard by magic link.
    #[arg(long, env = "MAMMOTH_ADMIN_EMAILS", value_delimiter = ',')]
    admin_emails: Vec<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "MAMMOTH_LOG", default_value = "info")]
    log: LevelFilter,
    /// After start, print one JSON line with `url`, `project`, `write_key`, `read_key` and
    /// `root_token` (generating a root token when none is set), for test fixtures to read.
    #[arg(long, env = "MAMMOTH_READY_JSON")]
    ready_json: bool,
    /// Most connections open at once; more are closed as soon as they are accepted.
    #[arg(long, env = "MAMMOTH_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Each project's quota on the encoded bytes of its stored documents; a write past it
    /// answers 413 (deletes and shrinking writes always pass). 0 means no limit.
    #[arg(long, env = "MAMMOTH_MAX_PROJECT_BYTES", default_value_t = 0)]
    max_project_bytes: u64,
    /// This node's id in the cluster (with --cluster).
    #[arg(long, env = "MAMMOTH_NODE_ID", requires = "cluster")]
    node_id: Option<u64>,
    /// Every node's peer address: 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT (the same on every node;
    /// with --node-id, --jwt-secret and --data). This node serves raft on its own entry.
    #[arg(long, env = "MAMMOTH_CLUSTER", requires = "node_id")]
    cluster: Option<String>,
    /// Enable test-only routes (a panic hook). Never in production.
    #[arg(long, env = "MAMMOTH_TEST_HOOKS", hide = true)]
    test_hooks: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    Sync,
    Periodic,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => mammoth_harness::main(args, mammoth::testing::bench_launcher),
        Command::Backup(args) => mammoth::datacli::backup(args),
        Command::Export(args) => mammoth::datacli::export(args),
        Command::Import(args) => mammoth::datacli::import(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log);
    match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    let storage = if args.in_memory {
        StorageMode::InMemory
    } else {
        let durability = match args.durability {
            DurabilityArg::Sync => DurabilityMode::Sync,
            DurabilityArg::Periodic => DurabilityMode::Periodic {
                interval: args.snapshot_interval,
            },
        };
        StorageMode::Disk {
            dir: args.data,
            durability,
        }
    };
    let env = mammoth_actors::env::Env::default();
    let root_token = match &args.root_token_file {
        Some(path) => Some(secret_file(path, "--root-token-file")?),
        None => args.root_token,
    };
    let jwt_secret = match &args.jwt_secret_file {
        Some(path) => Some(secret_file(path, "--jwt-secret-file")?),
        None => args.jwt_secret,
    };
    let mut root_token = root_token.filter(|t| !t.is_empty());
    if args.ready_json && root_token.is_none() {
        root_token = Some(format!(
            "root_{}",
            mammoth_actors::ids::hex(&env.random::<16>())
        ));
    }
    let config = Config {
        storage,
        env,
        root_token: root_token.clone(),
        jwt_secret: jwt_secret.filter(|s| !s.is_empty()),
        public_url: args.public_url,
        test_hooks: args.test_hooks,
        metrics: mammoth::telemetry::install(),
        smtp_url: args.smtp_url.filter(|u| !u.is_empty()),
        admin_emails: args
            .admin_emails
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect(),
        connections: mammoth::connections::ConnectionLimits {
            max_connections: args.max_connections as usize,
            ..Default::default()
        },
        max_project_bytes: args.max_project_bytes,
        cluster: match (&args.cluster, args.node_id) {
            (Some(list), Some(node_id)) => Some(mammoth::config::ClusterSettings {
                node_id,
                peers: mammoth_cluster::parse_peers(list)?,
            }),
            _ => None,
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let server = Server::start(config, listener).await?;
        println!("listening on http://{}", server.local_addr());
        if let Some(boot) = server.bootstrap().filter(|_| !args.ready_json) {
            println!(
                "created project \"{}\" (id {})",
                boot.project.name, boot.project.id
            );
            println!("write key: {}", boot.key.key);
            println!(
                "try: curl -H 'X-API-Key: {}' http://{}/v1/collections",
                boot.key.key,
                server.local_addr()
            );
        }
        if args.ready_json {
            println!("{}", ready_line(&server, root_token.as_deref()).await?);
        }
        if let Some(link) = server.operator_link() {
            println!("dashboard sign-in link (single use, 15 minutes): {link}");
        }
        server.serve(shutdown_signal()).await
    })?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A secret kept in a file, without its trailing newline.
fn secret_file(path: &std::path::Path, flag: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {flag} {}", path.display()))?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    anyhow::ensure!(!secret.is_empty(), "{flag} {} is empty", path.display());
    Ok(secret.to_owned())
}

/// The `--ready-json` line. Keys are known only when this start made the `default` project.
async fn ready_line(server: &Server, root_token: Option<&str>) -> anyhow::Result<String> {
    let (mut project, mut write_key, mut read_key) = (None, None, None);
    if let Some(boot) = server.bootstrap() {
        let handle = server
            .registry()
            .project(&boot.project.id)
            .context("the default project")?;
        let read = server
            .registry()
            .create_key(
                &handle,
                "read".into(),
                mammoth_actors::records::Permission::Read,
            )
            .await?;
        project = Some(boot.project.id.clone());
        write_key = Some(boot.key.key.clone());
        read_key = Some(read.key);
    }
    Ok(serde_json::json!({
        "url": format!("http://{}", server.local_addr()),
        "project": project,
        "write_key": write_key,
        "read_key": read_key,
        "root_token": root_token,
    })
    .to_string())
}

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
    /// Time between snapshots with --durability periodic (e.g. 1s, 500ms).
    #[arg(long, env = "MAMMOTH_SNAPSHOT_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    snapshot_interval: Duration,
    /// Accepted as `Authorization: Bearer <token>` on /admin/v1/*.
    #[arg(long, env = "MAMMOTH_ROOT_TOKEN", hide_env_values = true)]
    root_token: Option<String>,
    /// Overrides the stored secret that signs API keys.
    #[arg(long, env = "MAMMOTH_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Base of links put in emails (default http://<listen address>).
    #[arg(long, env = "MAMMOTH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "MAMMOTH_LOG", default_value = "info")]
    log: LevelFilter,
    /// Enable test-only routes (a panic hook). Never in production.
    #[arg(long, env = "MAMMOTH_TEST_HOOKS", hide = true)]
    test_hooks: bool,
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
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(args.log)
        .init();
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
    let config = Config {
        storage,
        root_token: args.root_token.filter(|t| !t.is_empty()),
        jwt_secret: args.jwt_secret.filter(|s| !s.is_empty()),
        public_url: args.public_url,
        test_hooks: args.test_hooks,
        ..Config::in_memory()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let server = Server::start(config, listener).await?;
        println!("listening on http://{}", server.local_addr());
        if let Some(boot) = server.bootstrap() {
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
        server.serve(shutdown_signal()).await
    })?;
    tracing::info!("stopped cleanly");
    Ok(())
}

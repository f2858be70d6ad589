//! `mammoth backup`, `mammoth export` and `mammoth import`: the command-line side of CONTRACT
//! section 15, talking to a running server over its admin routes with the root token.
//!
//! Every transfer is streamed through a fixed 64 KiB buffer, so memory stays bounded whatever
//! the size: export copies the response body to `FILE.partial` and renames it when the body
//! ended cleanly; import sends the file as a chunked request body read as the server consumes
//! it. A progress bar (bytes, lines, rate, ETA where the total is known) is drawn on stderr
//! when stdout is a terminal, and hidden otherwise (scripts and tests see only the summary).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Where the server is and how to act as its operator.
#[derive(clap::Args, Debug)]
pub struct Remote {
    /// The server's base URL.
    #[arg(long, env = "MAMMOTH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The root token the server was started with (`mammoth serve --root-token`).
    #[arg(long, env = "MAMMOTH_ROOT_TOKEN", hide_env_values = true)]
    pub root_token: Option<String>,
    /// Reads the root token from this file (keeps it out of `ps`); one trailing newline is
    /// dropped.
    #[arg(long, env = "MAMMOTH_ROOT_TOKEN_FILE", conflicts_with = "root_token")]
    pub root_token_file: Option<PathBuf>,
}

/// `mammoth backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Directory to copy the backup into (as `DIR/<stamp>/mammoth.redb`, which `mammoth serve
    /// --data DIR/<stamp>` restores). The server writes the backup beside its data directory;
    /// this copy needs that path readable from here (the same host or a shared disk).
    #[arg(long)]
    pub out: PathBuf,
}

/// `mammoth export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The project's id.
    #[arg(long)]
    pub project: String,
    /// The NDJSON file to write (one `{"collection", "document"}` line per document).
    #[arg(long)]
    pub out: PathBuf,
}

/// `mammoth import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The project's id.
    #[arg(long)]
    pub project: String,
    /// The NDJSON file to read, as `mammoth export` writes it.
    pub file: PathBuf,
}

const BUFFER: usize = 64 << 10;

impl Remote {
    fn token(&self) -> anyhow::Result<String> {
        let token = match &self.root_token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --root-token-file {}", path.display()))?;
                let t = text.strip_suffix('\n').unwrap_or(&text);
                t.strip_suffix('\r').unwrap_or(t).to_owned()
            }
            None => self.root_token.clone().unwrap_or_default(),
        };
        anyhow::ensure!(
            !token.is_empty(),
            "no root token: pass --root-token, --root-token-file or MAMMOTH_ROOT_TOKEN"
        );
        Ok(token)
    }

    fn endpoint(&self, path: &str) -> anyhow::Result<String> {
        let base = url::Url::parse(&self.url)
            .with_context(|| format!("--url '{}' is not a URL", self.url))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https"),
            "--url '{}' is not an http:// URL",
            self.url
        );
        Ok(format!("{}{path}", self.url.trim_end_matches('/')))
    }

    fn client(&self) -> anyhow::Result<reqwest::blocking::Client> {
        reqwest::blocking::Client::builder()
            // Transfers of any size: no overall deadline, only one on connecting.
            .timeout(None)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")
    }
}

/// A bar on stderr when stdout is a terminal; hidden otherwise.
fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    let target = if std::io::stdout().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), target).with_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::with_draw_target(None, target).with_style(
            ProgressStyle::with_template(
                "{prefix} {spinner} {bytes} {binary_bytes_per_sec} {elapsed} {msg}",
            )
            .expect("a valid template"),
        ),
    };
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A failed answer as one line: the status and CONTRACT section 3's `error.message`.
fn failure(what: &str, response: reqwest::blocking::Response) -> anyhow::Error {
    let status = response.status();
    let text = response.text().unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    anyhow::anyhow!("{what}: the server answered {status}: {message}")
}

/// Counts bytes and newlines as they pass, and moves the bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
    lines: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.bar.inc(n as u64);
        self.bar.set_message(format!("{} lines", self.lines));
        Ok(n)
    }
}

/// `mammoth export`: streams the project's NDJSON into `--out`.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let token = args.remote.token()?;
    let client = args.remote.client()?;
    let url = args
        .remote
        .endpoint(&format!("/admin/v1/projects/{}/export", args.project))?;
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        return Err(failure("export", response));
    }
    let seq = response
        .headers()
        .get("x-mammoth-seq")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let partial = partial_path(&args.out);
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::with_capacity(BUFFER, file);
    let bar = bar(None, "export");
    let mut body = Counting {
        inner: response,
        bar: bar.clone(),
        lines: 0,
    };
    let copied = copy(&mut body, &mut out);
    bar.finish_and_clear();
    if let Err(e) = copied.and_then(|_| out.flush().map_err(anyhow::Error::from)) {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context("export cut short: nothing written"));
    }
    drop(out);
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("renaming to {}", args.out.display()))?;
    println!(
        "exported {} documents ({} bytes, seq {seq}) to {}",
        body.lines,
        bar.position(),
        args.out.display()
    );
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> anyhow::Result<()> {
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        to.write_all(&buf[..n])?;
    }
}

/// `mammoth import`: streams the file to the import route and reports each bad line. Fails
/// (exit status 1) when any line was refused, after printing them all.
pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    let token = args.remote.token()?;
    let client = args.remote.client()?;
    let url = args
        .remote
        .endpoint(&format!("/admin/v1/projects/{}/import", args.project))?;
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let total = file.metadata().map(|m| m.len()).ok();
    let bar = bar(total, "import");
    let body = reqwest::blocking::Body::new(Counting {
        inner: std::io::BufReader::with_capacity(BUFFER, file),
        bar: bar.clone(),
        lines: 0,
    });
    let sent = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send();
    bar.finish_and_clear();
    let response = sent.with_context(|| format!("POST {url}"))?;
    if !response.status().is_success() {
        return Err(failure("import", response));
    }
    let answer: Value = response.json().context("reading the import answer")?;
    let imported = answer["imported"].as_u64().unwrap_or(0);
    let errors = answer["errors"].as_array().cloned().unwrap_or_default();
    let error_count = answer["error_count"]
        .as_u64()
        .unwrap_or(errors.len() as u64);
    let mut stderr = std::io::stderr().lock();
    for e in &errors {
        let line = e["line"].as_u64().unwrap_or(0);
        let message = e["error"]["message"].as_str().unwrap_or("refused");
        let code = e["error"]["code"].as_str().unwrap_or("error");
        let _ = writeln!(stderr, "{}:{line}: {code}: {message}", args.file.display());
    }
    if error_count > errors.len() as u64 {
        let _ = writeln!(
            stderr,
            "... and {} more bad lines",
            error_count - errors.len() as u64
        );
    }
    println!("imported {imported} documents, {error_count} bad lines");
    if error_count > 0 {
        bail!("{error_count} lines were not imported");
    }
    Ok(())
}

/// `mammoth backup`: asks the server for an online backup, then copies it into `--out`.
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let token = args.remote.token()?;
    let client = args.remote.client()?;
    let url = args.remote.endpoint("/admin/v1/backups")?;
    let spinner = bar(None, "backup (server side)");
    let sent = client.post(&url).bearer_auth(&token).send();
    spinner.finish_and_clear();
    let response = sent.with_context(|| format!("POST {url}"))?;
    if !response.status().is_success() {
        return Err(failure("backup", response));
    }
    let answer: Value = response.json().context("reading the backup answer")?;
    let path = PathBuf::from(answer["path"].as_str().context("the answer has no path")?);
    let source = path.join("mammoth.redb");
    let name = path.file_name().context("the backup path has no name")?;
    let mut from = File::open(&source).with_context(|| {
        format!(
            "the server wrote the backup to {} on its host, which is not readable from here; copy \
             that directory instead",
            path.display()
        )
    })?;
    let dest_dir = args.out.join(name);
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    let dest = dest_dir.join("mammoth.redb");
    let partial = partial_path(&dest);
    let total = from.metadata().map(|m| m.len()).ok();
    let bar = bar(total, "copy");
    let mut out = BufWriter::with_capacity(
        BUFFER,
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
    );
    let mut counting = Counting {
        inner: &mut from,
        bar: bar.clone(),
        lines: 0,
    };
    let copied = copy(&mut counting, &mut out).and_then(|_| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    });
    bar.finish_and_clear();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context("copying the backup"));
    }
    std::fs::rename(&partial, &dest).with_context(|| format!("renaming to {}", dest.display()))?;
    println!(
        "backup of seq {} ({} documents, {} bytes) copied to {} (restore: mammoth serve --data {})",
        answer["seq"],
        answer["documents"],
        bar.position(),
        dest_dir.display(),
        dest_dir.display()
    );
    Ok(())
}

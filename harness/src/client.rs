//! The HTTP side of the harness: one keep-alive HTTP/1 connection per worker, built on hyper's
//! connection-level client, so a run holds exactly `--connections` sockets with no pool in
//! between, and the requests each operation sends.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::workload::{self, EXAMPLE_QUERY, OR_QUERY, Op};

/// Where requests go, and with which key and collection.
#[derive(Debug)]
pub(crate) struct Target {
    /// The server's socket address.
    pub(crate) addr: SocketAddr,
    /// The `Host` header.
    pub(crate) host: HeaderValue,
    /// The `X-API-Key` header.
    pub(crate) key: HeaderValue,
    /// `/v1/collections/<collection>`.
    pub(crate) base: String,
    /// Documents `0..docs` exist (get and update pick among them).
    pub(crate) docs: u64,
    /// Batch bodies built once and sent in turn: building 100 documents of JSON per request in
    /// the load client took CPU from the server it measures (both share the host's cores). The
    /// server picks the ids, so sending a body again creates new documents.
    batch_bodies: OnceLock<Vec<Bytes>>,
}

/// Distinct batch bodies a target cycles through.
const BATCH_BODIES: usize = 64;

impl Target {
    /// A target at `url` (`http://host:port`) for `collection`.
    pub(crate) async fn resolve(
        url: &str,
        key: &str,
        collection: &str,
        docs: u64,
    ) -> anyhow::Result<Target> {
        let parsed = url::Url::parse(url).with_context(|| format!("'{url}' is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!(
                "'{url}' is not an http:// URL: the harness speaks plain HTTP/1.1 (no TLS), to a \
                 server on this host or a trusted network"
            );
        }
        let host = parsed
            .host_str()
            .with_context(|| format!("'{url}' has no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map(Iterator::collect)
            .unwrap_or_default();
        // `localhost` may resolve to ::1 first while the server listens on 127.0.0.1 only:
        // take the first address that accepts a connection.
        let mut addr = *addrs
            .first()
            .with_context(|| format!("cannot resolve the host of '{url}'"))?;
        for candidate in &addrs {
            if TcpStream::connect(candidate).await.is_ok() {
                addr = *candidate;
                break;
            }
        }
        let host_header = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Target {
            addr,
            host: HeaderValue::from_str(&host_header)
                .with_context(|| format!("'{url}' has an invalid host"))?,
            key: HeaderValue::from_str(key.trim())
                .context("the API key holds characters that cannot go in a header")?,
            base: format!("/v1/collections/{collection}"),
            docs,
            batch_bodies: OnceLock::new(),
        })
    }

    /// A request with the target's headers.
    pub(crate) fn request(&self, method: Method, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = path
            .parse()
            .expect("paths built by the harness are valid URIs");
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert("x-api-key", self.key.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        request
    }

    /// The request for one operation of a workload.
    pub(crate) fn op_request(&self, op: Op, rng: &mut fastrand::Rng) -> Request<Full<Bytes>> {
        match op {
            Op::Get => {
                let id = workload::doc_id(rng.u64(0..self.docs));
                let path = format!("{}/documents/{id}", self.base);
                self.request(Method::GET, &path, Bytes::new())
            }
            Op::Query => {
                let path = format!("{}/query", self.base);
                self.request(
                    Method::POST,
                    &path,
                    Bytes::from_static(EXAMPLE_QUERY.as_bytes()),
                )
            }
            Op::Or => {
                let path = format!("{}/query", self.base);
                self.request(Method::POST, &path, Bytes::from_static(OR_QUERY.as_bytes()))
            }
            Op::Create => {
                let path = format!("{}/documents", self.base);
                self.request(Method::POST, &path, workload::create_body(rng))
            }
            Op::Update => {
                let id = workload::doc_id(rng.u64(0..self.docs));
                let path = format!("{}/documents/{id}", self.base);
                self.request(Method::PATCH, &path, workload::update_body(rng))
            }
            Op::Batch => {
                let bodies = self.batch_bodies.get_or_init(|| {
                    let collection = self.base.rsplit('/').next().unwrap_or_default();
                    let mut seeded = fastrand::Rng::with_seed(0xba7c);
                    (0..BATCH_BODIES)
                        .map(|_| workload::batch_body(collection, &mut seeded))
                        .collect()
                });
                let body = bodies[rng.usize(0..bodies.len())].clone();
                self.request(Method::POST, "/v1/batch", body)
            }
        }
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// Connecting failed.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The connection failed while sending or receiving.
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// One keep-alive connection to a target; it reconnects on the next request after a failure.
pub(crate) struct Conn {
    target: Arc<Target>,
    /// The open connection's request channel; `None` after a failure.
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Opens a connection.
    pub(crate) async fn open(target: Arc<Target>) -> Result<Conn, SendError> {
        let mut conn = Conn {
            target,
            sender: None,
        };
        conn.sender = Some(conn.connect().await?);
        Ok(conn)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes; errors surface on `send`.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The target this connection talks to.
    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Sends a request and answers the response with its body unread (a stream).
    pub(crate) async fn stream(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, SendError> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        self.sender = Some(sender);
        Ok(response)
    }

    /// Sends a request and reads the whole response body.
    pub(crate) async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => match self.connect().await {
                Ok(sender) => sender,
                Err(e) => {
                    // A refused connect returns at once: do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return Err(e);
                }
            },
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        self.sender = Some(sender);
        Ok((status, body))
    }
}

/// The `message` of a Mammoth error body, or the body itself.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

/// Checks that `target` answers and accepts its key, with one clear sentence when not.
pub(crate) async fn probe(target: &Arc<Target>, url: &str) -> anyhow::Result<()> {
    let mut conn = tokio::time::timeout(Duration::from_secs(5), Conn::open(target.clone()))
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach {url}: no answer within 5 s"))?
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let request = target.request(Method::GET, "/v1/collections", Bytes::new());
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), conn.send(request))
        .await
        .map_err(|_| anyhow::anyhow!("{url} did not answer GET /v1/collections within 5 s"))?
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => bail!(
            "{url} rejected the API key ({status}): {}",
            error_message(&body)
        ),
        _ => bail!(
            "{url} answered GET /v1/collections with {status}; is it a Mammoth server? {}",
            error_message(&body)
        ),
    }
}

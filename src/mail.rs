//! Outgoing mail: the sign-in links of CONTRACT section 8.
//!
//! Two real mailers behind one [`Mailer`]:
//! - **SMTP** (`MAMMOTH_SMTP_URL`), through lettre's async tokio transport with rustls:
//!   `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
//!   `smtps://host:port` (TLS from the first byte); `user:password@` for AUTH. The sender
//!   address is the URL's `from` query parameter (`?from=login@app.example.com`), else
//!   `noreply@<host of the public URL>` (`noreply@localhost` when that host is an IP address).
//! - **The dev outbox** (the default): keeps the last [`OUTBOX_CAPACITY`] messages in memory for
//!   `GET /admin/v1/outbox`, and logs each link at `info`. This is the one place a secret (the
//!   link's token) is logged, on purpose: it is how a developer signs in without a mail server.
//!
//! Sending never blocks the request that asked for it: [`Mailer::send`] puts the message on a
//! bounded queue ([`QUEUE_CAPACITY`]) drained by one task that delivers up to [`MAX_PARALLEL`]
//! messages at once. A full queue drops the message with a warning: the HTTP answer is the same
//! `202` either way, and queueing without bound would let a burst exhaust memory. Delivery
//! failures are logged without the message (it holds a sign-in token).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mammoth_actors::env::Env;
use mammoth_actors::ids::rfc3339_millis;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

/// Messages the dev outbox keeps; older ones are dropped.
pub const OUTBOX_CAPACITY: usize = 100;
/// Messages waiting for SMTP delivery at most.
pub const QUEUE_CAPACITY: usize = 1_024;
/// SMTP deliveries in flight at most.
pub const MAX_PARALLEL: usize = 4;
/// How long one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (holds the link).
    pub body: String,
    /// The sign-in link the body carries.
    pub link: String,
}

/// A message as the dev outbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxMessage {
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// The sign-in link.
    pub link: String,
    /// RFC 3339 time it was "sent".
    pub sent_at: String,
}

/// Why a mailer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL does not parse or names an unknown scheme.
    #[error(
        "MAMMOTH_SMTP_URL is not usable ({0}); use smtp://host:port, smtp://host:port?tls=required or smtps://user:password@host:port"
    )]
    BadUrl(String),
    /// The sender address does not parse.
    #[error("the sender address '{0}' is not a valid email address; set ?from=name@domain")]
    BadFrom(String),
}

/// Sends mail. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    inner: Arc<Transport>,
}

#[derive(Debug)]
enum Transport {
    Outbox(Outbox),
    Smtp(SmtpQueue),
}

impl Mailer {
    /// The built-in dev mailer: an in-memory outbox, stamped with `env`'s clock.
    pub fn outbox(env: Env) -> Mailer {
        Mailer {
            inner: Arc::new(Transport::Outbox(Outbox {
                messages: Mutex::new(VecDeque::with_capacity(OUTBOX_CAPACITY)),
                env,
            })),
        }
    }

    /// Delivery through the SMTP server at `url`; `public_url` names the default sender's domain.
    /// Starts the delivery task, so it must be called inside a tokio runtime.
    pub fn smtp(url: &str, public_url: &str) -> Result<Mailer, MailError> {
        let parsed = url::Url::parse(url).map_err(|e| MailError::BadUrl(e.to_string()))?;
        let from = match parsed.query_pairs().find(|(k, _)| k == "from") {
            Some((_, from)) => from.into_owned(),
            None => default_sender(public_url),
        };
        let from: Mailbox = from.parse().map_err(|_| MailError::BadFrom(from.clone()))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::BadUrl(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(deliver(rx, transport, from));
        Ok(Mailer {
            inner: Arc::new(Transport::Smtp(SmtpQueue { queue })),
        })
    }

    /// Sends `mail` in the background; never waits and never fails (problems are logged).
    pub fn send(&self, mail: Mail) {
        match &*self.inner {
            Transport::Outbox(outbox) => outbox.keep(mail),
            Transport::Smtp(smtp) => {
                if smtp.queue.try_send(mail).is_err() {
                    tracing::warn!(
                        capacity = QUEUE_CAPACITY,
                        "the mail queue is full; a sign-in email was dropped"
                    );
                }
            }
        }
    }

    /// The dev outbox's messages, oldest first; `None` when mail goes out through SMTP.
    pub fn outbox_messages(&self) -> Option<Vec<OutboxMessage>> {
        match &*self.inner {
            Transport::Outbox(outbox) => Some(outbox.lock().iter().cloned().collect()),
            Transport::Smtp(_) => None,
        }
    }
}

#[derive(Debug)]
struct Outbox {
    /// The newest messages, oldest first, at most [`OUTBOX_CAPACITY`]. Held only to push or copy.
    messages: Mutex<VecDeque<OutboxMessage>>,
    env: Env,
}

impl Outbox {
    fn keep(&self, mail: Mail) {
        // Never the link itself: whoever reads the logs could sign in with it (CONTRACT 18).
        tracing::info!(to = %mail.to, "dev mailer: a sign-in link is in the outbox at GET /admin/v1/outbox (set MAMMOTH_SMTP_URL to send real mail)");
        let message = OutboxMessage {
            to: mail.to,
            subject: mail.subject,
            body: mail.body,
            link: mail.link,
            sent_at: rfc3339_millis(self.env.now_millis()),
        };
        let mut messages = self.lock();
        if messages.len() >= OUTBOX_CAPACITY {
            messages.pop_front();
        }
        messages.push_back(message);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<OutboxMessage>> {
        // A panic while holding this lock cannot leave the deque half-changed.
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct SmtpQueue {
    /// Messages waiting for delivery; bounded so a burst cannot exhaust memory.
    queue: mpsc::Sender<Mail>,
}

/// Drains the queue, delivering up to [`MAX_PARALLEL`] messages at once; ends with the mailer.
async fn deliver(
    mut rx: mpsc::Receiver<Mail>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
) {
    let slots = Arc::new(Semaphore::new(MAX_PARALLEL));
    while let Some(mail) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let message = match build_message(&from, mail) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "a sign-in email could not be built; not sent");
                continue;
            }
        };
        let transport = transport.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = transport.send(message).await {
                tracing::warn!(error = %e, "SMTP delivery of a sign-in email failed");
            }
        });
    }
}

fn build_message(from: &Mailbox, mail: Mail) -> Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient: {e}"))?;
    let body = crlf(&mail.body);
    // Links are ASCII (URLs serialise so); 7bit keeps them whole and readable where quoted-
    // printable would break them at 76 columns. Lines stay under SMTP's 998-character limit.
    let body = if body.is_ascii() && body.split("\r\n").all(|l| l.len() < 998) {
        Body::dangerous_pre_encoded(body.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(body)
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn default_sender(public_url: &str) -> String {
    let host = url::Url::parse(public_url)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Domain(d)) => Some(d.to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("Mammoth <noreply@{host}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_keeps_the_newest_messages() {
        let mailer = Mailer::outbox(Env::default());
        for i in 0..OUTBOX_CAPACITY + 5 {
            mailer.send(Mail {
                to: format!("u{i}@example.com"),
                subject: "s".into(),
                body: "b".into(),
                link: "l".into(),
            });
        }
        let messages = mailer.outbox_messages().unwrap();
        assert_eq!(messages.len(), OUTBOX_CAPACITY);
        assert_eq!(messages[0].to, "u5@example.com");
    }

    #[test]
    fn senders_default_to_the_public_host() {
        assert_eq!(
            default_sender("https://api.example.com"),
            "Mammoth <noreply@api.example.com>"
        );
        assert_eq!(
            default_sender("http://127.0.0.1:8080"),
            "Mammoth <noreply@localhost>"
        );
    }

    #[test]
    fn long_links_stay_on_one_line() {
        let from: Mailbox = "Mammoth <noreply@localhost>".parse().unwrap();
        let link = format!(
            "https://app.example.com/after-login?token=mml_{}",
            "a".repeat(64)
        );
        let message = build_message(
            &from,
            Mail {
                to: "ada@example.com".into(),
                subject: "Sign in".into(),
                body: format!("Sign in:\n{link}\n"),
                link: link.clone(),
            },
        )
        .unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains(&link), "{text}");
    }

    #[tokio::test]
    async fn bad_smtp_urls_are_refused_with_a_hint() {
        let err = Mailer::smtp("ftp://x", "http://localhost").unwrap_err();
        assert!(err.to_string().contains("smtp://host:port"));
        assert!(Mailer::smtp("smtp://localhost:2525", "http://localhost").is_ok());
    }
}

//! One stream's two ends: the hub's [`Sink`] and the HTTP layer's [`Listener`], joined by a
//! small queue of encoded SSE frames.
//!
//! A frame is the complete text of one Server-Sent Event (`event:`, `id:`, `data:` lines and the
//! blank line) as [`Bytes`], encoded once by the hub and shared by every stream with the same
//! subscription: queueing it on 1,000 streams is 1,000 reference-count increments, not 1,000
//! strings. The reader drains every queued frame at once into one chunk
//! ([`Listener::next_chunk`]), so a stream that fell behind catches up in one socket write.
//!
//! The queue is a `Mutex<VecDeque>` (empty: no allocation) and a [`Notify`]; an idle stream
//! costs a few hundred bytes here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Notify;

use super::{MAX_QUEUED_BYTES, MAX_QUEUED_EVENTS, StreamEvent, error_event};
use crate::error::ProjectError;

/// The `: ping` comment line.
pub(super) const PING: Bytes = Bytes::from_static(b": ping\n\n");

/// Most bytes one [`Listener::next_chunk`] joins (it always takes at least one frame).
const MAX_CHUNK: usize = 256 << 10;

/// One queued event: its type and id (for [`Listener::next`]) and its SSE text.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) event: &'static str,
    pub(super) id: Option<u64>,
    pub(super) bytes: Bytes,
}

impl Frame {
    /// The frame of one event; `data` is JSON (a line break in it becomes more `data:` lines).
    pub(super) fn new(event: &'static str, id: Option<u64>, data: &[u8]) -> Frame {
        let mut out = BytesMut::with_capacity(data.len() + event.len() + 40);
        out.put_slice(b"event: ");
        out.put_slice(event.as_bytes());
        out.put_u8(b'\n');
        if let Some(id) = id {
            out.put_slice(b"id: ");
            out.put_slice(id.to_string().as_bytes());
            out.put_u8(b'\n');
        }
        for line in data.split(|&b| b == b'\n') {
            out.put_slice(b"data: ");
            out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
            out.put_u8(b'\n');
        }
        out.put_u8(b'\n');
        Frame {
            event,
            id,
            bytes: out.freeze(),
        }
    }

    fn ping() -> Frame {
        Frame {
            event: "",
            id: None,
            bytes: PING,
        }
    }

    /// The event as [`StreamEvent`] (its `data:` lines joined).
    fn event(&self) -> StreamEvent {
        let text = String::from_utf8_lossy(&self.bytes);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        StreamEvent {
            event: self.event,
            id: self.id,
            data: data.join("\n"),
        }
    }
}

/// What a stream's two ends share.
#[derive(Debug, Default)]
pub(super) struct StreamShared {
    queue: Mutex<VecDeque<Frame>>,
    queued_bytes: AtomicUsize,
    /// Set once: why the stream ends; the reader sends it as an `error` event and stops.
    failure: Mutex<Option<ProjectError>>,
    failed: AtomicBool,
    /// The listener is gone.
    closed: AtomicBool,
    wake: Notify,
    /// The hub's count of group evaluations, set when the hub takes the stream.
    pub(super) evaluations: OnceLock<Arc<AtomicU64>>,
}

impl StreamShared {
    pub(super) fn fail(&self, err: ProjectError) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(err);
            self.failed.store(true, Ordering::Release);
        }
        drop(failure);
        self.wake.notify_one();
    }

    fn take_failure(&self) -> Option<ProjectError> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Frame>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reading end of a stream: the HTTP layer turns it into the response body.
#[derive(Debug)]
pub struct Listener {
    shared: Arc<StreamShared>,
    _count: StreamCount,
    done: bool,
}

impl Listener {
    pub(super) fn new(shared: Arc<StreamShared>, count: StreamCount) -> Listener {
        Listener {
            shared,
            _count: count,
            done: false,
        }
    }

    /// How many times the project's hub has evaluated a subscription group against a commit
    /// since it started (0 until the hub took this stream): the matching work, for tests and
    /// metrics.
    pub fn evaluations(&self) -> u64 {
        self.shared
            .evaluations
            .get()
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The next event, pings skipped; after an `error` event, `None`.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            match self.next_frames(1).await? {
                Next::Error(event) => return Some(event),
                Next::Frames(frames) => {
                    if let Some(frame) = frames.into_iter().find(|f| !f.event.is_empty()) {
                        return Some(frame.event());
                    }
                }
            }
        }
    }

    /// The SSE text of every event queued now (at least one; pings included), joined: what to
    /// write to the socket next. After the `error` event's text, `None`.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        match self.next_frames(usize::MAX).await? {
            Next::Error(event) => Some(Frame::new(event.event, None, event.data.as_bytes()).bytes),
            Next::Frames(frames) if frames.len() == 1 => frames.into_iter().next().map(|f| f.bytes),
            Next::Frames(frames) => {
                let len = frames.iter().map(|f| f.bytes.len()).sum();
                let mut out = BytesMut::with_capacity(len);
                for frame in frames {
                    out.put_slice(&frame.bytes);
                }
                Some(out.freeze())
            }
        }
    }

    /// Whether an `error` event was sent (nothing follows it).
    pub fn is_done(&self) -> bool {
        self.done
    }

    async fn next_frames(&mut self, most: usize) -> Option<Next> {
        loop {
            if self.done {
                return None;
            }
            if let Some(err) = self.shared.take_failure() {
                self.done = true;
                return Some(Next::Error(error_event(&err)));
            }
            let frames = self.pop(most);
            if !frames.is_empty() {
                return Some(Next::Frames(frames));
            }
            // A frame queued after the pop leaves a permit: this returns at once.
            self.shared.wake.notified().await;
        }
    }

    fn pop(&self, most: usize) -> Vec<Frame> {
        let mut queue = self.shared.lock_queue();
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < most
            && (out.is_empty() || bytes < MAX_CHUNK)
            && let Some(frame) = queue.pop_front()
        {
            bytes += frame.bytes.len();
            out.push(frame);
        }
        if queue.is_empty() && queue.capacity() > 64 {
            // A burst is over: give its memory back.
            *queue = VecDeque::new();
        }
        drop(queue);
        self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        out
    }
}

enum Next {
    Error(StreamEvent),
    Frames(Vec<Frame>),
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Counts a live stream against [`super::MAX_STREAMS`] until dropped.
#[derive(Debug)]
pub(super) struct StreamCount(pub(super) Arc<AtomicUsize>);

impl Drop for StreamCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The hub's end of a stream. Dropping it (the hub stopped) ends the stream with `unavailable`.
#[derive(Debug)]
pub(super) struct Sink {
    pub(super) shared: Arc<StreamShared>,
}

impl Sink {
    /// Queues a frame; false when the stream is gone or has just been failed for being slow.
    pub(super) fn send(&self, frame: Frame) -> bool {
        if self.is_closed() {
            return false;
        }
        let len = frame.bytes.len();
        let queued = self.shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
        let mut queue = self.shared.lock_queue();
        if queued + len > MAX_QUEUED_BYTES || queue.len() >= MAX_QUEUED_EVENTS {
            drop(queue);
            self.shared.fail(too_slow());
            return false;
        }
        let was_empty = queue.is_empty();
        queue.push_back(frame);
        drop(queue);
        if was_empty {
            self.shared.wake.notify_one();
        }
        true
    }

    /// Queues a `: ping` line unless events are waiting anyway.
    pub(super) fn ping(&self) {
        if self.shared.lock_queue().is_empty() {
            self.send(Frame::ping());
        }
    }

    /// The client went away, or the stream was failed.
    pub(super) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.shared.failed.load(Ordering::Acquire)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.fail(ProjectError::unavailable(
            "the project restarted; reconnect with Last-Event-ID to resume",
        ));
    }
}

fn too_slow() -> ProjectError {
    ProjectError::unavailable(format!(
        "the client fell more than {MAX_QUEUED_EVENTS} events or {} MiB behind; reconnect with Last-Event-ID to resume",
        MAX_QUEUED_BYTES >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_one_sse_event_and_reads_back() {
        let f = Frame::new("changes", Some(7), b"{\"a\":1}");
        assert_eq!(&f.bytes[..], b"event: changes\nid: 7\ndata: {\"a\":1}\n\n");
        let e = f.event();
        assert_eq!(
            (e.event, e.id, e.data.as_str()),
            ("changes", Some(7), "{\"a\":1}")
        );
        let two = Frame::new("error", None, b"{\n}");
        assert_eq!(&two.bytes[..], b"event: error\ndata: {\ndata: }\n\n");
        assert_eq!(two.event().data, "{\n}");
    }

    #[tokio::test]
    async fn queued_frames_come_out_as_one_chunk_and_bounds_fail_the_stream() {
        let count = Arc::new(AtomicUsize::new(1));
        let shared = Arc::new(StreamShared::default());
        let sink = Sink {
            shared: shared.clone(),
        };
        let mut listener = Listener::new(shared, StreamCount(count.clone()));
        assert!(sink.send(Frame::new("changes", Some(1), b"1")));
        assert!(sink.send(Frame::new("changes", Some(2), b"2")));
        let chunk = listener.next_chunk().await.unwrap();
        assert_eq!(
            &chunk[..],
            b"event: changes\nid: 1\ndata: 1\n\nevent: changes\nid: 2\ndata: 2\n\n"
        );
        for i in 0..MAX_QUEUED_EVENTS as u64 {
            assert!(sink.send(Frame::new("changes", Some(i), b"x")));
        }
        assert!(
            !sink.send(Frame::new("changes", Some(0), b"x")),
            "one too many"
        );
        let e = listener.next().await.unwrap();
        assert_eq!(e.event, "error");
        assert!(e.data.contains("unavailable"), "{}", e.data);
        assert!(listener.next().await.is_none());
        drop(listener);
        assert_eq!(count.load(Ordering::Relaxed), 0);
        assert!(sink.is_closed());
    }
}

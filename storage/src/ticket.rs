//! Durability tickets: the future a writer awaits before telling its client "done".

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::sync::oneshot;

use crate::error::StorageError;

/// The writer's end of a ticket.
pub(crate) type Ack = oneshot::Sender<Result<(), StorageError>>;

/// Completes when the mutations it was issued for are as durable as the configuration promises.
///
/// If the writer goes away without answering (it panicked), the ticket completes with
/// [`StorageError::Closed`].
#[derive(Debug)]
pub struct Ticket(State);

#[derive(Debug)]
enum State {
    /// Already decided.
    Done(Result<(), StorageError>),
    /// Waiting for the writer.
    Waiting(oneshot::Receiver<Result<(), StorageError>>),
}

impl Ticket {
    /// A ticket that is already complete.
    pub fn ready() -> Ticket {
        Ticket(State::Done(Ok(())))
    }

    /// A ticket that is already complete with an error.
    pub(crate) fn failed(err: StorageError) -> Ticket {
        Ticket(State::Done(Err(err)))
    }

    /// A ticket and the sender the writer completes it with.
    pub(crate) fn pending() -> (Ack, Ticket) {
        let (tx, rx) = oneshot::channel();
        (tx, Ticket(State::Waiting(rx)))
    }

    /// A ticket and the [`Promise`] that completes it: how a durability layer outside this crate
    /// (replication) hands out tickets of its own.
    pub fn promise() -> (Promise, Ticket) {
        let (ack, ticket) = Ticket::pending();
        (Promise(ack), ticket)
    }

    /// Blocks the calling thread until the ticket completes. For threads outside an async
    /// runtime (benchmarks, tools, shutdown code); async code should `.await` the ticket instead.
    pub fn wait(mut self) -> Result<(), StorageError> {
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut self).poll(&mut cx) {
                Poll::Ready(result) => return result,
                // A spurious unpark just polls once more.
                Poll::Pending => thread::park(),
            }
        }
    }
}

impl Future for Ticket {
    type Output = Result<(), StorageError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Done(result) => Poll::Ready(result.clone()),
            State::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(received) => {
                    let result = received.unwrap_or(Err(StorageError::Closed));
                    self.0 = State::Done(result.clone());
                    Poll::Ready(result)
                }
            },
        }
    }
}

/// The completing end of a [`Ticket`] made by [`Ticket::promise`]. Dropping it unkept completes
/// the ticket with [`StorageError::Closed`].
#[derive(Debug)]
pub struct Promise(Ack);

impl Promise {
    /// Completes the ticket with `result`.
    pub fn keep(self, result: Result<(), StorageError>) {
        let _ = self.0.send(result);
    }
}

/// Wakes a thread parked in [`Ticket::wait`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_failed_tickets_complete_at_once() {
        assert_eq!(Ticket::ready().wait(), Ok(()));
        assert_eq!(
            Ticket::failed(StorageError::Closed).wait(),
            Err(StorageError::Closed)
        );
    }

    #[test]
    fn wait_returns_what_the_writer_sends_from_another_thread() {
        let (ack, ticket) = Ticket::pending();
        let writer = thread::spawn(move || {
            let _ = ack.send(Err(StorageError::Io("boom".into())));
        });
        assert_eq!(ticket.wait(), Err(StorageError::Io("boom".into())));
        writer.join().expect("writer thread");
    }

    #[test]
    fn a_dropped_sender_completes_the_ticket_with_closed() {
        let (ack, ticket) = Ticket::pending();
        drop(ack);
        assert_eq!(ticket.wait(), Err(StorageError::Closed));
    }
}

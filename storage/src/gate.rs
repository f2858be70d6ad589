//! Test-only control of the writer: pause it so that queued work stays queued, and wait for it
//! to commit, without sleeping.
//!
//! Compiled only for tests and the `testing` feature.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
#[cfg(test)]
use std::time::{Duration, Instant};

/// A pause switch the writer checks before each transaction, and a signal it raises after each.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// `true` while a [`WriterPause`] is alive.
    paused: Mutex<bool>,
    /// Notified when `paused` changes and after every commit attempt.
    changed: Condvar,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.paused.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        *self.lock() = paused;
        self.changed.notify_all();
    }

    /// Blocks the writer while paused.
    pub(crate) fn wait_open(&self) {
        let mut paused = self.lock();
        while *paused {
            paused = self
                .changed
                .wait(paused)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Wakes [`Gate::wait_until`] callers (the writer calls it after each commit attempt).
    pub(crate) fn notify(&self) {
        // Taking the lock orders this with a waiter's check, so no wake-up is lost.
        drop(self.lock());
        self.changed.notify_all();
    }

    /// Waits until `done()` holds, re-checking after each notification; `false` on timeout.
    #[cfg(test)]
    pub(crate) fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock();
        while !done() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Keeps the writer paused while alive (see [`crate::Storage::pause_writer`]). Submits are still
/// accepted and counted as pending; nothing is committed until this guard is dropped.
#[derive(Debug)]
#[must_use = "the writer resumes as soon as this guard is dropped"]
pub struct WriterPause {
    pub(crate) shared: std::sync::Arc<crate::writer::Shared>,
}

impl Drop for WriterPause {
    fn drop(&mut self) {
        self.shared.gate.set_paused(false);
    }
}

//! Time and randomness, injected so that tests of expiry never sleep and ids can be predicted.
//!
//! Every actor reads the clock and draws random bytes only through [`Env`]; production uses the
//! system clock and the OS random source, tests may use [`ManualClock`].

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug {
    /// Now, in milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> u64;
}

/// A source of unpredictable bytes.
pub trait Entropy: Send + Sync + Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `millis`.
    pub fn new(millis: u64) -> ManualClock {
        ManualClock(AtomicU64::new(millis))
    }

    /// Moves the clock forward.
    pub fn advance(&self, millis: u64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, millis: u64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // The OS source does not fail on any platform we run on; if it ever did, continuing with
        // predictable bytes would be worse than stopping.
        getrandom::fill(buf).expect("the operating system's random source failed");
    }
}

/// The clock and random source every actor uses.
#[derive(Debug, Clone)]
pub struct Env {
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Random bytes for ids, nonces and tokens.
    pub entropy: Arc<dyn Entropy>,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
        }
    }
}

impl Env {
    /// Now, in milliseconds since the epoch.
    pub fn now_millis(&self) -> u64 {
        self.clock.now_millis()
    }

    /// `N` random bytes.
    pub fn random<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.entropy.fill(&mut buf);
        buf
    }

    /// A new time-ordered id (26 characters of Crockford base32, as ULID): ids made later sort
    /// later, which keeps loads from redb sequential.
    pub fn new_id(&self) -> String {
        crate::ids::ulid(self.now_millis(), self.random::<10>())
    }
}

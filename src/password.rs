//! Password hashing with Argon2id, on a bounded pool away from the async workers and the project
//! actors (CONTRACT section 8).
//!
//! One hash or verification costs about 15 ms of one core and 19 MiB of memory ([`PARAMS`]).
//! Run on an async worker it would stall every request sharing that worker; run inside a project
//! actor it would stall the whole project. So each computation runs on tokio's blocking threads,
//! and a semaphore bounds how many run at once (one per core, less one core left to the async
//! workers): a login storm waits in its own queue while document requests keep their workers. The queue itself is bounded too
//! ([`PasswordPool::new`]): past it callers get 503 with `Retry-After` instead of piling up.
//!
//! A sign-in for an email without an account (or an account without a password) verifies against
//! [`DUMMY_HASH`], made with the same parameters, so it spends the same time as a wrong password
//! and timing reveals nothing about which emails have accounts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use mammoth_actors::ProjectError;
use tokio::sync::Semaphore;

/// Argon2id, version 0x13, m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum (the crate's
/// default) - about 15 ms per hash on one core of the 2-core machines we build on.
pub const PARAMS: (u32, u32, u32) = (
    Params::DEFAULT_M_COST,
    Params::DEFAULT_T_COST,
    Params::DEFAULT_P_COST,
);

/// A hash of a random password nobody knows, with [`PARAMS`]: verifying against it costs what a
/// real verification costs and always fails.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Z4AxTWkOeno5lVpPkhpaXA$GApbpb8LBHIj3iYxFHfUEBVX5ORV1QHeLj/Rh/r6rL0";

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Hashes and verifies passwords on at most N threads at once. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// One permit per hashing thread: at most this many Argon2 computations run at once.
    permits: Arc<Semaphore>,
    /// Calls waiting for or holding a permit; bounded by `max_queued`.
    queued: AtomicUsize,
    /// Most calls that may wait at once; past it, 503.
    max_queued: usize,
    threads: usize,
}

impl PasswordPool {
    /// A pool running at most `threads` computations at once, with at most `max_queued` calls
    /// waiting or running.
    pub fn new(threads: usize, max_queued: usize) -> PasswordPool {
        let threads = threads.max(1);
        PasswordPool {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(threads)),
                queued: AtomicUsize::new(0),
                max_queued: max_queued.max(threads),
                threads,
            }),
        }
    }

    /// One thread per core but one (at least one), and a queue of 256 calls per core.
    ///
    /// Leaving a core to the async workers is what keeps document reads fast during a login
    /// storm. Measured on 2 cores (`cargo bench --bench auth`, 32 clients logging in meanwhile):
    /// with 2 hashing threads, GET p99 went from 0.14 ms to 3.2 ms (max 106 ms) for 121-133
    /// logins/s; with 1 thread, from 0.09 ms to 0.37 ms (max 12 ms) for about 82 logins/s.
    pub fn for_this_machine() -> PasswordPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordPool::new(cores.saturating_sub(1).max(1), 256 * cores)
    }

    /// How many computations may run at once.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Calls waiting for a hashing thread or running on one now.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Test hook: no computation starts until the answered permits drop (calls still queue), so
    /// a test can hold every sign-in between its actor message and its hash.
    #[doc(hidden)]
    pub async fn hold(&self) -> tokio::sync::OwnedSemaphorePermit {
        let threads = u32::try_from(self.inner.threads).unwrap_or(u32::MAX);
        self.inner
            .permits
            .clone()
            .acquire_many_owned(threads)
            .await
            .expect("the pool's semaphore is never closed")
    }

    /// The PHC string of `password` with a fresh `salt`.
    pub async fn hash(&self, password: String, salt: [u8; 16]) -> Result<String, ProjectError> {
        self.run(move |argon| {
            argon
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ProjectError::internal(format!("hashing a password failed: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `phc`; with no hash, spends the same work on [`DUMMY_HASH`] and
    /// answers false.
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, ProjectError> {
        self.reserve()?.verify(password, phc).await
    }

    /// Takes a place in the queue now, or answers 503 when it is full. A login reserves its
    /// place before the attempt is counted against the email's throttle, so an attempt the
    /// pool refuses never counts.
    pub fn reserve(&self) -> Result<Reserved, ProjectError> {
        let inner = &self.inner;
        let before = inner.queued.fetch_add(1, Ordering::AcqRel);
        let place = Reserved(self.clone());
        if before >= inner.max_queued {
            return Err(ProjectError::unavailable(
                "too many sign-ins are being checked right now; retry in a second",
            ));
        }
        Ok(place)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, ProjectError> {
        let place = self.reserve()?;
        place.run(work).await
    }
}

/// A place in a [`PasswordPool`]'s queue, given back on drop.
#[derive(Debug)]
pub struct Reserved(PasswordPool);

impl Drop for Reserved {
    fn drop(&mut self) {
        self.0.inner.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Reserved {
    /// [`PasswordPool::verify`] in this place.
    pub async fn verify(self, password: String, phc: Option<String>) -> Result<bool, ProjectError> {
        self.run(move |argon| {
            let matches = argon
                .verify_password(password.as_bytes(), phc.as_deref().unwrap_or(DUMMY_HASH))
                .is_ok();
            matches && phc.is_some()
        })
        .await
    }

    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, ProjectError> {
        let inner = &self.0.inner;
        let permit = inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ProjectError::unavailable("the server is shutting down"))?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&hasher())
        })
        .await
        .map_err(|e| ProjectError::internal(format!("a password task failed: {e}")));
        drop(self);
        result
    }
}

/// Argon2id with [`PARAMS`].
pub fn hasher() -> Argon2<'static> {
    let (m, t, p) = PARAMS;
    let params = Params::new(m, t, p, None).expect("PARAMS are valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a candidate password's length; the message says what to change.
pub fn check_password(password: &str) -> Result<(), ProjectError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ProjectError::bad_request(format!(
            "\"password\" must have at least {MIN_PASSWORD_CHARS} characters; this one has {chars}"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ProjectError::bad_request(format!(
            "\"password\" must have at most {MAX_PASSWORD_CHARS} characters; this one has {chars}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let dummy = argon2::PasswordHash::new(DUMMY_HASH).unwrap();
        let real = hasher()
            .hash_password_with_salt(b"correct horse", &[7u8; 16])
            .unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let pool = PasswordPool::new(2, 8);
        let phc = pool.hash("correct horse".into(), [1u8; 16]).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            pool.verify("correct horse".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!pool.verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!pool.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_answers_unavailable() {
        let pool = PasswordPool::new(1, 1);
        let slow = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.verify("a".into(), None).await })
        };
        tokio::task::yield_now().await;
        // The first call holds the only place (running or waiting for the permit).
        let mut refused = false;
        for _ in 0..50 {
            if pool.inner.queued.load(Ordering::Acquire) >= 1 {
                refused = pool.verify("b".into(), None).await.is_err();
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(refused);
        assert!(slow.await.unwrap().is_ok());
    }

    #[test]
    fn password_lengths_are_checked_in_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(1024)).is_ok());
        assert!(check_password(&"é".repeat(1025)).is_err());
    }
}

#[cfg(test)]
mod reserve_tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_refuses_the_reservation_before_anything_is_counted() {
        let pool = PasswordPool::new(1, 1);
        let place = pool.reserve().unwrap();
        assert_eq!(pool.queued(), 1);
        let refused = pool.reserve().unwrap_err();
        assert_eq!(refused.code, mammoth_actors::ErrorCode::Unavailable);
        assert_eq!(pool.queued(), 1, "a refused reservation holds nothing");
        assert!(!place.verify("pw".into(), None).await.unwrap());
        assert_eq!(pool.queued(), 0, "the place is given back");
        assert!(pool.reserve().is_ok());
    }
}

//! Retrying requests that failed for a passing reason: throttling, a 5xx answer, a timeout, a
//! connection cut midway.
//!
//! One policy for every backend, applied by [`super::Store`] around each whole operation (a read
//! is retried until its last byte arrived). Every operation cairn sends is idempotent: files are
//! named by their content or by a random id and written whole, so sending one twice is harmless.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How often and how patiently failed requests are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub attempts: u32,
    /// The wait before the first retry; each further wait doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// For object stores: 10 attempts with waits of 0.5 s doubling to at most 60 s, about four
    /// minutes in all before a request that keeps failing ends the run.
    pub const REMOTE: RetryPolicy = RetryPolicy {
        attempts: 10,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(60),
    };

    /// For local disks: no retry, since a full disk or a permission error does not pass.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The wait before retry number `retry` (1 for the first), with "equal jitter": half of the
    /// exponential delay plus a random share of the other half, so that many writers throttled
    /// at once do not come back in step.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .first_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }
}

/// Whether an error may pass if the request is sent again. The store tells definite answers
/// (not found, forbidden, unauthenticated, precondition failed, ...) apart from the rest, which
/// covers throttling, server errors, timeouts and broken connections.
pub fn is_transient(e: &object_store::Error) -> bool {
    match e {
        object_store::Error::Generic { .. } => !client_error(e),
        object_store::Error::JoinError { .. } => true,
        _ => false,
    }
}

/// Whether the store answered with a 4xx status other than 408 (timeout) and 429 (throttled):
/// a request it will refuse again (a malformed bucket name, a bad signature, ...). object_store
/// does not export its HTTP error type, so the status is read from the error's text ("...
/// status code: 400 Bad Request"); the S3 tests hold this to what object_store prints.
fn client_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if let Some(at) = text.find("status code: ") {
            let code = text[at + "status code: ".len()..]
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok());
            if let Some(code) = code {
                return (400..500).contains(&code) && code != 408 && code != 429;
            }
        }
        next = err.source();
    }
    false
}

/// An operation's error: what the store said, or a response shorter than asked for.
#[derive(Debug)]
pub enum Failure {
    /// The store's error.
    Store(object_store::Error),
    /// A range read returned `got` of `want` bytes.
    Short {
        /// Bytes received.
        got: u64,
        /// Bytes asked for.
        want: u64,
    },
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Store(e) => is_transient(e),
            Failure::Short { .. } => true,
        }
    }
}

impl From<object_store::Error> for Failure {
    fn from(e: object_store::Error) -> Self {
        Failure::Store(e)
    }
}

/// Runs `op` until it succeeds, fails for good, or `policy` runs out of attempts; `what` names the
/// request in the warnings logged before each retry. Returns the last failure and the number of
/// attempts made.
pub async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    what: &(dyn Fn() -> String + Sync),
    mut op: F,
    mut on_retry: impl FnMut(),
) -> Result<T, (Failure, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < policy.attempts => {
                let wait = policy.delay(attempt);
                tracing::warn!(
                    "{}: {} (attempt {attempt} of {}; retrying in {:.1} s)",
                    what(),
                    describe(&e),
                    policy.attempts,
                    wait.as_secs_f64()
                );
                on_retry();
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err((e, attempt)),
        }
    }
}

/// A failure in words.
pub fn describe(f: &Failure) -> String {
    match f {
        Failure::Store(e) => e.to_string(),
        Failure::Short { got, want } => format!("short read ({got} of {want} bytes)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn generic() -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: "503 Slow Down".into(),
        }
    }

    const QUICK: RetryPolicy = RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
    };

    #[test]
    fn delays_grow_exponentially_with_jitter_and_stop_at_the_maximum() {
        let p = RetryPolicy::REMOTE;
        for _ in 0..100 {
            let first = p.delay(1);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let third = p.delay(3);
            assert!(third >= Duration::from_secs(1) && third <= Duration::from_secs(2));
            assert!(p.delay(30) <= p.max_delay && p.delay(30) >= p.max_delay / 2);
        }
    }

    #[test]
    fn client_errors_are_definite_but_throttling_and_timeouts_pass() {
        let status = |line: &str| {
            object_store::Error::Generic {
            store: "S3",
            source: format!("Error performing HEAD http://h/b/config in 1ms - Server returned non-2xx status code: {line}").into(),
        }
        };
        assert!(!is_transient(&status("400 Bad Request: ")));
        assert!(!is_transient(&status("403 Forbidden: ")));
        assert!(is_transient(&status("429 Too Many Requests: ")));
        assert!(is_transient(&status("408 Request Timeout: ")));
        assert!(is_transient(&status("503 Service Unavailable: ")));
        assert!(is_transient(&generic()));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let mut retries = 0;
        let got = retry(
            QUICK,
            &|| "pack x".into(),
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Failure::Store(generic())),
                    1 => Err(Failure::Short { got: 1, want: 2 }),
                    _ => Ok(7),
                }
            },
            || retries += 1,
        )
        .await
        .unwrap();
        assert_eq!((got, retries), (7, 2));
    }

    #[tokio::test]
    async fn definite_answers_are_not_retried_and_attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let not_found = retry(
            QUICK,
            &|| "pack x".into(),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Failure::Store(object_store::Error::NotFound {
                    path: "x".into(),
                    source: "gone".into(),
                }))
            },
            || {},
        )
        .await
        .unwrap_err();
        assert_eq!((not_found.1, calls.load(Ordering::SeqCst)), (1, 1));

        let failing = retry(
            QUICK,
            &|| "pack x".into(),
            || async { Err::<(), _>(Failure::Store(generic())) },
            || {},
        )
        .await
        .unwrap_err();
        assert_eq!(failing.1, QUICK.attempts);
    }
}

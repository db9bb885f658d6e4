//! How often one launch session may search: a token bucket per session
//! (`values.search_rate` searches per second on average, `values.search_burst` at once).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::checks::Problems;

/// Most sessions whose buckets are remembered; beyond it the least recently used bucket is
/// forgotten (that session starts again with a full burst). About 150 bytes each.
const MAX_SESSIONS: u64 = 100_000;

/// A bucket idle this long is forgotten even when it would take longer to refill.
const MAX_IDLE: Duration = Duration::from_secs(24 * 60 * 60);

/// A search refused by [`SearchLimiter::admit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    /// When the next search would be admitted.
    pub retry_after: Duration,
    /// True for the first refusal after an admitted search (log it once, not per request).
    pub first: bool,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    refusing: bool,
}

pub(crate) struct SearchLimiter {
    rate: f64,
    burst: f64,
    buckets: moka::future::Cache<String, Arc<Mutex<Bucket>>>,
}

impl SearchLimiter {
    /// Checks the two settings (problems keyed `values.search_rate` and
    /// `values.search_burst`).
    pub fn new(rate: f64, burst: u32, problems: &mut Problems) -> Option<Self> {
        let before = problems.len();
        if !(rate.is_finite() && rate > 0.0) {
            problems.push(
                "values.search_rate",
                "must be a number of searches per second greater than zero",
            );
        }
        if burst == 0 {
            problems.push("values.search_burst", "must be at least 1");
        }
        if problems.len() > before {
            return None;
        }
        let burst = f64::from(burst);
        // A bucket idle for the time it takes to refill is full again: forgetting it then
        // changes nothing.
        let idle = Duration::try_from_secs_f64(burst / rate)
            .unwrap_or(MAX_IDLE)
            .clamp(Duration::from_secs(1), MAX_IDLE);
        Some(Self {
            rate,
            burst,
            buckets: moka::future::Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .time_to_idle(idle)
                .build(),
        })
    }

    /// Takes one search from the session's bucket, or says how long to wait.
    pub async fn admit(&self, session: &str) -> Result<(), Refused> {
        let burst = self.burst;
        let bucket = self
            .buckets
            .get_with_by_ref(session, async move {
                Arc::new(Mutex::new(Bucket {
                    tokens: burst,
                    last: Instant::now(),
                    refusing: false,
                }))
            })
            .await;
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.take(&mut bucket, Instant::now())
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), Refused> {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.refusing = false;
            return Ok(());
        }
        let first = !bucket.refusing;
        bucket.refusing = true;
        let wait = (1.0 - bucket.tokens) / self.rate;
        Err(Refused {
            retry_after: Duration::try_from_secs_f64(wait).unwrap_or(MAX_IDLE),
            first,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32) -> SearchLimiter {
        SearchLimiter::new(rate, burst, &mut Problems::default()).unwrap()
    }

    #[test]
    fn a_burst_then_one_search_per_refill() {
        let limiter = limiter(2.0, 3);
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 3.0,
            last: start,
            refusing: false,
        };
        for _ in 0..3 {
            assert_eq!(limiter.take(&mut bucket, start), Ok(()));
        }
        let refused = limiter.take(&mut bucket, start).unwrap_err();
        assert!(refused.first);
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        let again = limiter.take(&mut bucket, start).unwrap_err();
        assert!(!again.first, "a refusal is reported as first only once");
        // Half a second later one token is back, and only one.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.take(&mut bucket, later), Ok(()));
        assert!(limiter.take(&mut bucket, later).is_err());
        // A long pause refills up to the burst, not beyond.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.take(&mut bucket, much_later), Ok(()));
        }
        assert!(limiter.take(&mut bucket, much_later).unwrap_err().first);
    }

    #[tokio::test]
    async fn sessions_have_their_own_buckets() {
        let limiter = limiter(0.001, 2);
        assert!(limiter.admit("a").await.is_ok());
        assert!(limiter.admit("a").await.is_ok());
        assert!(limiter.admit("a").await.is_err());
        assert!(limiter.admit("b").await.is_ok());
    }

    #[test]
    fn bad_settings_are_named() {
        for (rate, burst, want) in [
            (0.0, 1, vec!["values.search_rate"]),
            (
                f64::NAN,
                0,
                vec!["values.search_rate", "values.search_burst"],
            ),
            (-1.0, 5, vec!["values.search_rate"]),
            (1.0, 0, vec!["values.search_burst"]),
        ] {
            let mut problems = Problems::default();
            assert!(SearchLimiter::new(rate, burst, &mut problems).is_none());
            let keys: Vec<_> = problems.into_vec().into_iter().map(|p| p.key).collect();
            assert_eq!(keys, want, "{rate} {burst}");
        }
        assert!(SearchLimiter::new(1e-12, 1, &mut Problems::default()).is_some());
    }
}

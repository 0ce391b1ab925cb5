//! Exponential backoff with jitter, driven by a seeded generator (no clock, no global RNG).

use std::time::Duration;

/// Reconnect delays: `min * 2^attempt`, capped at `max`, each drawn uniformly from
/// `[delay / 2, delay]` ("equal jitter") so that many clients restarted together spread out.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt; each call grows the next one.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self.attempt.min(20);
        self.attempt = self.attempt.saturating_add(1);
        let base = self.min.saturating_mul(1u32 << exp).min(self.max);
        let half = base / 2;
        let span = (base - half).as_nanos() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_u64() % (span + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// A successful connection starts the sequence again.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_bounds_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
        let mut prev_cap = Duration::ZERO;
        let mut delays = Vec::new();
        for i in 0..10 {
            let cap = (Duration::from_millis(100) * (1 << i)).min(Duration::from_secs(2));
            let d = b.next_delay();
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {i}: {d:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
            assert!(cap >= prev_cap);
            prev_cap = cap;
            delays.push(d);
        }
        // Jitter: two generators with different seeds do not produce the same sequence.
        let mut other = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 8);
        let other: Vec<_> = (0..10).map(|_| other.next_delay()).collect();
        assert_ne!(delays, other);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}

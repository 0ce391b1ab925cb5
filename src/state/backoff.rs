//! Exponential backoff with jitter, driven by a seeded generator (no clock, no global RNG).

use std::time::Duration;

/// Reconnect delays: after the `n`-th failed attempt in a row, a delay drawn uniformly from
/// `[min * 2^n, min * 2^(n+1)]`, capped at `max` (then from `[max / 2, max]`), and never below
/// `min`. The jitter spreads out clients restarted together, from the first retry on.
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
        let mut lo = self.min.saturating_mul(1u32 << exp).min(self.max);
        let hi = lo.saturating_mul(2).min(self.max);
        if hi <= lo {
            // At the cap: jitter below it, but never below the minimum.
            lo = (self.max / 2).max(self.min);
        }
        let span = hi.saturating_sub(lo).as_nanos() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_u64() % (span + 1)
        };
        lo + Duration::from_nanos(jitter)
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
    fn grows_within_bounds_with_jitter_never_below_the_minimum() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let mut b = Backoff::new(min, max, 7);
        let mut delays = Vec::new();
        for i in 0..10 {
            let lo = (min * (1 << i)).min(max);
            let (lo, hi) = if lo * 2 <= max {
                (lo, lo * 2)
            } else {
                (max / 2, max)
            };
            let d = b.next_delay();
            assert!(
                d >= lo && d <= hi,
                "attempt {i}: {d:?} not in [{lo:?}, {hi:?}]"
            );
            assert!(d >= min, "attempt {i}: {d:?} below the minimum");
            delays.push(d);
        }
        // Jitter: two generators with different seeds do not produce the same sequence.
        let mut other = Backoff::new(min, max, 8);
        let other: Vec<_> = (0..10).map(|_| other.next_delay()).collect();
        assert_ne!(delays, other);
        b.reset();
        let d = b.next_delay();
        assert!(d >= min && d <= min * 2, "{d:?}");
        // A maximum below twice the minimum: every delay within [min, max].
        let mut tight = Backoff::new(min, Duration::from_millis(150), 9);
        for _ in 0..10 {
            let d = tight.next_delay();
            assert!(d >= min && d <= Duration::from_millis(150), "{d:?}");
        }
    }
}

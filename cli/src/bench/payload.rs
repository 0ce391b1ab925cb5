//! Bench payloads: a 16-byte header with the publish time, so that `bench sub` can measure the
//! latency from publisher to subscriber (both on this machine, reading the same clock).
//!
//! ```text
//! 0      4        8                 16
//! | PGN1 | seq BE | unix nanos BE   | filler ('x') up to the payload size
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Marks a payload made by `bench pub`.
const MAGIC: &[u8; 4] = b"PGN1";
/// Header length; smaller payloads carry no timestamp.
pub const HEADER: usize = 16;

/// A payload of `size` bytes; with room for it, the header holds `seq` and the time `at`.
pub fn make(size: usize, seq: u32, at: SystemTime) -> Vec<u8> {
    let mut payload = Vec::with_capacity(size);
    if size >= HEADER {
        let nanos = at
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        payload.extend_from_slice(MAGIC);
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.extend_from_slice(&nanos.to_be_bytes());
    }
    payload.resize(size, b'x');
    payload
}

/// How long ago a bench payload was published (`None` for other payloads, or a clock that went
/// backwards).
pub fn age(payload: &[u8], now: SystemTime) -> Option<Duration> {
    if payload.len() < HEADER || &payload[..4] != MAGIC {
        return None;
    }
    let mut nanos = [0u8; 8];
    nanos.copy_from_slice(&payload[8..16]);
    let sent = UNIX_EPOCH + Duration::from_nanos(u64::from_be_bytes(nanos));
    now.duration_since(sent).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = make(64, 7, t);
        assert_eq!(p.len(), 64);
        assert_eq!(
            age(&p, t + Duration::from_millis(5)),
            Some(Duration::from_millis(5))
        );
        assert_eq!(age(&p, t - Duration::from_millis(5)), None);
        assert_eq!(make(8, 1, t), b"xxxxxxxx");
        assert_eq!(age(&make(8, 1, t), t), None);
        assert_eq!(age(b"some other payload!", t), None);
    }
}

//! One monotonic clock origin for the whole process.
//!
//! Records are stamped on one core and measured on another, so every core
//! must read the same clock from the same origin. `Instant` is the
//! monotonic clock (CLOCK_MONOTONIC, a vDSO call of ~20 ns) and is the same
//! on every core; the origin is fixed by whichever core asks first.

use std::sync::OnceLock;
use std::time::Instant;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process-wide origin.
#[inline]
pub fn now_ns() -> u64 {
    // u64 nanoseconds last 584 years; the cast cannot truncate in practice.
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_monotonic_across_threads() {
        let a = now_ns();
        let b = std::thread::spawn(now_ns).join().unwrap_or(0);
        let c = now_ns();
        assert!(a <= b && b <= c, "{a} {b} {c}");
    }
}

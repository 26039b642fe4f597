//! CPU time of the calling thread, beside the wall-clock measurements:
//! a span that took long in wall time but little CPU time was spent
//! waiting for a CPU (descheduled), not working.

use nix::time::{ClockId, clock_gettime};

/// Nanoseconds of CPU time the calling thread has used; 0 where the
/// clock cannot be read (Linux always can: it is only a measurement).
pub(crate) fn thread_cpu_ns() -> u64 {
    let Ok(t) = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID) else {
        return 0;
    };
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec()).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_work_and_not_with_sleep() {
        let start = thread_cpu_ns();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = thread_cpu_ns() - start;
        assert!(
            slept < 20_000_000,
            "50 ms of sleep counted {slept} ns of CPU"
        );
        // Spin until the thread has been charged 10 ms: on a loaded machine
        // it gets only a share of the wall clock, so the deadline is long
        // and only a clock that does not grow with work reaches it.
        let before = thread_cpu_ns();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut spins = 0u64;
        while thread_cpu_ns() - before < 10_000_000 {
            spins = std::hint::black_box(spins + 1);
            assert!(
                std::time::Instant::now() < deadline,
                "20 s of spinning counted {} ns of CPU",
                thread_cpu_ns() - before
            );
        }
    }
}

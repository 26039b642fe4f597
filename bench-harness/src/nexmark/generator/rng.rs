//! A tiny counter-based random number generator, seeded afresh for every event.
//!
//! Seeding per event (instead of one stream per generator) is what makes event
//! `i` independent of how the stream is split.

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer: a bijective 64-bit mix with full avalanche.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 stream.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for one `(seed key, event id, purpose)` triple. `seed_key`
    /// should already be mixed (see [`seed_key`]).
    pub(crate) fn for_event(seed_key: u64, event_id: u64, purpose: u64) -> Self {
        Rng {
            state: mix64(seed_key ^ event_id.wrapping_mul(GAMMA) ^ purpose),
        }
    }

    /// A stream from a plain seed (for the process-wide pools).
    pub(crate) fn from_seed(seed: u64) -> Self {
        Rng { state: mix64(seed) }
    }

    /// 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0. Lemire's multiply-shift (the bias is
    /// below 2^-40 for the small bounds used here).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Turns a user seed into the key mixed into every event's stream.
pub(crate) fn seed_key(seed: u64) -> u64 {
    mix64(seed ^ 0x6E65_786D_6172_6B21)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::from_seed(7);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let v = r.below(5);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 1_800 && c < 2_200), "{seen:?}");
        assert_eq!(r.below(0), 0);
        let u = r.unit_f64();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn streams_differ_by_event_and_purpose() {
        let k = seed_key(1);
        let a = Rng::for_event(k, 5, 0).next_u64();
        let b = Rng::for_event(k, 6, 0).next_u64();
        let c = Rng::for_event(k, 5, 1).next_u64();
        assert!(a != b && a != c && b != c);
        assert_eq!(a, Rng::for_event(k, 5, 0).next_u64());
    }
}

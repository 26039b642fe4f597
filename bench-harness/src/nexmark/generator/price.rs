//! Prices: `round(100 * 10^(6u))` for `u` uniform in [0, 1), as nexmark-flink's
//! `PriceGenerator` (from 100 to 100 000 000, log-uniform).

use super::rng::Rng;

/// A random price.
#[inline]
pub(crate) fn next_price(rng: &mut Rng) -> u64 {
    // `+ 0.5` then truncation rounds half up like Java's `Math.round` for these
    // positive values, without a libm call.
    (pow10(rng.unit_f64() * 6.0) * 100.0 + 0.5) as u64
}

/// `10^x` for `x` in [0, 6], using only IEEE basic operations.
///
/// libm's `powf`/`exp2` may differ by an ulp between platforms, which would
/// change a rounded price once in a while and break golden checksums; `+`, `*`
/// and `/` are exactly rounded everywhere (and Rust never fuses them), so this
/// is bit-identical on every machine. It is also faster than `powf`:
/// 2^y = 2^k * 2^(j/64) * e^r with a table for 2^(j/64) and a short series for e^r.
#[inline]
fn pow10(x: f64) -> f64 {
    let t = x * std::f64::consts::LOG2_10 * 64.0;
    // Truncation is floor for the non-negative `t` (and needs no libm call).
    let n = t as i64;
    let r = (t - n as f64) * (std::f64::consts::LN_2 / 64.0); // r in [0, ln2/64)
    // e^r to r^5/5!: the next term is below 3e-15 relative.
    let e = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))));
    EXP2_SIXTY_FOURTHS[(n & 63) as usize] * e * pow2(n >> 6)
}

/// `2^(j/64)` for j in 0..64, evaluated at compile time (so exactly reproducible).
const EXP2_SIXTY_FOURTHS: [f64; 64] = {
    let mut table = [0.0; 64];
    let mut j = 0;
    while j < 64 {
        table[j] = exp_series(j as f64 * std::f64::consts::LN_2 / 64.0);
        j += 1;
    }
    table
};

/// e^f for f in [0, 1) by its Taylor series to f^24 / 24!.
const fn exp_series(f: f64) -> f64 {
    let mut e = 1.0;
    let mut i = 24.0;
    while i > 0.0 {
        e = 1.0 + e * f / i;
        i -= 1.0;
    }
    e
}

/// `2^k` exactly, for the small non-negative `k` used here.
#[inline]
fn pow2(k: i64) -> f64 {
    f64::from_bits(((1023 + k.clamp(0, 1023)) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow10_matches_libm_closely() {
        let mut x = 0.0;
        while x <= 6.0 {
            let ours = pow10(x);
            let libm = 10f64.powf(x);
            assert!(
                ((ours - libm) / libm).abs() < 1e-12,
                "{x}: {ours} vs {libm}"
            );
            x += 0.0137;
        }
    }

    #[test]
    fn prices_are_log_uniform_in_range() {
        let mut rng = Rng::from_seed(3);
        let mut below_10k = 0;
        for _ in 0..60_000 {
            let p = next_price(&mut rng);
            assert!((100..=100_000_000).contains(&p));
            if p < 10_000 {
                below_10k += 1;
            }
        }
        // 10^(6u) * 100 < 10^4  <=>  u < 1/3.
        assert!((19_000..21_000).contains(&below_10k), "{below_10k}");
    }
}

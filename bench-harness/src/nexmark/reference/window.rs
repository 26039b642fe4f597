//! Epoch-aligned event-time windows.

/// Tumbling and hopping window length of q5, q7 and q8.
pub(crate) const WINDOW_MS: i64 = 10_000;
/// q5's hop.
pub(crate) const HOP_MS: i64 = 2_000;

/// Start of the tumbling window of length `size` containing `t`.
pub(crate) fn tumble_start(t: i64, size: i64) -> i64 {
    t.div_euclid(size) * size
}

/// Starts of the windows `[s, s + size)`, `s` a multiple of `hop`, that contain `t`; ascending.
pub(crate) fn hop_starts(t: i64, size: i64, hop: i64) -> impl Iterator<Item = i64> {
    let last = tumble_start(t, hop);
    let first = last - (size - hop);
    (0..size / hop)
        .map(move |k| first + k * hop)
        .filter(move |s| *s <= t && t < s + size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_contain_the_time() {
        assert_eq!(tumble_start(19_999, WINDOW_MS), 10_000);
        assert_eq!(tumble_start(-1, WINDOW_MS), -10_000);
        let starts: Vec<i64> = hop_starts(10_000, WINDOW_MS, HOP_MS).collect();
        assert_eq!(starts, [2_000, 4_000, 6_000, 8_000, 10_000]);
        let starts: Vec<i64> = hop_starts(11_999, WINDOW_MS, HOP_MS).collect();
        assert_eq!(starts, [2_000, 4_000, 6_000, 8_000, 10_000]);
    }
}

//! The slice layout of aligned sliding event-time windows.
//!
//! Windows of `size` that start every `slide` (aligned to the epoch) are
//! each a run of equal slices (panes) of `gcd(size, slide)`: a record belongs
//! to exactly one slice, and a window's result is the merge of its slices.

use crate::time::Timestamp;

/// Windows `[s, s + size)` for every `s` that is a multiple of `slide`, cut
/// into slices of `gcd(size, slide)`. All lengths are positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slicing {
    size_ms: i64,
    slide_ms: i64,
    slice_ms: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The largest multiple of `step` that is `<= ts`.
fn floor_to(ts: Timestamp, step: i64) -> Timestamp {
    ts.saturating_sub(ts.rem_euclid(step))
}

impl Slicing {
    /// The layout of windows of `size_ms` sliding by `slide_ms` (both
    /// clamped to at least 1 ms).
    pub(crate) fn new(size_ms: i64, slide_ms: i64) -> Self {
        let (size_ms, slide_ms) = (size_ms.max(1), slide_ms.max(1));
        Self {
            size_ms,
            slide_ms,
            slice_ms: gcd(size_ms, slide_ms),
        }
    }

    /// The start of the slice that holds `ts`.
    pub(crate) fn slice_of(&self, ts: Timestamp) -> Timestamp {
        floor_to(ts, self.slice_ms)
    }

    /// The last timestamp of the window that starts at `start`.
    pub(crate) fn max_timestamp(&self, start: Timestamp) -> Timestamp {
        start.saturating_add(self.size_ms - 1)
    }

    /// The end (exclusive) of the window that starts at `start`.
    pub(crate) fn window_end(&self, start: Timestamp) -> Timestamp {
        start.saturating_add(self.size_ms)
    }

    /// The starts of the first and the last window that hold the slice
    /// starting at `slice`; `None` when no window does (a slide longer than
    /// the size leaves gaps).
    pub(crate) fn windows_of(&self, slice: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let last = floor_to(slice, self.slide_ms);
        // The oldest window still holds the whole slice: start >= slice + slice_ms - size.
        let lowest = slice
            .saturating_add(self.slice_ms)
            .saturating_sub(self.size_ms);
        let below = floor_to(lowest, self.slide_ms);
        let first = if below == lowest {
            below
        } else {
            below.saturating_add(self.slide_ms)
        };
        (first <= last).then_some((first, last))
    }

    /// The window starts from `first` to `last`, oldest first.
    pub(crate) fn starts(
        &self,
        (first, last): (Timestamp, Timestamp),
    ) -> impl Iterator<Item = Timestamp> + use<> {
        let slide = self.slide_ms;
        std::iter::successors(Some(first), move |s| s.checked_add(slide))
            .take_while(move |s| *s <= last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{SlidingEventTimeWindows, WindowAssigner};

    /// The window starts the assigner gives a record at `ts`.
    fn assigned(size: u64, slide: u64, ts: i64) -> Vec<i64> {
        let mut out = Vec::new();
        WindowAssigner::<()>::assign(&SlidingEventTimeWindows::of(size, slide), &(), ts, &mut out);
        out.iter().map(|w| w.start).collect()
    }

    fn sliced(size: i64, slide: i64, ts: i64) -> Vec<i64> {
        let s = Slicing::new(size, slide);
        s.windows_of(s.slice_of(ts))
            .map(|range| s.starts(range).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_slice_lies_in_exactly_the_windows_the_assigner_gives_its_records() {
        for (size, slide) in [(10_000, 2_000), (10, 3), (6, 4), (5, 5), (3, 7), (1, 1)] {
            for ts in -50..50 {
                assert_eq!(
                    sliced(size, slide, ts),
                    assigned(size as u64, slide as u64, ts),
                    "size {size} slide {slide} ts {ts}"
                );
            }
        }
        assert_eq!(
            sliced(10_000, 2_000, 12_345),
            vec![4_000, 6_000, 8_000, 10_000, 12_000]
        );
    }

    #[test]
    fn slices_are_the_gcd_of_size_and_slide() {
        let s = Slicing::new(10, 4);
        assert_eq!(s.slice_of(7), 6);
        assert_eq!(s.slice_of(-1), -2);
        // Slice [12, 14) is in the windows starting at 4, 8 and 12.
        assert_eq!(s.windows_of(12), Some((4, 12)));
        assert_eq!(s.max_timestamp(4), 13);
    }

    #[test]
    fn a_slide_longer_than_the_size_leaves_slices_in_no_window() {
        let s = Slicing::new(3, 7);
        assert_eq!(s.windows_of(s.slice_of(5)), None);
        assert_eq!(s.windows_of(s.slice_of(8)), Some((7, 7)));
    }
}

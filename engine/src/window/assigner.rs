//! Window types and the assigners that map a record to its windows.

use std::fmt::Debug;
use std::hash::Hash;

use super::slicing::Slicing;
use crate::time::Timestamp;

/// A window: a namespace for keyed state with a last timestamp. Windows
/// are part of keyed state, so they are [`StateData`](crate::StateData).
pub trait Window:
    Hash + Eq + Ord + Clone + Debug + Send + Sync + crate::StateData + 'static
{
    /// The largest timestamp that belongs to the window.
    fn max_timestamp(&self) -> Timestamp;
    /// True when two windows of a merging assigner must become one.
    fn intersects(&self, _other: &Self) -> bool {
        false
    }
    /// The window covering both.
    fn cover(&self, _other: &Self) -> Self {
        self.clone()
    }
}

/// A time interval `[start, end)`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct TimeWindow {
    /// First timestamp in the window.
    pub start: Timestamp,
    /// First timestamp after the window.
    pub end: Timestamp,
}

impl TimeWindow {
    /// A window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }
}

impl Window for TimeWindow {
    fn max_timestamp(&self) -> Timestamp {
        self.end.saturating_sub(1)
    }
    /// Overlapping or touching windows merge (sessions).
    fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && other.start <= self.end
    }
    fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// The single window of all records, for use with a custom trigger.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct GlobalWindow;

impl Window for GlobalWindow {
    fn max_timestamp(&self) -> Timestamp {
        i64::MAX
    }
}

/// Maps a record to the windows it belongs to.
pub trait WindowAssigner<T>: Clone + Send + Sync + 'static {
    /// The window type.
    type W: Window;
    /// Appends the windows of a record with timestamp `ts` (event time, or
    /// processing time for processing-time assigners) to `out`.
    fn assign(&self, value: &T, ts: Timestamp, out: &mut Vec<Self::W>);
    /// True for event-time windows (they need timestamps and watermarks).
    fn is_event_time(&self) -> bool;
    /// True for merging windows (sessions).
    fn is_merging(&self) -> bool {
        false
    }
}

/// The start of the window of `size` (shifted by `offset`) containing `ts`.
fn window_start(ts: Timestamp, offset: i64, size: i64) -> Timestamp {
    ts - (ts - offset).rem_euclid(size)
}

/// Fixed-size, non-overlapping event-time windows.
#[derive(Debug, Clone, Copy)]
pub struct TumblingEventTimeWindows {
    size_ms: i64,
    offset_ms: i64,
}

impl TumblingEventTimeWindows {
    /// Windows of `size_ms`, aligned to the epoch.
    pub fn of(size_ms: u64) -> Self {
        Self {
            size_ms: (size_ms.max(1)).min(i64::MAX as u64) as i64,
            offset_ms: 0,
        }
    }

    /// Shifts the windows by `offset_ms` (e.g. for time zones).
    pub fn with_offset(mut self, offset_ms: i64) -> Self {
        self.offset_ms = offset_ms.rem_euclid(self.size_ms);
        self
    }
}

impl<T> WindowAssigner<T> for TumblingEventTimeWindows {
    type W = TimeWindow;
    fn assign(&self, _value: &T, ts: Timestamp, out: &mut Vec<TimeWindow>) {
        let start = window_start(ts, self.offset_ms, self.size_ms);
        out.push(TimeWindow::new(start, start.saturating_add(self.size_ms)));
    }
    fn is_event_time(&self) -> bool {
        true
    }
}

/// Fixed-size, non-overlapping windows in processing time.
#[derive(Debug, Clone, Copy)]
pub struct TumblingProcessingTimeWindows {
    size_ms: i64,
}

impl TumblingProcessingTimeWindows {
    /// Windows of `size_ms`, aligned to the epoch.
    pub fn of(size_ms: u64) -> Self {
        Self {
            size_ms: (size_ms.max(1)).min(i64::MAX as u64) as i64,
        }
    }
}

impl<T> WindowAssigner<T> for TumblingProcessingTimeWindows {
    type W = TimeWindow;
    fn assign(&self, _value: &T, now_ms: Timestamp, out: &mut Vec<TimeWindow>) {
        let start = window_start(now_ms, 0, self.size_ms);
        out.push(TimeWindow::new(start, start.saturating_add(self.size_ms)));
    }
    fn is_event_time(&self) -> bool {
        false
    }
}

/// Fixed-size windows that start every `slide` (hopping windows).
#[derive(Debug, Clone, Copy)]
pub struct SlidingEventTimeWindows {
    size_ms: i64,
    slide_ms: i64,
}

impl SlidingEventTimeWindows {
    /// Windows of `size_ms` starting every `slide_ms`, aligned to the epoch.
    pub fn of(size_ms: u64, slide_ms: u64) -> Self {
        Self {
            size_ms: (size_ms.max(1)).min(i64::MAX as u64) as i64,
            slide_ms: (slide_ms.max(1)).min(i64::MAX as u64) as i64,
        }
    }
}

impl SlidingEventTimeWindows {
    /// The slices these windows are made of.
    pub(crate) fn slicing(&self) -> Slicing {
        Slicing::new(self.size_ms, self.slide_ms)
    }
}

impl<T> WindowAssigner<T> for SlidingEventTimeWindows {
    type W = TimeWindow;
    fn assign(&self, _value: &T, ts: Timestamp, out: &mut Vec<TimeWindow>) {
        let last_start = window_start(ts, 0, self.slide_ms);
        // Windows that hold `ts` start after `lowest`; with a slide longer
        // than the size, `ts` may fall between windows and be in none.
        let lowest = ts.saturating_sub(self.size_ms);
        if last_start <= lowest {
            return;
        }
        // Oldest first, so output order does not depend on the slide count.
        let mut first = last_start;
        while first.saturating_sub(self.slide_ms) > lowest {
            first -= self.slide_ms;
        }
        let mut s = first;
        while s <= last_start {
            out.push(TimeWindow::new(s, s.saturating_add(self.size_ms)));
            s += self.slide_ms;
        }
    }
    fn is_event_time(&self) -> bool {
        true
    }
}

/// Windows that close after a gap of inactivity per key.
#[derive(Debug, Clone, Copy)]
pub struct EventTimeSessionWindows {
    gap_ms: i64,
}

impl EventTimeSessionWindows {
    /// Sessions separated by at least `gap_ms` without records.
    pub fn with_gap(gap_ms: u64) -> Self {
        Self {
            gap_ms: (gap_ms.max(1)).min(i64::MAX as u64) as i64,
        }
    }
}

impl<T> WindowAssigner<T> for EventTimeSessionWindows {
    type W = TimeWindow;
    fn assign(&self, _value: &T, ts: Timestamp, out: &mut Vec<TimeWindow>) {
        out.push(TimeWindow::new(ts, ts.saturating_add(self.gap_ms)));
    }
    fn is_event_time(&self) -> bool {
        true
    }
    fn is_merging(&self) -> bool {
        true
    }
}

/// Assigns every record to the [`GlobalWindow`]; pair with a custom trigger.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalWindows;

impl GlobalWindows {
    /// The global window assigner.
    pub fn create() -> Self {
        Self
    }
}

impl<T> WindowAssigner<T> for GlobalWindows {
    type W = GlobalWindow;
    fn assign(&self, _value: &T, _ts: Timestamp, out: &mut Vec<GlobalWindow>) {
        out.push(GlobalWindow);
    }
    fn is_event_time(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_assigns_every_covering_window_oldest_first() {
        let a = SlidingEventTimeWindows::of(10_000, 2_000);
        let mut out = Vec::new();
        WindowAssigner::<()>::assign(&a, &(), 12_345, &mut out);
        let starts: Vec<i64> = out.iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![4_000, 6_000, 8_000, 10_000, 12_000]);
        assert!(out.iter().all(|w| w.start <= 12_345 && 12_345 < w.end));
    }

    #[test]
    fn sliding_with_gaps_assigns_no_window_between_windows() {
        let a = SlidingEventTimeWindows::of(3, 7);
        let mut out = Vec::new();
        WindowAssigner::<()>::assign(&a, &(), 12, &mut out);
        assert!(out.is_empty(), "12 is between [7, 10) and [14, 17)");
        WindowAssigner::<()>::assign(&a, &(), 15, &mut out);
        assert_eq!(out, vec![TimeWindow::new(14, 17)]);
    }

    #[test]
    fn tumbling_handles_negative_timestamps() {
        let a = TumblingEventTimeWindows::of(10);
        let mut out = Vec::new();
        WindowAssigner::<()>::assign(&a, &(), -3, &mut out);
        assert_eq!(out, vec![TimeWindow::new(-10, 0)]);
    }
}

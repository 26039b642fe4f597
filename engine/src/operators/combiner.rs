//! Combines watermarks, idleness and end-of-input across the inputs of a
//! multi-input operator.

use crate::time::{Timestamp, WATERMARK_MAX, WatermarkTracker};

/// The control state of the inputs of one operator.
pub(crate) struct InputCombiner {
    tracker: WatermarkTracker,
    ended: Vec<bool>,
    idle: bool,
}

/// What the operator should forward after a control event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Combined {
    pub(crate) watermark: Option<Timestamp>,
    pub(crate) idle_changed: Option<bool>,
    pub(crate) all_ended: bool,
}

impl InputCombiner {
    pub(crate) fn new(inputs: usize) -> Self {
        Self {
            tracker: WatermarkTracker::new(inputs),
            ended: vec![false; inputs],
            idle: false,
        }
    }

    pub(crate) fn watermark(&mut self, input: usize, wm: Timestamp) -> Combined {
        Combined {
            watermark: self.tracker.update(input, wm),
            ..Combined::default()
        }
    }

    pub(crate) fn idle(&mut self, input: usize, idle: bool) -> Combined {
        let watermark = self.tracker.set_idle(input, idle);
        let now = self.tracker.all_idle();
        let idle_changed = (now != self.idle).then_some(now);
        self.idle = now;
        Combined {
            watermark,
            idle_changed,
            all_ended: false,
        }
    }

    /// Input `input` ended; with `drain` false (the job stops to be
    /// resumed) it keeps holding the watermark where it was.
    pub(crate) fn end(&mut self, input: usize, drain: bool) -> Combined {
        let watermark = if drain {
            self.tracker.update(input, WATERMARK_MAX)
        } else {
            None
        };
        if let Some(e) = self.ended.get_mut(input) {
            *e = true;
        }
        Combined {
            watermark,
            idle_changed: None,
            all_ended: self.ended.iter().all(|&e| e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_only_when_every_input_ended() {
        let mut c = InputCombiner::new(2);
        assert_eq!(c.watermark(0, 5).watermark, None);
        assert_eq!(c.watermark(1, 3).watermark, Some(3));
        let first = c.end(0, true);
        assert!(!first.all_ended);
        assert_eq!(
            first.watermark, None,
            "input 1 still holds the watermark at 3"
        );
        let second = c.end(1, true);
        assert!(second.all_ended);
        assert_eq!(second.watermark, Some(WATERMARK_MAX));
    }

    #[test]
    fn inputs_that_stop_without_drain_release_no_watermark() {
        let mut c = InputCombiner::new(2);
        assert_eq!(c.watermark(0, 5).watermark, None);
        assert_eq!(c.watermark(1, 3).watermark, Some(3));
        let first = c.end(1, false);
        assert_eq!(
            first.watermark, None,
            "the stopped input keeps holding at 3"
        );
        let second = c.end(0, false);
        assert!(second.all_ended);
        assert_eq!(second.watermark, None);
    }
}

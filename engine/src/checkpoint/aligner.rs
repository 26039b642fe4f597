//! Barrier alignment for a task with several input channels, as a pure
//! state machine: channel events in, decisions out.
//!
//! When barrier `n` arrives on one channel, that channel is blocked (its
//! later records belong after the checkpoint) until barrier `n` has arrived
//! on every channel that has not ended. Then the task snapshots, forwards
//! the barrier and unblocks everything. A barrier newer than the one being
//! aligned means checkpoint `n` was abandoned upstream: alignment restarts
//! on the newer one (Flink does the same).

/// What the task must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Alignment {
    /// Keep delivering; nothing to do.
    Continue,
    /// Stop taking messages from this channel until alignment completes.
    Block(usize),
    /// Every live channel delivered barrier `id`: snapshot, forward the
    /// barrier, and unblock every channel.
    Aligned {
        /// The checkpoint.
        id: u64,
    },
    /// Alignment of `abandoned` stopped because a newer barrier arrived;
    /// channels are unblocked and alignment of the newer one began (the
    /// channel the newer barrier came on is blocked).
    Superseded {
        /// The checkpoint given up on this task.
        abandoned: u64,
        /// The channel to block for the new alignment, when one is needed.
        block: Option<usize>,
    },
}

/// The alignment state of one task's input channels.
#[derive(Debug)]
pub(crate) struct BarrierAligner {
    ended: Vec<bool>,
    /// The checkpoint being aligned and which channels delivered it.
    current: Option<(u64, Vec<bool>)>,
    /// The newest checkpoint aligned (or abandoned) so far; older barriers
    /// are stale and ignored.
    last_id: u64,
}

impl BarrierAligner {
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            ended: vec![false; channels],
            current: None,
            last_id: 0,
        }
    }

    /// The checkpoint under alignment, if any.
    pub(crate) fn aligning(&self) -> Option<u64> {
        self.current.as_ref().map(|(id, _)| *id)
    }

    /// True while `channel` must not deliver.
    #[cfg(test)]
    pub(crate) fn is_blocked(&self, channel: usize) -> bool {
        self.current
            .as_ref()
            .is_some_and(|(_, seen)| seen.get(channel).copied().unwrap_or(false))
    }

    /// Barrier `id` arrived on `channel`.
    pub(crate) fn on_barrier(&mut self, channel: usize, id: u64) -> Alignment {
        if id <= self.last_id || channel >= self.ended.len() {
            return Alignment::Continue;
        }
        let mut abandoned = None;
        match &mut self.current {
            Some((cur, seen)) if *cur == id => {
                if let Some(s) = seen.get_mut(channel) {
                    *s = true;
                }
            }
            Some((cur, _)) if *cur > id => return Alignment::Continue,
            current => {
                abandoned = current.as_ref().map(|(cur, _)| *cur);
                let mut seen = vec![false; self.ended.len()];
                if let Some(s) = seen.get_mut(channel) {
                    *s = true;
                }
                *current = Some((id, seen));
            }
        }
        if self.complete() {
            return self.finish(id, abandoned);
        }
        match abandoned {
            Some(abandoned) => Alignment::Superseded {
                abandoned,
                block: Some(channel),
            },
            None => Alignment::Block(channel),
        }
    }

    /// `channel` ended: it holds no barrier back any more.
    pub(crate) fn on_end(&mut self, channel: usize) -> Alignment {
        if let Some(e) = self.ended.get_mut(channel) {
            *e = true;
        }
        match self.aligning() {
            Some(id) if self.complete() => self.finish(id, None),
            _ => Alignment::Continue,
        }
    }

    fn complete(&self) -> bool {
        let Some((_, seen)) = &self.current else {
            return false;
        };
        self.ended
            .iter()
            .zip(seen)
            .all(|(ended, seen)| *ended || *seen)
    }

    fn finish(&mut self, id: u64, abandoned: Option<u64>) -> Alignment {
        self.current = None;
        self.last_id = id;
        match abandoned {
            // A single-input task can supersede and complete at once.
            Some(abandoned) => Alignment::Superseded {
                abandoned,
                block: None,
            },
            None => Alignment::Aligned { id },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_aligns_at_once() {
        let mut a = BarrierAligner::new(1);
        assert_eq!(a.on_barrier(0, 1), Alignment::Aligned { id: 1 });
        assert_eq!(a.aligning(), None);
    }

    #[test]
    fn channels_block_until_every_live_channel_delivered_the_barrier() {
        let mut a = BarrierAligner::new(3);
        assert_eq!(a.on_barrier(1, 4), Alignment::Block(1));
        assert!(a.is_blocked(1) && !a.is_blocked(0));
        assert_eq!(a.on_barrier(0, 4), Alignment::Block(0));
        assert_eq!(a.on_barrier(2, 4), Alignment::Aligned { id: 4 });
        assert!(!a.is_blocked(0) && !a.is_blocked(1));
    }

    #[test]
    fn an_ended_channel_counts_as_aligned() {
        let mut a = BarrierAligner::new(2);
        assert_eq!(a.on_barrier(0, 2), Alignment::Block(0));
        assert_eq!(a.on_end(1), Alignment::Aligned { id: 2 });
        // Later checkpoints need only the live channel.
        assert_eq!(a.on_barrier(0, 3), Alignment::Aligned { id: 3 });
    }

    #[test]
    fn stale_barriers_are_ignored() {
        let mut a = BarrierAligner::new(2);
        a.on_barrier(0, 5);
        assert_eq!(a.on_barrier(1, 5), Alignment::Aligned { id: 5 });
        assert_eq!(a.on_barrier(0, 5), Alignment::Continue);
        assert_eq!(a.on_barrier(0, 3), Alignment::Continue);
    }

    #[test]
    fn a_newer_barrier_supersedes_the_alignment_in_progress() {
        let mut a = BarrierAligner::new(2);
        assert_eq!(a.on_barrier(0, 1), Alignment::Block(0));
        assert_eq!(
            a.on_barrier(0, 2),
            Alignment::Superseded {
                abandoned: 1,
                block: Some(0)
            }
        );
        // Checkpoint 1's barrier arriving late on the other channel is stale.
        assert_eq!(a.on_barrier(1, 1), Alignment::Continue);
        assert_eq!(a.on_barrier(1, 2), Alignment::Aligned { id: 2 });
    }
}

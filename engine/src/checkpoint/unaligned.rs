//! Unaligned barrier handling for a task with several input channels, as
//! a pure state machine: channel events in, decisions out.
//!
//! The first barrier of checkpoint `n` on any channel starts the
//! checkpoint at once: the task snapshots and forwards the barrier without
//! blocking a channel. What the other channels deliver after that and
//! before their own barrier `n` was sent before the barrier upstream, so it
//! is part of checkpoint `n` but not of the task's snapshot: the task
//! records it (the checkpoint's in-flight records) while processing it as
//! usual, and the checkpoint is complete on this task once every live
//! channel delivered barrier `n` or ended. A restore replays the recorded
//! records before any new input. A newer barrier while `n` is still
//! recording abandons `n` (as with aligned barriers).

/// What the task must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unaligned {
    /// Nothing to do.
    Continue,
    /// First barrier of checkpoint `id`: snapshot now, forward the
    /// barrier, and record what channels `record` deliver until their own
    /// barrier (none: the checkpoint's in-flight part is already complete).
    /// `abandoned`: the checkpoint still recording that this one replaces.
    Start {
        /// The checkpoint.
        id: u64,
        /// The channels to record.
        record: Vec<usize>,
        /// The older checkpoint given up on this task, if one was recording.
        abandoned: Option<u64>,
    },
    /// `channel` delivered its barrier (or ended): stop recording it. When
    /// `complete`, no channel records any more and checkpoint `id`'s
    /// in-flight records are all there.
    Recorded {
        /// The checkpoint.
        id: u64,
        /// The channel whose recording ends.
        channel: usize,
        /// Whether it was the last channel recording.
        complete: bool,
    },
}

/// The unaligned barrier state of one task's input channels.
#[derive(Debug)]
pub(crate) struct UnalignedBarriers {
    ended: Vec<bool>,
    /// The checkpoint recording, and which channels still record.
    current: Option<(u64, Vec<bool>)>,
    /// The newest checkpoint started so far; older barriers are stale.
    last_id: u64,
}

impl UnalignedBarriers {
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            ended: vec![false; channels],
            current: None,
            last_id: 0,
        }
    }

    /// The checkpoint whose in-flight records are being recorded, if any.
    #[cfg(test)]
    pub(crate) fn recording(&self) -> Option<u64> {
        self.current.as_ref().map(|(id, _)| *id)
    }

    /// Barrier `id` arrived on `channel`.
    pub(crate) fn on_barrier(&mut self, channel: usize, id: u64) -> Unaligned {
        if channel >= self.ended.len() {
            return Unaligned::Continue;
        }
        if id <= self.last_id {
            // A later channel's barrier of the checkpoint recording ends
            // that channel's recording; anything else is stale.
            return match self.current {
                Some((cur, _)) if cur == id => self.stop(channel),
                _ => Unaligned::Continue,
            };
        }
        self.start(id, Some(channel))
    }

    /// The sender of `channel` announced barrier `id` ahead of the records
    /// queued before it: a newer checkpoint starts at once, and every live
    /// channel records (this one too: what it delivers until the barrier
    /// itself was queued before it).
    pub(crate) fn on_announce(&mut self, channel: usize, id: u64) -> Unaligned {
        if channel >= self.ended.len() || id <= self.last_id {
            return Unaligned::Continue;
        }
        self.start(id, None)
    }

    /// Starts checkpoint `id`: every live channel but `delivered` (the one
    /// whose barrier already arrived, if any) records.
    fn start(&mut self, id: u64, delivered: Option<usize>) -> Unaligned {
        let abandoned = self.current.take().map(|(cur, _)| cur);
        self.last_id = id;
        let live: Vec<bool> = self
            .ended
            .iter()
            .enumerate()
            .map(|(c, ended)| !ended && Some(c) != delivered)
            .collect();
        let record: Vec<usize> = (0..live.len())
            .filter(|&c| live.get(c).copied().unwrap_or(false))
            .collect();
        if !record.is_empty() {
            self.current = Some((id, live));
        }
        Unaligned::Start {
            id,
            record,
            abandoned,
        }
    }

    /// `channel` ended: it sends no barrier, so its recording ends here.
    pub(crate) fn on_end(&mut self, channel: usize) -> Unaligned {
        if let Some(e) = self.ended.get_mut(channel) {
            *e = true;
        }
        self.stop(channel)
    }

    fn stop(&mut self, channel: usize) -> Unaligned {
        let Some((id, recording)) = self.current.as_mut() else {
            return Unaligned::Continue;
        };
        let id = *id;
        match recording.get_mut(channel) {
            Some(r) if *r => *r = false,
            _ => return Unaligned::Continue,
        }
        let complete = !recording.iter().any(|r| *r);
        if complete {
            self.current = None;
        }
        Unaligned::Recorded {
            id,
            channel,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: u64, record: &[usize], abandoned: Option<u64>) -> Unaligned {
        Unaligned::Start {
            id,
            record: record.to_vec(),
            abandoned,
        }
    }

    fn recorded(id: u64, channel: usize, complete: bool) -> Unaligned {
        Unaligned::Recorded {
            id,
            channel,
            complete,
        }
    }

    #[test]
    fn one_channel_starts_and_has_nothing_in_flight() {
        let mut u = UnalignedBarriers::new(1);
        assert_eq!(u.on_barrier(0, 1), start(1, &[], None));
        assert_eq!(u.recording(), None);
    }

    #[test]
    fn the_first_barrier_starts_and_the_others_end_their_channels_recording() {
        let mut u = UnalignedBarriers::new(3);
        assert_eq!(u.on_barrier(1, 4), start(4, &[0, 2], None));
        assert_eq!(u.recording(), Some(4));
        assert_eq!(u.on_barrier(2, 4), recorded(4, 2, false));
        // A repeated barrier on a channel that stopped recording is stale.
        assert_eq!(u.on_barrier(2, 4), Unaligned::Continue);
        assert_eq!(u.on_barrier(1, 4), Unaligned::Continue);
        assert_eq!(u.on_barrier(0, 4), recorded(4, 0, true));
        assert_eq!(u.recording(), None);
    }

    #[test]
    fn an_ended_channel_stops_recording_and_is_left_out_later() {
        let mut u = UnalignedBarriers::new(2);
        assert_eq!(u.on_barrier(0, 2), start(2, &[1], None));
        assert_eq!(u.on_end(1), recorded(2, 1, true));
        assert_eq!(u.on_barrier(0, 3), start(3, &[], None));
        assert_eq!(u.on_end(0), Unaligned::Continue);
    }

    #[test]
    fn stale_barriers_are_ignored() {
        let mut u = UnalignedBarriers::new(2);
        u.on_barrier(0, 5);
        assert_eq!(u.on_barrier(1, 5), recorded(5, 1, true));
        assert_eq!(u.on_barrier(0, 3), Unaligned::Continue);
        assert_eq!(u.on_barrier(1, 5), Unaligned::Continue);
    }

    #[test]
    fn an_announced_barrier_starts_the_checkpoint_and_every_channel_records_until_its_own() {
        let mut u = UnalignedBarriers::new(3);
        u.on_end(2);
        assert_eq!(u.on_announce(1, 6), start(6, &[0, 1], None));
        // Announcing again, or on another channel, changes nothing.
        assert_eq!(u.on_announce(0, 6), Unaligned::Continue);
        assert_eq!(u.on_barrier(1, 6), recorded(6, 1, false));
        assert_eq!(u.on_barrier(0, 6), recorded(6, 0, true));
        // A barrier that arrives before its announcement is seen starts the
        // checkpoint the usual way; the late announcement is stale.
        assert_eq!(u.on_barrier(0, 7), start(7, &[1], None));
        assert_eq!(u.on_announce(1, 7), Unaligned::Continue);
        assert_eq!(u.on_announce(1, 8), start(8, &[0, 1], Some(7)));
    }

    #[test]
    fn a_newer_barrier_abandons_the_checkpoint_still_recording() {
        let mut u = UnalignedBarriers::new(2);
        assert_eq!(u.on_barrier(0, 1), start(1, &[1], None));
        assert_eq!(u.on_barrier(0, 2), start(2, &[1], Some(1)));
        // Checkpoint 1's barrier arriving late on the other channel is stale.
        assert_eq!(u.on_barrier(1, 1), Unaligned::Continue);
        assert_eq!(u.on_barrier(1, 2), recorded(2, 1, true));
    }
}

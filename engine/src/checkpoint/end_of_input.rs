//! The end of bounded input with checkpoints on (Flink's checkpoints after
//! tasks finish, FLIP-147). A source that read all its input stays and
//! keeps injecting barriers, so checkpoints go on while other sources still
//! read. Once every source has ended, one final checkpoint is taken. It
//! holds each sink's output since the checkpoint before, so that output is
//! committed, and recovered, like any other. Only then do the sources end.
//! Without it, that output lived in memory until the job ended, and a
//! failure while it was published could not be recovered.
//!
//! Pure state; the [`CheckpointCoordinator`](super::CheckpointCoordinator)
//! feeds it.

/// Final checkpoints tried before the sources end without one (its output
/// is then committed when the job ends, as with `final_checkpoint` off).
pub(crate) const FINAL_ATTEMPTS_MAX: u32 = 3;

/// Pause after a failed final checkpoint before the next attempt.
pub(crate) const FINAL_RETRY_PAUSE_MS: u64 = 100;

#[derive(Debug, Default)]
pub(crate) struct EndOfInput {
    /// Every source read all its input.
    ended: bool,
    /// The final checkpoint in flight.
    final_id: Option<u64>,
    /// Final checkpoints that failed.
    failures: u32,
    /// The sources were told to end.
    released: bool,
}

impl EndOfInput {
    /// Every source ended its input; false if that was known.
    pub(crate) fn input_ended(&mut self) -> bool {
        !std::mem::replace(&mut self.ended, true)
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    pub(crate) fn released(&self) -> bool {
        self.released
    }

    /// The next checkpoint to start is the final one.
    pub(crate) fn wants_final(&self) -> bool {
        self.ended && !self.released && self.final_id.is_none()
    }

    /// How long after the last checkpoint ended the final one may start.
    pub(crate) fn retry_pause_ms(&self) -> u64 {
        if self.failures == 0 {
            0
        } else {
            FINAL_RETRY_PAUSE_MS
        }
    }

    /// Checkpoint `id` started.
    pub(crate) fn triggered(&mut self, id: u64) {
        if self.wants_final() {
            self.final_id = Some(id);
        }
    }

    pub(crate) fn is_final(&self, id: u64) -> bool {
        self.final_id == Some(id)
    }

    /// Checkpoint `id` failed; true when it was the final one and no
    /// attempt is left.
    pub(crate) fn failed(&mut self, id: u64) -> bool {
        if !self.is_final(id) {
            return false;
        }
        self.final_id = None;
        self.failures += 1;
        self.failures >= FINAL_ATTEMPTS_MAX
    }

    /// Tells the sources to end; false if they were told before.
    pub(crate) fn release(&mut self) -> bool {
        !std::mem::replace(&mut self.released, true)
    }
}

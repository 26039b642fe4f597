//! Acknowledging a batch once it is durable: a checkpoint that completed
//! holds its effect, so it survives any later failure of the job.
//!
//! A batch enters the queue whole and a split passes it into the job in one
//! poll, so a barrier never falls inside it. The split notes the batch
//! until its next barrier, then under that checkpoint's id, and answers it
//! when that checkpoint (or a later one) completes. When the job fails, the
//! splits hand what they still hold to the [`AckBook`]; the next attempt
//! answers it from the checkpoint it restored: covered means durable, the
//! rest was rolled back and is answered with an error, so the producer
//! sends it again and each record counts once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender};

use super::error::EmbedError;

/// The answer waiting for one batch.
#[derive(Debug)]
pub(crate) struct BatchAck {
    answer: Sender<Result<(), String>>,
}

impl BatchAck {
    pub(crate) fn new() -> (Arc<Self>, Durable) {
        let (answer, rx) = async_channel::bounded(1);
        (Arc::new(Self { answer }), Durable { rx })
    }

    /// The first answer counts; later ones are ignored.
    fn answer(&self, result: Result<(), String>) {
        let _ = self.answer.try_send(result);
        self.answer.close();
    }

    pub(crate) fn durable(&self) {
        self.answer(Ok(()));
    }

    pub(crate) fn lost(&self, reason: &str) {
        self.answer(Err(reason.to_string()));
    }
}

/// Resolves once a batch sent with [`Ingest::send_durable`] is durable:
/// `Ok` when a completed checkpoint holds all its records (or the job
/// processed it to the end), [`EmbedError::NotDurable`] when a failure
/// rolled it back — send it again; none of it counts.
///
/// [`Ingest::send_durable`]: super::Ingest::send_durable
#[derive(Debug)]
#[must_use = "the batch is durable only once this resolves to Ok"]
pub struct Durable {
    rx: Receiver<Result<(), String>>,
}

impl Durable {
    /// Waits for the answer.
    pub async fn wait(self) -> Result<(), EmbedError> {
        match self.rx.recv().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(EmbedError::NotDurable { reason }),
            // Every holder dropped it unanswered: the engine went away.
            Err(_) => Err(EmbedError::NotDurable {
                reason: "the engine stopped before the batch was checkpointed".into(),
            }),
        }
    }
}

/// One split's batches on their way to a completed checkpoint.
#[derive(Debug, Default)]
pub(crate) struct SplitAcks {
    /// Passed into the job since the split's last barrier.
    since_barrier: Vec<Arc<BatchAck>>,
    /// Behind the barrier of each checkpoint, oldest first.
    behind: VecDeque<(u64, Vec<Arc<BatchAck>>)>,
}

impl SplitAcks {
    pub(crate) fn passed(&mut self, ack: Arc<BatchAck>) {
        self.since_barrier.push(ack);
    }

    pub(crate) fn barrier(&mut self, checkpoint_id: u64) {
        if !self.since_barrier.is_empty() {
            let acks = std::mem::take(&mut self.since_barrier);
            self.behind.push_back((checkpoint_id, acks));
        }
    }

    pub(crate) fn completed(&mut self, checkpoint_id: u64) {
        while self
            .behind
            .front()
            .is_some_and(|(id, _)| *id <= checkpoint_id)
        {
            if let Some((_, acks)) = self.behind.pop_front() {
                acks.iter().for_each(|a| a.durable());
            }
        }
    }

    /// What is still unanswered, with the checkpoint that would cover it.
    fn unanswered(&mut self) -> impl Iterator<Item = (Option<u64>, Arc<BatchAck>)> {
        let behind = std::mem::take(&mut self.behind)
            .into_iter()
            .flat_map(|(id, acks)| acks.into_iter().map(move |a| (Some(id), a)));
        let loose = std::mem::take(&mut self.since_barrier)
            .into_iter()
            .map(|a| (None, a));
        behind.chain(loose)
    }
}

/// The batches whose split ended before answering them, until the next
/// attempt (or the end of the job) decides.
#[derive(Debug, Default)]
pub(crate) struct AckBook {
    orphans: Mutex<Vec<(Option<u64>, Arc<BatchAck>)>>,
}

impl AckBook {
    /// A split ends (its task finished or failed) with these unanswered.
    pub(crate) fn adopt(&self, acks: &mut SplitAcks) {
        let mut orphans = self.lock();
        orphans.extend(acks.unanswered());
    }

    /// The next attempt restored checkpoint `restored` (`None`: it started
    /// afresh): what that checkpoint covers is durable, the rest rolled
    /// back. Called by every split of the attempt; the first decides.
    pub(crate) fn restored(&self, restored: Option<u64>) {
        for (id, ack) in self.lock().drain(..) {
            match (id, restored) {
                (Some(id), Some(r)) if id <= r => ack.durable(),
                _ => ack.lost(
                    "the job failed and restarted from a checkpoint taken before this batch; \
                     its records were rolled back: send it again",
                ),
            }
        }
    }

    /// The job ended: when it succeeded, everything it took was processed
    /// to the end; when it failed, nothing unanswered is durable.
    pub(crate) fn ended(&self, succeeded: bool) {
        for (_, ack) in self.lock().drain(..) {
            if succeeded {
                ack.durable();
            } else {
                ack.lost("the job failed before this batch was checkpointed");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Option<u64>, Arc<BatchAck>)>> {
        self.orphans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn answer(d: Durable) -> Result<(), String> {
        block_on(d.wait()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_batch_is_durable_when_the_checkpoint_after_it_completes() {
        let mut split = SplitAcks::default();
        let (a, da) = BatchAck::new();
        let (b, db) = BatchAck::new();
        split.passed(a);
        split.barrier(3);
        split.passed(b);
        split.completed(2);
        assert!(
            da.rx.is_empty(),
            "checkpoint 2 does not cover a batch behind barrier 3"
        );
        split.completed(3);
        assert_eq!(answer(da), Ok(()));
        assert!(db.rx.is_empty(), "b came after barrier 3");
        split.barrier(5);
        // Checkpoint 4 failed; 5 covers what came before its barrier.
        split.completed(5);
        assert_eq!(answer(db), Ok(()));
    }

    #[test]
    fn after_a_failure_the_restored_checkpoint_decides() {
        let book = AckBook::default();
        let mut split = SplitAcks::default();
        let (a, da) = BatchAck::new();
        let (b, db) = BatchAck::new();
        let (c, dc) = BatchAck::new();
        split.passed(a);
        split.barrier(7);
        split.passed(b);
        split.barrier(8);
        split.passed(c);
        book.adopt(&mut split);
        book.restored(Some(7));
        assert_eq!(answer(da), Ok(()), "checkpoint 7 completed and holds a");
        assert!(answer(db).unwrap_err().contains("send it again"));
        assert!(answer(dc).is_err(), "c was behind no barrier");
        // Later splits of the attempt find nothing left to decide.
        book.restored(None);
    }

    #[test]
    fn a_fresh_start_after_a_failure_loses_everything_unanswered() {
        let book = AckBook::default();
        let mut split = SplitAcks::default();
        let (a, da) = BatchAck::new();
        split.passed(a);
        split.barrier(1);
        book.adopt(&mut split);
        book.restored(None);
        assert!(answer(da).is_err());
    }

    #[test]
    fn the_end_of_the_job_answers_what_is_left() {
        let book = AckBook::default();
        let mut split = SplitAcks::default();
        let (a, da) = BatchAck::new();
        let (b, db) = BatchAck::new();
        split.passed(a);
        book.adopt(&mut split);
        book.ended(true);
        assert_eq!(answer(da), Ok(()));
        split.passed(b);
        book.adopt(&mut split);
        book.ended(false);
        assert!(answer(db).unwrap_err().contains("failed"));
    }

    #[test]
    fn a_batch_nobody_answers_is_not_durable() {
        let (a, d) = BatchAck::new();
        drop(a);
        assert!(answer(d).unwrap_err().contains("stopped"));
    }
}

//! The checkpoint coordinator as a pure state machine: the clock reading
//! and the tasks' acknowledgements come in, decisions come out. The driver
//! (`driver.rs`) does the I/O: injecting barriers, writing manifests,
//! committing sinks.

use std::collections::{BTreeMap, HashMap};

use super::end_of_input::EndOfInput;
use super::snapshot::{TaskKey, TaskSnapshot};

/// When checkpoints are taken (the `checkpoint.*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinatorSettings {
    /// Time between checkpoint starts.
    pub interval_ms: u64,
    /// A checkpoint not complete after this long is aborted.
    pub timeout_ms: u64,
    /// Checkpoints allowed in flight at once.
    pub concurrent_max: u32,
    /// Minimum pause between the end of one checkpoint and the next start.
    pub pause_min_ms: u64,
}

/// What the driver must do.
#[derive(Debug)]
pub enum Decision {
    /// Inject barrier `id` at every source.
    Trigger {
        /// The checkpoint.
        id: u64,
    },
    /// Every task acknowledged `id`: persist its manifest, then commit.
    Complete {
        /// The checkpoint.
        id: u64,
        /// Every task's snapshot, ordered by task.
        snapshots: Vec<(TaskKey, TaskSnapshot)>,
    },
    /// Checkpoint `id` failed; the job goes on.
    Abort {
        /// The checkpoint.
        id: u64,
        /// Why, as a sentence.
        reason: String,
    },
    /// Every source read all its input, and the final checkpoint is
    /// stored and committed (`None`: it could not be taken): the sources
    /// may end, and the job with them.
    EndInput {
        /// The final checkpoint.
        final_checkpoint: Option<u64>,
    },
}

#[derive(Debug)]
struct Pending {
    started_ms: u64,
    acks: HashMap<TaskKey, TaskSnapshot>,
}

/// Tracks the checkpoints of one job run.
#[derive(Debug)]
pub struct CheckpointCoordinator {
    settings: CoordinatorSettings,
    tasks: usize,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    last_trigger_ms: Option<u64>,
    last_end_ms: Option<u64>,
    /// Set once a task finished: no further checkpoint can complete.
    stopped: bool,
    /// A savepoint asked for a checkpoint now.
    requested: bool,
    /// The final checkpoint once every source read all its input.
    end: EndOfInput,
    /// When the first periodic checkpoint is due.
    first_due_ms: u64,
}

impl CheckpointCoordinator {
    /// A coordinator expecting an acknowledgement from each of `tasks`
    /// tasks per checkpoint; the first checkpoint is `first_id`.
    pub fn new(settings: CoordinatorSettings, tasks: usize, first_id: u64) -> Self {
        Self {
            settings,
            tasks,
            next_id: first_id.max(1),
            pending: BTreeMap::new(),
            last_trigger_ms: None,
            last_end_ms: None,
            stopped: false,
            requested: false,
            end: EndOfInput::default(),
            first_due_ms: settings.interval_ms,
        }
    }

    /// The job started at `now_ms` on the caller's clock (default 0). A
    /// fresh job's first checkpoint comes one interval later: it has no
    /// state worth storing at its first instant. A job that restored a
    /// checkpoint (`restored`) takes one at once, as before: it bounds the
    /// replay if the next failure comes soon, and it shows the recovery
    /// complete.
    pub fn started_at(mut self, now_ms: u64, restored: bool) -> Self {
        self.first_due_ms = if restored {
            now_ms
        } else {
            now_ms.saturating_add(self.settings.interval_ms)
        };
        self
    }

    /// A savepoint wants a checkpoint: the next one starts as soon as fewer
    /// than `concurrent_max` are in flight, without waiting for the interval
    /// or the pause, even with periodic checkpoints off. False when no
    /// checkpoint can start any more (a task finished its input, or the
    /// sources were told to end).
    pub fn request_now(&mut self) -> bool {
        if self.stopped || self.tasks == 0 || self.end.released() {
            return false;
        }
        self.requested = true;
        true
    }

    /// Checkpoints in flight.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Time passed: abort overdue checkpoints, trigger the next when due.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        let overdue: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ms.saturating_sub(p.started_ms) >= self.settings.timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in overdue {
            self.pending.remove(&id);
            self.last_end_ms = Some(now_ms);
            out.push(Decision::Abort {
                id,
                reason: format!(
                    "checkpoint {id} did not complete within checkpoint.timeout_ms = {} ms",
                    self.settings.timeout_ms
                ),
            });
            self.final_failed(id, &mut out);
        }
        if self.due(now_ms) {
            self.requested = false;
            let id = self.next_id;
            self.next_id += 1;
            self.last_trigger_ms = Some(now_ms);
            self.end.triggered(id);
            self.pending.insert(
                id,
                Pending {
                    started_ms: now_ms,
                    acks: HashMap::new(),
                },
            );
            out.push(Decision::Trigger { id });
        }
        out
    }

    fn due(&self, now_ms: u64) -> bool {
        self.trigger_due_ms().is_some_and(|t| now_ms >= t)
    }

    /// The earliest clock reading at which [`Self::on_tick`] decides
    /// something (a trigger or a timeout) if no other event comes first;
    /// `None` if only an event can change anything. The driver sleeps
    /// until then instead of polling the clock.
    pub fn next_tick_ms(&self) -> Option<u64> {
        let timeout = self
            .pending
            .values()
            .map(|p| p.started_ms.saturating_add(self.settings.timeout_ms))
            .min();
        match (self.trigger_due_ms(), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the next checkpoint may start, if nothing else happens first.
    fn trigger_due_ms(&self) -> Option<u64> {
        let s = &self.settings;
        if self.stopped || self.tasks == 0 || self.end.released() {
            return None;
        }
        if self.pending.len() >= s.concurrent_max.max(1) as usize {
            return None;
        }
        if self.requested {
            return Some(0);
        }
        if self.end.wants_final() {
            // At once, unless the last final attempt failed just now.
            return Some(after_pause(self.last_end_ms, self.end.retry_pause_ms()));
        }
        if s.interval_ms == 0 {
            return None;
        }
        // With a pause configured, no new checkpoint starts while one runs.
        if s.pause_min_ms > 0 && !self.pending.is_empty() {
            return None;
        }
        // The first is due at `first_due_ms` (see `started_at`).
        let interval_due = match self.last_trigger_ms {
            Some(t) => t.saturating_add(s.interval_ms),
            None => self.first_due_ms,
        };
        Some(interval_due.max(after_pause(self.last_end_ms, s.pause_min_ms)))
    }

    /// Task `task` snapshotted checkpoint `id`.
    pub fn on_ack(
        &mut self,
        id: u64,
        task: TaskKey,
        snapshot: TaskSnapshot,
        now_ms: u64,
    ) -> Vec<Decision> {
        let Some(p) = self.pending.get_mut(&id) else {
            // Aborted or unknown: a late acknowledgement changes nothing.
            return Vec::new();
        };
        p.acks.insert(task, snapshot);
        if p.acks.len() < self.tasks {
            return Vec::new();
        }
        let Some(p) = self.pending.remove(&id) else {
            return Vec::new();
        };
        self.last_end_ms = Some(now_ms);
        let mut out = Vec::new();
        // Checkpoints are ordered: an older one still pending is subsumed.
        let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
        for old in older {
            self.pending.remove(&old);
            out.push(Decision::Abort {
                id: old,
                reason: format!("checkpoint {old} was subsumed by checkpoint {id}"),
            });
            self.final_failed(old, &mut out);
        }
        let mut snapshots: Vec<(TaskKey, TaskSnapshot)> = p.acks.into_iter().collect();
        snapshots.sort_by_key(|a| a.0);
        out.push(Decision::Complete { id, snapshots });
        out
    }

    /// A task could not take checkpoint `id`.
    pub fn on_decline(&mut self, id: u64, reason: String, now_ms: u64) -> Vec<Decision> {
        if self.pending.remove(&id).is_none() {
            return Vec::new();
        }
        self.last_end_ms = Some(now_ms);
        let mut out = vec![Decision::Abort { id, reason }];
        self.final_failed(id, &mut out);
        out
    }

    /// Every source read all its input (and stays to inject barriers): the
    /// next checkpoint starts at once and is the final one. With no
    /// checkpoint possible, the sources may end now.
    pub fn on_input_ended(&mut self) -> Vec<Decision> {
        if !self.end.input_ended() {
            return Vec::new();
        }
        if self.stopped || self.tasks == 0 {
            return self.end_input(None);
        }
        Vec::new()
    }

    /// The driver stored checkpoint `id`'s manifest and committed its sink
    /// transactions (`ok`), or could not: the final checkpoint lets the
    /// sources end, or is taken again.
    pub fn on_stored(&mut self, id: u64, ok: bool, now_ms: u64) -> Vec<Decision> {
        if !self.end.is_final(id) {
            return Vec::new();
        }
        if ok {
            return self.end_input(Some(id));
        }
        self.last_end_ms = Some(now_ms);
        let mut out = Vec::new();
        self.final_failed(id, &mut out);
        out
    }

    /// True once the sources were told to end.
    pub fn input_released(&self) -> bool {
        self.end.released()
    }

    /// Checkpoint `id` will not complete: if it was the final one, it is
    /// taken again, or after too many attempts the sources end without it.
    fn final_failed(&mut self, id: u64, out: &mut Vec<Decision>) {
        if self.end.failed(id) {
            out.extend(self.end_input(None));
        }
    }

    fn end_input(&mut self, final_checkpoint: Option<u64>) -> Vec<Decision> {
        if !self.end.release() {
            return Vec::new();
        }
        vec![Decision::EndInput { final_checkpoint }]
    }

    /// A task finished its input. A finished task acknowledges nothing, so
    /// pending checkpoints are aborted and no new one starts; the job's
    /// final output is committed when the whole job ends.
    pub fn on_task_finished(&mut self, now_ms: u64) -> Vec<Decision> {
        self.stopped = true;
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.last_end_ms = Some(now_ms);
        }
        let mut out: Vec<Decision> = pending
            .into_keys()
            .map(|id| Decision::Abort {
                id,
                reason: format!("checkpoint {id} stopped: a task finished its input"),
            })
            .collect();
        if self.end.ended() {
            out.extend(self.end_input(None));
        }
        out
    }
}

/// When a pause of `pause_ms` after `last_ms` (if any) is over.
fn after_pause(last_ms: Option<u64>, pause_ms: u64) -> u64 {
    match last_ms {
        Some(t) if pause_ms > 0 => t.saturating_add(pause_ms),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CoordinatorSettings {
        CoordinatorSettings {
            interval_ms: 100,
            timeout_ms: 1_000,
            concurrent_max: 1,
            pause_min_ms: 0,
        }
    }

    fn key(node: usize, subtask: usize) -> TaskKey {
        TaskKey {
            node,
            subtask: subtask as u32,
        }
    }

    fn triggered(d: &[Decision]) -> Vec<u64> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Trigger { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn triggers_every_interval_and_completes_when_every_task_acked() {
        let mut c = CheckpointCoordinator::new(settings(), 2, 1);
        assert!(
            triggered(&c.on_tick(0)).is_empty(),
            "one interval after the start"
        );
        assert!(triggered(&c.on_tick(99)).is_empty());
        assert_eq!(triggered(&c.on_tick(100)), vec![1]);
        // concurrent_max = 1: nothing new while 1 runs.
        assert!(triggered(&c.on_tick(250)).is_empty());
        assert!(
            c.on_ack(1, key(0, 0), TaskSnapshot::default(), 260)
                .is_empty()
        );
        let done = c.on_ack(1, key(0, 1), TaskSnapshot::default(), 270);
        assert!(
            matches!(&done[..], [Decision::Complete { id: 1, snapshots }] if snapshots.len() == 2)
        );
        assert_eq!(triggered(&c.on_tick(280)), vec![2]);
    }

    #[test]
    fn a_fresh_run_waits_one_interval_and_a_restored_one_checkpoints_at_once() {
        let mut fresh = CheckpointCoordinator::new(settings(), 1, 1).started_at(1_000, false);
        assert!(triggered(&fresh.on_tick(1_099)).is_empty());
        assert_eq!(triggered(&fresh.on_tick(1_100)), vec![1]);
        let mut restored = CheckpointCoordinator::new(settings(), 1, 8).started_at(1_000, true);
        assert_eq!(triggered(&restored.on_tick(1_000)), vec![8]);
    }

    #[test]
    fn the_interval_counts_from_the_last_trigger() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 7);
        assert_eq!(triggered(&c.on_tick(100)), vec![7]);
        c.on_ack(7, key(0, 0), TaskSnapshot::default(), 110);
        assert!(triggered(&c.on_tick(199)).is_empty());
        assert_eq!(triggered(&c.on_tick(200)), vec![8]);
    }

    #[test]
    fn an_overdue_checkpoint_is_aborted_and_late_acks_ignored() {
        let mut c = CheckpointCoordinator::new(settings(), 2, 1);
        c.on_tick(100);
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 105);
        let d = c.on_tick(1_100);
        assert!(
            matches!(&d[0], Decision::Abort { id: 1, reason } if reason.contains("timeout_ms"))
        );
        assert!(
            c.on_ack(1, key(0, 1), TaskSnapshot::default(), 1_101)
                .is_empty()
        );
    }

    /// Walks the clock 1 ms at a time through triggers, acks, a pause and
    /// a timeout: `on_tick` decides something exactly when the clock
    /// reaches `next_tick_ms`, so the driver may sleep until then.
    #[test]
    fn the_clock_alone_decides_exactly_at_the_next_tick() {
        for s in [
            settings(),
            CoordinatorSettings {
                pause_min_ms: 250,
                concurrent_max: 3,
                timeout_ms: 400,
                ..settings()
            },
            CoordinatorSettings {
                concurrent_max: 2,
                timeout_ms: 150,
                ..settings()
            },
        ] {
            let mut c = CheckpointCoordinator::new(s, 1, 1);
            let mut ticks = 0;
            for now in 0..3_000u64 {
                let next = c.next_tick_ms();
                let decided = !c.on_tick(now).is_empty();
                assert_eq!(
                    decided,
                    next.is_some_and(|t| now >= t),
                    "{s:?} at {now} ms: next tick {next:?}"
                );
                ticks += u32::from(decided);
                // Every third checkpoint never completes (it times out);
                // the others are acknowledged 30 ms after they started.
                let acked: Vec<u64> = c
                    .pending
                    .iter()
                    .filter(|(id, p)| *id % 3 != 0 && now == p.started_ms + 30)
                    .map(|(id, _)| *id)
                    .collect();
                for id in acked {
                    c.on_ack(id, key(0, 0), TaskSnapshot::default(), now);
                }
            }
            assert!(
                ticks > 5,
                "{s:?}: the walk triggered and timed out ({ticks})"
            );
        }
    }

    #[test]
    fn the_next_tick_follows_the_interval_the_timeout_and_the_pause() {
        let s = CoordinatorSettings {
            pause_min_ms: 500,
            concurrent_max: 4,
            ..settings()
        };
        let mut c = CheckpointCoordinator::new(s, 1, 1);
        assert_eq!(c.next_tick_ms(), Some(100), "one interval after the start");
        c.on_tick(100);
        assert_eq!(
            c.next_tick_ms(),
            Some(1_100),
            "only its timeout while one runs"
        );
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 300);
        assert_eq!(c.next_tick_ms(), Some(800), "the pause after its end");
        c.on_task_finished(400);
        assert_eq!(c.next_tick_ms(), None, "nothing after a task finished");
    }

    #[test]
    fn the_minimum_pause_separates_checkpoints() {
        let s = CoordinatorSettings {
            pause_min_ms: 500,
            concurrent_max: 4,
            ..settings()
        };
        let mut c = CheckpointCoordinator::new(s, 1, 1);
        assert_eq!(triggered(&c.on_tick(100)), vec![1]);
        assert!(
            triggered(&c.on_tick(300)).is_empty(),
            "one at a time with a pause"
        );
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 400);
        assert!(triggered(&c.on_tick(800)).is_empty());
        assert_eq!(triggered(&c.on_tick(900)), vec![2]);
    }

    #[test]
    fn concurrent_checkpoints_complete_in_order_and_subsume_older_ones() {
        let s = CoordinatorSettings {
            concurrent_max: 2,
            ..settings()
        };
        let mut c = CheckpointCoordinator::new(s, 1, 1);
        assert_eq!(triggered(&c.on_tick(100)), vec![1]);
        assert_eq!(triggered(&c.on_tick(200)), vec![2]);
        let d = c.on_ack(2, key(0, 0), TaskSnapshot::default(), 210);
        assert!(matches!(&d[0], Decision::Abort { id: 1, .. }));
        assert!(matches!(&d[1], Decision::Complete { id: 2, .. }));
    }

    #[test]
    fn a_decline_aborts_and_a_finished_task_stops_checkpointing() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 1);
        c.on_tick(100);
        let d = c.on_decline(1, "disk full".into(), 110);
        assert!(matches!(&d[0], Decision::Abort { id: 1, reason } if reason == "disk full"));
        c.on_tick(200);
        let d = c.on_task_finished(250);
        assert!(matches!(&d[0], Decision::Abort { id: 2, .. }));
        assert!(triggered(&c.on_tick(10_000)).is_empty());
    }

    #[test]
    fn a_savepoint_request_starts_a_checkpoint_at_once_even_with_periodic_checkpoints_off() {
        let mut c = CheckpointCoordinator::new(
            CoordinatorSettings {
                interval_ms: 0,
                ..settings()
            },
            1,
            5,
        );
        assert!(triggered(&c.on_tick(10)).is_empty());
        assert!(c.request_now());
        assert_eq!(triggered(&c.on_tick(11)), [5]);
        // Once: the request is used up.
        let done = c.on_ack(5, key(0, 0), TaskSnapshot::default(), 12);
        assert!(matches!(done[..], [Decision::Complete { id: 5, .. }]));
        assert!(triggered(&c.on_tick(1_000)).is_empty());
    }

    #[test]
    fn a_savepoint_request_waits_for_room_and_is_refused_after_the_input_ended() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 1);
        assert_eq!(triggered(&c.on_tick(100)), [1]);
        assert!(c.request_now());
        assert!(
            triggered(&c.on_tick(101)).is_empty(),
            "one in flight at most"
        );
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 102);
        assert_eq!(triggered(&c.on_tick(103)), [2], "before the interval is up");
        c.on_task_finished(104);
        assert!(!c.request_now());
    }

    fn ended(d: &[Decision]) -> Option<Option<u64>> {
        d.iter().find_map(|d| match d {
            Decision::EndInput { final_checkpoint } => Some(*final_checkpoint),
            _ => None,
        })
    }

    #[test]
    fn once_every_source_ended_a_final_checkpoint_starts_at_once_and_ends_the_input_when_stored() {
        let mut c = CheckpointCoordinator::new(settings(), 2, 1);
        assert_eq!(triggered(&c.on_tick(100)), [1]);
        assert!(
            c.on_input_ended().is_empty(),
            "a checkpoint runs: wait for it"
        );
        assert!(
            triggered(&c.on_tick(110)).is_empty(),
            "one in flight at most"
        );
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 120);
        c.on_ack(1, key(0, 1), TaskSnapshot::default(), 121);
        assert_eq!(
            ended(&c.on_stored(1, true, 130)),
            None,
            "1 is not the final one"
        );
        assert_eq!(
            triggered(&c.on_tick(131)),
            [2],
            "the final one, before the interval"
        );
        c.on_ack(2, key(0, 0), TaskSnapshot::default(), 140);
        let d = c.on_ack(2, key(0, 1), TaskSnapshot::default(), 141);
        assert_eq!(
            ended(&d),
            None,
            "acknowledged, not yet stored and committed"
        );
        assert_eq!(ended(&c.on_stored(2, true, 150)), Some(Some(2)));
        assert!(c.input_released());
        assert!(
            triggered(&c.on_tick(10_000)).is_empty(),
            "no checkpoint after the end"
        );
        assert!(
            !c.request_now(),
            "a savepoint is refused once the sources end"
        );
        assert!(c.on_input_ended().is_empty(), "once");
    }

    #[test]
    fn a_failed_final_checkpoint_is_taken_again_and_after_three_the_sources_end_without_one() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 1);
        c.on_input_ended();
        assert_eq!(triggered(&c.on_tick(0)), [1], "no interval to wait for");
        assert_eq!(ended(&c.on_decline(1, "no room".into(), 5)), None);
        assert!(
            triggered(&c.on_tick(50)).is_empty(),
            "a pause before the next attempt"
        );
        assert_eq!(triggered(&c.on_tick(105)), [2]);
        c.on_ack(2, key(0, 0), TaskSnapshot::default(), 110);
        assert_eq!(
            ended(&c.on_stored(2, false, 120)),
            None,
            "storing it failed"
        );
        assert_eq!(triggered(&c.on_tick(220)), [3]);
        let d = c.on_tick(1_220);
        assert!(matches!(&d[0], Decision::Abort { id: 3, .. }), "timed out");
        assert_eq!(ended(&d), Some(None), "three attempts failed");
        assert!(c.input_released());
        assert!(triggered(&c.on_tick(5_000)).is_empty());
    }

    #[test]
    fn the_sources_end_at_once_when_no_checkpoint_can_complete_any_more() {
        let mut c = CheckpointCoordinator::new(settings(), 2, 1);
        c.on_tick(100);
        c.on_task_finished(110);
        assert_eq!(ended(&c.on_input_ended()), Some(None));
        let mut waiting = CheckpointCoordinator::new(settings(), 2, 1);
        waiting.on_input_ended();
        waiting.on_tick(0);
        let d = waiting.on_task_finished(10);
        assert!(matches!(&d[0], Decision::Abort { id: 1, .. }));
        assert_eq!(
            ended(&d),
            Some(None),
            "a finished task acknowledges nothing"
        );
    }
}

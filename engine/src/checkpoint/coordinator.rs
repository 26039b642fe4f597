//! The checkpoint coordinator as a pure state machine: the clock reading
//! and the tasks' acknowledgements come in, decisions come out. The driver
//! (`driver.rs`) does the I/O: injecting barriers, writing manifests,
//! committing sinks.

use std::collections::{BTreeMap, HashMap};

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
        }
    }

    /// A savepoint wants a checkpoint: the next one starts as soon as fewer
    /// than `concurrent_max` are in flight, without waiting for the interval
    /// or the pause, even with periodic checkpoints off. False when no
    /// checkpoint can start any more (a task finished its input).
    pub fn request_now(&mut self) -> bool {
        if self.stopped || self.tasks == 0 {
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
        }
        if self.due(now_ms) {
            self.requested = false;
            let id = self.next_id;
            self.next_id += 1;
            self.last_trigger_ms = Some(now_ms);
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
        let s = &self.settings;
        if self.stopped || self.tasks == 0 {
            return false;
        }
        if self.pending.len() >= s.concurrent_max.max(1) as usize {
            return false;
        }
        if self.requested {
            return true;
        }
        if s.interval_ms == 0 {
            return false;
        }
        let interval_ok = self
            .last_trigger_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= s.interval_ms);
        let pause_ok = self
            .last_end_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= s.pause_min_ms);
        // With a pause configured, no new checkpoint starts while one runs.
        let quiet = s.pause_min_ms == 0 || self.pending.is_empty();
        interval_ok && pause_ok && quiet
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
        vec![Decision::Abort { id, reason }]
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
        pending
            .into_keys()
            .map(|id| Decision::Abort {
                id,
                reason: format!("checkpoint {id} stopped: a task finished its input"),
            })
            .collect()
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
        assert_eq!(triggered(&c.on_tick(0)), vec![1]);
        // concurrent_max = 1: nothing new while 1 runs.
        assert!(triggered(&c.on_tick(150)).is_empty());
        assert!(
            c.on_ack(1, key(0, 0), TaskSnapshot::default(), 160)
                .is_empty()
        );
        let done = c.on_ack(1, key(0, 1), TaskSnapshot::default(), 170);
        assert!(
            matches!(&done[..], [Decision::Complete { id: 1, snapshots }] if snapshots.len() == 2)
        );
        assert_eq!(triggered(&c.on_tick(180)), vec![2]);
    }

    #[test]
    fn the_interval_counts_from_the_last_trigger() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 7);
        assert_eq!(triggered(&c.on_tick(0)), vec![7]);
        c.on_ack(7, key(0, 0), TaskSnapshot::default(), 10);
        assert!(triggered(&c.on_tick(99)).is_empty());
        assert_eq!(triggered(&c.on_tick(100)), vec![8]);
    }

    #[test]
    fn an_overdue_checkpoint_is_aborted_and_late_acks_ignored() {
        let mut c = CheckpointCoordinator::new(settings(), 2, 1);
        c.on_tick(0);
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 5);
        let d = c.on_tick(1_000);
        assert!(
            matches!(&d[0], Decision::Abort { id: 1, reason } if reason.contains("timeout_ms"))
        );
        assert!(
            c.on_ack(1, key(0, 1), TaskSnapshot::default(), 1_001)
                .is_empty()
        );
    }

    #[test]
    fn the_minimum_pause_separates_checkpoints() {
        let s = CoordinatorSettings {
            pause_min_ms: 500,
            concurrent_max: 4,
            ..settings()
        };
        let mut c = CheckpointCoordinator::new(s, 1, 1);
        c.on_tick(0);
        assert!(
            triggered(&c.on_tick(200)).is_empty(),
            "one at a time with a pause"
        );
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 300);
        assert!(triggered(&c.on_tick(700)).is_empty());
        assert_eq!(triggered(&c.on_tick(800)), vec![2]);
    }

    #[test]
    fn concurrent_checkpoints_complete_in_order_and_subsume_older_ones() {
        let s = CoordinatorSettings {
            concurrent_max: 2,
            ..settings()
        };
        let mut c = CheckpointCoordinator::new(s, 1, 1);
        c.on_tick(0);
        assert_eq!(triggered(&c.on_tick(100)), vec![2]);
        let d = c.on_ack(2, key(0, 0), TaskSnapshot::default(), 110);
        assert!(matches!(&d[0], Decision::Abort { id: 1, .. }));
        assert!(matches!(&d[1], Decision::Complete { id: 2, .. }));
    }

    #[test]
    fn a_decline_aborts_and_a_finished_task_stops_checkpointing() {
        let mut c = CheckpointCoordinator::new(settings(), 1, 1);
        c.on_tick(0);
        let d = c.on_decline(1, "disk full".into(), 10);
        assert!(matches!(&d[0], Decision::Abort { id: 1, reason } if reason == "disk full"));
        c.on_tick(100);
        let d = c.on_task_finished(150);
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
        assert_eq!(triggered(&c.on_tick(0)), [1]);
        assert!(c.request_now());
        assert!(triggered(&c.on_tick(1)).is_empty(), "one in flight at most");
        c.on_ack(1, key(0, 0), TaskSnapshot::default(), 2);
        assert_eq!(triggered(&c.on_tick(3)), [2], "before the interval is up");
        c.on_task_finished(4);
        assert!(!c.request_now());
    }
}

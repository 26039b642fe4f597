//! Firing due timers: the loop every keyed operator with timers shares.

use spate_state::Timer;

use super::keyed_process::TimeDomain;
use crate::error::Result;
use crate::keyed::KeyedTimers;
use crate::time::Timestamp;

/// Pops the timers of `domain` that are due at `up_to` one at a time, in
/// queue order, and hands each to `fire` together with the operator. The
/// queue is not borrowed while `fire` runs, so it may register timers; one
/// registered due fires in the same call. Stops at the first error.
pub(crate) fn fire_due<Op, K, N>(
    op: &mut Op,
    timers: fn(&mut Op) -> &mut KeyedTimers<K, N>,
    domain: TimeDomain,
    up_to: Timestamp,
    mut fire: impl FnMut(&mut Op, Timer<K, N>) -> Result<()>,
) -> Result<()>
where
    K: crate::Key,
    N: std::hash::Hash + Eq + Clone + 'static,
{
    loop {
        let queues = timers(op);
        let queue = match domain {
            TimeDomain::EventTime => &mut queues.event,
            TimeDomain::ProcessingTime => &mut queues.processing,
        };
        let Some(timer) = queue.pop_due(up_to) else {
            return Ok(());
        };
        fire(op, timer)?;
    }
}

#[cfg(test)]
mod tests {
    use spate_state::{KeyGroupRange, KeyRef};

    use super::*;
    use crate::SpateError;

    struct Op {
        timers: KeyedTimers<u64, ()>,
        fired: Vec<(u64, Timestamp)>,
    }

    fn op_with(timers: &[(u64, Timestamp)]) -> Op {
        let mut op = Op {
            timers: KeyedTimers::new(KeyGroupRange::all(128)),
            fired: Vec::new(),
        };
        for &(key, ts) in timers {
            op.timers
                .register_event(KeyRef::of(&key, 128), &key, &(), ts);
        }
        op
    }

    #[test]
    fn fires_due_timers_in_time_order_including_ones_registered_while_firing() {
        let mut op = op_with(&[(1, 30), (2, 10), (3, 50)]);
        let result = fire_due(
            &mut op,
            |op| &mut op.timers,
            TimeDomain::EventTime,
            40,
            |op, t| {
                op.fired.push((t.key, t.timestamp_ms));
                if t.key == 2 {
                    op.timers
                        .register_event(KeyRef::of(&9u64, 128), &9, &(), 20);
                }
                Ok(())
            },
        );
        assert!(result.is_ok());
        assert_eq!(op.fired, vec![(2, 10), (9, 20), (1, 30)]);
        assert_eq!(op.timers.event.len(), 1, "the timer at 50 is not due");
    }

    #[test]
    fn stops_at_the_first_error_and_keeps_the_rest() {
        let mut op = op_with(&[(1, 10), (2, 20)]);
        let result = fire_due(
            &mut op,
            |op| &mut op.timers,
            TimeDomain::EventTime,
            100,
            |_, _| Err(SpateError::internal("boom")),
        );
        assert!(result.is_err());
        assert_eq!(op.timers.event.len(), 1);
    }
}

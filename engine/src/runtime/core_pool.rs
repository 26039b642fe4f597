//! Executors that outlive jobs. A core's executor (a pinned thread, its
//! io_uring rings and registered buffers) is started once and runs one job
//! after another: a worker redeploys a job after every failure, and an
//! embedding process may run many jobs.
//!
//! Why not a fresh executor per run: glommio 0.9 leaves one eventfd (and
//! some memory) behind for every executor it ever started (its issue 448),
//! so a long-lived worker leaked a descriptor per core per restart; and
//! rings plus buffer registration are setup work every run repeated.
//!
//! An executor is checked out for a run and handed back when the run's
//! future finishes; it is keyed by what is fixed at its creation (the CPU
//! it is pinned to or the core index, its io_uring memory, its spin time),
//! so a run gets an executor exactly like the one it would have built.
//! Idle executors are bounded; one past the bound is stopped. Each idle one
//! keeps its registered buffers (locked memory), so when a new executor
//! cannot start, the idle ones are stopped and it is tried once more.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

/// Work for an executor: builds the run's future on the executor's thread.
pub(crate) type Work = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Idle executors kept for later runs, over all keys. Each holds its
/// io_uring buffers (locked memory) while idle.
const IDLE_EXECUTORS_MAX: usize = 64;

/// What an executor is built with, and so what a run must match to use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CoreKey {
    /// The CPU it is pinned to; `None`: unpinned, one per core index.
    pub(crate) cpu: Option<usize>,
    /// The run's core index (it names the thread).
    pub(crate) core: usize,
    pub(crate) io_memory_bytes: usize,
    pub(crate) spin_before_park_us: u64,
}

/// A started executor, waiting for work.
#[derive(Debug)]
pub(crate) struct PooledCore {
    key: CoreKey,
    work: async_channel::Sender<Work>,
    thread: ExecutorJoinHandle<()>,
}

static IDLE: Mutex<Vec<PooledCore>> = Mutex::new(Vec::new());

fn idle() -> MutexGuard<'static, Vec<PooledCore>> {
    // Push and remove are whole operations: a panic elsewhere cannot
    // leave the list half-changed.
    IDLE.lock().unwrap_or_else(|p| p.into_inner())
}

impl PooledCore {
    /// An idle executor built like `key`, or a new one.
    pub(crate) fn checkout(key: CoreKey) -> std::io::Result<Self> {
        let found = {
            let mut idle = idle();
            let at = idle
                .iter()
                .position(|c| c.key == key && !c.work.is_closed());
            at.map(|i| idle.swap_remove(i))
        };
        match found {
            Some(core) => Ok(core),
            None => Self::start(key).or_else(|_| {
                stop_idle();
                Self::start(key)
            }),
        }
    }

    fn start(key: CoreKey) -> std::io::Result<Self> {
        let placement = match key.cpu {
            Some(cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let (work, inbox) = async_channel::bounded::<Work>(1);
        let thread = LocalExecutorBuilder::new(placement)
            .name(&format!("spate-core-{}", key.core))
            .io_memory(key.io_memory_bytes)
            .spin_before_park(Duration::from_micros(key.spin_before_park_us))
            .spawn(move || async move {
                // Each run is its own task, so what it leaves behind (a
                // task it forgot to cancel) cannot block the next one.
                while let Ok(run) = inbox.recv().await {
                    glommio::spawn_local(run()).await;
                }
            })
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self { key, work, thread })
    }

    /// Hands `work` to the executor; `Err` when its thread is gone.
    pub(crate) fn run(&self, work: Work) -> Result<(), Work> {
        self.work.send_blocking(work).map_err(|e| e.into_inner())
    }

    /// Returns the executor to the pool once its run finished; one past
    /// the bound is stopped (its thread ends with its inbox).
    pub(crate) fn checkin(self) {
        if self.work.is_closed() {
            return;
        }
        let mut idle = idle();
        if idle.len() < IDLE_EXECUTORS_MAX {
            idle.push(self);
        }
    }
}

/// Stops every idle executor and waits for their threads, which returns
/// their locked memory.
fn stop_idle() {
    let stopped = std::mem::take(&mut *idle());
    for PooledCore { work, thread, .. } in stopped {
        // A closed inbox ends the executor's loop.
        drop(work);
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(core: usize) -> CoreKey {
        CoreKey {
            cpu: None,
            core,
            io_memory_bytes: 256 << 10,
            spin_before_park_us: 0,
        }
    }

    fn thread_of(core: &PooledCore) -> String {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        core.run(Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(format!("{:?}", std::thread::current().id()));
            })
        }))
        .map_err(|_| "the executor is gone")
        .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn a_core_checked_in_runs_the_next_run_on_the_same_thread() {
        // A key no other test uses: the pool is shared by the process.
        let k = key(9_001);
        let first = PooledCore::checkout(k).unwrap();
        let thread = thread_of(&first);
        first.checkin();
        let again = PooledCore::checkout(k).unwrap();
        assert_eq!(thread_of(&again), thread);
        // A core in use is not handed out twice: a second checkout starts
        // another executor.
        let other = PooledCore::checkout(k).unwrap();
        assert_ne!(thread_of(&other), thread);
        again.checkin();
        other.checkin();
    }

    #[test]
    fn stopping_the_idle_executors_ends_their_threads() {
        let k = key(9_003);
        let core = PooledCore::checkout(k).unwrap();
        let thread = thread_of(&core);
        core.checkin();
        // Returns once their threads are joined (it would hang otherwise).
        stop_idle();
        let fresh = PooledCore::checkout(k).unwrap();
        assert_ne!(thread_of(&fresh), thread);
        fresh.checkin();
    }

    #[test]
    fn a_run_that_panics_kills_its_executor_and_the_pool_starts_a_new_one() {
        let k = key(9_002);
        let core = PooledCore::checkout(k).unwrap();
        let thread = thread_of(&core);
        core.run(Box::new(|| Box::pin(async { panic!("a run failed") })))
            .map_err(|_| "the executor is gone")
            .unwrap();
        // The executor thread unwinds and its inbox closes.
        for _ in 0..500 {
            if core.work.is_closed() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(core.work.is_closed());
        core.checkin();
        let fresh = PooledCore::checkout(k).unwrap();
        assert_ne!(thread_of(&fresh), thread);
        fresh.checkin();
    }
}

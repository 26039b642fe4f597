//! How the checkpoint's background threads (the driver that writes state
//! files, the uploader) are scheduled beside the core threads.
//!
//! The core threads keep every CPU busy, so a background thread that wakes
//! to write a checkpoint's files takes a CPU from one of them for up to a
//! scheduler slice (milliseconds), and the records that core holds wait.
//! Under Linux's `SCHED_IDLE` class the background thread runs only on a
//! CPU that no normal thread wants, so records are not delayed by it; the
//! price is that checkpoints slow down, and may time out, while every core
//! is saturated. Hence it is a choice, not the default.

/// The scheduling class of a checkpoint background thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThreadClass {
    /// The default class, the same as the core threads.
    #[default]
    Normal,
    /// Runs only when a CPU would otherwise be idle (Linux `SCHED_IDLE`).
    Idle,
}

impl ThreadClass {
    /// Moves the calling thread into this class. Changing the class is an
    /// optimisation only, so a refusal (another OS, a sandbox forbidding
    /// it) is logged once per thread and the thread runs on as before.
    pub fn enter(self) {
        if self == ThreadClass::Normal {
            return;
        }
        if let Err(reason) = enter_idle() {
            tracing::warn!(
                thread = std::thread::current().name().unwrap_or("?"),
                "cannot move a checkpoint thread to the idle scheduling class ({reason}); it runs at normal priority"
            );
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn enter_idle() -> Result<(), std::io::Error> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the
    // call, which only reads it; pid 0 is the calling thread. The call
    // changes scheduling only, never memory.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn enter_idle() -> Result<(), std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "SCHED_IDLE exists on Linux only",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn policy_of_this_thread() -> i32 {
        // SAFETY: no arguments besides the pid (0 = this thread).
        unsafe { libc::sched_getscheduler(0) }
    }

    fn policy_in_a_thread_of(class: ThreadClass) -> i32 {
        std::thread::spawn(move || {
            class.enter();
            policy_of_this_thread()
        })
        .join()
        .expect("the probing thread does not panic")
    }

    #[test]
    fn idle_moves_only_the_calling_thread_into_sched_idle() {
        let before = policy_of_this_thread();
        assert_eq!(policy_in_a_thread_of(ThreadClass::Idle), libc::SCHED_IDLE);
        assert_eq!(policy_of_this_thread(), before, "the caller is untouched");
        assert_eq!(
            policy_in_a_thread_of(ThreadClass::Normal),
            libc::SCHED_OTHER
        );
    }
}

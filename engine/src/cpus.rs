//! Which CPUs the executors pin to.
//!
//! Core `c` of a process runs on the `c`-th CPU the process may use (its
//! affinity mask), not on CPU `c`: a worker in a Kubernetes pod with a
//! cpuset of CPUs 4–5, or one of several workers on one host each given
//! their own CPUs, then pins inside its own CPUs instead of stacking on
//! CPU 0.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

use crate::error::{Result, SpateError};

/// The CPUs the calling thread may run on, ascending. Threads it spawns
/// inherit them. Falls back to `0..available_parallelism` where the mask
/// cannot be read.
pub fn allowed() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Parses a CPU list in the kernel's notation: `2`, `0-3`, `0-3,8,10-11`.
/// The result is ascending and without repeats.
pub fn parse_list(text: &str) -> Result<Vec<usize>> {
    let bad = |reason: String| SpateError::Cpus {
        list: text.to_string(),
        reason,
    };
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("`{}` is not a CPU number", s.trim())))
    };
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(bad(format!("the range `{}` runs backwards", part.trim())));
        }
        if last >= CpuSet::count() {
            return Err(bad(format!(
                "CPU {last} is beyond the {} CPUs an affinity mask can name",
                CpuSet::count()
            )));
        }
        cpus.extend(first..=last);
    }
    if cpus.is_empty() {
        return Err(bad("it names no CPU".into()));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// `cpus` as a list [`parse_list`] reads back: `4,5,8`.
pub fn format_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Restricts the calling thread, and every thread it spawns afterwards, to
/// `cpus`. Call it before starting threads: a process-wide setting in
/// practice.
pub fn restrict_to(cpus: &[usize]) -> Result<()> {
    let bad = |reason: String| SpateError::Cpus {
        list: format_list(cpus),
        reason,
    };
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|e| bad(format!("CPU {cpu}: {e}")))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| bad(format!("this process may not run there ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_the_kernels_notation() {
        assert_eq!(parse_list("2").expect("one"), vec![2]);
        assert_eq!(parse_list("0-3").expect("range"), vec![0, 1, 2, 3]);
        assert_eq!(
            parse_list("8, 0-1,10-11,1").expect("mixed"),
            vec![0, 1, 8, 10, 11]
        );
    }

    #[test]
    fn a_formatted_list_parses_back() {
        assert_eq!(format_list(&[4, 5, 8]), "4,5,8");
        assert_eq!(
            parse_list(&format_list(&[0, 3, 9])).expect("round trip"),
            vec![0, 3, 9]
        );
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        let message = |t: &str| parse_list(t).expect_err(t).to_string();
        assert_eq!(message("1,x"), "CPU list `1,x`: `x` is not a CPU number");
        assert_eq!(
            message("3-1"),
            "CPU list `3-1`: the range `3-1` runs backwards"
        );
        assert_eq!(message(" , "), "CPU list ` , `: it names no CPU");
        assert!(message("0-99999").contains("beyond the"));
    }

    #[test]
    fn a_thread_restricted_to_one_allowed_cpu_sees_only_it() {
        let first = allowed()[0];
        let seen = std::thread::spawn(move || {
            restrict_to(&[first]).expect("restrict");
            // A thread spawned afterwards inherits the mask.
            std::thread::spawn(allowed).join().expect("inner")
        })
        .join()
        .expect("thread");
        assert_eq!(seen, vec![first]);
    }
}

//! Planning a job onto workers: which worker runs which global subtasks
//! (one per core), and so which key groups.

use spate_state::key_group_range_for_subtask;

use crate::error::{ClusterError, Result};
use crate::protocol::Assignment;

/// A worker that can take a share of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeWorker {
    /// Its id.
    pub worker: u32,
    /// Its cores.
    pub cores: u32,
}

/// Spreads `parallelism` subtasks over `free` workers, in worker order,
/// each taking up to its core count; contiguous subtask ranges keep each
/// worker's key groups contiguous. Fails when the cores do not suffice.
pub fn plan(
    free: &[FreeWorker],
    parallelism: u32,
    max_parallelism: u16,
) -> Result<Vec<Assignment>> {
    if parallelism == 0 || parallelism > u32::from(max_parallelism) {
        return Err(ClusterError::Invalid {
            reason: format!(
                "parallelism {parallelism} must lie in 1..={max_parallelism} (the max parallelism)"
            ),
        });
    }
    let available: u32 = free.iter().map(|w| w.cores).sum();
    if available < parallelism {
        return Err(ClusterError::Invalid {
            reason: format!(
                "parallelism {parallelism} needs {parallelism} cores, but the free workers have {available}; \
                 start more workers or lower --parallelism"
            ),
        });
    }
    let mut out = Vec::new();
    let mut next = 0u32;
    for w in free {
        if next == parallelism {
            break;
        }
        let cores = w.cores.min(parallelism - next);
        if cores == 0 {
            continue;
        }
        let first =
            key_group_range_for_subtask(max_parallelism, parallelism as usize, next as usize);
        let last = key_group_range_for_subtask(
            max_parallelism,
            parallelism as usize,
            (next + cores - 1) as usize,
        );
        out.push(Assignment {
            worker: w.worker,
            subtask_offset: next,
            cores,
            key_groups: (u32::from(first.start), u32::from(last.end)),
        });
        next += cores;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(worker: u32, cores: u32) -> FreeWorker {
        FreeWorker { worker, cores }
    }

    #[test]
    fn spreads_subtasks_and_key_groups_contiguously() {
        let p = plan(&[w(1, 2), w(2, 2), w(3, 2)], 5, 128).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].subtask_offset, p[0].cores), (0, 2));
        assert_eq!((p[1].subtask_offset, p[1].cores), (2, 2));
        assert_eq!((p[2].subtask_offset, p[2].cores), (4, 1));
        assert_eq!(p[0].key_groups.0, 0);
        assert_eq!(p[2].key_groups.1, 128);
        for pair in p.windows(2) {
            assert_eq!(pair[0].key_groups.1, pair[1].key_groups.0);
        }
    }

    #[test]
    fn too_few_cores_or_bad_parallelism_is_a_sentence() {
        let e = plan(&[w(1, 2)], 3, 128).unwrap_err().to_string();
        assert!(e.contains("needs 3 cores") && e.contains("have 2"), "{e}");
        assert!(plan(&[w(1, 2)], 0, 128).is_err());
        assert!(plan(&[w(1, 200)], 129, 128).is_err());
    }
}

//! Memory of keyed heap state: a job that counts `keys` distinct u64 keys
//! in a `ValueState<u64>`, and the resident memory it took per key.

use spate::config::Config;
use spate::keyed::{KeyedContext, OpenContext, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::BlackholeSink;
use spate::sources::GeneratorSource;
use spate::{Job, Result, SpateError};

use crate::report::peak_rss_mib;

/// The result of [`run`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateMemory {
    /// Distinct keys held in state at the end.
    pub keys: u64,
    /// Peak resident memory before the job, MiB.
    pub rss_before_mib: f64,
    /// Peak resident memory after the job, MiB.
    pub rss_after_mib: f64,
    /// (after - before) / keys.
    pub bytes_per_key: f64,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// Counts each key in a `ValueState<u64>`.
#[derive(Clone, Default)]
pub(crate) struct Count {
    count: Option<ValueState<u64, u64>>,
}

impl KeyedProcessFunction<u64, u64, u64> for Count {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.value_state("count", None)?);
        Ok(())
    }

    fn process_element(&mut self, _: u64, ctx: &mut KeyedContext<'_, u64, u64>) -> Result<()> {
        let count = self
            .count
            .ok_or_else(|| SpateError::internal("count state not opened"))?;
        count.modify(ctx, |c| match c {
            Some(c) => {
                *c += 1;
                None
            }
            None => Some(1),
        })
    }
}

/// Counts `keys` distinct keys (each seen twice) and measures memory. The
/// state stays in memory until the job ends, so the peak RSS holds it all.
pub fn run(keys: u64, config: &Config) -> Result<StateMemory> {
    let rss_before_mib = peak_rss_mib();
    let job = Job::builder("keyed state memory");
    job.source("keys", move |split| {
        // Key n appears at positions n and keys + n.
        Ok(GeneratorSource::new(
            move |i| i % keys,
            Some(2 * keys),
            split,
        ))
    })
    .key_by(|k: &u64| *k)
    .process(Count::default())
    .sink("counts", BlackholeSink);
    let result = job.build()?.run(config)?;
    let rss_after_mib = peak_rss_mib();
    Ok(StateMemory {
        keys,
        rss_before_mib,
        rss_after_mib,
        bytes_per_key: (rss_after_mib - rss_before_mib) * 1024.0 * 1024.0 / keys.max(1) as f64,
        wall_s: result.wall.as_secs_f64(),
    })
}

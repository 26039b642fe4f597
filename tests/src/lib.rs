//! Helpers shared by the scenario tests in `tests/tests/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spate::config::Config;

/// The `(key, count)` lines a two-phase file sink committed under `out`
/// (in-progress files left out), with how often each appears.
pub fn committed_key_counts(out: &std::path::Path) -> std::collections::BTreeMap<(u64, u64), u32> {
    let mut seen = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(out) else {
        return seen;
    };
    for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if path.file_name() == Some(std::ffi::OsStr::new(spate::sinks::IN_PROGRESS_DIR)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (k, n) in text.lines().filter_map(|l| l.split_once(',')) {
            if let (Ok(k), Ok(n)) = (k.parse(), n.parse()) {
                *seen.entry((k, n)).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// A config for tests: `cores` executors with little locked memory each, so
/// tests running side by side do not exhaust `ulimit -l`.
pub fn test_config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c
}

/// The engine's order-independent checksum of `rows`: the wrapping sum of
/// each row's checksum hash, as `DataStream::sink_with_checksum` computes it.
pub fn engine_checksum<T: std::hash::Hash>(rows: &[T]) -> u64 {
    rows.iter().fold(0u64, |acc, r| {
        acc.wrapping_add(spate_state::checksum_hash(r))
    })
}

/// Counts records per key in a `ValueState` named `count` and emits
/// `(key, count)`: an output that does not depend on the order in which a
/// key's records arrive from the source splits.
#[derive(Clone, Default)]
pub struct CountPerKey {
    count: Option<spate::keyed::ValueState<u64, u64>>,
}

impl spate::operators::keyed_process::KeyedProcessFunction<u64, u64, (u64, u64)> for CountPerKey {
    fn open(&mut self, ctx: &mut spate::keyed::OpenContext) -> spate::Result<()> {
        self.count = Some(ctx.value_state("count", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        _v: u64,
        ctx: &mut spate::keyed::KeyedContext<'_, u64, (u64, u64)>,
    ) -> spate::Result<()> {
        let state = self
            .count
            .ok_or_else(|| spate::SpateError::internal("count state not opened"))?;
        let n = state.value(ctx)?.unwrap_or(0) + 1;
        state.update(ctx, n)?;
        let key = *ctx.key();
        ctx.collect((key, n));
        Ok(())
    }
}

/// A pass-through step that fails the job once, at the `n`-th record
/// subtask 0 sees, when `fail_after` is `Some((n, armed))` and `armed` is
/// still set (it is cleared, so a restarted attempt runs through).
pub fn fail_once(
    fail_after: Option<(u64, Arc<AtomicBool>)>,
) -> impl Fn(u64, &mut spate::operators::process::Context<'_, u64>) + Clone + Send + Sync + 'static
{
    let seen = Arc::new(AtomicU64::new(0));
    move |v, ctx| {
        if let Some((n, armed)) = &fail_after
            && ctx.subtask() == 0
            && seen.fetch_add(1, Ordering::Relaxed) + 1 == *n
            && armed.swap(false, Ordering::SeqCst)
        {
            ctx.fail(spate::SpateError::Operator {
                operator: "fail-once".into(),
                reason: "injected".into(),
            });
            return;
        }
        ctx.collect(v);
    }
}

/// A [`test_config`] on `backend` that checkpoints into `checkpoints` and
/// restarts at once; RocksDB gets a small memory budget (8 MiB of block
/// cache, 4 MiB of write buffers per core).
pub fn backend_test_config(
    cores: u32,
    backend: spate::config::StateBackendKind,
    checkpoints: &std::path::Path,
) -> Config {
    let mut c = test_config(cores);
    c.state.backend = backend;
    c.state.rocksdb_block_cache_mib = 8;
    c.state.rocksdb_write_buffer_mib = 4;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.restart_delay_ms = 0;
    c
}

/// The checksum and the record count of the job's checksummed sinks.
pub fn sink_checksum(r: &spate::JobResult) -> (u64, u64) {
    (r.metrics.sink_checksum(), r.metrics.sink_records())
}

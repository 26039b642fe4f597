//! Helpers shared by the scenario tests in `tests/tests/`.

use spate::config::Config;

/// A config for tests: `cores` executors with little locked memory each, so
/// tests running side by side do not exhaust `ulimit -l`.
pub fn test_config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c
}

/// The engine's order-independent checksum of `rows`: the wrapping sum of
/// each row's stable hash, as `DataStream::sink_with_checksum` computes it.
pub fn engine_checksum<T: std::hash::Hash>(rows: &[T]) -> u64 {
    rows.iter()
        .fold(0u64, |acc, r| acc.wrapping_add(spate_state::stable_hash(r)))
}

//! Flink's configuration keys in `SET`, turned into the engine's: a job
//! brought over from Flink keeps its `SET 'execution.checkpointing.interval'
//! = '10s'` and `SET 'state.backend.type' = 'rocksdb'` and gets the same
//! behaviour, instead of settings that are stored and silently ignored.
//! The engine's own keys (`checkpoint.interval_ms`, ...) are accepted too.

use crate::session::parse_duration_ms;

/// The engine settings (`section.key=value`) that `SET key = value`
/// means; empty for a key the engine has no part in (kept for the
/// session only, as Flink keeps any key). An error is a sentence.
pub(crate) fn engine_settings(key: &str, value: &str) -> Result<Vec<String>, String> {
    if spate::config::Config::has_key(key) {
        return Ok(vec![format!("{key}={value}")]);
    }
    let duration = |spate: &str| {
        parse_duration_ms(value)
            .map(|ms| vec![format!("{spate}={ms}")])
            .map_err(|m| format!("'{key}' = '{value}': {m}"))
    };
    match key {
        "state.backend.type" | "state.backend" => match value.to_ascii_lowercase().as_str() {
            "hashmap" | "heap" => Ok(vec!["state.backend=heap".into()]),
            "rocksdb" => Ok(vec!["state.backend=rocksdb".into()]),
            other => Err(format!(
                "'{key}' is 'hashmap' (the heap backend) or 'rocksdb', not '{other}'"
            )),
        },
        "execution.checkpointing.interval" => duration("checkpoint.interval_ms"),
        "execution.checkpointing.timeout" => duration("checkpoint.timeout_ms"),
        "execution.checkpointing.min-pause" => duration("checkpoint.pause_min_ms"),
        "execution.checkpointing.max-concurrent-checkpoints" => {
            Ok(vec![format!("checkpoint.concurrent_max={value}")])
        }
        "execution.checkpointing.num-retained" | "state.checkpoints.num-retained" => {
            Ok(vec![format!("checkpoint.retained={value}")])
        }
        "execution.checkpointing.dir" | "state.checkpoints.dir" => {
            let dir = crate::connectors::local_path(value);
            Ok(vec![format!("checkpoint.dir={dir}")])
        }
        "execution.checkpointing.unaligned.enabled" | "execution.checkpointing.unaligned" => {
            match value.to_ascii_lowercase().as_str() {
                "true" => Ok(vec!["checkpoint.mode=unaligned".into()]),
                "false" => Ok(vec!["checkpoint.mode=aligned".into()]),
                other => Err(format!("'{key}' is 'true' or 'false', not '{other}'")),
            }
        }
        "state.backend.rocksdb.localdir" => Ok(vec![format!("state.rocksdb_local_dir={value}")]),
        // Flink 1.x's name; Flink 2 always checkpoints after tasks finish.
        "execution.checkpointing.checkpoints-after-tasks-finish.enabled"
        | "execution.checkpointing.checkpoints-after-tasks-finish" => {
            match value.to_ascii_lowercase().as_str() {
                b @ ("true" | "false") => Ok(vec![format!("checkpoint.final_checkpoint={b}")]),
                other => Err(format!("'{key}' is 'true' or 'false', not '{other}'")),
            }
        }
        "execution.checkpointing.incremental" | "state.backend.incremental" => {
            match value.to_ascii_lowercase().as_str() {
                "true" => Ok(Vec::new()),
                _ => Err(format!(
                    "'{key}' = '{value}': Spate's checkpoints are always incremental (each \
                     uploads only the files the storage does not hold yet)"
                )),
            }
        }
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_checkpoint_and_backend_keys_become_engine_settings() {
        assert_eq!(
            engine_settings("execution.checkpointing.interval", "10s"),
            Ok(vec!["checkpoint.interval_ms=10000".to_string()])
        );
        assert_eq!(
            engine_settings("state.backend.type", "hashmap"),
            Ok(vec!["state.backend=heap".to_string()])
        );
        assert_eq!(
            engine_settings("execution.checkpointing.dir", "file:///tmp/ck"),
            Ok(vec!["checkpoint.dir=/tmp/ck".to_string()])
        );
        assert_eq!(
            engine_settings("checkpoint.retained", "3"),
            Ok(vec!["checkpoint.retained=3".to_string()])
        );
        assert_eq!(
            engine_settings("execution.checkpointing.incremental", "true"),
            Ok(vec![])
        );
        assert_eq!(
            engine_settings(
                "execution.checkpointing.checkpoints-after-tasks-finish.enabled",
                "false"
            ),
            Ok(vec!["checkpoint.final_checkpoint=false".to_string()])
        );
        assert_eq!(
            engine_settings("state.backend.rocksdb.localdir", "/mnt/ssd"),
            Ok(vec!["state.rocksdb_local_dir=/mnt/ssd".to_string()])
        );
        assert_eq!(engine_settings("pipeline.name", "x"), Ok(vec![]));
        let e = engine_settings("execution.checkpointing.incremental", "false").unwrap_err();
        assert!(e.contains("always incremental"), "{e}");
        let e = engine_settings("state.backend.type", "forst").unwrap_err();
        assert!(e.contains("not 'forst'"), "{e}");
    }
}

//! Helpers shared by the embedding API's tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

/// A tokio application's runtime, as users embed the engine in.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// An empty directory `spate-<test>-<name>-<pid>` under the temp dir.
pub fn scratch(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

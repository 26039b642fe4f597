//! How Spate reaches the brokers, with a limit on every wait and size.

use crate::error::{KafkaError, Result};

/// Where the brokers are and how long to wait for them.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers, separated by commas.
    pub bootstrap: String,
    /// The client id brokers log.
    pub client_id: String,
    /// How long to wait for a TCP connection.
    pub connect_timeout_ms: u64,
    /// How long to wait for any answer (a fetch's own wait included).
    pub request_timeout_ms: u64,
    /// The largest response accepted; a larger one is refused as malformed.
    pub frame_bytes_max: usize,
    /// How long a retriable failure (a broker restarting, a coordinator
    /// moving) is retried before it is reported.
    pub retry_ms_max: u64,
}

impl ClientConfig {
    /// Defaults for `bootstrap`: 5 s to connect, 30 s per request, 64 MiB
    /// responses, 30 s of retries.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            client_id: "spate".into(),
            connect_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            frame_bytes_max: 64 << 20,
            retry_ms_max: 30_000,
        }
    }

    pub(crate) fn brokers(&self) -> Result<Vec<String>> {
        let brokers: Vec<String> = self
            .bootstrap
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if brokers.is_empty() {
            return Err(KafkaError::InvalidConfig {
                reason: "bootstrap names no broker (expected host:port[,host:port…])".into(),
            });
        }
        if let Some(bad) = brokers.iter().find(|b| !b.contains(':')) {
            return Err(KafkaError::InvalidConfig {
                reason: format!("bootstrap broker `{bad}` has no port (expected host:port)"),
            });
        }
        Ok(brokers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists_are_split_and_checked() {
        let c = ClientConfig::new(" a:1, b:2 ,");
        assert_eq!(c.brokers().expect("valid"), vec!["a:1", "b:2"]);
        let e = ClientConfig::new("localhost")
            .brokers()
            .expect_err("no port");
        assert!(e.to_string().contains("`localhost` has no port"), "{e}");
        assert!(ClientConfig::new(" , ").brokers().is_err());
    }
}

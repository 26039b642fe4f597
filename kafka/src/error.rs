//! What can go wrong talking to Kafka, as sentences that name the broker,
//! the request and the reason.

/// A failed Kafka operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The connection to a broker failed or timed out.
    #[error("Kafka broker {broker}: {op} failed: {source}")]
    Io {
        /// `host:port` of the broker.
        broker: String,
        /// What was being done (`"connecting"`, `"sending a Produce request"`).
        op: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The broker sent something that is not a valid answer.
    #[error("Kafka broker {broker} sent a malformed {api} response: {reason}")]
    Protocol {
        /// `host:port` of the broker.
        broker: String,
        /// The request it answered.
        api: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The broker answered with an error code.
    #[error("Kafka broker {broker} refused {api}{context}: {name} (error code {code})")]
    Refused {
        /// `host:port` of the broker.
        broker: String,
        /// The request it refused.
        api: &'static str,
        /// The topic, partition or transaction concerned, as ` for …`.
        context: String,
        /// Kafka's error code.
        code: i16,
        /// Kafka's name for it (`PRODUCER_FENCED`).
        name: String,
    },
    /// The broker does not speak a version of an API that Spate needs.
    #[error("Kafka broker {broker} does not support {api} {need}")]
    Unsupported {
        /// `host:port` of the broker.
        broker: String,
        /// The API.
        api: &'static str,
        /// What Spate needs (`"version 3 or later"`).
        need: String,
    },
    /// A topic Spate was asked to read or write does not exist.
    #[error("Kafka topic `{topic}` does not exist on {bootstrap}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The bootstrap servers asked.
        bootstrap: String,
    },
    /// Records in a topic cannot be read.
    #[error("Kafka topic `{topic}` partition {partition} at offset {offset}: {reason}")]
    BadRecords {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset of the batch.
        offset: i64,
        /// Why it cannot be read.
        reason: String,
    },
    /// A setting cannot work.
    #[error("invalid Kafka configuration: {reason}")]
    InvalidConfig {
        /// Which setting, and why.
        reason: String,
    },
    /// A stored transaction handle or source position does not decode.
    #[error("a checkpointed Kafka {what} is corrupt: {reason}")]
    CorruptCheckpoint {
        /// `"transaction handle"` or `"source position"`.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A bug in Spate's Kafka client: an invariant did not hold.
    #[error("internal error in Spate's Kafka client (a bug, please report it): {reason}")]
    Internal {
        /// The invariant that was violated.
        reason: String,
    },
}

impl KafkaError {
    /// A broker error code as an error, or `Ok` for code 0.
    pub(crate) fn check(
        broker: &str,
        api: &'static str,
        context: impl FnOnce() -> String,
        code: i16,
    ) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        let name = match kafka_protocol::ResponseError::try_from_code(code) {
            Some(e) => format!("{e:?}"),
            None => "an error unknown to Spate".into(),
        };
        Err(KafkaError::Refused {
            broker: broker.into(),
            api,
            context: context(),
            code,
            name,
        })
    }

    /// Kafka's error code when the broker refused the request.
    pub fn code(&self) -> Option<i16> {
        match self {
            KafkaError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (a broker restarting, a
    /// leader moving, a transaction still completing).
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Io { .. } => true,
            KafkaError::Refused { code, .. } => kafka_protocol::ResponseError::try_from_code(*code)
                .is_some_and(|e| e.is_retriable()),
            _ => false,
        }
    }

    pub(crate) fn into_spate(self, operator: &str) -> spate::SpateError {
        spate::SpateError::Operator {
            operator: operator.into(),
            reason: self.to_string(),
        }
    }
}

/// Kafka error codes Spate treats specially.
pub(crate) mod codes {
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
}

/// The result of a Kafka operation.
pub type Result<T, E = KafkaError> = std::result::Result<T, E>;

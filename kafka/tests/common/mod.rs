//! A real Kafka-protocol broker (nisshi, formerly tansu, installed by
//! `scripts/install-kafka-broker.sh`) started per test on a free port.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use spate_kafka::{Client, ClientConfig};

/// Where the broker binary is: `SPATE_KAFKA_BROKER`, or where the install
/// script puts it.
pub fn broker_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SPATE_KAFKA_BROKER") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/spate-tools/bin/nisshi")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker process, stopped when dropped.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    storage: String,
}

impl Broker {
    /// Starts a broker with in-memory storage and waits until it answers.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, |_| "memory://spate/".into())
    }

    /// Starts a broker that keeps its data in an SQLite file, so it
    /// survives [`Broker::restart`].
    pub fn start_durable(name: &str) -> Self {
        Self::start_with(name, |_| "sqlite://broker.db".into())
    }

    fn start_with(name: &str, storage: impl FnOnce(&std::path::Path) -> String) -> Self {
        let dir = std::env::temp_dir().join(format!("spate-kafka-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Self {
            child: None,
            port: free_port(),
            storage: storage(&dir),
            dir,
        };
        b.spawn();
        b
    }

    /// Kills the broker (as a crash would) and starts it again on the
    /// same port after `down`.
    pub fn restart(&mut self, down: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(down);
        self.spawn();
    }

    fn spawn(&mut self) {
        let bin = broker_binary();
        assert!(
            bin.exists(),
            "the Kafka-protocol broker is not installed at {}: run \
             scripts/install-kafka-broker.sh (or set SPATE_KAFKA_BROKER to a nisshi binary)",
            bin.display()
        );
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("broker.log"))
            .unwrap();
        let child = Command::new(&bin)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var_os("SPATE_BROKER_LOG").unwrap_or("warn".into()),
            )
            .args(["broker", "--storage-engine", &self.storage])
            .args(["--kafka-listener-url", &listener])
            .args(["--kafka-advertised-listener-url", &listener])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the broker did not start ({exited:?}): {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.bootstrap());
        c.request_timeout_ms = 10_000;
        c.retry_ms_max = 10_000;
        c
    }

    pub fn client(&self) -> Client {
        Client::new(self.client_config()).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

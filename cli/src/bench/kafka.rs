//! `spate bench kafka`: Kafka to Kafka through Spate, at least once and
//! exactly once, on one broker (a local nisshi unless `--bootstrap` names one).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use spate_bench::kafka_bench::{self, KafkaBenchSpec, KafkaReport};

use super::results::write_stamped;
use crate::config_args::ConfigArgs;

/// `spate bench kafka`.
#[derive(Args, Debug)]
pub struct KafkaArgs {
    /// Brokers to use (`host:port,...`); without it a local broker is started.
    #[arg(long)]
    bootstrap: Option<String>,
    /// The broker binary started without --bootstrap (nisshi; see
    /// scripts/install-kafka-broker.sh). Default: ~/.cache/spate-tools/bin/nisshi.
    #[arg(long, value_name = "PATH")]
    broker_bin: Option<PathBuf>,
    /// Records in the input topic.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Bytes per record value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Checkpoint interval of both runs.
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// Write `<date>-<machine>-kafka.{json,md}` into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
    /// Config layers.
    #[command(flatten)]
    config: ConfigArgs,
}

/// A broker process, killed when dropped.
struct LocalBroker(Child);

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_broker(bin: &Path) -> anyhow::Result<(LocalBroker, String)> {
    if !bin.exists() {
        bail!(
            "no Kafka broker at {}: run scripts/install-kafka-broker.sh, or pass --bootstrap",
            bin.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(bin)
        .args(["broker", "--storage-engine", "memory://spate-bench/"])
        .args(["--listener-url", &url, "--advertised-listener-url", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let broker = LocalBroker(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!(
                "the broker {} did not listen on port {port} within 20 s",
                bin.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((broker, format!("127.0.0.1:{port}")))
}

/// Runs the command.
pub fn run(args: KafkaArgs) -> anyhow::Result<()> {
    let loaded = args.config.load()?;
    let (_broker, bootstrap) = match &args.bootstrap {
        Some(b) => (None, b.clone()),
        None => {
            let bin = match &args.broker_bin {
                Some(b) => b.clone(),
                None => std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(".cache/spate-tools/bin/nisshi"),
            };
            let (broker, bootstrap) = start_broker(&bin)?;
            (Some(broker), bootstrap)
        }
    };
    let spec = KafkaBenchSpec {
        bootstrap,
        records: args.records,
        partitions: args.partitions,
        value_bytes: args.value_bytes,
        checkpoint_interval_ms: args.checkpoint_interval_ms,
    };
    let report = kafka_bench::run(&spec, &loaded.config)?;
    print!("{}", report.summary());
    if let Some(dir) = &args.results_dir {
        let (json, md) = write_stamped(dir, "kafka", "Kafka to Kafka", &report, &table(&report))?;
        println!("results written to {} and {}", json.display(), md.display());
    }
    Ok(())
}

/// The Markdown body of the results.
fn table(r: &KafkaReport) -> String {
    let mut md = format!(
        "{} records of {} B, {} partitions, {} cores, checkpoints every {} ms; \
         input filled at {:.0} records/s.\n\n",
        r.records,
        r.value_bytes,
        r.partitions,
        r.cores,
        r.checkpoint_interval_ms,
        r.fill_rate_per_s
    );
    md.push_str(
        "| delivery | records/s | per core | checkpoints | write→visible p50 | p99 | max |\n",
    );
    md.push_str("|---|---|---|---|---|---|---|\n");
    for run in &r.runs {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            run.delivery,
            run.rate_per_s,
            run.rate_per_core_per_s,
            run.checkpoints,
            run.visible_p50_ms,
            run.visible_p99_ms,
            run.visible_max_ms
        );
    }
    md
}

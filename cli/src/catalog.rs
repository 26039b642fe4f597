//! The jobs a cluster can run by name. Every worker builds the same job
//! from the same spec, so building is deterministic.

use clap::Parser;
use spate::Job;
use spate::config::{Config, ConfigSources};
use spate_bench::bid_prices::{BidReading, bid_prices_job};
use spate_bench::nexmark::GeneratorConfig;
use spate_bench::runner::{BenchSpec, blackhole_job};
use spate_bench::source::EventInput;
use spate_cluster::protocol::JobSpec;
use spate_cluster::worker::JobCatalog;
use spate_torture::OracleArgs;

/// The jobs of this binary.
pub const JOBS: [&str; 6] = [
    "nexmark",
    "late-data",
    "overload",
    "oracle",
    "bid-prices",
    "sql",
];

/// The catalog of the `spate` binary.
pub struct Catalog;

/// Arguments of the `nexmark` job.
#[derive(Parser, Debug, Clone)]
#[command(name = "nexmark", no_binary_name = true)]
pub struct NexmarkJobArgs {
    /// Query: q0..q8.
    #[arg(long, default_value = "q5")]
    pub query: String,
    /// Events to generate over all subtasks.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Events per second over all subtasks (0: unthrottled).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

impl NexmarkJobArgs {
    /// The benchmark spec these arguments describe.
    pub fn bench_spec(&self) -> BenchSpec {
        let defaults = GeneratorConfig::default();
        BenchSpec {
            query: self.query.clone(),
            input: EventInput::Generator(GeneratorConfig {
                seed: self.seed,
                events_max: Some(self.events),
                rate_events_per_s: if self.rate > 0 {
                    self.rate
                } else {
                    defaults.rate_events_per_s
                },
                ..defaults
            }),
            rate_per_s: self.rate,
            progress: None,
            fail_once_after_events: None,
            savepoint_after_events: None,
            from_savepoint: None,
        }
    }

    /// The arguments as a job spec carries them.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--query".into(),
            self.query.clone(),
            "--events".into(),
            self.events.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--rate".into(),
            self.rate.to_string(),
        ]
    }
}

/// Arguments of the `bid-prices` job: Nexmark bids rebalanced, filtered
/// and projected in place, summed per auction in 10 s windows.
#[derive(Parser, Debug, Clone)]
#[command(name = "bid-prices", no_binary_name = true)]
pub struct BidPricesArgs {
    /// Nexmark events to generate over all subtasks.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Deserialize every bid before filtering it (for comparison).
    #[arg(long)]
    pub owned: bool,
}

/// Arguments of the `late-data` job.
#[derive(Parser, Debug, Clone)]
#[command(name = "late-data", no_binary_name = true)]
pub struct LateDataArgs {
    /// Records to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
}

/// Arguments of the `overload` job.
#[derive(Parser, Debug, Clone)]
#[command(name = "overload", no_binary_name = true)]
pub struct OverloadArgs {
    /// Events to generate.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Busy time of the sink per record, in µs.
    #[arg(long, default_value_t = 2)]
    pub sink_us_per_record: u64,
}

/// Settings travel as `profile=NAME` and `section.key=value` entries.
pub fn settings_to_config(settings: &[String]) -> Result<Config, String> {
    let mut sources = ConfigSources::default();
    for s in settings {
        match s.strip_prefix("profile=") {
            Some(p) => sources.profile = Some(p.to_string()),
            None => sources.overrides.push(s.clone()),
        }
    }
    Config::load(&sources)
        .map(|l| l.into_config())
        .map_err(|e| e.to_string())
}

/// Builds a job of the catalog.
pub fn build_job(name: &str, args: &[String]) -> Result<Job, String> {
    match name {
        "nexmark" => {
            let a = NexmarkJobArgs::try_parse_from(args).map_err(|e| e.to_string())?;
            blackhole_job(&a.bench_spec()).map_err(|e| e.to_string())
        }
        "late-data" => {
            let a = LateDataArgs::try_parse_from(args).map_err(|e| e.to_string())?;
            spate_bench::late_data::late_data_job(a.events).map_err(|e| e.to_string())
        }
        "overload" => {
            let a = OverloadArgs::try_parse_from(args).map_err(|e| e.to_string())?;
            spate_bench::overload::overload_job(a.events, a.sink_us_per_record)
                .map_err(|e| e.to_string())
        }
        "bid-prices" => {
            let a = BidPricesArgs::try_parse_from(args).map_err(|e| e.to_string())?;
            let spec = NexmarkJobArgs {
                query: "bid-prices".into(),
                events: a.events,
                seed: a.seed,
                rate: 0,
            }
            .bench_spec();
            let reading = if a.owned {
                BidReading::Owned
            } else {
                BidReading::InPlace
            };
            bid_prices_job(&spec, reading).map_err(|e| e.to_string())
        }
        "oracle" => {
            let a = OracleArgs::try_parse_from(args).map_err(|e| e.to_string())?;
            spate_torture::oracle_job(&a).map_err(|e| e.to_string())
        }
        // `spate sql -f job.sql --cluster`: the script's text is the argument.
        "sql" => {
            let [script] = args else {
                return Err("the sql job takes one argument, the script's text".into());
            };
            let mut session = spate_sql::Session::new(Config::default());
            let built = session.job_of_script(script);
            built.map(|j| j.job).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "unknown job `{other}`; this binary's jobs are {}",
            JOBS.join(", ")
        )),
    }
}

impl JobCatalog for Catalog {
    fn build(&self, spec: &JobSpec) -> Result<(Job, Config), String> {
        let config = settings_to_config(&spec.settings)?;
        let job = build_job(&spec.name, &spec.args)?;
        Ok((job, config))
    }
}

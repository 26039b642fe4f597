//! `spate bench net`: payload throughput of the network transport against a
//! plain TCP copy on loopback, and a one-record ping-pong latency probe,
//! between this process and a receiver process it starts.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use spate_bench::net_bench::{self, NetBenchSpec, ReceiverHost, ReceiverParams};
use spate_net::NetConfig;

/// `spate bench net`.
#[derive(Args, Debug)]
pub struct NetArgs {
    /// Record payload to exchange, GiB.
    #[arg(long, default_value_t = 4.0)]
    gib: f64,
    /// Channels on the link (records are routed by key).
    #[arg(long, default_value_t = 4)]
    channels: u32,
    /// Records per batch (32 bytes each).
    #[arg(long, default_value_t = 1024)]
    batch_records: usize,
    /// Receive buffers (credits) per channel.
    #[arg(long, default_value_t = 16)]
    buffers: u32,
    /// Socket read size and largest coalesced write, KiB.
    #[arg(long, default_value_t = 256)]
    socket_buffer_kib: usize,
    /// Ping-pongs for the latency probe.
    #[arg(long, default_value_t = 20_000)]
    pings: u64,
    /// Receiver and sender cores, e.g. `0,1` (default: 0,1 when there are two).
    #[arg(long, value_name = "RX,TX")]
    cores: Option<String>,
    /// Leave both ends unpinned.
    #[arg(long)]
    no_pin: bool,
    /// Run the receiver as a second thread of this process instead of a
    /// second process.
    #[arg(long)]
    one_process: bool,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write `<date>-<machine>-net.{json,md}` into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
}

fn cores(args: &NetArgs) -> anyhow::Result<Option<(usize, usize)>> {
    if args.no_pin {
        return Ok(None);
    }
    let Some(list) = &args.cores else {
        return Ok(net_bench::default_cores());
    };
    let parsed: Vec<usize> = list
        .split(',')
        .map(|c| c.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--cores `{list}`: expected two core numbers like `0,1`"))?;
    match parsed[..] {
        [rx, tx] => Ok(Some((rx, tx))),
        _ => anyhow::bail!("--cores `{list}`: expected exactly two cores"),
    }
}

/// Runs the command.
pub fn run(args: NetArgs) -> anyhow::Result<()> {
    let spec = NetBenchSpec {
        payload_bytes: (args.gib * f64::from(1u32 << 30)) as u64,
        channels: args.channels.max(1),
        batch_records: args.batch_records.max(1),
        buffers_per_channel: args.buffers.max(1),
        pings: args.pings,
        cores: cores(&args)?,
        config: NetConfig {
            socket_buffer_bytes: args.socket_buffer_kib.max(1) << 10,
            ..NetConfig::default()
        },
        receiver: if args.one_process {
            ReceiverHost::Thread
        } else {
            ReceiverHost::Process {
                program: std::env::current_exe().context("cannot find the spate executable")?,
                args: vec!["bench".into(), "net-receiver".into()],
            }
        },
        ..NetBenchSpec::default()
    };
    let report = net_bench::run(&spec)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.summary());
    }
    if let Some(dir) = &args.results_dir {
        let (json, md) = net_bench::write_results(dir, &report)
            .with_context(|| format!("writing results into {}", dir.display()))?;
        eprintln!("wrote {} and {}", json.display(), md.display());
    }
    Ok(())
}

/// `spate bench net-receiver` (hidden): the receiving process.
#[derive(Args, Debug)]
pub struct NetReceiverArgs {
    /// The measurement and limits, as JSON.
    #[arg(long)]
    params: String,
}

/// Serves one measurement for a `spate bench net` in another process.
pub fn serve(args: NetReceiverArgs) -> anyhow::Result<()> {
    let params: ReceiverParams =
        serde_json::from_str(&args.params).context("--params: not the receiver's JSON")?;
    net_bench::serve_receiver(params)?;
    Ok(())
}

//! The network benchmark behind `spate bench net`: a keyed exchange of rkyv
//! batches over one [`Link`] between two cores on loopback, beside a plain
//! TCP copy of the same bytes with the same buffer size, and a one-record
//! ping-pong latency probe. Both ends run on their own glommio executor,
//! pinned to two cores when the machine has them: the receiver in a second
//! process ([`ReceiverHost::Process`], what `spate bench net` runs, so the
//! bytes cross a process boundary) or in a second thread of this one.

use std::cell::Cell;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use spate_net::{
    Endpoint, FrameKind, Hello, Link, LinkListener, NetConfig, NetError, Received, SessionFence,
    write_batch,
};

use crate::report::{human, machine, machine_slug, today_utc};

/// One record: a key, a timestamp and 16 bytes of value; 32 bytes archived.
pub type NetRecord = (u64, u64, [u8; 16]);

/// Archived size of one [`NetRecord`].
pub const RECORD_BYTES: usize = 32;

const RECEIVER: Endpoint = Endpoint { worker: 0, core: 0 };
const SENDER: Endpoint = Endpoint { worker: 1, core: 0 };
const SESSION: u64 = 1;

/// What to run.
#[derive(Debug, Clone)]
pub struct NetBenchSpec {
    /// Record payload to exchange, bytes.
    pub payload_bytes: u64,
    /// Channels on the link; records go to `key % channels`.
    pub channels: u32,
    /// Records per batch.
    pub batch_records: usize,
    /// Receive buffers (= credits) per channel.
    pub buffers_per_channel: u32,
    /// Ping-pongs measured by the latency probe (after as many warm-ups / 10).
    pub pings: u64,
    /// Cores for the receiving and the sending executor; `None` leaves the
    /// threads unpinned.
    pub cores: Option<(usize, usize)>,
    /// Microseconds an idle executor spins before parking.
    pub spin_before_park_us: u64,
    /// Transport limits.
    pub config: NetConfig,
    /// Where the receiving end runs.
    pub receiver: ReceiverHost,
}

/// Where the receiving end of each measurement runs.
#[derive(Debug, Clone)]
pub enum ReceiverHost {
    /// A second executor thread of this process.
    Thread,
    /// A child process: `program` with `args`, then `--params <JSON>`; the
    /// child runs [`serve_receiver`] with those [`ReceiverParams`].
    Process {
        /// The executable (`spate`).
        program: PathBuf,
        /// Arguments before `--params` (`bench net-receiver`).
        args: Vec<String>,
    },
}

/// Which measurement a receiver serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverRole {
    /// The keyed exchange over a link.
    Exchange,
    /// The plain TCP copy.
    Tcp,
    /// The one-record echo.
    Ping,
}

/// Everything a receiver needs, also as the JSON a child process gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiverParams {
    /// Which measurement.
    pub role: ReceiverRole,
    /// Channels on the link.
    pub channels: u32,
    /// Receive buffers (credits) per channel.
    pub buffers_per_channel: u32,
    /// Buffers in the receiver's pool.
    pub network_buffers_per_core: usize,
    /// Socket read size and largest coalesced write.
    pub socket_buffer_bytes: usize,
    /// The CPU to pin to, if any.
    pub core: Option<usize>,
    /// Microseconds an idle executor spins before parking.
    pub spin_before_park_us: u64,
}

impl ReceiverParams {
    fn config(&self) -> NetConfig {
        NetConfig {
            network_buffers_per_core: self.network_buffers_per_core,
            socket_buffer_bytes: self.socket_buffer_bytes,
            ..NetConfig::default()
        }
    }
}

impl Default for NetBenchSpec {
    fn default() -> Self {
        Self {
            payload_bytes: 4 << 30,
            channels: 4,
            batch_records: 1024,
            buffers_per_channel: 16,
            pings: 20_000,
            cores: default_cores(),
            spin_before_park_us: 1_000,
            config: NetConfig::default(),
            receiver: ReceiverHost::Thread,
        }
    }
}

/// Cores 0 and 1 when the machine has two, else unpinned.
pub fn default_cores() -> Option<(usize, usize)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores >= 2).then_some((0, 1))
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetBenchError {
    /// The transport failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// An executor could not start or its thread died.
    #[error("executor {name}: {reason}")]
    Executor {
        /// Which side.
        name: &'static str,
        /// What happened.
        reason: String,
    },
    /// The plain TCP baseline failed.
    #[error("plain TCP baseline: {0}")]
    Io(#[from] std::io::Error),
    /// The receiver did not get what was sent.
    #[error("check failed: {0}")]
    Check(String),
    /// The receiving process failed or broke its protocol.
    #[error("receiver process: {0}")]
    ReceiverProcess(String),
}

/// Throughput of one way of moving the bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Record payload bytes moved.
    pub payload_bytes: u64,
    /// Bytes on the wire (headers, archive framing, credit frames).
    pub wire_bytes: u64,
    /// Seconds from the first byte received to the last.
    pub seconds: f64,
    /// Record payload GB/s (10^9 bytes).
    pub payload_gb_per_s: f64,
}

/// Round-trip latency of a one-record batch, microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct PingLatency {
    /// Round trips measured.
    pub pings: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
}

/// The result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct NetBenchReport {
    /// Channels on the link.
    pub channels: u32,
    /// Records per batch.
    pub batch_records: usize,
    /// Archived bytes per record.
    pub record_bytes: usize,
    /// Credits per channel.
    pub buffers_per_channel: u32,
    /// Socket read size and largest coalesced write.
    pub socket_buffer_bytes: usize,
    /// Pinned cores (receiver, sender), if any.
    pub cores: Option<(usize, usize)>,
    /// Processes the two ends ran in: 2, or 1 for two threads of one.
    pub processes: u32,
    /// Records received and validated.
    pub records: u64,
    /// The exchange over a link.
    pub link: Throughput,
    /// The plain TCP copy of the same payload.
    pub tcp: Throughput,
    /// link / tcp payload throughput.
    pub link_to_tcp: f64,
    /// Mean share of time the link's senders waited for credit.
    pub backpressure_ratio: f64,
    /// One-record ping-pong over a link.
    pub ping: PingLatency,
}

impl NetBenchReport {
    /// Where the two ends ran, in words.
    pub fn ends(&self) -> &'static str {
        if self.processes == 2 {
            "two processes over loopback TCP"
        } else {
            "two threads of one process over loopback TCP"
        }
    }

    /// The readable summary.
    pub fn summary(&self) -> String {
        format!(
            "between         {}\n\
             link            {:.2} GB/s record payload ({} records, {} channels × {} credits, {:.2} s)\n\
             plain TCP       {:.2} GB/s, same payload and {} KiB buffers ({:.2} s)\n\
             link / TCP      {:.2}\n\
             backpressure    {:.2}\n\
             1-record ping   p50 {:.1} µs · p99 {:.1} µs · p99.9 {:.1} µs round trip ({} pings)\n",
            self.ends(),
            self.link.payload_gb_per_s,
            human(self.records as f64),
            self.channels,
            self.buffers_per_channel,
            self.link.seconds,
            self.tcp.payload_gb_per_s,
            self.socket_buffer_bytes >> 10,
            self.tcp.seconds,
            self.link_to_tcp,
            self.backpressure_ratio,
            self.ping.p50_us,
            self.ping.p99_us,
            self.ping.p999_us,
            self.ping.pings,
        )
    }
}

/// Runs the three measurements one after another on the same two cores.
pub fn run(spec: &NetBenchSpec) -> Result<NetBenchReport, NetBenchError> {
    let (link, records, backpressure_ratio) = exchange(spec)?;
    if records * RECORD_BYTES as u64 != link.payload_bytes {
        return Err(NetBenchError::Check(format!(
            "{records} records received for {} payload bytes",
            link.payload_bytes
        )));
    }
    let tcp = plain_tcp(spec, link.payload_bytes)?;
    let ping = ping_pong(spec)?;
    Ok(NetBenchReport {
        channels: spec.channels,
        batch_records: spec.batch_records,
        record_bytes: RECORD_BYTES,
        buffers_per_channel: spec.buffers_per_channel,
        socket_buffer_bytes: spec.config.socket_buffer_bytes,
        cores: spec.cores,
        processes: match spec.receiver {
            ReceiverHost::Thread => 1,
            ReceiverHost::Process { .. } => 2,
        },
        records,
        link_to_tcp: link.payload_gb_per_s / tcp.payload_gb_per_s.max(1e-12),
        link,
        tcp,
        backpressure_ratio,
        ping,
    })
}

fn executor(name: &'static str, core: Option<usize>, spin_us: u64) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(core.map_or(Placement::Unbound, Placement::Fixed))
        .name(name)
        .io_memory(1 << 20)
        .spin_before_park(Duration::from_micros(spin_us))
}

fn executor_error(name: &'static str, e: glommio::GlommioError<()>) -> NetBenchError {
    NetBenchError::Executor {
        name,
        reason: e.to_string(),
    }
}

/// The receiver's half of one measurement, on its executor: `announce`
/// gets the listening address; the result is JSON, so that it can also
/// come back from a child process.
async fn receive(
    params: ReceiverParams,
    announce: Announce,
) -> Result<serde_json::Value, NetBenchError> {
    let config = params.config();
    let value = match params.role {
        ReceiverRole::Exchange => serde_json::to_value(
            receive_exchange(
                announce,
                config,
                params.channels,
                params.buffers_per_channel,
            )
            .await?,
        ),
        ReceiverRole::Tcp => {
            serde_json::to_value(receive_tcp(announce, params.socket_buffer_bytes).await?)
        }
        ReceiverRole::Ping => serde_json::to_value(echo_pings(announce, config).await?),
    };
    value.map_err(|e| NetBenchError::Check(format!("receiver result: {e}")))
}

type Announce = Box<dyn FnOnce(SocketAddr) + Send>;

/// The entry point of a receiver process (`spate bench net-receiver`):
/// prints `listening <addr>`, serves one measurement, prints
/// `result <json>`.
pub fn serve_receiver(params: ReceiverParams) -> Result<(), NetBenchError> {
    let announce: Announce = Box::new(|addr| {
        println!("listening {addr}");
        let _ = std::io::stdout().flush();
    });
    let value = executor("net-receiver", params.core, params.spin_before_park_us)
        .spawn(move || receive(params, announce))
        .map_err(|e| executor_error("receiver", e))?
        .join()
        .map_err(|e| executor_error("receiver", e))??;
    println!("result {value}");
    Ok(())
}

/// Runs the receiver for `params` where the spec says and the sender on an
/// executor of this process; returns the receiver's JSON result and the
/// sender's.
fn on_two_sides<S, SF, SFut>(
    spec: &NetBenchSpec,
    params: ReceiverParams,
    sender: SF,
) -> Result<(serde_json::Value, S), NetBenchError>
where
    S: Send + 'static,
    SF: FnOnce(SocketAddr) -> SFut + Send + 'static,
    SFut: Future<Output = S> + 'static,
{
    let send = |addr: SocketAddr| {
        executor(
            "net-sender",
            spec.cores.map(|c| c.1),
            spec.spin_before_park_us,
        )
        .spawn(move || sender(addr))
        .map_err(|e| executor_error("sender", e))?
        .join()
        .map_err(|e| executor_error("sender", e))
    };
    match &spec.receiver {
        ReceiverHost::Thread => {
            let (addr_tx, addr_rx) = mpsc::channel();
            let announce: Announce = Box::new(move |addr| {
                // A closed channel only means the caller gave up waiting.
                let _ = addr_tx.send(addr);
            });
            let rx = executor("net-receiver", params.core, params.spin_before_park_us)
                .spawn(move || receive(params, announce))
                .map_err(|e| executor_error("receiver", e))?;
            let addr = addr_rx.recv_timeout(Duration::from_secs(10)).map_err(|e| {
                NetBenchError::Executor {
                    name: "receiver",
                    reason: format!("no listening address: {e}"),
                }
            })?;
            let sent = send(addr)?;
            let received = rx.join().map_err(|e| executor_error("receiver", e))??;
            Ok((received, sent))
        }
        ReceiverHost::Process { program, args } => {
            let child = ReceiverChild::start(program, args, &params)?;
            child.finish(send)
        }
    }
}

/// A receiver in a child process, killed if dropped before it finished.
struct ReceiverChild {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl ReceiverChild {
    fn start(
        program: &Path,
        args: &[String],
        params: &ReceiverParams,
    ) -> Result<Self, NetBenchError> {
        let fail = |what: String| NetBenchError::ReceiverProcess(what);
        let json = serde_json::to_string(params).map_err(|e| fail(e.to_string()))?;
        let mut child = Command::new(program)
            .args(args)
            .arg("--params")
            .arg(json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", program.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no standard output".into()))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next line that starts with `prefix`, without it.
    fn line(&mut self, prefix: &str) -> Result<String, NetBenchError> {
        for line in self.lines.by_ref() {
            let line = line.map_err(|e| NetBenchError::ReceiverProcess(e.to_string()))?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.to_string());
            }
        }
        Err(NetBenchError::ReceiverProcess(format!(
            "it ended without printing `{prefix}...`"
        )))
    }

    fn finish<S>(
        mut self,
        send: impl FnOnce(SocketAddr) -> Result<S, NetBenchError>,
    ) -> Result<(serde_json::Value, S), NetBenchError> {
        let fail = |what: String| NetBenchError::ReceiverProcess(what);
        let addr = self.line("listening ")?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| fail(format!("`{addr}` is not an address")))?;
        let sent = send(addr)?;
        let result = self.line("result ")?;
        let status = self.child.wait().map_err(|e| fail(e.to_string()))?;
        if !status.success() {
            return Err(fail(format!("it exited with {status}")));
        }
        let value = serde_json::from_str(&result).map_err(|e| fail(format!("its result: {e}")))?;
        Ok((value, sent))
    }
}

impl Drop for ReceiverChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listen(announce: Announce, config: &NetConfig) -> Result<LinkListener, NetError> {
    let fence = SessionFence {
        local: RECEIVER,
        session: SESSION,
        epoch_min: 0,
    };
    let listener = LinkListener::bind(loopback(), RECEIVER, config, fence)?;
    announce(listener.local_addr()?);
    Ok(listener)
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn hello() -> Hello {
    Hello {
        from: SENDER,
        to: RECEIVER,
        epoch: 0,
        session: SESSION,
    }
}

/// Config with a pool big enough for every channel's credits.
fn link_config(spec: &NetBenchSpec) -> NetConfig {
    let needed = (spec.channels as usize * spec.buffers_per_channel as usize).max(4);
    NetConfig {
        network_buffers_per_core: spec.config.network_buffers_per_core.max(needed),
        ..spec.config
    }
}

/// What the receiver of `role` needs from the spec.
fn receiver_params(spec: &NetBenchSpec, role: ReceiverRole) -> ReceiverParams {
    let config = link_config(spec);
    ReceiverParams {
        role,
        channels: spec.channels,
        buffers_per_channel: spec.buffers_per_channel,
        network_buffers_per_core: config.network_buffers_per_core,
        socket_buffer_bytes: config.socket_buffer_bytes,
        core: spec.cores.map(|c| c.0),
        spin_before_park_us: spec.spin_before_park_us,
    }
}

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, NetBenchError> {
    serde_json::from_value(value).map_err(|e| NetBenchError::Check(format!("receiver result: {e}")))
}

/// `batch_records` records per channel whose keys route to that channel.
fn keyed_batches(channels: u32, batch_records: usize) -> Vec<Vec<NetRecord>> {
    let mut batches = vec![Vec::with_capacity(batch_records); channels as usize];
    let mut key = 0u64;
    while batches.iter().any(|b| b.len() < batch_records) {
        // A multiplicative hash spreads consecutive keys over the channels.
        let channel = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % u64::from(channels);
        let batch = &mut batches[channel as usize];
        if batch.len() < batch_records {
            batch.push((key, 0, [key as u8; 16]));
        }
        key += 1;
    }
    batches
}

/// The exchange: returns its throughput, the records validated and the
/// senders' mean backpressure ratio.
fn exchange(spec: &NetBenchSpec) -> Result<(Throughput, u64, f64), NetBenchError> {
    let config = link_config(spec);
    let channels = spec.channels;
    let batch_bytes = (spec.batch_records * RECORD_BYTES) as u64;
    let batches_total = spec.payload_bytes.div_ceil(batch_bytes).max(1);
    let batch_records = spec.batch_records;
    let (received, sent) = on_two_sides(
        spec,
        receiver_params(spec, ReceiverRole::Exchange),
        move |addr| async move {
            send_exchange(addr, config, channels, batch_records, batches_total).await
        },
    )?;
    let (records, seconds, wire_bytes): (u64, f64, u64) = from_json(received)?;
    let backpressure_ratio = sent?;
    let payload_bytes = records * RECORD_BYTES as u64;
    Ok((
        Throughput {
            payload_bytes,
            wire_bytes,
            seconds,
            payload_gb_per_s: payload_bytes as f64 / seconds.max(1e-9) / 1e9,
        },
        records,
        backpressure_ratio,
    ))
}

/// Receives every channel to its end; returns records, seconds from the
/// first frame to the last end-of-channel, and bytes read.
async fn receive_exchange(
    announce: Announce,
    config: NetConfig,
    channels: u32,
    buffers: u32,
) -> Result<(u64, f64, u64), NetError> {
    let listener = listen(announce, &config)?;
    let (link, _) = listener.accept().await?;
    let first = Rc::new(Cell::new(None::<Instant>));
    let mut tasks = Vec::new();
    for channel in 0..channels {
        let mut rx = link.receiver(channel, buffers)?;
        let first = first.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut records = 0u64;
            let mut key_sum = 0u64;
            while let Some(item) = rx.recv().await? {
                if let Received::Data(frame) = item {
                    if first.get().is_none() {
                        first.set(Some(Instant::now()));
                    }
                    let batch = frame.access_batch::<NetRecord>()?;
                    records += batch.len() as u64;
                    // Touch every key, as a keyed operator would.
                    key_sum = batch
                        .iter()
                        .fold(key_sum, |s, r| s.wrapping_add(r.0.to_native()));
                }
            }
            Ok::<_, NetError>((records, key_sum))
        }));
    }
    let mut records = 0;
    for task in tasks {
        records += task.await?.0;
    }
    let seconds = first.get().map_or(0.0, |t| t.elapsed().as_secs_f64());
    let bytes_read = link.metrics()?.bytes_read;
    link.send_control(Bytes::from_static(b"done")).await?;
    link.flush().await?;
    // The sender closes; its close is this side's end.
    let mut control = link.control_receiver()?;
    let _ = control.recv().await;
    Ok((records, seconds, bytes_read))
}

async fn send_exchange(
    addr: SocketAddr,
    config: NetConfig,
    channels: u32,
    batch_records: usize,
    batches_total: u64,
) -> Result<f64, NetError> {
    let link = Link::connect(addr, hello(), &config).await?;
    let mut control = link.control_receiver()?;
    let mut senders = (0..channels)
        .map(|c| link.sender(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut batches = keyed_batches(channels, batch_records);
    let mut buf = BytesMut::new();
    for n in 0..batches_total {
        let channel = (n % u64::from(channels)) as usize;
        let batch = &mut batches[channel];
        for record in batch.iter_mut() {
            record.1 = n;
        }
        write_batch(batch, &mut buf)?;
        senders[channel].send_data(buf.split().freeze()).await?;
    }
    for sender in &mut senders {
        sender
            .send_event(FrameKind::EndOfChannel, Bytes::new())
            .await?;
    }
    let metrics = link.metrics()?;
    let ratio = metrics
        .senders
        .iter()
        .map(|s| s.backpressure_ratio)
        .sum::<f64>()
        / f64::from(channels.max(1));
    control.recv().await?;
    link.close().await?;
    Ok(ratio)
}

/// Reads a plain socket to its end in reads of `chunk` bytes; returns the
/// bytes and the seconds from the first read to the end.
async fn receive_tcp(announce: Announce, chunk: usize) -> Result<(u64, f64), std::io::Error> {
    let listener = TcpListener::bind(loopback())?;
    announce(listener.local_addr()?);
    let mut stream = listener.accept().await?;
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    let mut first = None;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let seconds = first.map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
    Ok((total, seconds))
}

/// Copies `payload_bytes` over a plain glommio socket in writes and reads
/// of `socket_buffer_bytes`.
fn plain_tcp(spec: &NetBenchSpec, payload_bytes: u64) -> Result<Throughput, NetBenchError> {
    let chunk = spec.config.socket_buffer_bytes;
    let (received, sent) = on_two_sides(
        spec,
        receiver_params(spec, ReceiverRole::Tcp),
        move |addr| async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let buf: Vec<u8> = (0..chunk).map(|i| i as u8).collect();
            let mut left = payload_bytes;
            while left > 0 {
                let n = (left as usize).min(chunk);
                stream.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            stream.close().await?;
            Ok::<_, std::io::Error>(())
        },
    )?;
    sent?;
    let (total, seconds): (u64, f64) = from_json(received)?;
    Ok(Throughput {
        payload_bytes: total,
        wire_bytes: total,
        seconds,
        payload_gb_per_s: total as f64 / seconds.max(1e-9) / 1e9,
    })
}

/// Echoes each one-record batch of channel 0 on channel 1; returns the
/// batches echoed.
async fn echo_pings(announce: Announce, config: NetConfig) -> Result<u64, NetError> {
    let listener = listen(announce, &config)?;
    let (link, _) = listener.accept().await?;
    let mut ping = link.receiver(0, 2)?;
    let mut pong = link.sender(1)?;
    let mut echoed = 0u64;
    while let Some(item) = ping.recv().await? {
        if let Received::Data(frame) = item {
            let record = frame
                .access_batch::<NetRecord>()?
                .first()
                .map(|r| (r.0.to_native(), r.1.to_native(), r.2));
            drop(frame);
            pong.send_batch(&[record.unwrap_or_default()]).await?;
            echoed += 1;
        }
    }
    let mut control = link.control_receiver()?;
    let _ = control.recv().await;
    Ok(echoed)
}

/// Ping-pong of a one-record batch: the sender times each round trip.
fn ping_pong(spec: &NetBenchSpec) -> Result<PingLatency, NetBenchError> {
    let config = link_config(spec);
    let (pings, warmup) = (spec.pings.max(1), spec.pings / 10);
    let (echoed, histogram) = on_two_sides(
        spec,
        receiver_params(spec, ReceiverRole::Ping),
        move |addr| async move {
            let link = Link::connect(addr, hello(), &config).await?;
            let mut ping = link.sender(0)?;
            let mut pong = link.receiver(1, 2)?;
            let mut histogram = Histogram::<u64>::new(3).map_err(|_| NetError::Internal {
                reason: "histogram",
            })?;
            for n in 0..warmup + pings {
                let start = Instant::now();
                ping.send_batch(&[(n, n, [0u8; 16])]).await?;
                match pong.recv().await? {
                    Some(Received::Data(frame)) => drop(frame),
                    _ => {
                        return Err(NetError::Protocol {
                            channel: 1,
                            reason: "pong channel ended early",
                        });
                    }
                }
                if n >= warmup {
                    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    let _ = histogram.record(ns);
                }
            }
            ping.send_event(FrameKind::EndOfChannel, Bytes::new())
                .await?;
            link.flush().await?;
            link.close().await?;
            Ok::<_, NetError>(histogram)
        },
    )?;
    let echoed: u64 = from_json(echoed)?;
    let histogram = histogram?;
    if echoed != warmup + pings {
        return Err(NetBenchError::Check(format!(
            "{echoed} pings echoed of {}",
            warmup + pings
        )));
    }
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(PingLatency {
        pings,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: histogram.max() as f64 / 1000.0,
    })
}

/// Writes `<dir>/<date>-<machine>-net.{json,md}` with the machine, commit
/// and date; returns both paths.
pub fn write_results(dir: &Path, report: &NetBenchReport) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let date = today_utc();
    let (machine, commit) = (machine(), crate::report::commit_of(dir));
    let stem = format!("{date}-{}-net", machine_slug());
    let json_path = dir.join(format!("{stem}.json"));
    let md_path = dir.join(format!("{stem}.md"));
    let json = serde_json::json!({
        "date": date,
        "machine": machine,
        "commit": commit,
        "net": report,
    });
    let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
    std::fs::write(&json_path, text)?;
    let mut md = format!(
        "# Spate network transport\n\n{date} · {machine} · commit {commit}\n\nBetween {}.\n\n",
        report.ends()
    );
    md.push_str("| what | GB/s payload | seconds | wire bytes |\n|---|---|---|---|\n");
    for (name, t) in [
        ("link (rkyv batches, credit)", &report.link),
        ("plain TCP copy", &report.tcp),
    ] {
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {:.2} | {} |",
            t.payload_gb_per_s, t.seconds, t.wire_bytes
        );
    }
    let _ = writeln!(
        md,
        "\nlink / TCP = {:.2}; {} channels, {} records of {} bytes per batch, {} credits per channel, \
         {} KiB socket buffer, cores (receiver, sender) {}; backpressure {:.2}.\n",
        report.link_to_tcp,
        report.channels,
        report.batch_records,
        report.record_bytes,
        report.buffers_per_channel,
        report.socket_buffer_bytes >> 10,
        cores_text(report.cores),
        report.backpressure_ratio,
    );
    let p = &report.ping;
    let _ = writeln!(
        md,
        "One-record ping-pong (round trip, {} pings): p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs.",
        p.pings, p.p50_us, p.p99_us, p.p999_us, p.max_us
    );
    std::fs::write(&md_path, md)?;
    Ok((json_path, md_path))
}

fn cores_text(cores: Option<(usize, usize)>) -> String {
    cores.map_or("unpinned".into(), |(rx, tx)| format!("{rx}, {tx}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_batches_route_every_key_to_its_channel() {
        let batches = keyed_batches(4, 64);
        for (channel, batch) in batches.iter().enumerate() {
            assert_eq!(batch.len(), 64);
            for record in batch {
                let routed = (record.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % 4;
                assert_eq!(routed, channel as u64);
            }
        }
    }

    #[test]
    fn a_small_run_moves_every_record_over_link_and_tcp() {
        let spec = NetBenchSpec {
            payload_bytes: 8 << 20,
            channels: 3,
            buffers_per_channel: 4,
            pings: 200,
            cores: None,
            spin_before_park_us: 0,
            config: NetConfig {
                network_buffers_per_core: 16,
                ..NetConfig::default()
            },
            ..NetBenchSpec::default()
        };
        let report = run(&spec).expect("run");
        let batches = (8u64 << 20).div_ceil(1024 * 32);
        assert_eq!(report.records, batches * 1024);
        assert_eq!(report.tcp.payload_bytes, report.link.payload_bytes);
        assert!(report.link.wire_bytes > report.link.payload_bytes);
        assert_eq!(report.ping.pings, 200);
        assert!(report.ping.p50_us > 0.0 && report.ping.p50_us <= report.ping.p99_us);
    }
}

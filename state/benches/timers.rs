//! Timer-queue cost for the window case: 5 M timers over 5 distinct
//! timestamps (1 M keys, each registering one timer per window of a sliding
//! window), registered then all fired (`window`); a q5-shaped stream of 5 M
//! records registering trigger and cleanup timers per window while the
//! watermark fires them (`sliding`); 50 M registration calls that mostly
//! find their timer registered, each key touching all 5 windows at once
//! (`dedup`); and, for contrast, timers at distinct timestamps (per-record
//! cleanup timers), registered in random order (`sparse`) and in stream
//! order (`stream`). The binary-heap queue this crate used before runs
//! beside the current one; criterion runs `window`, `sliding` and `stream`.
//!
//! `cargo bench -p spate-state --bench timers` prints per-phase times and
//! memory per timer, then runs the criterion benches;
//! `... -- --report [FILTER]` prints only the former, for the
//! `workload/queue` pairs whose name contains `FILTER` (`sparse/buckets`).

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/timers_old.rs"]
mod timers_old;

use std::hint::black_box;
use std::time::{Duration, Instant};

use counting_alloc::CountingAlloc;
use criterion::{BatchSize, Criterion, Throughput};
use spate_state::{KeyGroupRange, KeyRef, MAX_PARALLELISM_DEFAULT, Timer, TimerQueue};
use timers_old::OldTimerQueue;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MP: u16 = MAX_PARALLELISM_DEFAULT;
const KEYS: u64 = 1_000_000;
const WINDOWS: i64 = 5;
const SLIDE_MS: i64 = 2_000;
const SIZE_MS: i64 = 10_000;

/// A window as q5's `TimeWindow`: (start, end).
type Window = (i64, i64);
/// (key, key ref, namespace, timestamp).
type Registration = (u64, KeyRef, Window, i64);

/// The queue under test.
trait Queue {
    fn name() -> &'static str;
    fn new() -> Self;
    fn register(&mut self, kr: KeyRef, key: &u64, ns: &Window, ts: i64) -> bool;
    fn pop_due(&mut self, up_to: i64) -> Option<Timer<u64, Window>>;
    fn len(&self) -> usize;
    fn approx_bytes(&self) -> usize;
}

impl Queue for TimerQueue<u64, Window> {
    fn name() -> &'static str {
        "buckets"
    }
    fn new() -> Self {
        TimerQueue::new(KeyGroupRange::all(MP))
    }
    fn register(&mut self, kr: KeyRef, key: &u64, ns: &Window, ts: i64) -> bool {
        TimerQueue::register(self, kr, key, ns, ts).expect("key group in range")
    }
    fn pop_due(&mut self, up_to: i64) -> Option<Timer<u64, Window>> {
        TimerQueue::pop_due(self, up_to)
    }
    fn len(&self) -> usize {
        TimerQueue::len(self)
    }
    fn approx_bytes(&self) -> usize {
        TimerQueue::approx_bytes(self)
    }
}

impl Queue for OldTimerQueue<u64, Window> {
    fn name() -> &'static str {
        "binary_heap_old"
    }
    fn new() -> Self {
        OldTimerQueue::new(KeyGroupRange::all(MP))
    }
    fn register(&mut self, kr: KeyRef, key: &u64, ns: &Window, ts: i64) -> bool {
        OldTimerQueue::register(self, kr, key, ns, ts).expect("key group in range")
    }
    fn pop_due(&mut self, up_to: i64) -> Option<Timer<u64, Window>> {
        OldTimerQueue::pop_due(self, up_to)
    }
    fn len(&self) -> usize {
        OldTimerQueue::len(self)
    }
    fn approx_bytes(&self) -> usize {
        OldTimerQueue::approx_bytes(self)
    }
}

/// xorshift64*: a dependency-free, reproducible sequence.
fn random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The keys in a random order (Fisher-Yates).
fn shuffled_keys(n: u64) -> Vec<(u64, KeyRef)> {
    let mut keys: Vec<u64> = (0..n).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in (1..keys.len()).rev() {
        let j = (random(&mut state) % (i as u64 + 1)) as usize;
        keys.swap(i, j);
    }
    keys.into_iter().map(|k| (k, KeyRef::of(&k, MP))).collect()
}

/// Each key registers one timer per window it falls in: 5 windows of a
/// 10 s / 2 s sliding window, so 5 timestamps in all.
fn window_workload() -> Vec<Registration> {
    shuffled_keys(KEYS)
        .into_iter()
        .flat_map(|(k, kr)| {
            (0..WINDOWS).map(move |w| {
                let start = w * SLIDE_MS;
                (k, kr, (start, start + SIZE_MS), start + SIZE_MS - 1)
            })
        })
        .collect()
}

/// Like q5's window operator: 5 M records of 200 K keys (half of the
/// records go to 2 000 hot keys), each registering, per window it falls in,
/// the trigger timer and then the same-time cleanup timer, so almost every
/// call finds its timer registered.
fn window_dedup_workload() -> Vec<Registration> {
    let keys = shuffled_keys(200_000);
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut work = Vec::with_capacity(5 * 2 * 5_000_000);
    for _ in 0..5_000_000 {
        let r = random(&mut state);
        let i = if r & 1 == 0 {
            (r >> 1) % 2_000
        } else {
            (r >> 1) % 200_000
        };
        let (k, kr) = keys[i as usize];
        for w in 0..WINDOWS {
            let start = w * SLIDE_MS;
            let ns = (start, start + SIZE_MS);
            let ts = start + SIZE_MS - 1;
            work.push((k, kr, ns, ts));
            work.push((k, kr, ns, ts));
        }
    }
    work
}

/// A record of the sliding-window stream: key, its key ref, event time.
type Record = (u64, KeyRef, i64);

const RECORDS: usize = 5_000_000;
/// Records per event-time millisecond, and new keys per millisecond.
const RECORDS_PER_MS: usize = 50;
/// The watermark advances (and due timers fire) every this many records.
const WATERMARK_EVERY: usize = 1_000;

/// q5's shape over time: 5 M records over 100 s of event time; keys are
/// born one per millisecond and half of the records go to the 1 000
/// newest, the rest to the 20 000 newest.
fn sliding_records() -> Vec<Record> {
    let mut state = 0x0123_4567_89ab_cdefu64;
    (0..RECORDS)
        .map(|i| {
            let ms = (i / RECORDS_PER_MS) as u64;
            let r = random(&mut state);
            let back = if r & 1 == 0 {
                (r >> 1) % 1_000
            } else {
                (r >> 1) % 20_000
            };
            let k = ms.saturating_sub(back);
            (k, KeyRef::of(&k, MP), ms as i64)
        })
        .collect()
}

/// Runs `records` through a queue as the window operator does: per record
/// and window (10 s sliding by 2 s), the trigger timer and then the same
/// cleanup timer; the watermark follows the event time and fires what is
/// due every [`WATERMARK_EVERY`] records. Returns the register calls, the
/// timers fired and the largest `approx_bytes` per live timer seen at a
/// watermark.
fn run_sliding<Q: Queue>(records: &[Record]) -> (usize, usize, f64) {
    let mut q = Q::new();
    let (mut calls, mut fired, mut bytes_per_timer) = (0, 0, 0f64);
    for (i, (k, kr, ts)) in records.iter().enumerate() {
        let last_start = ts - ts.rem_euclid(SLIDE_MS);
        for w in 0..WINDOWS {
            let start = last_start - w * SLIDE_MS;
            let ns = (start, start + SIZE_MS);
            q.register(*kr, k, &ns, start + SIZE_MS - 1);
            q.register(*kr, k, &ns, start + SIZE_MS - 1);
            calls += 2;
        }
        if (i + 1) % WATERMARK_EVERY == 0 {
            bytes_per_timer = bytes_per_timer.max(q.approx_bytes() as f64 / q.len() as f64);
            while let Some(t) = q.pop_due(ts - 1) {
                black_box(&t);
                fired += 1;
            }
        }
    }
    (calls, fired + pop_all(&mut q), bytes_per_timer)
}

fn report_sliding<Q: Queue>(records: &[Record]) {
    let started = Instant::now();
    let (calls, fired, bytes_per_timer) = run_sliding::<Q>(records);
    let elapsed = started.elapsed();
    println!(
        " sliding {:>15}: {calls:>8} calls {fired:>8} timers  {:5.1} ns/call  \
         {:6.1} ns/record  total {:5.0} ms  approx_bytes {bytes_per_timer:5.1} B/timer (peak)",
        Q::name(),
        elapsed.as_nanos() as f64 / calls as f64,
        elapsed.as_nanos() as f64 / records.len() as f64,
        elapsed.as_secs_f64() * 1e3,
    );
}

/// One timer per timestamp, registered in random timestamp order.
fn sparse_workload() -> Vec<Registration> {
    shuffled_keys(KEYS)
        .into_iter()
        .map(|(k, kr)| (k, kr, (0, 0), k as i64))
        .collect()
}

/// One timer per timestamp, in stream order: timestamps rise with a
/// bounded disorder (up to 1 s), like per-record cleanup timers.
fn stream_workload() -> Vec<Registration> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut used = std::collections::HashSet::new();
    shuffled_keys(KEYS)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (k, kr))| {
            let ts = i as i64 + (random(&mut state) % 1_000) as i64;
            used.insert(ts).then_some((k, kr, (0, 0), ts))
        })
        .collect()
}

fn register_all<Q: Queue>(work: &[Registration]) -> Q {
    let mut q = Q::new();
    for (k, kr, ns, ts) in work {
        q.register(*kr, k, ns, *ts);
    }
    q
}

fn pop_all<Q: Queue>(q: &mut Q) -> usize {
    let mut fired = 0;
    while let Some(t) = q.pop_due(i64::MAX) {
        black_box(&t);
        fired += 1;
    }
    fired
}

/// Registers and fires `work`, printing phase times and memory per timer.
fn report<Q: Queue>(workload: &str, work: &[Registration]) {
    let live_before = ALLOC.live_bytes();
    let started = Instant::now();
    let mut q: Q = register_all(work);
    let registered = started.elapsed();
    let timers = q.len();
    let per_timer = |bytes: usize| bytes as f64 / timers as f64;
    let approx = per_timer(q.approx_bytes());
    let live = per_timer(ALLOC.live_bytes() - live_before);
    let started = Instant::now();
    let fired = pop_all(&mut q);
    let popped = started.elapsed();
    assert_eq!(fired, timers);
    let ns = |d: Duration, n: usize| d.as_nanos() as f64 / n as f64;
    println!(
        "{workload:>8} {:>15}: {:>8} calls {timers:>8} timers  register {:5.1} ns/call  \
         pop {:6.1} ns/timer  total {:5.0} ms  approx_bytes {approx:5.1} B/timer  \
         allocator {live:5.1} B/timer",
        Q::name(),
        work.len(),
        ns(registered, work.len()),
        ns(popped, timers),
        (registered + popped).as_secs_f64() * 1e3,
    );
}

/// Prints the report of every (workload, queue) pair whose
/// `workload/queue` name contains `filter`.
fn report_all(workloads: &[(&str, Vec<Registration>)], sliding: &[Record], filter: &str) {
    let wanted = |workload: &str, queue: &str| format!("{workload}/{queue}").contains(filter);
    if wanted("sliding", OldTimerQueue::<u64, Window>::name()) {
        report_sliding::<OldTimerQueue<u64, Window>>(sliding);
    }
    if wanted("sliding", TimerQueue::<u64, Window>::name()) {
        report_sliding::<TimerQueue<u64, Window>>(sliding);
    }
    for (name, work) in workloads {
        if wanted(name, OldTimerQueue::<u64, Window>::name()) {
            report::<OldTimerQueue<u64, Window>>(name, work);
        }
        if wanted(name, TimerQueue::<u64, Window>::name()) {
            report::<TimerQueue<u64, Window>>(name, work);
        }
    }
}

fn bench_queue<Q: Queue>(c: &mut Criterion, group: &str, work: &[Registration]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(work.len() as u64));
    g.bench_function(format!("{}/register_then_pop_all", Q::name()), |b| {
        b.iter(|| {
            let mut q: Q = register_all(work);
            pop_all(&mut q)
        })
    });
    g.bench_function(format!("{}/pop_all", Q::name()), |b| {
        b.iter_batched(
            || register_all::<Q>(work),
            |mut q| pop_all(&mut q),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_sliding<Q: Queue>(c: &mut Criterion, records: &[Record]) {
    let mut g = c.benchmark_group("timers_q5_like_sliding_stream");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(records.len() as u64));
    g.bench_function(format!("{}/records", Q::name()), |b| {
        b.iter(|| run_sliding::<Q>(records))
    });
    g.finish();
}

fn main() {
    let sliding = sliding_records();
    let workloads = [
        ("window", window_workload()),
        ("dedup", window_dedup_workload()),
        ("sparse", sparse_workload()),
        ("stream", stream_workload()),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--report") {
        // `--report [FILTER]`: only the report, of the matching pairs.
        let filter = args.iter().find(|a| !a.starts_with("--"));
        report_all(&workloads, &sliding, filter.map_or("", String::as_str));
        return;
    }
    report_all(&workloads, &sliding, "");
    let mut c = Criterion::default().configure_from_args();
    let [(_, window), _, _, (_, stream)] = &workloads;
    bench_queue::<OldTimerQueue<u64, Window>>(&mut c, "timers_5m_over_5_timestamps", window);
    bench_queue::<TimerQueue<u64, Window>>(&mut c, "timers_5m_over_5_timestamps", window);
    bench_sliding::<OldTimerQueue<u64, Window>>(&mut c, &sliding);
    bench_sliding::<TimerQueue<u64, Window>>(&mut c, &sliding);
    bench_queue::<OldTimerQueue<u64, Window>>(&mut c, "timers_632k_stream_timestamps", stream);
    bench_queue::<TimerQueue<u64, Window>>(&mut c, "timers_632k_stream_timestamps", stream);
    c.final_summary();
}

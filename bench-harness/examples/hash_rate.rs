//! How fast a sink's output checksum hashes a Nexmark bid, next to the stable
//! key hash (a sanity check of the sink's per-record cost). Bids are hashed
//! from a small cache-resident set, as a sink sees them: just generated.
//!
//! `cargo run --release -p spate-bench --example hash_rate`
use spate_bench::nexmark::{Bid, Event, Generator, GeneratorConfig};

fn per_bid_ns(bids: &[Bid], rounds: usize, hash: impl Fn(&Bid) -> u64) -> (f64, u64) {
    let t = std::time::Instant::now();
    let mut acc = 0u64;
    for _ in 0..rounds {
        for b in bids {
            acc = acc.wrapping_add(hash(std::hint::black_box(b)));
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (bids.len() * rounds) as f64;
    (ns, acc)
}

fn main() {
    let g = Generator::new(
        GeneratorConfig {
            events_max: Some(20_000),
            ..GeneratorConfig::default()
        },
        0,
        1,
    )
    .expect("valid config");
    let bids: Vec<Bid> = g
        .filter_map(|e| if let Event::Bid(b) = e { Some(b) } else { None })
        .collect();
    let rounds = 500;
    let (stable, a) = per_bid_ns(&bids, rounds, spate_state::stable_hash);
    let (checksum, b) = per_bid_ns(&bids, rounds, spate_state::checksum_hash);
    println!("stable_hash   {stable:.1} ns per bid ({a:x})");
    println!("checksum_hash {checksum:.1} ns per bid ({b:x})");
}

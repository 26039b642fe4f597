//! How fast the output checksum hashes a Nexmark bid (a sanity check of the
//! sink's per-record cost).
fn main() {
    use spate_bench::nexmark::{Event, Generator, GeneratorConfig};
    let g = Generator::new(
        GeneratorConfig {
            events_max: Some(1_000_000),
            ..GeneratorConfig::default()
        },
        0,
        1,
    )
    .expect("valid config");
    let bids: Vec<_> = g
        .filter_map(|e| if let Event::Bid(b) = e { Some(b) } else { None })
        .collect();
    let t = std::time::Instant::now();
    let mut acc = 0u64;
    for _ in 0..5 {
        for b in &bids {
            acc = acc.wrapping_add(spate_state::stable_hash(b));
        }
    }
    let n = bids.len() * 5;
    println!(
        "{:.1} ns per bid hash ({acc:x})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..5 {
        for b in &bids {
            acc = acc.wrapping_add(spate_state::stable_hash(b.extra.as_str()));
        }
    }
    println!(
        "{:.1} ns per extra str hash (len {})",
        t.elapsed().as_nanos() as f64 / n as f64,
        bids[0].extra.len()
    );
    let t = std::time::Instant::now();
    for _ in 0..5 {
        for b in &bids {
            acc = acc.wrapping_add(b.extra.as_str().len() as u64);
        }
    }
    println!(
        "{:.1} ns per as_str ({acc})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

#[allow(dead_code)]
fn bytes_only() {}

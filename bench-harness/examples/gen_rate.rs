//! Measures the Nexmark generator's single-core rate.
//!
//! `cargo run --release -p spate-bench --example gen_rate -- [EVENTS] [BATCH] [fill|next]`
//!
//! `fill` (default) generates batches with `Generator::fill`; `next` fills the
//! same batches one `Generator::next_event` at a time.

use std::hint::black_box;
use std::time::Instant;

use spate_bench::nexmark::{Event, Generator, GeneratorConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(50_000_000), |a| a.parse())?;
    let batch: usize = args.next().map_or(Ok(1024), |a| a.parse())?;
    let one_at_a_time = args.next().is_some_and(|mode| mode == "next");
    let cfg = GeneratorConfig {
        events_max: Some(events),
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(cfg, 0, 1)?;
    // Warm up the string pools outside the timed loop.
    black_box(generator.event_at(0));

    let mut buf: Vec<Event> = Vec::with_capacity(batch);
    let mut total = 0u64;
    let mut odd = 0u64;
    let started = Instant::now();
    loop {
        buf.clear();
        let n = if one_at_a_time {
            buf.extend(std::iter::from_fn(|| generator.next_event()).take(batch));
            buf.len()
        } else {
            generator.fill(&mut buf, batch)
        };
        if n == 0 {
            break;
        }
        total += n as u64;
        // Touch every event so the work cannot be optimised away.
        odd += buf.iter().map(|e| e.date_time() as u64 & 1).sum::<u64>();
        black_box(&buf);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "generated {total} events in {secs:.3} s: {:.2} M events/s on one core ({mode}, batch {batch}, odd stamps {odd})",
        total as f64 / secs / 1e6,
        mode = if one_at_a_time { "next_event" } else { "fill" },
    );
    Ok(())
}

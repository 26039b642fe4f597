//! A source split that says it is idle (`Source::is_idle`) stops holding
//! back the watermark of the operators behind it, so the other splits'
//! event time fires windows while the idle split reads nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spate::config::Config;
use spate::sinks::CollectSink;
use spate::sources::{Source, SourceCollector, SourcePoll};
use spate::time::Timestamp;
use spate::window::{TimeWindow, TumblingEventTimeWindows, WindowCollector};
use spate::{Job, Result};

/// How long the splits keep the job open waiting for the first window.
const WAIT_MS: u128 = 2_000;

/// Split 0 emits events at 0..300 ms of event time with their watermark,
/// then waits; split 1 never emits anything and says it is idle when
/// asked to. Both end once the window [0, 100) fired, or after `WAIT_MS`.
struct Split {
    index: usize,
    emitted: bool,
    says_idle: bool,
    fired: Arc<AtomicBool>,
    fired_while_open: Arc<AtomicBool>,
    started: Instant,
}

impl Source for Split {
    type Item = (u64, Timestamp);

    fn poll(&mut self, out: &mut SourceCollector<'_, Self::Item>, _: usize) -> Result<SourcePoll> {
        if self.index == 0 && !self.emitted {
            self.emitted = true;
            for ts in (0..300).step_by(10) {
                out.collect_with_timestamp((1, ts), ts);
            }
            return Ok(SourcePoll::Ready);
        }
        if self.fired.load(Ordering::SeqCst) {
            // Only the quiet split's view counts: a window that fired
            // while it was still open was not held back by it.
            if self.index == 1 {
                self.fired_while_open.store(true, Ordering::SeqCst);
            }
            return Ok(SourcePoll::Exhausted);
        }
        if self.started.elapsed().as_millis() >= WAIT_MS {
            return Ok(SourcePoll::Exhausted);
        }
        Ok(SourcePoll::Pending {
            retry_after_us: 2_000,
        })
    }

    fn watermark(&self) -> Option<Timestamp> {
        (self.index == 0 && self.emitted).then_some(290)
    }

    fn is_idle(&self) -> bool {
        self.index == 1 && self.says_idle
    }
}

/// Runs the job on two cores; true when a window fired while the quiet
/// split was still open (before its end released its hold).
fn fires_before_the_end(says_idle: bool) -> bool {
    let fired = Arc::new(AtomicBool::new(false));
    let fired_while_open = Arc::new(AtomicBool::new(false));
    let out = CollectSink::new();
    let job = Job::builder("idle-split");
    let (f, fo) = (fired.clone(), fired_while_open.clone());
    job.source_with_watermarks("events", move |split| {
        Ok(Split {
            index: split.index,
            emitted: false,
            says_idle,
            fired: f.clone(),
            fired_while_open: fo.clone(),
            started: Instant::now(),
        })
    })
    .key_by(|e: &(u64, Timestamp)| e.0)
    .window(TumblingEventTimeWindows::of(100))
    .process(
        move |k: &u64,
              w: &TimeWindow,
              items: &[(u64, Timestamp)],
              out: &mut WindowCollector<'_, (u64, i64, usize)>| {
            fired.store(true, Ordering::SeqCst);
            out.collect((*k, w.start, items.len()));
            Ok(())
        },
    )
    .sink("out", out.clone());
    let mut config = Config::default();
    config.runtime.cores = 2;
    config.runtime.io_memory_kib = 256;
    config.runtime.pin_cores = false;
    job.build().unwrap().run(&config).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, vec![(1, 0, 10), (1, 100, 10), (1, 200, 10)]);
    fired_while_open.load(Ordering::SeqCst)
}

#[test]
fn an_idle_split_does_not_hold_back_the_windows_of_the_others() {
    let started = Instant::now();
    assert!(
        fires_before_the_end(true),
        "the idle split held the watermark back"
    );
    assert!(started.elapsed() < Duration::from_millis(WAIT_MS as u64));
}

/// The control: a split that reads nothing and does not say it is idle
/// holds every window until the end of the input.
#[test]
fn a_quiet_split_that_is_not_idle_holds_the_watermark_back() {
    assert!(!fires_before_the_end(false));
}

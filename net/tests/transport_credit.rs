//! Credit over real TCP: a receiver that never reads stops its sender after
//! exactly the credit it granted, and only that channel stops.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use spate_net::{FrameKind, Link, LinkListener, Received};
use support::{SERVER, config, fence, hello, pair, records};

const SLOW_CREDITS: u32 = 4;
const FAST_BATCHES: u64 = 300;

/// Step flags the two executors hand each other.
#[derive(Default)]
struct Steps {
    fast_done: AtomicU64,
    checked_stall: AtomicU64,
    saw_one_more: AtomicU64,
}

async fn until(flag: &AtomicU64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while flag.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_stalled_receiver_stops_its_sender_at_exactly_its_credit_and_no_other_channel() {
    let steps = Arc::new(Steps::default());
    let server_steps = steps.clone();
    let (server, client) = pair(
        move |addr_tx| async move {
            let steps = server_steps;
            let listener = LinkListener::bind(
                "127.0.0.1:0".parse().expect("addr"),
                SERVER,
                &config(),
                fence(),
            )
            .expect("bind");
            addr_tx
                .send(listener.local_addr().expect("addr"))
                .expect("send");
            let (link, _) = listener.accept().await.expect("accept");
            let mut slow = link.receiver(1, SLOW_CREDITS).expect("slow");
            let mut fast = link.receiver(2, 2).expect("fast");
            // The fast channel runs to its end while the slow one is stalled.
            let mut batches = 0u64;
            while let Some(item) = fast.recv().await.expect("fast recv") {
                if let Received::Data(frame) = item {
                    assert_eq!(
                        frame.access_batch::<support::Rec>().expect("batch").len(),
                        64
                    );
                    batches += 1;
                }
            }
            let stalled = link.metrics().expect("metrics");
            steps.fast_done.store(1, Ordering::Release);
            until(&steps.checked_stall, "the client's stall check").await;
            // Reading one frame grants exactly one more credit.
            let first = slow.recv().await.expect("slow recv").expect("a frame");
            drop(first);
            until(&steps.saw_one_more, "the client's fifth send").await;
            (batches, stalled)
        },
        move |addr| async move {
            let link = Link::connect(addr, hello(), &config())
                .await
                .expect("connect");
            let sent = Rc::new(Cell::new(0u64));
            let mut slow = link.sender(1).expect("slow");
            let counter = sent.clone();
            let flood = glommio::spawn_local(async move {
                loop {
                    if slow.send_batch(&records(1, 64)).await.is_err() {
                        return;
                    }
                    counter.set(counter.get() + 1);
                }
            })
            .detach();
            let mut fast = link.sender(2).expect("fast");
            for b in 0..FAST_BATCHES {
                fast.send_batch(&records(b, 64)).await.expect("fast send");
            }
            fast.send_event(FrameKind::EndOfChannel, Bytes::new())
                .await
                .expect("end");
            until(&steps.fast_done, "the fast channel's end").await;
            // Long enough for any frame beyond the credit to have been sent.
            glommio::timer::sleep(Duration::from_millis(200)).await;
            let at_stall = sent.get();
            let metrics = link.metrics().expect("metrics");
            steps.checked_stall.store(1, Ordering::Release);
            let deadline = Instant::now() + Duration::from_secs(10);
            while sent.get() == at_stall && Instant::now() < deadline {
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
            let after_one_read = sent.get();
            steps.saw_one_more.store(1, Ordering::Release);
            glommio::timer::sleep(Duration::from_millis(100)).await;
            let settled = sent.get();
            flood.cancel();
            (at_stall, after_one_read, settled, metrics)
        },
    );
    let (fast_batches, server_metrics) = server;
    let (at_stall, after_one_read, settled, metrics) = client;
    assert_eq!(
        fast_batches, FAST_BATCHES,
        "the fast channel was not held up"
    );
    assert_eq!(
        at_stall,
        u64::from(SLOW_CREDITS),
        "sends completed = credits"
    );
    assert_eq!(after_one_read, at_stall + 1, "one read, one more credit");
    assert_eq!(settled, after_one_read, "and no more");
    let slow = metrics.sender(1).expect("slow sender");
    assert_eq!(slow.outstanding_credit, 0);
    assert_eq!(slow.frames, u64::from(SLOW_CREDITS));
    assert!(
        slow.blocked_ns > 0 && slow.backpressure_ratio > 0.0,
        "{slow:?}"
    );
    let fast = metrics.sender(2).expect("fast sender");
    assert_eq!(fast.frames, FAST_BATCHES + 1);
    let held = server_metrics.receiver(1).expect("slow receiver");
    assert_eq!(held.queued_frames, SLOW_CREDITS as usize);
    assert_eq!(held.outstanding_credit, 0);
}

//! A peer controls every inbound frame header: whatever it sends, the
//! connection answers with a typed error or accepts it, and never panics or
//! breaks its own bounds.

use proptest::prelude::*;
use spate_net::{Connection, CreditGrant, FrameKind, NetError};

#[derive(Debug, Clone)]
enum Input {
    Frame(FrameKind, u32, u64),
    Credit(u32, u64, u64),
    Deliver(u32),
    Release(u32),
}

fn small_or_huge() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..8, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

fn input() -> impl Strategy<Value = Input> {
    let channel = 0u32..4;
    prop_oneof![
        (
            prop::sample::select(FrameKind::ALL.to_vec()),
            channel.clone(),
            small_or_huge()
        )
            .prop_map(|(k, c, s)| Input::Frame(k, c, s)),
        (channel.clone(), small_or_huge(), small_or_huge())
            .prop_map(|(c, d, e)| Input::Credit(c, d, e)),
        channel.clone().prop_map(Input::Deliver),
        channel.prop_map(Input::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn hostile_inbound_sequences_only_produce_typed_errors(
        inputs in prop::collection::vec(input(), 0..60),
    ) {
        let mut conn: Connection<(), ()> = Connection::new(4);
        for c in 0..3 {
            conn.open_sender(c).expect("open");
            conn.open_receiver(c, 2).expect("open");
        }
        while conn.poll_transmit().is_some() {}
        for input in inputs {
            let result = match input {
                Input::Frame(kind, channel, seq) => conn.on_frame(kind, channel, seq, ()).map(|_| ()),
                Input::Credit(channel, data_total, events_total) => {
                    conn.on_credit(&CreditGrant { channel, data_total, events_total })
                }
                Input::Deliver(channel) => conn.poll_deliver(channel).map(|_| ()),
                Input::Release(channel) => conn.release_buffer(channel),
            };
            if let Err(err) = result {
                // Every error renders a reason (the transport logs it with the peer).
                prop_assert!(!err.to_string().is_empty());
                prop_assert!(!matches!(err, NetError::Internal { .. }), "{}", err);
            }
            for c in 0..3 {
                let m = conn.receiver_metrics(c).expect("open");
                prop_assert!(m.outstanding_credit + m.buffers_in_use <= 2);
                prop_assert!(m.queued_frames <= 2 + 4, "data by credit, events by window");
            }
            while conn.poll_transmit().is_some() {}
        }
    }
}

//! Batches, events and control messages over real TCP between two
//! executors: everything arrives, in the order it was sent, and the link
//! closes cleanly.

mod support;

use bytes::Bytes;
use spate_net::{FrameKind, Link, LinkListener, NetError, Received};
use support::{CLIENT, Rec, SERVER, config, fence, hello, pair, records};

/// What a receiver saw, in order.
#[derive(Debug, PartialEq)]
enum Item {
    Batch(Vec<Rec>),
    Event(FrameKind, Vec<u8>),
}

/// The sequence the client sends on a channel: `batches` batches with a
/// watermark after every tenth, then a barrier and the end.
fn script(channel: u64, batches: u64) -> Vec<Item> {
    let mut items = Vec::new();
    for b in 0..batches {
        items.push(Item::Batch(records(channel * 100 + b, 1 + b % 50)));
        if b % 10 == 9 {
            items.push(Item::Event(FrameKind::Watermark, b.to_le_bytes().to_vec()));
        }
    }
    items.push(Item::Event(FrameKind::Barrier, b"chk-1".to_vec()));
    items.push(Item::Event(FrameKind::EndOfChannel, Vec::new()));
    items
}

async fn play(link: &Link, channel: u32, items: &[Item]) -> Result<(), NetError> {
    let mut tx = link.sender(channel)?;
    for item in items {
        match item {
            Item::Batch(recs) => tx.send_batch(recs).await?,
            Item::Event(kind, payload) => {
                tx.send_event(*kind, Bytes::copy_from_slice(payload))
                    .await?
            }
        }
    }
    Ok(())
}

async fn collect(mut rx: spate_net::ChannelReceiver) -> Result<Vec<Item>, NetError> {
    let mut items = Vec::new();
    while let Some(received) = rx.recv().await? {
        match received {
            Received::Data(frame) => {
                let batch = frame.access_batch::<Rec>()?;
                let recs = batch
                    .iter()
                    .map(|r| (r.0.to_native(), r.1.to_native(), r.2))
                    .collect();
                items.push(Item::Batch(recs));
            }
            Received::Event(event) => items.push(Item::Event(event.kind, event.payload.to_vec())),
        }
    }
    Ok(items)
}

#[test]
fn batches_and_events_arrive_in_order_and_the_link_closes_cleanly() {
    let (server, client) = pair(
        |addr_tx| async move {
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
            let (link, hello) = listener.accept().await.expect("accept");
            assert_eq!(hello.from, CLIENT);
            assert_eq!(link.peer_endpoint(), Some(CLIENT));
            // Few buffers: the sender must wait for credit many times.
            let one = link.receiver(1, 2).expect("rx 1");
            let two = link.receiver(2, 3).expect("rx 2");
            let mut control = link.control_receiver().expect("control");
            let (one, two) = futures_lite::future::zip(collect(one), collect(two)).await;
            let greeting = control.recv().await.expect("control message");
            link.send_control(Bytes::from_static(b"done"))
                .await
                .expect("reply");
            let metrics = link.metrics().expect("metrics");
            // The client closes; this side sees the clean close as the end.
            let end = control.recv().await.expect_err("closed");
            (one, two, greeting, metrics, end)
        },
        |addr| async move {
            let link = Link::connect(addr, hello(), &config())
                .await
                .expect("connect");
            assert_eq!(link.peer_endpoint(), Some(SERVER));
            let mut control = link.control_receiver().expect("control");
            let (a, b) = futures_lite::future::zip(
                play(&link, 1, &script(1, 120)),
                play(&link, 2, &script(2, 40)),
            )
            .await;
            a.expect("channel 1");
            b.expect("channel 2");
            link.send_control(Bytes::from_static(b"hi"))
                .await
                .expect("control");
            let reply = control.recv().await.expect("reply");
            let metrics = link.metrics().expect("metrics");
            link.close().await.expect("graceful close");
            (reply, metrics)
        },
    );
    let (one, two, greeting, server_metrics, end) = server;
    let (reply, client_metrics) = client;
    assert_eq!(one.expect("channel 1 received"), script(1, 120));
    assert_eq!(two.expect("channel 2 received"), script(2, 40));
    assert_eq!(&greeting[..], b"hi");
    assert_eq!(&reply[..], b"done");
    match end {
        NetError::Link { peer, cause } => {
            assert_eq!(peer.endpoint, Some(CLIENT));
            assert!(matches!(*cause, NetError::PeerClosed { .. }), "{cause}");
        }
        other => panic!("unexpected {other}"),
    }
    // 120 batches + 12 watermarks + barrier + end on channel 1.
    let sent = client_metrics.sender(1).expect("sender 1");
    let received = server_metrics.receiver(1).expect("receiver 1");
    assert_eq!((sent.frames, received.frames), (134, 134));
    assert_eq!(sent.bytes, received.bytes);
    assert!(sent.bytes > 0);
    assert!(client_metrics.bytes_written >= sent.bytes);
}

#[test]
fn a_channel_can_be_opened_on_both_sides_in_either_order() {
    // The receiver's credit may reach the dialer before its sender opens.
    let (server, client) = pair(
        |addr_tx| async move {
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
            let rx = link.receiver(5, 1).expect("rx");
            let mut tx = link.sender(6).expect("tx");
            tx.send_batch(&records(6, 3)).await.expect("send");
            tx.send_event(FrameKind::EndOfChannel, Bytes::new())
                .await
                .expect("end");
            let got = collect(rx).await.expect("recv");
            link.flush().await.expect("flush");
            let mut control = link.control_receiver().expect("control");
            let _ = control.recv().await;
            got
        },
        |addr| async move {
            let link = Link::connect(addr, hello(), &config())
                .await
                .expect("connect");
            glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
            let rx = link.receiver(6, 1).expect("rx");
            let mut tx = link.sender(5).expect("tx");
            for b in 0..5 {
                tx.send_batch(&records(b, 2)).await.expect("send");
            }
            tx.send_event(FrameKind::EndOfChannel, Bytes::new())
                .await
                .expect("end");
            let got = collect(rx).await.expect("recv");
            link.close().await.expect("close");
            got
        },
    );
    assert_eq!(server.len(), 6);
    assert_eq!(client.len(), 2);
    assert_eq!(client[0], Item::Batch(records(6, 3)));
}

//! Liveness: heartbeats keep an idle link open; a peer that goes silent is
//! detected after `heartbeat_timeout_ms` and named in the error.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use spate_net::{FrameKind, Link, LinkListener, NetConfig, NetError, Received};
use support::{CLIENT, RawPeer, SERVER, fence, hello, on_core, pair, records};

const TIMEOUT_MS: u64 = 300;

fn config() -> NetConfig {
    NetConfig {
        heartbeat_interval_ms: 40,
        heartbeat_timeout_ms: TIMEOUT_MS,
        ..support::config()
    }
}

#[test]
fn a_silent_peer_is_detected_after_the_timeout() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = on_core("server", move || async move {
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
        let mut rx = link.receiver(1, 2).expect("rx");
        let start = Instant::now();
        let err = rx.recv().await.expect_err("the peer is silent");
        (err, start.elapsed(), link.since_last_frame())
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("addr");
    // Handshakes, then neither reads nor writes (the socket stays open).
    let peer = RawPeer::handshake(addr);
    let (err, waited, silent) = server.join().expect("server");
    match &err {
        NetError::Link { peer: p, cause } => {
            assert_eq!(p.addr, peer.local_addr());
            assert_eq!(p.endpoint, Some(CLIENT));
            assert!(
                matches!(**cause, NetError::HeartbeatTimeout { silent_ms, timeout_ms }
                    if silent_ms > TIMEOUT_MS && timeout_ms == TIMEOUT_MS),
                "{err}"
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert!(waited >= Duration::from_millis(TIMEOUT_MS) - Duration::from_millis(50));
    assert!(waited < Duration::from_secs(5), "detected late: {waited:?}");
    assert!(silent > Duration::from_millis(TIMEOUT_MS));
    drop(peer);
}

#[test]
fn heartbeats_keep_an_idle_link_alive() {
    let idle = Duration::from_millis(4 * TIMEOUT_MS);
    let (server, client) = pair(
        move |addr_tx| async move {
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
            let mut rx = link.receiver(1, 2).expect("rx");
            // Nothing but heartbeats flows for several timeouts.
            let first = rx.recv().await.expect("alive after idling");
            let arrived = matches!(first, Some(Received::Data(_)));
            let quiet = link.since_last_frame();
            let mut control = link.control_receiver().expect("control");
            let _ = control.recv().await;
            (arrived, quiet)
        },
        move |addr| async move {
            let link = Link::connect(addr, hello(), &config())
                .await
                .expect("connect");
            let mut tx = link.sender(1).expect("tx");
            glommio::timer::sleep(idle).await;
            let alive = link.error().is_none();
            let quiet = link.since_last_frame();
            tx.send_batch(&records(0, 8))
                .await
                .expect("send after idling");
            tx.send_event(FrameKind::EndOfChannel, Bytes::new())
                .await
                .expect("end");
            link.flush().await.expect("flush");
            link.close().await.expect("close");
            (alive, quiet)
        },
    );
    let (arrived, server_quiet) = server;
    let (alive, client_quiet) = client;
    assert!(alive && arrived);
    assert!(
        server_quiet < Duration::from_millis(TIMEOUT_MS),
        "{server_quiet:?}"
    );
    assert!(
        client_quiet < Duration::from_millis(TIMEOUT_MS),
        "{client_quiet:?}"
    );
}

//! Malformed input from a raw `std::net::TcpStream` at a real listener: each
//! case closes only its own link, with an error naming the peer's address
//! and endpoint and the reason; the listener and a healthy link carry on.

mod support;

use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use spate_net::{
    FrameHeader, FrameKind, HEADER_LEN, HelloReply, LinkListener, NetConfig, NetError, Received,
};
use support::{CLIENT, RawPeer, SERVER, config, fence, on_core};

/// What the server reports per connection: an accept failure, or what the
/// first `recv` on channel 1 gave (the data length, or the error).
type Report = (&'static str, Result<usize, NetError>);

/// A server that accepts forever; each link gets a receiver on channel 1
/// and one `recv`, whose outcome is reported.
fn serve(reports: mpsc::Sender<Report>, addr_tx: mpsc::Sender<SocketAddr>) {
    let handle = on_core("server", move || async move {
        // The healthy raw peer sends no heartbeats: keep it within the timeout.
        let config = NetConfig {
            heartbeat_timeout_ms: 60_000,
            ..config()
        };
        let listener = LinkListener::bind(
            "127.0.0.1:0".parse().expect("addr"),
            SERVER,
            &config,
            fence(),
        )
        .expect("bind");
        addr_tx
            .send(listener.local_addr().expect("addr"))
            .expect("send");
        loop {
            match listener.accept().await {
                Err(err) => {
                    if reports.send(("accept", Err(err))).is_err() {
                        return;
                    }
                }
                Ok((link, _)) => {
                    let reports = reports.clone();
                    glommio::spawn_local(async move {
                        let result = match link.receiver(1, 4) {
                            Err(err) => Err(err),
                            Ok(mut rx) => match rx.recv().await {
                                Ok(Some(Received::Data(frame))) => Ok(frame.len()),
                                Ok(other) => panic!("unexpected {other:?}"),
                                Err(err) => Err(err),
                            },
                        };
                        let _ = reports.send(("recv", result));
                        drop(link);
                    })
                    .detach();
                }
            }
        }
    });
    // The executor runs until the test process exits.
    std::mem::forget(handle);
}

fn next(reports: &mpsc::Receiver<Report>) -> Report {
    reports
        .recv_timeout(Duration::from_secs(10))
        .expect("a report from the server")
}

/// Asserts the report is a link error naming `peer` with a cause `check`
/// accepts, and returns the cause's text.
fn expect_link_error(
    report: Report,
    stage: &str,
    peer: &RawPeer,
    endpoint_known: bool,
    check: impl Fn(&NetError) -> bool,
) -> String {
    let (got_stage, result) = report;
    assert_eq!(got_stage, stage);
    let err = result.expect_err("the link must fail");
    let text = err.to_string();
    match &err {
        NetError::Link { peer: p, cause } => {
            assert_eq!(p.addr, peer.local_addr(), "{text}");
            let expected = endpoint_known.then_some(CLIENT);
            assert_eq!(p.endpoint, expected, "{text}");
            assert!(check(cause), "unexpected cause: {text}");
        }
        other => panic!("not a link error: {other}"),
    }
    assert!(text.contains(&peer.local_addr().to_string()), "{text}");
    if endpoint_known {
        assert!(text.contains("worker 2 core 1"), "{text}");
    }
    text
}

fn header(kind: FrameKind, channel: u32, len: u32) -> [u8; HEADER_LEN] {
    FrameHeader {
        kind,
        flags: 0,
        channel,
        seq: 0,
        len,
        payload_crc: 0,
    }
    .to_bytes()
}

#[test]
fn every_kind_of_bad_input_closes_only_its_own_link() {
    let (report_tx, reports) = mpsc::channel();
    let (addr_tx, addr_rx) = mpsc::channel();
    serve(report_tx, addr_tx);
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("addr");

    // A healthy link, open through every bad case below.
    let mut healthy = RawPeer::handshake(addr);

    let mut peer = RawPeer::handshake(addr);
    peer.write(b"GARBAGE-GARBAGE-GARBAGE-GARBAGE-");
    let text = expect_link_error(
        next(&reports),
        "recv",
        &peer,
        true,
        |c| matches!(c, NetError::BadMagic { offset, found } if *offset > 0 && found == b"GARB"),
    );
    assert!(text.contains("bad magic"), "{text}");

    let mut peer = RawPeer::handshake(addr);
    let mut bytes = header(FrameKind::Data, 1, 10);
    bytes[4..6].copy_from_slice(&9u16.to_le_bytes());
    peer.write(&bytes);
    expect_link_error(next(&reports), "recv", &peer, true, |c| {
        matches!(c, NetError::UnsupportedVersion { found: 9, .. })
    });

    let mut peer = RawPeer::handshake(addr);
    let too_long = config().frame_bytes_max + 1;
    peer.write(&header(FrameKind::Control, 0, too_long));
    expect_link_error(
        next(&reports),
        "recv",
        &peer,
        true,
        |c| matches!(c, NetError::FrameTooLarge { len, .. } if *len == u64::from(too_long)),
    );

    let mut peer = RawPeer::handshake(addr);
    let frame = peer.frame(FrameKind::Data, 1, 0, &[7; 100]);
    peer.write(&frame[..HEADER_LEN + 40]);
    peer.stream.shutdown(Shutdown::Write).expect("shutdown");
    expect_link_error(next(&reports), "recv", &peer, true, |c| {
        matches!(c, NetError::Truncated { missing: 60, .. })
    });

    let mut peer = RawPeer::handshake(addr);
    let mut frame = peer.frame(FrameKind::Data, 1, 0, &[7; 100]);
    let last = frame.len() - 1;
    frame[last] ^= 0x40;
    peer.write(&frame);
    expect_link_error(next(&reports), "recv", &peer, true, |c| {
        matches!(
            c,
            NetError::ChecksumMismatch {
                channel: 1,
                seq: 0,
                ..
            }
        )
    });

    let mut peer = RawPeer::handshake(addr);
    let frame = peer.frame(FrameKind::Data, 77, 0, &[1; 16]);
    peer.write(&frame);
    expect_link_error(next(&reports), "recv", &peer, true, |c| {
        matches!(c, NetError::UnknownChannel { channel: 77 })
    });

    // A hello that fails rkyv validation: refused at accept, with a reason
    // the dialer can read.
    let mut peer = RawPeer::connect(addr, &[0xee; 24]);
    match peer.read_reply() {
        HelloReply::Reject { reason } => assert!(reason.contains("invalid archive"), "{reason}"),
        other => panic!("accepted a garbage hello: {other:?}"),
    }
    expect_link_error(next(&reports), "accept", &peer, false, |c| {
        matches!(c, NetError::InvalidArchive { .. })
    });

    // The healthy link still works: its data frame (on credit granted at
    // open) arrives.
    let frame = healthy.frame(FrameKind::Data, 1, 0, &[5; 256]);
    healthy.write(&frame);
    let (stage, result) = next(&reports);
    assert_eq!((stage, result.expect("healthy link")), ("recv", 256));
}

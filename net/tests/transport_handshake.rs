//! The handshake's admission policy: wrong sessions and stale epochs are
//! refused with the reason on both sides; the listener keeps accepting.

mod support;

use spate_net::{Endpoint, Hello, Link, LinkListener, NetError};
use support::{CLIENT, EPOCH, SERVER, SESSION, config, fence, hello, pair};

fn rejection(result: Result<Link, NetError>) -> String {
    match result {
        Err(NetError::Link { peer, cause }) => {
            assert_eq!(peer.endpoint, Some(SERVER));
            match *cause {
                NetError::HandshakeRejected { reason } => reason,
                other => panic!("not a rejection: {other}"),
            }
        }
        Err(other) => panic!("not a link error: {other}"),
        Ok(_) => panic!("admitted"),
    }
}

#[test]
fn wrong_sessions_and_stale_epochs_are_fenced_out() {
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
            let mut refused = Vec::new();
            for _ in 0..3 {
                match listener.accept().await {
                    Err(err) => refused.push(err.to_string()),
                    Ok(_) => panic!("admitted a fenced dialer"),
                }
            }
            let (link, hello) = listener.accept().await.expect("the good dialer");
            let mut control = link.control_receiver().expect("control");
            let _ = control.recv().await;
            (refused, hello)
        },
        |addr| async move {
            let config = config();
            let wrong_session = Hello {
                session: SESSION + 1,
                ..hello()
            };
            let stale = Hello {
                epoch: EPOCH - 1,
                ..hello()
            };
            let elsewhere = Hello {
                to: Endpoint { worker: 1, core: 9 },
                ..hello()
            };
            let mut reasons = Vec::new();
            for h in [wrong_session, stale] {
                reasons.push(rejection(Link::connect(addr, h, &config).await));
            }
            match Link::connect(addr, elsewhere, &config).await {
                Err(NetError::Link { cause, .. }) => {
                    assert!(matches!(*cause, NetError::HandshakeRejected { .. }))
                }
                _ => panic!("a link addressed elsewhere was admitted"),
            }
            let link = Link::connect(addr, hello(), &config)
                .await
                .expect("admitted");
            link.close().await.expect("close");
            reasons
        },
    );
    let (refused, admitted) = server;
    assert_eq!(admitted.from, CLIENT);
    assert!(client[0].contains("wrong session 43"), "{}", client[0]);
    assert!(client[1].contains("stale epoch 6"), "{}", client[1]);
    assert_eq!(refused.len(), 3);
    assert!(refused[0].contains("worker 2 core 1"), "{}", refused[0]);
    assert!(refused[0].contains("wrong session 43"), "{}", refused[0]);
    assert!(refused[1].contains("stale epoch 6"), "{}", refused[1]);
}

//! The handshake: the dialer's [`Hello`], the acceptor's [`HelloReply`], and
//! the [`AcceptPolicy`] that decides. Both messages are rkyv archives in the
//! first `Control` frame of each direction (connection sequence 0), so a
//! malformed one is caught by the same checked validation as any batch.

use bytes::Bytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::parts::LinkParts;
use super::peer::Endpoint;
use crate::error::NetError;

/// What a dialer says about itself and the link it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct Hello {
    /// The dialing core.
    pub from: Endpoint,
    /// The core it means to reach.
    pub to: Endpoint,
    /// The dialer's cluster epoch; lets the acceptor fence stale workers.
    pub epoch: u64,
    /// The job or run this link belongs to.
    pub session: u64,
}

/// The acceptor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub enum HelloReply {
    /// Admitted; the link is open.
    Accept {
        /// The accepting core.
        from: Endpoint,
    },
    /// Refused; the acceptor closes the connection.
    Reject {
        /// Why, for the dialer's error.
        reason: String,
    },
}

impl Hello {
    /// The archive sent on the wire.
    pub fn to_bytes(&self) -> Result<Bytes, NetError> {
        to_bytes(self)
    }

    /// Validates and reads a hello from a control payload.
    pub fn from_bytes(payload: &[u8]) -> Result<Self, NetError> {
        let aligned = aligned(payload);
        rkyv::from_bytes::<Hello, rancor::Error>(&aligned).map_err(invalid)
    }
}

impl HelloReply {
    /// The archive sent on the wire.
    pub fn to_bytes(&self) -> Result<Bytes, NetError> {
        to_bytes(self)
    }

    /// Validates and reads a reply from a control payload.
    pub fn from_bytes(payload: &[u8]) -> Result<Self, NetError> {
        let aligned = aligned(payload);
        rkyv::from_bytes::<HelloReply, rancor::Error>(&aligned).map_err(invalid)
    }
}

fn to_bytes<T>(value: &T) -> Result<Bytes, NetError>
where
    T: for<'a> Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rancor::Error>(value)
        .map(|archive| Bytes::copy_from_slice(&archive))
        .map_err(|err| NetError::Encode {
            reason: err.to_string(),
        })
}

/// Control payloads sit wherever the read buffer put them; rkyv reads only
/// aligned archives. Handshake messages are small, so a copy is cheap.
fn aligned(payload: &[u8]) -> AlignedVec {
    let mut aligned = AlignedVec::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    aligned
}

fn invalid(err: rancor::Error) -> NetError {
    NetError::InvalidArchive {
        channel: 0,
        seq: 0,
        reason: err.to_string(),
    }
}

/// Decides whether an acceptor admits a dialer. `Err` carries the reason
/// sent back to the dialer. Closures `Fn(&Hello) -> Result<(), String>`
/// implement it.
pub trait AcceptPolicy {
    /// Admits or refuses `hello`.
    fn admit(&self, hello: &Hello) -> Result<(), String>;
}

impl<F> AcceptPolicy for F
where
    F: Fn(&Hello) -> Result<(), String>,
{
    fn admit(&self, hello: &Hello) -> Result<(), String> {
        self(hello)
    }
}

/// The usual policy: the dialer must address this core, belong to this
/// session, and be at least at `epoch_min` (older epochs are fenced out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFence {
    /// This core.
    pub local: Endpoint,
    /// The session every link must belong to.
    pub session: u64,
    /// The oldest epoch still admitted.
    pub epoch_min: u64,
}

impl AcceptPolicy for SessionFence {
    fn admit(&self, hello: &Hello) -> Result<(), String> {
        if hello.to != self.local {
            Err(format!("addressed to {}, this is {}", hello.to, self.local))
        } else if hello.session != self.session {
            Err(format!(
                "wrong session {} (expected {})",
                hello.session, self.session
            ))
        } else if hello.epoch < self.epoch_min {
            Err(format!(
                "stale epoch {} (oldest admitted {})",
                hello.epoch, self.epoch_min
            ))
        } else {
            Ok(())
        }
    }
}

/// The dialer's side: sends `hello`, returns the acceptor's endpoint.
pub(crate) async fn dial(parts: &mut LinkParts, hello: &Hello) -> Result<Endpoint, NetError> {
    parts.send_control(hello.to_bytes()?).await?;
    let reply = parts.recv_control().await?;
    match HelloReply::from_bytes(&reply)? {
        HelloReply::Accept { from } => Ok(from),
        HelloReply::Reject { reason } => Err(NetError::HandshakeRejected { reason }),
    }
}

/// The acceptor's side: reads the dialer's hello and answers it. A hello
/// that fails validation is answered with a rejection too (best effort), so
/// the dialer learns why.
pub(crate) async fn accept(
    parts: &mut LinkParts,
    local: Endpoint,
    policy: &dyn AcceptPolicy,
) -> Result<Hello, NetError> {
    let payload = parts.recv_control().await?;
    let verdict = Hello::from_bytes(&payload).and_then(|hello| {
        parts.peer.endpoint = Some(hello.from);
        policy
            .admit(&hello)
            .map(|()| hello)
            .map_err(|reason| NetError::HandshakeRejected { reason })
    });
    let reply = match &verdict {
        Ok(_) => HelloReply::Accept { from: local },
        Err(NetError::HandshakeRejected { reason }) => HelloReply::Reject {
            reason: reason.clone(),
        },
        Err(err) => HelloReply::Reject {
            reason: err.to_string(),
        },
    };
    let sent = parts.send_control(reply.to_bytes()?).await;
    let hello = verdict?;
    sent.map(|()| hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(session: u64, epoch: u64) -> Hello {
        Hello {
            from: Endpoint { worker: 1, core: 0 },
            to: Endpoint { worker: 2, core: 3 },
            epoch,
            session,
        }
    }

    #[test]
    fn messages_round_trip_and_garbage_is_an_invalid_archive() {
        let h = hello(7, 9);
        assert_eq!(Hello::from_bytes(&h.to_bytes().expect("encode")), Ok(h));
        let reply = HelloReply::Reject {
            reason: "no".into(),
        };
        let bytes = reply.to_bytes().expect("encode");
        assert_eq!(HelloReply::from_bytes(&bytes), Ok(reply));
        // A hello is all integers, so only its length can be wrong: any
        // 32 bytes are some hello, which the policy then judges.
        for garbage in [&[][..], &[0xff; 7], &[0xab; 20]] {
            assert!(matches!(
                Hello::from_bytes(garbage),
                Err(NetError::InvalidArchive { .. })
            ));
        }
    }

    #[test]
    fn the_fence_checks_address_session_and_epoch() {
        let fence = SessionFence {
            local: Endpoint { worker: 2, core: 3 },
            session: 7,
            epoch_min: 5,
        };
        assert_eq!(fence.admit(&hello(7, 5)), Ok(()));
        let wrong_session = fence.admit(&hello(8, 5)).expect_err("session");
        assert!(wrong_session.contains("wrong session 8"), "{wrong_session}");
        let stale = fence.admit(&hello(7, 4)).expect_err("epoch");
        assert!(stale.contains("stale epoch 4"), "{stale}");
        let elsewhere = Hello {
            to: Endpoint { worker: 2, core: 0 },
            ..hello(7, 5)
        };
        assert!(fence.admit(&elsewhere).is_err());
    }
}

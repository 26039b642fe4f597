//! The content of a credit frame.

use super::decode::Frame;
use super::kind::FrameKind;
use crate::error::{ChannelId, NetError};

/// Length of a credit frame's payload.
const GRANT_PAYLOAD_LEN: usize = 8;

/// A receiver channel's cumulative grant: how many data frames it has ever
/// accepted credit for, and how many events its consumer has taken.
///
/// On the wire: a [`FrameKind::Credit`] frame whose `seq` is `data_total` and
/// whose 8-byte payload is `events_total` (little-endian). Both counts only
/// grow, so a repeated grant is harmless and a shrinking one is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditGrant {
    /// The receiver channel.
    pub channel: ChannelId,
    /// Data frames the sender may have sent in all.
    pub data_total: u64,
    /// Events the receiver's consumer has taken in all; the sender keeps at
    /// most a window of events beyond this in flight.
    pub events_total: u64,
}

impl CreditGrant {
    /// The frame payload.
    pub fn payload(&self) -> [u8; GRANT_PAYLOAD_LEN] {
        self.events_total.to_le_bytes()
    }

    /// Reads a grant from a decoded credit frame.
    pub fn from_frame(frame: &Frame) -> Result<Self, NetError> {
        let channel = frame.header.channel;
        if frame.header.kind != FrameKind::Credit {
            return Err(NetError::Protocol {
                channel,
                reason: "not a credit frame",
            });
        }
        let payload: [u8; GRANT_PAYLOAD_LEN] =
            frame
                .payload
                .as_slice()
                .try_into()
                .map_err(|_| NetError::Protocol {
                    channel,
                    reason: "credit payload is not 8 bytes",
                })?;
        Ok(Self {
            channel,
            data_total: frame.header.seq,
            events_total: u64::from_le_bytes(payload),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer_pool::BufferPool;
    use crate::config::NetConfig;
    use crate::frame::{FrameDecoder, FrameEncoder};
    use bytes::BytesMut;

    fn decode_one(wire: &[u8]) -> Frame {
        let config = NetConfig::default();
        let mut pool = BufferPool::new(1, 64).expect("pool");
        let mut input = wire;
        FrameDecoder::new(&config)
            .decode(&mut input, &mut pool)
            .expect("decode")
            .expect("frame")
    }

    #[test]
    fn grants_round_trip_through_a_credit_frame() {
        let grant = CreditGrant {
            channel: 7,
            data_total: 1 << 40,
            events_total: 3,
        };
        let mut wire = BytesMut::new();
        FrameEncoder::new(&NetConfig::default())
            .encode_credit(&grant, &mut wire)
            .expect("encode");
        assert_eq!(CreditGrant::from_frame(&decode_one(&wire)), Ok(grant));
    }

    #[test]
    fn malformed_credit_frames_are_protocol_errors() {
        let encoder = FrameEncoder::new(&NetConfig::default());
        let mut wire = BytesMut::new();
        encoder
            .encode(FrameKind::Credit, 1, 5, &[0; 4], &mut wire)
            .expect("encode");
        let short = CreditGrant::from_frame(&decode_one(&wire));
        assert!(matches!(short, Err(NetError::Protocol { channel: 1, .. })));
        let mut wire = BytesMut::new();
        encoder
            .encode(FrameKind::Heartbeat, 1, 0, &[0; 8], &mut wire)
            .expect("encode");
        let wrong = CreditGrant::from_frame(&decode_one(&wire));
        assert!(matches!(wrong, Err(NetError::Protocol { .. })));
    }
}

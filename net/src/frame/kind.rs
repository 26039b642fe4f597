//! Frame kinds and the lane each one travels on.

/// What a frame carries. The discriminant is the kind byte on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FrameKind {
    /// A batch of records (an rkyv archive); needs one credit.
    Data = 1,
    /// A receiver's credit grant; `seq` carries the cumulative credit.
    Credit = 2,
    /// A checkpoint barrier.
    Barrier = 3,
    /// A watermark.
    Watermark = 4,
    /// A connection-level control message (deployment, cancellation, ...).
    Control = 5,
    /// The last frame of a channel.
    EndOfChannel = 6,
    /// A liveness probe.
    Heartbeat = 7,
}

/// How a frame is scheduled and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Data: needs credit, FIFO per channel.
    Data,
    /// Barriers, watermarks and end-of-channel: sent at once outside credit,
    /// but they carry their position in the channel's sequence, so the
    /// receiver hands them out in order with the channel's data.
    ChannelEvent,
    /// Credit, control and heartbeats: sent at once, delivered at once,
    /// never ordered with any channel's data.
    Connection,
}

impl FrameKind {
    /// Every kind, in wire-byte order.
    pub const ALL: [FrameKind; 7] = [
        FrameKind::Data,
        FrameKind::Credit,
        FrameKind::Barrier,
        FrameKind::Watermark,
        FrameKind::Control,
        FrameKind::EndOfChannel,
        FrameKind::Heartbeat,
    ];

    /// Parses a kind byte; `None` for an unknown one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte).wrapping_sub(1)).copied()
    }

    /// The kind byte on the wire.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The lane this kind travels on.
    pub fn lane(self) -> Lane {
        match self {
            FrameKind::Data => Lane::Data,
            FrameKind::Barrier | FrameKind::Watermark | FrameKind::EndOfChannel => {
                Lane::ChannelEvent
            }
            FrameKind::Credit | FrameKind::Control | FrameKind::Heartbeat => Lane::Connection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_or_is_unknown() {
        for byte in 0..=u8::MAX {
            match FrameKind::from_byte(byte) {
                Some(kind) => assert_eq!(kind.to_byte(), byte),
                None => assert!(byte == 0 || byte > 7),
            }
        }
    }

    #[test]
    fn only_data_needs_credit() {
        for kind in FrameKind::ALL {
            assert_eq!(kind.lane() == Lane::Data, kind == FrameKind::Data);
        }
    }
}

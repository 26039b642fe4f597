//! The fixed 32-byte frame header.
//!
//! ```text
//! offset size field
//!  0     4    magic b"SPT1"
//!  4     2    protocol version (LE)
//!  6     1    frame kind
//!  7     1    flags (none defined in version 1; must be 0)
//!  8     4    channel id (LE)
//! 12     8    sequence number (LE)
//! 20     4    payload length (LE)
//! 24     4    CRC32C of the payload (LE)
//! 28     4    CRC32C of bytes 0..28 (LE)
//! ```
//!
//! The header has its own checksum so a corrupted length is caught before
//! the decoder waits for (or allocates) a payload that will never come.
//! All integers are little-endian, the byte order of every target we run on.

use super::kind::FrameKind;
use crate::error::{ChannelId, NetError};

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"SPT1";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 32;
/// Flag bits defined by this version.
const KNOWN_FLAGS: u8 = 0;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the frame carries.
    pub kind: FrameKind,
    /// Flag bits (must be 0 in version 1).
    pub flags: u8,
    /// The logical channel.
    pub channel: ChannelId,
    /// Position in the channel's sequence (for credit frames: the cumulative
    /// credit granted on the channel).
    pub seq: u64,
    /// Payload length in bytes.
    pub len: u32,
    /// CRC32C of the payload.
    pub payload_crc: u32,
}

impl FrameHeader {
    /// Serializes the header, computing its own checksum.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out[6] = self.kind.to_byte();
        out[7] = self.flags;
        out[8..12].copy_from_slice(&self.channel.to_le_bytes());
        out[12..20].copy_from_slice(&self.seq.to_le_bytes());
        out[20..24].copy_from_slice(&self.len.to_le_bytes());
        out[24..28].copy_from_slice(&self.payload_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&out[0..28]);
        out[28..32].copy_from_slice(&header_crc.to_le_bytes());
        out
    }

    /// Parses and validates a header whose first byte is at stream `offset`.
    ///
    /// Checks, in order: magic, version (so a peer on another version gets
    /// that error, not a checksum one), the header checksum, kind and flags.
    /// The payload length is checked by the decoder, which knows the limits.
    pub fn parse(bytes: &[u8; HEADER_LEN], offset: u64) -> Result<Self, NetError> {
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != MAGIC {
            return Err(NetError::BadMagic {
                offset,
                found: magic,
            });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != PROTOCOL_VERSION {
            return Err(NetError::UnsupportedVersion {
                offset,
                found: version,
                supported: PROTOCOL_VERSION,
            });
        }
        let found = read_u32(bytes, 28);
        let expected = crc32c::crc32c(&bytes[0..28]);
        if found != expected {
            return Err(NetError::HeaderChecksumMismatch {
                offset,
                expected,
                found,
            });
        }
        let kind = FrameKind::from_byte(bytes[6]).ok_or(NetError::UnknownKind {
            offset,
            found: bytes[6],
        })?;
        let flags = bytes[7];
        if flags & !KNOWN_FLAGS != 0 {
            return Err(NetError::UnknownFlags {
                offset,
                found: flags,
            });
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[12..20]);
        Ok(Self {
            kind,
            flags,
            channel: read_u32(bytes, 8),
            seq: u64::from_le_bytes(seq),
            len: read_u32(bytes, 20),
            payload_crc: read_u32(bytes, 24),
        })
    }
}

fn read_u32(bytes: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_header() -> impl Strategy<Value = FrameHeader> {
        (
            0..FrameKind::ALL.len(),
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(kind, channel, seq, len, payload_crc)| FrameHeader {
                kind: FrameKind::ALL[kind],
                flags: 0,
                channel,
                seq,
                len,
                payload_crc,
            })
    }

    proptest! {
        #[test]
        fn header_round_trips(header in any_header()) {
            prop_assert_eq!(FrameHeader::parse(&header.to_bytes(), 7), Ok(header));
        }

        #[test]
        fn any_corrupted_header_byte_is_a_typed_error(
            header in any_header(),
            at in 0..HEADER_LEN,
            flip in 1..=u8::MAX,
        ) {
            let mut bytes = header.to_bytes();
            bytes[at] ^= flip;
            let err = FrameHeader::parse(&bytes, 100);
            let expected_class = match at {
                0..=3 => matches!(err, Err(NetError::BadMagic { offset: 100, .. })),
                4..=5 => matches!(err, Err(NetError::UnsupportedVersion { offset: 100, .. })),
                _ => matches!(err, Err(NetError::HeaderChecksumMismatch { offset: 100, .. })),
            };
            prop_assert!(expected_class, "byte {} flipped by {:#x}: {:?}", at, flip, err);
        }
    }

    #[test]
    fn unknown_kind_and_flags_are_rejected_even_with_a_valid_checksum() {
        let header = FrameHeader {
            kind: FrameKind::Data,
            flags: 0,
            channel: 1,
            seq: 2,
            len: 3,
            payload_crc: 4,
        };
        let mut bytes = header.to_bytes();
        bytes[6] = 42;
        let crc = crc32c::crc32c(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            FrameHeader::parse(&bytes, 0),
            Err(NetError::UnknownKind {
                offset: 0,
                found: 42
            })
        );
        // to_bytes checksums whatever flags it is given.
        let bytes = FrameHeader {
            flags: 0x80,
            ..header
        }
        .to_bytes();
        assert_eq!(
            FrameHeader::parse(&bytes, 0),
            Err(NetError::UnknownFlags {
                offset: 0,
                found: 0x80
            })
        );
    }
}

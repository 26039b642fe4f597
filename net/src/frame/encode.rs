//! Writing frames into a `BytesMut`.

use bytes::BytesMut;

use super::grant::CreditGrant;
use super::header::{FrameHeader, HEADER_LEN};
use super::kind::FrameKind;
use crate::batch::{BatchRecord, write_batch};
use crate::config::NetConfig;
use crate::error::{ChannelId, NetError};

/// Encodes frames, enforcing the same limits the receiving decoder does, so
/// an oversized frame fails at the sender instead of closing the connection.
#[derive(Debug, Clone, Copy)]
pub struct FrameEncoder {
    frame_bytes_max: usize,
    data_bytes_max: usize,
}

impl FrameEncoder {
    /// An encoder for `config`'s limits.
    pub fn new(config: &NetConfig) -> Self {
        Self {
            frame_bytes_max: config.frame_bytes_max as usize,
            data_bytes_max: config.data_payload_max(),
        }
    }

    fn max_for(&self, kind: FrameKind) -> usize {
        if kind == FrameKind::Data {
            self.data_bytes_max
        } else {
            self.frame_bytes_max
        }
    }

    /// Appends one frame with an already-encoded payload.
    pub fn encode(
        &self,
        kind: FrameKind,
        channel: ChannelId,
        seq: u64,
        payload: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), NetError> {
        let max = self.max_for(kind);
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|len| *len as usize <= max)
            .ok_or(NetError::FrameTooLarge {
                offset: 0,
                kind,
                len: payload.len() as u64,
                max: max as u64,
            })?;
        let header = FrameHeader {
            kind,
            flags: 0,
            channel,
            seq,
            len,
            payload_crc: crc32c::crc32c(payload),
        };
        dst.reserve(HEADER_LEN + payload.len());
        dst.extend_from_slice(&header.to_bytes());
        dst.extend_from_slice(payload);
        Ok(())
    }

    /// Appends a credit frame carrying `grant`.
    pub fn encode_credit(&self, grant: &CreditGrant, dst: &mut BytesMut) -> Result<(), NetError> {
        self.encode(
            FrameKind::Credit,
            grant.channel,
            grant.data_total,
            &grant.payload(),
            dst,
        )
    }

    /// Appends a data frame whose payload is the archive of `records`,
    /// serialized straight into `dst` after a header slot that is filled in
    /// last. Returns the payload length. On error `dst` is left as it was.
    pub fn encode_batch<T: BatchRecord>(
        &self,
        channel: ChannelId,
        seq: u64,
        records: &[T],
        dst: &mut BytesMut,
    ) -> Result<usize, NetError> {
        let start = dst.len();
        dst.extend_from_slice(&[0; HEADER_LEN]);
        let written = write_batch(records, dst).and_then(|len| {
            u32::try_from(len)
                .ok()
                .filter(|len| *len as usize <= self.data_bytes_max)
                .ok_or(NetError::FrameTooLarge {
                    offset: 0,
                    kind: FrameKind::Data,
                    len: len as u64,
                    max: self.data_bytes_max as u64,
                })
        });
        let len = match written {
            Ok(len) => len,
            Err(err) => {
                dst.truncate(start);
                return Err(err);
            }
        };
        let payload_start = start + HEADER_LEN;
        let header = FrameHeader {
            kind: FrameKind::Data,
            flags: 0,
            channel,
            seq,
            len,
            payload_crc: crc32c::crc32c(&dst[payload_start..]),
        };
        dst[start..payload_start].copy_from_slice(&header.to_bytes());
        Ok(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_payloads_fail_at_the_sender() {
        let config = NetConfig {
            frame_bytes_max: 100,
            buffer_bytes: 50,
            ..NetConfig::default()
        };
        let encoder = FrameEncoder::new(&config);
        let mut dst = BytesMut::new();
        assert!(
            encoder
                .encode(FrameKind::Control, 1, 0, &[0; 100], &mut dst)
                .is_ok()
        );
        let len = dst.len();
        let err = encoder.encode(FrameKind::Data, 1, 0, &[0; 51], &mut dst);
        assert!(matches!(
            err,
            Err(NetError::FrameTooLarge {
                len: 51,
                max: 50,
                ..
            })
        ));
        let records = vec![(1u64, 2u64); 100];
        let err = encoder.encode_batch(1, 0, &records, &mut dst);
        assert!(matches!(err, Err(NetError::FrameTooLarge { max: 50, .. })));
        assert_eq!(
            dst.len(),
            len,
            "a failed encode leaves the buffer as it was"
        );
    }

    #[test]
    fn batch_frame_header_describes_its_payload() {
        let encoder = FrameEncoder::new(&NetConfig::default());
        let mut dst = BytesMut::from(&b"xyz"[..]);
        let len = encoder
            .encode_batch(9, 4, &[(1u64, 2u64)], &mut dst)
            .expect("encode");
        let mut raw = [0u8; HEADER_LEN];
        raw.copy_from_slice(&dst[3..3 + HEADER_LEN]);
        let header = FrameHeader::parse(&raw, 3).expect("header");
        assert_eq!(
            (header.kind, header.channel, header.seq),
            (FrameKind::Data, 9, 4)
        );
        assert_eq!(header.len as usize, len);
        assert_eq!(header.payload_crc, crc32c::crc32c(&dst[3 + HEADER_LEN..]));
    }
}

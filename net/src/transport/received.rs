//! What a [`super::ChannelReceiver`] hands out.

use std::fmt;

use bytes::Bytes;
use rkyv::Archive;
use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::vec::ArchivedVec;

use super::pool::PoolGuard;
use super::state::{Shared, borrow};
use crate::error::{ChannelId, NetError};
use crate::frame::FrameKind;

/// One item of a channel, in the sender's order.
#[derive(Debug)]
pub enum Received {
    /// A data frame.
    Data(DataFrame),
    /// A watermark, barrier or end-of-channel.
    Event(ChannelEvent),
}

/// A watermark, barrier or end-of-channel and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEvent {
    /// Which event.
    pub kind: FrameKind,
    /// Its position in the channel's sequence.
    pub seq: u64,
    /// Its payload.
    pub payload: Bytes,
}

/// A received data frame: its validated-CRC payload in an aligned buffer of
/// the core pool. Dropping it (or [`DataFrame::release`]) gives the buffer
/// back and grants the sender one credit.
pub struct DataFrame {
    pub(crate) link: Shared,
    pub(crate) channel: ChannelId,
    pub(crate) seq: u64,
    pub(crate) buffer: Option<PoolGuard>,
}

impl DataFrame {
    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Its position in the channel's sequence.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The payload bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.buffer.as_ref().map_or(&[], PoolGuard::as_slice)
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Validates the payload as a batch of `T` (checked rkyv access) and
    /// returns it for reading in place. Errors name the channel and sequence.
    pub fn access_batch<T>(&self) -> Result<&ArchivedVec<T::Archived>, NetError>
    where
        T: Archive,
        ArchivedVec<T::Archived>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
    {
        let buffer =
            self.buffer
                .as_ref()
                .and_then(PoolGuard::buffer)
                .ok_or(NetError::Internal {
                    reason: "data frame without its buffer",
                })?;
        buffer.access_batch::<T>().map_err(|err| match err {
            NetError::InvalidArchive { reason, .. } => NetError::InvalidArchive {
                channel: self.channel,
                seq: self.seq,
                reason,
            },
            other => other,
        })
    }

    /// Gives the buffer back and grants one credit now (as dropping does).
    pub fn release(self) {}
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFrame")
            .field("channel", &self.channel)
            .field("seq", &self.seq)
            .field("len", &self.len())
            .finish()
    }
}

impl Drop for DataFrame {
    fn drop(&mut self) {
        // Buffer first, then credit: the credit promises a free buffer.
        drop(self.buffer.take());
        if let Ok(mut state) = borrow(&self.link)
            && state.conn.release_buffer(self.channel).is_ok()
        {
            state.wake_writer();
        }
    }
}

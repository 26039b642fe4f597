//! A fixed, per-core pool of aligned receive buffers.
//!
//! All buffers are allocated when the pool is built; afterwards acquire and
//! release only move them between the free list and their users, so the
//! receive path allocates nothing. Exhaustion is an error the caller sees at
//! once: with credit-based flow control a peer can only exhaust the pool by
//! sending without credit, so blocking would hide a protocol violation.

use std::sync::atomic::{AtomicU64, Ordering};

use rkyv::Archive;
use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::vec::ArchivedVec;

use crate::batch::access_aligned;
use crate::config::NetConfig;
use crate::error::NetError;
use crate::frame::FrameKind;

/// Distinguishes pools, so a buffer cannot be returned to the wrong one.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// A receive buffer lent by a [`BufferPool`]. It never grows past the pool's
/// `buffer_bytes` and is always [`crate::PAYLOAD_ALIGN`]-aligned, so an rkyv
/// archive in it can be read in place.
#[derive(Debug)]
pub struct PooledBuffer {
    pool: u64,
    bytes: AlignedVec,
}

impl PooledBuffer {
    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The fixed capacity (the pool's `buffer_bytes`).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Forgets the contents, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Appends `bytes`, refusing to grow past the capacity (growing would
    /// allocate and break the pool's bound).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        let len = self.bytes.len() + bytes.len();
        if len > self.bytes.capacity() {
            return Err(NetError::FrameTooLarge {
                offset: 0,
                kind: FrameKind::Data,
                len: len as u64,
                max: self.bytes.capacity() as u64,
            });
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Validates the contents as a batch of `T` and returns it for reading in
    /// place (zero-copy: the buffer is aligned).
    pub fn access_batch<T>(&self) -> Result<&ArchivedVec<T::Archived>, NetError>
    where
        T: Archive,
        ArchivedVec<T::Archived>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
    {
        access_aligned::<T>(self.bytes.as_slice())
    }
}

/// The per-core pool. Each core owns one outright, so it needs no lock.
#[derive(Debug)]
pub struct BufferPool {
    id: u64,
    free: Vec<AlignedVec>,
    buffers: usize,
    buffer_bytes: usize,
    reserved: usize,
}

impl BufferPool {
    /// Allocates `buffers` buffers of `buffer_bytes` each, up front.
    pub fn new(buffers: usize, buffer_bytes: usize) -> Result<Self, NetError> {
        if buffers == 0 || buffer_bytes == 0 {
            return Err(NetError::InvalidConfig {
                reason: "buffer pool needs buffers and bytes",
            });
        }
        let free = (0..buffers)
            .map(|_| AlignedVec::with_capacity(buffer_bytes))
            .collect();
        Ok(Self {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            free,
            buffers,
            buffer_bytes,
            reserved: 0,
        })
    }

    /// A pool sized by `network_buffers_per_core` and `buffer_bytes`.
    pub fn from_config(config: &NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        Self::new(config.network_buffers_per_core, config.buffer_bytes)
    }

    /// Takes a free, empty buffer, or reports exhaustion.
    pub fn acquire(&mut self) -> Result<PooledBuffer, NetError> {
        match self.free.pop() {
            Some(bytes) => Ok(PooledBuffer {
                pool: self.id,
                bytes,
            }),
            None => Err(NetError::PoolExhausted {
                buffers: self.buffers,
            }),
        }
    }

    /// Returns a buffer lent by this pool.
    pub fn release(&mut self, mut buffer: PooledBuffer) -> Result<(), NetError> {
        if buffer.pool != self.id {
            return Err(NetError::ForeignBuffer);
        }
        buffer.bytes.clear();
        self.free.push(buffer.bytes);
        Ok(())
    }

    /// Buffers free to acquire now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Buffers lent out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.buffers - self.free.len()
    }

    /// Total buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.buffers
    }

    /// Size of each buffer.
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// Sets aside `n` buffers for a receiver channel's credit. Credit must
    /// never promise buffers the pool does not have, so the transport
    /// reserves before it opens a receiver channel with `n` buffers.
    pub fn reserve(&mut self, n: usize) -> Result<(), NetError> {
        let total = self.reserved.saturating_add(n);
        if total > self.buffers {
            return Err(NetError::PoolExhausted {
                buffers: self.buffers,
            });
        }
        self.reserved = total;
        Ok(())
    }

    /// Gives back a reservation made with [`BufferPool::reserve`].
    pub fn unreserve(&mut self, n: usize) -> Result<(), NetError> {
        self.reserved = self.reserved.checked_sub(n).ok_or(NetError::Internal {
            reason: "unreserved more buffers than reserved",
        })?;
        Ok(())
    }

    /// Buffers not yet reserved for any channel.
    pub fn unreserved(&self) -> usize {
        self.buffers - self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_release_is_bounded_and_reuses_memory() {
        let mut pool = BufferPool::new(2, 128).expect("pool");
        let a = pool.acquire().expect("a");
        let b = pool.acquire().expect("b");
        assert_eq!(
            pool.acquire().err(),
            Some(NetError::PoolExhausted { buffers: 2 })
        );
        assert_eq!(pool.in_use(), 2);
        let ptr = a.as_slice().as_ptr();
        pool.release(a).expect("release a");
        let again = pool.acquire().expect("again");
        assert_eq!(again.as_slice().as_ptr(), ptr, "memory is reused");
        pool.release(again).expect("release");
        pool.release(b).expect("release b");
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn buffers_are_aligned_and_never_grow() {
        let mut pool = BufferPool::new(1, 64).expect("pool");
        let mut buf = pool.acquire().expect("buf");
        assert!(crate::batch::is_aligned(buf.as_slice()) || buf.capacity() == 0);
        assert_eq!(buf.extend_from_slice(&[1; 64]), Ok(()));
        assert!(crate::batch::is_aligned(buf.as_slice()));
        assert!(matches!(
            buf.extend_from_slice(&[1]),
            Err(NetError::FrameTooLarge { .. })
        ));
        assert_eq!(buf.len(), 64);
        pool.release(buf).expect("release");
        assert!(
            pool.acquire().expect("buf").is_empty(),
            "released buffers come back empty"
        );
    }

    #[test]
    fn foreign_buffers_are_refused() {
        let mut one = BufferPool::new(1, 8).expect("pool");
        let mut two = BufferPool::new(1, 8).expect("pool");
        let buf = one.acquire().expect("buf");
        assert_eq!(two.release(buf), Err(NetError::ForeignBuffer));
    }

    #[test]
    fn reservations_never_exceed_the_pool() {
        let mut pool = BufferPool::new(4, 8).expect("pool");
        assert_eq!(pool.reserve(3), Ok(()));
        assert!(pool.reserve(2).is_err());
        assert_eq!(pool.unreserved(), 1);
        assert_eq!(pool.unreserve(3), Ok(()));
        assert!(pool.unreserve(1).is_err());
    }
}

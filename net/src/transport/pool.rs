//! The receive-buffer pool one core shares among its links, and the guard
//! that gives a buffer back however the frame holding it ends.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use crate::buffer_pool::{BufferPool, PooledBuffer};
use crate::config::NetConfig;
use crate::error::NetError;
use crate::frame::Payload;

/// A core's [`BufferPool`], shared by every link of that core (and only
/// that core: it is `!Send`). Receivers reserve their buffers in it, so
/// credit never promises buffers the core does not have.
#[derive(Debug, Clone)]
pub struct CorePool {
    inner: Rc<RefCell<BufferPool>>,
}

impl CorePool {
    /// A pool of `network_buffers_per_core` buffers of `buffer_bytes`,
    /// allocated now.
    pub fn new(config: &NetConfig) -> Result<Self, NetError> {
        Ok(Self {
            inner: Rc::new(RefCell::new(BufferPool::from_config(config)?)),
        })
    }

    /// Runs `f` on the pool. The pool is only borrowed inside this crate's
    /// synchronous sections, so a failed borrow is a bug.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut BufferPool) -> Result<T, NetError>,
    ) -> Result<T, NetError> {
        let mut pool = self
            .inner
            .try_borrow_mut()
            .map_err(|_| NetError::Internal {
                reason: "buffer pool borrowed twice",
            })?;
        f(&mut pool)
    }

    /// Buffers free to lend now.
    pub fn available(&self) -> usize {
        self.inner.try_borrow().map_or(0, |pool| pool.available())
    }

    /// Buffers not reserved by any receiver channel.
    pub fn unreserved(&self) -> usize {
        self.inner.try_borrow().map_or(0, |pool| pool.unreserved())
    }

    /// Total buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.inner.try_borrow().map_or(0, |pool| pool.capacity())
    }
}

/// A pooled buffer that goes back to its pool when dropped, so a frame
/// discarded anywhere (a protocol error, a closed link) never leaks one.
#[derive(Debug)]
pub(crate) struct PoolGuard {
    buffer: Option<PooledBuffer>,
    pool: CorePool,
}

impl PoolGuard {
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.buffer.as_ref().map_or(&[], PooledBuffer::as_slice)
    }

    pub(crate) fn buffer(&self) -> Option<&PooledBuffer> {
        self.buffer.as_ref()
    }
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // Fails only for a foreign buffer or a nested borrow, both bugs;
            // the buffer is then freed instead of reused.
            let _ = self.pool.with(|pool| pool.release(buffer));
        }
    }
}

/// An inbound payload as the flow-control state machine holds it.
#[derive(Debug)]
pub(crate) enum InPayload {
    /// A data frame's buffer.
    Pooled(PoolGuard),
    /// An event's or control message's bytes.
    Inline(Bytes),
}

impl InPayload {
    /// Wraps a decoded payload, guarding its buffer.
    pub(crate) fn new(payload: Payload, pool: &CorePool) -> Self {
        match payload {
            Payload::Pooled(buffer) => InPayload::Pooled(PoolGuard {
                buffer: Some(buffer),
                pool: pool.clone(),
            }),
            Payload::Inline(bytes) => InPayload::Inline(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_guards_return_their_buffer() {
        let config = NetConfig {
            network_buffers_per_core: 2,
            buffer_bytes: 64,
            ..NetConfig::default()
        };
        let pool = CorePool::new(&config).expect("pool");
        let buffer = pool.with(|p| p.acquire()).expect("acquire");
        assert_eq!(pool.available(), 1);
        let payload = InPayload::new(Payload::Pooled(buffer), &pool);
        drop(payload);
        assert_eq!(pool.available(), 2);
    }
}

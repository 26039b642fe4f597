//! A global allocator that counts live heap bytes, for memory tests and
//! benches (shared by `#[path]` inclusion).
//!
//! Implementing `GlobalAlloc` is inherently unsafe; this is the only unsafe
//! code in the crate's targets, confined to test and bench binaries, and it
//! only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Forwards to [`System`] and tracks the bytes currently allocated.
pub struct CountingAlloc {
    live_bytes: AtomicUsize,
}

impl CountingAlloc {
    /// A counter starting at zero.
    pub const fn new() -> Self {
        Self {
            live_bytes: AtomicUsize::new(0),
        }
    }

    /// Bytes allocated and not yet freed.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes.load(Ordering::Relaxed)
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// the `GlobalAlloc` contract is upheld by `System`; the counter is atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds alloc's contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.live_bytes.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.live_bytes.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        unsafe { System.dealloc(ptr, layout) };
        self.live_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            self.live_bytes.fetch_add(new_size, Ordering::Relaxed);
            self.live_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new_ptr
    }
}

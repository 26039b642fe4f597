//! A per-thread pool of row vectors: where a row ends on the core that
//! makes the next one (a blackhole sink, a filter that drops it), its
//! vector goes back to the pool instead of to `free`, and the next scanned
//! row takes it instead of calling `malloc`.
//!
//! Rows of nexmark's tables are 7 to 10 values (168 to 240 bytes), above
//! glibc's fast bins, so each `malloc`/`free` pair took the small-bin path
//! with its chunk coalescing, a tenth of a projection query's time. The
//! pool is thread-local (each core is one thread, so no lock), bounded in
//! count and in the width of what it keeps, and a vector that comes back
//! from another core simply stays on this one.

use std::cell::RefCell;

use crate::value::Value;

/// Vectors kept per thread: a few polls' worth of rows.
pub const POOL_ROWS_MAX: usize = 4096;
/// Vectors wider than this go back to the allocator (a join's concatenation
/// would otherwise keep wide buffers for narrow rows).
pub const POOL_CAPACITY_MAX: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Vec<Value>>> = const { RefCell::new(Vec::new()) };
}

/// An empty vector with room for `capacity` values, from the pool when it
/// has one.
#[inline]
pub fn take(capacity: usize) -> Vec<Value> {
    let pooled = POOL.with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()));
    match pooled {
        Some(mut v) => {
            v.reserve(capacity);
            v
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Returns a row's vector to this thread's pool (its values are dropped
/// now); a full pool or a wide vector frees it.
#[inline]
pub fn recycle(mut values: Vec<Value>) {
    let capacity = values.capacity();
    if capacity == 0 || capacity > POOL_CAPACITY_MAX {
        return;
    }
    values.clear();
    POOL.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.len() < POOL_ROWS_MAX
        {
            p.push(values);
        }
    });
}

/// Vectors in this thread's pool.
pub fn pooled() -> usize {
    POOL.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_back_cleared_vectors_and_stays_bounded() {
        std::thread::spawn(|| {
            let mut v = take(7);
            v.extend((0..7).map(Value::Int));
            let at = v.as_ptr();
            recycle(v);
            assert_eq!(pooled(), 1);
            let again = take(5);
            assert_eq!((again.as_ptr(), again.len()), (at, 0));
            assert!(again.capacity() >= 7);
            assert_eq!(pooled(), 0);
            // Wide or empty vectors are not kept.
            recycle(Vec::with_capacity(POOL_CAPACITY_MAX + 1));
            recycle(Vec::new());
            assert_eq!(pooled(), 0);
            for _ in 0..POOL_ROWS_MAX + 10 {
                recycle(Vec::with_capacity(3));
            }
            assert_eq!(pooled(), POOL_ROWS_MAX);
            // A vector too small for the row asked for grows.
            assert!(take(12).capacity() >= 12);
        })
        .join()
        .unwrap();
    }
}

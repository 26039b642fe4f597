//! Runtime choice between a table's TTL-free and TTL representations.
//!
//! The TTL decision is made once per declared state, so each public table
//! holds one of two monomorphised cores and every call branches once on a
//! perfectly predictable tag, instead of storing an expiry per entry.

/// One of two representations; also an iterator when both halves are.
#[derive(Clone, Debug)]
pub(crate) enum ByTtl<P, T> {
    /// Without TTL.
    Plain(P),
    /// With TTL.
    Ttl(T),
}

impl<P, T> Iterator for ByTtl<P, T>
where
    P: Iterator,
    T: Iterator<Item = P::Item>,
{
    type Item = P::Item;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ByTtl::Plain(p) => p.next(),
            ByTtl::Ttl(t) => t.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            ByTtl::Plain(p) => p.size_hint(),
            ByTtl::Ttl(t) => t.size_hint(),
        }
    }
}

/// Runs the same expression on whichever core a [`ByTtl`] holds.
macro_rules! by_ttl {
    ($inner:expr, $core:ident => $body:expr) => {
        match $inner {
            $crate::dispatch::ByTtl::Plain($core) => $body,
            $crate::dispatch::ByTtl::Ttl($core) => $body,
        }
    };
}

/// Like [`by_ttl`] but re-wraps the result, for iterators whose types
/// differ between the two cores.
macro_rules! by_ttl_wrap {
    ($inner:expr, $core:ident => $body:expr) => {
        match $inner {
            $crate::dispatch::ByTtl::Plain($core) => $crate::dispatch::ByTtl::Plain($body),
            $crate::dispatch::ByTtl::Ttl($core) => $crate::dispatch::ByTtl::Ttl($body),
        }
    };
}

/// The capture methods of a table whose `inner` is a [`ByTtl`] of cores
/// that keep their slots in a `store`: the same for every table kind.
macro_rules! capture_methods {
    () => {
        /// Whether a capture of changes is in progress.
        pub fn capturing(&self) -> bool {
            by_ttl!(&self.inner, core => core.store.capturing())
        }

        /// Starts a copy-on-write capture of the entries changed since the
        /// previous one (all of them at the first): O(1) after the first.
        /// [`continue_capture`](Self::continue_capture) encodes it; writes
        /// made meanwhile do not show in it.
        pub fn start_capture(&mut self) -> Result<(), StateError> {
            by_ttl!(&mut self.inner, core => core.store.start_capture())
        }

        /// Appends to `out` more of the capture in progress, spending at
        /// most `budget` (reduced by what was spent); true once the
        /// capture is complete. `state` names the state in errors.
        pub fn continue_capture(
            &mut self,
            state: &str,
            budget: &mut usize,
            out: &mut Vec<$crate::canonical::DeltaEntry>,
        ) -> Result<bool, StateError> {
            by_ttl!(&mut self.inner, core => core.store.continue_capture(state, budget, out))
        }
    };
}

pub(crate) use {by_ttl, by_ttl_wrap, capture_methods};

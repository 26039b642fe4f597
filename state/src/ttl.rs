//! State time-to-live, with Flink's `StateTtlConfig` semantics.
//!
//! Time is never read here: every call passes `now_ms` from the engine's
//! clock. A table without TTL stores bare values; a table with TTL stores
//! each value with its expiry. The choice is made when the table is created,
//! so tables without TTL pay nothing per entry.

use std::sync::atomic::{AtomicI64, Ordering};

/// Which accesses restart an entry's time-to-live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtlUpdate {
    /// Creating or writing a value restarts its TTL (Flink's default).
    OnCreateAndWrite,
    /// Reads restart the TTL as well.
    OnReadAndWrite,
}

/// Whether an expired value that has not been removed yet may be returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtlVisibility {
    /// Expired values are never returned (Flink's default).
    NeverReturnExpired,
    /// Expired values are returned until cleanup removes them.
    ReturnExpiredIfNotCleanedUp,
}

/// TTL configuration of one declared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateTtl {
    /// How long a value lives after its last TTL-restarting access.
    pub ttl_ms: u64,
    /// Which accesses restart the TTL.
    pub update: TtlUpdate,
    /// Whether expired values can still be seen before cleanup.
    pub visibility: TtlVisibility,
}

impl StateTtl {
    /// A TTL of `ttl_ms` with Flink's defaults: restarted on create and
    /// write, expired values never returned.
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            update: TtlUpdate::OnCreateAndWrite,
            visibility: TtlVisibility::NeverReturnExpired,
        }
    }

    /// This configuration with another update type.
    pub fn with_update(self, update: TtlUpdate) -> Self {
        Self { update, ..self }
    }

    /// This configuration with another visibility.
    pub fn with_visibility(self, visibility: TtlVisibility) -> Self {
        Self { visibility, ..self }
    }

    /// When a value touched at `now_ms` expires; saturates instead of
    /// overflowing for huge TTLs.
    pub fn expires_at_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(i64::try_from(self.ttl_ms).unwrap_or(i64::MAX))
    }
}

/// A value together with the time it expires.
///
/// The expiry is atomic (relaxed, a plain load/store on mainstream CPUs) so
/// that `OnReadAndWrite` can restart the TTL through a shared reference
/// while tables stay `Sync`.
#[derive(Debug)]
pub(crate) struct Expiring<V> {
    value: V,
    expires_at_ms: AtomicI64,
}

impl<V: Clone> Clone for Expiring<V> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            expires_at_ms: AtomicI64::new(self.expires_at_ms.load(Ordering::Relaxed)),
        }
    }
}

/// How a table stores values and applies TTL rules; implemented by the
/// zero-sized [`NoTtl`] and by [`WithTtl`].
pub(crate) trait TtlPolicy: Copy + Send + Sync + 'static {
    /// Whether values can expire at all; lets callers skip TTL work.
    const EXPIRES: bool;

    /// What is stored per value.
    type Stored<V>;

    /// The configuration, if any.
    fn config(&self) -> Option<StateTtl>;
    /// Wraps a value written at `now_ms`.
    fn wrap<V>(&self, value: V, now_ms: i64) -> Self::Stored<V>;
    /// Wraps a restored value with its stored expiry; a value stored
    /// without one (TTL enabled since) starts its TTL at `now_ms`.
    fn wrap_at<V>(&self, value: V, expires_at_ms: Option<i64>, now_ms: i64) -> Self::Stored<V>;
    /// The stored value, expired or not.
    fn value<V>(stored: &Self::Stored<V>) -> &V;
    /// The stored value, mutably.
    fn value_mut<V>(stored: &mut Self::Stored<V>) -> &mut V;
    /// Unwraps the stored value.
    fn into_value<V>(stored: Self::Stored<V>) -> V;
    /// The expiry, if values expire.
    fn expires_at_ms<V>(stored: &Self::Stored<V>) -> Option<i64>;
    /// Whether the value expired at `now_ms`.
    fn is_expired<V>(&self, stored: &Self::Stored<V>, now_ms: i64) -> bool;
    /// Whether an expired value may still be returned.
    fn returns_expired(&self) -> bool;
    /// Restarts the TTL for a read, if reads do that.
    fn touch_read<V>(&self, stored: &Self::Stored<V>, now_ms: i64);
    /// Restarts the TTL for a write.
    fn touch_write<V>(&self, stored: &Self::Stored<V>, now_ms: i64);

    /// A read access: the value if it is visible, restarting the TTL when
    /// reads do (expired values are returned but not revived).
    #[inline]
    fn read<'a, V>(&self, stored: &'a Self::Stored<V>, now_ms: i64) -> Option<&'a V> {
        if self.is_expired(stored, now_ms) {
            return self.returns_expired().then(|| Self::value(stored));
        }
        self.touch_read(stored, now_ms);
        Some(Self::value(stored))
    }

    /// Whether a value is visible at `now_ms`; an invisible value is due
    /// for removal.
    #[inline]
    fn is_visible<V>(&self, stored: &Self::Stored<V>, now_ms: i64) -> bool {
        !self.is_expired(stored, now_ms) || self.returns_expired()
    }
}

/// No TTL: values are stored bare and never expire.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoTtl;

impl TtlPolicy for NoTtl {
    const EXPIRES: bool = false;
    type Stored<V> = V;

    fn config(&self) -> Option<StateTtl> {
        None
    }
    #[inline(always)]
    fn wrap<V>(&self, value: V, _now_ms: i64) -> V {
        value
    }
    #[inline]
    fn wrap_at<V>(&self, value: V, _expires_at_ms: Option<i64>, _now_ms: i64) -> V {
        value
    }
    #[inline(always)]
    fn value<V>(stored: &V) -> &V {
        stored
    }
    #[inline(always)]
    fn value_mut<V>(stored: &mut V) -> &mut V {
        stored
    }
    #[inline(always)]
    fn into_value<V>(stored: V) -> V {
        stored
    }
    #[inline(always)]
    fn expires_at_ms<V>(_stored: &V) -> Option<i64> {
        None
    }
    #[inline(always)]
    fn is_expired<V>(&self, _stored: &V, _now_ms: i64) -> bool {
        false
    }
    #[inline(always)]
    fn returns_expired(&self) -> bool {
        false
    }
    #[inline(always)]
    fn touch_read<V>(&self, _stored: &V, _now_ms: i64) {}
    #[inline(always)]
    fn touch_write<V>(&self, _stored: &V, _now_ms: i64) {}
}

/// A TTL: each value carries its expiry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WithTtl {
    ttl: StateTtl,
}

impl WithTtl {
    pub(crate) fn new(ttl: StateTtl) -> Self {
        Self { ttl }
    }
}

impl TtlPolicy for WithTtl {
    const EXPIRES: bool = true;
    type Stored<V> = Expiring<V>;

    fn config(&self) -> Option<StateTtl> {
        Some(self.ttl)
    }
    #[inline]
    fn wrap<V>(&self, value: V, now_ms: i64) -> Expiring<V> {
        Expiring {
            value,
            expires_at_ms: AtomicI64::new(self.ttl.expires_at_ms(now_ms)),
        }
    }
    #[inline]
    fn wrap_at<V>(&self, value: V, expires_at_ms: Option<i64>, now_ms: i64) -> Expiring<V> {
        let at = expires_at_ms.unwrap_or_else(|| self.ttl.expires_at_ms(now_ms));
        Expiring {
            value,
            expires_at_ms: AtomicI64::new(at),
        }
    }
    #[inline]
    fn value<V>(stored: &Expiring<V>) -> &V {
        &stored.value
    }
    #[inline]
    fn value_mut<V>(stored: &mut Expiring<V>) -> &mut V {
        &mut stored.value
    }
    #[inline]
    fn into_value<V>(stored: Expiring<V>) -> V {
        stored.value
    }
    #[inline]
    fn expires_at_ms<V>(stored: &Expiring<V>) -> Option<i64> {
        Some(stored.expires_at_ms.load(Ordering::Relaxed))
    }
    #[inline]
    fn is_expired<V>(&self, stored: &Expiring<V>, now_ms: i64) -> bool {
        // Flink: expired once last_access + ttl <= now.
        stored.expires_at_ms.load(Ordering::Relaxed) <= now_ms
    }
    #[inline]
    fn returns_expired(&self) -> bool {
        self.ttl.visibility == TtlVisibility::ReturnExpiredIfNotCleanedUp
    }
    #[inline]
    fn touch_read<V>(&self, stored: &Expiring<V>, now_ms: i64) {
        if self.ttl.update == TtlUpdate::OnReadAndWrite {
            self.touch_write(stored, now_ms);
        }
    }
    #[inline]
    fn touch_write<V>(&self, stored: &Expiring<V>, now_ms: i64) {
        stored
            .expires_at_ms
            .store(self.ttl.expires_at_ms(now_ms), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ttl_stores_bare_values() {
        assert_eq!(size_of::<<NoTtl as TtlPolicy>::Stored<u64>>(), 8);
        assert_eq!(size_of::<NoTtl>(), 0);
    }

    #[test]
    fn expiry_boundary_is_inclusive_like_flink() {
        let p = WithTtl::new(StateTtl::new(100));
        let s = p.wrap(1u8, 1_000);
        assert_eq!(WithTtl::expires_at_ms(&s), Some(1_100));
        assert!(!p.is_expired(&s, 1_099));
        assert!(p.is_expired(&s, 1_100));
        assert_eq!(p.read(&s, 1_100), None);
    }

    #[test]
    fn huge_ttl_saturates() {
        let ttl = StateTtl::new(u64::MAX);
        assert_eq!(ttl.expires_at_ms(5), i64::MAX);
        assert_eq!(StateTtl::new(10).expires_at_ms(i64::MAX - 1), i64::MAX);
    }

    #[test]
    fn read_restarts_only_with_on_read_and_write() {
        let write_only = WithTtl::new(StateTtl::new(100));
        let s = write_only.wrap(1u8, 0);
        assert_eq!(write_only.read(&s, 50), Some(&1));
        assert_eq!(WithTtl::expires_at_ms(&s), Some(100));

        let rw = WithTtl::new(StateTtl::new(100).with_update(TtlUpdate::OnReadAndWrite));
        let s = rw.wrap(1u8, 0);
        assert_eq!(rw.read(&s, 50), Some(&1));
        assert_eq!(WithTtl::expires_at_ms(&s), Some(150));
    }

    #[test]
    fn return_expired_visibility_does_not_revive() {
        let p = WithTtl::new(
            StateTtl::new(10)
                .with_update(TtlUpdate::OnReadAndWrite)
                .with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp),
        );
        let s = p.wrap(7u8, 0);
        assert_eq!(p.read(&s, 20), Some(&7));
        assert!(
            p.is_expired(&s, 20),
            "a read must not revive an expired value"
        );
        assert!(p.is_visible(&s, 20));
    }
}

//! The heap tables' TTL rules applied to stored expiries.

use crate::ttl::{StateTtl, TtlUpdate, TtlVisibility};

/// A table's TTL configuration, answering the questions its operations ask
/// about a stored expiry (`None`: stored without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RocksTtl(pub(crate) Option<StateTtl>);

impl RocksTtl {
    /// The expiry to store with a value written at `now_ms`.
    pub(crate) fn expiry_for_write(self, now_ms: i64) -> Option<i64> {
        self.0.map(|ttl| ttl.expires_at_ms(now_ms))
    }

    /// Whether a value with this expiry expired at `now_ms`. Without TTL
    /// nothing expires, whatever was stored (as the heap's `NoTtl`).
    pub(crate) fn is_expired(self, expires_at_ms: Option<i64>, now_ms: i64) -> bool {
        // Flink: expired once last_access + ttl <= now.
        self.0.is_some() && expires_at_ms.is_some_and(|at| at <= now_ms)
    }

    /// Whether a value with this expiry may be returned at `now_ms`.
    pub(crate) fn is_visible(self, expires_at_ms: Option<i64>, now_ms: i64) -> bool {
        !self.is_expired(expires_at_ms, now_ms) || self.returns_expired()
    }

    /// Whether expired values are returned until cleaned up.
    pub(crate) fn returns_expired(self) -> bool {
        self.0
            .is_some_and(|ttl| ttl.visibility == TtlVisibility::ReturnExpiredIfNotCleanedUp)
    }

    /// Whether reads restart the TTL (then a read rewrites the expiry).
    pub(crate) fn read_restarts(self) -> bool {
        self.0
            .is_some_and(|ttl| ttl.update == TtlUpdate::OnReadAndWrite)
    }

    /// What a read of a value with this expiry at `now_ms` sees: `None` when
    /// invisible, else `Some(new expiry)` where the read restarts the TTL
    /// (an expired value shown by `ReturnExpiredIfNotCleanedUp` is not
    /// revived) and `Some(None)` where it leaves the value as is.
    pub(crate) fn read(self, expires_at_ms: Option<i64>, now_ms: i64) -> Option<Option<i64>> {
        if self.is_expired(expires_at_ms, now_ms) {
            return self.returns_expired().then_some(None);
        }
        Some(
            self.read_restarts()
                .then(|| self.expiry_for_write(now_ms))
                .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_the_heap_rules() {
        let none = RocksTtl(None);
        assert!(!none.is_expired(Some(0), 10), "no TTL: nothing expires");
        assert_eq!(none.read(Some(0), 10), Some(None));

        let write = RocksTtl(Some(StateTtl::new(100)));
        assert!(!write.is_expired(Some(1_100), 1_099));
        assert!(write.is_expired(Some(1_100), 1_100));
        assert_eq!(write.read(Some(1_100), 1_100), None);
        assert_eq!(write.read(Some(1_100), 1_000), Some(None));

        let rw = RocksTtl(Some(
            StateTtl::new(100)
                .with_update(TtlUpdate::OnReadAndWrite)
                .with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp),
        ));
        assert_eq!(rw.read(Some(1_100), 1_000), Some(Some(1_100)));
        assert_eq!(
            rw.read(Some(1_100), 1_200),
            Some(None),
            "shown, not revived"
        );
        assert!(rw.is_visible(Some(0), 5));
    }
}

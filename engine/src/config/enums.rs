//! Enumerated config values ([`StateBackendKind`], [`CheckpointMode`], ...).

use std::fmt;

use super::field::Field;
use super::value_type::{Scalar, ValueType};

/// Declares a fieldless enum whose variants have fixed config-file spellings.
macro_rules! choice_enum {
    (
        $(#[doc = $doc:literal])*
        $Enum:ident { $( $(#[doc = $vdoc:literal])* $Variant:ident = $name:literal ),+ $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $Enum {
            $( $(#[doc = $vdoc])* $Variant, )+
        }

        impl $Enum {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$Variant),+];

            /// The spelling used in config files and on the command line.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$Variant => $name, )+
                }
            }
        }

        impl fmt::Display for $Enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Field for $Enum {
            const TYPE: ValueType = ValueType::Choice(&[$($name),+]);

            fn from_scalar(scalar: &Scalar) -> Option<Self> {
                match scalar {
                    Scalar::Text(text) => Self::ALL.iter().copied().find(|v| v.name() == text),
                    _ => None,
                }
            }

            fn to_scalar(&self) -> Scalar {
                Scalar::Text(self.name().to_owned())
            }
        }
    };
}

choice_enum! {
    /// Where keyed state lives (`state.backend`).
    StateBackendKind {
        /// In-memory hash maps: fastest, bounded by RAM, snapshotted in full.
        Heap = "heap",
        /// RocksDB on local disk: state larger than RAM, incremental snapshots.
        RocksDb = "rocksdb",
    }
}

choice_enum! {
    /// How RocksDB compacts its table files (`state.rocksdb_compaction`).
    RocksCompactionKind {
        /// Leveled: least space, fastest reads; a small state is rewritten
        /// whole every few flushes, and checkpoints upload the rewrite.
        Level = "level",
        /// Universal (tiered): most checkpoints upload little more than
        /// their flush; up to twice the live state on disk.
        Universal = "universal",
    }
}

choice_enum! {
    /// How checkpoint barriers are handled (`checkpoint.mode`).
    CheckpointMode {
        /// Operators wait for barriers from all inputs before snapshotting.
        Aligned = "aligned",
        /// No input waits at a barrier: what the other inputs deliver before
        /// their own barrier is stored with the snapshot.
        Unaligned = "unaligned",
    }
}

choice_enum! {
    /// How the checkpoint threads are scheduled beside the core threads
    /// (`checkpoint.background_priority`).
    BackgroundPriority {
        /// The same class as the core threads.
        Normal = "normal",
        /// Linux `SCHED_IDLE`: only on a CPU no other thread wants.
        Idle = "idle",
    }
}

impl From<BackgroundPriority> for spate_state::checkpoint::ThreadClass {
    /// The scheduling class `checkpoint.background_priority` asks for.
    fn from(priority: BackgroundPriority) -> Self {
        match priority {
            BackgroundPriority::Normal => Self::Normal,
            BackgroundPriority::Idle => Self::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in StateBackendKind::ALL {
            assert_eq!(
                StateBackendKind::from_scalar(&kind.to_scalar()),
                Some(*kind)
            );
        }
        assert_eq!(CheckpointMode::Unaligned.to_string(), "unaligned");
        assert_eq!(
            StateBackendKind::TYPE,
            ValueType::Choice(&["heap", "rocksdb"])
        );
        assert_eq!(
            CheckpointMode::from_scalar(&Scalar::Text("nope".into())),
            None
        );
    }
}

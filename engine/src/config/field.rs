//! [`Field`]: conversion between a config struct field's Rust type and a [`Scalar`].

use std::path::PathBuf;

use super::value_type::{Scalar, ValueType};

/// A Rust type usable as a config field.
pub(crate) trait Field: Sized {
    /// What the field accepts before a key narrows it (e.g. with a range).
    const TYPE: ValueType;
    /// Converts a validated value; `None` if it does not fit this type.
    fn from_scalar(scalar: &Scalar) -> Option<Self>;
    /// The field's value as a [`Scalar`] (for explain output and round-trips).
    fn to_scalar(&self) -> Scalar;
}

macro_rules! uint_field {
    ($($ty:ty),+) => {$(
        impl Field for $ty {
            const TYPE: ValueType = ValueType::UInt { min: 0, max: <$ty>::MAX as u64 };

            fn from_scalar(scalar: &Scalar) -> Option<Self> {
                match scalar {
                    Scalar::UInt(n) => <$ty>::try_from(*n).ok(),
                    _ => None,
                }
            }

            fn to_scalar(&self) -> Scalar {
                Scalar::UInt(u64::from(*self))
            }
        }
    )+};
}

uint_field!(u16, u32, u64);

impl Field for bool {
    const TYPE: ValueType = ValueType::Bool;

    fn from_scalar(scalar: &Scalar) -> Option<Self> {
        match scalar {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn to_scalar(&self) -> Scalar {
        Scalar::Bool(*self)
    }
}

impl Field for PathBuf {
    const TYPE: ValueType = ValueType::Path;

    fn from_scalar(scalar: &Scalar) -> Option<Self> {
        match scalar {
            Scalar::Text(s) => Some(PathBuf::from(s)),
            _ => None,
        }
    }

    fn to_scalar(&self) -> Scalar {
        Scalar::Text(self.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_reject_values_too_large_for_the_type() {
        assert_eq!(u16::from_scalar(&Scalar::UInt(65_535)), Some(u16::MAX));
        assert_eq!(u16::from_scalar(&Scalar::UInt(65_536)), None);
        assert_eq!(u32::from_scalar(&Scalar::Bool(true)), None);
        assert_eq!(
            u16::TYPE,
            ValueType::UInt {
                min: 0,
                max: 65_535
            }
        );
    }

    #[test]
    fn bools_and_paths_round_trip() {
        assert_eq!(bool::from_scalar(&true.to_scalar()), Some(true));
        let dir = PathBuf::from("/tmp/x");
        assert_eq!(PathBuf::from_scalar(&dir.to_scalar()), Some(dir));
    }
}

//! SQL types and the dynamic value of one field.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use spate_bench::nexmark::Str;

/// The SQL types Spate evaluates. Integer types of every width evaluate as
/// 64-bit (`BigInt`), and `FLOAT`/`DECIMAL` as `Double`; the declared name is
/// kept for display only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT`, `SMALLINT`, `INT`, `BIGINT`.
    BigInt,
    /// `FLOAT`, `DOUBLE`, `DECIMAL` (evaluated in binary floating point).
    Double,
    /// `CHAR`, `VARCHAR`, `STRING`.
    String,
    /// `TIMESTAMP(p)`, `TIMESTAMP_LTZ(p)`: milliseconds since the epoch.
    Timestamp,
    /// A day-time interval in milliseconds (only inside expressions).
    Interval,
    /// The type of a bare `NULL` literal.
    Null,
}

impl DataType {
    /// True for `BigInt` and `Double`.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::BigInt | DataType::Double)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::Boolean => "BOOLEAN",
            DataType::BigInt => "BIGINT",
            DataType::Double => "DOUBLE",
            DataType::String => "STRING",
            DataType::Timestamp => "TIMESTAMP(3)",
            DataType::Interval => "INTERVAL",
            DataType::Null => "NULL",
        })
    }
}

/// One field of a row: 24 bytes, strings clone without allocating.
///
/// `Hash` writes exactly what the field's Rust type would (`i64` as 8 bytes,
/// `f64` as its bits, text as `str` does, no tag), so a row hashes like a
/// struct of the same fields: the SQL Nexmark queries' checksums equal the
/// hand-written ones'. Equality compares `f64` by bits to agree with `Hash`.
#[derive(Clone, Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A `BOOLEAN`.
    Bool(bool),
    /// An integer of any width.
    Int(i64),
    /// A `DOUBLE`.
    Double(f64),
    /// A string.
    Str(Str),
    /// A timestamp, ms since the epoch.
    Timestamp(i64),
    /// An interval, ms.
    Interval(i64),
}

impl Value {
    /// True for `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a boolean (`None` for NULL or a non-boolean).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as an integer (timestamps and intervals are their ms).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Timestamp(i) | Value::Interval(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a double (integers widened).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The value as text, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Double(_) => 3,
            Value::Str(_) => 4,
            Value::Timestamp(_) => 5,
            Value::Interval(_) => 6,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    /// A total order: NULL first, then by type, then by value (`f64` by `total_cmp`).
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b))
            | (Value::Timestamp(a), Value::Timestamp(b))
            | (Value::Interval(a), Value::Interval(b)) => a.cmp(b),
            (Value::Double(a), Value::Double(b)) => a.total_cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Hash for Value {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            // A byte no other value starts with in isolation; NULL is rare in checksummed rows.
            Value::Null => state.write_u8(0xfe),
            Value::Bool(b) => b.hash(state),
            Value::Int(i) | Value::Timestamp(i) | Value::Interval(i) => i.hash(state),
            Value::Double(d) => d.to_bits().hash(state),
            Value::Str(s) => s.hash(state),
        }
    }
}

impl fmt::Display for Value {
    /// As Flink's `print` connector shows a field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::Str(s) => f.write_str(s.as_str()),
            Value::Timestamp(ms) => f.write_str(&format_timestamp_ms(*ms)),
            Value::Interval(ms) => write!(f, "INTERVAL {ms} ms"),
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss.SSS` in UTC, as Flink prints a `TIMESTAMP(3)`.
pub fn format_timestamp_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}")
}

/// Parses `yyyy-MM-dd[ HH:mm:ss[.SSS]]` (or with `T`) as UTC ms since the epoch.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.find([' ', 'T']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: i64 = dp.next()?.parse().ok()?;
    let d: i64 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(time) = time {
        let time = time.trim_end_matches('Z');
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let mut tp = hms.split(':');
        let h: i64 = tp.next()?.parse().ok()?;
        let mi: i64 = tp.next().unwrap_or("0").parse().ok()?;
        let s: i64 = tp.next().unwrap_or("0").parse().ok()?;
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        ms += h * 3_600_000 + mi * 60_000 + s * 1000;
        if let Some(frac) = frac {
            let digits: String = frac.chars().take(3).collect();
            let scale = 10i64.pow(3 - digits.len() as u32);
            ms += digits.parse::<i64>().ok()? * scale;
        }
    }
    Some(ms)
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian, UTC).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
        assert_eq!(format_timestamp_ms(ms), "2026-01-01 00:00:00.123");
        assert_eq!(parse_timestamp_ms("2026-01-01 00:00:00.123"), Some(ms));
        assert_eq!(parse_timestamp_ms("1969-12-31T23:59:59"), Some(-1000));
        assert_eq!(parse_timestamp_ms("2026-13-01"), None);
    }

    #[test]
    fn values_hash_like_their_rust_types() {
        use spate_bench::nexmark::stable_hash;
        assert_eq!(stable_hash(&Value::Int(7)), stable_hash(&7u64));
        assert_eq!(
            stable_hash(&Value::Double(1.5)),
            stable_hash(&1.5f64.to_bits())
        );
        assert_eq!(stable_hash(&Value::Str("ab".into())), stable_hash("ab"));
        assert_ne!(Value::Double(0.0), Value::Double(-0.0));
    }
}

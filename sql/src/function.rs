//! Scalar functions: names, result types and evaluation.

use crate::value::{DataType, Value, format_timestamp_ms};

/// A built-in scalar function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `MOD(a, b)`.
    Mod,
    /// `ABS(x)`.
    Abs,
    /// `UPPER(s)`.
    Upper,
    /// `LOWER(s)`.
    Lower,
    /// `CHAR_LENGTH(s)` / `CHARACTER_LENGTH(s)`.
    CharLength,
    /// `CONCAT(s, ...)`.
    Concat,
    /// `COALESCE(a, ...)`.
    Coalesce,
    /// `FLOOR(x)`.
    Floor,
    /// `CEIL(x)`.
    Ceil,
    /// `ROUND(x [, digits])`.
    Round,
    /// `POWER(x, y)`.
    Power,
    /// `SQRT(x)`.
    Sqrt,
    /// `SUBSTRING(s, from [, len])` (1-based).
    Substring,
    /// `TRIM(s)`.
    Trim,
    /// `SPLIT_INDEX(s, delim, i)` (0-based, NULL when out of range).
    SplitIndex,
    /// `DATE_FORMAT(ts, pattern)`.
    DateFormat,
    /// `HOUR(ts)`.
    Hour,
    /// `IF(cond, a, b)`.
    If,
    /// `REGEXP_EXTRACT(s, regex [, group])`: the group (0: the whole match)
    /// of the first match, NULL when nothing matches.
    RegexpExtract,
    /// `count_char(s, c)`: how often the first character of `c` occurs in
    /// `s` — nexmark-flink's UDF, known only after `CREATE FUNCTION`.
    CountChar,
    /// `PROCTIME()`: the wall-clock time when the row is evaluated. The
    /// column it defines is a processing-time attribute.
    Proctime,
}

impl Func {
    /// The function called `name` (any case).
    pub fn by_name(name: &str) -> Option<Func> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MOD" => Func::Mod,
            "ABS" => Func::Abs,
            "UPPER" => Func::Upper,
            "LOWER" => Func::Lower,
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => Func::CharLength,
            "CONCAT" => Func::Concat,
            "COALESCE" => Func::Coalesce,
            "FLOOR" => Func::Floor,
            "CEIL" | "CEILING" => Func::Ceil,
            "ROUND" => Func::Round,
            "POWER" => Func::Power,
            "SQRT" => Func::Sqrt,
            "SUBSTRING" | "SUBSTR" => Func::Substring,
            "TRIM" => Func::Trim,
            "SPLIT_INDEX" => Func::SplitIndex,
            "DATE_FORMAT" => Func::DateFormat,
            "HOUR" => Func::Hour,
            "IF" => Func::If,
            "REGEXP_EXTRACT" => Func::RegexpExtract,
            "PROCTIME" => Func::Proctime,
            _ => return None,
        })
    }

    /// False for a function whose value is not a function of its
    /// arguments (`PROCTIME()`): it is never folded at planning time.
    pub fn is_deterministic(self) -> bool {
        self != Func::Proctime
    }

    /// The accepted argument counts, as (min, max).
    pub fn arity(self) -> (usize, usize) {
        match self {
            Func::Proctime => (0, 0),
            Func::Abs
            | Func::Upper
            | Func::Lower
            | Func::CharLength
            | Func::Floor
            | Func::Ceil
            | Func::Sqrt
            | Func::Trim
            | Func::Hour => (1, 1),
            Func::Mod | Func::Power | Func::DateFormat | Func::CountChar => (2, 2),
            Func::Round => (1, 2),
            Func::Substring | Func::RegexpExtract => (2, 3),
            Func::SplitIndex | Func::If => (3, 3),
            Func::Concat | Func::Coalesce => (1, usize::MAX),
        }
    }

    /// The result type for arguments of `args` types, or what was expected.
    pub fn result_type(self, args: &[DataType]) -> Result<DataType, String> {
        let first = args.first().copied().unwrap_or(DataType::Null);
        let numeric = |t: DataType| t.is_numeric() || t == DataType::Null;
        let want_num = |i: usize| -> Result<(), String> {
            match args.get(i) {
                Some(t) if !numeric(*t) => {
                    Err(format!("argument {} must be numeric, not {t}", i + 1))
                }
                _ => Ok(()),
            }
        };
        let want = |i: usize, t: DataType| -> Result<(), String> {
            match args.get(i) {
                Some(a) if *a != t && *a != DataType::Null => {
                    Err(format!("argument {} must be {t}, not {a}", i + 1))
                }
                _ => Ok(()),
            }
        };
        match self {
            Func::Upper | Func::Lower | Func::Trim | Func::CharLength | Func::Substring => {
                want(0, DataType::String)?
            }
            Func::SplitIndex => {
                want(0, DataType::String)?;
                want(1, DataType::String)?;
                want(2, DataType::BigInt)?;
            }
            Func::DateFormat => {
                want(0, DataType::Timestamp)?;
                want(1, DataType::String)?;
            }
            Func::Hour => want(0, DataType::Timestamp)?,
            Func::If => want(0, DataType::Boolean)?,
            Func::RegexpExtract => {
                want(0, DataType::String)?;
                want(1, DataType::String)?;
                want(2, DataType::BigInt)?;
            }
            Func::CountChar => {
                want(0, DataType::String)?;
                want(1, DataType::String)?;
            }
            _ => {}
        }
        if self == Func::Substring {
            want(1, DataType::BigInt)?;
            want(2, DataType::BigInt)?;
        }
        Ok(match self {
            Func::Mod => {
                want_num(0)?;
                want_num(1)?;
                if args.contains(&DataType::Double) {
                    DataType::Double
                } else {
                    DataType::BigInt
                }
            }
            Func::Abs | Func::Floor | Func::Ceil | Func::Round => {
                want_num(0)?;
                first
            }
            Func::Power | Func::Sqrt => {
                want_num(0)?;
                DataType::Double
            }
            Func::Upper | Func::Lower | Func::Trim | Func::Concat | Func::Substring => {
                DataType::String
            }
            Func::SplitIndex | Func::DateFormat | Func::RegexpExtract => DataType::String,
            Func::CharLength | Func::Hour | Func::CountChar => DataType::BigInt,
            Func::Proctime => DataType::Timestamp,
            Func::Coalesce => args
                .iter()
                .copied()
                .find(|t| *t != DataType::Null)
                .unwrap_or(DataType::Null),
            Func::If => args.get(1).copied().unwrap_or(DataType::Null),
        })
    }
}

/// Calls `f`; NULL in gives NULL out, except for COALESCE, CONCAT and IF.
pub fn call(f: Func, args: &[Value]) -> Result<Value, String> {
    use Value::*;
    if !matches!(f, Func::Coalesce | Func::If) && args.iter().any(Value::is_null) {
        return Ok(Null);
    }
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Null);
    let text = |i: usize| arg(i).as_str().map(str::to_owned).unwrap_or_default();
    let int = |i: usize| arg(i).as_i64().unwrap_or(0);
    Ok(match f {
        Func::Mod => match (arg(0), arg(1)) {
            (Int(_), Int(0)) => return Err("division by zero (MOD)".into()),
            (Int(a), Int(b)) => Int(a.wrapping_rem(b)),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => Double(a % b),
                _ => Null,
            },
        },
        Func::Abs => match arg(0) {
            Int(i) => Int(i.wrapping_abs()),
            Double(d) => Double(d.abs()),
            _ => Null,
        },
        Func::Upper => Str(text(0).to_uppercase().into()),
        Func::Lower => Str(text(0).to_lowercase().into()),
        Func::Trim => Str(text(0).trim().into()),
        Func::CharLength => Int(text(0).chars().count() as i64),
        Func::Concat => Str(args
            .iter()
            .map(|v| v.to_string())
            .collect::<String>()
            .into()),
        Func::Coalesce => args.iter().find(|v| !v.is_null()).cloned().unwrap_or(Null),
        Func::Floor => match arg(0) {
            Double(d) => Double(d.floor()),
            v => v,
        },
        Func::Ceil => match arg(0) {
            Double(d) => Double(d.ceil()),
            v => v,
        },
        Func::Round => {
            let digits = if args.len() > 1 { int(1) } else { 0 };
            match arg(0) {
                Double(d) => {
                    let scale = 10f64.powi(digits.clamp(-300, 300) as i32);
                    Double((d * scale).round() / scale)
                }
                v => v,
            }
        }
        Func::Power => Double(
            arg(0)
                .as_f64()
                .unwrap_or(0.0)
                .powf(arg(1).as_f64().unwrap_or(0.0)),
        ),
        Func::Sqrt => Double(arg(0).as_f64().unwrap_or(0.0).sqrt()),
        Func::Substring => {
            let s = text(0);
            let from = int(1).max(1) as usize - 1;
            let chars = s.chars().skip(from);
            let out: String = if args.len() > 2 {
                chars.take(int(2).max(0) as usize).collect()
            } else {
                chars.collect()
            };
            Str(out.into())
        }
        Func::SplitIndex => {
            let s = text(0);
            let delim = text(1);
            let i = int(2);
            if i < 0 || delim.is_empty() {
                Null
            } else {
                match s.split(delim.as_str()).nth(i as usize) {
                    Some(part) => Str(part.into()),
                    None => Null,
                }
            }
        }
        Func::DateFormat => match arg(0) {
            Timestamp(ms) => Str(date_format(ms, &text(1)).into()),
            _ => Null,
        },
        Func::Hour => match arg(0) {
            Timestamp(ms) => Int(ms.rem_euclid(86_400_000) / 3_600_000),
            _ => Null,
        },
        Func::If => match arg(0) {
            Bool(true) => arg(1),
            _ => arg(2),
        },
        Func::RegexpExtract => {
            let group = if args.len() > 2 { int(2) } else { 0 };
            regexp_extract(&text(0), &text(1), group)
        }
        Func::CountChar => match text(1).chars().next() {
            Some(c) => Int(text(0).chars().filter(|x| *x == c).count() as i64),
            None => return Err("count_char: the character argument is empty".into()),
        },
        Func::Proctime => Timestamp(wall_clock_ms()),
    })
}

/// Milliseconds since the epoch by the system clock (0 before 1970).
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The built-in function standing in for the Java UDF class `class`: the
/// classes the public Nexmark queries register.
pub fn by_java_class(class: &str) -> Option<Func> {
    match class {
        "com.github.nexmark.flink.udf.CountChar" => Some(Func::CountChar),
        _ => None,
    }
}

/// The Java classes [`by_java_class`] knows, for error messages.
pub const KNOWN_JAVA_CLASSES: &[&str] = &["com.github.nexmark.flink.udf.CountChar"];

/// Patterns compiled per thread: a query's patterns are few and constant,
/// and compiling one costs far more than a match.
const REGEX_CACHE_ENTRIES_MAX: usize = 64;

thread_local! {
    static REGEXES: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Checks a pattern as the planner sees it, so a literal that does not
/// compile is an error with a position rather than NULL on every row.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("the regular expression `{pattern}` does not compile: {e}"))
}

/// As Flink: group `group` of the first match; NULL when nothing matches,
/// the group took no part in the match, or does not exist (Flink logs and
/// answers NULL), and for a pattern that does not compile.
fn regexp_extract(s: &str, pattern: &str, group: i64) -> Value {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            let Ok(re) = regex::Regex::new(pattern) else {
                return Value::Null;
            };
            if cache.len() >= REGEX_CACHE_ENTRIES_MAX {
                cache.clear();
            }
            cache.insert(pattern.to_string(), re);
        }
        let Some(re) = cache.get(pattern) else {
            return Value::Null;
        };
        let found = usize::try_from(group)
            .ok()
            .and_then(|g| re.captures(s)?.get(g).map(|m| m.as_str().to_string()));
        found.map_or(Value::Null, |m| Value::Str(m.into()))
    })
}

/// Formats with Java-style `yyyy MM dd HH mm ss SSS` letters.
fn date_format(ms: i64, pattern: &str) -> String {
    let full = format_timestamp_ms(ms); // yyyy-MM-dd HH:mm:ss.SSS
    let part = |a: usize, b: usize| full.get(a..b).unwrap_or("").to_string();
    let mut out = pattern.to_string();
    for (token, a, b) in [
        ("yyyy", 0, 4),
        ("MM", 5, 7),
        ("dd", 8, 10),
        ("HH", 11, 13),
        ("mm", 14, 16),
        ("ss", 17, 19),
        ("SSS", 20, 23),
    ] {
        out = out.replace(token, &part(a, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_evaluate_like_flink() {
        assert_eq!(
            call(Func::Mod, &[Value::Int(246), Value::Int(123)]),
            Ok(Value::Int(0))
        );
        assert_eq!(
            call(Func::Upper, &[Value::Str("ab".into())]),
            Ok(Value::Str("AB".into()))
        );
        assert_eq!(call(Func::Upper, &[Value::Null]), Ok(Value::Null));
        assert_eq!(
            call(Func::Coalesce, &[Value::Null, Value::Int(3)]),
            Ok(Value::Int(3))
        );
        assert_eq!(
            call(
                Func::SplitIndex,
                &[
                    Value::Str("a/b/c".into()),
                    Value::Str("/".into()),
                    Value::Int(1)
                ]
            ),
            Ok(Value::Str("b".into()))
        );
        assert_eq!(
            call(
                Func::DateFormat,
                &[
                    Value::Timestamp(1_767_225_600_000),
                    Value::Str("yyyy-MM-dd HH:mm".into())
                ]
            ),
            Ok(Value::Str("2026-01-01 00:00".into()))
        );
        assert_eq!(
            Func::Mod.result_type(&[DataType::BigInt, DataType::BigInt]),
            Ok(DataType::BigInt)
        );
        assert!(Func::Abs.result_type(&[DataType::String]).is_err());
    }

    #[test]
    fn regexp_extract_and_count_char_follow_flink() {
        let s = |x: &str| Value::Str(x.into());
        let url = s("https://www.nexmark.com/x/item.htm?query=1&channel_id=8&a=1");
        let re = s("(&|^)channel_id=([^&]*)");
        assert_eq!(
            call(
                Func::RegexpExtract,
                &[url.clone(), re.clone(), Value::Int(2)]
            ),
            Ok(s("8"))
        );
        // No match (after `?` is neither `&` nor the start), a group past
        // the pattern's, and a default of group 0.
        assert_eq!(
            call(
                Func::RegexpExtract,
                &[s("x?channel_id=8"), re.clone(), Value::Int(2)]
            ),
            Ok(Value::Null)
        );
        assert_eq!(
            call(Func::RegexpExtract, &[url.clone(), re, Value::Int(3)]),
            Ok(Value::Null)
        );
        assert_eq!(
            call(Func::RegexpExtract, &[s("abc123"), s("[0-9]+")]),
            Ok(s("123"))
        );
        assert!(check_regex("(unclosed").is_err());
        assert_eq!(
            call(Func::CountChar, &[s("accdc"), s("c")]),
            Ok(Value::Int(3))
        );
        assert!(call(Func::CountChar, &[s("abc"), s("")]).is_err());
        assert_eq!(
            by_java_class("com.github.nexmark.flink.udf.CountChar"),
            Some(Func::CountChar)
        );
        assert_eq!(
            Func::by_name("count_char"),
            None,
            "a UDF needs CREATE FUNCTION"
        );
    }
}

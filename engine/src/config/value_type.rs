//! [`ValueType`]: what a key accepts, and parsing/validation of TOML and command-line values.

use std::fmt;

/// A validated value, independent of the field's Rust type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// Any unsigned integer field.
    UInt(u64),
    /// A boolean field.
    Bool(bool),
    /// A choice (canonical spelling) or a path.
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UInt(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

/// The values a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    /// An unsigned integer in `min..=max`.
    UInt {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of names (matched case-insensitively).
    Choice(&'static [&'static str]),
    /// A non-empty path.
    Path,
}

impl ValueType {
    /// Narrows an integer type to `min..=max`; other types are returned unchanged.
    pub(crate) const fn bounded(self, min: u64, max: u64) -> Self {
        match self {
            Self::UInt { .. } => Self::UInt { min, max },
            other => other,
        }
    }

    /// What this type accepts, as a phrase: "an integer in 0..=1_024".
    pub(crate) fn expectation(&self) -> String {
        match self {
            Self::UInt { min, max } => {
                format!(
                    "an integer in {}..={}",
                    group_digits(*min),
                    group_digits(*max)
                )
            }
            Self::Bool => "a boolean (true or false)".to_owned(),
            Self::Choice(names) => {
                let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Self::Path => "a non-empty path string".to_owned(),
        }
    }

    /// Validates a value from a TOML document. Types must match exactly
    /// (an integer key does not accept the string `"5"`).
    pub(crate) fn parse_toml(&self, value: &toml::Value) -> Option<Scalar> {
        match (self, value) {
            (Self::UInt { .. }, toml::Value::Integer(n)) => self.in_range(u64::try_from(*n).ok()?),
            (Self::Bool, toml::Value::Boolean(b)) => Some(Scalar::Bool(*b)),
            (Self::Choice(names), toml::Value::String(s)) => choose(names, s),
            (Self::Path, toml::Value::String(s)) => path(s),
            _ => None,
        }
    }

    /// Validates a value given as text on the command line. Surrounding whitespace is
    /// ignored, integers may use `_` separators, and choices/paths may be quoted.
    pub(crate) fn parse_text(&self, text: &str) -> Option<Scalar> {
        let text = text.trim();
        match self {
            Self::UInt { .. } => self.in_range(parse_uint(text)?),
            Self::Bool => {
                if text.eq_ignore_ascii_case("true") {
                    Some(Scalar::Bool(true))
                } else if text.eq_ignore_ascii_case("false") {
                    Some(Scalar::Bool(false))
                } else {
                    None
                }
            }
            Self::Choice(names) => choose(names, unquote(text)),
            Self::Path => path(unquote(text)),
        }
    }

    fn in_range(&self, n: u64) -> Option<Scalar> {
        match self {
            Self::UInt { min, max } if (*min..=*max).contains(&n) => Some(Scalar::UInt(n)),
            _ => None,
        }
    }
}

/// Renders a TOML value the way the user wrote it, for error messages; never panics.
pub(crate) fn render_toml(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => format!("{x:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

fn choose(names: &'static [&'static str], given: &str) -> Option<Scalar> {
    let given = given.trim();
    names
        .iter()
        .find(|name| name.eq_ignore_ascii_case(given))
        .map(|name| Scalar::Text((*name).to_owned()))
}

fn path(given: &str) -> Option<Scalar> {
    (!given.trim().is_empty()).then(|| Scalar::Text(given.to_owned()))
}

/// Strips one pair of matching surrounding quotes (`"..."` or `'...'`).
fn unquote(text: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|q| text.strip_prefix(*q).and_then(|rest| rest.strip_suffix(*q)))
        .unwrap_or(text)
}

/// Parses `[+]digits` with optional single `_` separators between digits.
fn parse_uint(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return None;
    }
    digits
        .bytes()
        .filter(|b| *b != b'_')
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
}

/// `1048576` → `1_048_576`, matching how ranges are written in TOML and Rust.
fn group_digits(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut groups = groups.into_iter().rev();
    let mut out = groups.next().unwrap_or(0).to_string();
    for group in groups {
        out.push_str(&format!("_{group:03}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT: ValueType = ValueType::UInt {
        min: 1,
        max: 1_048_576,
    };
    const CHOICE: ValueType = ValueType::Choice(&["heap", "rocksdb"]);

    #[test]
    fn integers_parse_text() {
        assert_eq!(INT.parse_text(" 42 "), Some(Scalar::UInt(42)));
        assert_eq!(INT.parse_text("+1_000"), Some(Scalar::UInt(1000)));
        assert_eq!(INT.parse_text("1048576"), Some(Scalar::UInt(1_048_576)));
        for bad in [
            "",
            "0",
            "1048577",
            "-1",
            "1__0",
            "_1",
            "1_",
            "1.5",
            "0x10",
            "abc",
            "+",
            "99999999999999999999999",
        ] {
            assert_eq!(INT.parse_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_from_toml_are_strict() {
        assert_eq!(
            INT.parse_toml(&toml::Value::Integer(7)),
            Some(Scalar::UInt(7))
        );
        assert_eq!(INT.parse_toml(&toml::Value::Integer(-7)), None);
        assert_eq!(INT.parse_toml(&toml::Value::String("7".into())), None);
        assert_eq!(INT.parse_toml(&toml::Value::Float(7.0)), None);
    }

    #[test]
    fn bools_choices_paths() {
        assert_eq!(ValueType::Bool.parse_text("TRUE"), Some(Scalar::Bool(true)));
        assert_eq!(ValueType::Bool.parse_text("no"), None);
        assert_eq!(
            CHOICE.parse_text("'RocksDB'"),
            Some(Scalar::Text("rocksdb".into()))
        );
        assert_eq!(
            CHOICE.parse_toml(&toml::Value::String("Heap".into())),
            Some(Scalar::Text("heap".into()))
        );
        assert_eq!(CHOICE.parse_text("rocks"), None);
        assert_eq!(
            ValueType::Path.parse_text("\"/a b\""),
            Some(Scalar::Text("/a b".into()))
        );
        assert_eq!(ValueType::Path.parse_text("  "), None);
        assert_eq!(ValueType::Path.parse_text("\"\""), None);
        assert_eq!(
            ValueType::Path.parse_text("\""),
            Some(Scalar::Text("\"".into()))
        );
    }

    #[test]
    fn expectations_read_well() {
        assert_eq!(INT.expectation(), "an integer in 1..=1_048_576");
        assert_eq!(CHOICE.expectation(), "one of \"heap\", \"rocksdb\"");
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(100), "100");
        assert_eq!(group_digits(86_400_000), "86_400_000");
        assert_eq!(group_digits(1_000_001), "1_000_001");
        assert_eq!(group_digits(u64::MAX), "18_446_744_073_709_551_615");
    }

    #[test]
    fn toml_values_render_with_their_type_visible() {
        assert_eq!(render_toml(&toml::Value::String("5".into())), "\"5\"");
        assert_eq!(render_toml(&toml::Value::Float(5.0)), "5.0");
        assert_eq!(render_toml(&toml::Value::Array(vec![])), "an array");
    }
}

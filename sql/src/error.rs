//! The errors of the SQL layer. A problem in the SQL text carries its
//! position, so it can be shown with the line and a caret under it.

use std::fmt;

/// A 1-based line and column (in characters) in a SQL script.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: u64,
    /// Column in characters, from 1.
    pub column: u64,
}

impl Pos {
    /// A position; (0, 0) means "unknown".
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }

    /// True when the position points into the text.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl From<sqlparser::tokenizer::Location> for Pos {
    fn from(l: sqlparser::tokenizer::Location) -> Self {
        Pos::new(l.line, l.column)
    }
}

/// What went wrong with a SQL statement or its run.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not valid SQL here.
    #[error("syntax error{}: {message}{}", at(pos), snippet_suffix(snippet))]
    Syntax {
        /// Where.
        pos: Pos,
        /// What was expected and what was found.
        message: String,
        /// The source line and a caret under `pos` (empty when unknown).
        snippet: String,
    },
    /// Valid SQL that refers to something wrong (unknown column, type mismatch...).
    #[error("error{}: {message}{}", at(pos), snippet_suffix(snippet))]
    Semantic {
        /// Where.
        pos: Pos,
        /// What is wrong and what was expected.
        message: String,
        /// The source line and a caret under `pos`.
        snippet: String,
    },
    /// Valid Flink SQL that Spate does not run (yet). Never silently approximated.
    #[error(
        "unsupported{}: {feature} is not supported yet{}",
        at(pos),
        snippet_suffix(snippet)
    )]
    Unsupported {
        /// Where.
        pos: Pos,
        /// The feature, named as a user would look it up.
        feature: String,
        /// The source line and a caret under `pos`.
        snippet: String,
    },
    /// A connector's option or input is wrong.
    #[error("table `{table}`: {message}")]
    Connector {
        /// The table whose connector failed.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// A row could not be evaluated (e.g. a failed cast) while the job ran.
    #[error("evaluation failed: {0}")]
    Eval(String),
    /// The engine refused or failed the job.
    #[error(transparent)]
    Engine(#[from] spate::SpateError),
    /// A bug in the SQL layer: a state the planner should have ruled out.
    #[error("internal error in the SQL planner: {0}")]
    Internal(String),
}

/// " at line L, column C", or nothing when the position is unknown.
fn at(pos: &Pos) -> String {
    if pos.is_known() {
        format!(" at line {}, column {}", pos.line, pos.column)
    } else {
        String::new()
    }
}

fn snippet_suffix(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!("\n{snippet}")
    }
}

/// The result type of this crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// The line of `source` at `pos` with a caret under its column.
pub fn caret_snippet(source: &str, pos: Pos) -> String {
    if !pos.is_known() {
        return String::new();
    }
    let Some(line) = source.lines().nth((pos.line - 1) as usize) else {
        return String::new();
    };
    let prefix = format!("{:>4} | ", pos.line);
    let pad: String = line
        .chars()
        .take(pos.column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{prefix}{line}\n{}{pad}^", " ".repeat(prefix.len()))
}

/// Builds positioned errors against one script's text.
#[derive(Clone, Copy)]
pub struct Errors<'a> {
    source: &'a str,
}

impl fmt::Debug for Errors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Errors")
    }
}

impl<'a> Errors<'a> {
    /// Errors pointing into `source`.
    pub fn new(source: &'a str) -> Self {
        Errors { source }
    }

    /// A syntax error.
    pub fn syntax(&self, pos: Pos, message: impl Into<String>) -> SqlError {
        SqlError::Syntax {
            pos,
            message: message.into(),
            snippet: caret_snippet(self.source, pos),
        }
    }

    /// A semantic error.
    pub fn semantic(&self, pos: Pos, message: impl Into<String>) -> SqlError {
        SqlError::Semantic {
            pos,
            message: message.into(),
            snippet: caret_snippet(self.source, pos),
        }
    }

    /// An unsupported feature.
    pub fn unsupported(&self, pos: Pos, feature: impl Into<String>) -> SqlError {
        SqlError::Unsupported {
            pos,
            feature: feature.into(),
            snippet: caret_snippet(self.source, pos),
        }
    }

    /// Turns sqlparser's error (whose message ends in " at Line: l, Column: c")
    /// into a positioned syntax error.
    pub fn from_parser(&self, err: sqlparser::parser::ParserError) -> SqlError {
        use sqlparser::parser::ParserError as P;
        let text = match err {
            P::TokenizerError(s) | P::ParserError(s) => s,
            P::RecursionLimitExceeded => {
                return self.syntax(Pos::default(), "the statement is nested too deeply");
            }
        };
        let (message, pos) = split_location(&text);
        let message = message.replace("Expected: ", "expected ");
        self.syntax(pos, message)
    }
}

/// Splits "msg at Line: 3, Column: 7" into ("msg", Pos(3, 7)).
fn split_location(text: &str) -> (String, Pos) {
    if let Some(i) = text.rfind(" at Line: ") {
        let (msg, rest) = text.split_at(i);
        let rest = rest.trim_start_matches(" at Line: ");
        let mut parts = rest.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return (msg.to_string(), Pos::new(line, column));
        }
    }
    (text.to_string(), Pos::default())
}

/// The caret snippet of `errors`' source at `pos`.
pub fn caret_snippet_of(errors: &Errors<'_>, pos: Pos) -> String {
    caret_snippet(errors.source, pos)
}

impl Errors<'_> {
    /// An internal error for a state the parser rules out.
    pub fn internal_at(&self, pos: Pos) -> SqlError {
        SqlError::Internal(format!(
            "unexpected statement shape at line {}, column {}",
            pos.line, pos.column
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let s = caret_snippet("SELECT a\nFROM  t WHERE", Pos::new(2, 7));
        assert_eq!(s, "   2 | FROM  t WHERE\n             ^");
    }

    #[test]
    fn parser_location_is_extracted() {
        let (m, p) = split_location("Expected: an expression, found: EOF at Line: 3, Column: 12");
        assert_eq!(m, "Expected: an expression, found: EOF");
        assert_eq!(p, Pos::new(3, 12));
    }
}

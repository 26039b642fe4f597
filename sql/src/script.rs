//! Splits a SQL script into statements and parses each, with Flink's
//! extensions handled on the token stream before sqlparser sees it.
//!
//! sqlparser (generic dialect) parses standard SQL. Flink adds clauses it
//! does not know: `WATERMARK FOR col AS expr` and computed columns
//! (`name AS expr`) inside `CREATE TABLE`'s column list, string-keyed
//! `WITH ('k' = 'v')` options, `SET 'k' = 'v'`, and `TABLE t` as a window
//! function's argument. Those tokens are taken out here and parsed on their
//! own; every token keeps its position in the script, so errors anywhere
//! point at the right line and column. A temporal table's `FOR SYSTEM_TIME
//! AS OF expr` (which the generic dialect does not parse) becomes an argument
//! list `(<SYSTEM_TIME_AS_OF>(expr))` on the table, which the binder knows.

use sqlparser::ast::{Expr, Ident, Insert, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer, Word};

use crate::error::{Errors, Pos, Result, SqlError};

/// A `CREATE TABLE`'s Flink-only parts.
#[derive(Clone, Debug, Default)]
pub struct TableExtras {
    /// Computed columns `name AS expr`, with the number of physical columns before each.
    pub computed: Vec<ComputedColumn>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(Ident, Expr)>,
    /// `WITH ('key' = 'value', ...)`, in order, with the key's position.
    pub options: Vec<(String, String, Pos)>,
    /// `PARTITIONED BY (column, ...)`, in order.
    pub partition_keys: Vec<Ident>,
}

/// `name AS expr` in a column list.
#[derive(Clone, Debug)]
pub struct ComputedColumn {
    /// The column.
    pub name: Ident,
    /// Its expression over the physical columns.
    pub expr: Expr,
    /// How many physical columns precede it (its place in the schema).
    pub after_physical: usize,
}

/// `CREATE FUNCTION`, as written.
#[derive(Clone, Debug)]
pub struct CreateFunction {
    /// The function's name (the last part of a qualified name).
    pub name: String,
    /// The implementing class.
    pub class: String,
    /// `LANGUAGE ...`, upper-cased, if given.
    pub language: Option<String>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Where the name is.
    pub name_pos: Pos,
    /// Where the class string is.
    pub class_pos: Pos,
}

/// One statement of a script.
#[derive(Clone, Debug)]
pub enum ScriptStatement {
    /// `SET 'key' = 'value'`.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `RESET 'key'`.
    Reset {
        /// The key (`None`: every key).
        key: Option<String>,
    },
    /// `CREATE [TEMPORARY] TABLE`, with its Flink parts.
    CreateTable(Box<Statement>, Box<TableExtras>),
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class'
    /// [LANGUAGE lang]` (Flink's form, which sqlparser does not parse).
    CreateFunction(CreateFunction),
    /// Anything else sqlparser parsed.
    Sql(Box<Statement>),
    /// `EXECUTE STATEMENT SET BEGIN INSERT ...; ... END;` (or the SQL
    /// client's `BEGIN STATEMENT SET; ... END;`): INSERTs run as one job.
    StatementSet(Vec<Insert>),
    /// Opens a statement set; `parse_script` folds it into `StatementSet`.
    BeginStatementSet,
    /// `END`, which closes a statement set.
    End,
}

/// A parsed statement and where it starts.
#[derive(Clone, Debug)]
pub struct Located {
    /// The statement.
    pub stmt: ScriptStatement,
    /// Its first token.
    pub pos: Pos,
}

/// Parses every statement of `sql`.
pub fn parse_script(sql: &str) -> Result<Vec<Located>> {
    let errors = Errors::new(sql);
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| errors.syntax(Pos::from(e.location), e.message.clone()))?;
    let mut out = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    for t in tokens {
        match t.token {
            Token::SemiColon => parse_into(std::mem::take(&mut current), &errors, &mut out)?,
            Token::Whitespace(_) => {}
            _ => current.push(t),
        }
    }
    parse_into(current, &errors, &mut out)?;
    fold_statement_sets(out, &errors)
}

/// Parses one statement's tokens onto `out`. `EXECUTE STATEMENT SET BEGIN
/// INSERT ...` gives two: the opening of the set and its first INSERT.
fn parse_into(
    mut tokens: Vec<TokenWithSpan>,
    errors: &Errors<'_>,
    out: &mut Vec<Located>,
) -> Result<()> {
    let words = |ws: &[Keyword]| {
        ws.iter()
            .enumerate()
            .all(|(i, w)| is_keyword(tokens.get(i), *w))
    };
    let opening = if words(&[
        Keyword::EXECUTE,
        Keyword::STATEMENT,
        Keyword::SET,
        Keyword::BEGIN,
    ]) {
        4
    } else if words(&[Keyword::BEGIN, Keyword::STATEMENT, Keyword::SET]) {
        3
    } else {
        0
    };
    if opening > 0 {
        out.push(Located {
            stmt: ScriptStatement::BeginStatementSet,
            pos: pos(&tokens[0]),
        });
        tokens.drain(..opening);
    }
    if let Some(s) = parse_statement(tokens, errors)? {
        out.push(s);
    }
    Ok(())
}

/// Gathers the INSERTs between a statement set's opening and its `END`.
fn fold_statement_sets(stmts: Vec<Located>, errors: &Errors<'_>) -> Result<Vec<Located>> {
    let only_inserts =
        "only INSERT INTO statements are allowed in a statement set; expected INSERT INTO or END";
    let mut out = Vec::new();
    let mut open: Option<(Pos, Vec<Insert>)> = None;
    for Located { stmt, pos } in stmts {
        match (stmt, open.as_mut()) {
            (ScriptStatement::BeginStatementSet, None) => open = Some((pos, Vec::new())),
            (ScriptStatement::BeginStatementSet, Some(_)) => {
                return Err(errors.syntax(
                    pos,
                    "a statement set cannot be nested; expected INSERT INTO or END",
                ));
            }
            (ScriptStatement::End, Some(_)) => {
                if let Some((pos, inserts)) = open.take() {
                    if inserts.is_empty() {
                        return Err(errors.semantic(pos, "the statement set holds no INSERT INTO"));
                    }
                    out.push(Located {
                        stmt: ScriptStatement::StatementSet(inserts),
                        pos,
                    });
                }
            }
            (ScriptStatement::End, None) => {
                return Err(errors.syntax(pos, "END without a statement set to close"));
            }
            (ScriptStatement::Sql(stmt), Some((_, inserts))) => match *stmt {
                Statement::Insert(ins) => inserts.push(ins),
                _ => return Err(errors.semantic(pos, only_inserts)),
            },
            (_, Some(_)) => return Err(errors.semantic(pos, only_inserts)),
            (stmt, None) => out.push(Located { stmt, pos }),
        }
    }
    if let Some((pos, _)) = open {
        return Err(errors.syntax(pos, "the statement set opened here has no END"));
    }
    Ok(out)
}

/// True when `sql` ends a statement: its last token (comments and
/// whitespace aside) is a `;` outside any quote or comment. An interactive
/// shell reads lines until this holds.
pub fn ends_a_statement(sql: &str) -> bool {
    let dialect = GenericDialect {};
    // An unterminated quote or comment fails to tokenize: not complete.
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return false;
    };
    matches!(
        tokens
            .iter()
            .rev()
            .find(|t| !matches!(t, Token::Whitespace(_))),
        Some(Token::SemiColon)
    )
}

fn pos(t: &TokenWithSpan) -> Pos {
    Pos::from(t.span.start)
}

fn is_keyword(t: Option<&TokenWithSpan>, k: Keyword) -> bool {
    matches!(t, Some(TokenWithSpan { token: Token::Word(w), .. }) if w.keyword == k && w.quote_style.is_none())
}

fn is_word(t: Option<&TokenWithSpan>, text: &str) -> bool {
    matches!(t, Some(TokenWithSpan { token: Token::Word(w), .. }) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text))
}

fn string_of(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.clone()),
        Token::Word(w) => Some(w.value.clone()),
        Token::Number(n, _) => Some(n.clone()),
        _ => None,
    }
}

fn parse_statement(tokens: Vec<TokenWithSpan>, errors: &Errors<'_>) -> Result<Option<Located>> {
    let Some(first) = tokens.first() else {
        return Ok(None);
    };
    let start = pos(first);
    if is_keyword(Some(first), Keyword::SET) {
        return parse_set(&tokens, errors).map(|stmt| Some(Located { stmt, pos: start }));
    }
    if tokens.len() == 1 && is_keyword(Some(first), Keyword::END) {
        return Ok(Some(Located {
            stmt: ScriptStatement::End,
            pos: start,
        }));
    }
    if is_create_function(&tokens) {
        return parse_create_function(&tokens, errors).map(|f| {
            Some(Located {
                stmt: ScriptStatement::CreateFunction(f),
                pos: start,
            })
        });
    }
    if is_keyword(Some(first), Keyword::RESET) {
        let key = tokens.get(1).and_then(string_of);
        return Ok(Some(Located {
            stmt: ScriptStatement::Reset { key },
            pos: start,
        }));
    }
    let is_create_table = is_keyword(Some(first), Keyword::CREATE)
        && (is_keyword(tokens.get(1), Keyword::TABLE)
            || (is_keyword(tokens.get(1), Keyword::TEMPORARY)
                && is_keyword(tokens.get(2), Keyword::TABLE)));
    let (tokens, extras) = if is_create_table {
        let (t, x) = split_create_table(tokens, errors)?;
        (t, Some(x))
    } else {
        (
            mark_system_time(drop_table_arguments(tokens), errors)?,
            None,
        )
    };
    let tokens = drop_explain_details(tokens);
    let explained = is_keyword(tokens.first(), Keyword::EXPLAIN).then(|| tokens.clone());
    let stmt = match parse_tokens(tokens, errors, |p| p.parse_statement()) {
        Ok(stmt) => stmt,
        Err(e) => {
            return Err(explained
                .and_then(|t| explained_error(t, errors))
                .unwrap_or(e));
        }
    };
    let stmt = match extras {
        Some(x) => ScriptStatement::CreateTable(Box::new(stmt), Box::new(x)),
        None => ScriptStatement::Sql(Box::new(stmt)),
    };
    Ok(Some(Located { stmt, pos: start }))
}

/// Flink's `EXPLAIN` details (`EXPLAIN CHANGELOG_MODE, ESTIMATED_COST
/// SELECT ...`) and its older `EXPLAIN PLAN FOR ...`, dropped: the plan
/// printed already shows each aggregate's changelog, and the rest has no
/// counterpart here, so the statement is explained as without them.
fn drop_explain_details(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    const DETAILS: [&str; 4] = [
        "ESTIMATED_COST",
        "CHANGELOG_MODE",
        "PLAN_ADVICE",
        "JSON_EXECUTION_PLAN",
    ];
    if !is_keyword(tokens.first(), Keyword::EXPLAIN) {
        return tokens;
    }
    if is_keyword(tokens.get(1), Keyword::PLAN) && is_keyword(tokens.get(2), Keyword::FOR) {
        tokens.drain(1..3);
        return tokens;
    }
    let is_detail = |t: Option<&TokenWithSpan>| {
        matches!(t.map(|t| &t.token), Some(Token::Word(w))
            if w.quote_style.is_none() && DETAILS.iter().any(|d| w.value.eq_ignore_ascii_case(d)))
    };
    let mut end = 1;
    while is_detail(tokens.get(end)) {
        end += 1;
        if tokens.get(end).is_some_and(|t| t.token == Token::Comma)
            && is_detail(tokens.get(end + 1))
        {
            end += 1;
        }
    }
    tokens.drain(1..end);
    tokens
}

/// The error of the statement an `EXPLAIN` explains, parsed alone. When
/// that statement does not parse, sqlparser falls back to `EXPLAIN
/// <table name>` and reports the token after its first word, which is not
/// where the problem is. `None` when no statement follows or it parses.
fn explained_error(tokens: Vec<TokenWithSpan>, errors: &Errors<'_>) -> Option<SqlError> {
    let starts = [
        Keyword::SELECT,
        Keyword::INSERT,
        Keyword::WITH,
        Keyword::VALUES,
    ];
    let at = tokens
        .iter()
        .position(|t| starts.iter().any(|k| is_keyword(Some(t), *k)))?;
    parse_tokens(tokens.get(at..)?.to_vec(), errors, |p| p.parse_statement()).err()
}

/// Runs `f` on a parser over `tokens` and requires it to consume them all.
fn parse_tokens<T>(
    tokens: Vec<TokenWithSpan>,
    errors: &Errors<'_>,
    f: impl FnOnce(&mut Parser<'_>) -> Result<T, sqlparser::parser::ParserError>,
) -> Result<T> {
    match parse_prefix(tokens, errors, f)? {
        (_, _, Some(next)) => Err(errors.syntax(
            pos(&next),
            format!("expected the end of the statement, found {}", next.token),
        )),
        (value, _, None) => Ok(value),
    }
}

/// Runs `f` on a parser over `tokens`: what it returns, how many tokens it
/// took, and the first token it left (`None` when it took them all).
fn parse_prefix<T>(
    mut tokens: Vec<TokenWithSpan>,
    errors: &Errors<'_>,
    f: impl FnOnce(&mut Parser<'_>) -> Result<T, sqlparser::parser::ParserError>,
) -> Result<(T, usize, Option<TokenWithSpan>)> {
    let n = tokens.len();
    let end = tokens
        .last()
        .map(|t| t.span.end)
        .unwrap_or(Location::new(1, 1));
    tokens.push(TokenWithSpan::new(Token::EOF, Span::new(end, end)));
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let value = f(&mut parser).map_err(|e| errors.from_parser(e))?;
    let next = parser.peek_token();
    let left = (next.token != Token::EOF).then_some(next);
    Ok((value, parser.index().min(n), left))
}

/// `CREATE [TEMPORARY [SYSTEM]] FUNCTION`.
fn is_create_function(tokens: &[TokenWithSpan]) -> bool {
    let mut i = 1;
    if !is_keyword(tokens.first(), Keyword::CREATE) {
        return false;
    }
    if is_keyword(tokens.get(i), Keyword::TEMPORARY) {
        i += 1;
        if is_keyword(tokens.get(i), Keyword::SYSTEM) {
            i += 1;
        }
    }
    is_keyword(tokens.get(i), Keyword::FUNCTION)
}

/// Parses what [`is_create_function`] recognised.
fn parse_create_function(tokens: &[TokenWithSpan], errors: &Errors<'_>) -> Result<CreateFunction> {
    let at = |i: usize| tokens.get(i).or(tokens.last()).map(pos).unwrap_or_default();
    let mut i = 1;
    while !is_keyword(tokens.get(i), Keyword::FUNCTION) {
        i += 1;
    }
    i += 1;
    let if_not_exists = is_keyword(tokens.get(i), Keyword::IF)
        && is_keyword(tokens.get(i + 1), Keyword::NOT)
        && is_keyword(tokens.get(i + 2), Keyword::EXISTS);
    if if_not_exists {
        i += 3;
    }
    // A qualified name `catalog.db.name` registers `name`.
    let name_pos = at(i);
    let mut name = None;
    while let Some(TokenWithSpan {
        token: Token::Word(w),
        ..
    }) = tokens.get(i)
    {
        name = Some(w.value.clone());
        i += 1;
        if !matches!(tokens.get(i).map(|t| &t.token), Some(Token::Period)) {
            break;
        }
        i += 1;
    }
    let Some(name) = name else {
        return Err(errors.syntax(at(i), "expected the function's name after CREATE FUNCTION"));
    };
    if !is_keyword(tokens.get(i), Keyword::AS) {
        return Err(errors.syntax(
            at(i),
            "expected AS 'class' after the function's name, as in CREATE FUNCTION f AS 'com.example.F'",
        ));
    }
    let class_pos = at(i + 1);
    let class = match tokens.get(i + 1).map(|t| &t.token) {
        Some(Token::SingleQuotedString(c)) | Some(Token::DoubleQuotedString(c)) => c.clone(),
        _ => {
            return Err(errors.syntax(
                class_pos,
                "expected the class name as a quoted string after AS",
            ));
        }
    };
    i += 2;
    let mut language = None;
    if is_keyword(tokens.get(i), Keyword::LANGUAGE) {
        language = tokens
            .get(i + 1)
            .and_then(string_of)
            .map(|l| l.to_ascii_uppercase());
        if language.is_none() {
            return Err(errors.syntax(at(i + 1), "expected a language after LANGUAGE"));
        }
        i += 2;
    }
    if let Some(extra) = tokens.get(i) {
        return Err(errors.syntax(
            pos(extra),
            "expected the end of the CREATE FUNCTION statement",
        ));
    }
    Ok(CreateFunction {
        name,
        class,
        language,
        if_not_exists,
        name_pos,
        class_pos,
    })
}

/// `SET 'key' = 'value'` (quotes optional).
fn parse_set(tokens: &[TokenWithSpan], errors: &Errors<'_>) -> Result<ScriptStatement> {
    let key = tokens.get(1);
    let eq = tokens.get(2);
    let value = tokens.get(3);
    let at = |i: usize| tokens.get(i).or(tokens.last()).map(pos).unwrap_or_default();
    let Some(key) = key.and_then(string_of) else {
        return Err(errors.syntax(
            at(1),
            "expected a quoted key after SET, as in SET 'key' = 'value'",
        ));
    };
    if !matches!(eq.map(|t| &t.token), Some(Token::Eq)) {
        return Err(errors.syntax(at(2), "expected `=` after the key of SET"));
    }
    let Some(value) = value.and_then(string_of) else {
        return Err(errors.syntax(at(3), "expected a quoted value after `=`"));
    };
    if let Some(extra) = tokens.get(4) {
        return Err(errors.syntax(pos(extra), "expected the end of the SET statement"));
    }
    Ok(ScriptStatement::Set { key, value })
}

/// Removes `TABLE` in `f(TABLE t, ...)` (a window function's table
/// argument), which sqlparser does not parse; the planner knows the first
/// argument of a window function names a table.
fn drop_table_arguments(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        let after_open = matches!(
            out.last().map(|p| &p.token),
            Some(Token::LParen | Token::Comma)
        );
        let next_is_name = matches!(tokens.get(i + 1).map(|n| &n.token), Some(Token::Word(_)));
        if after_open && next_is_name && is_keyword(Some(t), Keyword::TABLE) {
            i = mark_partition_by(&tokens, i + 1, &mut out);
            continue;
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

/// The name of the function that stands for a table argument's `PARTITION
/// BY` clause (`SESSION(TABLE t PARTITION BY k, ...)`). No identifier the
/// tokenizer makes contains spaces unquoted, so a script cannot name it.
pub const PARTITION_BY: &str = "PARTITION BY";

/// Copies the table name (possibly qualified) that starts at `at`; when a
/// `PARTITION BY` clause follows, `t PARTITION BY k` becomes `t,
/// <PARTITION_BY>(k)` and `t PARTITION BY (a, b)` becomes `t,
/// <PARTITION_BY>(a, b)`. Returns the index after what it read.
fn mark_partition_by(tokens: &[TokenWithSpan], at: usize, out: &mut Vec<TokenWithSpan>) -> usize {
    // The name: words joined by periods.
    let mut i = at;
    if let Some(name) = tokens.get(i) {
        out.push(name.clone());
        i += 1;
    }
    while let (Some(dot), Some(part)) = (tokens.get(i), tokens.get(i + 1)) {
        if dot.token != Token::Period || !matches!(part.token, Token::Word(_)) {
            break;
        }
        out.extend([dot.clone(), part.clone()]);
        i += 2;
    }
    let Some(first) = tokens.get(i) else {
        return i;
    };
    if !(is_keyword(Some(first), Keyword::PARTITION) && is_keyword(tokens.get(i + 1), Keyword::BY))
    {
        return i;
    }
    let span = first.span;
    let mark = |token: Token| TokenWithSpan::new(token, span);
    out.push(mark(Token::Comma));
    out.push(mark(Token::Word(Word {
        value: PARTITION_BY.into(),
        quote_style: None,
        keyword: Keyword::NoKeyword,
    })));
    i += 2;
    if tokens.get(i).is_some_and(|t| t.token == Token::LParen) {
        // `(a, b)`: copied with its parentheses as the call's.
        let close = matching_paren(tokens, i).unwrap_or(tokens.len().saturating_sub(1));
        out.extend(tokens.get(i..=close).unwrap_or_default().iter().cloned());
        return close + 1;
    }
    // One column, possibly qualified: up to the next comma or parenthesis.
    out.push(mark(Token::LParen));
    while let Some(t) = tokens.get(i) {
        if matches!(t.token, Token::Comma | Token::RParen) {
            break;
        }
        out.push(t.clone());
        i += 1;
    }
    out.push(mark(Token::RParen));
    i
}

/// The name of the function that stands for `FOR SYSTEM_TIME AS OF expr`
/// in a table's argument list. No identifier the tokenizer makes contains
/// spaces unquoted, so a script cannot name it.
pub const SYSTEM_TIME_AS_OF: &str = "FOR SYSTEM_TIME AS OF";

/// `t FOR SYSTEM_TIME AS OF expr` becomes `t (<SYSTEM_TIME_AS_OF>(expr))`.
fn mark_system_time(tokens: Vec<TokenWithSpan>, errors: &Errors<'_>) -> Result<Vec<TokenWithSpan>> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len() + 4);
    let mut rest = tokens.as_slice();
    while let Some(first) = rest.first() {
        let marks = is_keyword(Some(first), Keyword::FOR)
            && is_keyword(rest.get(1), Keyword::SYSTEM_TIME)
            && is_keyword(rest.get(2), Keyword::AS)
            && is_keyword(rest.get(3), Keyword::OF);
        if !marks {
            out.push(first.clone());
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let after = rest.get(4..).unwrap_or_default();
        let used = expression_length(after, errors)?;
        let span = first.span;
        let mark = |token: Token| TokenWithSpan::new(token, span);
        out.push(mark(Token::LParen));
        out.push(mark(Token::Word(Word {
            value: SYSTEM_TIME_AS_OF.into(),
            quote_style: None,
            keyword: Keyword::NoKeyword,
        })));
        out.push(mark(Token::LParen));
        out.extend(after.iter().take(used).cloned());
        out.push(mark(Token::RParen));
        out.push(mark(Token::RParen));
        rest = after.get(used..).unwrap_or_default();
    }
    Ok(out)
}

/// How many of `tokens` the expression they start with takes.
fn expression_length(tokens: &[TokenWithSpan], errors: &Errors<'_>) -> Result<usize> {
    parse_prefix(tokens.to_vec(), errors, |p| p.parse_expr()).map(|(_, used, _)| used)
}

/// True when a column list entry is a column whose name sqlparser would
/// take for the start of a MySQL-style constraint (`key BIGINT`, as
/// nexmark-flink's q13 declares one): a bare `KEY` or `INDEX` followed by
/// a type name rather than `(`.
fn names_a_column_like_a_constraint(entry: &[TokenWithSpan]) -> bool {
    (is_keyword(entry.first(), Keyword::KEY) || is_keyword(entry.first(), Keyword::INDEX))
        && matches!(entry.get(1).map(|t| &t.token), Some(Token::Word(_)))
}

/// The index of the token closing the parenthesis opened at `open`.
fn matching_paren(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Takes computed columns, the watermark and the `WITH` options out of a
/// `CREATE TABLE`'s tokens.
fn split_create_table(
    tokens: Vec<TokenWithSpan>,
    errors: &Errors<'_>,
) -> Result<(Vec<TokenWithSpan>, TableExtras)> {
    let mut extras = TableExtras::default();
    let Some(open) = tokens.iter().position(|t| t.token == Token::LParen) else {
        // No column list: let sqlparser report what it expected.
        return Ok((tokens, extras));
    };
    let Some(close) = matching_paren(&tokens, open) else {
        let last = tokens.last().map(pos).unwrap_or_default();
        return Err(errors.syntax(last, "expected `)` to close the column list"));
    };
    // Column entries: runs of tokens between commas at depth 1.
    let mut entries: Vec<(usize, usize)> = Vec::new();
    let (mut depth, mut begin) = (0usize, open + 1);
    for i in open + 1..close {
        match tokens.get(i).map(|t| &t.token) {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::Comma) if depth == 0 => {
                entries.push((begin, i));
                begin = i + 1;
            }
            _ => {}
        }
    }
    entries.push((begin, close));
    let mut keep = vec![true; tokens.len()];
    let mut plain_names = Vec::new();
    let mut physical = 0usize;
    let mut kept_entries = 0usize;
    for &(b, e) in &entries {
        let entry = tokens.get(b..e).unwrap_or(&[]);
        let taken = if is_word(entry.first(), "WATERMARK") && is_keyword(entry.get(1), Keyword::FOR)
        {
            let col = entry.get(2).and_then(|t| match &t.token {
                Token::Word(w) => Some(Ident::with_span(t.span, w.value.clone())),
                _ => None,
            });
            let Some(col) = col else {
                let at = entry.get(2).or(entry.last()).map(pos).unwrap_or_default();
                return Err(errors.syntax(at, "expected the time column after WATERMARK FOR"));
            };
            if !is_keyword(entry.get(3), Keyword::AS) {
                let at = entry.get(3).or(entry.last()).map(pos).unwrap_or_default();
                return Err(errors.syntax(
                    at,
                    "expected AS and the watermark expression after WATERMARK FOR column",
                ));
            }
            if extras.watermark.is_some() {
                return Err(errors.semantic(
                    entry.first().map(pos).unwrap_or_default(),
                    "a table can have only one WATERMARK",
                ));
            }
            let expr = parse_expr_tokens(entry.get(4..).unwrap_or(&[]), entry.get(3), errors)?;
            extras.watermark = Some((col, expr));
            true
        } else if is_keyword(entry.get(1), Keyword::AS) {
            let name = match entry.first().map(|t| (&t.token, t.span)) {
                Some((Token::Word(w), span)) => Ident::with_span(span, w.value.clone()),
                _ => {
                    let at = entry.first().map(pos).unwrap_or_default();
                    return Err(errors.syntax(at, "expected a column name before AS"));
                }
            };
            let expr = parse_expr_tokens(entry.get(2..).unwrap_or(&[]), entry.get(1), errors)?;
            extras.computed.push(ComputedColumn {
                name,
                expr,
                after_physical: physical,
            });
            true
        } else {
            physical += 1;
            if names_a_column_like_a_constraint(entry) {
                plain_names.push(b);
            }
            false
        };
        if taken {
            // Drop the entry and the comma that separates it from a kept one.
            for k in keep.iter_mut().take(e).skip(b) {
                *k = false;
            }
            let comma = if kept_entries > 0 {
                b.checked_sub(1)
            } else {
                Some(e)
            };
            if let Some(k) = comma.filter(|&c| c != close).and_then(|c| keep.get_mut(c)) {
                *k = false;
            }
        } else {
            kept_entries += 1;
        }
    }
    let mut tokens = tokens;
    for i in plain_names {
        if let Some(TokenWithSpan {
            token: Token::Word(w),
            ..
        }) = tokens.get_mut(i)
        {
            w.keyword = Keyword::NoKeyword;
        }
    }
    // `PARTITIONED BY (col, ...)` after the column list (Flink's order).
    let mut close = close;
    if is_word(tokens.get(close + 1), "PARTITIONED") {
        let pclose = partition_keys(&tokens, close + 1, errors, &mut extras.partition_keys)?;
        for k in keep.iter_mut().take(pclose + 1).skip(close + 1) {
            *k = false;
        }
        close = pclose;
    }
    // `WITH ( 'k' = 'v', ... )` after the column list.
    if is_keyword(tokens.get(close + 1), Keyword::WITH) {
        let wopen = close + 2;
        if tokens.get(wopen).map(|t| &t.token) != Some(&Token::LParen) {
            let at = tokens
                .get(wopen)
                .or(tokens.last())
                .map(pos)
                .unwrap_or_default();
            return Err(errors.syntax(at, "expected `(` after WITH"));
        }
        let Some(wclose) = matching_paren(&tokens, wopen) else {
            let at = tokens.last().map(pos).unwrap_or_default();
            return Err(errors.syntax(at, "expected `)` to close the WITH options"));
        };
        let opts = tokens.get(wopen + 1..wclose).unwrap_or(&[]);
        let mut i = 0;
        while i < opts.len() {
            let k = opts.get(i);
            let key = k.and_then(|t| match &t.token {
                Token::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            });
            let Some(key) = key else {
                let at = k.map(pos).unwrap_or_default();
                return Err(errors.syntax(
                    at,
                    "expected a quoted option key, as in 'connector' = 'print'",
                ));
            };
            if opts.get(i + 1).map(|t| &t.token) != Some(&Token::Eq) {
                let at = opts.get(i + 1).or(k).map(pos).unwrap_or_default();
                return Err(errors.syntax(at, "expected `=` after the option key"));
            }
            let value = opts.get(i + 2).and_then(|t| match &t.token {
                Token::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            });
            let Some(value) = value else {
                let at = opts
                    .get(i + 2)
                    .or(opts.get(i + 1))
                    .map(pos)
                    .unwrap_or_default();
                return Err(errors.syntax(at, "expected a quoted option value"));
            };
            extras
                .options
                .push((key, value, k.map(pos).unwrap_or_default()));
            match opts.get(i + 3).map(|t| &t.token) {
                None => i += 3,
                Some(Token::Comma) => i += 4,
                Some(_) => {
                    let at = opts.get(i + 3).map(pos).unwrap_or_default();
                    return Err(errors.syntax(at, "expected `,` or `)` after an option"));
                }
            }
        }
        for k in keep.iter_mut().take(wclose + 1).skip(close + 1) {
            *k = false;
        }
    }
    let kept = tokens
        .into_iter()
        .zip(keep)
        .filter_map(|(t, k)| k.then_some(t))
        .collect();
    Ok((kept, extras))
}

/// Reads `PARTITIONED BY (a, b, ...)` starting at `at` (the word
/// PARTITIONED) into `keys`; returns the index of its closing `)`.
fn partition_keys(
    tokens: &[TokenWithSpan],
    at: usize,
    errors: &Errors<'_>,
    keys: &mut Vec<Ident>,
) -> Result<usize> {
    let here = |i: usize| tokens.get(i).or(tokens.last()).map(pos).unwrap_or_default();
    if !is_keyword(tokens.get(at + 1), Keyword::BY) {
        return Err(errors.syntax(here(at + 1), "expected BY after PARTITIONED"));
    }
    if tokens.get(at + 2).map(|t| &t.token) != Some(&Token::LParen) {
        return Err(errors.syntax(here(at + 2), "expected `(` after PARTITIONED BY"));
    }
    let mut i = at + 3;
    loop {
        match tokens.get(i).map(|t| (&t.token, t.span)) {
            Some((Token::Word(w), span)) => keys.push(Ident::with_span(span, w.value.clone())),
            _ => return Err(errors.syntax(here(i), "expected a partition column name")),
        }
        match tokens.get(i + 1).map(|t| &t.token) {
            Some(Token::Comma) => i += 2,
            Some(Token::RParen) => return Ok(i + 1),
            _ => {
                return Err(errors.syntax(
                    here(i + 1),
                    "expected `,` or `)` after a partition column; PARTITIONED BY lists column names only",
                ));
            }
        }
    }
}

/// Parses an expression made of exactly `tokens`; `before` is the token
/// in front of it (for the position of an empty expression).
fn parse_expr_tokens(
    tokens: &[TokenWithSpan],
    before: Option<&TokenWithSpan>,
    errors: &Errors<'_>,
) -> Result<Expr> {
    if tokens.is_empty() {
        let at = before.map(|t| Pos::from(t.span.end)).unwrap_or_default();
        return Err(errors.syntax(at, "expected an expression"));
    }
    parse_tokens(tokens.to_vec(), errors, |p| p.parse_expr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_ends_at_a_semicolon_outside_quotes_and_comments() {
        assert!(ends_a_statement("SELECT 1;"));
        assert!(ends_a_statement("SELECT 1\nFROM t; -- done\n  "));
        assert!(!ends_a_statement("SELECT 1"));
        assert!(!ends_a_statement("SELECT ';"));
        assert!(!ends_a_statement("SELECT 1 /* ; */"));
        assert!(!ends_a_statement("SELECT 1 -- ;"));
        assert!(!ends_a_statement(""));
    }
    use crate::error::SqlError;

    const DDL: &str = "CREATE TABLE bid (\n  auction BIGINT,\n  price BIGINT,\n  dateTime TIMESTAMP(3),\n  cents AS price * 100,\n  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND\n) WITH (\n  'connector' = 'nexmark',\n  'events.num' = '1000'\n);\nSET 'parallelism.default' = '2';";

    #[test]
    fn flink_ddl_parts_are_split_out() {
        let stmts = parse_script(DDL).expect("parses");
        assert_eq!(stmts.len(), 2);
        let ScriptStatement::CreateTable(stmt, extras) = &stmts[0].stmt else {
            panic!("not a create table: {:?}", stmts[0].stmt);
        };
        let Statement::CreateTable(ct) = stmt.as_ref() else {
            panic!("not a create table");
        };
        assert_eq!(ct.columns.len(), 3);
        assert_eq!(extras.computed.len(), 1);
        assert_eq!(extras.computed[0].after_physical, 3);
        assert_eq!(extras.computed[0].expr.to_string(), "price * 100");
        let (col, wm) = extras.watermark.as_ref().expect("watermark");
        assert_eq!(col.value, "dateTime");
        assert_eq!(wm.to_string(), "dateTime - INTERVAL '4' SECOND");
        assert_eq!(extras.options[1].0, "events.num");
        assert_eq!(extras.options[1].2, Pos::new(9, 3));
        assert!(
            matches!(&stmts[1].stmt, ScriptStatement::Set { key, value } if key == "parallelism.default" && value == "2")
        );
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let err = parse_script("SELECT a,\n  FROM t WHERE").expect_err("bad");
        let SqlError::Syntax { pos, snippet, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(pos.line, 2, "{err}");
        assert!(snippet.contains('^'));
        let err = parse_script("CREATE TABLE t (a INT) WITH ('connector' 'x')").expect_err("bad");
        assert!(
            err.to_string().contains("line 1, column 42")
                && err.to_string().contains("expected `=`"),
            "{err}"
        );
    }

    #[test]
    fn window_table_argument_parses() {
        let sql =
            "SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))";
        let stmts = parse_script(sql).expect("parses");
        assert_eq!(stmts.len(), 1);
    }
}

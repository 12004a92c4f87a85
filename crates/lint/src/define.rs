//! `summa.define('name', $$SELECT …$$ [, options])` calls: the safe way to
//! change a summary in a migration.
//!
//! A call is found from the tokens of one statement (so it is seen wherever
//! the statement puts it: `SELECT summa.define(…)`, `SELECT * FROM
//! summa.define(…)`, `PERFORM` is not visible inside a `DO` body). Only calls
//! whose first two arguments are string literals (plain, `E''`, or
//! dollar-quoted, optionally cast with `::text`) are extracted; the linter
//! cannot know the SELECT of any other call. The linter itself never judges
//! the SELECT: a caller with a database plans it and reports
//! `define-unmaintainable` (see [`crate::lint_paths_with`]).

use serde::Serialize;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Word};

use crate::srcmap::{Pos, SourceMap};

/// One `summa.define` call, positions in the original file (1-based,
/// columns in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefineCall {
    /// The file, as printed in findings.
    pub file: String,
    /// Line of `summa` in `summa.define(`.
    pub line: usize,
    /// Column of `summa` in `summa.define(`.
    pub column: usize,
    /// Line just past the name literal.
    pub end_line: usize,
    /// Column just past the name literal.
    pub end_column: usize,
    /// The summary's name (first argument).
    pub name: String,
    /// The SELECT (second argument), as PostgreSQL will see it.
    pub sql: String,
    /// The source line at `line` (for the human format).
    #[serde(skip)]
    pub source_line: String,
}

/// A call found in one statement, positions still in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawDefine {
    pub start: Location,
    pub name_end: Location,
    pub name: String,
    pub sql: String,
}

impl RawDefine {
    /// Start and end in the original file.
    pub fn span(&self, map: &SourceMap) -> (Pos, Pos) {
        (map.pos(self.start), map.end_pos(self.name_end))
    }
}

/// Every `summa.define(literal, literal …)` in the tokens of one statement.
pub(crate) fn find(tokens: &[TokenWithSpan]) -> Vec<RawDefine> {
    let sig: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let mut out = Vec::new();
    for i in 0..sig.len() {
        if !(is_word(sig[i], "summa")
            && matches!(sig.get(i + 1).map(|t| &t.token), Some(Token::Period))
            && sig.get(i + 2).is_some_and(|t| is_word(t, "define"))
            && matches!(sig.get(i + 3).map(|t| &t.token), Some(Token::LParen)))
        {
            continue;
        }
        let Some((name, name_end, next)) = literal_arg(&sig, i + 4) else {
            continue;
        };
        if !matches!(sig.get(next).map(|t| &t.token), Some(Token::Comma)) {
            continue;
        }
        let Some((sql, _, after)) = literal_arg(&sig, next + 1) else {
            continue;
        };
        if matches!(
            sig.get(after).map(|t| &t.token),
            Some(Token::Comma | Token::RParen)
        ) {
            out.push(RawDefine {
                start: sig[i].span.start,
                name_end,
                name,
                sql,
            });
        }
    }
    out
}

/// A name after PostgreSQL folding equals `want` (lower case).
fn is_word(t: &TokenWithSpan, want: &str) -> bool {
    match &t.token {
        Token::Word(Word {
            value,
            quote_style: None,
            ..
        }) => value.eq_ignore_ascii_case(want),
        Token::Word(Word {
            value,
            quote_style: Some('"'),
            ..
        }) => value == want,
        _ => false,
    }
}

/// A string literal at `sig[i]`, with any `::type` casts after it: its
/// value, the end of the literal, and the index after the casts.
fn literal_arg(sig: &[&TokenWithSpan], i: usize) -> Option<(String, Location, usize)> {
    let t = sig.get(i)?;
    let value = match &t.token {
        Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => s.clone(),
        Token::DollarQuotedString(d) => d.value.clone(),
        _ => return None,
    };
    let mut next = i + 1;
    while matches!(sig.get(next).map(|t| &t.token), Some(Token::DoubleColon))
        && matches!(sig.get(next + 1).map(|t| &t.token), Some(Token::Word(_)))
    {
        next += 2;
    }
    Some((value, t.span.end, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::split;

    fn defines(sql: &str) -> Vec<(String, String, u64, u64)> {
        split(sql)
            .statements
            .iter()
            .flat_map(|s| find(&s.tokens))
            .map(|d| (d.name, d.sql, d.start.line, d.start.column))
            .collect()
    }

    #[test]
    fn string_dollar_and_escaped_literals() {
        let got = defines(
            "SELECT summa.define('daily_sales', $$SELECT day, sum(amount) FROM sales GROUP BY day$$);\n\
             SELECT 1; select SUMMA.Define('a'::text, 'SELECT ''x'' FROM t', '{}'::jsonb);\n\
             SELECT * FROM \"summa\".\"define\"(E'b', $body$SELECT 1$body$)",
        );
        assert_eq!(
            got,
            vec![
                (
                    "daily_sales".into(),
                    "SELECT day, sum(amount) FROM sales GROUP BY day".into(),
                    1,
                    8
                ),
                ("a".into(), "SELECT 'x' FROM t".into(), 2, 18),
                ("b".into(), "SELECT 1".into(), 3, 15),
            ]
        );
    }

    #[test]
    fn non_literal_arguments_and_look_alikes_are_not_calls() {
        let got = defines(
            "SELECT summa.define(name, $$SELECT 1$$);\n\
             SELECT summa.define('a', format('SELECT %s', 1));\n\
             SELECT other.define('a', 'SELECT 1');\n\
             SELECT \"Summa\".define('a', 'SELECT 1');\n\
             SELECT 'summa.define(''a'', ''SELECT 1'')';\n\
             -- summa.define('a', 'SELECT 1')\n\
             SELECT summa.promote('a')",
        );
        assert_eq!(got, vec![]);
    }
}

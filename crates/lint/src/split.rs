//! Splits SQL text into statements with the sqlparser tokenizer, so `;`
//! inside strings, dollar quotes and comments never splits a statement.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::suppress::CommentLines;

/// One statement: its tokens from the first significant token to the last
/// one before the terminating `;`.
#[derive(Debug)]
pub(crate) struct RawStatement {
    pub tokens: Vec<TokenWithSpan>,
    /// Tokenizer error that cut this statement short (message, location).
    pub lex_error: Option<(String, Location)>,
}

impl RawStatement {
    /// Location of the first token (or of the lexer error for an empty one).
    pub fn start(&self) -> Location {
        match (self.tokens.first(), &self.lex_error) {
            (Some(t), _) => t.span.start,
            (None, Some((_, loc))) => *loc,
            (None, None) => Location::new(1, 1),
        }
    }
}

/// Statements and comments of one SQL text.
#[derive(Debug)]
pub(crate) struct Split {
    pub statements: Vec<RawStatement>,
    pub comments: CommentLines,
}

/// Splits `sql` at top-level `;` tokens. A tokenizer error (e.g. an
/// unterminated string) ends the text: the statement it is in carries the
/// error, later text is not checked.
pub(crate) fn split(sql: &str) -> Split {
    let dialect = PostgreSqlDialect {};
    let mut tokens = Vec::new();
    let lexed = Tokenizer::new(&dialect, sql).tokenize_with_location_into_buf(&mut tokens);

    let mut comments = CommentLines::default();
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    for tok in tokens {
        let (first, last) = (line(tok.span.start), line(tok.span.end));
        match &tok.token {
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
                comments.add_comment(first, first, comment);
            }
            Token::Whitespace(Whitespace::MultiLineComment(text)) => {
                comments.add_comment(first, last, text);
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => comments.add_code(first, last),
        }
        match tok.token {
            Token::SemiColon => push(&mut statements, std::mem::take(&mut current), None),
            Token::Whitespace(_) if current.is_empty() => {}
            Token::EOF => {}
            _ => current.push(tok),
        }
    }
    match lexed {
        Ok(()) => push(&mut statements, current, None),
        Err(e) => {
            let err = Some((e.message, e.location));
            statements.push(RawStatement {
                tokens: trim_trailing(current),
                lex_error: err,
            });
        }
    }
    Split {
        statements,
        comments,
    }
}

fn push(
    out: &mut Vec<RawStatement>,
    tokens: Vec<TokenWithSpan>,
    lex_error: Option<(String, Location)>,
) {
    let tokens = trim_trailing(tokens);
    if !tokens.is_empty() {
        out.push(RawStatement { tokens, lex_error });
    }
}

fn trim_trailing(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    while matches!(tokens.last(), Some(t) if matches!(t.token, Token::Whitespace(_))) {
        tokens.pop();
    }
    tokens
}

fn line(loc: Location) -> usize {
    usize::try_from(loc.line).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql)
            .statements
            .iter()
            .map(|s| s.tokens.iter().map(|t| t.token.to_string()).collect())
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "SELECT ';' ; -- a ; comment\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n/* ; */ SELECT 2";
        let got = texts(sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], "SELECT ';'");
        assert!(got[1].contains("$$ SELECT 1; $$"));
        assert_eq!(got[2], "SELECT 2");
    }

    #[test]
    fn lexer_error_keeps_earlier_statements() {
        let s = split("SELECT 1;\nSELECT 'oops");
        assert_eq!(s.statements.len(), 2);
        assert!(s.statements[0].lex_error.is_none());
        let (msg, loc) = s.statements[1].lex_error.clone().expect("lexer error");
        assert!(msg.contains("Unterminated"), "{msg}");
        assert_eq!(loc.line, 2);
    }
}

//! Turns one statement into what the rules care about.
//!
//! The sqlparser parser is the primary path. Two PostgreSQL forms it does
//! not accept are handled at token level around it: the trailing
//! `WITH [NO] DATA` of `CREATE MATERIALIZED VIEW` (consumed after the parsed
//! statement) and its `USING method` / `TABLESPACE name` clauses (dropped
//! before parsing; they do not matter to any rule). When a statement still
//! does not parse, its head (`CREATE|DROP|REFRESH MATERIALIZED VIEW name`) is
//! recognised from tokens so the rules still see it, and a parse error is
//! reported.

use std::fmt;

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectType, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Word};

/// A relation name after PostgreSQL identifier folding; unqualified names
/// are taken to be in `public`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct QName {
    pub schema: String,
    pub name: String,
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", quote(&self.schema), quote(&self.name))
    }
}

fn quote(ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// What a statement does, as far as the rules are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    CreateMatview {
        name: QName,
        with_data: bool,
    },
    DropMatview {
        names: Vec<QName>,
        cascade: bool,
    },
    Refresh {
        name: QName,
        concurrently: bool,
    },
    /// `usable`: plain columns and no `WHERE`, as `REFRESH … CONCURRENTLY` needs.
    UniqueIndex {
        table: QName,
        usable: bool,
    },
    Other,
}

/// A statement that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseProblem {
    pub message: String,
    pub start: Location,
    pub end: Location,
}

#[derive(Debug, Clone)]
pub(crate) struct Classified {
    pub action: Action,
    /// End of the statement's head (through the object name), for ranges.
    pub head_end: Location,
    pub problem: Option<ParseProblem>,
}

/// Classifies the tokens of one statement (no trailing `;`).
pub(crate) fn classify(tokens: &[TokenWithSpan]) -> Classified {
    let significant: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !is_ws(&t.token)).collect();
    let fallback_end = significant
        .get(2)
        .or(significant.last())
        .map(|t| t.span.end)
        .unwrap_or(Location::new(1, 1));
    let prepared = drop_matview_storage_clauses(tokens, &significant);
    match parse(&prepared) {
        Ok((stmt, with_data)) => {
            let (action, head_end) = from_ast(&stmt, with_data);
            Classified {
                action,
                head_end: head_end.unwrap_or(fallback_end),
                problem: None,
            }
        }
        Err(problem) => {
            let (action, head_end) = from_tokens(&significant);
            Classified {
                action,
                head_end: head_end.unwrap_or(fallback_end),
                problem: Some(problem),
            }
        }
    }
}

fn is_ws(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

fn kw(t: Option<&&TokenWithSpan>, k: Keyword) -> bool {
    matches!(t, Some(TokenWithSpan { token: Token::Word(Word { keyword, quote_style: None, .. }), .. }) if *keyword == k)
}

fn starts_with(sig: &[&TokenWithSpan], kws: &[Keyword]) -> bool {
    kws.iter().enumerate().all(|(i, k)| kw(sig.get(i), *k))
}

/// Removes `USING method` and `TABLESPACE name` from the head of a
/// `CREATE MATERIALIZED VIEW` (before its top-level `AS`).
fn drop_matview_storage_clauses(
    tokens: &[TokenWithSpan],
    sig: &[&TokenWithSpan],
) -> Vec<TokenWithSpan> {
    if !starts_with(
        sig,
        &[Keyword::CREATE, Keyword::MATERIALIZED, Keyword::VIEW],
    ) {
        return tokens.to_vec();
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut depth = 0usize;
    let mut skip_next_word = false;
    let mut in_head = true;
    for t in tokens {
        if in_head && !is_ws(&t.token) {
            if skip_next_word {
                skip_next_word = false;
                if matches!(t.token, Token::Word(_)) {
                    continue;
                }
            }
            match &t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                Token::Word(w) if depth == 0 && w.quote_style.is_none() => match w.keyword {
                    Keyword::AS => in_head = false,
                    Keyword::USING | Keyword::TABLESPACE => {
                        skip_next_word = true;
                        continue;
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        out.push(t.clone());
    }
    out
}

/// Parses one statement; `Some(with_data)` when a `CREATE MATERIALIZED
/// VIEW` ended in `WITH [NO] DATA`.
fn parse(tokens: &[TokenWithSpan]) -> Result<(Statement, Option<bool>), ParseProblem> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens.to_vec());
    let stmt = match parser.parse_statement() {
        Ok(s) => s,
        Err(e) => {
            let mut here = parser.peek_token().span.start;
            if here.line == 0 {
                here = tokens.last().map(|t| t.span.end).unwrap_or(here);
            }
            let (message, start) = error_message_and_location(&e, here);
            let end = tokens
                .iter()
                .find(|t| t.span.start == start)
                .map(|t| t.span.end)
                .unwrap_or(Location::new(start.line, start.column + 1));
            return Err(ParseProblem {
                message,
                start,
                end,
            });
        }
    };
    let mut with_data = None;
    if matches!(&stmt, Statement::CreateView(cv) if cv.materialized) {
        if parser.parse_keywords(&[Keyword::WITH, Keyword::DATA]) {
            with_data = Some(true);
        } else if parser.parse_keywords(&[Keyword::WITH, Keyword::NO, Keyword::DATA]) {
            with_data = Some(false);
        }
    }
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(ParseProblem {
            message: format!("Expected: end of statement, found: {}", next.token),
            start: next.span.start,
            end: next.span.end,
        });
    }
    Ok((stmt, with_data))
}

/// sqlparser puts the location only into its message (`… at Line: L,
/// Column: C`); take it from there, else use the parser's position.
fn error_message_and_location(e: &ParserError, here: Location) -> (String, Location) {
    let text = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "recursion limit exceeded".to_string(),
    };
    if let Some(i) = text.rfind(" at Line: ") {
        let (msg, loc) = text.split_at(i);
        let nums: Vec<u64> = loc
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [line, col] = nums[..] {
            if line > 0 {
                return (msg.to_string(), Location::new(line, col));
            }
        }
    }
    let here = if here.line > 0 {
        here
    } else {
        Location::new(1, 1)
    };
    (text, here)
}

fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn qname_from_parts(parts: &[String]) -> Option<QName> {
    match parts {
        [] => None,
        [name] => Some(QName {
            schema: "public".to_string(),
            name: name.clone(),
        }),
        [.., schema, name] => Some(QName {
            schema: schema.clone(),
            name: name.clone(),
        }),
    }
}

fn qname(name: &ObjectName) -> Option<(QName, Location)> {
    let idents: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    let end = idents.last()?.span.end;
    let parts: Vec<String> = idents.iter().map(|i| fold(i)).collect();
    Some((qname_from_parts(&parts)?, end))
}

fn valid(loc: Location) -> Option<Location> {
    (loc.line > 0).then_some(loc)
}

fn from_ast(stmt: &Statement, with_data: Option<bool>) -> (Action, Option<Location>) {
    match stmt {
        Statement::CreateView(cv) if cv.materialized => match qname(&cv.name) {
            Some((name, end)) => (
                Action::CreateMatview {
                    name,
                    with_data: with_data.unwrap_or(true),
                },
                valid(end),
            ),
            None => (Action::Other, None),
        },
        Statement::Drop {
            object_type: ObjectType::MaterializedView,
            names,
            cascade,
            ..
        } => {
            let named: Vec<(QName, Location)> = names.iter().filter_map(qname).collect();
            let end = named.last().and_then(|(_, e)| valid(*e));
            let names = named.into_iter().map(|(n, _)| n).collect();
            (
                Action::DropMatview {
                    names,
                    cascade: *cascade,
                },
                end,
            )
        }
        Statement::RefreshMaterializedView(r) => match qname(&r.name) {
            Some((name, end)) => (
                Action::Refresh {
                    name,
                    concurrently: r.concurrently,
                },
                valid(end),
            ),
            None => (Action::Other, None),
        },
        Statement::CreateIndex(ci) if ci.unique => match qname(&ci.table_name) {
            Some((table, end)) => {
                let plain_columns = ci.columns.iter().all(|c| {
                    matches!(
                        c.column.expr,
                        Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                    )
                });
                (
                    Action::UniqueIndex {
                        table,
                        usable: plain_columns && ci.predicate.is_none(),
                    },
                    valid(end),
                )
            }
            None => (Action::Other, None),
        },
        _ => (Action::Other, None),
    }
}

/// Reads `name[.name…]` starting at `sig[i]`; returns the folded name, its
/// end and the index after it.
fn name_at(sig: &[&TokenWithSpan], mut i: usize) -> Option<(QName, Location, usize)> {
    let mut parts = Vec::new();
    let mut end;
    loop {
        match sig.get(i).map(|t| (&t.token, t.span.end)) {
            Some((Token::Word(w), e)) => {
                parts.push(match w.quote_style {
                    Some(_) => w.value.clone(),
                    None => w.value.to_ascii_lowercase(),
                });
                end = e;
            }
            _ => return None,
        }
        i += 1;
        if matches!(sig.get(i).map(|t| &t.token), Some(Token::Period)) {
            i += 1;
        } else {
            break;
        }
    }
    Some((qname_from_parts(&parts)?, end, i))
}

/// Recognises the head of materialized-view statements that did not parse.
fn from_tokens(sig: &[&TokenWithSpan]) -> (Action, Option<Location>) {
    use Keyword::*;
    if starts_with(sig, &[CREATE, MATERIALIZED, VIEW]) {
        let mut i = 3;
        if starts_with(&sig[i.min(sig.len())..], &[IF, NOT, EXISTS]) {
            i += 3;
        }
        if let Some((name, end, _)) = name_at(sig, i) {
            let n = sig.len();
            let no_data = n >= 3 && starts_with(&sig[n - 3..], &[WITH, NO, DATA]);
            return (
                Action::CreateMatview {
                    name,
                    with_data: !no_data,
                },
                Some(end),
            );
        }
    } else if starts_with(sig, &[DROP, MATERIALIZED, VIEW]) {
        let mut i = 3;
        if starts_with(&sig[i.min(sig.len())..], &[IF, EXISTS]) {
            i += 2;
        }
        let mut names = Vec::new();
        let mut end = None;
        while let Some((name, e, next)) = name_at(sig, i) {
            names.push(name);
            end = Some(e);
            i = next;
            if matches!(sig.get(i).map(|t| &t.token), Some(Token::Comma)) {
                i += 1;
            } else {
                break;
            }
        }
        if !names.is_empty() {
            let cascade = kw(sig.get(i), CASCADE);
            return (Action::DropMatview { names, cascade }, end);
        }
    } else if starts_with(sig, &[REFRESH, MATERIALIZED, VIEW]) {
        let concurrently = kw(sig.get(3), CONCURRENTLY);
        if let Some((name, end, _)) = name_at(sig, if concurrently { 4 } else { 3 }) {
            return (Action::Refresh { name, concurrently }, Some(end));
        }
    }
    (Action::Other, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::split;

    fn one(sql: &str) -> Classified {
        let s = split(sql);
        let stmt = s.statements.first().expect("one statement");
        classify(&stmt.tokens)
    }

    fn q(schema: &str, name: &str) -> QName {
        QName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    #[test]
    fn create_with_and_without_data() {
        let c = one("CREATE MATERIALIZED VIEW Sales AS SELECT 1 WITH NO DATA");
        assert_eq!(
            c.action,
            Action::CreateMatview {
                name: q("public", "sales"),
                with_data: false
            }
        );
        assert!(c.problem.is_none());
        let c = one("CREATE MATERIALIZED VIEW \"Sales\" AS SELECT 1 WITH DATA");
        assert_eq!(
            c.action,
            Action::CreateMatview {
                name: q("public", "Sales"),
                with_data: true
            }
        );
        let c = one("CREATE MATERIALIZED VIEW a.b USING heap TABLESPACE fast AS SELECT 1");
        assert!(c.problem.is_none(), "{:?}", c.problem);
        assert_eq!(
            c.action,
            Action::CreateMatview {
                name: q("a", "b"),
                with_data: true
            }
        );
    }

    #[test]
    fn drop_refresh_index() {
        let c = one("DROP MATERIALIZED VIEW IF EXISTS x, s.\"Y\" CASCADE");
        assert_eq!(
            c.action,
            Action::DropMatview {
                names: vec![q("public", "x"), q("s", "Y")],
                cascade: true
            }
        );
        let c = one("REFRESH MATERIALIZED VIEW CONCURRENTLY x");
        assert_eq!(
            c.action,
            Action::Refresh {
                name: q("public", "x"),
                concurrently: true
            }
        );
        let c = one("CREATE UNIQUE INDEX i ON x (a) WHERE a > 0");
        assert_eq!(
            c.action,
            Action::UniqueIndex {
                table: q("public", "x"),
                usable: false
            }
        );
    }

    #[test]
    fn unparsable_matview_head_still_recognised() {
        let c = one("CREATE MATERIALIZED VIEW x AS SELECT FROM WHERE ,, WITH NO DATA");
        assert!(c.problem.is_some());
        assert_eq!(
            c.action,
            Action::CreateMatview {
                name: q("public", "x"),
                with_data: false
            }
        );
        let c = one("DO $$ BEGIN END $$");
        assert_eq!(c.action, Action::Other);
        let p = c.problem.expect("problem");
        assert_eq!((p.start.line, p.start.column), (1, 1));
    }

    #[test]
    fn names_display_quoted_when_needed() {
        assert_eq!(q("public", "Sales").to_string(), "public.\"Sales\"");
        assert_eq!(q("public", "sales_1").to_string(), "public.sales_1");
    }
}

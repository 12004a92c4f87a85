//! Finds `op.execute(...)` and `RunSQL(...)` calls in Python tokens and the
//! SQL string literals passed to them.

use super::lexer::{PyStr, Tok, Token};
use crate::srcmap::Pos;
use crate::suppress::CommentLines;

/// SQL handed to one call, one piece per SQL text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// Adjacent string literals (implicitly concatenated); `params`: passed
    /// with query parameters, so `%s` placeholders are in it.
    Sql { strs: Vec<PyStr>, params: bool },
    /// An argument that is not a plain literal; `what` says what it is.
    Skipped {
        what: &'static str,
        start: Pos,
        end: Pos,
    },
}

/// One call with its SQL and the rules its `# summa-lint: allow` comments
/// suppress.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub pieces: Vec<Piece>,
    pub allows: Vec<String>,
}

/// Finds the calls in `tokens` (comments included, for suppressions).
pub(crate) fn find_calls(tokens: &[Token]) -> Vec<Call> {
    let mut comments = CommentLines::default();
    let mut code: Vec<&Token> = Vec::new();
    for t in tokens {
        match &t.tok {
            Tok::Comment(text) => comments.add_comment(t.start.line, t.start.line, text),
            _ => {
                comments.add_code(t.start.line, t.end.line);
                code.push(t);
            }
        }
    }
    let mut calls = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let Some((start, open, sql_kw)) = call_at(&code, i) else {
            i += 1;
            continue;
        };
        let close = matching(&code, open).unwrap_or(code.len());
        let args = split_args(&code[open + 1..close.min(code.len())]);
        let pieces = pick_arg(&args, sql_kw)
            .map(|arg| eval(arg, true))
            .unwrap_or_default();
        let first_line = code[start].start.line;
        let last_line = code
            .get(close)
            .or(code.last())
            .map_or(first_line, |t| t.end.line);
        calls.push(Call {
            pieces,
            allows: comments.allows(first_line, last_line),
        });
        i = close.max(i + 1);
    }
    calls
}

fn is_name(t: Option<&&Token>, name: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Name(n), .. }) if n == name)
}

fn is_op(t: Option<&&Token>, op: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Op(o), .. }) if *o == op)
}

/// `op.execute(` or `[something.]RunSQL(` at `i`: (index where the call
/// expression starts, index of `(`, keyword name of the SQL argument).
fn call_at(code: &[&Token], i: usize) -> Option<(usize, usize, &'static str)> {
    if is_name(code.get(i), "op")
        && is_op(code.get(i + 1), '.')
        && is_name(code.get(i + 2), "execute")
        && is_op(code.get(i + 3), '(')
    {
        return Some((i, i + 3, "sqltext"));
    }
    if is_name(code.get(i), "RunSQL") && is_op(code.get(i + 1), '(') {
        let mut start = i;
        while start >= 2
            && is_op(code.get(start - 1), '.')
            && matches!(code.get(start - 2).map(|t| &t.tok), Some(Tok::Name(_)))
        {
            start -= 2;
        }
        return Some((start, i + 1, "sql"));
    }
    None
}

/// Index of the bracket closing the one at `open`.
fn matching(code: &[&Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in code.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Op('(' | '[' | '{') => depth += 1,
            Tok::Op(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits at top-level commas; empty trailing items are dropped.
fn split_args<'a, 'b>(tokens: &'a [&'b Token]) -> Vec<&'a [&'b Token]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (j, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Op('(' | '[' | '{') => depth += 1,
            Tok::Op(')' | ']' | '}') => depth = depth.saturating_sub(1),
            Tok::Op(',') if depth == 0 => {
                out.push(&tokens[from..j]);
                from = j + 1;
            }
            _ => {}
        }
    }
    out.push(&tokens[from..]);
    out.retain(|a| !a.is_empty());
    out
}

/// The keyword argument `kw=...`, else the first positional argument.
fn pick_arg<'a, 'b>(args: &[&'a [&'b Token]], kw: &str) -> Option<&'a [&'b Token]> {
    let keyword = |a: &[&Token]| -> Option<String> {
        match (a.first().map(|t| &t.tok), a.get(1).map(|t| &t.tok)) {
            (Some(Tok::Name(n)), Some(Tok::Op('='))) => Some(n.clone()),
            _ => None,
        }
    };
    if let Some(a) = args.iter().find(|a| keyword(a).as_deref() == Some(kw)) {
        return a.get(2..);
    }
    args.iter().find(|a| keyword(a).is_none()).copied()
}

/// SQL pieces of one expression. `top`: a list/tuple is a list of SQL texts
/// (Django); inside one, a tuple is `(sql, params)`.
fn eval(expr: &[&Token], top: bool) -> Vec<Piece> {
    let (Some(first), Some(last)) = (expr.first(), expr.last()) else {
        return Vec::new();
    };
    if expr.iter().all(|t| matches!(t.tok, Tok::Str(_))) {
        let strs: Vec<PyStr> = expr
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if strs.iter().any(|s| s.fstring) {
            return vec![skipped("an f-string", expr)];
        }
        return vec![Piece::Sql {
            strs,
            params: false,
        }];
    }
    let wrapped = |o: char, c: char| {
        is_op(Some(first), o) && is_op(Some(last), c) && matching(expr, 0) == Some(expr.len() - 1)
    };
    if wrapped('(', ')') || wrapped('[', ']') {
        let inner = &expr[1..expr.len() - 1];
        let is_seq = is_op(Some(first), '[') || has_top_level_comma(inner);
        if !is_seq {
            return eval(inner, top);
        }
        let items = split_args(inner);
        if !top {
            // `(sql, params)` inside a Django list.
            let mut pieces = items.first().map(|i| eval(i, false)).unwrap_or_default();
            for p in &mut pieces {
                if let Piece::Sql { params, .. } = p {
                    *params = items.len() > 1;
                }
            }
            return pieces;
        }
        return items.iter().flat_map(|i| eval(i, false)).collect();
    }
    if let Some(arg) = text_call_arg(expr) {
        return eval(arg, false);
    }
    if dotted_name_ending(expr, "noop") {
        return Vec::new();
    }
    vec![skipped("not a string literal", expr)]
}

fn has_top_level_comma(tokens: &[&Token]) -> bool {
    let mut depth = 0usize;
    for t in tokens {
        match t.tok {
            Tok::Op('(' | '[' | '{') => depth += 1,
            Tok::Op(')' | ']' | '}') => depth = depth.saturating_sub(1),
            Tok::Op(',') if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// `text(...)`, `sa.text(...)`, `sqlalchemy.text(...)`: the first argument.
fn text_call_arg<'a, 'b>(expr: &'a [&'b Token]) -> Option<&'a [&'b Token]> {
    let open = expr.iter().position(|t| matches!(t.tok, Tok::Op('(')))?;
    if open == 0 || !dotted_name_ending(&expr[..open], "text") {
        return None;
    }
    if matching(expr, open)? != expr.len() - 1 {
        return None;
    }
    let args = split_args(&expr[open + 1..expr.len() - 1]);
    pick_arg(&args, "text")
}

/// `a.b.name` (names separated by dots) whose last name is `name`.
fn dotted_name_ending(expr: &[&Token], name: &str) -> bool {
    let shape_ok = expr
        .iter()
        .enumerate()
        .all(|(j, t)| matches!((&t.tok, j % 2), (Tok::Name(_), 0) | (Tok::Op('.'), 1)));
    shape_ok && expr.len() % 2 == 1 && is_name(expr.last(), name)
}

fn skipped(what: &'static str, expr: &[&Token]) -> Piece {
    Piece::Skipped {
        what,
        start: expr.first().map(|t| t.start).unwrap_or_default(),
        end: expr.last().map(|t| t.end).unwrap_or_default(),
    }
}

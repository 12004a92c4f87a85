//! SQL inside Python migrations: Alembic `op.execute(...)` and Django
//! `migrations.RunSQL(...)`.

mod calls;
mod lexer;

pub(crate) use calls::{find_calls, Piece};
pub(crate) use lexer::{lex, PyStr};

use crate::suppress::parse_file_directive;

/// Rule ids that `# summa-lint: allow-file …` comments anywhere in the
/// tokens suppress for the whole file.
pub(crate) fn file_allows(tokens: &[lexer::Token]) -> Vec<String> {
    tokens
        .iter()
        .filter_map(|t| match &t.tok {
            lexer::Tok::Comment(text) => Some(parse_file_directive(text)),
            _ => None,
        })
        .flatten()
        .collect()
}

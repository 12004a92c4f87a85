//! SQL inside Python migrations: Alembic `op.execute(...)` and Django
//! `migrations.RunSQL(...)`.

mod calls;
mod lexer;

pub(crate) use calls::{find_calls, Piece};
pub(crate) use lexer::{lex, PyStr};

//! Pulls SQL texts out of a migration file: a `.sql` file is one SQL text;
//! a `.py` file yields the literals passed to `op.execute` / `RunSQL`.

use std::path::Path;

use crate::python::{self, Piece, PyStr};
use crate::srcmap::{Pos, SourceMap};

/// Kind of migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sql,
    Python,
}

impl Kind {
    /// `.py` is Python; everything else given explicitly is SQL.
    pub fn of(path: &Path) -> Kind {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("py") => Kind::Python,
            _ => Kind::Sql,
        }
    }
}

/// Whether a Python file can hold migration SQL at all.
pub(crate) fn python_has_sql(text: &str) -> bool {
    text.contains("op.execute") || text.contains("RunSQL")
}

/// One SQL text with its position map and the rules suppressed for all of
/// it (by a Python comment on its call).
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub sql: String,
    pub map: SourceMap,
    pub allows: Vec<String>,
}

/// SQL the linter cannot see (e.g. an f-string).
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub what: &'static str,
    pub start: Pos,
    pub end: Pos,
    pub allows: Vec<String>,
}

/// What one file yields, in source order.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    Chunk(Chunk),
    Skipped(Skipped),
}

/// What one file yields: its SQL texts, and the rules that host-language
/// comments (Python `# summa-lint: allow-file …`) suppress for the whole
/// file. SQL comments are read later, from the SQL texts.
#[derive(Debug, Clone)]
pub(crate) struct Extracted {
    pub parts: Vec<Part>,
    pub file_allows: Vec<String>,
}

/// The SQL texts of one file.
pub(crate) fn extract(kind: Kind, text: &str) -> Extracted {
    match kind {
        Kind::Sql => Extracted {
            parts: vec![Part::Chunk(Chunk {
                sql: text.to_string(),
                map: SourceMap::identity(),
                allows: Vec::new(),
            })],
            file_allows: Vec::new(),
        },
        Kind::Python => extract_python(text),
    }
}

fn extract_python(text: &str) -> Extracted {
    let tokens = python::lex(text);
    let file_allows = python::file_allows(&tokens);
    let mut parts = Vec::new();
    for call in python::find_calls(&tokens) {
        for piece in call.pieces {
            parts.push(match piece {
                Piece::Sql { strs, params } => {
                    Part::Chunk(chunk(&strs, params, call.allows.clone()))
                }
                Piece::Skipped { what, start, end } => Part::Skipped(Skipped {
                    what,
                    start,
                    end,
                    allows: call.allows.clone(),
                }),
            });
        }
    }
    Extracted { parts, file_allows }
}

/// Concatenates adjacent literals, keeping every char's origin.
fn chunk(strs: &[PyStr], params: bool, allows: Vec<String>) -> Chunk {
    let mut sql = String::new();
    let mut origins = Vec::new();
    for s in strs {
        sql.push_str(&s.value);
        origins.extend_from_slice(&s.origins);
    }
    if params {
        (sql, origins) = substitute_placeholders(&sql, &origins);
    }
    let end = strs.last().map(|s| s.close).unwrap_or_default();
    let map = SourceMap::mapped(&sql, origins, end);
    Chunk { sql, map, allows }
}

/// SQL sent with parameters uses the driver's `%s` / `%(name)s`
/// placeholders and `%%` for `%`; the driver replaces them everywhere, so
/// do the same with `$1` (each char keeps the placeholder's origin).
fn substitute_placeholders(sql: &str, origins: &[Pos]) -> (String, Vec<Pos>) {
    let chars: Vec<char> = sql.chars().collect();
    let origin = |i: usize| origins.get(i).copied().unwrap_or_default();
    let (mut out, mut out_origins) = (String::new(), Vec::new());
    let mut i = 0;
    while i < chars.len() {
        let here = origin(i);
        let placeholder_len = match (chars[i], chars.get(i + 1)) {
            ('%', Some('%')) => {
                out.push('%');
                out_origins.push(here);
                i += 2;
                continue;
            }
            ('%', Some('s')) => Some(2),
            ('%', Some('(')) => chars[i..]
                .iter()
                .position(|c| *c == ')')
                .filter(|close| chars.get(i + close + 1) == Some(&'s'))
                .map(|close| close + 2),
            _ => None,
        };
        match placeholder_len {
            Some(len) => {
                out.push_str("$1");
                out_origins.extend([here, here]);
                i += len;
            }
            None => {
                out.push(chars[i]);
                out_origins.push(here);
                i += 1;
            }
        }
    }
    (out, out_origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::tokenizer::Location;

    fn chunks(src: &str) -> Vec<Chunk> {
        extract(Kind::Python, src)
            .parts
            .into_iter()
            .filter_map(|p| match p {
                Part::Chunk(c) => Some(c),
                Part::Skipped(_) => None,
            })
            .collect()
    }

    #[test]
    fn alembic_triple_quoted_maps_exactly() {
        let src = "def upgrade():\n    op.execute(\n        \"\"\"\n        DROP MATERIALIZED VIEW x;\n        \"\"\"\n    )\n";
        let c = chunks(src);
        assert_eq!(c.len(), 1);
        assert!(c[0].sql.contains("DROP MATERIALIZED VIEW x;"));
        // SQL line 2 col 9 is the D of DROP: file line 4 col 9.
        assert_eq!(c[0].map.pos(Location::new(2, 9)), Pos::new(4, 9));
    }

    #[test]
    fn implicit_concatenation_prefixes_and_text() {
        let src = "op.execute(sa.text(r'SELECT 1 ' u\"FROM t\"))";
        let c = chunks(src);
        assert_eq!(c[0].sql, "SELECT 1 FROM t");
        assert_eq!(c[0].map.pos(Location::new(1, 10)), Pos::new(1, 35));
    }

    #[test]
    fn escapes_map_to_their_backslash() {
        let src = "op.execute('A\\nB\\'C')";
        let c = chunks(src);
        assert_eq!(c[0].sql, "A\nB'C");
        assert_eq!(c[0].map.pos(Location::new(2, 1)), Pos::new(1, 16));
        assert_eq!(c[0].map.pos(Location::new(2, 2)), Pos::new(1, 17));
    }

    #[test]
    fn django_list_and_keyword_and_reverse_ignored() {
        let src = "migrations.RunSQL(reverse_sql='DROP x', sql=['A', ('B %s', [1])])";
        let c = chunks(src);
        let sqls: Vec<&str> = c.iter().map(|c| c.sql.as_str()).collect();
        assert_eq!(sqls, vec!["A", "B $1"]);
    }

    #[test]
    fn placeholders_only_replaced_when_params_are_passed() {
        let src = "RunSQL([('SELECT %(a)s, %s, 100%%', {}), 'SELECT 100%'])";
        let c = chunks(src);
        assert_eq!(c[0].sql, "SELECT $1, $1, 100%");
        assert_eq!(c[1].sql, "SELECT 100%");
        assert_eq!(c[0].map.pos(Location::new(1, 12)), Pos::new(1, 25));
    }

    #[test]
    fn fstrings_and_variables_are_skipped() {
        let src =
            "op.execute(f'DROP {x}')\nop.execute(sql)\nmigrations.RunSQL(migrations.RunSQL.noop)";
        let parts = extract(Kind::Python, src).parts;
        let whats: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Skipped(s) => Some(s.what),
                Part::Chunk(_) => None,
            })
            .collect();
        assert_eq!(whats, vec!["an f-string", "not a string literal"]);
    }

    #[test]
    fn calls_in_strings_and_comments_are_ignored() {
        let src = "# op.execute('DROP')\nx = \"op.execute('DROP')\"\n";
        assert!(extract(Kind::Python, src).parts.is_empty());
    }
}

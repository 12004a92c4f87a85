//! Maps positions in extracted SQL text back to the original file.
//!
//! A `.sql` file is its own SQL text, so positions map to themselves. SQL
//! taken from Python string literals keeps, for every decoded character, the
//! line and column of the source character (or escape) it came from.

use sqlparser::tokenizer::Location;

/// 1-based line and column (in characters) in the original file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn new(line: usize, column: usize) -> Self {
        Pos { line, column }
    }
}

/// Position mapping for one SQL text.
#[derive(Debug, Clone)]
pub(crate) struct SourceMap {
    inner: Option<Mapped>,
}

#[derive(Debug, Clone)]
struct Mapped {
    /// Char index in the SQL text where each line starts.
    line_starts: Vec<usize>,
    /// Original position of each char of the SQL text.
    origins: Vec<Pos>,
    /// Original position just past the SQL text (e.g. the closing quote).
    end: Pos,
}

impl SourceMap {
    /// The SQL text is the file itself.
    pub fn identity() -> Self {
        SourceMap { inner: None }
    }

    /// The SQL text was decoded from elsewhere: `origins[i]` is where its
    /// i-th char came from, `end` is where the text ended.
    pub fn mapped(sql: &str, origins: Vec<Pos>, end: Pos) -> Self {
        let mut line_starts = vec![0];
        for (i, c) in sql.chars().enumerate() {
            if c == '\n' {
                line_starts.push(i + 1);
            }
        }
        SourceMap {
            inner: Some(Mapped {
                line_starts,
                origins,
                end,
            }),
        }
    }

    /// Original position of the char at `loc` (a tokenizer location).
    pub fn pos(&self, loc: Location) -> Pos {
        match &self.inner {
            None => Pos::new(to_usize(loc.line).max(1), to_usize(loc.column).max(1)),
            Some(m) => match m.index(loc) {
                Some(i) => m.origins.get(i).copied().unwrap_or(m.end),
                None => m.end,
            },
        }
    }

    /// Original position just past the char before `loc` (an exclusive end).
    pub fn end_pos(&self, loc: Location) -> Pos {
        match &self.inner {
            None => self.pos(loc),
            Some(m) => match m.index(loc) {
                Some(0) | None => self.pos(loc),
                Some(i) => match m.origins.get(i - 1) {
                    Some(p) => Pos::new(p.line, p.column + 1),
                    None => m.end,
                },
            },
        }
    }
}

impl Mapped {
    fn index(&self, loc: Location) -> Option<usize> {
        let line = to_usize(loc.line).checked_sub(1)?;
        let col = to_usize(loc.column).checked_sub(1)?;
        Some(self.line_starts.get(line)? + col)
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_positions_follow_origins() {
        let sql = "ab\ncd";
        let origins = vec![
            Pos::new(5, 10),
            Pos::new(5, 11),
            Pos::new(5, 12),
            Pos::new(6, 1),
            Pos::new(6, 2),
        ];
        let map = SourceMap::mapped(sql, origins, Pos::new(6, 3));
        assert_eq!(map.pos(Location::new(1, 2)), Pos::new(5, 11));
        assert_eq!(map.pos(Location::new(2, 1)), Pos::new(6, 1));
        assert_eq!(map.end_pos(Location::new(2, 3)), Pos::new(6, 3));
        assert_eq!(map.pos(Location::new(9, 9)), Pos::new(6, 3));
    }

    #[test]
    fn identity_is_identity() {
        let map = SourceMap::identity();
        assert_eq!(map.pos(Location::new(3, 4)), Pos::new(3, 4));
    }
}

//! Planner errors: what was refused, where in the SQL, and why.

use std::fmt;

/// A 1-based line:column position in the view's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlPos {
    pub line: u64,
    pub column: u64,
}

impl SqlPos {
    pub fn from_span(span: sqlparser::tokenizer::Span) -> Option<SqlPos> {
        (span.start.line > 0).then_some(SqlPos {
            line: span.start.line,
            column: span.start.column,
        })
    }

    /// Position of a 1-based character offset (Postgres error positions) in `sql`.
    pub fn from_char_offset(sql: &str, offset: usize) -> SqlPos {
        let (mut line, mut column) = (1, 1);
        for ch in sql.chars().take(offset.saturating_sub(1)) {
            if ch == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        SqlPos { line, column }
    }
}

impl fmt::Display for SqlPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The SQL does not parse.
    #[error("syntax error{}: {message}", at(.pos))]
    Syntax {
        message: String,
        pos: Option<SqlPos>,
    },
    /// Valid SQL that summa cannot keep fresh incrementally.
    #[error("{construct} is not supported{}: {reason}{}", at(.pos), hint_suffix(.hint))]
    Unsupported {
        construct: String,
        pos: Option<SqlPos>,
        reason: String,
        hint: Option<String>,
    },
    /// The SQL refers to something that does not exist or is inconsistent.
    #[error("{message}{}", at(.pos))]
    Invalid {
        message: String,
        pos: Option<SqlPos>,
    },
    /// Postgres rejected the query (probe statement).
    #[error("postgres rejected the view{}: {message}", at(.pos))]
    Postgres {
        message: String,
        pos: Option<SqlPos>,
    },
    /// Talking to the database failed.
    #[error("database error while planning: {0}")]
    Db(#[from] tokio_postgres::Error),
}

fn at(pos: &Option<SqlPos>) -> String {
    pos.map(|p| format!(" at {p}")).unwrap_or_default()
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default()
}

impl PlanError {
    pub fn unsupported(
        construct: impl Into<String>,
        span: sqlparser::tokenizer::Span,
        reason: impl Into<String>,
    ) -> Self {
        PlanError::Unsupported {
            construct: construct.into(),
            pos: SqlPos::from_span(span),
            reason: reason.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        if let PlanError::Unsupported { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    pub fn invalid(message: impl Into<String>, span: sqlparser::tokenizer::Span) -> Self {
        PlanError::Invalid {
            message: message.into(),
            pos: SqlPos::from_span(span),
        }
    }

    pub fn pos(&self) -> Option<SqlPos> {
        match self {
            PlanError::Syntax { pos, .. }
            | PlanError::Unsupported { pos, .. }
            | PlanError::Invalid { pos, .. }
            | PlanError::Postgres { pos, .. } => *pos,
            PlanError::Db(_) => None,
        }
    }

    /// The error in Postgres message style, with the SQL line and a caret under the position.
    pub fn render(&self, sql: &str) -> String {
        let mut out = format!("ERROR:  {self}");
        if let Some(pos) = self.pos() {
            if let Some(text) = sql.lines().nth((pos.line - 1) as usize) {
                let prefix = format!("LINE {}: ", pos.line);
                out.push_str(&format!(
                    "\n{prefix}{text}\n{}^",
                    " ".repeat(prefix.len() + (pos.column as usize).saturating_sub(1))
                ));
            }
        }
        out
    }
}

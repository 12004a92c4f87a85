//! The rules: ids, default severities, explanations, and the checks over the
//! statements of one migration file.

use std::collections::{HashMap, HashSet};

use serde::{Serialize, Serializer};

use crate::classify::{Action, QName};
use crate::finding::Severity;
use crate::srcmap::Pos;

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `DROP MATERIALIZED VIEW x` and `CREATE MATERIALIZED VIEW x` in one migration.
    DropRecreateMatview,
    /// `CREATE MATERIALIZED VIEW` that populates the view during the migration.
    MatviewWithData,
    /// `REFRESH MATERIALIZED VIEW` inside a migration.
    RefreshInMigration,
    /// `REFRESH … CONCURRENTLY` of a view without a usable unique index.
    RefreshConcurrentlyNoUniqueIndex,
    /// `DROP MATERIALIZED VIEW … CASCADE`.
    DropMatviewCascade,
    /// A statement sqlparser could not parse.
    ParseError,
    /// Python SQL that is not a plain string literal (f-string, variable, …).
    UnlintedPythonSql,
    /// A `summa.define` whose SELECT summa cannot maintain (found by a caller
    /// that plans it against a database, e.g. `summa lint --database-url`).
    DefineUnmaintainable,
}

/// Where every message sends the reader for the safe workflow.
pub(crate) const VERSIONING_DOC: &str = "docs/versioning.md";

impl Rule {
    /// Every rule, in documentation order.
    pub const ALL: [Rule; 8] = [
        Rule::DropRecreateMatview,
        Rule::MatviewWithData,
        Rule::RefreshInMigration,
        Rule::RefreshConcurrentlyNoUniqueIndex,
        Rule::DropMatviewCascade,
        Rule::ParseError,
        Rule::UnlintedPythonSql,
        Rule::DefineUnmaintainable,
    ];

    /// The rule id used in output, config and suppressions.
    pub fn id(self) -> &'static str {
        match self {
            Rule::DropRecreateMatview => "drop-recreate-matview",
            Rule::MatviewWithData => "matview-with-data",
            Rule::RefreshInMigration => "refresh-in-migration",
            Rule::RefreshConcurrentlyNoUniqueIndex => "refresh-concurrently-no-unique-index",
            Rule::DropMatviewCascade => "drop-matview-cascade",
            Rule::ParseError => "parse-error",
            Rule::UnlintedPythonSql => "unlinted-python-sql",
            Rule::DefineUnmaintainable => "define-unmaintainable",
        }
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Severity when not configured. `refresh-in-migration` is an error when
    /// the refresh is not `CONCURRENTLY`.
    pub fn default_severity(self) -> Severity {
        match self {
            Rule::DropRecreateMatview
            | Rule::RefreshConcurrentlyNoUniqueIndex
            | Rule::DefineUnmaintainable => Severity::Error,
            Rule::UnlintedPythonSql => Severity::Note,
            _ => Severity::Warning,
        }
    }

    /// One-line description (SARIF `shortDescription`).
    pub fn summary(self) -> &'static str {
        match self {
            Rule::DropRecreateMatview => {
                "A materialized view is dropped and created again in the same migration."
            }
            Rule::MatviewWithData => {
                "CREATE MATERIALIZED VIEW computes the whole view inside the migration."
            }
            Rule::RefreshInMigration => "REFRESH MATERIALIZED VIEW runs inside a migration.",
            Rule::RefreshConcurrentlyNoUniqueIndex => {
                "REFRESH MATERIALIZED VIEW CONCURRENTLY of a view without a unique index."
            }
            Rule::DropMatviewCascade => "DROP MATERIALIZED VIEW ... CASCADE.",
            Rule::ParseError => "A statement could not be parsed.",
            Rule::UnlintedPythonSql => "Python migration SQL that is not a string literal.",
            Rule::DefineUnmaintainable => "summa.define of a SELECT summa cannot maintain.",
        }
    }

    /// Why it matters (SARIF `fullDescription`).
    pub fn explanation(self) -> &'static str {
        match self {
            Rule::DropRecreateMatview => {
                "Dropping a materialized view and creating it again in one migration breaks every \
                 dependent view, index, grant and reader until the new one exists, and recomputes \
                 the whole view inside the deploy."
            }
            Rule::MatviewWithData => {
                "WITH DATA (the default) runs the view's full query while the migration holds its \
                 locks; the deploy waits for it."
            }
            Rule::RefreshInMigration => {
                "A refresh recomputes the whole view inside the deploy; without CONCURRENTLY it \
                 also holds an ACCESS EXCLUSIVE lock that blocks every reader."
            }
            Rule::RefreshConcurrentlyNoUniqueIndex => {
                "PostgreSQL refuses REFRESH ... CONCURRENTLY unless the view has a unique index on \
                 plain columns without a WHERE clause; the migration fails."
            }
            Rule::DropMatviewCascade => {
                "CASCADE silently drops every view and object that depends on the materialized \
                 view."
            }
            Rule::ParseError => {
                "summa-lint could not parse the statement, so only its head was checked."
            }
            Rule::UnlintedPythonSql => {
                "SQL built at run time (f-strings, variables, concatenation) cannot be linted."
            }
            Rule::DefineUnmaintainable => {
                "summa's planner refuses this SELECT (unsupported construct, unknown relation, \
                 …), so summa.define fails when the migration runs."
            }
        }
    }

    /// What to do instead.
    pub fn help(self) -> String {
        match self {
            Rule::DropRecreateMatview => format!(
                "let summa build the new version beside the old one: \
                 SELECT summa.define('name', $$SELECT …$$); readers move when it is live \
                 (summa.promote), the old version is retired later; see {VERSIONING_DOC}"
            ),
            Rule::MatviewWithData => format!(
                "create it WITH NO DATA and populate it with a background REFRESH after the \
                 deploy, or let summa build and maintain it (`SELECT summa.define(...)` in the \
                 migration, or `summa create`); see {VERSIONING_DOC}"
            ),
            Rule::RefreshInMigration => format!(
                "refresh from a background job after the deploy (REFRESH ... CONCURRENTLY, with \
                 a unique index), or let summa keep it current; see {VERSIONING_DOC}"
            ),
            Rule::RefreshConcurrentlyNoUniqueIndex => format!(
                "create a unique index on the view's key columns (CREATE UNIQUE INDEX ... ON \
                 view (cols), no WHERE clause) before the refresh; see {VERSIONING_DOC}"
            ),
            Rule::DropMatviewCascade => format!(
                "drop the dependent objects explicitly (so the migration shows what goes away) \
                 and drop the view without CASCADE; see {VERSIONING_DOC}"
            ),
            Rule::ParseError => "if the statement is valid PostgreSQL, suppress it with \
                 `-- summa-lint: allow parse-error <reason>` or set \
                 `[lint.severity] parse-error = \"off\"`"
                .to_string(),
            Rule::UnlintedPythonSql => "use a plain string literal for DDL, or review this SQL \
                 by hand; suppress with `# summa-lint: allow unlinted-python-sql <reason>`"
                .to_string(),
            Rule::DefineUnmaintainable => format!(
                "change the SELECT to a form summa maintains (docs/sql.md), or keep \
                 this summary out of summa; see {VERSIONING_DOC}"
            ),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// A parse problem of a statement, in original positions.
#[derive(Debug, Clone)]
pub(crate) struct StmtProblem {
    pub message: String,
    pub start: Pos,
    pub end: Pos,
}

/// One statement of a migration, positions in the original file.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub action: Action,
    pub start: Pos,
    pub head_end: Pos,
    pub problem: Option<StmtProblem>,
}

/// A rule hit before suppression and configuration.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub rule: Rule,
    /// The rule's default severity for this hit.
    pub severity: Severity,
    pub start: Pos,
    pub end: Pos,
    pub message: String,
    /// Index of the statement it belongs to.
    pub stmt: usize,
}

/// What earlier migrations of the run established.
#[derive(Debug, Default)]
pub(crate) struct RunState {
    unique_indexed: HashSet<QName>,
    unusable_unique: HashSet<QName>,
}

/// Checks the statements of one migration file, in order.
pub(crate) fn check_file(stmts: &[Stmt], state: &mut RunState) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut dropped: HashMap<QName, usize> = HashMap::new();
    for (i, s) in stmts.iter().enumerate() {
        if let Some(p) = &s.problem {
            let checked = if s.action == Action::Other {
                "no rule could check it"
            } else {
                "only its head was checked"
            };
            hits.push(Hit {
                rule: Rule::ParseError,
                severity: Rule::ParseError.default_severity(),
                start: p.start,
                end: p.end,
                message: format!("could not parse this statement ({}); {checked}", p.message),
                stmt: i,
            });
        }
        let mut hit = |rule: Rule, severity: Severity, message: String| {
            hits.push(Hit {
                rule,
                severity,
                start: s.start,
                end: s.head_end,
                message,
                stmt: i,
            });
        };
        match &s.action {
            Action::DropMatview { names, cascade } => {
                for n in names {
                    dropped.insert(n.clone(), s.start.line);
                }
                if *cascade {
                    let list = join(names);
                    hit(
                        Rule::DropMatviewCascade,
                        Severity::Warning,
                        format!(
                            "DROP MATERIALIZED VIEW {list} CASCADE also drops, without listing \
                             them, every view and object that depends on it"
                        ),
                    );
                }
            }
            Action::CreateMatview { name, with_data } => {
                if let Some(line) = dropped.get(name) {
                    hit(
                        Rule::DropRecreateMatview,
                        Severity::Error,
                        format!(
                            "materialized view {name} is dropped (line {line}) and created again \
                             in the same migration: dependent views, indexes, grants and readers \
                             break, and the whole view is recomputed inside the deploy"
                        ),
                    );
                }
                if *with_data {
                    hit(
                        Rule::MatviewWithData,
                        Severity::Warning,
                        format!(
                            "CREATE MATERIALIZED VIEW {name} populates the view inside the \
                             migration (WITH DATA is the default): its full query runs while the \
                             migration holds its locks"
                        ),
                    );
                }
            }
            Action::Refresh { name, concurrently } => {
                if *concurrently {
                    hit(
                        Rule::RefreshInMigration,
                        Severity::Warning,
                        format!(
                            "REFRESH MATERIALIZED VIEW CONCURRENTLY {name} recomputes the whole \
                             view inside the migration; the deploy waits for it"
                        ),
                    );
                    if !state.unique_indexed.contains(name) {
                        let why = if state.unusable_unique.contains(name) {
                            "its unique index has a WHERE clause or expressions, which \
                             CONCURRENTLY cannot use"
                        } else {
                            "no migration before this statement creates a unique index on it"
                        };
                        hit(
                            Rule::RefreshConcurrentlyNoUniqueIndex,
                            Severity::Error,
                            format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {name} fails: {why}"),
                        );
                    }
                } else {
                    hit(
                        Rule::RefreshInMigration,
                        Severity::Error,
                        format!(
                            "REFRESH MATERIALIZED VIEW {name} inside the migration takes an \
                             ACCESS EXCLUSIVE lock: every reader blocks until the whole view is \
                             recomputed"
                        ),
                    );
                }
            }
            Action::UniqueIndex { table, usable } => {
                if *usable {
                    state.unique_indexed.insert(table.clone());
                } else {
                    state.unusable_unique.insert(table.clone());
                }
            }
            Action::Other => {}
        }
    }
    hits
}

fn join(names: &[QName]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

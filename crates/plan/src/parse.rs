//! Parsing and the query-level gate: one plain `SELECT … FROM one_table …`.
//!
//! sqlparser structs are destructured exhaustively, so a sqlparser upgrade that adds a clause
//! fails to compile here instead of being silently ignored.

use sqlparser::ast::{
    GroupByExpr, ObjectName, Query, Select, SetExpr, Statement, TableFactor, TableWithJoins,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span};

use crate::error::{PlanError, SqlPos};

/// A view definition that passed the query-level gate.
#[derive(Debug, Clone)]
pub struct ParsedView {
    pub sql: String,
    pub select: Box<Select>,
    /// Schema as written, if the table was qualified.
    pub schema: Option<String>,
    /// Table name as written (identifier folding applied).
    pub table: String,
    pub table_span: Span,
    /// The alias the query uses for the table, if any.
    pub alias: Option<String>,
    /// What was accepted but ignored (ORDER BY), for the user to see.
    pub notices: Vec<String>,
}

impl ParsedView {
    /// The name the FROM clause gives the table: its alias, else its own name.
    pub fn input_name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| self.table.clone())
    }
}

/// Postgres folds unquoted identifiers to lower case.
pub(crate) fn fold(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn syntax_error(err: sqlparser::parser::ParserError) -> PlanError {
    let text = err.to_string();
    let text = text
        .strip_prefix("sql parser error: ")
        .unwrap_or(&text)
        .to_string();
    // sqlparser appends " at Line: L, Column: C"; turn it into a position.
    if let Some(idx) = text.rfind(" at Line: ") {
        let tail = &text[idx + " at Line: ".len()..];
        let mut parts = tail.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return PlanError::Syntax {
                message: text[..idx].to_string(),
                pos: Some(SqlPos { line, column }),
            };
        }
    }
    PlanError::Syntax {
        message: text,
        pos: None,
    }
}

fn whole(sql: &str) -> Span {
    Span::new(
        Location::new(1, 1),
        Location::new(sql.lines().count() as u64, 1),
    )
}

/// Parse `sql` and accept only a single plain SELECT over one table.
pub fn parse_view(sql: &str) -> Result<ParsedView, PlanError> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(syntax_error)?;
    if statements.len() != 1 {
        return Err(PlanError::Invalid {
            message: format!(
                "a view definition is exactly one SELECT statement, found {}",
                statements.len()
            ),
            pos: None,
        });
    }
    let Statement::Query(query) = statements.remove(0) else {
        return Err(PlanError::invalid(
            "a view definition must be a SELECT statement",
            whole(sql),
        ));
    };
    let mut notices = Vec::new();
    let select = gate_query(*query, &mut notices)?;
    let (schema, table, table_span, alias) = single_table(&select)?;
    Ok(ParsedView {
        sql: sql.to_string(),
        select,
        schema,
        table,
        table_span,
        alias,
        notices,
    })
}

fn gate_query(query: Query, notices: &mut Vec<String>) -> Result<Box<Select>, PlanError> {
    use sqlparser::ast::Spanned;
    let Query {
        with,
        body,
        order_by,
        limit_clause,
        fetch,
        locks,
        for_clause,
        settings,
        format_clause,
        pipe_operators,
    } = query;
    if let Some(with) = with {
        return Err(PlanError::unsupported(
            "WITH (common table expression)",
            with.span(),
            "CTEs are not maintained yet",
        )
        .with_hint("inline the CTE into the FROM clause of a single-table query"));
    }
    if let Some(order_by) = order_by {
        let at = SqlPos::from_span(order_by.span())
            .map(|p| format!(" at {p}"))
            .unwrap_or_default();
        notices.push(format!(
            "ORDER BY{at} is ignored: a summary table has no order; order in the queries that read it"
        ));
    }
    if let Some(limit) = limit_clause {
        return Err(PlanError::unsupported(
            "LIMIT/OFFSET",
            limit.span(),
            "which rows a LIMIT keeps depends on every other row, so it cannot be maintained from changes",
        ));
    }
    if let Some(fetch) = fetch {
        return Err(PlanError::unsupported(
            "FETCH",
            fetch.quantity.as_ref().map(|q| q.span()).unwrap_or(Span::empty()),
            "which rows a FETCH keeps depends on every other row, so it cannot be maintained from changes",
        ));
    }
    if !locks.is_empty()
        || for_clause.is_some()
        || settings.is_some()
        || format_clause.is_some()
        || !pipe_operators.is_empty()
    {
        return Err(PlanError::unsupported(
            "locking or dialect-specific query clause",
            body.span(),
            "a view definition is a plain SELECT",
        ));
    }
    match *body {
        SetExpr::Select(select) => Ok(select),
        SetExpr::SetOperation { op, left, .. } => Err(PlanError::unsupported(
            format!("set operation {op}"),
            left.span(),
            "UNION/INTERSECT/EXCEPT views are not maintained",
        )
        .with_hint("create one summary per branch")),
        SetExpr::Query(q) => Err(PlanError::unsupported(
            "parenthesized query",
            q.span(),
            "write the SELECT without surrounding parentheses",
        )),
        other => Err(PlanError::unsupported(
            "this statement form",
            other.span(),
            "a view definition is a plain SELECT … FROM table",
        )),
    }
}

type TableRef = (Option<String>, String, Span, Option<String>);

fn single_table(select: &Select) -> Result<TableRef, PlanError> {
    use sqlparser::ast::Spanned;
    match select.from.as_slice() {
        [] => Err(PlanError::invalid(
            "the view has no FROM clause: it must read one table",
            select.select_token.0.span,
        )),
        [TableWithJoins { relation, joins }] => {
            if let Some(join) = joins.first() {
                use sqlparser::ast::JoinOperator as J;
                let outer = matches!(
                    join.join_operator,
                    J::Left(_) | J::LeftOuter(_) | J::Right(_) | J::RightOuter(_) | J::FullOuter(_)
                );
                let (construct, reason) = if outer {
                    ("outer JOIN", "outer joins are not maintained yet: a row of one table appears or vanishes in the result when rows of the other change")
                } else {
                    ("JOIN", "views over joins are not maintained yet; this version keeps single-table summaries")
                };
                return Err(
                    PlanError::unsupported(construct, join.relation.span(), reason).with_hint(
                        "keep one summary per table and join the summaries when you read",
                    ),
                );
            }
            match relation {
                TableFactor::Table {
                    name,
                    alias,
                    args,
                    with_hints,
                    version,
                    with_ordinality,
                    partitions,
                    json_path,
                    sample,
                    index_directives,
                    inheritance,
                } => {
                    if args.is_some()
                        || !with_hints.is_empty()
                        || version.is_some()
                        || *with_ordinality
                        || !partitions.is_empty()
                        || json_path.is_some()
                        || sample.is_some()
                        || !index_directives.is_empty()
                        || inheritance.is_some()
                    {
                        return Err(PlanError::unsupported(
                            "table function or table modifier",
                            relation.span(),
                            "the FROM clause must name one plain table",
                        ));
                    }
                    let (schema, table) = split_name(name)?;
                    let alias = match alias {
                        Some(a) if !a.columns.is_empty() => {
                            return Err(PlanError::unsupported(
                                "column aliases on the table",
                                a.name.span,
                                "refer to the table's own column names",
                            ))
                        }
                        Some(a) => Some(fold(&a.name)),
                        None => None,
                    };
                    Ok((schema, table, name.span(), alias))
                }
                TableFactor::Derived { .. } => Err(PlanError::unsupported(
                    "subquery in FROM",
                    relation.span(),
                    "subqueries are not maintained yet",
                )),
                other => Err(PlanError::unsupported(
                    "this FROM item",
                    other.span(),
                    "the FROM clause must name one plain table",
                )),
            }
        }
        [_, second, ..] => Err(PlanError::unsupported(
            "several tables in FROM",
            second.relation.span(),
            "views over joins are not maintained yet; this version keeps single-table summaries",
        )),
    }
}

fn split_name(name: &ObjectName) -> Result<(Option<String>, String), PlanError> {
    use sqlparser::ast::Spanned;
    let parts: Option<Vec<String>> = name.0.iter().map(|p| p.as_ident().map(fold)).collect();
    match parts.as_deref() {
        Some([table]) => Ok((None, table.clone())),
        Some([schema, table]) => Ok((Some(schema.clone()), table.clone())),
        _ => Err(PlanError::invalid(
            format!("cannot read table name {name}: use table or schema.table"),
            name.span(),
        )),
    }
}

/// GROUP BY as a list of expressions; refuses GROUP BY ALL / modifiers.
pub(crate) fn group_by_exprs(
    group_by: &GroupByExpr,
) -> Result<Vec<sqlparser::ast::Expr>, PlanError> {
    match group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => {
            use sqlparser::ast::{Expr, Spanned};
            if let Some(e) = exprs
                .iter()
                .find(|e| matches!(e, Expr::GroupingSets(_) | Expr::Rollup(_) | Expr::Cube(_)))
            {
                return Err(PlanError::unsupported(
                    "GROUPING SETS/ROLLUP/CUBE",
                    e.span(),
                    "grouping-set views are not maintained yet",
                )
                .with_hint("create one summary per grouping and combine them when you read"));
            }
            Ok(exprs.clone())
        }
        GroupByExpr::Expressions(exprs, _) => Err(PlanError::unsupported(
            "GROUP BY modifier (ROLLUP/CUBE/TOTALS)",
            exprs
                .first()
                .map(sqlparser::ast::Spanned::span)
                .unwrap_or(Span::empty()),
            "grouping-set views are not maintained yet",
        )),
        GroupByExpr::All(_) => Err(PlanError::unsupported(
            "GROUP BY ALL",
            Span::empty(),
            "list the grouping expressions",
        )),
    }
}

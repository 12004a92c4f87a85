//! Parsing and the query-level gate: one plain `SELECT … FROM …` over tables, joined by inner
//! joins, commas or LEFT JOINs.
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
    /// The tables of the FROM clause, in order (inner joins and commas alike).
    pub from: Vec<FromTable>,
    /// The ON conditions of the inner joins: with the WHERE clause, the view's row filter.
    pub join_conditions: Vec<sqlparser::ast::Expr>,
    /// The ON condition of each LEFT JOIN, with the input it brought in (its right side).
    pub left_conditions: Vec<(usize, sqlparser::ast::Expr)>,
    /// `USING (col)` of the join that brought in input `.0`: `col` of an earlier input equals
    /// it, and an unqualified `col` names the earlier input's.
    pub using: Vec<(usize, String, Span)>,
    /// What was accepted but ignored (ORDER BY), for the user to see.
    pub notices: Vec<String>,
}

/// One table of the FROM clause.
#[derive(Debug, Clone)]
pub struct FromTable {
    /// Schema as written, if the table was qualified.
    pub schema: Option<String>,
    /// Table name as written (identifier folding applied).
    pub table: String,
    pub span: Span,
    /// The alias the query uses for the table, if any.
    pub alias: Option<String>,
    /// Brought in by a LEFT JOIN: its rows are the NULL-supplying side.
    pub left: bool,
    /// The item of the comma-separated FROM list it belongs to (a LEFT JOIN's condition sees
    /// only the tables of its own item).
    pub item: usize,
}

impl FromTable {
    /// The name the FROM clause gives the table: its alias, else its own name.
    pub fn input_name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| self.table.clone())
    }
}

/// Most tables one view may join.
pub const MAX_INPUTS: usize = 6;

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
    let mut view = ParsedView {
        sql: sql.to_string(),
        select,
        from: Vec::new(),
        join_conditions: Vec::new(),
        left_conditions: Vec::new(),
        using: Vec::new(),
        notices,
    };
    from_clause(&mut view)?;
    Ok(view)
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

/// The FROM clause: plain tables joined by inner joins (`JOIN … ON`, `JOIN … USING`,
/// `CROSS JOIN`), commas and `LEFT JOIN`. Right, full, lateral and natural joins are refused
/// with the reason.
fn from_clause(view: &mut ParsedView) -> Result<(), PlanError> {
    use sqlparser::ast::{JoinConstraint as C, JoinOperator as J, Spanned};
    let select = view.select.clone();
    if select.from.is_empty() {
        return Err(PlanError::invalid(
            "the view has no FROM clause: it must read a table",
            select.select_token.0.span,
        ));
    }
    for (item, TableWithJoins { relation, joins }) in select.from.iter().enumerate() {
        view.from.push(plain_table(relation, item)?);
        for join in joins {
            let (constraint, left) = match &join.join_operator {
                J::Join(c) | J::Inner(c) => (Some(c), false),
                J::CrossJoin(_) => (None, false),
                J::Left(c) | J::LeftOuter(c) => (Some(c), true),
                J::Right(_) | J::RightOuter(_) => {
                    return Err(PlanError::unsupported(
                        "RIGHT JOIN",
                        join.relation.span(),
                        "only a LEFT JOIN's NULL-supplying side is maintained: the rows a RIGHT JOIN preserves come from the table after it",
                    )
                    .with_hint("swap the tables and write a LEFT JOIN"))
                }
                J::FullOuter(_) => {
                    return Err(PlanError::unsupported(
                        "FULL JOIN",
                        join.relation.span(),
                        "a FULL JOIN pads both sides with NULLs; only LEFT JOIN is maintained",
                    )
                    .with_hint("use a LEFT JOIN, or one summary per table joined when you read"))
                }
                J::CrossApply | J::OuterApply => {
                    return Err(PlanError::unsupported(
                        "LATERAL join",
                        join.relation.span(),
                        "a lateral item's rows depend on each row of the items before it; it is not maintained",
                    ))
                }
                _ => {
                    return Err(PlanError::unsupported(
                        "this kind of JOIN",
                        join.relation.span(),
                        "only inner joins and LEFT JOIN are maintained",
                    ))
                }
            };
            let right = view.from.len();
            let mut table = plain_table(&join.relation, item)?;
            table.left = left;
            view.from.push(table);
            match constraint {
                Some(C::On(expr)) if left => view.left_conditions.push((right, expr.clone())),
                Some(C::On(expr)) => view.join_conditions.push(expr.clone()),
                Some(C::Using(names)) => {
                    for name in names {
                        let Some(ident) = name.0.last().and_then(|p| p.as_ident()) else {
                            continue;
                        };
                        view.using.push((right, fold(ident), ident.span));
                    }
                }
                Some(C::Natural) => {
                    return Err(PlanError::unsupported(
                        "NATURAL JOIN",
                        join.relation.span(),
                        "the join condition would change when a table gains a column",
                    )
                    .with_hint("write JOIN … USING (…) or ON"))
                }
                Some(C::UsingAlias(..)) => {
                    return Err(PlanError::unsupported(
                        "USING … AS alias",
                        join.relation.span(),
                        "refer to the joined columns through their tables",
                    ))
                }
                Some(C::None) | None => {}
            }
        }
    }
    if view.from.len() > MAX_INPUTS {
        return Err(PlanError::unsupported(
            format!("a join of {} tables", view.from.len()),
            view.from[MAX_INPUTS].span,
            format!("summa joins at most {MAX_INPUTS} tables"),
        ));
    }
    Ok(())
}

fn plain_table(relation: &TableFactor, item: usize) -> Result<FromTable, PlanError> {
    use sqlparser::ast::Spanned;
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
                    "the FROM clause must name plain tables",
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
            Ok(FromTable {
                schema,
                table,
                span: name.span(),
                alias,
                left: false,
                item,
            })
        }
        TableFactor::Derived { lateral: true, .. } => Err(PlanError::unsupported(
            "LATERAL subquery",
            relation.span(),
            "a lateral item's rows depend on each row of the items before it; it is not maintained",
        )),
        TableFactor::Derived { .. } => Err(PlanError::unsupported(
            "subquery in FROM",
            relation.span(),
            "subqueries are not maintained yet",
        )),
        TableFactor::NestedJoin { .. } => Err(PlanError::unsupported(
            "parenthesized join",
            relation.span(),
            "write the joins without parentheses",
        )),
        other => Err(PlanError::unsupported(
            "this FROM item",
            other.span(),
            "the FROM clause must name plain tables",
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

//! Semantic analysis against the inputs' columns: row filter, group keys, aggregates.
//!
//! Every column reference is checked against the FROM clause's tables and rewritten to its
//! canonical form `"input"."column"`, qualified with the name the FROM clause gives its input
//! (the alias, else the table name), so the same expression text evaluates over the source
//! tables (backfill), over shipped change rows and over summa's copies of the inputs (deltas),
//! each given that name as its FROM alias. An unqualified name must belong to one input (a
//! `USING` column names the first); inner join conditions become part of the row filter, a
//! LEFT JOIN's condition stays with its input, with the equality that probes it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Distinct, Expr, Function, Ident, Select, SelectItem,
    Spanned,
};
use sqlparser::tokenizer::Span;

use crate::aggregates::{aggregate_call, function_name, is_known_aggregate};
pub use crate::aggregates::{AggCall, AggKind};
use crate::error::PlanError;
use crate::parse::{fold, group_by_exprs, ParsedView};
use crate::plan::LeftJoin;
use crate::source::SourceTable;
use crate::template::{contains_aggregate, template};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSource {
    Key(usize),
    Agg(usize),
    /// An expression over aggregates and keys: canonical SQL with placeholders
    /// ([`crate::template`]).
    Expr(String),
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub filter: Option<String>,
    /// Canonical SQL of each group key, in GROUP BY order.
    pub keys: Vec<String>,
    /// Every aggregate call: of the select list and of HAVING.
    pub aggs: Vec<AggCall>,
    /// One entry per select-list item, in order.
    pub outputs: Vec<OutputSource>,
    /// The HAVING condition as a template over aggregates and keys.
    pub having: Option<String>,
    /// Per input: the columns the view reads, in table order.
    pub columns_read: Vec<Vec<String>>,
    /// Every function the query calls (lower-cased name, position), for error positions.
    pub functions: Vec<(String, Span)>,
    /// Per input: its LEFT JOIN (condition and probe), when a LEFT JOIN brought it in.
    pub left_joins: Vec<Option<LeftJoin>>,
    /// A join without aggregates: its rows with their duplicates, kept as groups over every
    /// output with their row count.
    pub multiset: bool,
}

/// Functions whose result depends on the clock, the session or the database state: a summary
/// over them would silently drift, so they are refused even when Postgres marks them STABLE.
const TIME_OR_STATE_FUNCTIONS: &[&str] = &[
    "now",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "timeofday",
    "random",
    "random_normal",
    "setseed",
    "nextval",
    "currval",
    "lastval",
    "setval",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v4",
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_schema",
    "current_schemas",
    "current_catalog",
    "current_setting",
    "set_config",
    "txid_current",
    "pg_current_xact_id",
    "pg_backend_pid",
    "inet_client_addr",
    "version",
    "to_regclass",
    "pg_sleep",
];

/// Refuse what no expression in a maintained view may contain.
pub(crate) fn gate_expr(expr: &Expr, place: &str, allow_aggregates: bool) -> Result<(), PlanError> {
    let flow = visit_expressions(expr, |e| {
        let err = match e {
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: sqlparser::ast::InTarget::Subquery(_) | sqlparser::ast::InTarget::Table { .. },
                ..
            } => {
                Some(PlanError::unsupported(
                    "subquery",
                    e.span(),
                    "subqueries are not maintained yet; a subquery's result can change without any change to this view's rows",
                ))
            }
            Expr::Function(f) => gate_function(f, place, allow_aggregates).err(),
            _ => None,
        };
        match err {
            Some(err) => ControlFlow::Break(err),
            None => ControlFlow::Continue(()),
        }
    });
    match flow {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn gate_function(f: &Function, place: &str, allow_aggregates: bool) -> Result<(), PlanError> {
    let name = function_name(f);
    if f.over.is_some() {
        return Err(PlanError::unsupported(
            format!("window function {name}() OVER"),
            f.span(),
            "a window function's value for one row depends on other rows, so it cannot be maintained from changes",
        ));
    }
    if TIME_OR_STATE_FUNCTIONS.contains(&name.as_str()) {
        return Err(PlanError::unsupported(
            format!("{name}()"),
            f.span(),
            "its result depends on the clock or the session, so the summary would drift from its SELECT without any change to the data",
        )
        .with_hint("compare with a constant, or keep the time column as a group key and filter when reading"));
    }
    if is_known_aggregate(f) && !allow_aggregates {
        return Err(PlanError::invalid(
            format!("aggregate function {name}() is not allowed in {place}"),
            f.span(),
        ));
    }
    Ok(())
}

/// One input as column references see it.
struct CanonInput<'a> {
    source: &'a SourceTable,
    /// The input's name in the FROM clause: what canonical references are qualified with.
    name: String,
    /// Without an alias, `schema.table` also names it (with one, Postgres hides the table's).
    aliased: bool,
}

pub(crate) struct Canon<'a> {
    inputs: Vec<CanonInput<'a>>,
    /// `USING` columns: an unqualified reference names the first input that has it.
    using: Vec<String>,
    /// Per input: the columns the view reads.
    read: Vec<BTreeSet<String>>,
    functions: Vec<(String, Span)>,
    /// The inputs referenced since it was last cleared.
    touched: BTreeSet<usize>,
}

impl Canon<'_> {
    fn reference(&mut self, input: usize, name: &str) -> Expr {
        self.read[input].insert(name.to_string());
        self.touched.insert(input);
        Expr::CompoundIdentifier(vec![
            Ident::with_quote('"', self.inputs[input].name.clone()),
            Ident::with_quote('"', name.to_string()),
        ])
    }

    /// The inputs that have a column `name`.
    fn having(&self, name: &str) -> Vec<usize> {
        (0..self.inputs.len())
            .filter(|&i| self.inputs[i].source.column(name).is_some())
            .collect()
    }

    pub(crate) fn column(&mut self, ident: &Ident) -> Result<Expr, PlanError> {
        let name = fold(ident);
        let having = self.having(&name);
        match having.as_slice() {
            [] if self.inputs.len() == 1 => Err(PlanError::invalid(
                format!(
                    "column \"{name}\" does not exist in table {}",
                    self.inputs[0].source.qualified_name()
                ),
                ident.span,
            )),
            [] => Err(PlanError::invalid(
                format!("column \"{name}\" does not exist"),
                ident.span,
            )),
            [i] => Ok(self.reference(*i, &name)),
            [i, ..] if self.using.contains(&name) => Ok(self.reference(*i, &name)),
            _ => Err(PlanError::invalid(
                format!("column reference \"{name}\" is ambiguous"),
                ident.span,
            )),
        }
    }

    /// Canonical SQL text of `expr`: column references checked and written `"input"."col"`.
    pub(crate) fn render(&mut self, expr: &Expr) -> Result<String, PlanError> {
        let mut expr = expr.clone();
        let flow = visit_expressions_mut(&mut expr, |e| {
            let replaced = match e {
                Expr::Identifier(ident) => Some(self.column(ident)),
                Expr::CompoundIdentifier(parts) => Some(self.compound(parts)),
                Expr::Function(f) => {
                    self.functions.push((function_name(f), f.span()));
                    None
                }
                _ => None,
            };
            match replaced {
                Some(Ok(column)) => {
                    *e = column;
                    ControlFlow::Continue(())
                }
                Some(Err(err)) => ControlFlow::Break(err),
                None => ControlFlow::Continue(()),
            }
        });
        if let ControlFlow::Break(err) = flow {
            return Err(err);
        }
        Ok(expr.to_string())
    }

    fn compound(&mut self, parts: &[Ident]) -> Result<Expr, PlanError> {
        let (qualifier, column) = match parts {
            [q, c] => (vec![fold(q)], c),
            [s, t, c] => (vec![fold(s), fold(t)], c),
            _ => {
                return Err(PlanError::invalid(
                    "cannot resolve this column reference",
                    parts.first().map(|p| p.span).unwrap_or(Span::empty()),
                ))
            }
        };
        let found = self.inputs.iter().position(|i| match qualifier.as_slice() {
            [q] => *q == i.name,
            [s, t] => !i.aliased && *s == i.source.schema && *t == i.source.name,
            _ => false,
        });
        let Some(input) = found else {
            return Err(PlanError::invalid(
                format!(
                    "missing FROM-clause entry for table \"{}\"",
                    qualifier.join(".")
                ),
                parts[0].span,
            ));
        };
        let name = fold(column);
        if self.inputs[input].source.column(&name).is_none() {
            return Err(PlanError::invalid(
                format!("column {}.{name} does not exist", self.inputs[input].name),
                column.span,
            ));
        }
        Ok(self.reference(input, &name))
    }
}

/// Split a one-table view into filter, keys, aggregates and outputs, checked against `source`.
pub fn analyze(view: &ParsedView, source: &SourceTable) -> Result<Analysis, PlanError> {
    analyze_inputs(view, std::slice::from_ref(source))
}

/// Split the parsed view into filter, keys, aggregates and outputs, checked against
/// `sources` (one per FROM table, in order).
pub fn analyze_inputs(view: &ParsedView, sources: &[SourceTable]) -> Result<Analysis, PlanError> {
    if view.from.len() != sources.len() {
        return Err(PlanError::Invalid {
            message: format!(
                "the FROM clause has {} tables, {} described",
                view.from.len(),
                sources.len()
            ),
            pos: None,
        });
    }
    let Select {
        select_token,
        optimizer_hints,
        distinct,
        select_modifiers,
        top,
        top_before_distinct: _,
        projection,
        exclude,
        into,
        from: _,
        lateral_views,
        prewhere,
        selection,
        connect_by,
        group_by,
        cluster_by,
        distribute_by,
        sort_by,
        having,
        named_window,
        qualify,
        window_before_qualify: _,
        value_table_mode,
        flavor: _,
    } = view.select.as_ref();
    let select_span = select_token.0.span;
    if let Some(Distinct::On(exprs)) = distinct {
        return Err(PlanError::unsupported(
            "SELECT DISTINCT ON",
            exprs.first().map(|e| e.span()).unwrap_or(select_span),
            "which row DISTINCT ON keeps depends on row order, which no change stream preserves",
        ));
    }
    if !named_window.is_empty() {
        return Err(PlanError::unsupported(
            "WINDOW clause",
            select_span,
            "window functions cannot be maintained from changes",
        ));
    }
    if !optimizer_hints.is_empty()
        || select_modifiers.is_some()
        || top.is_some()
        || exclude.is_some()
        || into.is_some()
        || !lateral_views.is_empty()
        || prewhere.is_some()
        || !connect_by.is_empty()
        || !cluster_by.is_empty()
        || !distribute_by.is_empty()
        || !sort_by.is_empty()
        || qualify.is_some()
        || value_table_mode.is_some()
    {
        return Err(PlanError::unsupported(
            "this SELECT clause",
            select_span,
            "a view definition uses PostgreSQL's SELECT … FROM … WHERE … GROUP BY … HAVING",
        ));
    }

    let mut canon = Canon {
        inputs: view
            .from
            .iter()
            .zip(sources)
            .map(|(f, source)| CanonInput {
                source,
                name: f.input_name(),
                aliased: f.alias.is_some(),
            })
            .collect(),
        using: view.using.iter().map(|(_, c, _)| c.clone()).collect(),
        read: vec![BTreeSet::new(); sources.len()],
        functions: Vec::new(),
        touched: BTreeSet::new(),
    };
    for (i, a) in canon.inputs.iter().enumerate() {
        if let Some(b) = canon.inputs[..i].iter().find(|b| b.name == a.name) {
            return Err(PlanError::invalid(
                format!(
                    "table name \"{}\" specified more than once (give each occurrence an alias)",
                    b.name
                ),
                view.from[i].span,
            ));
        }
    }

    // The row filter: the inner joins' conditions (ON, USING) and the WHERE clause. A LEFT
    // JOIN's condition stays its own (it decides padding, not which rows pass).
    let mut conditions = Vec::new();
    let mut left_using: Vec<Vec<(String, String, String)>> = vec![Vec::new(); sources.len()];
    for expr in &view.join_conditions {
        gate_expr(expr, "JOIN ON", false)?;
        conditions.push(canon.render(expr)?);
    }
    for (right, column, span) in &view.using {
        // The join's left side is the tables before it in its own FROM item; a table joined
        // to an earlier one by USING on this column is merged into it.
        let merged = |i: usize| view.using.iter().any(|(r, c, _)| *r == i && c == column);
        let candidates: Vec<usize> = (0..*right)
            .filter(|&i| view.from[i].item == view.from[*right].item && !merged(i))
            .filter(|&i| canon.inputs[i].source.column(column).is_some())
            .collect();
        if candidates.len() > 1 {
            return Err(PlanError::invalid(
                format!("common column name \"{column}\" appears more than once in left table"),
                *span,
            ));
        }
        let left = candidates.first().copied();
        let (Some(left), true) = (left, canon.inputs[*right].source.column(column).is_some())
        else {
            return Err(PlanError::invalid(
                format!(
                    "column \"{column}\" specified in USING clause does not exist in both tables"
                ),
                *span,
            ));
        };
        let l = canon.reference(left, column);
        let r = canon.reference(*right, column);
        if view.from[*right].left {
            left_using[*right].push((format!("{l} = {r}"), column.clone(), l.to_string()));
        } else {
            conditions.push(format!("{l} = {r}"));
        }
    }
    let left_joins = left_joins(view, &mut canon, left_using)?;
    if let Some(expr) = selection {
        gate_expr(expr, "WHERE", false)?;
        conditions.push(canon.render(expr)?);
    }
    let filter = crate::canonical::conjunction(&conditions);

    // Select list: each item's expression and name; top-level aggregates recognised.
    struct Item {
        expr: Expr,
        alias: Option<String>,
        agg: Option<AggCall>,
    }
    let mut items = Vec::new();
    for item in projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e.clone(), None),
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(fold(alias))),
            other => return Err(PlanError::unsupported(
                "* in the select list",
                other.span(),
                "list the columns: the summary's columns must not change when the table gains one",
            )),
        };
        if let Some(alias) = &alias {
            if alias.starts_with("__") {
                return Err(PlanError::invalid(
                    format!("output column name \"{alias}\" is reserved: names starting with __ hold summa's state"),
                    expr.span(),
                ));
            }
        }
        gate_expr(&expr, "the select list", true)?;
        // Unknown columns are reported in select-list order, as Postgres does.
        canon.render(&expr)?;
        let agg = aggregate_call(&expr, &mut canon)?;
        items.push(Item { expr, alias, agg });
    }

    let group_exprs = group_by_exprs(group_by)?;
    let select_distinct = matches!(distinct, Some(Distinct::Distinct));
    let mut keys: Vec<String> = Vec::new();
    for g in &group_exprs {
        let target = match g {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::Number(n, _) => {
                    let idx: usize = n.parse().unwrap_or(0);
                    let item = idx
                        .checked_sub(1)
                        .and_then(|i| items.get(i))
                        .ok_or_else(|| {
                            PlanError::invalid(
                                format!("GROUP BY position {n} is not in select list"),
                                g.span(),
                            )
                        })?;
                    item.expr.clone()
                }
                _ => g.clone(),
            },
            // A bare name is an input column first, an output alias second (as in Postgres).
            Expr::Identifier(ident) if canon.having(&fold(ident)).is_empty() => {
                match items
                    .iter()
                    .find(|i| i.alias.as_deref() == Some(fold(ident).as_str()))
                {
                    Some(item) => item.expr.clone(),
                    None => g.clone(),
                }
            }
            _ => g.clone(),
        };
        if contains_aggregate(&target) {
            return Err(PlanError::invalid(
                "aggregate functions are not allowed in GROUP BY",
                g.span(),
            ));
        }
        gate_expr(&target, "GROUP BY", false)?;
        let text = canon.render(&target)?;
        if !keys.contains(&text) {
            keys.push(text);
        }
    }
    // SELECT DISTINCT without GROUP BY is GROUP BY over every output. So is a join without
    // aggregates, GROUP BY or DISTINCT, kept as a multiset: each group with its row count.
    let plain = group_exprs.is_empty()
        && having.is_none()
        && !items
            .iter()
            .any(|i| i.agg.is_some() || contains_aggregate(&i.expr));
    let multiset = plain && !select_distinct && sources.len() > 1;
    let distinct_is_grouping = (select_distinct && group_exprs.is_empty()) || multiset;
    if distinct_is_grouping {
        for item in &items {
            if item.agg.is_some() || contains_aggregate(&item.expr) {
                return Err(PlanError::unsupported(
                    "SELECT DISTINCT over aggregates",
                    item.expr.span(),
                    "without GROUP BY, DISTINCT over an aggregate's result is not maintained",
                )
                .with_hint("use GROUP BY"));
            }
            gate_expr(&item.expr, "the select list", false)?;
            let text = canon.render(&item.expr)?;
            if !keys.contains(&text) {
                keys.push(text);
            }
        }
    }

    let aggregates = items
        .iter()
        .any(|i| i.agg.is_some() || contains_aggregate(&i.expr))
        || having.is_some();
    if !aggregates && keys.is_empty() {
        return Err(PlanError::unsupported(
            "a view without aggregates or GROUP BY",
            select_span,
            "summa keeps aggregate summaries; a plain projection of one table is a copy of it (a join's is maintained)",
        )
        .with_hint("add count(*) and GROUP BY, or use SELECT DISTINCT"));
    }

    let mut aggs = Vec::new();
    let mut outputs = Vec::new();
    for item in items {
        if let Some(agg) = item.agg {
            outputs.push(OutputSource::Agg(aggs.len()));
            aggs.push(agg);
            continue;
        }
        if !contains_aggregate(&item.expr) {
            let text = canon.render(&item.expr)?;
            if let Some(k) = keys.iter().position(|k| *k == text) {
                outputs.push(OutputSource::Key(k));
                continue;
            }
        }
        outputs.push(OutputSource::Expr(template(
            &item.expr, &keys, &mut aggs, &mut canon,
        )?));
    }
    if select_distinct && !distinct_is_grouping {
        // Rows are unique per group already when every group key is an output.
        if let Some(k) = (0..keys.len()).find(|k| !outputs.contains(&OutputSource::Key(*k))) {
            return Err(PlanError::unsupported(
                "SELECT DISTINCT with GROUP BY",
                select_span,
                format!(
                    "the outputs do not include the GROUP BY key {}, so DISTINCT could merge groups",
                    keys[k]
                ),
            )
            .with_hint("add every GROUP BY expression to the select list, or drop DISTINCT"));
        }
    }
    let having = match having {
        Some(h) => {
            gate_expr(h, "HAVING", true)?;
            Some(template(h, &keys, &mut aggs, &mut canon)?)
        }
        None => None,
    };

    let columns_read = sources
        .iter()
        .zip(&canon.read)
        .map(|(source, read)| {
            source
                .columns
                .iter()
                .filter(|c| read.contains(&c.name))
                .map(|c| c.name.clone())
                .collect()
        })
        .collect();
    Ok(Analysis {
        filter,
        keys,
        aggs,
        outputs,
        having,
        columns_read,
        functions: canon.functions,
        left_joins,
        multiset,
    })
}

/// Each LEFT JOIN's condition (its ON, or its USING equalities) in canonical SQL, and the
/// equality that probes it: a column of the joined table equated with an expression over the
/// tables before it. A change of the joined table can only match or unmatch the rows whose
/// probe equals that column's old or new value, which is how a batch finds them.
fn left_joins(
    view: &ParsedView,
    canon: &mut Canon,
    using: Vec<Vec<(String, String, String)>>,
) -> Result<Vec<Option<LeftJoin>>, PlanError> {
    let mut out: Vec<Option<LeftJoin>> = vec![None; view.from.len()];
    for (right, conds) in using.into_iter().enumerate() {
        if let Some((_, column, probe)) = conds.first() {
            let on: Vec<String> = conds.iter().map(|(c, _, _)| format!("({c})")).collect();
            out[right] = Some(LeftJoin {
                on: on.join(" AND "),
                column: column.clone(),
                probe: probe.clone(),
            });
        }
    }
    for (right, expr) in &view.left_conditions {
        let right = *right;
        gate_expr(expr, "LEFT JOIN ON", false)?;
        canon.touched.clear();
        let on = canon.render(expr)?;
        // Postgres scopes the condition to the tables of its own FROM item up to this one.
        let visible = |t: usize| t <= right && view.from[t].item == view.from[right].item;
        if let Some(&t) = canon.touched.iter().find(|&&t| !visible(t)) {
            return Err(PlanError::invalid(
                format!(
                    "invalid reference to FROM-clause entry for table \"{}\" in the condition of a LEFT JOIN",
                    view.from[t].input_name()
                ),
                expr.span(),
            ));
        }
        let mut conjuncts = Vec::new();
        split_and(expr, &mut conjuncts);
        let mut probe = None;
        for c in conjuncts {
            let Expr::BinaryOp {
                left,
                op: sqlparser::ast::BinaryOperator::Eq,
                right: other,
            } = c
            else {
                continue;
            };
            for (mine, theirs) in [(left, other), (other, left)] {
                if probe.is_some() {
                    break;
                }
                let Some(column) = bare_column(canon, mine, right)? else {
                    continue;
                };
                canon.touched.clear();
                let rendered = canon.render(theirs)?;
                if !canon.touched.is_empty() && !canon.touched.contains(&right) {
                    probe = Some((column, rendered));
                }
            }
        }
        let Some((column, probe)) = probe else {
            return Err(PlanError::unsupported(
                "a LEFT JOIN without an equality to the tables before it",
                expr.span(),
                format!(
                    "summa finds the rows a change of {} can match or unmatch by an equality \
                     between one of its columns and an expression over the tables before it",
                    view.from[right].input_name()
                ),
            )
            .with_hint("add a condition like `d.id = f.d_id` to the ON clause"));
        };
        let on = match out[right].take() {
            Some(using) => format!("({}) AND ({on})", using.on),
            None => on,
        };
        out[right] = Some(LeftJoin { on, column, probe });
    }
    Ok(out)
}

/// The conjuncts of `expr` (`a AND b AND …`, parentheses looked through).
fn split_and<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

/// When `expr` is a bare column reference to `input`, its name.
fn bare_column(canon: &mut Canon, expr: &Expr, input: usize) -> Result<Option<String>, PlanError> {
    let name = match expr {
        Expr::Identifier(ident) => fold(ident),
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => fold(last),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    canon.touched.clear();
    canon.render(expr)?;
    let only: Vec<usize> = canon.touched.iter().copied().collect();
    Ok((only == [input]).then_some(name))
}

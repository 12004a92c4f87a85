//! Semantic analysis against the source table's columns: row filter, group keys, aggregates.
//!
//! Every column reference is checked against the source table and rewritten to its canonical
//! quoted name without qualifier, so the same expression text evaluates over the source table
//! (backfill, verify) and over shipped change rows (deltas).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, Select, SelectItem, Spanned,
};
use sqlparser::tokenizer::Span;

use crate::error::PlanError;
use crate::parse::{fold, group_by_exprs, ParsedView};
use crate::source::SourceTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Avg,
}

#[derive(Debug, Clone)]
pub struct AggCall {
    pub kind: AggKind,
    /// Canonical SQL of the argument (`None` for `count(*)`).
    pub arg: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSource {
    Key(usize),
    Agg(usize),
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub filter: Option<String>,
    /// Canonical SQL of each group key, in GROUP BY order.
    pub keys: Vec<String>,
    pub aggs: Vec<AggCall>,
    /// One entry per select-list item, in order.
    pub outputs: Vec<OutputSource>,
    /// Source columns the view reads, in table order.
    pub columns_read: Vec<String>,
    /// Every function the query calls (lower-cased name, position), for error positions.
    pub functions: Vec<(String, Span)>,
}

/// Aggregates Postgres has; the ones summa maintains are matched first.
const KNOWN_AGGREGATES: &[&str] = &[
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "covar_pop",
    "covar_samp",
    "corr",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "xmlagg",
    "range_agg",
    "range_intersect_agg",
    "any_value",
    "grouping",
];

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

pub(crate) fn function_name(f: &Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(fold)
        .unwrap_or_default()
}

fn is_pg_catalog_or_unqualified(f: &Function) -> bool {
    match f.name.0.as_slice() {
        [_] => true,
        [schema, _] => schema.as_ident().map(fold).as_deref() == Some("pg_catalog"),
        _ => false,
    }
}

fn known_aggregate(name: &str) -> bool {
    matches!(name, "count" | "sum" | "avg") || KNOWN_AGGREGATES.contains(&name)
}

/// Refuse what no expression in a maintained view may contain.
fn gate_expr(expr: &Expr, place: &str, allow_aggregates: bool) -> Result<(), PlanError> {
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
    if known_aggregate(&name) && is_pg_catalog_or_unqualified(f) && !allow_aggregates {
        return Err(PlanError::invalid(
            format!("aggregate function {name}() is not allowed in {place}"),
            f.span(),
        ));
    }
    Ok(())
}

struct Canon<'a> {
    source: &'a SourceTable,
    qualifiers: Vec<String>,
    read: BTreeSet<String>,
    functions: Vec<(String, Span)>,
}

impl Canon<'_> {
    fn column(&mut self, ident: &Ident) -> Result<Ident, PlanError> {
        let name = fold(ident);
        match self.source.column(&name) {
            Some(col) => {
                self.read.insert(col.name.clone());
                Ok(Ident::with_quote('"', col.name.clone()))
            }
            None => Err(PlanError::invalid(
                format!(
                    "column \"{name}\" does not exist in table {}",
                    self.source.qualified_name()
                ),
                ident.span,
            )),
        }
    }

    /// Canonical SQL text of `expr`: column references checked and written `"col"`.
    fn render(&mut self, expr: &Expr) -> Result<String, PlanError> {
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
                Some(Ok(ident)) => {
                    *e = Expr::Identifier(ident);
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

    fn compound(&mut self, parts: &[Ident]) -> Result<Ident, PlanError> {
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
        let matches = match qualifier.as_slice() {
            [q] => self.qualifiers.contains(q),
            [s, t] => {
                *s == self.source.schema && *t == self.source.name && !self.qualifiers.is_empty()
            }
            _ => false,
        };
        if !matches {
            return Err(PlanError::invalid(
                format!(
                    "missing FROM-clause entry for table \"{}\"",
                    qualifier.join(".")
                ),
                parts[0].span,
            ));
        }
        self.column(column)
    }
}

/// Split the parsed view into filter, keys and aggregates, checked against `source`.
pub fn analyze(view: &ParsedView, source: &SourceTable) -> Result<Analysis, PlanError> {
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
    if distinct.is_some() {
        return Err(PlanError::unsupported(
            "SELECT DISTINCT",
            select_span,
            "not maintained yet; use GROUP BY over the same columns",
        ));
    }
    if let Some(h) = having {
        return Err(PlanError::unsupported(
            "HAVING",
            h.span(),
            "not maintained yet; filter the summary when you read it",
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
            "a view definition uses PostgreSQL's SELECT … FROM … WHERE … GROUP BY",
        ));
    }

    let mut qualifiers = vec![source.name.clone()];
    if let Some(alias) = &view.alias {
        // With an alias, Postgres hides the table's own name.
        qualifiers = vec![alias.clone()];
    }
    let mut canon = Canon {
        source,
        qualifiers,
        read: BTreeSet::new(),
        functions: Vec::new(),
    };

    let filter = match selection {
        Some(expr) => {
            gate_expr(expr, "WHERE", false)?;
            Some(canon.render(expr)?)
        }
        None => None,
    };

    // Select list: each item's expression (aggregates recognised), canonical text and name.
    struct Item {
        expr: Expr,
        alias: Option<String>,
        agg: Option<AggCall>,
        canonical: Option<String>,
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
        let agg = aggregate_call(&expr, &mut canon)?;
        let canonical = match agg {
            Some(_) => None,
            None => {
                gate_expr(&expr, "the select list outside an aggregate", false)?;
                Some(canon.render(&expr)?)
            }
        };
        items.push(Item {
            expr,
            alias,
            agg,
            canonical,
        });
    }

    let mut keys: Vec<String> = Vec::new();
    for g in group_by_exprs(group_by)? {
        let target = match &g {
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
                    if item.agg.is_some() {
                        return Err(PlanError::invalid(
                            "aggregate functions are not allowed in GROUP BY",
                            g.span(),
                        ));
                    }
                    item.expr.clone()
                }
                _ => g.clone(),
            },
            // A bare name is an input column first, an output alias second (as in Postgres).
            Expr::Identifier(ident) if source.column(&fold(ident)).is_none() => {
                match items
                    .iter()
                    .find(|i| i.alias.as_deref() == Some(fold(ident).as_str()))
                {
                    Some(item) if item.agg.is_some() => {
                        return Err(PlanError::invalid(
                            "aggregate functions are not allowed in GROUP BY",
                            g.span(),
                        ))
                    }
                    Some(item) => item.expr.clone(),
                    None => g.clone(),
                }
            }
            _ => g.clone(),
        };
        gate_expr(&target, "GROUP BY", false)?;
        let text = canon.render(&target)?;
        if !keys.contains(&text) {
            keys.push(text);
        }
    }

    let mut aggs = Vec::new();
    let mut outputs = Vec::new();
    for item in items {
        match (item.agg, item.canonical) {
            (Some(agg), _) => {
                outputs.push(OutputSource::Agg(aggs.len()));
                aggs.push(agg);
            }
            (None, Some(text)) => match keys.iter().position(|k| *k == text) {
                Some(k) => outputs.push(OutputSource::Key(k)),
                None => {
                    return Err(PlanError::unsupported(
                        format!("select-list expression {}", item.expr),
                        item.expr.span(),
                        "each output must be a GROUP BY expression or count/sum/avg of a row expression",
                    )
                    .with_hint("add the expression to GROUP BY, or wrap it in an aggregate"))
                }
            },
            (None, None) => unreachable!("every item is an aggregate or has canonical text"),
        }
    }
    if aggs.is_empty() {
        return Err(PlanError::unsupported(
            "a view without aggregates",
            select_span,
            "summa keeps aggregate summaries; a plain projection is a copy of the table",
        )
        .with_hint("add count(*) to the select list"));
    }

    let columns_read = source
        .columns
        .iter()
        .filter(|c| canon.read.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    Ok(Analysis {
        filter,
        keys,
        aggs,
        outputs,
        columns_read,
        functions: canon.functions,
    })
}

/// Recognise a maintained aggregate call at the top of a select item.
fn aggregate_call(expr: &Expr, canon: &mut Canon<'_>) -> Result<Option<AggCall>, PlanError> {
    let Expr::Function(f) = expr else {
        return Ok(None);
    };
    let name = function_name(f);
    if !is_pg_catalog_or_unqualified(f) || !known_aggregate(&name) {
        return Ok(None);
    }
    let Function {
        name: _,
        uses_odbc_syntax: _,
        parameters,
        args,
        within_group,
        filter,
        null_treatment,
        over,
    } = f;
    let span = f.span();
    if over.is_some() {
        gate_function(f, "", true)?;
    }
    let kind = match name.as_str() {
        "count" => AggKind::Count,
        "sum" => AggKind::Sum,
        "avg" => AggKind::Avg,
        other => {
            return Err(PlanError::unsupported(
                format!("aggregate {other}()"),
                span,
                "only count, sum and avg are maintained in this version",
            ))
        }
    };
    if filter.is_some() {
        return Err(PlanError::unsupported(
            format!("{name}() FILTER (WHERE …)"),
            span,
            "aggregate FILTER clauses are not maintained yet",
        )
        .with_hint(
            "move the condition into the view's WHERE clause if it applies to every aggregate",
        ));
    }
    if !within_group.is_empty()
        || null_treatment.is_some()
        || !matches!(parameters, FunctionArguments::None)
    {
        return Err(PlanError::unsupported(
            format!("{name}() with WITHIN GROUP or parameters"),
            span,
            "ordered-set forms are not maintained",
        ));
    }
    let FunctionArguments::List(list) = args else {
        return Err(PlanError::invalid(
            format!("{name}() needs an argument"),
            span,
        ));
    };
    if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
        return Err(PlanError::unsupported(
            format!("{name}(DISTINCT …)"),
            span,
            "DISTINCT aggregates need per-value state, which this version does not keep yet",
        ));
    }
    if !list.clauses.is_empty() {
        return Err(PlanError::unsupported(
            format!("{name}(… ORDER BY …)"),
            span,
            "ordered aggregate arguments are not maintained",
        ));
    }
    match (kind, list.args.as_slice()) {
        (AggKind::Count, [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) => Ok(Some(AggCall {
            kind: AggKind::CountStar,
            arg: None,
            span,
        })),
        (_, [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))]) => {
            gate_expr(arg, &format!("the argument of {name}()"), false)?;
            Ok(Some(AggCall {
                kind,
                arg: Some(canon.render(arg)?),
                span,
            }))
        }
        _ => Err(PlanError::invalid(
            format!("{name}() takes exactly one argument here"),
            span,
        )),
    }
}

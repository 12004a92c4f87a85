//! Aggregate calls: which ones summa maintains, how a call is read (argument, DISTINCT,
//! FILTER), and why the others are refused.

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
};
use sqlparser::tokenizer::Span;

use crate::analyze::{gate_expr, Canon};
use crate::error::PlanError;
use crate::parse::fold;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
}

#[derive(Debug, Clone)]
pub struct AggCall {
    pub kind: AggKind,
    /// Canonical SQL of the argument, a FILTER folded in as `CASE WHEN … THEN arg END`
    /// (`count(*) FILTER (WHERE c)` becomes `count(CASE WHEN c THEN 1 END)`); `None` for a
    /// plain `count(*)`.
    pub arg: Option<String>,
    /// `count/sum/avg(DISTINCT …)`.
    pub distinct: bool,
    /// Canonical SQL of the whole call, to ask Postgres for its result type.
    pub call: String,
    pub span: Span,
}

/// The aggregates summa maintains, by name.
fn maintained(name: &str) -> Option<AggKind> {
    Some(match name {
        "count" => AggKind::Count,
        "sum" => AggKind::Sum,
        "avg" => AggKind::Avg,
        "min" => AggKind::Min,
        "max" => AggKind::Max,
        "bool_and" | "every" => AggKind::BoolAnd,
        "bool_or" => AggKind::BoolOr,
        "variance" | "var_samp" => AggKind::VarSamp,
        "var_pop" => AggKind::VarPop,
        "stddev" | "stddev_samp" => AggKind::StddevSamp,
        "stddev_pop" => AggKind::StddevPop,
        _ => return None,
    })
}

/// Whether `name` is one of the aggregates summa maintains (for the catalog check).
pub fn is_maintained(name: &str) -> bool {
    maintained(name).is_some()
}

/// Aggregates Postgres has that summa refuses, with the reason a user understands.
fn refusal(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    const ORDER: &str =
        "its result depends on the order rows are aggregated in, which no change stream preserves";
    const SET: &str = "ordered-set aggregates need every value of the group at once: a change cannot be applied to their result";
    Some(match name {
        "string_agg" | "array_agg" | "json_agg" | "jsonb_agg" | "json_object_agg"
        | "jsonb_object_agg" | "xmlagg" => (ORDER, Some("keep the rows in a table and aggregate when you read, or count the values with count(DISTINCT …)")),
        "percentile_cont" | "percentile_disc" | "mode" => (SET, Some("compute percentiles when you read, or keep min/max/avg here")),
        "any_value" => ("which row's value it returns is not defined, so a summary could not equal its SELECT", None),
        "bit_and" | "bit_or" | "bit_xor" => ("bitwise aggregates cannot be reversed when a row is deleted (not maintained yet)", None),
        "covar_pop" | "covar_samp" | "corr" | "regr_avgx" | "regr_avgy" | "regr_count"
        | "regr_intercept" | "regr_r2" | "regr_slope" | "regr_sxx" | "regr_sxy" | "regr_syy" => {
            ("two-argument statistics are not maintained yet", Some("keep sum(x), sum(y), sum(x*y), sum(x*x) and count(*) and combine them when you read"))
        }
        "range_agg" | "range_intersect_agg" => ("range aggregates are not maintained yet", None),
        "grouping" => ("GROUPING() belongs to grouping sets, which are not maintained yet", None),
        _ => return None,
    })
}

pub(crate) fn function_name(f: &Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(fold)
        .unwrap_or_default()
}

pub(crate) fn is_pg_catalog_or_unqualified(f: &Function) -> bool {
    match f.name.0.as_slice() {
        [_] => true,
        [schema, _] => schema.as_ident().map(fold).as_deref() == Some("pg_catalog"),
        _ => false,
    }
}

/// A call of an aggregate Postgres has (maintained or not).
pub(crate) fn is_known_aggregate(f: &Function) -> bool {
    let name = function_name(f);
    is_pg_catalog_or_unqualified(f) && (maintained(&name).is_some() || refusal(&name).is_some())
}

/// Read `expr` as a call of a maintained aggregate; `Ok(None)` when it is not an aggregate
/// call; an error naming the construct when it is one summa cannot maintain.
pub(crate) fn aggregate_call(
    expr: &Expr,
    canon: &mut Canon<'_>,
) -> Result<Option<AggCall>, PlanError> {
    let Expr::Function(f) = expr else {
        return Ok(None);
    };
    if !is_known_aggregate(f) {
        return Ok(None);
    }
    let name = function_name(f);
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
        return Err(PlanError::unsupported(
            format!("window function {name}() OVER"),
            span,
            "a window function's value for one row depends on other rows, so it cannot be maintained from changes",
        ));
    }
    if !within_group.is_empty() {
        return Err(PlanError::unsupported(
            format!("{name}() WITHIN GROUP (ORDER BY …)"),
            span,
            "ordered-set aggregates need every value of the group at once: a change cannot be applied to their result",
        )
        .with_hint("compute percentiles when you read, or keep min/max/avg here"));
    }
    if let Some((reason, hint)) = refusal(&name) {
        let err = PlanError::unsupported(format!("aggregate {name}()"), span, reason);
        return Err(match hint {
            Some(h) => err.with_hint(h),
            None => err,
        });
    }
    let kind = maintained(&name).expect("known and not refused");
    if null_treatment.is_some() || !matches!(parameters, FunctionArguments::None) {
        return Err(PlanError::unsupported(
            format!("{name}() with parameters"),
            span,
            "only plain aggregate calls are maintained",
        ));
    }
    let FunctionArguments::List(list) = args else {
        return Err(PlanError::invalid(
            format!("{name}() needs an argument"),
            span,
        ));
    };
    if !list.clauses.is_empty() {
        return Err(PlanError::unsupported(
            format!("{name}(… ORDER BY …)"),
            span,
            "an ordered aggregate's result depends on row order, which no change stream preserves",
        ));
    }
    let distinct = list.duplicate_treatment == Some(DuplicateTreatment::Distinct);
    let filter = match filter {
        Some(cond) => {
            gate_expr(cond, &format!("the FILTER clause of {name}()"), false)?;
            Some(canon.render(cond)?)
        }
        None => None,
    };
    let call = canon.render(expr)?;
    let (kind, arg) = match (kind, list.args.as_slice()) {
        (AggKind::Count, [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) => {
            if distinct {
                return Err(PlanError::invalid(
                    "count(DISTINCT *) is not valid SQL",
                    span,
                ));
            }
            match filter {
                None => (AggKind::CountStar, None),
                Some(cond) => (AggKind::Count, Some(format!("CASE WHEN {cond} THEN 1 END"))),
            }
        }
        (_, [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))]) => {
            gate_expr(arg, &format!("the argument of {name}()"), false)?;
            let arg = canon.render(arg)?;
            let arg = match filter {
                None => arg,
                Some(cond) => format!("CASE WHEN {cond} THEN {arg} END"),
            };
            (kind, Some(arg))
        }
        _ => {
            return Err(PlanError::invalid(
                format!("{name}() takes exactly one argument here"),
                span,
            ))
        }
    };
    // DISTINCT changes nothing for min, max, bool_and and bool_or.
    let distinct = distinct && matches!(kind, AggKind::Count | AggKind::Sum | AggKind::Avg);
    if list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
        && matches!(
            kind,
            AggKind::VarSamp | AggKind::VarPop | AggKind::StddevSamp | AggKind::StddevPop
        )
    {
        return Err(PlanError::unsupported(
            format!("{name}(DISTINCT …)"),
            span,
            "variance and standard deviation over distinct values are not maintained yet",
        ));
    }
    Ok(Some(AggCall {
        kind,
        arg,
        distinct,
        call,
        span,
    }))
}

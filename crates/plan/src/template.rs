//! Expressions over aggregates and group keys (`sum(x) / count(*)`, `upper(cat)` where `cat`
//! is a key, a HAVING condition) as templates: canonical SQL in which every aggregate call and
//! every group-key subexpression is a placeholder identifier, filled in later with the SQL
//! that computes it from the summary's stored columns.

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Expr, Ident, Spanned, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::aggregates::{aggregate_call, is_known_aggregate, AggCall};
use crate::analyze::Canon;
use crate::error::PlanError;
use crate::parse::fold;

fn agg_placeholder(i: usize) -> String {
    format!("__summa_agg_{i}")
}

fn key_placeholder(k: usize) -> String {
    format!("__summa_key_{k}")
}

/// Whether `expr` calls an aggregate anywhere.
pub(crate) fn contains_aggregate(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Function(f) if is_known_aggregate(f) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

struct Templater<'a, 'b> {
    keys: &'a [String],
    aggs: &'a mut Vec<AggCall>,
    canon: &'a mut Canon<'b>,
}

impl Templater<'_, '_> {
    fn placeholder(name: String) -> Expr {
        Expr::Identifier(Ident::with_quote('"', name))
    }

    fn key_of(&mut self, expr: &Expr) -> Option<usize> {
        if matches!(expr, Expr::Value(_)) || contains_aggregate(expr) {
            return None;
        }
        let text = self.canon.render(expr).ok()?;
        self.keys.iter().position(|k| *k == text)
    }
}

impl VisitorMut for Templater<'_, '_> {
    type Break = PlanError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PlanError> {
        match aggregate_call(expr, self.canon) {
            Err(err) => return ControlFlow::Break(err),
            Ok(Some(call)) => {
                let i = match self.aggs.iter().position(|a| a.call == call.call) {
                    Some(i) => i,
                    None => {
                        self.aggs.push(call);
                        self.aggs.len() - 1
                    }
                };
                *expr = Self::placeholder(agg_placeholder(i));
                return ControlFlow::Continue(());
            }
            Ok(None) => {}
        }
        if let Some(k) = self.key_of(expr) {
            *expr = Self::placeholder(key_placeholder(k));
            return ControlFlow::Continue(());
        }
        let ident = match expr {
            Expr::Identifier(ident) => Some(ident.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().cloned(),
            _ => None,
        };
        if let Some(ident) = ident {
            // Report an unknown column as such; a known one is not grouped.
            if let Err(err) = self.canon.column(&ident) {
                return ControlFlow::Break(err);
            }
            return ControlFlow::Break(PlanError::invalid(
                format!(
                    "column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                    fold(&ident)
                ),
                expr.span(),
            ));
        }
        ControlFlow::Continue(())
    }
}

/// The template of `expr`; new aggregate calls are appended to `aggs` (equal calls shared).
pub(crate) fn template(
    expr: &Expr,
    keys: &[String],
    aggs: &mut Vec<AggCall>,
    canon: &mut Canon<'_>,
) -> Result<String, PlanError> {
    let mut expr = expr.clone();
    let mut templater = Templater { keys, aggs, canon };
    if let ControlFlow::Break(err) = expr.visit(&mut templater) {
        return Err(err);
    }
    Ok(expr.to_string())
}

/// Fill a template: each aggregate placeholder becomes `(aggs[i])`, each key placeholder
/// `(keys[k])` (SQL over the summary's stored columns). Placeholders are replaced in the
/// syntax tree, so a string literal or a quoted name that happens to spell one is never
/// rewritten.
pub fn fill(template: &str, aggs: &[String], keys: &[String]) -> String {
    let mut expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(template)
        .and_then(|mut p| p.parse_expr())
        .expect("a template is SQL the planner rendered");
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(Ident {
            value,
            quote_style: Some('"'),
            ..
        }) = e
        {
            let sql = (0..aggs.len())
                .find(|&i| *value == agg_placeholder(i))
                .map(|i| &aggs[i])
                .or_else(|| {
                    (0..keys.len())
                        .find(|&k| *value == key_placeholder(k))
                        .map(|k| &keys[k])
                });
            if let Some(sql) = sql {
                // An unquoted identifier prints its text as it is: the filled-in SQL.
                *e = Expr::Nested(Box::new(Expr::Identifier(Ident::new(sql.clone()))));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    expr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_the_tree_never_in_literals() {
        let template = format!(
            "\"{}\" / NULLIF(\"{}\", 0) || '\"{}\"'",
            agg_placeholder(0),
            key_placeholder(0),
            agg_placeholder(0)
        );
        let filled = fill(&template, &["sum_x".into()], &["\"k\"".into()]);
        assert_eq!(
            filled,
            format!(
                "(sum_x) / NULLIF((\"k\"), 0) || '\"{}\"'",
                agg_placeholder(0)
            )
        );
    }
}

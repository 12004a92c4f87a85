//! Canonical SQL read back: the plan stores expressions as text in which every column is
//! `"input"."column"` (`analyze::Canon::render`); the stages that reason about them after
//! planning (the join's indexes, eager aggregation) parse that text here, and conditions
//! are combined into one here.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, BinaryOperator, Expr};

/// `(a) AND (b) AND …` of `parts`, `None` when there are none.
pub(crate) fn conjunction(parts: &[String]) -> Option<String> {
    match parts {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(
            many.iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

/// The top-level conjuncts of canonical SQL `sql` (parentheses looked through); `None` when
/// it does not parse.
pub(crate) fn conjuncts(sql: &str) -> Option<Vec<Expr>> {
    fn split(e: &Expr, out: &mut Vec<Expr>) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                split(left, out);
                split(right, out);
            }
            Expr::Nested(inner) => split(inner, out),
            other => out.push(other.clone()),
        }
    }
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let expr = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    let mut out = Vec::new();
    split(&expr, &mut out);
    Some(out)
}

/// `expr` as a column `(input, column)`, when it is one.
pub(crate) fn column(expr: &Expr) -> Option<(String, String)> {
    match expr {
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [input, column] => Some((input.value.clone(), column.value.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// Every column `expr` reads, as `(input, column)`.
pub(crate) fn columns(expr: &Expr) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let _ = visit_expressions(expr, |e| {
        out.extend(column(e));
        ControlFlow::<()>::Continue(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjuncts_and_columns_read_canonical_sql() {
        let c = conjuncts(r#"("o"."status" <> 'x') AND ("r"."id" = "o"."region_id")"#).unwrap();
        assert_eq!(c.len(), 2);
        let cols = columns(&c[1]);
        assert!(cols.contains(&("o".to_string(), "region_id".to_string())));
        assert!(cols.contains(&("r".to_string(), "id".to_string())));
        assert_eq!(
            conjunction(&["a".into(), "b".into()]).unwrap(),
            "(a) AND (b)"
        );
    }
}

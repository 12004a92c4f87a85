//! Queries that read a version: the alias view, verification, source size.

use super::ddl::HAVING;
use super::Target;
use crate::ident::{quote_ident, quote_literal};
use crate::plan::MaintenancePlan;

/// `SELECT <the SELECT's columns> FROM <table>`, keeping only the groups HAVING accepts; a
/// join without aggregates repeats each group's row as many times as it counts.
pub fn serving_select(plan: &MaintenancePlan, target: &Target) -> String {
    if plan.multiset {
        let cols: Vec<String> = plan
            .outputs
            .iter()
            .map(|o| format!("\"__t\".{}", quote_ident(&o.name)))
            .collect();
        return format!(
            "SELECT {} FROM {} AS \"__t\" CROSS JOIN LATERAL generate_series(1, \"__t\".{}) AS \"__n\"",
            cols.join(", "),
            target.table(),
            quote_ident(&plan.states[0].column)
        );
    }
    let cols: Vec<String> = plan.outputs.iter().map(|o| quote_ident(&o.name)).collect();
    let having = match plan.having {
        Some(_) => format!(" WHERE {}", quote_ident(HAVING)),
        None => String::new(),
    };
    format!("SELECT {} FROM {}{having}", cols.join(", "), target.table())
}

/// The alias view: exactly the SELECT's columns, over one version's table.
pub fn alias_view(plan: &MaintenancePlan, view: &str, target: &Target) -> String {
    format!(
        "CREATE OR REPLACE VIEW {view} AS {}",
        serving_select(plan, target)
    )
}

/// Number of heap blocks of the source table.
pub fn source_blocks(plan: &MaintenancePlan) -> String {
    input_blocks(plan, 0)
}

/// Number of heap blocks of input `k`'s table; of a partitioned one, of all its partitions
/// (a TID range reads that range of every partition: ranges up to the sum cover the largest).
pub fn input_blocks(plan: &MaintenancePlan, k: usize) -> String {
    if plan.inputs[k].partitioned {
        return format!(
            "SELECT (coalesce(sum(pg_relation_size(relid)), 0) / current_setting('block_size')::bigint)::bigint \
             FROM pg_partition_tree({}) WHERE isleaf",
            quote_literal(&plan.inputs[k].qualified())
        );
    }
    format!(
        "SELECT (pg_relation_size({}) / current_setting('block_size')::bigint)::bigint",
        quote_literal(&plan.inputs[k].qualified())
    )
}

/// Rows of version `a` and of version `b` (the same SELECT) that differ among the groups where
/// `cond` holds, both ways, as in [`verify_diff`] (`b` takes the place of the SELECT).
pub fn compare_diff(
    plan: &MaintenancePlan,
    a: &Target,
    b: &Target,
    cond: &str,
    limit: u32,
) -> String {
    diff(
        &format!(
            "SELECT * FROM ({}) s0 WHERE {cond}",
            serving_select(plan, a)
        ),
        &format!(
            "SELECT * FROM ({}) q0 WHERE {cond}",
            serving_select(plan, b)
        ),
        limit,
    )
}

fn diff(summary: &str, reference: &str, limit: u32) -> String {
    format!(
        "WITH s AS ({summary}), q AS ({reference}) \
         SELECT 'only in summary', to_jsonb(a)::text FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM q) a \
         UNION ALL \
         SELECT 'only in select', to_jsonb(b)::text FROM (SELECT * FROM q EXCEPT ALL SELECT * FROM s) b \
         LIMIT {limit}"
    )
}

/// The group-key output columns, quoted, when the SELECT outputs every key (else `None`:
/// such a view is verified in one statement).
fn output_keys(plan: &MaintenancePlan) -> Option<Vec<String>> {
    plan.keys
        .iter()
        .map(|k| {
            plan.outputs
                .iter()
                .find(|o| o.generated.is_none() && o.name == k.column)
                .map(|o| quote_ident(&o.name))
        })
        .collect()
}

/// Every `every`-th group key (as text, in key order, NULL-free keys only) of a version: the
/// lower bounds of the ranges verification compares one statement at a time.
pub fn key_boundaries(plan: &MaintenancePlan, target: &Target, every: i64) -> Option<String> {
    let keys = output_keys(plan)?;
    if keys.is_empty() {
        return None;
    }
    let texts: Vec<String> = keys.iter().map(|k| format!("{k}::text")).collect();
    let not_null: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
    Some(format!(
        "SELECT {texts} FROM (SELECT {keys}, row_number() OVER (ORDER BY {keys}) AS rn FROM {table} \
         WHERE {not_null}) b WHERE rn % {every} = 1 ORDER BY {keys}",
        texts = texts.join(", "),
        keys = keys.join(", "),
        table = target.table(),
        not_null = not_null.join(" AND ")
    ))
}

/// Conditions on the key outputs covering every group once: one range per lower bound (key
/// values as text, from [`key_boundaries`]), then the groups with a NULL key.
pub fn key_ranges(plan: &MaintenancePlan, bounds: &[Vec<String>]) -> Vec<String> {
    let Some(keys) = output_keys(plan) else {
        return vec!["true".into()];
    };
    if keys.is_empty() || bounds.is_empty() {
        return vec!["true".into()];
    }
    let row = |values: &[String]| -> String {
        let typed: Vec<String> = values
            .iter()
            .zip(&plan.keys)
            .map(|(v, k)| format!("{}::{}", quote_literal(v), k.type_sql))
            .collect();
        format!("ROW({})", typed.join(", "))
    };
    let tuple = format!("ROW({})", keys.join(", "));
    let mut conds = Vec::new();
    for (i, lo) in bounds.iter().enumerate() {
        let lower = if i == 0 {
            String::new()
        } else {
            format!("{tuple} >= {} AND ", row(lo))
        };
        let upper = match bounds.get(i + 1) {
            Some(hi) => format!("{tuple} < {}", row(hi)),
            None => "true".into(),
        };
        let not_null: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
        conds.push(format!("{} AND {lower}{upper}", not_null.join(" AND ")));
    }
    let any_null: Vec<String> = keys.iter().map(|k| format!("{k} IS NULL")).collect();
    conds.push(format!("({})", any_null.join(" OR ")));
    conds
}

/// Rows of the version and of the view's SELECT that differ among the groups where `cond`
/// (over the key outputs, `true` for all) holds, both ways (multiset difference, EXCEPT ALL):
/// `(side, row as json text)`; at most `limit` rows. Postgres pushes the condition on grouping
/// columns down into the SELECT's scan.
pub fn verify_diff(plan: &MaintenancePlan, target: &Target, cond: &str, limit: u32) -> String {
    diff(
        &format!(
            "SELECT * FROM ({}) s0 WHERE {cond}",
            serving_select(plan, target)
        ),
        // The SQL on lines of its own: a trailing `--` comment (what a file often ends
        // with) must not swallow the closing parenthesis.
        &format!(
            "SELECT * FROM (\n{}\n) q0 WHERE {cond}",
            user_select(&plan.sql)
        ),
        limit,
    )
}

/// The view's SELECT as a subquery body: without the trailing `;` a file may end with (even
/// when a comment follows it). Only whitespace, comments and semicolons are removed, so the
/// statement is exactly the user's.
fn user_select(sql: &str) -> &str {
    let mut end = sql.len();
    let tokens =
        sqlparser::tokenizer::Tokenizer::new(&sqlparser::dialect::PostgreSqlDialect {}, sql)
            .tokenize_with_location();
    if let Ok(tokens) = tokens {
        use sqlparser::tokenizer::{Token, Whitespace};
        // The byte offset just past the last token that is not whitespace, a comment or `;`.
        let significant = tokens.iter().rev().find(|t| {
            !matches!(
                t.token,
                Token::SemiColon
                    | Token::Whitespace(
                        Whitespace::Space
                            | Whitespace::Newline
                            | Whitespace::Tab
                            | Whitespace::SingleLineComment { .. }
                            | Whitespace::MultiLineComment(_)
                    )
            )
        });
        if let Some(t) = significant {
            end = byte_offset(sql, t.span.end.line, t.span.end.column);
        }
    }
    &sql[..end]
}

/// Byte offset of a 1-based line:column (in characters) of `sql`.
fn byte_offset(sql: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (n, text) in sql.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            return offset
                + text
                    .char_indices()
                    .nth(column.saturating_sub(1) as usize)
                    .map_or(text.len(), |(i, _)| i);
        }
        offset += text.len();
    }
    sql.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_user_select_keeps_everything_but_trailing_semicolons_and_comments() {
        let sql = "SELECT a, count(*) -- per a\nFROM t GROUP BY a; -- done\n";
        assert_eq!(
            super::user_select(sql),
            "SELECT a, count(*) -- per a\nFROM t GROUP BY a"
        );
        assert_eq!(super::user_select("SELECT 'x;' ;;"), "SELECT 'x;'");
        assert_eq!(super::user_select("SELECT 1 /* c */"), "SELECT 1");
    }
}

//! Queries that read a version: the alias view, verification, source size.

use super::ddl::HAVING;
use super::Target;
use crate::ident::{quote_ident, quote_literal};
use crate::plan::MaintenancePlan;

/// `SELECT <the SELECT's columns> FROM <table>`, keeping only the groups HAVING accepts.
pub fn serving_select(plan: &MaintenancePlan, target: &Target) -> String {
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
    format!(
        "SELECT (pg_relation_size({}) / current_setting('block_size')::bigint)::bigint",
        quote_literal(&plan.source_qualified())
    )
}

/// Rows of the version and of the view's SELECT that differ, both ways (multiset difference,
/// EXCEPT ALL): `(side, row as json text)`; at most `limit` rows.
pub fn verify_diff(plan: &MaintenancePlan, target: &Target, limit: u32) -> String {
    diff(
        &serving_select(plan, target),
        plan.sql.trim().trim_end_matches(';'),
        limit,
    )
}

/// Rows of version `a` and of version `b` (the same SELECT) that differ, both ways, as in
/// [`verify_diff`] (`b` takes the place of the SELECT).
pub fn compare_diff(plan: &MaintenancePlan, a: &Target, b: &Target, limit: u32) -> String {
    diff(&serving_select(plan, a), &serving_select(plan, b), limit)
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

//! SQL rendered from a plan: summary DDL, backfill chunks, delta merges, verification.
//!
//! Every statement that evaluates the view's expressions must run after the version's
//! pinned settings were applied (`PinnedSettings::set_local_sql`).
//!
//! A *delta* is a relation with the key columns and one column per state, each the sum of
//! signed per-row contributions; [`merge`] adds a delta into the summary table in one
//! statement and returns the TIDs of groups whose row count reached 0, which
//! [`delete_empty_groups`] then removes.

use crate::ident::{quote_ident, quote_literal};
use crate::plan::{MaintenancePlan, StateKind};

/// Name of the sign column of shipped change rows (+1 new row, -1 old row).
pub const SIGN: &str = "__summa_sign";

fn key_list(plan: &MaintenancePlan) -> String {
    plan.keys
        .iter()
        .map(|k| quote_ident(&k.column))
        .collect::<Vec<_>>()
        .join(", ")
}

fn stored_columns(plan: &MaintenancePlan) -> Vec<String> {
    plan.keys
        .iter()
        .map(|k| quote_ident(&k.column))
        .chain(plan.states.iter().map(|s| quote_ident(&s.column)))
        .collect()
}

/// `CREATE TABLE`, its unique group index and (for a global aggregate) its single row.
pub fn create_table(plan: &MaintenancePlan, table: &str) -> Vec<String> {
    let mut cols = Vec::new();
    for out in &plan.outputs {
        match &out.generated {
            None => cols.push(format!("{} {}", quote_ident(&out.name), out.type_sql)),
            Some(expr) => cols.push(format!(
                "{} {} GENERATED ALWAYS AS ({expr}) STORED",
                quote_ident(&out.name),
                out.type_sql
            )),
        }
    }
    for key in &plan.keys {
        if !plan
            .outputs
            .iter()
            .any(|o| o.generated.is_none() && o.name == key.column)
        {
            cols.push(format!("{} {}", quote_ident(&key.column), key.type_sql));
        }
    }
    for state in &plan.states {
        cols.push(format!(
            "{} {} NOT NULL",
            quote_ident(&state.column),
            state.type_sql
        ));
    }
    // Free space on each page lets group updates stay HOT (no new index entry per update).
    let mut stmts = vec![format!(
        "CREATE TABLE {table} (\n  {}\n) WITH (fillfactor = 70)",
        cols.join(",\n  ")
    )];
    if plan.is_global() {
        let zeros: Vec<String> = plan.states.iter().map(|s| zero(&s.type_sql)).collect();
        let names: Vec<String> = plan.states.iter().map(|s| quote_ident(&s.column)).collect();
        stmts.push(format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            zeros.join(", ")
        ));
    } else {
        stmts.push(format!(
            "CREATE UNIQUE INDEX ON {table} ({}) NULLS NOT DISTINCT",
            key_list(plan)
        ));
    }
    stmts
}

/// `-(arg)`, in a form its type has (money has no unary minus).
fn negated(arg: &str, type_sql: &str) -> String {
    if type_sql == "money" {
        format!("({arg}) * -1")
    } else {
        format!("-({arg})")
    }
}

fn zero(type_sql: &str) -> String {
    format!("'0'::{type_sql}")
}

/// The alias view: exactly the SELECT's columns, over one version's table.
pub fn alias_view(plan: &MaintenancePlan, view: &str, table: &str) -> String {
    let cols: Vec<String> = plan.outputs.iter().map(|o| quote_ident(&o.name)).collect();
    format!(
        "CREATE OR REPLACE VIEW {view} AS SELECT {} FROM {table}",
        cols.join(", ")
    )
}

/// `SELECT keys, states FROM <rows> WHERE filter GROUP BY keys`, where each state is the sum
/// of the row's contribution times `sign` (an SQL expression: `1` for backfill).
fn aggregate_rows(
    plan: &MaintenancePlan,
    rows: &str,
    sign: &str,
    extra_where: Option<&str>,
) -> String {
    let mut items: Vec<String> = plan
        .keys
        .iter()
        .map(|k| format!("({}) AS {}", k.expr, quote_ident(&k.column)))
        .collect();
    for s in &plan.states {
        let contribution = match (s.kind, &s.arg) {
            (StateKind::Rows, _) => sign.to_string(),
            (StateKind::Count, Some(arg)) => {
                format!("CASE WHEN ({arg}) IS NOT NULL THEN {sign} ELSE 0 END")
            }
            (StateKind::Sum, Some(arg)) if sign == "1" => format!("({arg})"),
            (StateKind::Sum, Some(arg)) => {
                format!(
                    "CASE WHEN {sign} > 0 THEN ({arg}) ELSE {} END",
                    negated(arg, &s.type_sql)
                )
            }
            (_, None) => unreachable!("count and sum states have an argument"),
        };
        items.push(format!(
            "coalesce(sum({contribution}), {z})::{t} AS {c}",
            z = zero(&s.type_sql),
            t = s.type_sql,
            c = quote_ident(&s.column)
        ));
    }
    let mut conds: Vec<String> = Vec::new();
    if let Some(extra) = extra_where {
        conds.push(extra.to_string());
    }
    if let Some(f) = &plan.filter {
        conds.push(format!("({f})"));
    }
    let where_clause = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let group_by = if plan.is_global() {
        String::new()
    } else {
        format!(
            " GROUP BY {}",
            (1..=plan.keys.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "SELECT {} FROM {rows}{where_clause}{group_by}",
        items.join(", ")
    )
}

/// Drops delta rows that change nothing (e.g. an update inside one group of an unread column).
fn without_noops(plan: &MaintenancePlan, delta: &str) -> String {
    let zero_checks: Vec<String> = plan
        .states
        .iter()
        .map(|s| format!("{} = {}", quote_ident(&s.column), zero(&s.type_sql)))
        .collect();
    format!(
        "SELECT * FROM ({delta}) d WHERE NOT ({})",
        zero_checks.join(" AND ")
    )
}

/// The shipped change rows as a relation: `$1` signs (int2[]), then one text[] per column.
pub fn signed_rows(plan: &MaintenancePlan) -> String {
    let mut params = vec!["$1::int2[]".to_string()];
    let mut names = vec![quote_ident(SIGN)];
    let mut typed = vec![format!("u.{}", quote_ident(SIGN))];
    for (i, c) in plan.shipped.iter().enumerate() {
        params.push(format!("${}::text[]", i + 2));
        names.push(quote_ident(&c.name));
        typed.push(format!(
            "u.{0}::{1} AS {0}",
            quote_ident(&c.name),
            c.type_sql
        ));
    }
    format!(
        "(SELECT {} FROM unnest({}) AS u({})) AS __src",
        typed.join(", "),
        params.join(", "),
        names.join(", ")
    )
}

/// Delta of a batch of shipped change rows (parameters as in [`signed_rows`]).
pub fn delta_from_rows(plan: &MaintenancePlan) -> String {
    let delta = aggregate_rows(plan, &signed_rows(plan), &quote_ident(SIGN), None);
    if plan.is_global() {
        delta
    } else {
        without_noops(plan, &delta)
    }
}

/// Delta consolidated from a staging table filled by [`stage_rows`].
pub fn delta_from_staging(plan: &MaintenancePlan, staging: &str) -> String {
    let mut items: Vec<String> = plan.keys.iter().map(|k| quote_ident(&k.column)).collect();
    items.extend(
        plan.states
            .iter()
            .map(|s| format!("sum({0})::{1} AS {0}", quote_ident(&s.column), s.type_sql)),
    );
    let group_by = if plan.is_global() {
        String::new()
    } else {
        format!(" GROUP BY {}", key_list(plan))
    };
    let delta = format!("SELECT {} FROM {staging}{group_by}", items.join(", "));
    if plan.is_global() {
        format!(
            "SELECT {} FROM ({delta}) d",
            plan.states
                .iter()
                .map(|s| format!(
                    "coalesce({0}, {1}) AS {0}",
                    quote_ident(&s.column),
                    zero(&s.type_sql)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        without_noops(plan, &delta)
    }
}

/// A session-local staging table for chunks of one large batch.
pub fn create_staging(plan: &MaintenancePlan, staging: &str) -> String {
    let cols: Vec<String> = plan
        .keys
        .iter()
        .map(|k| format!("{} {}", quote_ident(&k.column), k.type_sql))
        .chain(
            plan.states
                .iter()
                .map(|s| format!("{} {}", quote_ident(&s.column), s.type_sql)),
        )
        .collect();
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} ({}) ON COMMIT DELETE ROWS",
        cols.join(", ")
    )
}

/// Add one chunk's delta into the staging table.
pub fn stage_rows(plan: &MaintenancePlan, staging: &str) -> String {
    format!("INSERT INTO {staging} {}", delta_from_rows(plan))
}

/// Add `delta` into the summary table. Returns one row: (TIDs of groups now empty as text[],
/// number of groups written, number of groups whose row count went negative). A negative row
/// count means a change was applied twice or missed: the caller must roll back. (A CHECK
/// constraint cannot guard this: Postgres checks the proposed insert row, which holds the
/// delta, before ON CONFLICT merges it.)
pub fn merge(plan: &MaintenancePlan, table: &str, delta: &str) -> String {
    let sets: Vec<String> = plan
        .states
        .iter()
        .map(|s| {
            let c = quote_ident(&s.column);
            if plan.is_global() {
                format!("{c} = t.{c} + d.{c}")
            } else {
                format!("{c} = t.{c} + excluded.{c}")
            }
        })
        .collect();
    if plan.is_global() {
        return format!(
            "WITH d AS ({delta}), up AS (UPDATE {table} AS t SET {} FROM d RETURNING t.\"__rows\") \
             SELECT '{{}}'::text[], count(*), count(*) FILTER (WHERE \"__rows\" < 0) FROM up",
            sets.join(", ")
        );
    }
    let cols = stored_columns(plan).join(", ");
    format!(
        "WITH d AS ({delta}), up AS (INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM d \
         ON CONFLICT ({keys}) DO UPDATE SET {sets} RETURNING t.ctid, t.\"__rows\") \
         SELECT coalesce(array_agg(ctid::text) FILTER (WHERE \"__rows\" = 0), '{{}}'), count(*), \
         count(*) FILTER (WHERE \"__rows\" < 0) FROM up",
        keys = key_list(plan),
        sets = sets.join(", ")
    )
}

/// Remove groups whose row count is 0 (`$1`: TIDs returned by [`merge`]).
pub fn delete_empty_groups(table: &str) -> String {
    format!("DELETE FROM {table} WHERE ctid = ANY($1::text[]::tid[]) AND \"__rows\" = 0")
}

/// One backfill chunk: the source rows in heap blocks [`$1`, `$2`) (or from `$1` on when
/// `bounded` is false) aggregated and merged into the summary.
pub fn backfill_chunk(plan: &MaintenancePlan, table: &str, bounded: bool) -> String {
    let range = if bounded {
        "ctid >= format('(%s,0)', $1::bigint)::tid AND ctid < format('(%s,0)', $2::bigint)::tid"
    } else {
        "ctid >= format('(%s,0)', $1::bigint)::tid"
    };
    let rows = format!("{} AS __src", plan.source_qualified());
    merge(plan, table, &aggregate_rows(plan, &rows, "1", Some(range)))
}

/// Number of heap blocks of the source table.
pub fn source_blocks(plan: &MaintenancePlan) -> String {
    format!(
        "SELECT (pg_relation_size({}) / current_setting('block_size')::bigint)::bigint",
        quote_literal(&plan.source_qualified())
    )
}

/// Rows of `relation` (the summary's outputs) and of the view's SELECT that differ, both ways
/// (multiset difference, EXCEPT ALL): `(side, row as json text)`; at most `limit` rows.
pub fn verify_diff(plan: &MaintenancePlan, relation: &str, limit: u32) -> String {
    let cols: Vec<String> = plan.outputs.iter().map(|o| quote_ident(&o.name)).collect();
    let cols = cols.join(", ");
    format!(
        "WITH s AS (SELECT {cols} FROM {relation}), q AS ({sql}) \
         SELECT 'only in summary', to_jsonb(a)::text FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM q) a \
         UNION ALL \
         SELECT 'only in select', to_jsonb(b)::text FROM (SELECT * FROM q EXCEPT ALL SELECT * FROM s) b \
         LIMIT {limit}",
        sql = plan.sql.trim().trim_end_matches(';')
    )
}

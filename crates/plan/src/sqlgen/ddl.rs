//! A version's objects: summary table (outputs as stored or generated columns, then state),
//! its unique group index, value tables and the group key type.

use super::{key_columns, prefixed, typed_key_columns, Target};
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

/// Column name of the HAVING condition (see [`MaintenancePlan::having`]).
pub(crate) const HAVING: &str = "__having";

/// `CREATE TABLE`/`CREATE INDEX` statements of a new version, in order: its tables, then
/// their indexes (what `resolve` checks in a rolled-back probe).
pub fn create_objects(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    let mut stmts = create_tables(plan, target);
    stmts.extend(create_indexes(plan, target));
    stmts
}

/// The version's tables, empty and without indexes (a global aggregate's single row is
/// inserted): registered before the backfill, which loads them and then builds
/// [`create_indexes`] (an index built after a bulk load is one sort, not an insert per row).
pub fn create_tables(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    let mut stmts = vec![summary_table(plan, target)];
    if plan.is_global() {
        stmts.push(global_row(plan, target));
    }
    // Value tables: the group key columns, the value, its multiplicity.
    let keys = typed_key_columns(plan);
    for (i, vt) in plan.value_tables.iter().enumerate() {
        stmts.push(format!(
            "CREATE TABLE {} ({}\"__v\" {} NOT NULL, \"__m\" bigint NOT NULL) \
             WITH (fillfactor = 70)",
            target.values(i),
            prefixed(&keys),
            vt.type_sql
        ));
    }
    if plan.is_join() {
        for k in 0..plan.inputs.len() {
            stmts.push(super::join::create_copy(plan, target, k));
        }
    }
    if plan.eager.is_some() {
        stmts.push(super::eager::create_partials(plan, target));
    }
    stmts
}

/// The indexes of the version's tables ([`create_tables`]): the summary's unique group key,
/// each value table's unique (group, value), a join's copies' keys and lookups, an eager
/// join's partial groups'.
pub fn create_indexes(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    let mut stmts = Vec::new();
    if !plan.is_global() {
        stmts.push(format!(
            "CREATE UNIQUE INDEX ON {} ({}) NULLS NOT DISTINCT",
            target.table(),
            key_columns(plan).join(", ")
        ));
    }
    for i in 0..plan.value_tables.len() {
        stmts.push(format!(
            "CREATE UNIQUE INDEX ON {} ({}\"__v\") NULLS NOT DISTINCT",
            target.values(i),
            prefixed(&key_columns(plan))
        ));
    }
    if plan.is_join() {
        for k in 0..plan.inputs.len() {
            stmts.extend(super::join::copy_indexes(plan, target, k));
        }
    }
    if plan.eager.is_some() {
        stmts.extend(super::eager::partials_indexes(plan, target));
    }
    stmts
}

/// The single row of a global aggregate over no rows: linear states zero, extremes NULL.
fn global_row(plan: &MaintenancePlan, target: &Target) -> String {
    let (names, zeros): (Vec<String>, Vec<String>) = plan
        .states
        .iter()
        .filter_map(|s| Some((quote_ident(&s.column), s.kind.empty(&s.type_sql)?)))
        .unzip();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        target.table(),
        names.join(", "),
        zeros.join(", ")
    )
}

/// Statements that bring a version to the summary of an empty source (after a TRUNCATE),
/// inside the caller's transaction. DELETE, not TRUNCATE: readers are never blocked.
pub fn reset_objects(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    let mut stmts: Vec<String> = (0..plan.value_tables.len())
        .map(|i| format!("DELETE FROM {}", target.values(i)))
        .collect();
    stmts.push(format!("DELETE FROM {}", target.table()));
    if plan.is_global() {
        stmts.push(global_row(plan, target));
    }
    stmts
}

/// After a TRUNCATE of input `k` of a join: the join is empty (an inner join with an empty
/// input has no rows), so the summary is reset and the input's copy emptied; the other
/// inputs' copies stay as they are (and an eager join's partial groups, unless the fact was
/// truncated).
pub fn reset_for_truncated_input(plan: &MaintenancePlan, target: &Target, k: usize) -> Vec<String> {
    let mut stmts = reset_objects(plan, target);
    stmts.push(format!("DELETE FROM {}", target.input_copy(k)));
    if plan.eager.as_ref().is_some_and(|e| e.fact == k) {
        stmts.push(format!("DELETE FROM {}", target.partials()));
    }
    stmts
}

fn summary_table(plan: &MaintenancePlan, target: &Target) -> String {
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
        // A state with a value over no rows always has one; an extreme of nothing is NULL.
        let not_null = if state.kind.empty(&state.type_sql).is_some() {
            " NOT NULL"
        } else {
            ""
        };
        cols.push(format!(
            "{} {}{not_null}",
            quote_ident(&state.column),
            state.type_sql
        ));
    }
    if let Some(having) = &plan.having {
        cols.push(format!(
            "{} boolean GENERATED ALWAYS AS ({having}) STORED",
            quote_ident(HAVING)
        ));
    }
    // Free space on each page lets group updates stay HOT (no new index entry per update).
    format!(
        "CREATE TABLE {} (\n  {}\n) WITH (fillfactor = 70)",
        target.table(),
        cols.join(",\n  ")
    )
}

/// Statements removing every object of a version (those that exist).
pub fn drop_objects(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    target
        .state_tables(plan)
        .into_iter()
        .map(|t| format!("DROP TABLE IF EXISTS {t}"))
        .collect()
}

//! The bulk backfill: a new version's summary and value tables loaded the way `CREATE
//! MATERIALIZED VIEW … WITH DATA` loads its rows, in bounded statements.
//!
//! **Why not the merge.** Backfilling with the merge statement upserts every group once per
//! range of the source, and every value of a min/max or DISTINCT state once per range, into
//! indexed tables: for V2 that was one index insert per source row, 29× a `CREATE
//! MATERIALIZED VIEW` (docs/benchmarks.md).
//!
//! **How.** The version's tables are empty and have no index yet (`super::ddl::create_tables`;
//! `super::ddl::create_indexes` runs after the load). Two steps, each in statements the
//! catalog keeps within the budget:
//! 1. [`bulk_chunk`], per range of heap blocks of the source (or the join's first input):
//!    the range's groups with their row-fed states (counts, sums) and, per value table, its
//!    (group, value, multiplicity) rows, appended to session-local tables ([`bulk_tables`];
//!    no index, no conflict, no WAL);
//! 2. [`bulk_combine`], in `parts` disjoint slices of the groups (a hash of the group key): the
//!    value tables' rows summed per (group, value) and inserted, the value-fed states (min,
//!    max, DISTINCT) taken from them as the merge takes them from new values (each value
//!    appears: its multiplicity before is 0, `crate::algebra::ValueChange`), the row-fed
//!    states summed over the ranges, and each group inserted once.
//!
//! **Exact.** Every source row of the snapshot is in exactly one range (ctid ranges partition
//! the heap), so the per-range states add up to the states over all rows, as the merge's
//! chunks did; a (group, value) pair's multiplicity is the sum of its per-range counts. Each
//! group lands in one slice, so no group is inserted twice. A global aggregate (one row, no
//! keys) keeps the merge.
//!
//! When one range holds the whole source (small tables), [`bulk_direct`] does both steps in
//! one statement, straight into the version's tables.
//!
//! Every name introduced here starts with `__` or `summa_bulk_`, like the merge's.

use super::merge::{delta_branch, delta_of, internal, value_branches, value_groups_cte, Width};
use super::view_rows::{arg_column, value_column, RowSource, SIGN_OUT};
use super::{key_columns, prefixed, typed_key_columns, Target};
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

/// The session-local table of version `n`'s per-range groups.
fn partial_groups(n: usize) -> String {
    format!("pg_temp.{}", quote_ident(&format!("summa_bulk_{n}")))
}

/// The session-local table of version `n`'s per-range values of value table `j`.
fn partial_values(n: usize, j: usize) -> String {
    format!("pg_temp.{}", quote_ident(&format!("summa_bulk_{n}_v{j}")))
}

/// Whether the plan is loaded in bulk: every plan with group keys (a global aggregate's single
/// row is merged, as before).
pub fn bulk_loaded(plan: &MaintenancePlan) -> bool {
    !plan.is_global()
}

/// The session-local tables of version `n`'s load (dropped at commit at the latest).
pub fn bulk_tables(plan: &MaintenancePlan, n: usize) -> Vec<String> {
    let keys = typed_key_columns(plan);
    let mut groups = keys.clone();
    for (i, s) in plan.states.iter().enumerate() {
        if !s.kind.needs_values() {
            groups.push(format!("{} {}", internal("c", i), s.type_sql));
        }
    }
    let mut stmts = vec![format!(
        "CREATE TEMP TABLE {} ({}) ON COMMIT DROP",
        partial_groups(n),
        groups.join(", ")
    )];
    for (j, vt) in plan.value_tables.iter().enumerate() {
        stmts.push(format!(
            "CREATE TEMP TABLE {} ({}\"__v\" {}, \"__m\" bigint) ON COMMIT DROP",
            partial_values(n, j),
            prefixed(&keys),
            vt.type_sql
        ));
    }
    stmts
}

/// Drop version `n`'s session-local tables once combined.
pub fn drop_bulk_tables(plan: &MaintenancePlan, n: usize) -> String {
    let tables: Vec<String> = std::iter::once(partial_groups(n))
        .chain((0..plan.value_tables.len()).map(|j| partial_values(n, j)))
        .collect();
    format!("DROP TABLE IF EXISTS {}", tables.join(", "))
}

/// A value table's key columns and its value, `k1, k2, "__v"`.
fn value_columns(plan: &MaintenancePlan) -> String {
    format!("{}\"__v\"", prefixed(&key_columns(plan)))
}

/// `__r`: the source's view rows in heap blocks [`$1`, `$2`) (or from `$1` on).
fn backfill_rows(plan: &MaintenancePlan, bounded: bool) -> String {
    if plan.is_join() {
        super::join::backfill_rows_cte(plan, bounded)
    } else {
        super::view_rows::view_rows_cte(plan, &RowSource::Backfill { bounded })
    }
}

/// `SELECT keys, value, count FROM __r … GROUP BY keys, value`: value table `j`'s rows of
/// the view rows in `__r`.
fn values_of_rows(plan: &MaintenancePlan, j: usize) -> String {
    let keys = key_columns(plan);
    let v = value_column(j);
    let mut grouping = keys.clone();
    grouping.push(v.clone());
    format!(
        "SELECT {}{v} AS \"__v\", sum({SIGN_OUT})::int8 AS \"__m\" FROM \"__r\" \
         WHERE {v} IS NOT NULL GROUP BY {}",
        prefixed(&keys),
        grouping.join(", ")
    )
}

/// `SELECT keys, __c{i}… FROM __r GROUP BY keys`: the groups of the view rows in `__r`
/// with their row-fed states.
fn groups_of_rows(plan: &MaintenancePlan) -> String {
    let keys = key_columns(plan);
    let mut items = keys.clone();
    for (i, s) in plan.states.iter().enumerate() {
        if s.kind.needs_values() {
            continue;
        }
        let contribution = s
            .kind
            .row_contribution(SIGN_OUT, &arg_column(i), &s.type_sql)
            .expect("a state not fed by values is fed by rows");
        let typed = format!(
            "({contribution})::{}",
            s.kind.contribution_type(&s.type_sql)
        );
        items.push(format!(
            "{} AS {}",
            s.kind.consolidate(&typed, &s.type_sql),
            internal("c", i)
        ));
    }
    format!(
        "SELECT {} FROM \"__r\" GROUP BY {}",
        items.join(", "),
        keys.join(", ")
    )
}

/// Step 1 for the heap blocks [`$1`, `$2`) of the source (or from `$1` on when `bounded` is
/// false): append the range's groups and values to version `n`'s partial tables. Returns the
/// rows appended (`int8`).
pub fn bulk_chunk(plan: &MaintenancePlan, n: usize, bounded: bool) -> String {
    let mut ctes = vec![backfill_rows(plan, bounded)];
    let mut counts = Vec::new();
    for j in 0..plan.value_tables.len() {
        ctes.push(format!(
            "\"__pv{j}\" AS (INSERT INTO {} {} RETURNING 1)",
            partial_values(n, j),
            values_of_rows(plan, j)
        ));
        counts.push(format!("(SELECT count(*) FROM \"__pv{j}\")"));
    }
    ctes.push(format!(
        "\"__pg\" AS (INSERT INTO {} {} RETURNING 1)",
        partial_groups(n),
        groups_of_rows(plan)
    ));
    counts.push("(SELECT count(*) FROM \"__pg\")".to_string());
    format!(
        "WITH {} SELECT ({})::int8",
        ctes.join(", "),
        counts.join(" + ")
    )
}

/// Step 2, slice `$1` of `$2` of the groups (by a hash of the group key; `$2 = 1`: every
/// group, unhashed): insert the slice's values and groups into the version's (empty,
/// unindexed) tables. The hash is each key type's own (`hash_record_extended`), so keys the
/// type calls equal (numeric `1.0` and `1.00`, strings under a nondeterministic collation)
/// fall in one slice, as GROUP BY puts them in one group; a key type without a hash function
/// cannot be sliced (the catalog then merges ranges instead).
pub fn bulk_combine(plan: &MaintenancePlan, target: &Target, n: usize) -> String {
    let keys = key_columns(plan);
    let slice = format!(
        "($2::int8 = 1 OR abs(hash_record_extended(ROW({}), 0) % $2::int8) = $1::int8)",
        keys.join(", ")
    );
    let cols = value_columns(plan);
    let values: Vec<String> = (0..plan.value_tables.len())
        .map(|j| {
            format!(
                "SELECT {cols}, sum(\"__m\")::int8 AS \"__m\" FROM {} WHERE {slice} GROUP BY {cols}",
                partial_values(n, j)
            )
        })
        .collect();
    let groups = format!("SELECT * FROM {} WHERE {slice}", partial_groups(n));
    insert_loaded(plan, target, Vec::new(), &values, &groups)
}

/// The whole load in one statement, when one range holds the source (`$1`: its first block,
/// 0): the view rows' values and groups go straight into the version's tables.
pub fn bulk_direct(plan: &MaintenancePlan, target: &Target) -> String {
    let values: Vec<String> = (0..plan.value_tables.len())
        .map(|j| values_of_rows(plan, j))
        .collect();
    insert_loaded(
        plan,
        target,
        vec![backfill_rows(plan, false)],
        &values,
        &groups_of_rows(plan),
    )
}

/// Insert the loaded groups: per value table `j` the (group, value, multiplicity) rows of
/// `values[j]`, and each group once, from `groups` (keys and `__c{i}` per row-fed state)
/// and the value-fed states of those values; `first` CTEs precede (the view rows).
fn insert_loaded(
    plan: &MaintenancePlan,
    target: &Target,
    first: Vec<String>,
    values: &[String],
    groups: &str,
) -> String {
    let keys = key_columns(plan);
    let cols = value_columns(plan);
    let mut ctes = first;
    for (j, rows) in values.iter().enumerate() {
        ctes.push(format!("\"__vc{j}\" AS ({rows})"));
        ctes.push(format!(
            "\"__vi{j}\" AS (INSERT INTO {} ({cols}, \"__m\") SELECT {cols}, \"__m\" FROM \"__vc{j}\")",
            target.values(j)
        ));
        // Every value appears: its multiplicity before the load is 0.
        ctes.push(format!(
            "\"__vo{j}\" AS (SELECT {cols}, 0::int8 AS \"__old\", \"__m\" FROM \"__vc{j}\")"
        ));
        ctes.push(value_groups_cte(plan, j));
    }
    ctes.push(format!("\"__pg\" AS ({groups})"));
    let mut branches = vec![delta_branch(
        plan,
        "\"__pg\"",
        Width::State,
        |i| (!plan.states[i].kind.needs_values()).then(|| internal("c", i)),
        |_| None,
    )];
    branches.extend(value_branches(plan));
    ctes.push(format!("\"__d\" AS ({})", delta_of(plan, branches)));
    let out: Vec<String> = keys
        .iter()
        .cloned()
        .chain(plan.states.iter().map(|s| quote_ident(&s.column)))
        .collect();
    let out = out.join(", ");
    format!(
        "WITH {} INSERT INTO {} ({out}) SELECT {out} FROM \"__d\"",
        ctes.join(", "),
        target.table()
    )
}

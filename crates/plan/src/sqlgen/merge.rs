//! The aggregate merge: signed view rows (`__r`, from [`super::view_rows`]) become per-group
//! deltas that one statement adds into the summary and its value tables.
//!
//! The statement's CTEs, in order:
//! - `__r`: the view rows with their sign, key columns and the arguments the states read
//!   (and, for an eager join, `__e`: the partial groups its other inputs met, with their
//!   signed states, `super::eager`);
//! - per value table `j`: `__vd{j}`, the net multiplicity change per (group, value);
//!   `__vu{j}`, the upsert, returning the new multiplicity; `__vo{j}`, both side by side
//!   (old = new - change); and `__vg{j}`, per group: each value-fed state's transition
//!   (`crate::algebra::StateKind::value_transition`);
//! - `__d`: per group, the rows' contributions and the `__vg{j}` transitions, consolidated,
//!   with `__n` (the view-row deltas behind it) and `__noop` (it changes nothing);
//! - `__up`: the summary upsert of the groups that change (each state combines as its
//!   algebra says).
//!
//! It returns a [`MergeResult`]; the applier then deletes emptied groups and spent values and
//! recomputes the extremes of groups whose min/max value went ([`recompute_extremes`]), from
//! the value table: an index lookup per group, never a scan of the source.
//!
//! Every name the statement introduces starts with `__`, which no output column may (the
//! planner refuses such names), and the summary's key columns are output names or `__key_N`:
//! a user's column can never meet one of them.

use super::view_rows::{arg_column, value_column, view_rows_cte, RowSource, SIGN_OUT};
use super::{key_columns, prefixed, Target};
use crate::algebra::ValueChange;
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

/// The row a merge statement returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeResult {
    /// TIDs of groups whose row count reached 0 ([`delete_empty_groups`]).
    pub empty_groups: Vec<String>,
    /// Groups written.
    pub groups: i64,
    /// Groups or values whose count went negative: a change was applied twice or missed, the
    /// caller must roll back. (A CHECK constraint cannot guard this: Postgres checks the
    /// proposed insert row, which holds the delta, before ON CONFLICT merges it.)
    pub negative: i64,
    /// TIDs of groups whose min/max lost its last copy ([`recompute_extremes`]).
    pub recompute: Vec<String>,
    /// View-row deltas the batch made (a join's fan-out): rows of `__r`, and the partial
    /// groups an eager join's other inputs met.
    pub view_rows: i64,
    /// Per value table: TIDs of values whose multiplicity reached 0 ([`delete_spent_values`]).
    pub spent_values: Vec<Vec<String>>,
}

impl MergeResult {
    pub fn from_row(row: &tokio_postgres::Row) -> Self {
        MergeResult {
            empty_groups: row.get(0),
            groups: row.get(1),
            negative: row.get(2),
            recompute: row.get(3),
            view_rows: row.get(4),
            spent_values: (5..row.len()).map(|i| row.get(i)).collect(),
        }
    }
}

/// Merge a batch of change rows shipped as parameters (as in [`stage_rows`]).
/// For a join this merges the rows but does not move the inputs' copies: the applier stages a
/// join's batch ([`merge_staged`], then `delete_from_copy`/`insert_into_copy`).
pub fn merge_changes(plan: &MaintenancePlan, target: &Target) -> String {
    merge(plan, target, &RowSource::Changes)
}

/// Merge the change rows collected in a staging table by [`stage_rows`].
pub fn merge_staged(plan: &MaintenancePlan, target: &Target, staging: &str) -> String {
    merge(plan, target, &RowSource::Staged(staging))
}

/// One backfill chunk: the source rows in heap blocks [`$1`, `$2`) (or from `$1` on when
/// `bounded` is false), merged with sign +1.
pub fn backfill_chunk(plan: &MaintenancePlan, target: &Target, bounded: bool) -> String {
    merge(plan, target, &RowSource::Backfill { bounded })
}

/// A session-local staging table holding the change rows of one large batch, shipped in
/// chunks so the sidecar's memory stays bounded.
pub fn create_staging(plan: &MaintenancePlan, staging: &str) -> String {
    if plan.is_join() {
        return super::join::create_staging(plan, staging);
    }
    let sign = super::names::row_names(plan, 0).sign;
    let cols: Vec<String> = std::iter::once(format!("{} int2", quote_ident(&sign)))
        .chain(
            plan.source()
                .shipped
                .iter()
                .map(|c| format!("{} {}", quote_ident(&c.name), c.type_sql)),
        )
        .collect();
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} ({}) ON COMMIT DELETE ROWS",
        cols.join(", ")
    )
}

/// Add one chunk of change rows to the staging table.
pub fn stage_rows(plan: &MaintenancePlan, staging: &str) -> String {
    if plan.is_join() {
        return super::join::stage_rows(plan, staging);
    }
    format!(
        "INSERT INTO {staging} SELECT * FROM {}",
        super::view_rows::change_rows(plan)
    )
}

/// Remove groups whose row count is 0 (`$1`: TIDs from [`MergeResult::empty_groups`]).
pub fn delete_empty_groups(target: &Target) -> String {
    format!(
        "DELETE FROM {} WHERE ctid = ANY($1::text[]::tid[]) AND \"__rows\" = 0",
        target.table()
    )
}

/// Remove values whose multiplicity is 0 from value table `j`.
pub fn delete_spent_values(target: &Target, j: usize) -> String {
    format!(
        "DELETE FROM {} WHERE ctid = ANY($1::text[]::tid[]) AND \"__m\" = 0",
        target.values(j)
    )
}

/// Recompute every min/max of the groups at TIDs `$1` from their value tables; `None` when
/// the view has no min/max.
pub fn recompute_extremes(plan: &MaintenancePlan, target: &Target) -> Option<String> {
    let sets: Vec<String> = plan
        .states
        .iter()
        .filter_map(|s| {
            let order = s.kind.extreme()?.order;
            let values = target.values(s.values.expect("min/max states have a value table"));
            let lookup = |conds: String| {
                format!(
                    "(SELECT v.\"__v\" FROM {values} v WHERE {conds}v.\"__m\" > 0 ORDER BY v.\"__v\"{order} LIMIT 1)"
                )
            };
            Some(format!(
                "{} = {}",
                quote_ident(&s.column),
                by_group_key(plan, &lookup)
            ))
        })
        .collect();
    if sets.is_empty() {
        return None;
    }
    Some(format!(
        "UPDATE {} AS t SET {} WHERE t.ctid = ANY($1::text[]::tid[])",
        target.table(),
        sets.join(", ")
    ))
}

/// A value-table lookup for the group of summary row `t`, written so the unique index serves
/// it: `k = t.k` where `t.k` is not NULL and `k IS NULL` where it is, one branch per pattern
/// of NULL keys (beyond three keys, IS NOT DISTINCT FROM, which no index serves).
fn by_group_key(plan: &MaintenancePlan, lookup: &dyn Fn(String) -> String) -> String {
    let keys = key_columns(plan);
    if keys.len() > 3 {
        let conds: String = keys
            .iter()
            .map(|k| format!("v.{k} IS NOT DISTINCT FROM t.{k} AND "))
            .collect();
        return lookup(conds);
    }
    let mut branches = Vec::new();
    for pattern in 0..(1u32 << keys.len()) {
        let null = |i: usize| pattern & (1 << i) != 0;
        let test: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("t.{k} IS {}NULL", if null(i) { "" } else { "NOT " }))
            .collect();
        let conds: String = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                if null(i) {
                    format!("v.{k} IS NULL AND ")
                } else {
                    format!("v.{k} = t.{k} AND ")
                }
            })
            .collect();
        branches.push((test.join(" AND "), lookup(conds)));
    }
    if branches.len() == 1 {
        return branches.remove(0).1;
    }
    let whens: String = branches
        .iter()
        .map(|(test, value)| format!(" WHEN {test} THEN {value}"))
        .collect();
    format!("CASE{whens} END")
}

fn has_extremes(plan: &MaintenancePlan) -> bool {
    plan.states.iter().any(|s| !s.kind.is_linear())
}

fn group_by(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", items.join(", "))
    }
}

/// Column `__c{i}` (state `i`'s contribution) or `__g{i}` (its gone extreme) of a delta
/// branch, `__e{i}` (its new extreme) of the recompute check.
pub(super) fn internal(prefix: &str, i: usize) -> String {
    quote_ident(&format!("__{prefix}{i}"))
}

fn merge(plan: &MaintenancePlan, target: &Target, source: &RowSource<'_>) -> String {
    let keyed = !plan.is_global();
    let rows = match (plan.is_join(), source) {
        (false, _) => view_rows_cte(plan, source),
        (true, RowSource::Staged(staging)) => super::join::view_rows_ctes(plan, target, staging),
        (true, RowSource::Backfill { bounded }) => super::join::backfill_rows_cte(plan, *bounded),
        // The applier stages a join's batch (its copies change from the staging table).
        (true, RowSource::Changes) => format!(
            "{}, {}",
            super::join::staged_params_cte(plan),
            super::join::view_rows_ctes(plan, target, "\"__staged\"")
        ),
    };
    let mut ctes = vec![rows];
    for j in 0..plan.value_tables.len() {
        ctes.extend(value_table_ctes(plan, target, j));
    }
    let partial_rows = plan.eager.is_some() && !matches!(source, RowSource::Backfill { .. });
    ctes.push(format!("\"__d\" AS ({})", delta(plan, partial_rows)));
    ctes.push(format!("\"__up\" AS ({})", upsert(plan, target)));

    let mut negative = vec!["count(*) FILTER (WHERE u.\"__rows\" < 0)".to_string()];
    let mut spent = Vec::new();
    for j in 0..plan.value_tables.len() {
        negative.push(format!(
            "(SELECT count(*) FROM \"__vu{j}\" WHERE \"__m\" < 0)"
        ));
        spent.push(format!(
            ", (SELECT coalesce(array_agg(ctid::text) FILTER (WHERE \"__m\" = 0), '{{}}') FROM \"__vu{j}\")"
        ));
    }
    // A global aggregate keeps its single row, also at 0 rows.
    let empty = if keyed { "u.\"__rows\" = 0" } else { "false" };
    format!(
        "WITH {} SELECT coalesce(array_agg(u.ctid::text) FILTER (WHERE {empty}), '{{}}'), \
         count(*)::int8, ({})::int8, {}, (SELECT coalesce(sum(\"__n\"), 0) FROM \"__d\")::int8{} \
         FROM \"__up\" u",
        ctes.join(", "),
        negative.join(" + "),
        recompute_tids(plan),
        spent.concat()
    )
}

/// TIDs of written groups whose min/max lost its last copy: a gone value at or beyond the
/// extreme left after combining. `__up` (new extremes) and `__d` (gone values) are matched
/// per group by GROUP BY over their UNION ALL.
fn recompute_tids(plan: &MaintenancePlan) -> String {
    if !has_extremes(plan) {
        return "'{}'::text[]".to_string();
    }
    let keys = key_columns(plan);
    let mut up = keys.clone();
    let mut gone = keys.clone();
    up.push("u.ctid::text AS \"__tid\"".into());
    gone.push("NULL::text".into());
    up.push("u.\"__rows\" AS \"__n\"".into());
    gone.push("NULL::int8".into());
    let mut conds = Vec::new();
    for (i, s) in plan.states.iter().enumerate() {
        let Some(e) = s.kind.extreme() else {
            continue;
        };
        let c = quote_ident(&s.column);
        let (ex, g) = (internal("e", i), internal("g", i));
        up.push(format!("u.{c} AS {ex}, NULL::{} AS {g}", s.type_sql));
        gone.push(format!("NULL::{t}, d.\"__gone_{i}\"::{t}", t = s.type_sql));
        conds.push(format!(
            "{f}({g}) {op} {f}({ex})",
            f = e.pick,
            op = e.reaches
        ));
    }
    // An emptied group is deleted; a global aggregate's row stays and needs its extremes.
    let alive = if plan.is_global() {
        String::new()
    } else {
        "max(\"__n\") > 0 AND ".to_string()
    };
    format!(
        "(SELECT coalesce(array_agg(\"__tid\"), '{{}}') FROM (SELECT max(\"__tid\") AS \"__tid\" FROM \
         (SELECT {} FROM \"__up\" u UNION ALL SELECT {} FROM \"__d\" d) x{} \
         HAVING {alive}({})) r)",
        up.join(", "),
        gone.join(", "),
        group_by(&keys),
        conds.join(" OR ")
    )
}

fn value_table_ctes(plan: &MaintenancePlan, target: &Target, j: usize) -> Vec<String> {
    let keys = key_columns(plan);
    let values = target.values(j);
    let vcol = value_column(j);
    let mut grouping = keys.clone();
    grouping.push(vcol.clone());
    let with_value: Vec<String> = keys.iter().cloned().chain(["\"__v\"".into()]).collect();
    let cols = with_value.join(", ");
    let returned: String = keys.iter().map(|k| format!("v.{k}, ")).collect();
    let mut ctes = vec![
        format!(
            "\"__vd{j}\" AS (SELECT {}{vcol} AS \"__v\", sum({SIGN_OUT})::int8 AS \"__m\" \
             FROM \"__r\" WHERE {vcol} IS NOT NULL{} HAVING sum({SIGN_OUT}) <> 0)",
            prefixed(&keys),
            group_by(&grouping)
        ),
        format!(
            "\"__vu{j}\" AS (INSERT INTO {values} AS v ({cols}, \"__m\") SELECT {cols}, \"__m\" FROM \"__vd{j}\" \
             ON CONFLICT ({cols}) DO UPDATE SET \"__m\" = v.\"__m\" + excluded.\"__m\" \
             RETURNING {returned}v.\"__v\", v.\"__m\", v.ctid)"
        ),
        // Old multiplicity = new - change, matched per (group, value) by GROUP BY.
        format!(
            "\"__vo{j}\" AS (SELECT {cols}, (sum(\"__new\") - sum(\"__m\"))::int8 AS \"__old\", sum(\"__m\")::int8 AS \"__m\" \
             FROM (SELECT {cols}, \"__m\" AS \"__new\", 0::int8 AS \"__m\" FROM \"__vu{j}\" \
             UNION ALL SELECT {cols}, 0::int8, \"__m\" FROM \"__vd{j}\") x{})",
            group_by(&with_value)
        ),
    ];
    ctes.push(value_groups_cte(plan, j));
    ctes
}

/// `__vg{j}`, per group: each state fed by value table `j`, its transition from the per
/// (group, value) rows of `__vo{j}` (keys, `__v`, `__old`, `__m`).
pub(super) fn value_groups_cte(plan: &MaintenancePlan, j: usize) -> String {
    let keys = key_columns(plan);
    let change = ValueChange {
        value: "\"__v\"",
        change: "\"__m\"",
        old: "\"__old\"",
    };
    let mut items = keys.clone();
    for (i, s) in plan.states.iter().enumerate() {
        if s.values != Some(j) {
            continue;
        }
        let (contribution, gone) = s.kind.value_transition(&change, &s.type_sql);
        items.push(format!("{contribution} AS {}", internal("c", i)));
        if let Some(gone) = gone {
            items.push(format!("{gone} AS {}", internal("g", i)));
        }
    }
    format!(
        "\"__vg{j}\" AS (SELECT {} FROM \"__vo{j}\"{})",
        items.join(", "),
        group_by(&keys)
    )
}

/// One branch of the delta's UNION ALL: keys, a column `__c{i}` per state and `__g{i}` per
/// min/max, each cast to its contribution type (`None`: NULL), then `__n`, the view-row
/// deltas each of its rows stands for (`rows`). A branch of pre-aggregated contributions
/// (`Width::State`) keeps each state's own type: a partial group's sum is no machine integer.
pub(super) fn delta_branch(
    plan: &MaintenancePlan,
    from: &str,
    width: Width,
    state_item: impl Fn(usize) -> Option<String>,
    gone_item: impl Fn(usize) -> Option<String>,
) -> String {
    let typed = |value: Option<String>, type_sql: &str| match value {
        Some(v) => format!("({v})::{type_sql}"),
        None => format!("NULL::{type_sql}"),
    };
    let mut items = key_columns(plan);
    for (i, s) in plan.states.iter().enumerate() {
        let type_sql = match width {
            Width::Row(_) => s.kind.contribution_type(&s.type_sql),
            Width::State => &s.type_sql,
        };
        items.push(format!(
            "{} AS {}",
            typed(state_item(i), type_sql),
            internal("c", i)
        ));
        if !s.kind.is_linear() {
            items.push(format!(
                "{} AS {}",
                typed(gone_item(i), &s.type_sql),
                internal("g", i)
            ));
        }
    }
    let rows = match width {
        Width::Row(rows) => rows,
        Width::State => 1,
    };
    items.push(format!("{rows} AS \"__n\""));
    format!("SELECT {} FROM {from}", items.join(", "))
}

/// What a delta branch's rows are.
#[derive(Clone, Copy)]
pub(super) enum Width {
    /// Per-row contributions, each row standing for this many view-row deltas.
    Row(u8),
    /// Pre-aggregated contributions of a partial group (one view-row delta each).
    State,
}

/// `__d`: per group, the delta of every state (and the gone extremes), and `__n`, the view-row
/// deltas that made it; with `partial_rows`, also an eager join's partial contributions.
/// No-op groups stay (they count as view-row deltas); the upsert leaves them out.
fn delta(plan: &MaintenancePlan, partial_rows: bool) -> String {
    let rows_branch = delta_branch(
        plan,
        "\"__r\"",
        Width::Row(1),
        |i| {
            let s = &plan.states[i];
            s.kind
                .row_contribution(SIGN_OUT, &arg_column(i), &s.type_sql)
        },
        |_| None,
    );
    let mut branches = vec![rows_branch];
    if partial_rows {
        branches.push(delta_branch(
            plan,
            super::eager::PARTIAL_ROWS,
            Width::State,
            |i| Some(internal("c", i)),
            |_| None,
        ));
    }
    branches.extend(value_branches(plan));
    delta_of(plan, branches)
}

/// The delta branches of the value tables' transitions (`__vg{j}`).
pub(super) fn value_branches(plan: &MaintenancePlan) -> Vec<String> {
    (0..plan.value_tables.len())
        .map(|j| {
            delta_branch(
                plan,
                &format!("\"__vg{j}\""),
                Width::Row(0),
                |i| (plan.states[i].values == Some(j)).then(|| internal("c", i)),
                |i| (plan.states[i].values == Some(j)).then(|| internal("g", i)),
            )
        })
        .collect()
}

/// `__d` over the UNION ALL of `branches` ([`delta_branch`]): per group, each state's
/// consolidated delta, the gone extremes, `__n` and `__noop`.
pub(super) fn delta_of(plan: &MaintenancePlan, branches: Vec<String>) -> String {
    let keys = key_columns(plan);
    let mut items = keys.clone();
    let mut noop = Vec::new();
    for (i, s) in plan.states.iter().enumerate() {
        let c = quote_ident(&s.column);
        items.push(format!(
            "{} AS {c}",
            s.kind.consolidate(&internal("c", i), &s.type_sql)
        ));
        noop.push(s.kind.is_noop(&c, &s.type_sql));
        if let Some(e) = s.kind.extreme() {
            let gone = format!("\"__gone_{i}\"");
            items.push(format!("{}({}) AS {gone}", e.pick, internal("g", i)));
            noop.push(format!("{gone} IS NULL"));
        }
    }
    items.push("sum(\"__n\")::int8 AS \"__n\"".to_string());
    let grouped = format!(
        "SELECT {} FROM ({}) u{}",
        items.join(", "),
        branches.join(" UNION ALL "),
        group_by(&keys)
    );
    if plan.is_global() {
        grouped
    } else {
        format!(
            "SELECT *, ({}) AS \"__noop\" FROM ({grouped}) d",
            noop.join(" AND ")
        )
    }
}

/// `__up`: add `__d` into the summary; returns each written group's TID, row count, and (for
/// min/max) its group value and new extremes.
fn upsert(plan: &MaintenancePlan, target: &Target) -> String {
    let table = target.table();
    let from = if plan.is_global() { "d" } else { "excluded" };
    let sets: Vec<String> = plan
        .states
        .iter()
        .map(|s| {
            let c = quote_ident(&s.column);
            format!(
                "{c} = {}",
                s.kind.combine(&format!("t.{c}"), &format!("{from}.{c}"))
            )
        })
        .collect();
    let mut returning = vec!["t.ctid".to_string(), "t.\"__rows\"".to_string()];
    if has_extremes(plan) {
        returning.extend(key_columns(plan).iter().map(|k| format!("t.{k}")));
        returning.extend(
            plan.states
                .iter()
                .filter(|s| !s.kind.is_linear())
                .map(|s| format!("t.{}", quote_ident(&s.column))),
        );
    }
    if plan.is_global() {
        return format!(
            "UPDATE {table} AS t SET {} FROM \"__d\" d RETURNING {}",
            sets.join(", "),
            returning.join(", ")
        );
    }
    let cols: Vec<String> = key_columns(plan)
        .into_iter()
        .chain(plan.states.iter().map(|s| quote_ident(&s.column)))
        .collect();
    let cols = cols.join(", ");
    format!(
        "INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM \"__d\" WHERE NOT \"__noop\" \
         ON CONFLICT ({}) DO UPDATE SET {} RETURNING {}",
        key_columns(plan).join(", "),
        sets.join(", "),
        returning.join(", ")
    )
}

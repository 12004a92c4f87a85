//! Eager aggregation of an inner join (format 7, [`crate::Eager`]): the fact's partial groups.
//!
//! **State.** `<table>__partials` holds, per value of the partial key `P` (the fact's columns
//! the other conjuncts and the group keys read), each state over the fact rows that pass the
//! fact's own conjuncts: the row count, each count and each sum. Like the copies it stands at
//! the summary's applied LSN: filled from the fact's copy at the backfill (the same snapshot),
//! and changed by each batch's net change of the fact (`ΔF`, from the copy and the staged
//! rows) in the same target transaction, after the merge read it and before the copies move.
//! A partial group whose row count reaches 0 is deleted, so the table holds exactly the
//! partial groups of the fact as it is.
//!
//! **Use.** The telescoped delta takes the fact last (`super::join::view_rows_ctes`): the
//! term of another input `D` is `ΔD ⋈ (others) ⋈ F₀`, and `F₀` grouped by `P` is this table.
//! Each partial group it meets contributes its states, signed by the `ΔD` row
//! ([`crate::StateKind::weighted_contribution`]), under the remaining conjuncts: exact because
//! the keys and those conjuncts read the fact only through `P` (`crate::eager`).

use super::join::{
    changes_cte, delta, equated_columns, final_cte, from_clause, quoted, where_clause,
};
use super::names::{partial_state, qualified_sign};
use super::view_rows::key_items;
use super::Target;
use crate::ident::quote_ident;
use crate::plan::{Eager, MaintenancePlan};

/// The CTE of the partial groups' contributions: key columns, then `"__c{i}"` per state.
pub(crate) const PARTIAL_ROWS: &str = "\"__e\"";

fn eager(plan: &MaintenancePlan) -> &Eager {
    plan.eager.as_ref().expect("an eager plan")
}

/// `"fact"."col"` for each partial key column.
fn keyed(plan: &MaintenancePlan) -> Vec<String> {
    let e = eager(plan);
    let fact = quote_ident(&plan.inputs[e.fact].name);
    e.columns
        .iter()
        .map(|c| format!("{fact}.{}", quote_ident(c)))
        .collect()
}

fn state_columns(plan: &MaintenancePlan) -> Vec<String> {
    (0..plan.states.len())
        .map(|i| quote_ident(&partial_state(plan, i)))
        .collect()
}

/// The partials table: the partial key's columns, then each state.
pub(crate) fn create_partials(plan: &MaintenancePlan, target: &Target) -> String {
    let e = eager(plan);
    let fact = &plan.inputs[e.fact];
    let mut cols: Vec<String> = e
        .columns
        .iter()
        .map(|c| {
            let shipped = fact.shipped.iter().find(|s| s.name == *c).expect("shipped");
            format!("{} {}", quote_ident(c), shipped.type_sql)
        })
        .collect();
    for (i, s) in plan.states.iter().enumerate() {
        cols.push(format!(
            "{} {} NOT NULL",
            quote_ident(&partial_state(plan, i)),
            s.type_sql
        ));
    }
    format!(
        "CREATE TABLE {} ({}) WITH (fillfactor = 70)",
        target.partials(),
        cols.join(", ")
    )
}

/// The partial groups' unique key, an index per key column another input is equated with,
/// and one that finds the spent partial groups.
pub(crate) fn partials_indexes(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    let e = eager(plan);
    let partials = target.partials();
    let mut stmts = vec![
        format!(
            "CREATE UNIQUE INDEX ON {partials} ({}) NULLS NOT DISTINCT",
            quoted(&e.columns).join(", ")
        ),
        format!(
            "CREATE INDEX ON {partials} ({0}) WHERE {0} = 0",
            state_columns(plan)[0]
        ),
    ];
    for c in equated_columns(plan, e.fact) {
        if e.columns.first() != Some(&c) && e.columns.contains(&c) {
            stmts.push(format!("CREATE INDEX ON {partials} ({})", quote_ident(&c)));
        }
    }
    stmts
}

/// `SELECT P, states FROM rows GROUP BY P` over fact rows read from `rows` (named as the
/// fact), each signed by `sign`, under the fact's own conjuncts.
fn grouped(plan: &MaintenancePlan, rows: &str, sign: &str) -> String {
    let e = eager(plan);
    let keys = keyed(plan);
    let mut items = keys.clone();
    for (i, s) in plan.states.iter().enumerate() {
        let arg = s
            .arg
            .as_deref()
            .map(|a| format!("({a})"))
            .unwrap_or_default();
        let contribution = s
            .kind
            .row_contribution(sign, &arg, &s.type_sql)
            .expect("an eager plan's states are fed by rows");
        items.push(format!(
            "{} AS {}",
            s.kind.consolidate(&contribution, &s.type_sql),
            quote_ident(&partial_state(plan, i))
        ));
    }
    format!(
        "SELECT {} FROM {rows} AS {}{} GROUP BY {}",
        items.join(", "),
        quote_ident(&plan.inputs[e.fact].name),
        where_clause(e.fact_filter.iter().map(|f| format!("({f})")).collect()),
        keys.join(", ")
    )
}

fn insert_columns(plan: &MaintenancePlan) -> String {
    let mut cols = quoted(&eager(plan).columns);
    cols.extend(state_columns(plan));
    cols.join(", ")
}

/// Fill the partial groups from the fact's copy (filled in the backfill's snapshot); `None`
/// when the plan is not eager.
pub fn fill_partials(plan: &MaintenancePlan, target: &Target) -> Option<String> {
    let e = plan.eager.as_ref()?;
    Some(format!(
        "INSERT INTO {} ({}) {}",
        target.partials(),
        insert_columns(plan),
        grouped(plan, &target.input_copy(e.fact), "1")
    ))
}

/// After the merge, before the copies move: add the staged batch's net change of the fact to
/// its partial groups, then delete those left without rows. Empty when the plan is not eager.
pub fn update_partials(plan: &MaintenancePlan, target: &Target, staging: &str) -> Vec<String> {
    let Some(e) = &plan.eager else {
        return Vec::new();
    };
    let f = e.fact;
    let sign = qualified_sign(plan, f);
    let partials = target.partials();
    let sets: Vec<String> = state_columns(plan)
        .iter()
        .map(|c| format!("{c} = t.{c} + excluded.{c}"))
        .collect();
    vec![
        format!(
            "WITH {}, {} INSERT INTO {partials} AS t ({cols}) {} \
             ON CONFLICT ({}) DO UPDATE SET {}",
            changes_cte(plan, staging, f),
            final_cte(plan, f),
            grouped(plan, &delta(plan, target, f), &sign),
            quoted(&e.columns).join(", "),
            sets.join(", "),
            cols = insert_columns(plan),
        ),
        format!(
            "DELETE FROM {partials} WHERE {0} = 0",
            state_columns(plan)[0]
        ),
    ]
}

/// The term of input `k` (not the fact) over `relations`, where the fact's is its partial
/// groups: per partial group met, the group keys and each state's signed contribution.
pub(crate) fn partial_term(
    plan: &MaintenancePlan,
    target: &Target,
    mut relations: Vec<String>,
    sign: &str,
) -> String {
    let e = eager(plan);
    relations[e.fact] = target.partials();
    let fact = quote_ident(&plan.inputs[e.fact].name);
    let mut items = key_items(plan);
    for (i, s) in plan.states.iter().enumerate() {
        let partial = format!("{fact}.{}", quote_ident(&partial_state(plan, i)));
        let contribution = s
            .kind
            .weighted_contribution(sign, &partial, &s.type_sql)
            .expect("an eager plan's states are sums of partials");
        items.push(format!(
            "({contribution})::{} AS {}",
            s.type_sql,
            quote_ident(&format!("__c{i}"))
        ));
    }
    format!(
        "SELECT {} FROM {}{}",
        items.join(", "),
        from_clause(plan, &relations),
        where_clause(e.rest_filter.iter().map(|f| format!("({f})")).collect())
    )
}

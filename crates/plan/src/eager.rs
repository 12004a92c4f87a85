//! Eager aggregation of an inner join: whether a plan can keep its fact pre-aggregated.
//!
//! **The rule.** Let `F` be the one input every aggregate argument reads, `C_F` the filter's
//! conjuncts over `F` alone and `C` the others, and `P` the columns of `F` that `C` and the
//! group keys read. When every state is a count or a sum (the row count, `count(x)`,
//! `sum(x)`), the view equals the same join with `F` replaced by its partial groups
//! `Φ = SELECT P, states FROM F WHERE C_F GROUP BY P`, each partial group weighing its
//! states: every view row's key and `C` depend on `F` only through `P`, so the rows of one
//! partial group fall into the same groups, and a count or a sum over them is the sum of
//! their partials. Min/max and DISTINCT are not sums of partials (they keep value tables),
//! so a view with them is not eager.
//!
//! **Why it pays.** A change of another input `D` joins `ΔD` with `Φ` (one row per value of
//! `P`) instead of with `F`'s rows: a region rename in `orders ⋈ regions` reads one partial
//! group per region, not the region's orders. `P` holding `F`'s whole primary key would make
//! `Φ` as big as `F`, so such a view is not eager.
//!
//! The rule reads the plan's canonical SQL, where every column is `"input"."column"`.

use std::collections::BTreeSet;

use crate::canonical::{columns, conjunction, conjuncts};
use crate::plan::{Eager, InputRole, MaintenancePlan, StateKind};

/// The columns canonical SQL `sql` reads; `None` when it does not parse.
fn read(sql: &str) -> Option<BTreeSet<(String, String)>> {
    Some(conjuncts(sql)?.iter().flat_map(columns).collect())
}

/// The eager form of an inner join's plan, when the rule above allows it.
pub(crate) fn eager_for(plan: &MaintenancePlan) -> Option<Eager> {
    if !plan.is_join()
        || plan.multiset
        || plan.inputs.iter().any(|i| i.role != InputRole::Inner)
        || !plan.value_tables.is_empty()
        || plan
            .states
            .iter()
            .any(|s| !matches!(s.kind, StateKind::Rows | StateKind::Count | StateKind::Sum))
    {
        return None;
    }
    // The fact: the one input the arguments read; when they read none (`count(*)` alone),
    // the first input whose partial groups are not its rows.
    let mut read = BTreeSet::new();
    for arg in plan.states.iter().filter_map(|s| s.arg.as_deref()) {
        read.extend(self::read(arg)?);
    }
    let inputs: BTreeSet<&String> = read.iter().map(|(i, _)| i).collect();
    match inputs.into_iter().collect::<Vec<_>>().as_slice() {
        [] => (0..plan.inputs.len()).find_map(|f| with_fact(plan, f)),
        [one] => with_fact(plan, plan.inputs.iter().position(|i| i.name == **one)?),
        _ => None,
    }
}

/// The eager form with input `fact` pre-aggregated, unless its partial key would hold the
/// fact's whole primary key (or nothing).
fn with_fact(plan: &MaintenancePlan, fact: usize) -> Option<Eager> {
    let name = &plan.inputs[fact].name;
    let (mut fact_only, mut rest) = (Vec::new(), Vec::new());
    let mut kept: BTreeSet<String> = BTreeSet::new();
    let filter = match &plan.filter {
        Some(f) => conjuncts(f)?,
        None => Vec::new(),
    };
    for c in filter {
        let cols = columns(&c);
        if cols.iter().all(|(i, _)| i == name) {
            fact_only.push(c.to_string());
        } else {
            kept.extend(cols.into_iter().filter(|(i, _)| i == name).map(|(_, c)| c));
            rest.push(c.to_string());
        }
    }
    for key in &plan.keys {
        kept.extend(
            read(&key.expr)?
                .into_iter()
                .filter(|(i, _)| i == name)
                .map(|(_, c)| c),
        );
    }
    let input = &plan.inputs[fact];
    if kept.is_empty() || input.key_columns.iter().all(|k| kept.contains(k)) {
        return None;
    }
    Some(Eager {
        fact,
        columns: input
            .shipped
            .iter()
            .filter(|c| kept.contains(&c.name))
            .map(|c| c.name.clone())
            .collect(),
        fact_filter: conjunction(&fact_only),
        rest_filter: conjunction(&rest),
    })
}

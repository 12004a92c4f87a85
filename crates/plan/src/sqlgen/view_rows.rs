//! The view-row delta stage: signed rows of the FROM/WHERE output, the aggregate merge's input.
//!
//! Whatever the rows come from (a batch's change rows, a staging table, a range of the source
//! for the backfill), this stage turns them into `__r`: one row per view row, with its sign
//! (`__s`, +1 or -1), its group key columns (named as in the summary) and one column per
//! aggregate argument the states read ([`arg_column`], [`value_column`]). The aggregate merge
//! (`merge.rs`) reads only `__r`, so a new FROM shape (a join) changes this stage alone.
//!
//! Each input is the FROM item named [`crate::Input::name`]: the canonical expressions qualify
//! its columns with that name (format 2: unqualified, over `__src`), so the same expression
//! text evaluates over the source table and over change rows.

use super::names::{qualified_sign, row_names};
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

/// Where view rows come from.
pub enum RowSource<'a> {
    /// The batch's change rows of input 0 as statement parameters ([`change_rows`]).
    Changes,
    /// A staging table of change rows of input 0 ([`super::create_staging`]).
    Staged(&'a str),
    /// The source table itself, every row with sign +1, in the heap blocks [`$1`, `$2`)
    /// (`bounded`) or from `$1` on.
    Backfill { bounded: bool },
}

/// Column of `__r` holding the argument of state `i` (linear states fed by rows).
pub(crate) fn arg_column(i: usize) -> String {
    quote_ident(&format!("__x{i}"))
}

/// Column of `__r` holding the argument of value table `j`.
pub(crate) fn value_column(j: usize) -> String {
    quote_ident(&format!("__v{j}"))
}

/// Column of `__r` holding the sign.
pub(crate) const SIGN_OUT: &str = "\"__s\"";

/// Input 0's change rows as a FROM item named after the input: `$1` signs (int2[]), then one
/// text[] per shipped column, each cast back to its type.
pub(crate) fn change_rows(plan: &MaintenancePlan) -> String {
    let input = plan.source();
    let sign = quote_ident(&row_names(plan, 0).sign);
    let mut params = vec!["$1::int2[]".to_string()];
    let mut names = vec![sign.clone()];
    let mut typed = vec![format!("u.{sign}")];
    for (i, c) in input.shipped.iter().enumerate() {
        params.push(format!("${}::text[]", i + 2));
        names.push(quote_ident(&c.name));
        typed.push(format!(
            "u.{0}::{1} AS {0}",
            quote_ident(&c.name),
            c.type_sql
        ));
    }
    format!(
        "(SELECT {} FROM unnest({}) AS u({})) AS {}",
        typed.join(", "),
        params.join(", "),
        names.join(", "),
        quote_ident(&input.name)
    )
}

/// `"__r" AS (…)`: the view rows of `source`, filtered, with sign, keys and arguments.
pub(crate) fn view_rows_cte(plan: &MaintenancePlan, source: &RowSource<'_>) -> String {
    let input = plan.source();
    let alias = quote_ident(&input.name);
    let sign = qualified_sign(plan, 0);
    let (from, sign, range) = match source {
        RowSource::Changes => (change_rows(plan), sign, None),
        RowSource::Staged(staging) => (format!("{staging} AS {alias}"), sign, None),
        RowSource::Backfill { bounded } => {
            let lower = format!("{alias}.ctid >= format('(%s,0)', $1::bigint)::tid");
            let range = if *bounded {
                format!("{lower} AND {alias}.ctid < format('(%s,0)', $2::bigint)::tid")
            } else {
                lower
            };
            (
                format!("{} AS {alias}", input.qualified()),
                "1".to_string(),
                Some(range),
            )
        }
    };
    let items = row_items(plan, &sign);
    let conds: Vec<String> = range
        .into_iter()
        .chain(plan.filter.iter().map(|f| format!("({f})")))
        .collect();
    let where_clause = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    format!(
        "\"__r\" AS (SELECT {} FROM {from}{where_clause})",
        items.join(", ")
    )
}

/// Each group key over the view row, named as its summary column.
pub(crate) fn key_items(plan: &MaintenancePlan) -> Vec<String> {
    plan.keys
        .iter()
        .map(|k| format!("({}) AS {}", k.expr, quote_ident(&k.column)))
        .collect()
}

/// The view-row items of `__r`: the sign, the group keys, each linear aggregate's argument and
/// each value table's value, over the view row (one input's, or a join's).
pub(crate) fn row_items(plan: &MaintenancePlan, sign: &str) -> Vec<String> {
    let mut items = vec![format!("({sign})::int4 AS {SIGN_OUT}")];
    items.extend(key_items(plan));
    for (i, s) in plan.states.iter().enumerate() {
        if let (false, Some(arg)) = (s.kind.needs_values(), &s.arg) {
            items.push(format!("({arg}) AS {}", arg_column(i)));
        }
    }
    for (j, vt) in plan.value_tables.iter().enumerate() {
        items.push(format!("({}) AS {}", vt.arg, value_column(j)));
    }
    items
}

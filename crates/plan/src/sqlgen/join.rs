//! Inner joins, exact at the stream position: each input's copy, and its telescoped delta.
//!
//! **State.** For each input `k` of a join (each occurrence of a self-joined table is its own
//! input) the version keeps a copy of the input's shipped columns, keyed by its primary key
//! ([`Target::input_copy`]): the input as of the stream position the summary is at. The copy
//! is filled from the version's snapshot at the backfill, and changed in the same target
//! transaction as the summary, so it always stands at the summary's applied LSN.
//!
//! **Changes.** A batch's change rows of every input go to one staging table: sign, arrival
//! order, the input, and that input's columns (`c{k}_{i}`; the other inputs' are NULL). Per
//! input, the batch's net change is read against the copy: the keys the batch touched leave
//! with their values in the copy (`-1`), and each touched key's last row, if it is a `+1`,
//! enters (`+1`). So a change needs only the key of its old row: an input whose UPDATE and
//! DELETE log the primary key needs no `REPLICA IDENTITY FULL`.
//!
//! **Delta.** With `A₀`, `A₁` an input before and after the batch, the join's change is the
//! telescoping sum over inputs in FROM order,
//! `Δ(A⋈B⋈C) = ΔA⋈B₀⋈C₀ + A₁⋈ΔB⋈C₀ + A₁⋈B₁⋈ΔC`,
//! exact for multisets with signs because the join is linear in each input: the sum collapses
//! to `A₁⋈B₁⋈C₁ − A₀⋈B₀⋈C₀`. Every term reads each input in exactly one state (never a mix by
//! insert or delete), and a self-join's occurrences are separate inputs, so `ΔA⋈ΔA` is counted
//! once. `X₀` is the copy; `X₁` is the copy without the touched keys plus their last rows.
//! The row filter (join conditions and WHERE) applies to each term. `__r` is the union of the
//! terms, and the aggregate merge consumes it as it does a single table's rows.
//!
//! After the merge (which reads the copies as `X₀`), the copies take the batch: touched keys
//! are deleted, their last `+1` rows inserted.

use super::names::{qualified_sign, row_names};
use super::view_rows::row_items;
use super::Target;
use crate::canonical::{column, conjunction, conjuncts};
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

const SIGN: &str = "\"__summa_sign\"";
const SEQ: &str = "\"__summa_seq\"";
const INPUT: &str = "\"__summa_input\"";

/// Staging column of input `k`'s shipped column `i`.
fn staged(k: usize, i: usize) -> String {
    format!("\"c{k}_{i}\"")
}

/// The copy of input `k`: its shipped columns, keyed by its primary key.
pub(crate) fn create_copy(plan: &MaintenancePlan, target: &Target, k: usize) -> String {
    let cols: Vec<String> = plan.inputs[k]
        .shipped
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.type_sql))
        .collect();
    format!(
        "CREATE TABLE {} ({})",
        target.input_copy(k),
        cols.join(", ")
    )
}

/// Input `k`'s copy's indexes: its primary key's columns (unique: the copy holds each row
/// once), and the columns the other inputs' changes look it up by.
pub(crate) fn copy_indexes(plan: &MaintenancePlan, target: &Target, k: usize) -> Vec<String> {
    let input = &plan.inputs[k];
    let mut stmts = vec![format!(
        "CREATE UNIQUE INDEX ON {} ({})",
        target.input_copy(k),
        quoted(&input.key_columns).join(", ")
    )];
    // An eager join's fact is looked up in its partial groups instead.
    let looked_up = plan.eager.as_ref().is_none_or(|e| e.fact != k);
    for column in equated_columns(plan, k).into_iter().filter(|_| looked_up) {
        if input.key_columns.first() != Some(&column) {
            stmts.push(format!(
                "CREATE INDEX ON {} ({})",
                target.input_copy(k),
                quote_ident(&column)
            ));
        }
    }
    stmts
}

/// Columns of input `k` that a top-level conjunct of the row filter equates with a column of
/// another input (`"a"."x" = "b"."y"`), in order of appearance.
pub(super) fn equated_columns(plan: &MaintenancePlan, k: usize) -> Vec<String> {
    use sqlparser::ast::{BinaryOperator, Expr};
    let conditions: Vec<String> = plan
        .filter
        .iter()
        .chain(
            plan.inputs
                .iter()
                .filter_map(|i| i.left_join.as_ref().map(|l| &l.on)),
        )
        .cloned()
        .collect();
    let Some(all) = conjunction(&conditions).and_then(|c| conjuncts(&c)) else {
        return Vec::new();
    };
    let name = &plan.inputs[k].name;
    let mut out: Vec<String> = Vec::new();
    for c in all {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = c
        else {
            continue;
        };
        if let (Some(l), Some(r)) = (column(&left), column(&right)) {
            for (mine, other) in [(&l, &r), (&r, &l)] {
                if mine.0 == *name && other.0 != *name && !out.contains(&mine.1) {
                    out.push(mine.1.clone());
                }
            }
        }
    }
    out
}

pub(super) fn quoted(names: &[String]) -> Vec<String> {
    names.iter().map(|n| quote_ident(n)).collect()
}

/// Fill input `k`'s copy from the table's heap blocks [`$1`, `$2`) (or from `$1` on when
/// `bounded` is false), in the backfill's snapshot.
pub fn fill_copy(plan: &MaintenancePlan, target: &Target, k: usize, bounded: bool) -> String {
    let input = &plan.inputs[k];
    let cols = quoted(
        &input
            .shipped
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
    )
    .join(", ");
    let upper = if bounded {
        " AND ctid < format('(%s,0)', $2::bigint)::tid"
    } else {
        ""
    };
    format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {} WHERE ctid >= format('(%s,0)', $1::bigint)::tid{upper}",
        target.input_copy(k),
        input.qualified()
    )
}

/// The staging table of a join version's change rows.
pub(crate) fn create_staging(plan: &MaintenancePlan, staging: &str) -> String {
    let mut cols = vec![
        format!("{SIGN} int2 NOT NULL"),
        format!("{SEQ} bigint GENERATED ALWAYS AS IDENTITY"),
        format!("{INPUT} int2 NOT NULL"),
    ];
    for (k, input) in plan.inputs.iter().enumerate() {
        for (i, c) in input.shipped.iter().enumerate() {
            cols.push(format!("{} {}", staged(k, i), c.type_sql));
        }
    }
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} ({}) ON COMMIT DELETE ROWS",
        cols.join(", ")
    )
}

/// Add change rows to the staging table in arrival order: `$1` signs, `$2` the input of each
/// row, then one text[] per staging column of every input ([`create_staging`]).
pub(crate) fn stage_rows(plan: &MaintenancePlan, staging: &str) -> String {
    let mut params = vec!["$1::int2[]".to_string(), "$2::text[]".to_string()];
    let mut names = vec!["s".to_string(), "i".to_string()];
    let mut into = vec![SIGN.to_string(), INPUT.to_string()];
    let mut typed = vec!["u.s".to_string(), "u.i::int2".to_string()];
    for (k, input) in plan.inputs.iter().enumerate() {
        for (i, c) in input.shipped.iter().enumerate() {
            params.push(format!("${}::text[]", params.len() + 1));
            let col = staged(k, i);
            names.push(col.clone());
            typed.push(format!("u.{col}::{}", c.type_sql));
            into.push(col);
        }
    }
    format!(
        "INSERT INTO {staging} ({}) SELECT {} FROM unnest({}) WITH ORDINALITY AS u({}, o) ORDER BY u.o",
        into.join(", "),
        typed.join(", "),
        params.join(", "),
        names.join(", ")
    )
}

/// `"__staged"`: change rows given as parameters (as [`stage_rows`] takes them), shaped as the
/// staging table, for a merge that reads them directly (it does not move the copies: the
/// applier always stages a join's batch).
pub(crate) fn staged_params_cte(plan: &MaintenancePlan) -> String {
    let mut params = vec!["$1::int2[]".to_string(), "$2::text[]".to_string()];
    let mut names = vec!["s".to_string(), "i".to_string()];
    let mut typed = vec![
        format!("u.s AS {SIGN}"),
        format!("u.o AS {SEQ}"),
        format!("u.i::int2 AS {INPUT}"),
    ];
    for (col, type_sql) in staged_columns(plan) {
        params.push(format!("${}::text[]", params.len() + 1));
        typed.push(format!("u.{col}::{type_sql} AS {col}"));
        names.push(col);
    }
    format!(
        "\"__staged\" AS (SELECT {} FROM unnest({}) WITH ORDINALITY AS u({}, o))",
        typed.join(", "),
        params.join(", "),
        names.join(", ")
    )
}

/// `"__ch{k}"`: input `k`'s staged rows under its own column names, with sign and order.
pub(super) fn changes_cte(plan: &MaintenancePlan, staging: &str, k: usize) -> String {
    let input = &plan.inputs[k];
    let names = row_names(plan, k);
    let (sign, seq) = (quote_ident(&names.sign), quote_ident(&names.seq));
    let mut items = vec![format!("st.{SIGN} AS {sign}"), format!("st.{SEQ} AS {seq}")];
    for (i, c) in input.shipped.iter().enumerate() {
        items.push(format!("st.{} AS {}", staged(k, i), quote_ident(&c.name)));
    }
    format!(
        "\"__ch{k}\" AS MATERIALIZED (SELECT {} FROM {staging} st WHERE st.{INPUT} = {k})",
        items.join(", ")
    )
}

/// `"__fin{k}"`: each key input `k`'s batch touched, with its last row (sign and values).
pub(super) fn final_cte(plan: &MaintenancePlan, k: usize) -> String {
    let input = &plan.inputs[k];
    let names = row_names(plan, k);
    let (sign, seq) = (quote_ident(&names.sign), quote_ident(&names.seq));
    let keys = quoted(&input.key_columns).join(", ");
    let cols = shipped(plan, k).join(", ");
    format!(
        "\"__fin{k}\" AS MATERIALIZED (SELECT DISTINCT ON ({keys}) {sign}, {cols} \
         FROM \"__ch{k}\" ORDER BY {keys}, {seq} DESC)"
    )
}

fn shipped(plan: &MaintenancePlan, k: usize) -> Vec<String> {
    plan.inputs[k]
        .shipped
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect()
}

/// `c.k1 = x.k1 AND …` over input `k`'s key.
fn same_key(plan: &MaintenancePlan, k: usize, a: &str, b: &str) -> String {
    plan.inputs[k]
        .key_columns
        .iter()
        .map(|c| format!("{a}.{0} = {b}.{0}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Input `k` after the batch (`X₁`): the copy without the touched keys, plus their last rows.
fn after(plan: &MaintenancePlan, target: &Target, k: usize) -> String {
    let cols = shipped(plan, k).join(", ");
    let sign = quote_ident(&row_names(plan, k).sign);
    let prefixed: Vec<String> = shipped(plan, k).iter().map(|c| format!("x.{c}")).collect();
    // NOT IN, not NOT EXISTS: Postgres runs it as a hashed subplan whatever it estimates the
    // batch's keys at (the staging table has no statistics, so the estimate is about one
    // row, and NOT EXISTS became a nested-loop anti join comparing every row of the copy
    // with every touched key). Primary keys are never NULL, so the two mean the same.
    let key = |alias: &str| {
        plan.inputs[k]
            .key_columns
            .iter()
            .map(|c| format!("{alias}.{}", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "(SELECT {} FROM {} x WHERE ({}) NOT IN (SELECT {} FROM \"__fin{k}\" f) \
         UNION ALL SELECT {cols} FROM \"__fin{k}\" WHERE {sign} = 1)",
        prefixed.join(", "),
        target.input_copy(k),
        key("x"),
        key("f"),
    )
}

/// Input `k`'s net change (`ΔX`), signed: touched keys leave with their copied values and
/// enter with their last row.
pub(super) fn delta(plan: &MaintenancePlan, target: &Target, k: usize) -> String {
    let cols = shipped(plan, k).join(", ");
    let sign = quote_ident(&row_names(plan, k).sign);
    let prefixed: Vec<String> = shipped(plan, k).iter().map(|c| format!("x.{c}")).collect();
    format!(
        "(SELECT -1 AS {sign}, {} FROM {} x WHERE EXISTS (SELECT 1 FROM \"__fin{k}\" f WHERE {}) \
         UNION ALL SELECT {sign}, {cols} FROM \"__fin{k}\" WHERE {sign} = 1)",
        prefixed.join(", "),
        target.input_copy(k),
        same_key(plan, k, "f", "x")
    )
}

pub(super) fn where_clause(conds: Vec<String>) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// The FROM clause over the inputs, input `j` read from `relations[j]` under its name: inner
/// inputs cross-joined (their conditions are in the row filter), each LEFT JOIN with its
/// condition. Equivalent to the view's own FROM: an inner join's condition may move to WHERE,
/// and a LEFT JOIN's condition sees only the tables before it, so it may bind to all of them.
pub(super) fn from_clause(plan: &MaintenancePlan, relations: &[String]) -> String {
    let mut sql = String::new();
    for (j, (input, relation)) in plan.inputs.iter().zip(relations).enumerate() {
        let item = format!("{relation} AS {}", quote_ident(&input.name));
        sql = match (j, &input.left_join) {
            (0, _) => item,
            (_, Some(left)) => format!("{sql} LEFT JOIN {item} ON ({})", left.on),
            (_, None) => format!("{sql} CROSS JOIN {item}"),
        };
    }
    sql
}

/// The CTEs ending in `"__r"`: the telescoped view-row delta of the staged batch.
///
/// Term `k` changes input `k` alone, the inputs before it after the batch, those after it
/// before. The view is linear in every input that no LEFT JOIN pads, so that term is the view
/// over `ΔX_k`, signed by it. A LEFT JOIN's right side `D` is not linear (a row of the left side
/// is padded while it has no match), so its term is the view with `D₁` minus the view with
/// `D₀`, over the rows whose probe (the expression its condition equates with `D.col`) is a
/// value of `col` the batch touched: any other row has the same matches in both states, so its
/// view rows cancel and are left out.
///
/// An eager join (format 7) telescopes with its fact last: every other input's term reads the
/// fact before the batch, which its partial groups are, and becomes per-state contributions
/// of the partial groups it meets ([`super::eager::PARTIAL_ROWS`]); the fact's own term reads
/// the others after the batch and stays view rows in `"__r"`.
pub(crate) fn view_rows_ctes(plan: &MaintenancePlan, target: &Target, staging: &str) -> String {
    let n = plan.inputs.len();
    let mut ctes: Vec<String> = (0..n).map(|k| changes_cte(plan, staging, k)).collect();
    ctes.extend((0..n).map(|k| final_cte(plan, k)));
    let filter: Vec<String> = plan.filter.iter().map(|f| format!("({f})")).collect();
    // The telescoping order: FROM order, except that an eager join's fact comes last, so the
    // other inputs' terms read it before the batch: its partial groups as they are.
    let fact = plan.eager.as_ref().map(|e| e.fact);
    let mut order: Vec<usize> = (0..n).filter(|&j| Some(j) != fact).collect();
    order.extend(fact);
    let place = |j: usize| order.iter().position(|&o| o == j);
    let mut terms = Vec::new();
    let mut partial_terms = Vec::new();
    for &k in &order {
        let mut relations: Vec<String> = (0..n)
            .map(|j| match place(j).cmp(&place(k)) {
                std::cmp::Ordering::Less => after(plan, target, j),
                std::cmp::Ordering::Equal => delta(plan, target, j),
                std::cmp::Ordering::Greater => target.input_copy(j),
            })
            .collect();
        let term = |relations: &[String], sign: &str, conds: Vec<String>| {
            format!(
                "SELECT {} FROM {}{}",
                row_items(plan, sign).join(", "),
                from_clause(plan, relations),
                where_clause(conds)
            )
        };
        let sign = qualified_sign(plan, k);
        match (&plan.inputs[k].left_join, fact) {
            (None, Some(f)) if f != k => {
                partial_terms.push(super::eager::partial_term(plan, target, relations, &sign));
            }
            (None, _) => terms.push(term(&relations, &sign, filter.clone())),
            (Some(left), _) => {
                let mut conds = filter.clone();
                conds.push(format!(
                    "({}) IN (SELECT \"__probe\".{} FROM {} AS \"__probe\")",
                    left.probe,
                    quote_ident(&left.column),
                    delta(plan, target, k)
                ));
                relations[k] = after(plan, target, k);
                terms.push(term(&relations, "1", conds.clone()));
                relations[k] = target.input_copy(k);
                terms.push(term(&relations, "-1", conds));
            }
        }
    }
    ctes.push(format!("\"__r\" AS ({})", terms.join(" UNION ALL ")));
    if !partial_terms.is_empty() {
        ctes.push(format!(
            "{} AS ({})",
            super::eager::PARTIAL_ROWS,
            partial_terms.join(" UNION ALL ")
        ));
    }
    ctes.join(", ")
}

/// The summary's rows from the tables themselves (backfill), chunked by the heap blocks
/// [`$1`, `$2`) of the first input (`bounded`) or from `$1` on: each joined row once.
pub(crate) fn backfill_rows_cte(plan: &MaintenancePlan, bounded: bool) -> String {
    let first = quote_ident(&plan.inputs[0].name);
    let tables: Vec<String> = plan.inputs.iter().map(|i| i.qualified()).collect();
    let mut conds = vec![format!("{first}.ctid >= format('(%s,0)', $1::bigint)::tid")];
    if bounded {
        conds.push(format!("{first}.ctid < format('(%s,0)', $2::bigint)::tid"));
    }
    conds.extend(plan.filter.iter().map(|f| format!("({f})")));
    format!(
        "\"__r\" AS (SELECT {} FROM {}{})",
        row_items(plan, "1").join(", "),
        from_clause(plan, &tables),
        where_clause(conds)
    )
}

/// The staging columns of input `k`'s primary key, in key order.
fn staged_keys(plan: &MaintenancePlan, k: usize) -> Vec<String> {
    let input = &plan.inputs[k];
    input
        .key_columns
        .iter()
        .map(|c| {
            let i = input
                .shipped
                .iter()
                .position(|s| s.name == *c)
                .expect("a joined input ships its key");
            staged(k, i)
        })
        .collect()
}

/// After the merge: delete the keys input `k`'s batch touched from its copy…
pub fn delete_from_copy(
    plan: &MaintenancePlan,
    target: &Target,
    staging: &str,
    k: usize,
) -> String {
    let input = &plan.inputs[k];
    let cond: Vec<String> = input
        .key_columns
        .iter()
        .zip(staged_keys(plan, k))
        .map(|(c, st)| format!("x.{} = st.{st}", quote_ident(c)))
        .collect();
    format!(
        "DELETE FROM {} x USING {staging} st WHERE st.{INPUT} = {k} AND {}",
        target.input_copy(k),
        cond.join(" AND ")
    )
}

/// …and insert the last row of each touched key that exists after the batch.
pub fn insert_into_copy(
    plan: &MaintenancePlan,
    target: &Target,
    staging: &str,
    k: usize,
) -> String {
    let input = &plan.inputs[k];
    let cols = shipped(plan, k).join(", ");
    let keys = staged_keys(plan, k);
    let picked: Vec<String> = (0..input.shipped.len()).map(|i| staged(k, i)).collect();
    format!(
        "INSERT INTO {} ({cols}) SELECT {} FROM (SELECT DISTINCT ON ({keys}) {SIGN}, {} \
         FROM {staging} WHERE {INPUT} = {k} ORDER BY {keys}, {SEQ} DESC) f WHERE f.{SIGN} = 1",
        target.input_copy(k),
        picked.join(", "),
        picked.join(", "),
        keys = keys.join(", ")
    )
}

/// A join's pending table: arrival order, commit LSN, sign, input, and the staging columns.
pub(crate) fn create_pending(plan: &MaintenancePlan, target: &Target) -> String {
    let mut cols = vec![
        format!("{SEQ} bigserial PRIMARY KEY"),
        "\"__summa_lsn\" pg_lsn NOT NULL".to_string(),
        format!("{SIGN} int2 NOT NULL"),
        format!("{INPUT} int2 NOT NULL"),
    ];
    for (k, input) in plan.inputs.iter().enumerate() {
        for (i, c) in input.shipped.iter().enumerate() {
            cols.push(format!("{} {}", staged(k, i), c.type_sql));
        }
    }
    format!("CREATE TABLE {} ({})", target.pending(), cols.join(", "))
}

/// The staging columns of every input, in order.
fn staged_columns(plan: &MaintenancePlan) -> Vec<(String, String)> {
    plan.inputs
        .iter()
        .enumerate()
        .flat_map(|(k, input)| {
            input
                .shipped
                .iter()
                .enumerate()
                .map(move |(i, c)| (staged(k, i), c.type_sql.clone()))
        })
        .collect()
}

/// Record change rows in the pending table in arrival order: `$1` signs, `$2` commit LSNs,
/// `$3` inputs, then one text[] per staging column.
pub(crate) fn insert_pending(plan: &MaintenancePlan, target: &Target) -> String {
    let mut params = vec!["$1::int2[]", "$2::text[]", "$3::text[]"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut names = vec!["s".to_string(), "l".to_string(), "i".to_string()];
    let mut into = vec![
        SIGN.to_string(),
        "\"__summa_lsn\"".to_string(),
        INPUT.to_string(),
    ];
    let mut typed = vec![
        "u.s".to_string(),
        "u.l::pg_lsn".to_string(),
        "u.i::int2".to_string(),
    ];
    for (col, type_sql) in staged_columns(plan) {
        params.push(format!("${}::text[]", params.len() + 1));
        typed.push(format!("u.{col}::{type_sql}"));
        names.push(col.clone());
        into.push(col);
    }
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM unnest({}) WITH ORDINALITY AS u({}, o) ORDER BY u.o",
        target.pending(),
        into.join(", "),
        typed.join(", "),
        params.join(", "),
        names.join(", ")
    )
}

/// Move the oldest `$1` pending rows into `staging` in arrival order, keeping those committed
/// at or after `$2` (the consistent point).
pub(crate) fn drain_pending(plan: &MaintenancePlan, target: &Target, staging: &str) -> String {
    let mut cols = vec![SIGN.to_string(), INPUT.to_string()];
    cols.extend(staged_columns(plan).into_iter().map(|(c, _)| c));
    let cols = cols.join(", ");
    let pending = target.pending();
    format!(
        "WITH d AS (DELETE FROM {pending} WHERE {SEQ} IN \
         (SELECT {SEQ} FROM {pending} ORDER BY {SEQ} LIMIT $1) RETURNING *) \
         INSERT INTO {staging} ({cols}) SELECT {cols} FROM d \
         WHERE \"__summa_lsn\" >= $2::text::pg_lsn ORDER BY {SEQ}"
    )
}

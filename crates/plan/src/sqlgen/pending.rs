//! The pending table of a version joining the shared stream: while the version backfills from
//! its own snapshot, the shared stream records the source's changes here (with their commit
//! LSN, in the same transactions that advance the stream); once the backfill has committed at
//! its consistent point C, the rows from C on are drained into the summary in order, chunk by
//! chunk, and the version becomes live.

use super::names::row_names;
use super::Target;
use crate::ident::quote_ident;
use crate::plan::MaintenancePlan;

/// `CREATE TABLE` of the pending table: arrival order, commit LSN, sign, shipped columns.
pub fn create_pending(plan: &MaintenancePlan, target: &Target) -> String {
    if plan.is_join() {
        return super::join::create_pending(plan, target);
    }
    let names = row_names(plan, 0);
    let cols: Vec<String> = plan
        .source()
        .shipped
        .iter()
        .map(|c| format!(", {} {}", quote_ident(&c.name), c.type_sql))
        .collect();
    format!(
        "CREATE TABLE {} ({} bigserial PRIMARY KEY, {} pg_lsn NOT NULL, {} int2 NOT NULL{})",
        target.pending(),
        quote_ident(&names.seq),
        quote_ident(&names.lsn),
        quote_ident(&names.sign),
        cols.concat()
    )
}

/// Record shipped rows: `$1` signs (int2[]), `$2` commit LSNs (text[]), then one text[] per
/// shipped column.
pub fn insert_pending(plan: &MaintenancePlan, target: &Target) -> String {
    if plan.is_join() {
        return super::join::insert_pending(plan, target);
    }
    let names = row_names(plan, 0);
    let (sign, lsn) = (quote_ident(&names.sign), quote_ident(&names.lsn));
    let shipped = &plan.source().shipped;
    let mut params = vec!["$1::int2[]".to_string(), "$2::text[]".to_string()];
    let mut unnested = vec![sign.clone(), lsn.clone()];
    let mut typed = vec![format!("u.{lsn}::pg_lsn"), format!("u.{sign}")];
    for (i, c) in shipped.iter().enumerate() {
        params.push(format!("${}::text[]", i + 3));
        unnested.push(quote_ident(&c.name));
        typed.push(format!("u.{}::{}", quote_ident(&c.name), c.type_sql));
    }
    let cols: Vec<String> = [lsn, sign]
        .into_iter()
        .chain(shipped.iter().map(|c| quote_ident(&c.name)))
        .collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS u({})",
        target.pending(),
        cols.join(", "),
        typed.join(", "),
        params.join(", "),
        unnested.join(", ")
    )
}

/// Move the oldest `$1` pending rows into `staging` (the merge's input), keeping those
/// committed at or after `$2` (text LSN, the consistent point); returns nothing. Rows before it
/// are in the backfill and are dropped.
pub fn drain_pending(plan: &MaintenancePlan, target: &Target, staging: &str) -> String {
    if plan.is_join() {
        return super::join::drain_pending(plan, target, staging);
    }
    let names = row_names(plan, 0);
    let cols: Vec<String> = std::iter::once(quote_ident(&names.sign))
        .chain(plan.source().shipped.iter().map(|c| quote_ident(&c.name)))
        .collect();
    let cols = cols.join(", ");
    let pending = target.pending();
    format!(
        "WITH d AS (DELETE FROM {pending} WHERE {seq} IN \
         (SELECT {seq} FROM {pending} ORDER BY {seq} LIMIT $1) RETURNING *) \
         INSERT INTO {staging} ({cols}) SELECT {cols} FROM d WHERE {lsn} >= $2::text::pg_lsn",
        seq = quote_ident(&names.seq),
        lsn = quote_ident(&names.lsn)
    )
}

//! Verification: a version against its SELECT run on the source (multiset difference both
//! ways, EXCEPT ALL), evaluated with the version's pinned settings. Floating-point outputs
//! are compared with a relative tolerance, since incremental sums round differently from a
//! full recompute.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use summa_plan::sqlgen::{self, Target};
use summa_plan::MaintenancePlan;
use tokio_postgres::Client;

use crate::error::{CatalogError, DbContext};

/// Relative tolerance for `real` / `double precision` outputs.
pub const FLOAT_TOLERANCE: f64 = 1e-9;
const MAX_REPORTED: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Rows only in the summary (`"only in summary"`) or only in the SELECT, as JSON.
    pub differences: Vec<(String, String)>,
    /// Pairs of rows that differ only in float columns within the tolerance.
    pub within_tolerance: usize,
    /// Groups that differed at first but not after the stream applied what was in flight.
    pub unsettled: usize,
}

impl VerifyReport {
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Rounds of comparison at most: a group must differ in each to be reported.
const ROUNDS: usize = 3;
/// How long a recheck waits for the stream to apply what the previous round's snapshot saw.
const RECHECK_WAIT: Duration = Duration::from_secs(20);

/// Compare a version's table (the groups its alias serves) with the plan's SELECT.
///
/// With writers running, the summary (as of the stream's applied position) and the source
/// (as of the comparison's snapshot) can differ by changes still in flight. So a group that
/// differs is compared again once the stream has applied everything the previous snapshot
/// saw; only groups that differ in every round are reported (`unsettled` counts those that
/// stopped differing).
pub async fn verify_version(
    client: &mut Client,
    plan: &MaintenancePlan,
    target: &Target,
) -> Result<VerifyReport, CatalogError> {
    verify_version_in_chunks(client, plan, target, DEFAULT_CHUNK_GROUPS).await
}

/// Groups per verification statement by default.
pub const DEFAULT_CHUNK_GROUPS: i64 = 50_000;

/// [`verify_version`] comparing about `chunk_groups` groups per statement (ranges of the group
/// key, when the SELECT outputs every key), so each statement stays within the budget.
pub async fn verify_version_in_chunks(
    client: &mut Client,
    plan: &MaintenancePlan,
    target: &Target,
    chunk_groups: i64,
) -> Result<VerifyReport, CatalogError> {
    let mut persistent: Option<BTreeSet<String>> = None;
    let mut report = VerifyReport::default();
    let mut first_round_groups = 0;
    for round in 0..ROUNDS {
        let (mut differences, wal) = compare_once(client, plan, target, chunk_groups, |cond| {
            sqlgen::verify_diff(plan, target, cond, MAX_REPORTED)
        })
        .await?;
        report.within_tolerance = tolerate_floats(plan, &mut differences);
        let groups: BTreeSet<String> = differences
            .iter()
            .map(|(_, row)| group_of(plan, row))
            .collect();
        if round == 0 {
            first_round_groups = groups.len();
        }
        let still: BTreeSet<String> = match persistent.take() {
            None => groups,
            Some(before) => before.intersection(&groups).cloned().collect(),
        };
        differences.retain(|(_, row)| still.contains(&group_of(plan, row)));
        report.differences = differences;
        if still.is_empty() || round + 1 == ROUNDS || !stream_applied(client, target, &wal).await? {
            report.unsettled = first_round_groups.saturating_sub(still.len());
            return Ok(report);
        }
        persistent = Some(still);
    }
    Ok(report)
}

/// Compare version `a` with a fresh version `b` of the same SELECT fed by the same stream: every
/// committed state holds both at the same applied position, so one snapshot compares them
/// exactly, whatever writers do.
pub async fn compare_versions(
    client: &mut Client,
    plan: &MaintenancePlan,
    a: &Target,
    b: &Target,
    chunk_groups: i64,
) -> Result<VerifyReport, CatalogError> {
    let (mut differences, _) = compare_once(client, plan, a, chunk_groups, |cond| {
        sqlgen::compare_diff(plan, a, b, cond, MAX_REPORTED)
    })
    .await?;
    for (side, _) in &mut differences {
        if side == "only in select" {
            *side = "only in the fresh rebuild".to_string();
        }
    }
    let within_tolerance = tolerate_floats(plan, &mut differences);
    Ok(VerifyReport {
        differences,
        within_tolerance,
        unsettled: 0,
    })
}

/// Pair away rows that differ only in float outputs within the tolerance; returns how many.
fn tolerate_floats(plan: &MaintenancePlan, differences: &mut Vec<(String, String)>) -> usize {
    let float_cols: Vec<String> = plan
        .float_outputs()
        .into_iter()
        .map(|i| plan.outputs[i].name.clone())
        .collect();
    if float_cols.is_empty() {
        0
    } else {
        pair_within_tolerance(differences, &float_cols)
    }
}

/// One comparison in a REPEATABLE READ snapshot with the version's pinned settings, one
/// statement (`diff_sql` of a key-range condition) per range of `ranges_of`'s keys; also
/// returns the snapshot's WAL position.
async fn compare_once(
    client: &mut Client,
    plan: &MaintenancePlan,
    ranges_of: &Target,
    chunk_groups: i64,
    diff_sql: impl Fn(&str) -> String,
) -> Result<(Vec<(String, String)>, String), CatalogError> {
    let relation = ranges_of.table();
    let tx = client
        .transaction()
        .await
        .ctx(|| "starting verification".into())?;
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .ctx(|| "starting verification".into())?;
    tx.batch_execute(&plan.settings.set_local_sql())
        .await
        .ctx(|| "applying pinned settings".into())?;
    let wal: String = tx
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .ctx(|| "reading the WAL position".into())?
        .get(0);
    let bounds = key_bounds(&tx, plan, ranges_of, chunk_groups).await?;
    let mut differences = Vec::new();
    for cond in sqlgen::key_ranges(plan, &bounds) {
        let rows = tx
            .query(&diff_sql(&cond), &[])
            .await
            .ctx(|| format!("comparing {relation}"))?;
        differences.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
        if differences.len() >= MAX_REPORTED as usize {
            break;
        }
    }
    tx.rollback().await.ctx(|| "ending verification".into())?;
    Ok((differences, wal))
}

/// Lower bounds of key ranges of about `chunk_groups` groups each (empty: one range).
async fn key_bounds(
    tx: &tokio_postgres::Transaction<'_>,
    plan: &MaintenancePlan,
    target: &Target,
    chunk_groups: i64,
) -> Result<Vec<Vec<String>>, CatalogError> {
    let Some(sql) = sqlgen::key_boundaries(plan, target, chunk_groups.max(1)) else {
        return Ok(Vec::new());
    };
    Ok(tx
        .query(&sql, &[])
        .await
        .ctx(|| format!("splitting {} into key ranges", target.table()))?
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect())
}

/// Wait until the version's stream has applied (or acknowledged as irrelevant) `wal`; false
/// when it does not within [`RECHECK_WAIT`] (no sidecar running).
async fn stream_applied(client: &Client, target: &Target, wal: &str) -> Result<bool, CatalogError> {
    let started = Instant::now();
    while started.elapsed() < RECHECK_WAIT {
        let done: Option<bool> = client
            .query_one(
                "SELECT greatest(s.applied_lsn, r.confirmed_flush_lsn) >= $3::text::pg_lsn \
                 FROM summa.versions v JOIN summa.streams s ON s.slot_name = v.slot_name \
                 LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name \
                 WHERE v.table_schema = $1 AND v.table_name = $2",
                &[&target.schema, &target.table, &wal],
            )
            .await
            .ctx(|| "reading the stream's position".into())?
            .get(0);
        if done == Some(true) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

/// A difference's group: its key columns when the SELECT outputs every key, else the row.
fn group_of(plan: &MaintenancePlan, row: &str) -> String {
    let stored: Vec<&str> = plan
        .keys
        .iter()
        .filter_map(|k| {
            plan.outputs
                .iter()
                .find(|o| o.generated.is_none() && o.name == k.column)
                .map(|o| o.name.as_str())
        })
        .collect();
    if stored.len() < plan.keys.len() {
        return row.to_string();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(row) else {
        return row.to_string();
    };
    let key: Vec<String> = stored
        .iter()
        .map(|name| map.get(*name).map(|v| v.to_string()).unwrap_or_default())
        .collect();
    key.join("\u{1f}")
}

/// Remove pairs (one from each side) equal except for floats within the tolerance.
fn pair_within_tolerance(differences: &mut Vec<(String, String)>, float_cols: &[String]) -> usize {
    let parsed: Vec<Option<serde_json::Map<String, serde_json::Value>>> = differences
        .iter()
        .map(|(_, json)| serde_json::from_str(json).ok())
        .collect();
    let mut used = vec![false; differences.len()];
    let mut pairs = 0;
    for i in 0..differences.len() {
        if used[i] || differences[i].0 != "only in summary" {
            continue;
        }
        for j in 0..differences.len() {
            if used[j] || differences[j].0 == "only in summary" {
                continue;
            }
            if let (Some(a), Some(b)) = (&parsed[i], &parsed[j]) {
                if rows_close(a, b, float_cols) {
                    used[i] = true;
                    used[j] = true;
                    pairs += 1;
                    break;
                }
            }
        }
    }
    let mut k = 0;
    differences.retain(|_| {
        k += 1;
        !used[k - 1]
    });
    pairs
}

fn rows_close(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
    float_cols: &[String],
) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, va)| {
            let Some(vb) = b.get(k) else { return false };
            if float_cols.contains(k) {
                match (va.as_f64(), vb.as_f64()) {
                    (Some(x), Some(y)) => {
                        (x - y).abs() <= FLOAT_TOLERANCE * x.abs().max(y.abs()).max(1.0)
                    }
                    _ => va == vb,
                }
            } else {
                va == vb
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_rows_that_differ_only_in_float_noise() {
        let mut d = vec![
            (
                "only in summary".to_string(),
                r#"{"k":1,"s":0.30000000000000004}"#.to_string(),
            ),
            (
                "only in select".to_string(),
                r#"{"k":1,"s":0.3}"#.to_string(),
            ),
            (
                "only in select".to_string(),
                r#"{"k":2,"s":1.0}"#.to_string(),
            ),
        ];
        assert_eq!(pair_within_tolerance(&mut d, &["s".to_string()]), 1);
        assert_eq!(d.len(), 1);
        assert!(d[0].1.contains("\"k\":2"));
    }

    #[test]
    fn does_not_pair_real_differences() {
        let mut d = vec![
            (
                "only in summary".to_string(),
                r#"{"k":1,"s":0.31}"#.to_string(),
            ),
            (
                "only in select".to_string(),
                r#"{"k":1,"s":0.3}"#.to_string(),
            ),
        ];
        assert_eq!(pair_within_tolerance(&mut d, &["s".to_string()]), 0);
        assert_eq!(d.len(), 2);
    }
}

//! Verification: a version against its SELECT run on the source (multiset difference both
//! ways, EXCEPT ALL), evaluated with the version's pinned settings. Floating-point outputs
//! are compared with a relative tolerance, since incremental sums round differently from a
//! full recompute.

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
}

impl VerifyReport {
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compare a version's table (the groups its alias serves) with the plan's SELECT.
pub async fn verify_version(
    client: &mut Client,
    plan: &MaintenancePlan,
    target: &Target,
) -> Result<VerifyReport, CatalogError> {
    let relation = target.table();
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
    let rows = tx
        .query(&sqlgen::verify_diff(plan, target, MAX_REPORTED), &[])
        .await
        .ctx(|| format!("comparing {relation} with its SELECT"))?;
    tx.rollback().await.ctx(|| "ending verification".into())?;
    let mut differences: Vec<(String, String)> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let float_cols: Vec<String> = plan
        .float_outputs()
        .into_iter()
        .map(|i| plan.outputs[i].name.clone())
        .collect();
    let mut within_tolerance = 0;
    if !float_cols.is_empty() {
        within_tolerance = pair_within_tolerance(&mut differences, &float_cols);
    }
    Ok(VerifyReport {
        differences,
        within_tolerance,
    })
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

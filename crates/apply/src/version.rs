//! One maintained version inside a stream session: its phase, its prepared statements, and the
//! conversion of decoded changes into signed rows of the columns it reads.
//!
//! A change that cannot be converted exactly (a value that is not UTF-8, a row whose columns
//! cannot be picked, an UPDATE or DELETE without the old values) breaks the version with the
//! reason: a summary is never silently wrong.

use summa_catalog::{VersionRecord, VersionState};
use summa_plan::ident::quote_ident;
use summa_plan::sqlgen::{self, Target};
use summa_stream::pgoutput::{Datum, OldKind, Relation, Tuple};

use crate::batch::SignedRows;

/// Where a version is in its life inside the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Joining the shared stream while `summa create` backfills it: its changes are recorded
    /// in its pending table; its consistent point is not known yet.
    Backfilling,
    /// Backfilled at consistent point `start`: changes are still recorded in the pending
    /// table, which is drained in arrival order (rows before `start` dropped).
    Draining { start: u64 },
    /// The pending table was found empty in the open batch: live once the batch commits.
    Drained,
    /// Changes are merged into the summary directly.
    Live,
    /// Cannot be maintained any more; recorded with the next batch, then left.
    Broken(String),
}

pub struct VersionRuntime {
    pub record: VersionRecord,
    pub target: Target,
    pub staging: String,
    pub phase: Phase,
    /// Per input: position of each shipped column in the relation's tuples (from the last
    /// Relation message), `None` until one arrives.
    positions: Vec<Option<Vec<usize>>>,
    /// Per input: every shipped column is part of the replica identity key.
    keys_only: Vec<bool>,
    pub rows: SignedRows,
    /// Chunks already shipped into the staging table in the open target transaction.
    pub staged_chunks: usize,
    /// Rows in the staging table not merged yet (in the open target transaction).
    pub staged_rows: usize,
    /// Staged rows that are merged at once inside a large source transaction, adapted so one
    /// merge statement takes about a quarter of the statement budget (0: not measured yet).
    pub merge_target: usize,
    /// Applies the version's pinned settings to the open transaction.
    pub sql_settings: String,
    /// Commit LSN of the transaction being read (recorded with pending rows).
    lsn: String,
    /// The version's statements, prepared on the session's target connection.
    prepared: Option<Prepared>,
}

/// The applier's statements of one version (see `summa_plan::sqlgen`).
pub struct Prepared {
    pub merge_rows: tokio_postgres::Statement,
    pub stage_rows: tokio_postgres::Statement,
    pub merge_staged: tokio_postgres::Statement,
    pub delete_empty: tokio_postgres::Statement,
    /// Recomputes min/max of groups whose extreme went; `None` without min/max.
    pub recompute: Option<tokio_postgres::Statement>,
    /// Per value table: removes values whose multiplicity reached 0.
    pub delete_spent: Vec<tokio_postgres::Statement>,
    /// Joining versions: record rows in the pending table; move a chunk into staging.
    pub insert_pending: Option<tokio_postgres::Statement>,
    pub drain_pending: Option<tokio_postgres::Statement>,
    /// A join: an eager join's update of its partial groups, then per input the statements
    /// that move its copy to the batch's end (delete the touched keys, insert their last
    /// rows), run after the merge.
    pub copy_updates: Vec<tokio_postgres::Statement>,
    /// Empties the staging table once its rows are merged.
    pub clear_staging: tokio_postgres::Statement,
}

impl VersionRuntime {
    pub fn new(record: VersionRecord, index: usize) -> Self {
        let plan = &record.plan;
        let staging = format!("pg_temp.{}", quote_ident(&format!("summa_staging_{index}")));
        let phase = match (record.pending, record.state) {
            (false, _) => Phase::Live,
            (true, VersionState::CatchingUp) => Phase::Draining {
                start: record.start_lsn,
            },
            (true, _) => Phase::Backfilling,
        };
        let mut v = VersionRuntime {
            sql_settings: plan.settings.set_local_sql(),
            target: Target::new(&record.table_schema, &record.table_name),
            prepared: None,
            phase,
            lsn: String::new(),
            rows: SignedRows::new(0),
            positions: vec![None; plan.inputs.len()],
            keys_only: vec![false; plan.inputs.len()],
            staged_chunks: 0,
            staged_rows: 0,
            merge_target: 0,
            staging,
            record,
        };
        v.rows = SignedRows::new(v.width());
        v
    }

    /// Columns per buffered row: a pending row carries its commit LSN first.
    fn width(&self) -> usize {
        let plan = &self.record.plan;
        let columns = if plan.is_join() {
            // The input, then every input's columns (`summa_plan::sqlgen` join staging).
            1 + plan.inputs.iter().map(|i| i.shipped.len()).sum::<usize>()
        } else {
            plan.source().shipped.len()
        };
        columns + usize::from(self.records_pending())
    }

    /// Changes go to the pending table (the version is joining the stream).
    pub fn records_pending(&self) -> bool {
        matches!(self.phase, Phase::Backfilling | Phase::Draining { .. })
    }

    pub fn is_broken(&self) -> bool {
        matches!(self.phase, Phase::Broken(_))
    }

    /// Prepare the statements once per session (the staging table must exist).
    pub async fn prepare(
        &mut self,
        client: &tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        let plan = &self.record.plan;
        let target = &self.target;
        let recompute = match sqlgen::recompute_extremes(plan, target) {
            Some(sql) => Some(client.prepare(&sql).await?),
            None => None,
        };
        let mut delete_spent = Vec::new();
        for j in 0..plan.value_tables.len() {
            delete_spent.push(
                client
                    .prepare(&sqlgen::delete_spent_values(target, j))
                    .await?,
            );
        }
        let (insert_pending, drain_pending) = if self.records_pending() {
            (
                Some(
                    client
                        .prepare(&sqlgen::insert_pending(plan, target))
                        .await?,
                ),
                Some(
                    client
                        .prepare(&sqlgen::drain_pending(plan, target, &self.staging))
                        .await?,
                ),
            )
        } else {
            (None, None)
        };
        // An eager join's partial groups take the batch before the copies move (they read
        // the fact's copy as it was).
        let mut copy_updates = Vec::new();
        for sql in sqlgen::update_partials(plan, target, &self.staging) {
            copy_updates.push(client.prepare(&sql).await?);
        }
        if plan.is_join() {
            for k in 0..plan.inputs.len() {
                for sql in [
                    sqlgen::delete_from_copy(plan, target, &self.staging, k),
                    sqlgen::insert_into_copy(plan, target, &self.staging, k),
                ] {
                    copy_updates.push(client.prepare(&sql).await?);
                }
            }
        }
        // A join's batch is always staged: its copies change from the staging table.
        let merge_rows = if plan.is_join() {
            sqlgen::merge_staged(plan, target, &self.staging)
        } else {
            sqlgen::merge_changes(plan, target)
        };
        self.prepared = Some(Prepared {
            copy_updates,
            clear_staging: client
                .prepare(&format!("DELETE FROM {}", self.staging))
                .await?,
            merge_rows: client.prepare(&merge_rows).await?,
            stage_rows: client
                .prepare(&sqlgen::stage_rows(plan, &self.staging))
                .await?,
            merge_staged: client
                .prepare(&sqlgen::merge_staged(plan, target, &self.staging))
                .await?,
            delete_empty: client.prepare(&sqlgen::delete_empty_groups(target)).await?,
            recompute,
            delete_spent,
            insert_pending,
            drain_pending,
        });
        Ok(())
    }

    pub fn stmts(&self) -> &Prepared {
        self.prepared
            .as_ref()
            .expect("statements are prepared when the session starts")
    }

    /// Whether changes of the relation with `oid` feed this version.
    pub fn reads(&self, oid: u32) -> bool {
        self.record.plan.input_of(oid).is_some()
    }

    pub fn has_work(&self) -> bool {
        !self.rows.is_empty() || self.staged_chunks > 0 || self.must_drain()
    }

    /// A joining version whose consistent point is known and whose pending table may hold rows.
    pub fn must_drain(&self) -> bool {
        matches!(self.phase, Phase::Draining { .. })
    }

    /// The pending table is drained (and dropped): apply changes directly from now on.
    pub fn go_live(&mut self) {
        tracing::info!(view = %self.record.view, version = self.record.version, "pending changes drained: live");
        self.phase = Phase::Live;
        self.rows = SignedRows::new(self.width());
    }

    /// Drop what is buffered for the open batch (it is abandoned or moot).
    pub fn discard_buffered(&mut self) {
        self.rows.take();
        self.staged_chunks = 0;
        self.staged_rows = 0;
    }

    /// The commit LSN of the transaction whose changes follow.
    pub fn set_commit_lsn(&mut self, lsn: &str) {
        if self.records_pending() {
            self.lsn = lsn.to_string();
        }
    }

    fn push(&mut self, input: usize, sign: i16, values: Vec<Option<String>>) {
        let plan = &self.record.plan;
        let values = if plan.is_join() {
            let mut row = Vec::with_capacity(self.width());
            row.push(Some(input.to_string()));
            for (j, other) in plan.inputs.iter().enumerate() {
                if j == input {
                    row.extend(values.iter().cloned());
                } else {
                    row.extend(std::iter::repeat_n(None, other.shipped.len()));
                }
            }
            row
        } else {
            values
        };
        if self.records_pending() {
            let mut with_lsn = Vec::with_capacity(values.len() + 1);
            with_lsn.push(Some(self.lsn.clone()));
            with_lsn.extend(values);
            self.rows.push(sign, with_lsn);
        } else {
            self.rows.push(sign, values);
        }
    }

    /// The inputs that read the relation with `oid` (a self-join's occurrences: several).
    fn inputs_of(&self, oid: u32) -> Vec<usize> {
        (0..self.record.plan.inputs.len())
            .filter(|&k| self.record.plan.inputs[k].oid == oid)
            .collect()
    }

    /// A (new) Relation message for an input: map shipped columns by name and type.
    pub fn on_relation(&mut self, rel: &Relation) {
        let columns: Vec<(&str, u32)> = rel
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_oid))
            .collect();
        for k in self.inputs_of(rel.oid) {
            if let Some(reason) =
                self.schema_mismatch(k, &format!("{}.{}", rel.schema, rel.name), &columns)
            {
                self.break_with(reason);
                return;
            }
            let positions: Vec<usize> = self.record.plan.inputs[k]
                .shipped
                .iter()
                .filter_map(|col| rel.columns.iter().position(|c| c.name == col.name))
                .collect();
            // A partitioned table's old tuples are flagged by the root's identity, whatever
            // each partition logged: summa create made sure every partition logs the shipped
            // columns (the key, or REPLICA IDENTITY FULL), and the event trigger keeps it so
            // (new partitions get FULL; one that loses it breaks the version at that point).
            self.keys_only[k] = self.record.plan.inputs[k].partitioned
                || positions.iter().all(|&i| rel.columns[i].is_key);
            self.positions[k] = Some(positions);
        }
    }

    /// Why input `k`'s table with `columns` (name, type OID) can no longer feed this version:
    /// a shipped column was dropped, renamed or changed type. Added columns are fine.
    pub fn schema_mismatch(
        &self,
        k: usize,
        table: &str,
        columns: &[(&str, u32)],
    ) -> Option<String> {
        self.record.plan.inputs[k].shipped.iter().find_map(|col| {
            match columns.iter().find(|(name, _)| *name == col.name) {
                Some((_, oid)) if *oid == col.type_oid => None,
                Some(_) => Some(format!(
                    "column {} of {table} changed type; rebuild the view",
                    col.name
                )),
                None => Some(format!(
                    "column {} of {table} was dropped or renamed; rebuild the view",
                    col.name
                )),
            }
        })
    }

    pub fn break_with(&mut self, reason: String) {
        if !self.is_broken() {
            tracing::error!(view = %self.record.view, version = self.record.version, reason = %reason, "version broken");
            self.phase = Phase::Broken(reason);
        }
    }

    /// The shipped columns' values of `tuple` (an unchanged TOAST value taken from
    /// `fallback`), or why they cannot be read.
    fn pick(
        &self,
        k: usize,
        tuple: &Tuple,
        fallback: Option<&Tuple>,
    ) -> Result<Vec<Option<String>>, String> {
        let Some(positions) = self.positions[k].as_ref() else {
            return Err("a change arrived before the table's Relation message".into());
        };
        let shipped = &self.record.plan.inputs[k].shipped;
        positions
            .iter()
            .zip(shipped)
            .map(|(&i, col)| {
                let datum = match tuple.get(i) {
                    None => return Err(format!("the row has no column {}", col.name)),
                    // Unchanged TOAST: the value is the old tuple's, never NULL.
                    Some(Datum::UnchangedToast) => match fallback.and_then(|f| f.get(i)) {
                        Some(d @ (Datum::Text(_) | Datum::Null)) => d,
                        _ => {
                            return Err(format!(
                            "an unchanged TOAST value of column {} arrived without its old value",
                            col.name
                        ))
                        }
                    },
                    Some(d) => d,
                };
                match datum {
                    Datum::Text(_) => {
                        datum.as_str().map(|s| Some(s.to_string())).ok_or_else(|| {
                            format!("a value of column {} is not valid UTF-8", col.name)
                        })
                    }
                    _ => Ok(None),
                }
            })
            .collect()
    }

    /// Values of a change's row, or the version breaks with why they cannot be read.
    fn values_of(
        &mut self,
        k: usize,
        tuple: &Tuple,
        fallback: Option<&Tuple>,
        what: &str,
    ) -> Option<Vec<Option<String>>> {
        match self.pick(k, tuple, fallback) {
            Ok(values) => Some(values),
            Err(why) => {
                let table = self.record.plan.inputs[k].qualified();
                self.break_with(format!(
                    "an {what} of {table} cannot be applied: {why}; rebuild the view"
                ));
                None
            }
        }
    }

    fn old_values(
        &mut self,
        k: usize,
        old: Option<&(OldKind, Tuple)>,
        new: Option<&Tuple>,
        what: &str,
    ) -> Option<Vec<Option<String>>> {
        // A joined input's old row only has to name its key: the rest is in summa's copy.
        let keyed = self.record.plan.inputs[k].role.copied();
        match (old, new) {
            (Some((OldKind::Full, t)), _) => self.values_of(k, t, None, what),
            // A key-only old tuple has NULL placeholders for the other columns: usable only if
            // every shipped column is a key column (which `summa create` checked); otherwise the
            // table's REPLICA IDENTITY changed since.
            (Some((OldKind::Key, t)), _) if self.keys_only[k] || keyed => {
                self.values_of(k, t, None, what)
            }
            // No old tuple: the key did not change, so key columns kept their values.
            (None, Some(n)) if self.keys_only[k] || keyed => self.values_of(k, n, None, what),
            _ => {
                self.break_with(format!(
                    "an {what} of {} arrived without the old values of the columns the view reads \
                     (REPLICA IDENTITY changed?); run ALTER TABLE … REPLICA IDENTITY FULL and rebuild",
                    self.record.plan.inputs[k].qualified()
                ));
                None
            }
        }
    }

    pub fn insert(&mut self, oid: u32, new: &Tuple) {
        for k in self.inputs_of(oid) {
            if let Some(values) = self.values_of(k, new, None, "INSERT") {
                self.push(k, 1, values);
            }
        }
    }

    pub fn update(&mut self, oid: u32, old: Option<&(OldKind, Tuple)>, new: &Tuple) {
        for k in self.inputs_of(oid) {
            let Some(before) = self.old_values(k, old, Some(new), "UPDATE") else {
                return;
            };
            let Some(after) = self.values_of(k, new, old.map(|(_, t)| t), "UPDATE") else {
                return;
            };
            // A joined input's old row without all its values (the key only, or none when the
            // key did not change) marks the key touched either way: its copy knows the rest.
            let partial = self.record.plan.inputs[k].role.copied()
                && !matches!(old, Some((OldKind::Full, _)));
            if before != after || partial {
                self.push(k, -1, before);
                self.push(k, 1, after);
            }
        }
    }

    pub fn delete(&mut self, oid: u32, old: &(OldKind, Tuple)) {
        for k in self.inputs_of(oid) {
            if let Some(before) = self.old_values(k, Some(old), None, "DELETE") {
                self.push(k, -1, before);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use summa_stream::pgoutput::RelColumn;

    /// V1 as an earlier summa stored it (reads `customer_id` int4 and `amount` numeric).
    fn v1() -> VersionRuntime {
        let plan = summa_plan::MaintenancePlan::from_json(
            serde_json::from_str(include_str!(
                "../../../tests/fixtures/plans/format2_v1.json"
            ))
            .unwrap(),
        )
        .unwrap();
        VersionRuntime::new(
            VersionRecord {
                view: "v1".into(),
                version: 1,
                state: VersionState::Live,
                table_schema: "public".into(),
                table_name: "v1__v1".into(),
                plan,
                start_lsn: 0,
                pending: false,
            },
            0,
        )
    }

    /// The OID the fixture plan stored for `orders`.
    const ORDERS: u32 = 16385;

    fn relation() -> Relation {
        let col = |name: &str, type_oid| RelColumn {
            is_key: false,
            name: name.into(),
            type_oid,
            typmod: -1,
        };
        Relation {
            oid: ORDERS,
            schema: "public".into(),
            name: "orders".into(),
            replica_identity: b'f',
            columns: vec![col("id", 20), col("customer_id", 23), col("amount", 1700)],
        }
    }

    fn text(s: &[u8]) -> Datum {
        Datum::Text(bytes::Bytes::copy_from_slice(s))
    }

    fn reason(v: &VersionRuntime) -> &str {
        match &v.phase {
            Phase::Broken(reason) => reason,
            other => panic!("not broken: {other:?}"),
        }
    }

    #[test]
    fn a_value_that_is_not_utf8_breaks_the_version_instead_of_becoming_null() {
        let mut v = v1();
        v.on_relation(&relation());
        v.insert(ORDERS, &vec![text(b"1"), text(b"7"), text(b"12.50")]);
        assert_eq!(v.rows.len(), 1);
        v.insert(ORDERS, &vec![text(b"2"), text(b"7"), text(b"\xff\xfe")]);
        assert!(
            reason(&v).contains("amount is not valid UTF-8"),
            "{}",
            reason(&v)
        );
        assert_eq!(v.rows.len(), 1, "the bad row is not applied");
    }

    #[test]
    fn an_insert_whose_columns_cannot_be_picked_breaks_the_version() {
        // Before any Relation message.
        let mut v = v1();
        v.insert(ORDERS, &vec![text(b"1"), text(b"7"), text(b"1")]);
        assert!(
            reason(&v).contains("before the table's Relation message"),
            "{}",
            reason(&v)
        );
        // A row shorter than its relation.
        let mut v = v1();
        v.on_relation(&relation());
        v.insert(ORDERS, &vec![text(b"1"), text(b"7")]);
        assert!(
            reason(&v).contains("has no column amount"),
            "{}",
            reason(&v)
        );
        // An unchanged TOAST value in an INSERT has no old value to take.
        let mut v = v1();
        v.on_relation(&relation());
        v.insert(ORDERS, &vec![text(b"1"), text(b"7"), Datum::UnchangedToast]);
        assert!(reason(&v).contains("unchanged TOAST"), "{}", reason(&v));
    }

    #[test]
    fn updates_take_unchanged_toast_values_from_the_old_row() {
        let mut v = v1();
        v.on_relation(&relation());
        let old = vec![text(b"1"), text(b"7"), text(b"1.00")];
        v.update(
            ORDERS,
            Some(&(OldKind::Full, old)),
            &vec![text(b"1"), text(b"8"), Datum::UnchangedToast],
        );
        assert_eq!(v.rows.signs, vec![-1, 1]);
        assert_eq!(
            v.rows.columns[1],
            vec![Some("1.00".into()), Some("1.00".into())]
        );
    }
}

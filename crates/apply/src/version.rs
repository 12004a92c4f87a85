//! One maintained version inside a stream session: turns decoded changes into signed rows.

use summa_catalog::{VersionRecord, VersionState};
use summa_plan::ident::quote_ident;
use summa_plan::sqlgen::{self, Target};
use summa_stream::pgoutput::{Datum, OldKind, Relation, Tuple};

use crate::batch::SignedRows;

pub struct VersionRuntime {
    pub record: VersionRecord,
    pub staging: String,
    /// Position of each shipped column in the source relation's tuples (from the last
    /// Relation message), `None` until one arrives.
    positions: Option<Vec<usize>>,
    /// Every shipped column is part of the replica identity key.
    keys_only: bool,
    pub rows: SignedRows,
    /// Chunks already shipped into the staging table in the open target transaction.
    pub staged_chunks: usize,
    /// Set when the version cannot be maintained any more; recorded with the next batch.
    pub broken: Option<String>,
    /// Applies the version's pinned settings to the open transaction.
    pub sql_settings: String,
    /// Joining the shared stream: rows go to the pending table (`Some`), drained from the
    /// consistent point on once it is known (`Some(Some(c))`).
    pub pending: Option<Option<u64>>,
    /// Commit LSN of the transaction being read (recorded with pending rows).
    lsn: String,
    /// The pending table was found empty after a drain: the version can go live.
    pub drained: bool,
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
}

impl VersionRuntime {
    pub fn new(record: VersionRecord, index: usize) -> Self {
        let plan = &record.plan;
        let staging = format!("pg_temp.{}", quote_ident(&format!("summa_staging_{index}")));
        let pending = record
            .pending
            .then(|| (record.state == VersionState::CatchingUp).then_some(record.start_lsn));
        // A joining version's rows carry their commit LSN as a leading column.
        let width = plan.shipped.len() + usize::from(pending.is_some());
        VersionRuntime {
            sql_settings: plan.settings.set_local_sql(),
            prepared: None,
            pending,
            lsn: String::new(),
            drained: false,
            rows: SignedRows::new(width),
            positions: None,
            keys_only: false,
            staged_chunks: 0,
            broken: None,
            staging,
            record,
        }
    }

    /// Prepare the statements once per session (the staging table must exist).
    pub async fn prepare(
        &mut self,
        client: &tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        let plan = &self.record.plan;
        let target = Target::new(&self.record.table_schema, &self.record.table_name);
        let recompute = match sqlgen::recompute_extremes(plan, &target) {
            Some(sql) => Some(client.prepare(&sql).await?),
            None => None,
        };
        let mut delete_spent = Vec::new();
        for j in 0..plan.value_tables.len() {
            delete_spent.push(
                client
                    .prepare(&sqlgen::delete_spent_values(&target, j))
                    .await?,
            );
        }
        let (insert_pending, drain_pending) = if self.pending.is_some() {
            (
                Some(
                    client
                        .prepare(&sqlgen::insert_pending(plan, &target))
                        .await?,
                ),
                Some(
                    client
                        .prepare(&sqlgen::drain_pending(plan, &target, &self.staging))
                        .await?,
                ),
            )
        } else {
            (None, None)
        };
        self.prepared = Some(Prepared {
            merge_rows: client
                .prepare(&sqlgen::merge_changes(plan, &target))
                .await?,
            stage_rows: client
                .prepare(&sqlgen::stage_rows(plan, &self.staging))
                .await?,
            merge_staged: client
                .prepare(&sqlgen::merge_staged(plan, &target, &self.staging))
                .await?,
            delete_empty: client
                .prepare(&sqlgen::delete_empty_groups(&target))
                .await?,
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

    pub fn source_oid(&self) -> u32 {
        self.record.plan.source_oid
    }

    pub fn has_work(&self) -> bool {
        !self.rows.is_empty() || self.staged_chunks > 0 || self.must_drain()
    }

    /// A joining version whose consistent point is known and whose pending table may hold rows.
    pub fn must_drain(&self) -> bool {
        matches!(self.pending, Some(Some(_))) && !self.drained
    }

    /// The pending table is drained (and dropped): apply changes directly from now on.
    pub fn go_direct(&mut self) {
        tracing::info!(view = %self.record.view, version = self.record.version, "pending changes drained: live");
        self.pending = None;
        self.drained = false;
        self.rows = SignedRows::new(self.record.plan.shipped.len());
    }

    /// The commit LSN of the transaction whose changes follow.
    pub fn set_commit_lsn(&mut self, lsn: &str) {
        if self.pending.is_some() {
            self.lsn = lsn.to_string();
        }
    }

    fn push(&mut self, sign: i16, values: Vec<Option<String>>) {
        if self.pending.is_some() {
            let mut with_lsn = Vec::with_capacity(values.len() + 1);
            with_lsn.push(Some(self.lsn.clone()));
            with_lsn.extend(values);
            self.rows.push(sign, with_lsn);
        } else {
            self.rows.push(sign, values);
        }
    }

    /// A (new) Relation message for the source: map shipped columns by name and type.
    pub fn on_relation(&mut self, rel: &Relation) {
        let columns: Vec<(&str, u32)> = rel
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_oid))
            .collect();
        if let Some(reason) =
            self.schema_mismatch(&format!("{}.{}", rel.schema, rel.name), &columns)
        {
            self.break_with(reason);
            return;
        }
        let positions: Vec<usize> = self
            .record
            .plan
            .shipped
            .iter()
            .filter_map(|col| rel.columns.iter().position(|c| c.name == col.name))
            .collect();
        self.keys_only = positions.iter().all(|&i| rel.columns[i].is_key);
        self.positions = Some(positions);
    }

    /// Why the source `table` with `columns` (name, type OID) can no longer feed this version:
    /// a shipped column was dropped, renamed or changed type. Added columns are fine.
    pub fn schema_mismatch(&self, table: &str, columns: &[(&str, u32)]) -> Option<String> {
        self.record.plan.shipped.iter().find_map(|col| {
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
        if self.broken.is_none() {
            tracing::error!(view = %self.record.view, version = self.record.version, reason = %reason, "version broken");
            self.broken = Some(reason);
        }
    }

    fn pick(&self, tuple: &Tuple, fallback: Option<&Tuple>) -> Option<Vec<Option<String>>> {
        let positions = self.positions.as_ref()?;
        positions
            .iter()
            .map(|&i| match tuple.get(i)? {
                Datum::Null => Some(None),
                Datum::Text(_) => Some(tuple[i].as_str().map(str::to_string)),
                // Unchanged TOAST: the value is the old tuple's, never NULL.
                Datum::UnchangedToast => match fallback.and_then(|f| f.get(i)) {
                    Some(d @ Datum::Text(_)) => Some(d.as_str().map(str::to_string)),
                    Some(Datum::Null) => Some(None),
                    _ => None,
                },
            })
            .collect()
    }

    fn old_values(
        &mut self,
        old: Option<&(OldKind, Tuple)>,
        new: Option<&Tuple>,
        what: &str,
    ) -> Option<Vec<Option<String>>> {
        let values = match old {
            Some((OldKind::Full, t)) => self.pick(t, None),
            // A key-only old tuple has NULL placeholders for the other columns: usable only if
            // every shipped column is a key column (which `summa create` checked); otherwise the
            // table's REPLICA IDENTITY changed since.
            Some((OldKind::Key, t)) if self.keys_only => self.pick(t, None),
            // No old tuple: the key did not change, so key columns kept their values.
            None if self.keys_only => new.and_then(|n| self.pick(n, None)),
            _ => None,
        };
        if values.is_none() {
            self.break_with(format!(
                "an {what} of {} arrived without the old values of the columns the view reads \
                 (REPLICA IDENTITY changed?); run ALTER TABLE … REPLICA IDENTITY FULL and rebuild",
                self.record.plan.source_qualified()
            ));
        }
        values
    }

    pub fn insert(&mut self, new: &Tuple) {
        if let Some(values) = self.pick(new, None) {
            self.push(1, values);
        }
    }

    pub fn update(&mut self, old: Option<&(OldKind, Tuple)>, new: &Tuple) {
        let Some(before) = self.old_values(old, Some(new), "UPDATE") else {
            return;
        };
        let Some(after) = self.pick(new, old.map(|(_, t)| t)) else {
            self.break_with(
                "an UPDATE carried an unchanged TOAST value without its old value".into(),
            );
            return;
        };
        if before != after {
            self.push(-1, before);
            self.push(1, after);
        }
    }

    pub fn delete(&mut self, old: &(OldKind, Tuple)) {
        if let Some(before) = self.old_values(Some(old), None, "DELETE") {
            self.push(-1, before);
        }
    }
}

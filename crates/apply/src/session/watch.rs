//! What pgoutput does not say, polled: source DDL and changed version sets.
//!
//! pgoutput carries no DDL, a Relation message only comes with the next change, and a dropped
//! table sends none, so every `GENERATION_CHECK` (while idle, and between batches while busy)
//! the session reads the sources' columns from the catalog and breaks the versions whose
//! columns were dropped, renamed or retyped, or whose table is gone. It also reads the
//! stream's generation: a new one (a version joined, was retired or dropped) reloads the
//! session at the next idle moment.

use std::time::Instant;

use super::Session;
use crate::error::RunError;

impl Session<'_> {
    /// Notice changed versions; while idle also record that the stream is caught up, so
    /// status reports lag 0 though the server's WAL moves on with WAL that is not ours
    /// (`summa_catalog::stamp_caught_up` writes at most every 10 s, and only while WAL other
    /// than its own stamps moves, so an idle database stays idle).
    pub(super) async fn check_generation(&mut self) -> Result<(), RunError> {
        self.last_generation_check = Instant::now();
        if self.idle() {
            self.wal_seen =
                summa_catalog::stamp_caught_up(&self.target, &self.slot, false, &self.wal_seen)
                    .await?;
        } else {
            self.wal_seen = Default::default();
        }
        let generation = summa_catalog::stream_generation(&self.target, &self.slot).await?;
        self.reload |= generation != self.generation;
        Ok(())
    }

    /// Break versions whose source table was dropped, or whose columns were dropped, renamed
    /// or changed type, as soon as the catalog shows it.
    pub(super) async fn check_sources(&mut self) -> Result<(), RunError> {
        for i in 0..self.versions.len() {
            if self.versions[i].is_broken() {
                continue;
            }
            let mut reason = None;
            for k in 0..self.versions[i].record.plan.inputs.len() {
                let input = &self.versions[i].record.plan.inputs[k];
                let (oid, table) = (input.oid, input.qualified());
                let rows = self
                    .target
                    .query(
                        "SELECT attname::text, atttypid FROM pg_attribute \
                         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
                        &[&oid],
                    )
                    .await?;
                reason = if rows.is_empty() {
                    Some(format!("source table {table} was dropped; recreate it and rebuild the view, or drop the view"))
                } else {
                    let columns: Vec<(String, u32)> =
                        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                    let columns: Vec<(&str, u32)> =
                        columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
                    self.versions[i].schema_mismatch(k, &table, &columns)
                };
                if reason.is_some() {
                    break;
                }
            }
            if let Some(reason) = reason {
                let v = &self.versions[i];
                let (view, version) = (v.record.view.clone(), v.record.version);
                summa_catalog::mark_broken(&self.target, &view, version, &reason).await?;
                self.metrics.record_broken();
                self.versions[i].break_with(reason);
                self.reload = true;
            }
        }
        Ok(())
    }
}

//! TRUNCATE of a source, at its position in the stream.
//!
//! pgoutput sends a Truncate message inside the truncating transaction. With
//! `apply.on_truncate = "reset"` the version's summary is emptied right there inside the open
//! batch: changes before it (in this batch) are merged first and then wiped with the rest,
//! changes after it are applied to the empty summary. A joining version whose consistent
//! point is known drops its pending rows (all precede the TRUNCATE); one still backfilling
//! cannot place it and breaks. With `"break"` the version is marked broken instead. For a
//! join, a TRUNCATE of any input empties the join: the summary is reset and that input's copy
//! emptied, the other copies stay; except a LEFT JOIN's right side, whose emptying pads rows
//! instead of removing them: that version breaks (rebuild).

use summa_stream::Lsn;

use super::Session;
use crate::config::TruncatePolicy;
use crate::error::RunError;
use crate::version::Phase;

impl Session<'_> {
    /// Version `i`'s source was truncated in the transaction committing at `commit_lsn`.
    pub(super) async fn on_truncate(
        &mut self,
        i: usize,
        commit_lsn: u64,
        rels: &[u32],
    ) -> Result<(), RunError> {
        let v = &mut self.versions[i];
        let truncated: Vec<usize> = (0..v.record.plan.inputs.len())
            .filter(|&k| rels.contains(&v.record.plan.inputs[k].oid))
            .collect();
        let tables: Vec<String> = truncated
            .iter()
            .map(|&k| v.record.plan.inputs[k].qualified())
            .collect();
        let at = format!(
            "source table {} was truncated at {}",
            tables.join(", "),
            Lsn(commit_lsn)
        );
        // A LEFT JOIN's right side emptied pads every row that matched it: the summary is not
        // empty, and not reset; the version is rebuilt instead.
        if let Some(&k) = truncated
            .iter()
            .find(|&&k| v.record.plan.inputs[k].role == summa_plan::InputRole::Left)
        {
            v.break_with(format!(
                "{at}; it is the right side of a LEFT JOIN ({}), whose rows are padded, not \
                 removed, when it is emptied: rebuild the view",
                v.record.plan.inputs[k].name
            ));
            return Ok(());
        }
        if self.cfg.on_truncate == TruncatePolicy::Break {
            v.break_with(format!(
                "{at}; rebuild the view (apply.on_truncate = \"break\")"
            ));
            return Ok(());
        }
        let mut stmts = Vec::new();
        match v.phase {
            Phase::Live | Phase::Drained => {
                self.begin_target().await?;
                if self.versions[i].has_work() {
                    self.merge_into_batch(
                        i,
                        &format!("before the TRUNCATE at {}", Lsn(commit_lsn)),
                    )
                    .await?;
                }
            }
            // Every change waiting in the pending table, or buffered, precedes the TRUNCATE.
            Phase::Draining { .. } => {
                v.discard_buffered();
                stmts.push(format!("DELETE FROM {}", v.target.pending()));
                self.begin_target().await?;
            }
            Phase::Backfilling => {
                v.break_with(format!(
                    "{at} while the version was still backfilling; rebuild the view"
                ));
                return Ok(());
            }
            Phase::Broken(_) => return Ok(()),
        }
        let v = &self.versions[i];
        if v.record.plan.is_join() {
            // An inner join with an empty input is empty; the other inputs' copies stay.
            for &k in &truncated {
                stmts.extend(summa_plan::sqlgen::reset_for_truncated_input(
                    &v.record.plan,
                    &v.target,
                    k,
                ));
            }
        } else {
            stmts.extend(summa_plan::sqlgen::reset_objects(&v.record.plan, &v.target));
        }
        for stmt in stmts {
            if let Err(err) = self.target.batch_execute(&stmt).await {
                return self.failed(i, "resetting after a TRUNCATE", err).await;
            }
        }
        let v = &self.versions[i];
        tracing::warn!(view = %v.record.view, version = v.record.version, "{at}: summary reset");
        self.metrics.record_reset();
        Ok(())
    }
}

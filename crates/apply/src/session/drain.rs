//! The pending-table protocol of a version joining the shared stream, while the stream is
//! idle: its pending rows are drained in chunks, each in a transaction of its own (the
//! stream's position does not move), until the table is empty; the version then goes live and
//! the session applies it directly. (While the stream is busy, each batch drains one chunk:
//! `merge::merge_version`.)

use super::Session;
use crate::error::RunError;
use crate::version::Phase;

impl Session<'_> {
    pub(super) async fn drain_idle(&mut self) -> Result<(), RunError> {
        self.begin_target().await?;
        for i in 0..self.versions.len() {
            if !self.versions[i].must_drain() {
                continue;
            }
            self.merge_into_batch(i, "while draining its pending changes")
                .await?;
            if self.versions[i].phase == Phase::Drained {
                summa_catalog::mark_drained(&self.target, &self.versions[i].record, &self.slot)
                    .await?;
                self.versions[i].go_live();
                self.generation += 1;
            }
        }
        self.target.batch_execute("COMMIT").await?;
        self.target_open = false;
        Ok(())
    }
}

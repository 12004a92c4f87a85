//! Partitions attached, detached, dropped or truncated: row changes the WAL does not carry.
//!
//! A partitioned source is published via its root, so its rows' changes arrive under its own
//! name. Four commands change its rows without one: ATTACH PARTITION of a filled table,
//! DETACH or DROP of a filled partition, and TRUNCATE of one partition (pgoutput does not
//! send a partition's TRUNCATE when the publication publishes via the root). summa's event
//! trigger (`summa.watch_partitions`, and the TRUNCATE trigger it puts on every partition)
//! emits a transactional logical message (prefix [`PREFIX`]) in the very transaction that
//! ran the command, naming the root: the message arrives at the command's position in the
//! stream. Every version reading that root, and live at that position, breaks there with
//! the command named: its summary cannot follow rows it never saw (rebuild it). Creating or
//! attaching an empty partition changes no row and sends nothing. A partition that loses the
//! REPLICA IDENTITY FULL a view needs is reported the same way (its old tuples would arrive
//! flagged by the root's identity, with NULLs for what it no longer logs).
//!
//! A TRUNCATE of the root also fires the partitions' TRUNCATE triggers: their messages follow
//! the root's Truncate message with no change of the root in between, and are covered by it
//! (every partition is empty then), so they are ignored (`OpenTxn::truncated`).

use summa_stream::Lsn;

use super::Session;

/// The logical message prefix of summa's partition events (see `api.sql`).
pub const PREFIX: &str = "summa.partitions";

/// A partition event: the root's OID on the first line, what happened on the rest.
fn parse(content: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(content).ok()?;
    let (oid, what) = text.split_once('\n')?;
    Some((oid.trim().parse().ok()?, what.to_string()))
}

impl Session<'_> {
    /// A partition event inside the open transaction.
    pub(super) fn on_partition_event(&mut self, content: &[u8]) {
        let Some(txn) = self.txn.as_ref().filter(|t| !t.skip) else {
            return;
        };
        let commit_lsn = txn.commit_lsn;
        let Some((root, what)) = parse(content) else {
            tracing::warn!(content = %String::from_utf8_lossy(content), "unreadable partition event ignored");
            return;
        };
        if txn.truncated.contains(&root) {
            return;
        }
        for v in self.versions.iter_mut() {
            if !v.reads(root) || v.is_broken() || commit_lsn < v.record.start_lsn {
                continue;
            }
            let table = v
                .record
                .plan
                .input_of(root)
                .map(|k| v.record.plan.inputs[k].qualified())
                .unwrap_or_default();
            v.break_with(format!(
                "{what} at {}: the WAL no longer tells every change of {table}'s rows from \
                 there; rebuild the view (summa rebuild {} --promote)",
                Lsn(commit_lsn),
                v.record.view,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn events_name_the_root_first() {
        assert_eq!(
            parse(b"16384\npartition public.m_2 was attached"),
            Some((16384, "partition public.m_2 was attached".into()))
        );
        assert_eq!(parse(b"x\ny"), None);
        assert_eq!(parse(b"16384"), None);
    }
}

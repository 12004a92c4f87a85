//! The floor and the ceiling, measured in the same run as summa.
//!
//! A bare logical slot on the bench's own publication is read through summa's decoder
//! (`summa_stream::pgoutput`) with no apply at all:
//! - streaming while a transaction commits ([`Live::until`]), the time from COMMIT returning
//!   until the transaction's Commit message arrived is what any WAL consumer waits before it
//!   holds the whole transaction (the walsender replays a transaction only at its commit);
//!   with one upsert of the distinct groups it touched into a table shaped like the view's
//!   (`super::floor`), that is the floor of time to fresh;
//! - for a backlog of many transactions ([`BareSlot::drain`]), changes per second are the
//!   decode ceiling: no consumer of this walsender can apply faster.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::bail;
use summa_stream::pgoutput::{self, Datum, Message, Tuple};
use summa_stream::{ConnInfo, Lsn, ReplicationClient, ReplicationEvent};
use tokio_postgres::Client;

use super::BenchView;

/// The bench's publication: `orders` alone.
pub const PUBLICATION: &str = "summa_bench_pub";

/// A group key of V1 (customer) or V2 (day, status), as text.
pub type Group = (String, Option<String>);

/// What one drain saw.
#[derive(Debug, Default)]
pub struct Drained {
    pub changes: u64,
    pub transactions: u64,
    pub bytes: u64,
    /// From the start of reading to the last Commit.
    pub elapsed: Duration,
    /// Distinct groups the last transaction touched (when keys were asked for).
    pub groups: HashSet<Group>,
}

pub struct BareSlot {
    pub name: String,
    conn: ConnInfo,
    /// Where the next drain starts: the end of the last transaction drained.
    start: u64,
}

impl BareSlot {
    pub async fn create(client: &Client, conn: &ConnInfo, name: &str) -> anyhow::Result<BareSlot> {
        drop_slot(client, name).await?;
        let lsn: String = client
            .query_one(
                "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&name],
            )
            .await?
            .get(0);
        Ok(BareSlot {
            name: name.into(),
            conn: conn.clone(),
            start: super::sidecar::parse_lsn(&lsn)?,
        })
    }

    /// Start streaming from where the last drain ended.
    pub async fn open(&self) -> anyhow::Result<Live> {
        let cfg = self
            .conn
            .replication(&self.name, PUBLICATION, Lsn(self.start))
            .with_buffer_size(65_536);
        Ok(Live {
            repl: ReplicationClient::connect(cfg).await?,
            relation: None,
            end: self.start,
        })
    }

    /// Stop streaming and move the slot past what `live` read.
    pub async fn close(&mut self, client: &Client, mut live: Live) -> anyhow::Result<()> {
        let _ = live.repl.shutdown().await;
        self.start = live.end;
        advance(client, &self.name, live.end).await
    }

    /// Read a backlog until a transaction committing beyond `until` (elapsed time from
    /// START_REPLICATION).
    pub async fn drain(&mut self, client: &Client, until: u64) -> anyhow::Result<Drained> {
        let started = Instant::now();
        let mut live = self.open().await?;
        let mut out = live.until(until, None).await?;
        out.elapsed = started.elapsed();
        self.close(client, live).await?;
        Ok(out)
    }

    pub async fn drop(self, client: &Client) -> anyhow::Result<()> {
        drop_slot(client, &self.name).await
    }
}

/// A bare slot being read.
pub struct Live {
    repl: ReplicationClient,
    /// The source's last Relation message (sent once per session).
    relation: Option<pgoutput::Relation>,
    /// End of the last transaction received.
    end: u64,
}

impl Live {
    /// Read until a transaction committing beyond `until` was received; `keys`: collect the
    /// groups of that view the last transaction touched.
    pub async fn until(&mut self, until: u64, keys: Option<BenchView>) -> anyhow::Result<Drained> {
        let started = Instant::now();
        let mut out = Drained::default();
        let position = |rel: &Option<pgoutput::Relation>| match (keys, rel) {
            (Some(v), Some(rel)) => key_positions(v, rel).map(Some),
            _ => Ok(None),
        };
        let mut columns = position(&self.relation)?;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(600), self.repl.recv()).await;
            let Ok(event) = event else {
                bail!("a bare slot sent nothing for 600 s");
            };
            match event? {
                None => bail!("a bare slot's stream ended"),
                Some(ReplicationEvent::Begin { .. }) => out.groups.clear(),
                Some(ReplicationEvent::XLogData { data, .. }) => {
                    out.bytes += data.len() as u64;
                    let msg = pgoutput::decode(&data)?;
                    match &msg {
                        Message::Relation(rel) => {
                            self.relation = Some(rel.clone());
                            columns = position(&self.relation)?;
                        }
                        Message::Insert { .. }
                        | Message::Update { .. }
                        | Message::Delete { .. } => {
                            out.changes += 1;
                            if let Some(pos) = columns {
                                collect_groups(&msg, pos, &mut out.groups);
                            }
                        }
                        _ => {}
                    }
                }
                Some(ReplicationEvent::Commit { end_lsn, .. }) => {
                    out.transactions += 1;
                    self.end = end_lsn.0;
                    self.repl.update_applied_lsn(end_lsn);
                    if end_lsn.0 > until {
                        break;
                    }
                }
                Some(_) => {}
            }
        }
        out.elapsed = started.elapsed();
        Ok(out)
    }
}

/// Move the slot to `lsn` once its walsender let go, so it retains no WAL it was drained of.
async fn advance(client: &Client, slot: &str, lsn: u64) -> anyhow::Result<()> {
    let text = Lsn(lsn).to_string();
    for _ in 0..200 {
        let r = client
            .execute(
                "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn) \
                 FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                &[&slot, &text],
            )
            .await?;
        if r > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("slot {slot} stayed active after its drain")
}

/// Drop `slot` if it exists (waiting for a walsender that still holds it).
pub async fn drop_slot(client: &Client, slot: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        let r = client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
                &[&slot],
            )
            .await?;
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await?
            .get(0);
        if r > 0 || left == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("slot {slot} stayed active")
}

/// Positions of the view's group key columns in the relation's tuples.
fn key_positions(
    view: BenchView,
    rel: &pgoutput::Relation,
) -> anyhow::Result<(usize, Option<usize>)> {
    let pos = |name: &str| {
        rel.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| anyhow::anyhow!("orders has no column {name}"))
    };
    Ok(if view.label == "V1" {
        (pos("customer_id")?, None)
    } else {
        (pos("created_at")?, Some(pos("status")?))
    })
}

fn collect_groups(msg: &Message, (a, b): (usize, Option<usize>), groups: &mut HashSet<Group>) {
    let mut add = |t: &Tuple| {
        let text = |i: usize| match t.get(i) {
            Some(Datum::Text(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        };
        let Some(first) = text(a) else { return };
        match b {
            None => {
                groups.insert((first, None));
            }
            // V2's day: the date part of the timestamp's text (ISO DateStyle).
            Some(b) => {
                if let Some(status) = text(b) {
                    groups.insert((first.chars().take(10).collect(), Some(status)));
                }
            }
        }
    };
    match msg {
        Message::Insert { new, .. } => add(new),
        Message::Update { old, new, .. } => {
            if let Some((_, old)) = old {
                add(old);
            }
            add(new);
        }
        Message::Delete { old: (_, old), .. } => add(old),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn tuple(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => out.push(b'n'),
                Some(s) => {
                    out.push(b't');
                    out.extend((s.len() as i32).to_be_bytes());
                    out.extend(s.as_bytes());
                }
            }
        }
        out
    }

    #[test]
    fn groups_of_v2_from_old_and_new_rows() {
        let mut u = vec![b'U'];
        u.extend(7u32.to_be_bytes());
        u.push(b'O');
        u.extend(tuple(&[Some("2025-03-04 05:06:07+00"), Some("paid")]));
        u.push(b'N');
        u.extend(tuple(&[Some("2025-03-05 01:00:00+00"), Some("new")]));
        let msg = pgoutput::decode(&Bytes::from(u)).unwrap();
        let mut groups = HashSet::new();
        collect_groups(&msg, (0, Some(1)), &mut groups);
        assert!(groups.contains(&("2025-03-04".to_string(), Some("paid".to_string()))));
        assert!(groups.contains(&("2025-03-05".to_string(), Some("new".to_string()))));
    }
}

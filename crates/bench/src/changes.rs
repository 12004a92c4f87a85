//! The committed change batch of the time-to-fresh scenarios: K rows changed in one
//! transaction, half updates (moving rows between customers, days and statuses, new amounts),
//! a quarter inserts, a quarter deletes, of rows picked at random.

use std::collections::HashSet;

use tokio_postgres::{Client, Statement};

use super::SCHEMA;
use summa_cli::workload;

pub struct ChangeBatch {
    update: Statement,
    insert: Statement,
    delete: Statement,
    rng: u64,
}

impl ChangeBatch {
    pub async fn prepare(client: &Client) -> Result<ChangeBatch, tokio_postgres::Error> {
        let update = client
            .prepare(&format!(
                "UPDATE {SCHEMA}.orders SET customer_id = 1 + (random() * 99999)::int, \
                 amount = round((random() * 500)::numeric, 2), \
                 status = (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + (random() * 4)::int], \
                 created_at = created_at + (random() - 0.5) * interval '2 days' \
                 WHERE id = ANY($1::int8[])"
            ))
            .await?;
        let insert = client
            .prepare(&workload::insert_random_sql(SCHEMA, false))
            .await?;
        let delete = client
            .prepare(&format!(
                "DELETE FROM {SCHEMA}.orders WHERE id = ANY($1::int8[])"
            ))
            .await?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42);
        Ok(ChangeBatch {
            update,
            insert,
            delete,
            rng: seed | 1,
        })
    }

    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Run a batch of `k` changes in the client's open transaction; returns the rows changed
    /// (ids picked at random may be gone, so it can be a little less than `k`).
    pub async fn run(&mut self, client: &Client, k: u64) -> Result<u64, tokio_postgres::Error> {
        let max_id: i64 = client
            .query_one(
                &format!("SELECT coalesce(max(id), 1) FROM {SCHEMA}.orders"),
                &[],
            )
            .await?
            .get(0);
        let (updates, inserts) = (k / 2, k / 4);
        let deletes = k - updates - inserts;
        let wanted = ((updates + deletes) as usize).min(max_id as usize);
        let mut ids = HashSet::with_capacity(wanted);
        while ids.len() < wanted {
            ids.insert(1 + (self.next() % max_id as u64) as i64);
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let (upd, del) = ids.split_at((updates as usize).min(ids.len()));
        let mut n = client.execute(&self.update, &[&upd]).await?;
        n += client.execute(&self.insert, &[&(inserts as i64)]).await?;
        n += client.execute(&self.delete, &[&del]).await?;
        Ok(n)
    }
}

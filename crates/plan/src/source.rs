//! The source table as the live catalog describes it.

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::error::PlanError;
use crate::ident::qualified;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceColumn {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `numeric(12,2)`, with the column's collation
    /// when it is not the type's default (`text COLLATE "pg_catalog"."C"`), so shipped values
    /// compare and order as in the table.
    pub type_sql: String,
    pub type_oid: u32,
    /// The generation expression of a stored generated column (`GENERATED ALWAYS AS (…)
    /// STORED`), as `pg_get_expr` prints it; `None` for a plain column.
    pub generated: Option<String>,
}

/// What old values UPDATE and DELETE carry in the WAL for this table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaIdentity {
    /// `REPLICA IDENTITY FULL`: every column.
    Full,
    /// DEFAULT (primary key) or USING INDEX: only these columns.
    Columns(Vec<String>),
    /// NOTHING, or DEFAULT without a primary key.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTable {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<SourceColumn>,
    pub replica_identity: ReplicaIdentity,
    /// The primary key's columns, in key order; empty without one.
    pub primary_key: Vec<String>,
    /// A partitioned table's leaf partitions (qualified names) as they are now; empty for a
    /// plain table. Their replica identities, not the parent's, decide what UPDATE and DELETE
    /// log ([`SourceTable::replica_identity`] is the weakest of theirs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
    /// Declaratively partitioned (`relkind = 'p'`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
}

impl SourceTable {
    pub fn qualified_name(&self) -> String {
        qualified(&self.schema, &self.name)
    }

    pub fn column(&self, name: &str) -> Option<&SourceColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Columns among `needed` whose old values UPDATE/DELETE would not carry.
    pub fn columns_without_old_values<'a>(&self, needed: &'a [String]) -> Vec<&'a str> {
        match &self.replica_identity {
            ReplicaIdentity::Full => vec![],
            ReplicaIdentity::Nothing => needed.iter().map(String::as_str).collect(),
            ReplicaIdentity::Columns(cols) => needed
                .iter()
                .filter(|n| !cols.contains(n))
                .map(String::as_str)
                .collect(),
        }
    }

    /// The statement that makes every column's old value available: on the table, or on
    /// each leaf partition of a partitioned one (the parent's identity logs nothing; a new
    /// partition summa sees created gets it too, see `summa.watch_partitions`).
    pub fn replica_identity_full_sql(&self) -> String {
        if !self.partitioned {
            return format!(
                "ALTER TABLE {} REPLICA IDENTITY FULL",
                self.qualified_name()
            );
        }
        self.partitions
            .iter()
            .map(|leaf| format!("ALTER TABLE {leaf} REPLICA IDENTITY FULL"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Look the table up by its (possibly schema-qualified) name as the SQL wrote it,
    /// resolved with the session's search_path.
    pub async fn load(
        client: &impl GenericClient,
        schema: Option<&str>,
        name: &str,
    ) -> Result<Option<SourceTable>, PlanError> {
        let regclass_text = match schema {
            Some(s) => qualified(s, name),
            None => crate::ident::quote_ident(name),
        };
        let Some(row) = client
            .query_opt(
                "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relreplident::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass($1)",
                &[&regclass_text],
            )
            .await?
        else {
            return Ok(None);
        };
        let oid: u32 = row.get(0);
        let relkind: String = row.get(3);
        let table_name: String = row.get(2);
        let partitioned = relkind == "p";
        if relkind != "r" && !partitioned {
            let what = match relkind.as_str() {
                "v" => "a view",
                "m" => "a materialized view",
                "f" => "a foreign table",
                _ => "not a plain table",
            };
            return Err(PlanError::Unsupported {
                construct: format!("source relation {table_name}"),
                pos: None,
                reason: format!("it is {what}; summa reads changes of plain tables from the WAL"),
                hint: None,
            });
        }
        let columns = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) || coalesce(\
                 (SELECT format(' COLLATE %I.%I', n.nspname, c.collname) FROM pg_collation c \
                  JOIN pg_namespace n ON n.oid = c.collnamespace \
                  WHERE c.oid = a.attcollation AND a.attcollation <> t.typcollation), ''), a.atttypid, \
                 CASE WHEN a.attgenerated <> '' THEN \
                     (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d \
                      WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) END \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&oid],
            )
            .await?
            .iter()
            .map(|r| SourceColumn {
                name: r.get(0),
                type_sql: r.get(1),
                type_oid: r.get(2),
                generated: r.get(3),
            })
            .collect();
        let primary_key: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n",
                &[&oid],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let replident: String = row.get(4);
        let (replica_identity, partitions) = if partitioned {
            let leaves = client
                .query(
                    "SELECT c.oid, c.relreplident::text, format('%I.%I', n.nspname, c.relname) \
                     FROM pg_partition_tree($1::oid::regclass) t JOIN pg_class c ON c.oid = t.relid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE t.isleaf AND c.relkind = 'r' ORDER BY 3",
                    &[&oid],
                )
                .await?;
            // Without partitions yet, the next one logs what a new table does: its primary
            // key (inherited from the parent's), or nothing.
            let mut weakest = match (leaves.is_empty(), primary_key.is_empty()) {
                (false, _) => ReplicaIdentity::Full,
                (true, false) => ReplicaIdentity::Columns(primary_key.clone()),
                (true, true) => ReplicaIdentity::Nothing,
            };
            for leaf in &leaves {
                let identity = identity_of(client, leaf.get(0), &leaf.get::<_, String>(1)).await?;
                weakest = weakest.weaker(identity);
            }
            (weakest, leaves.iter().map(|r| r.get(2)).collect())
        } else {
            (identity_of(client, oid, &replident).await?, Vec::new())
        };
        Ok(Some(SourceTable {
            primary_key,
            oid,
            schema: row.get(1),
            name: table_name,
            columns,
            replica_identity,
            partitions,
            partitioned,
        }))
    }
}

impl ReplicaIdentity {
    /// What both identities log: the columns two partitions both carry old values of.
    fn weaker(self, other: ReplicaIdentity) -> ReplicaIdentity {
        match (self, other) {
            (ReplicaIdentity::Full, x) | (x, ReplicaIdentity::Full) => x,
            (ReplicaIdentity::Columns(a), ReplicaIdentity::Columns(b)) => {
                let both: Vec<String> = a.into_iter().filter(|c| b.contains(c)).collect();
                if both.is_empty() {
                    ReplicaIdentity::Nothing
                } else {
                    ReplicaIdentity::Columns(both)
                }
            }
            _ => ReplicaIdentity::Nothing,
        }
    }
}

/// The identity table `oid` logs, from its `relreplident`.
async fn identity_of(
    client: &impl GenericClient,
    oid: u32,
    replident: &str,
) -> Result<ReplicaIdentity, PlanError> {
    Ok(match replident {
        "f" => ReplicaIdentity::Full,
        "n" => ReplicaIdentity::Nothing,
        _ => {
            let index_cond = if replident == "i" {
                "i.indisreplident"
            } else {
                "i.indisprimary"
            };
            let cols: Vec<String> = client
                .query(
                    &format!(
                        "SELECT a.attname::text FROM pg_index i \
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                         WHERE i.indrelid = $1 AND {index_cond}"
                    ),
                    &[&oid],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if cols.is_empty() {
                ReplicaIdentity::Nothing
            } else {
                ReplicaIdentity::Columns(cols)
            }
        }
    })
}

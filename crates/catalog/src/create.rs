//! Creating versions: plan → summary table → slot with exported snapshot → backfill.
//!
//! Handoff (invariant 3): the slot is created on a replication session with an exported
//! snapshot. The backfill reads the source under exactly that snapshot and commits the
//! summary rows together with the stream record whose applied LSN is the slot's consistent
//! point; streaming then starts there. Transactions committed before the consistent point are
//! in the snapshot, those after it are streamed: none is missed or counted twice.
//!
//! Bounded steps (invariant 4): the tables are registered empty and unindexed; the backfill
//! (`crate::backfill`) loads them in bounded statements and builds their indexes, all in the
//! one transaction that commits the stream record.

use std::time::{Duration, Instant};

use summa_plan::ident::{qualified, quote_ident, quote_literal};
use summa_plan::sqlgen::{self, Target};
use summa_plan::{plan_view, Input, InputRole, MaintenancePlan, PinnedSettings, SourceTable};
use summa_stream::{create_slot_with_snapshot, ConnInfo};
use tokio_postgres::Client;

use crate::error::{db_message, CatalogError, DbContext};
use crate::records::bump_generation;
use crate::SIDECAR_LEASE;

#[derive(Debug, Clone)]
pub struct ViewSpec {
    pub name: String,
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Schema of the summary tables and alias views.
    pub schema: String,
    /// Versioned table name pattern: `{name}` and `{version}` are replaced.
    pub table_pattern: String,
    pub set_replica_identity_full: bool,
    pub statement_budget: Duration,
    pub show_progress: bool,
    /// Settings pinned for the new versions; captured from the session when `None`.
    pub settings: Option<PinnedSettings>,
    /// A publication a DBA created (`summa setup --print`): new streams read it, and summa
    /// never creates, alters or drops it; a source must already be in it. `None`: summa owns
    /// one publication per stream (needs ownership of the source tables).
    pub publication: Option<String>,
    /// The version the SQL API asked for (`summa.define`), when it is one.
    pub requested: Option<Requested>,
}

/// A version asked for with `summa.define`: its number, given out by `define`, and who asked.
#[derive(Debug, Clone)]
pub struct Requested {
    pub version: i32,
    /// The role that called `summa.define`: it must be able to read what the view reads,
    /// and it may read the new version.
    pub role: String,
    /// Further roles that may read the new version (option `readers`).
    pub readers: Vec<String>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            schema: "public".into(),
            table_pattern: "{name}__v{version}".into(),
            set_replica_identity_full: false,
            statement_budget: Duration::from_secs(30),
            show_progress: false,
            settings: None,
            publication: None,
            requested: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CreatedVersion {
    pub view: String,
    pub version: i32,
    pub table: String,
    pub alias: String,
    pub slot: String,
    pub consistent_point: String,
    pub backfill_statements: u64,
    pub backfill_elapsed: Duration,
    /// What the planner accepted but ignored (ORDER BY), for the user to see.
    pub notices: Vec<String>,
    /// Per input, what its UPDATE and DELETE must log and where summa keeps its rows.
    pub inputs: Vec<String>,
}

/// What each input of `plan` needs from its table (for `summa create` to say).
fn input_needs(plan: &MaintenancePlan, target: &Target) -> Vec<String> {
    plan.inputs
        .iter()
        .enumerate()
        .map(|(k, input)| {
            let named = if input.name == input.table {
                input.qualified()
            } else {
                format!("{} AS {}", input.qualified(), quote_ident(&input.name))
            };
            let line = match input.role {
                InputRole::Scan => format!(
                    "{named}: its UPDATE and DELETE log the old values of the columns the view \
                     reads ({})",
                    input
                        .shipped
                        .iter()
                        .map(|c| quote_ident(&c.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                InputRole::Inner | InputRole::Left => format!(
                    "{named}: only its primary key ({}) is logged (the default replica identity \
                     is enough); summa keeps the columns it reads in {}",
                    input
                        .key_columns
                        .iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    target.input_copy(k)
                ),
            };
            match &plan.eager {
                Some(e) if e.fact == k => format!(
                    "{line}; and pre-aggregated per ({}) in {}, so a change of another input \
                     costs the partial groups it meets, not these rows",
                    e.columns
                        .iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    target.partials()
                ),
                _ => line,
            }
        })
        .collect()
}

pub(crate) struct Pending {
    pub(crate) spec: ViewSpec,
    pub(crate) plan: MaintenancePlan,
    pub(crate) version: i32,
    pub(crate) table_name: String,
}

/// The versioned table name: `{name}`, `{version}` / `{n}`, and `{yyyy}`, `{mm}`, `{dd}` of
/// `today` (`"YYYY MM DD"`).
fn table_name(pattern: &str, view: &str, version: i32, today: &str) -> String {
    let mut date = today.split(' ');
    let (yyyy, mm, dd) = (
        date.next().unwrap_or_default(),
        date.next().unwrap_or_default(),
        date.next().unwrap_or_default(),
    );
    pattern
        .replace("{name}", view)
        .replace("{version}", &version.to_string())
        .replace("{n}", &version.to_string())
        .replace("{yyyy}", yyyy)
        .replace("{mm}", mm)
        .replace("{dd}", dd)
}

fn valid_view_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Create one new version of each view, all fed by one new stream, backfilled from one
/// snapshot. On any failure nothing is left behind (tables, catalog rows, slot).
///
/// Every statement runs under `opts.statement_budget` (the planner's probes, registration,
/// the backfill's chunks, ANALYZE); `client`'s own `statement_timeout` is given back at the end.
pub async fn create_views(
    conn: &ConnInfo,
    client: &mut Client,
    specs: &[ViewSpec],
    opts: &CreateOptions,
) -> Result<Vec<CreatedVersion>, CatalogError> {
    let previous = crate::budget::current(&*client).await?;
    crate::budget::set_statement_budget(&*client, opts.statement_budget).await?;
    let result = create_bounded(conn, client, specs, opts).await;
    crate::budget::restore(&*client, &previous).await;
    result
}

async fn create_bounded(
    conn: &ConnInfo,
    client: &mut Client,
    specs: &[ViewSpec],
    opts: &CreateOptions,
) -> Result<Vec<CreatedVersion>, CatalogError> {
    crate::preflight::check_server(client).await?;
    crate::schema::install(client).await?;
    for reaped in crate::reap::reap_abandoned(client).await? {
        tracing::warn!(%reaped, "removed what an interrupted create left");
    }
    let settings = match &opts.settings {
        Some(s) => s.clone(),
        None => PinnedSettings::capture(&*client)
            .await
            .ctx(|| "reading session settings".into())?,
    };
    let mut planned = Vec::new();
    for spec in specs {
        if !valid_view_name(&spec.name) {
            return Err(CatalogError::Invalid {
                view: spec.name.clone(),
                message: "view names use lower-case letters, digits and _, start with a letter, at most 48 characters".into(),
            });
        }
        let (plan, sources) = plan_view(client, &spec.sql, &settings)
            .await
            .map_err(|error| CatalogError::Plan {
                view: spec.name.clone(),
                error,
            })?;
        for (k, source) in sources.iter().enumerate() {
            crate::preflight::check_can_read(client, &spec.name, &source.qualified_name()).await?;
            crate::preflight::check_not_summa_state(client, &spec.name, source).await?;
            if let Some(requested) = &opts.requested {
                crate::preflight::check_requester_can_read(
                    client,
                    &spec.name,
                    &requested.role,
                    &plan.inputs[k],
                )
                .await?;
            }
            if let Some(publication) = &opts.publication {
                crate::preflight::check_published(client, &spec.name, publication, source).await?;
            }
            crate::generated::check_generated_columns(
                client,
                &spec.name,
                &plan.inputs[k],
                source,
                opts.publication.as_deref(),
            )
            .await?;
            if source.partitioned {
                crate::partitions::check_partitioned(
                    client,
                    &spec.name,
                    source,
                    opts.publication.as_deref(),
                )
                .await?;
            }
            ensure_old_values(
                client,
                &spec.name,
                &plan.inputs[k],
                source,
                opts.set_replica_identity_full,
            )
            .await?;
            if source.partitioned {
                let beyond_key = old_values_needed(&plan.inputs[k])
                    .iter()
                    .any(|c| !source.primary_key.contains(c));
                crate::partitions::watch(client, &spec.name, source, beyond_key).await?;
            }
        }
        planned.push((spec.clone(), plan));
    }
    crate::preflight::check_free_slot(client).await?;

    let pending = register(client, planned, opts).await?;
    let slot = match allocate_slot_name(client).await {
        Ok(slot) => slot,
        Err(err) => {
            cleanup(client, &pending, None).await;
            return Err(err);
        }
    };
    let feed = match shared_stream(client).await {
        Ok(None) => Ok(Feed::NewStream),
        Ok(Some(shared)) => join_shared(client, &pending, opts, shared).await,
        Err(err) => Err(err),
    };
    let feed = match feed {
        Ok(feed) => feed,
        Err(err) => {
            cleanup(client, &pending, None).await;
            return Err(err);
        }
    };
    let result = backfill_all(conn, client, &pending, opts, &slot, &feed).await;
    if result.is_err() {
        cleanup(client, &pending, Some(&slot)).await;
    }
    for p in &pending {
        crate::reap::unlock_build(&*client, &p.spec.name, p.version).await;
    }
    result
}

/// A new stream's slot (and publication) name. Slots are cluster-wide: the database's OID
/// keeps names unique across databases.
async fn allocate_slot_name(client: &Client) -> Result<String, CatalogError> {
    let row = client
        .query_one(
            "SELECT nextval('summa.stream_ids'), oid::int8 FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .ctx(|| "allocating a stream id".into())?;
    let (id, db_oid): (i64, i64) = (row.get(0), row.get(1));
    Ok(format!("summa_{db_oid}_{id}"))
}

/// The columns whose old values UPDATE and DELETE of `input` must log (see
/// [`ensure_old_values`]).
fn old_values_needed(input: &Input) -> Vec<String> {
    match input.role {
        InputRole::Scan => input.shipped.iter().map(|c| c.name.clone()).collect(),
        InputRole::Inner | InputRole::Left => input.key_columns.clone(),
    }
}

/// UPDATE and DELETE of `input` must log the old values summa needs: of every column the
/// view reads for a one-table view, of the primary key for a joined input (summa subtracts
/// the rest from its copy of the table).
async fn ensure_old_values(
    client: &Client,
    view: &str,
    input: &Input,
    source: &SourceTable,
    set_full: bool,
) -> Result<(), CatalogError> {
    let needed = old_values_needed(input);
    let missing = source.columns_without_old_values(&needed);
    if missing.is_empty() {
        return Ok(());
    }
    let fix_sql = source.replica_identity_full_sql();
    if set_full {
        tracing::info!(view, table = %source.qualified_name(), "setting REPLICA IDENTITY FULL");
        client
            .batch_execute(&fix_sql)
            .await
            .ctx(|| format!("view {view}: {fix_sql}"))?;
        return Ok(());
    }
    Err(CatalogError::ReplicaIdentity {
        view: view.to_string(),
        table: source.qualified_name(),
        columns: missing.join(", "),
        fix_sql,
    })
}

/// Allocate version numbers and create the (empty) summary tables, state `backfilling`.
async fn register(
    client: &mut Client,
    planned: Vec<(ViewSpec, MaintenancePlan)>,
    opts: &CreateOptions,
) -> Result<Vec<Pending>, CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| "registering versions".into())?;
    tx.batch_execute("SELECT pg_advisory_xact_lock(hashtext('summa.create'))")
        .await
        .ctx(|| "locking the catalog".into())?;
    let mut out = Vec::new();
    for (spec, plan) in planned {
        let view = spec.name.clone();
        tx.execute(
            "INSERT INTO summa.views (name, schema_name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&view, &opts.schema],
        )
        .await
        .ctx(|| format!("registering view {view}"))?;
        // The number `summa.define` gave out, or the next one (under the view's lock, which
        // `define` takes too).
        let version: i32 = match &opts.requested {
            Some(requested) => {
                tx.execute("SELECT summa.lock_view($1)", &[&view])
                    .await
                    .ctx(|| format!("locking {view}"))?;
                requested.version
            }
            None => tx
                .query_one(
                    "SELECT summa.lock_view($1), summa.next_version($1)",
                    &[&view],
                )
                .await
                .ctx(|| format!("allocating a version of {view}"))?
                .get(1),
        };
        let today: String = tx
            .query_one(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY MM DD')",
                &[],
            )
            .await
            .ctx(|| "reading the date".into())?
            .get(0);
        let table_name = table_name(&opts.table_pattern, &view, version, &today);
        let target = Target::new(&opts.schema, &table_name);
        let table = target.table();
        if let Some(long) = target.names(&plan).into_iter().find(|n| n.len() > 63) {
            return Err(CatalogError::Invalid {
                view: view.clone(),
                message: format!(
                    "the name {long} is longer than Postgres' 63-byte limit; use a shorter view name or table pattern"
                ),
            });
        }
        // Empty and unindexed: the backfill loads them, then builds the indexes.
        for stmt in sqlgen::create_tables(&plan, &target) {
            tx.batch_execute(&stmt)
                .await
                .map_err(|source| CatalogError::Invalid {
                    view: view.clone(),
                    message: format!("creating summary table {table}: {}", db_message(&source)),
                })?;
        }
        tx.execute(
            "INSERT INTO summa.versions (view_name, version, state, table_schema, table_name, sql, plan, plan_format) \
             VALUES ($1, $2, 'backfilling', $3, $4, $5, $6, $7)",
            &[&view, &version, &opts.schema, &table_name, &plan.sql, &plan.to_json(), &(plan.format as i32)],
        )
        .await
        .ctx(|| format!("registering {view} v{version}"))?;
        crate::schema::record_version_sql(&tx, &view, version, &plan, &target).await?;
        grant_readers(&tx, &view, &table, opts).await?;
        crate::reap::lock_build(&tx, &view, version).await?;
        out.push(Pending {
            spec,
            plan,
            version,
            table_name,
        });
    }
    tx.commit().await.ctx(|| "registering versions".into())?;
    Ok(out)
}

/// Who may read a new version's table: the roles that may read the view's alias (they read
/// the same data under the versioned name), and for a `summa.define` request its requester
/// and its `readers`.
async fn grant_readers(
    tx: &tokio_postgres::Transaction<'_>,
    view: &str,
    table: &str,
    opts: &CreateOptions,
) -> Result<(), CatalogError> {
    let mut roles: Vec<String> = tx
        .query(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END \
             FROM pg_class c, aclexplode(c.relacl) a \
             WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner AND a.privilege_type = 'SELECT'",
            &[&qualified(&opts.schema, view)],
        )
        .await
        .ctx(|| format!("reading the grants on the alias of {view}"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    roles.extend(reader_roles(opts));
    roles.sort();
    roles.dedup();
    for role in roles {
        tx.batch_execute(&format!("GRANT SELECT ON {table} TO {role}"))
            .await
            .ctx(|| format!("granting SELECT on {table} to {role}"))?;
    }
    Ok(())
}

/// The requester of a `summa.define` and its `readers`, quoted.
fn reader_roles(opts: &CreateOptions) -> Vec<String> {
    opts.requested
        .iter()
        .flat_map(|r| std::iter::once(&r.role).chain(&r.readers))
        .map(|role| quote_ident(role))
        .collect()
}

/// Where the new versions' changes come from after their snapshot.
enum Feed {
    /// No shared stream yet: the new slot (and its publication) becomes it.
    NewStream,
    /// The shared stream records the sources' changes in the versions' pending tables; the
    /// new slot is temporary and only exports the snapshot.
    Join {
        slot: String,
        publication: String,
        /// This connection holds the sidecars' lease until the snapshot exists.
        leased: bool,
    },
}

/// The stream new versions join, if there is one.
async fn shared_stream(client: &Client) -> Result<Option<(String, String)>, CatalogError> {
    Ok(client
        .query_opt(
            "SELECT slot_name, publication FROM summa.streams WHERE shared",
            &[],
        )
        .await
        .ctx(|| "finding the shared stream".into())?
        .map(|r| (r.get(0), r.get(1))))
}

/// Attach the new versions to the shared stream before their snapshot is taken: pending
/// tables, sources added to its publication, and (when a sidecar streams it) wait until its
/// session has loaded them, so every change after that point reaches a pending table and
/// everything before it is in the snapshot.
async fn join_shared(
    client: &mut Client,
    pending: &[Pending],
    opts: &CreateOptions,
    (slot, publication): (String, String),
) -> Result<Feed, CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("joining stream {slot}"))?;
    for p in pending {
        let target = Target::new(&opts.schema, &p.table_name);
        tx.batch_execute(&sqlgen::create_pending(&p.plan, &target))
            .await
            .ctx(|| {
                format!(
                    "creating the pending table of {} v{}",
                    p.spec.name, p.version
                )
            })?;
        tx.execute(
            "UPDATE summa.versions SET slot_name = $3, pending = true WHERE view_name = $1 AND version = $2",
            &[&p.spec.name, &p.version, &slot],
        )
        .await
        .ctx(|| format!("attaching {} v{} to {slot}", p.spec.name, p.version))?;
        for input in &p.plan.inputs {
            let table = input.qualified();
            let member: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 \
                     AND schemaname = $2 AND tablename = $3)",
                    &[&publication, &input.schema, &input.table],
                )
                .await
                .ctx(|| format!("reading publication {publication}"))?
                .get(0);
            if !member && publication != slot {
                // Not summa's own publication: a DBA adds the table.
                return Err(CatalogError::Setup {
                    message: format!(
                        "{table} is not in publication {publication}, which summa does not own; have it added:\n  ALTER PUBLICATION {} ADD TABLE {table};",
                        quote_ident(&publication),
                    ),
                });
            }
            if !member {
                crate::generated::publish_generated_columns(&tx, &publication).await?;
                if input.partitioned {
                    // A publication of an earlier summa published partitions by their names.
                    tx.batch_execute(&format!(
                        "ALTER PUBLICATION {} SET (publish_via_partition_root = true)",
                        quote_ident(&publication),
                    ))
                    .await
                    .ctx(|| format!("publishing {table} via its root"))?;
                }
                tx.batch_execute(&format!(
                    "ALTER PUBLICATION {} ADD TABLE {table}",
                    quote_ident(&publication),
                ))
                .await
                .ctx(|| format!("adding {table} to publication {publication}"))?;
            }
        }
    }
    let generation =
        bump_generation(&tx, Some(&slot))
            .await?
            .ok_or_else(|| CatalogError::Setup {
                message: format!("stream {slot} disappeared while joining it"),
            })?;
    tx.commit().await.ctx(|| format!("joining stream {slot}"))?;
    let leased = wait_until_loaded(client, &slot, generation).await?;
    Ok(Feed::Join {
        slot,
        publication,
        leased,
    })
}

/// The snapshot of a joining version may be taken once no session can still apply the
/// shared stream with the version set from before it joined: either the running sidecar's
/// session has loaded `generation`, or no sidecar runs, and then this connection takes the
/// sidecars' lease until the snapshot exists (returns true; see [`release_lease`]), so none
/// starts with the old set in between.
async fn wait_until_loaded(
    client: &Client,
    slot: &str,
    generation: i64,
) -> Result<bool, CatalogError> {
    let started = Instant::now();
    loop {
        let row = client
            .query_one(
                "SELECT loaded_generation >= $2, pg_try_advisory_lock($3) FROM summa.streams WHERE slot_name = $1",
                &[&slot, &generation, &SIDECAR_LEASE],
            )
            .await
            .ctx(|| format!("waiting for the sidecar on {slot}"))?;
        let (loaded, leased): (bool, bool) = (row.get(0), row.get(1));
        if loaded {
            if leased {
                release_lease(client).await;
            }
            return Ok(false);
        }
        if leased {
            return Ok(true);
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(CatalogError::Setup {
                message: format!(
                    "the sidecar streaming {slot} did not pick up the new version within 60 s; is it stuck (see its log)?"
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn release_lease(client: &Client) {
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&SIDECAR_LEASE])
        .await;
}

async fn backfill_all(
    conn: &ConnInfo,
    client: &mut Client,
    pending: &[Pending],
    opts: &CreateOptions,
    slot: &str,
    feed: &Feed,
) -> Result<Vec<CreatedVersion>, CatalogError> {
    let (stream_slot, publication, temporary) = match feed {
        Feed::NewStream if opts.publication.is_some() => {
            let publication = opts.publication.clone().expect("checked");
            (slot.to_string(), publication, false)
        }
        Feed::NewStream => {
            let mut tables: Vec<String> = pending
                .iter()
                .flat_map(|p| p.plan.inputs.iter().map(|i| i.qualified()))
                .collect();
            tables.sort();
            tables.dedup();
            let options = crate::generated::publication_options(client).await?;
            client
                .batch_execute(&format!(
                    "CREATE PUBLICATION {} FOR TABLE {}{options}",
                    quote_ident(slot),
                    tables.join(", ")
                ))
                .await
                .ctx(|| format!("creating publication {slot}"))?;
            (slot.to_string(), slot.to_string(), false)
        }
        Feed::Join {
            slot, publication, ..
        } => (slot.clone(), publication.clone(), true),
    };
    let snapshot_slot = slot.to_string();
    let slot = stream_slot;
    let exported = create_slot_with_snapshot(conn, &snapshot_slot, &publication, temporary).await;
    if let Feed::Join { leased: true, .. } = feed {
        release_lease(client).await;
    }
    let exported = exported.map_err(|error| CatalogError::Replication {
        context: format!("creating replication slot {slot}"),
        error,
    })?;
    let start = exported.consistent_point.to_string();
    tracing::info!(slot, consistent_point = %start, "slot created; backfilling from its snapshot");

    let tx = client
        .transaction()
        .await
        .ctx(|| "starting the backfill".into())?;
    tx.batch_execute(&format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT {}; SET LOCAL statement_timeout = {}",
        quote_literal(&exported.snapshot_name),
        opts.statement_budget.as_millis()
    ))
    .await
    .ctx(|| "importing the slot's snapshot".into())?;
    if let Feed::NewStream = feed {
        tx.execute(
            "INSERT INTO summa.streams (slot_name, publication, applied_lsn, shared) \
             VALUES ($1, $3, $2::text::pg_lsn, true)",
            &[&slot, &start, &publication],
        )
        .await
        .ctx(|| format!("recording stream {slot}"))?;
    }
    // A second connection reports progress while the backfill's transaction is open.
    let progress = crate::budget::connect(conn, "summa-progress", opts.statement_budget)
        .await
        .ok();
    let mut created = Vec::new();
    for (n, p) in pending.iter().enumerate() {
        let target = Target::new(&opts.schema, &p.table_name);
        let table = target.table();
        let inputs = input_needs(&p.plan, &target);
        let started = Instant::now();
        let statements =
            crate::backfill::backfill_one(&tx, p, &target, opts, progress.as_ref(), n).await?;
        let alias = qualified(&opts.schema, &p.spec.name);
        tx.execute(
            "UPDATE summa.versions SET state = 'catching_up', slot_name = $3, start_lsn = $4::text::pg_lsn, updated_at = now() \
             WHERE view_name = $1 AND version = $2",
            &[&p.spec.name, &p.version, &slot, &start],
        )
        .await
        .ctx(|| format!("recording {} v{}", p.spec.name, p.version))?;
        let serving: Option<i32> = tx
            .query_one(
                "SELECT serving_version FROM summa.views WHERE name = $1",
                &[&p.spec.name],
            )
            .await
            .ctx(|| "reading the serving version".into())?
            .get(0);
        if serving.is_none() {
            tx.batch_execute(&sqlgen::alias_view(&p.plan, &alias, &target))
                .await
                .map_err(|source| CatalogError::Invalid {
                    view: p.spec.name.clone(),
                    message: format!("creating alias view {alias}: {}", db_message(&source)),
                })?;
            for role in reader_roles(opts) {
                tx.batch_execute(&format!("GRANT SELECT ON {alias} TO {role}"))
                    .await
                    .ctx(|| format!("granting SELECT on {alias} to {role}"))?;
            }
            tx.execute(
                "UPDATE summa.views SET serving_version = $2 WHERE name = $1",
                &[&p.spec.name, &p.version],
            )
            .await
            .ctx(|| "recording the serving version".into())?;
        }
        created.push(CreatedVersion {
            view: p.spec.name.clone(),
            version: p.version,
            table,
            alias,
            slot: slot.clone(),
            consistent_point: start.clone(),
            backfill_statements: statements,
            backfill_elapsed: started.elapsed(),
            notices: p.plan.notices.clone(),
            inputs,
        });
    }
    tx.commit().await.ctx(|| "committing the backfill".into())?;
    drop(exported);
    if let Feed::Join { slot, .. } = feed {
        // The shared stream's session learns the consistent point and starts draining.
        bump_generation(&*client, Some(slot)).await?;
    }
    analyze_new_tables(client, pending, opts).await;
    Ok(created)
}

/// Statistics for the freshly filled summary, value tables, a join's copies of its inputs
/// and an eager join's partial groups. Without them the planner takes them for empty, and
/// the first batches' merge and recompute plans can be orders of magnitude slower (seen in
/// the 10M-row benchmark: 103 s for V2's first batch; in TPC-H, a nation rename's merge
/// scanned the orders copy once per customer of the nation, 27M filtered rows). Best effort:
/// autovacuum would get there too, later.
async fn analyze_new_tables(client: &Client, pending: &[Pending], opts: &CreateOptions) {
    for p in pending {
        let target = Target::new(&opts.schema, &p.table_name);
        // The pending table is emptied by the drain: nothing to estimate there.
        let drained = target.pending();
        let tables = target
            .state_tables(&p.plan)
            .into_iter()
            .filter(|t| *t != drained);
        for table in tables {
            if let Err(err) = client.batch_execute(&format!("ANALYZE {table}")).await {
                tracing::warn!(table, error = %db_message(&err), "ANALYZE after the backfill failed");
            }
        }
    }
}

/// Best-effort removal of what a failed create left: tables, catalog rows, its slot and
/// publication (named `slot`).
async fn cleanup(client: &mut Client, pending: &[Pending], slot: Option<&str>) {
    // Removed as `gc` removes an abandoned build; a sidecar that loaded them lets go.
    for p in pending {
        if let Err(err) = crate::reap::remove_build(client, &p.spec.name, p.version).await {
            tracing::warn!(view = %p.spec.name, version = p.version, error = %err, "cleaning up the failed create; `summa gc` retries");
        }
    }
    let Some(slot) = slot else { return };
    // The snapshot-exporting session may still be closing: wait for the slot to go inactive.
    for _ in 0..50 {
        let active: Option<bool> = client
            .query_opt(
                "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .ok()
            .flatten()
            .map(|r| r.get(0));
        match active {
            Some(true) => tokio::time::sleep(Duration::from_millis(100)).await,
            Some(false) => {
                let _ = client
                    .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await;
                break;
            }
            None => break,
        }
    }
    let _ = client
        .batch_execute(&format!("DROP PUBLICATION IF EXISTS {}", quote_ident(slot)))
        .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_names_from_the_pattern() {
        assert_eq!(
            super::table_name(
                "{name}_{yyyy}_{mm}_{dd}_{n}",
                "daily_sales",
                3,
                "2026 11 24"
            ),
            "daily_sales_2026_11_24_3"
        );
        assert_eq!(
            super::table_name("{name}__v{version}", "daily_sales", 2, "2026 11 24"),
            "daily_sales__v2"
        );
    }
}

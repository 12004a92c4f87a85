//! Resolution against the live catalog: Postgres tells us every type and every function.
//!
//! The probes run inside a transaction that is always rolled back: temp views of (1) the
//! user's SELECT (exact output names and types, and Postgres' own validation), (2) the key
//! expressions and aggregate arguments per row, (3) the aggregate states over (2).

use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, GenericClient};

use crate::aggregates::is_maintained;
use crate::algebra::{sum_type_is_exact, ArgType, Finalize, StateSet};
use crate::analyze::{analyze_inputs, Analysis, OutputSource};
use crate::error::{PlanError, SqlPos};
use crate::ident::quote_ident;
use crate::parse::{parse_view, ParsedView};
use crate::plan::{
    Input, InputRole, KeyColumn, MaintenancePlan, OutputColumn, ShippedColumn, EAGER_PLAN_FORMAT,
    JOIN_PLAN_FORMAT, LEFT_JOIN_PLAN_FORMAT, MULTISET_PLAN_FORMAT, PLAN_FORMAT,
};
use crate::settings::PinnedSettings;
use crate::source::SourceTable;
use crate::sqlgen::{create_objects, Target};
use crate::template::fill;

/// Parse, analyze and resolve `sql` into a plan, evaluated under `settings`.
pub async fn plan_view(
    client: &mut Client,
    sql: &str,
    settings: &PinnedSettings,
) -> Result<(MaintenancePlan, Vec<SourceTable>), PlanError> {
    let parsed = parse_view(sql)?;
    let tx = client.transaction().await?;
    tx.batch_execute(&settings.set_local_sql()).await?;
    let mut sources = Vec::new();
    for table in &parsed.from {
        let source = SourceTable::load(&tx, table.schema.as_deref(), &table.table)
            .await?
            .ok_or_else(|| {
                PlanError::invalid(
                    format!(
                        "relation \"{}\" does not exist",
                        match &table.schema {
                            Some(s) => format!("{s}.{}", table.table),
                            None => table.table.clone(),
                        }
                    ),
                    table.span,
                )
            })?;
        sources.push(source);
    }
    let analysis = analyze_inputs(&parsed, &sources)?;
    let plan = resolve(&tx, &parsed, &analysis, &sources, settings).await;
    tx.rollback().await?;
    Ok((plan?, sources))
}

#[derive(Debug, Clone, Default)]
struct Probed {
    name: String,
    type_sql: String,
    /// `COLLATE "schema"."name"` when the column's collation is not its type's default.
    collate: Option<String>,
}

impl Probed {
    fn type_with_collation(&self) -> String {
        match &self.collate {
            Some(c) => format!("{} {c}", self.type_sql),
            None => self.type_sql.clone(),
        }
    }

    fn arg_type(&self) -> ArgType {
        ArgType {
            type_sql: self.type_sql.clone(),
            with_collation: self.type_with_collation(),
        }
    }
}

async fn probe_view(
    client: &impl GenericClient,
    view: &str,
    body: &str,
    user_sql: Option<&str>,
) -> Result<Vec<Probed>, PlanError> {
    let prefix = format!("CREATE TEMP VIEW {} AS ", quote_ident(view));
    if let Err(err) = client.batch_execute(&format!("{prefix}{body}")).await {
        let Some(db) = err.as_db_error() else {
            return Err(PlanError::Db(err));
        };
        let pos = match (db.position(), user_sql) {
            (Some(ErrorPosition::Original(p)), Some(sql)) => Some(SqlPos::from_char_offset(
                sql,
                (*p as usize).saturating_sub(prefix.chars().count()),
            )),
            _ => None,
        };
        let mut message = db.message().to_string();
        if let Some(hint) = db.hint() {
            message.push_str(&format!(" (hint: {hint})"));
        }
        return Err(PlanError::Postgres { message, pos });
    }
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             (SELECT format('COLLATE %I.%I', n.nspname, c.collname) FROM pg_collation c \
              JOIN pg_namespace n ON n.oid = c.collnamespace \
              WHERE c.oid = a.attcollation AND a.attcollation <> t.typcollation) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = ('pg_temp.' || quote_ident($1))::regclass AND a.attnum > 0 ORDER BY a.attnum",
            &[&view],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Probed {
            name: r.get(0),
            type_sql: r.get(1),
            collate: r.get(2),
        })
        .collect())
}

/// Refuse functions Postgres marks VOLATILE, and aggregates summa does not maintain.
async fn check_functions(
    client: &impl GenericClient,
    analysis: &Analysis,
) -> Result<(), PlanError> {
    for (name, span) in &analysis.functions {
        let row = client
            .query_one(
                "SELECT bool_or(provolatile = 'v'), bool_or(prokind = 'a') FROM pg_proc WHERE proname = $1",
                &[name],
            )
            .await?;
        let volatile: Option<bool> = row.get(0);
        let aggregate: Option<bool> = row.get(1);
        if volatile == Some(true) {
            return Err(PlanError::unsupported(
                format!("{name}()"),
                *span,
                "Postgres marks it VOLATILE: its result can change between calls, so the summary would not equal its SELECT",
            ));
        }
        if aggregate == Some(true) && !is_maintained(name) {
            return Err(PlanError::unsupported(
                format!("aggregate {name}()"),
                *span,
                "summa does not know how to maintain this aggregate (see docs/sql.md for the supported ones)",
            ));
        }
    }
    Ok(())
}

/// Build the plan from the analysis, with types from Postgres. `client` must be inside a
/// transaction with the pinned settings applied; the caller rolls it back.
pub async fn resolve(
    client: &impl GenericClient,
    parsed: &ParsedView,
    analysis: &Analysis,
    sources: &[SourceTable],
    settings: &PinnedSettings,
) -> Result<MaintenancePlan, PlanError> {
    let outputs = probe_view(client, "summa_probe_out", &parsed.sql, Some(&parsed.sql)).await?;
    check_functions(client, analysis).await?;
    if let Some(bad) = outputs.iter().find(|o| o.name.starts_with("__")) {
        return Err(PlanError::Invalid {
            message: format!(
                "output column name \"{}\" is reserved: names starting with __ hold summa's state",
                bad.name
            ),
            pos: None,
        });
    }
    // The inputs under the names the canonical expressions qualify their columns with.
    let from = parsed
        .from
        .iter()
        .zip(sources)
        .map(|(f, source)| {
            format!(
                "{} AS {}",
                source.qualified_name(),
                quote_ident(&f.input_name())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");

    // Row-level probe: key expressions and aggregate arguments (with their collations).
    let mut row_items: Vec<String> = analysis
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("({k}) AS k{i}"))
        .collect();
    row_items.extend(
        analysis
            .aggs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.arg.as_ref().map(|arg| format!("({arg}) AS a{i}"))),
    );
    row_items.push("1 AS one".into());
    let row_types = probe_view(
        client,
        "summa_probe_rows",
        &format!("SELECT {} FROM {from}", row_items.join(", ")),
        None,
    )
    .await?;
    // Each aggregate's result type, as Postgres computes it.
    let agg_items: Vec<String> = analysis
        .aggs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{} AS r{i}", a.call))
        .collect();
    let agg_types = if agg_items.is_empty() {
        Vec::new()
    } else {
        probe_view(
            client,
            "summa_probe_aggs",
            &format!("SELECT {} FROM {from}", agg_items.join(", ")),
            None,
        )
        .await?
    };
    let probed = |list: &[Probed], name: &str| -> Probed {
        list.iter()
            .find(|p| p.name == name)
            .cloned()
            .unwrap_or_default()
    };

    let keys: Vec<KeyColumn> = analysis
        .keys
        .iter()
        .enumerate()
        .map(|(i, expr)| KeyColumn {
            column: format!("__key_{i}"),
            expr: expr.clone(),
            type_sql: probed(&row_types, &format!("k{i}")).type_with_collation(),
        })
        .collect();
    let mut states = StateSet::default();
    states.rows();
    let finalizers: Vec<Finalize> = analysis
        .aggs
        .iter()
        .enumerate()
        .map(|(i, agg)| states.add(agg, &probed(&row_types, &format!("a{i}")).arg_type()))
        .collect();
    resolve_sum_types(client, &mut states, &from).await?;
    let StateSet {
        states,
        value_tables,
        ..
    } = states;

    // Keys: the first output naming a key stores it under the output's name.
    let mut keys = keys;
    let mut key_named = vec![false; keys.len()];
    let mut stored_by_output: Vec<Option<usize>> = vec![None; outputs.len()];
    for (o, source_of) in analysis.outputs.iter().enumerate() {
        if let OutputSource::Key(k) = *source_of {
            if !key_named[k] {
                key_named[k] = true;
                keys[k].column = outputs[o].name.clone();
                stored_by_output[o] = Some(k);
            }
        }
    }
    let key_sql: Vec<String> = keys.iter().map(|k| quote_ident(&k.column)).collect();
    // A group's row is updated once more on its way out (at 0 rows): an expression such as
    // sum(x) / count(*) must not fail then. A global aggregate keeps that row and shows it.
    let guarded = |sql: String| {
        if analysis.keys.is_empty() {
            sql
        } else {
            format!("CASE WHEN \"__rows\" > 0 THEN {sql} END")
        }
    };
    let agg_sql: Vec<String> = finalizers
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "({})::{}",
                f.sql(&states),
                probed(&agg_types, &format!("r{i}")).type_sql
            )
        })
        .collect();
    let output_columns = analysis
        .outputs
        .iter()
        .zip(&outputs)
        .enumerate()
        .map(|(o, (source_of, out))| {
            let generated = match source_of {
                OutputSource::Key(_) if stored_by_output[o].is_some() => None,
                OutputSource::Key(k) => Some(key_sql[*k].clone()),
                OutputSource::Agg(a) => Some(agg_sql[*a].clone()),
                OutputSource::Expr(t) => Some(guarded(fill(t, &agg_sql, &key_sql))),
            };
            OutputColumn {
                name: out.name.clone(),
                type_sql: out.type_with_collation(),
                generated: generated.map(|g| format!("({g})::{}", out.type_with_collation())),
            }
        })
        .collect();
    let having = analysis.having.as_ref().map(|t| {
        format!(
            "coalesce(({})::boolean, false)",
            guarded(fill(t, &agg_sql, &key_sql))
        )
    });

    let joined = sources.len() > 1;
    let mut inputs = Vec::new();
    for (k, ((f, source), read)) in parsed
        .from
        .iter()
        .zip(sources)
        .zip(&analysis.columns_read)
        .enumerate()
    {
        let left_join = analysis.left_joins[k].clone();
        if joined && source.primary_key.is_empty() {
            return Err(PlanError::unsupported(
                format!("join input {}", source.qualified_name()),
                f.span,
                "a joined table needs a primary key: summa keeps a copy of each joined table's rows at the stream's position, keyed by it",
            )
            .with_hint("add a PRIMARY KEY to the table"));
        }
        // A joined input also ships its key: its copy is kept by it.
        let shipped = source
            .columns
            .iter()
            .filter(|c| read.contains(&c.name) || (joined && source.primary_key.contains(&c.name)))
            .map(|c| ShippedColumn {
                name: c.name.clone(),
                type_sql: c.type_sql.clone(),
                type_oid: c.type_oid,
            })
            .collect();
        inputs.push(Input {
            name: f.input_name(),
            oid: source.oid,
            schema: source.schema.clone(),
            table: source.name.clone(),
            role: match (&left_join, joined) {
                (Some(_), _) => InputRole::Left,
                (None, true) => InputRole::Inner,
                (None, false) => InputRole::Scan,
            },
            shipped,
            key_columns: source.primary_key.clone(),
            left_join,
            partitioned: source.partitioned,
        });
    }
    let mut plan = MaintenancePlan {
        format: if analysis.multiset {
            MULTISET_PLAN_FORMAT
        } else if inputs.iter().any(|i| i.role == InputRole::Left) {
            LEFT_JOIN_PLAN_FORMAT
        } else if joined {
            JOIN_PLAN_FORMAT
        } else {
            PLAN_FORMAT
        },
        sql: parsed.sql.clone(),
        inputs,
        filter: analysis.filter.clone(),
        keys,
        states,
        outputs: output_columns,
        settings: settings.clone(),
        value_tables,
        having,
        notices: parsed.notices.clone(),
        multiset: analysis.multiset,
        eager: None,
    };
    if let Some(eager) = crate::eager::eager_for(&plan) {
        plan.format = EAGER_PLAN_FORMAT;
        plan.eager = Some(eager);
    }
    check_objects(client, &plan).await?;
    Ok(plan)
}

/// Create the version's objects in `pg_temp` (rolled back with the probe transaction), so
/// Postgres checks every generated expression now: a user learns at `summa create` that an
/// expression over aggregates is not immutable, not halfway through.
async fn check_objects(
    client: &impl GenericClient,
    plan: &MaintenancePlan,
) -> Result<(), PlanError> {
    let target = Target::new("pg_temp", "summa_probe_summary");
    for stmt in create_objects(plan, &target) {
        if let Err(err) = client.batch_execute(&stmt).await {
            let Some(db) = err.as_db_error() else {
                return Err(PlanError::Db(err));
            };
            if db.code() == &tokio_postgres::error::SqlState::INVALID_OBJECT_DEFINITION {
                return Err(PlanError::Unsupported {
                    construct: "an expression over aggregates or keys".into(),
                    pos: None,
                    reason: format!(
                        "summa stores it as a generated column, and Postgres refuses it: {}",
                        db.message()
                    ),
                    hint: Some(
                        "functions of the stored values must be IMMUTABLE (to_char, a timestamptz cast and now() are not); compute it when you read"
                            .into(),
                    ),
                });
            }
            return Err(PlanError::Postgres {
                message: format!("the summary table cannot be created: {}", db.message()),
                pos: None,
            });
        }
    }
    Ok(())
}

/// Sum states take the type of Postgres' own sum() over their input.
async fn resolve_sum_types(
    client: &impl GenericClient,
    states: &mut StateSet,
    from: &str,
) -> Result<(), PlanError> {
    if states.sum_probes.is_empty() {
        return Ok(());
    }
    let items: Vec<String> = states
        .sum_probes
        .iter()
        .map(|(s, probe)| format!("sum({probe}) AS s{s}"))
        .collect();
    let types = probe_view(
        client,
        "summa_probe_states",
        &format!("SELECT {} FROM {from}", items.join(", ")),
        None,
    )
    .await?;
    for (s, probe) in &states.sum_probes {
        let t = types
            .iter()
            .find(|p| p.name == format!("s{s}"))
            .map(|p| p.type_sql.clone())
            .unwrap_or_default();
        if !sum_type_is_exact(&t) {
            return Err(PlanError::Unsupported {
                construct: format!("sum/avg over {probe}"),
                pos: None,
                reason: format!("its sum has type {t}, which summa cannot subtract from exactly"),
                hint: None,
            });
        }
        states.states[*s].type_sql = t;
    }
    Ok(())
}

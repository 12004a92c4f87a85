//! Resolution against the live catalog: Postgres tells us every type and every function.
//!
//! The probes run inside a transaction that is always rolled back: temp views of (1) the
//! user's SELECT (exact output names and types, and Postgres' own validation), (2) the key
//! expressions and aggregate arguments per row, (3) the aggregate states over (2).

use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, GenericClient};

use crate::analyze::{analyze, AggKind, Analysis, OutputSource};
use crate::error::{PlanError, SqlPos};
use crate::ident::quote_ident;
use crate::parse::{parse_view, ParsedView};
use crate::plan::{
    KeyColumn, MaintenancePlan, OutputColumn, ShippedColumn, StateColumn, StateKind, PLAN_FORMAT,
};
use crate::settings::PinnedSettings;
use crate::source::SourceTable;

/// Parse, analyze and resolve `sql` into a plan, evaluated under `settings`.
pub async fn plan_view(
    client: &mut Client,
    sql: &str,
    settings: &PinnedSettings,
) -> Result<(MaintenancePlan, SourceTable), PlanError> {
    let parsed = parse_view(sql)?;
    let tx = client.transaction().await?;
    tx.batch_execute(&settings.set_local_sql()).await?;
    let source = SourceTable::load(&tx, parsed.schema.as_deref(), &parsed.table)
        .await?
        .ok_or_else(|| {
            PlanError::invalid(
                format!(
                    "relation \"{}\" does not exist",
                    match &parsed.schema {
                        Some(s) => format!("{s}.{}", parsed.table),
                        None => parsed.table.clone(),
                    }
                ),
                parsed.table_span,
            )
        })?;
    let analysis = analyze(&parsed, &source)?;
    let plan = resolve(&tx, &parsed, &analysis, &source, settings).await;
    tx.rollback().await?;
    Ok((plan?, source))
}

struct Probed {
    name: String,
    type_sql: String,
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
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = ('pg_temp.' || quote_ident($1))::regclass AND attnum > 0 ORDER BY attnum",
            &[&view],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Probed {
            name: r.get(0),
            type_sql: r.get(1),
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
        if aggregate == Some(true) && !matches!(name.as_str(), "count" | "sum" | "avg") {
            return Err(PlanError::unsupported(
                format!("aggregate {name}()"),
                *span,
                "only count, sum and avg are maintained in this version",
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
    source: &SourceTable,
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

    // Row-level probe: key expressions and aggregate arguments.
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
        &format!(
            "SELECT {} FROM {}",
            row_items.join(", "),
            source.qualified_name()
        ),
        None,
    )
    .await?;
    let type_of = |name: &str| -> String {
        row_types
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.type_sql.clone())
            .unwrap_or_default()
    };

    // Keys: the first output naming a key stores it under the output's name.
    let mut keys: Vec<KeyColumn> = analysis
        .keys
        .iter()
        .enumerate()
        .map(|(i, expr)| KeyColumn {
            column: format!("__key_{i}"),
            expr: expr.clone(),
            type_sql: type_of(&format!("k{i}")),
        })
        .collect();
    let mut key_named = vec![false; keys.len()];

    // States: __rows, then one count per distinct argument and one sum per distinct sum input.
    let mut states = vec![StateColumn {
        column: "__rows".into(),
        kind: StateKind::Rows,
        arg: None,
        type_sql: "bigint".into(),
    }];
    let state_of = |kind: StateKind, arg: &str, states: &mut Vec<StateColumn>| -> usize {
        if let Some(i) = states
            .iter()
            .position(|s| s.kind == kind && s.arg.as_deref() == Some(arg))
        {
            return i;
        }
        let prefix = if kind == StateKind::Count {
            "cnt"
        } else {
            "sum"
        };
        states.push(StateColumn {
            column: format!("__{prefix}_{}", states.len()),
            kind,
            arg: Some(arg.to_string()),
            type_sql: "bigint".into(),
        });
        states.len() - 1
    };
    let mut sum_probes: Vec<(usize, String)> = Vec::new();
    // Per output: how its value comes from state, finished once the state types are known.
    let mut pending: Vec<(String, String, Finalize)> = Vec::new();
    for (source_of, probed) in analysis.outputs.iter().zip(&outputs) {
        let finalize = match *source_of {
            OutputSource::Key(k) if !key_named[k] => {
                key_named[k] = true;
                keys[k].column = probed.name.clone();
                Finalize::StoredKey
            }
            OutputSource::Key(k) => Finalize::Copy(keys[k].column.clone()),
            OutputSource::Agg(a) => {
                let agg = &analysis.aggs[a];
                let arg = agg.arg.clone().unwrap_or_default();
                match agg.kind {
                    AggKind::CountStar => Finalize::Copy("__rows".into()),
                    AggKind::Count => {
                        let cnt = state_of(StateKind::Count, &arg, &mut states);
                        Finalize::Copy(states[cnt].column.clone())
                    }
                    AggKind::Sum | AggKind::Avg => {
                        let cnt = state_of(StateKind::Count, &arg, &mut states);
                        // avg(real) accumulates in double precision, as Postgres does.
                        let sum_arg =
                            if agg.kind == AggKind::Avg && type_of(&format!("a{a}")) == "real" {
                                format!("({arg})::double precision")
                            } else {
                                arg.clone()
                            };
                        let sum = state_of(StateKind::Sum, &sum_arg, &mut states);
                        if !sum_probes.iter().any(|(s, _)| *s == sum) {
                            sum_probes.push((sum, sum_arg));
                        }
                        if agg.kind == AggKind::Sum {
                            Finalize::Sum { cnt, sum }
                        } else {
                            Finalize::Avg { cnt, sum }
                        }
                    }
                }
            }
        };
        pending.push((probed.name.clone(), probed.type_sql.clone(), finalize));
    }

    // State types: Postgres' own sum() over each input.
    if !sum_probes.is_empty() {
        let items: Vec<String> = sum_probes
            .iter()
            .map(|(s, arg)| format!("sum({arg}) AS s{s}"))
            .collect();
        let sum_types = probe_view(
            client,
            "summa_probe_states",
            &format!(
                "SELECT {} FROM {}",
                items.join(", "),
                source.qualified_name()
            ),
            None,
        )
        .await?;
        for (s, arg) in &sum_probes {
            let t = sum_types
                .iter()
                .find(|p| p.name == format!("s{s}"))
                .map(|p| p.type_sql.clone())
                .unwrap_or_default();
            if !matches!(
                t.as_str(),
                "bigint" | "numeric" | "real" | "double precision" | "interval" | "money"
            ) {
                return Err(PlanError::Unsupported {
                    construct: format!("sum/avg over {arg}"),
                    pos: None,
                    reason: format!(
                        "its sum has type {t}, which summa cannot subtract from exactly"
                    ),
                    hint: None,
                });
            }
            states[*s].type_sql = t;
        }
    }
    let output_columns = pending
        .into_iter()
        .map(|(name, type_sql, finalize)| {
            let generated = finalize.sql(&states).map(|g| format!("({g})::{type_sql}"));
            OutputColumn {
                name,
                type_sql,
                generated,
            }
        })
        .collect();

    let shipped = analysis
        .columns_read
        .iter()
        .filter_map(|name| source.column(name))
        .map(|c| ShippedColumn {
            name: c.name.clone(),
            type_sql: c.type_sql.clone(),
            type_oid: c.type_oid,
        })
        .collect();
    Ok(MaintenancePlan {
        format: PLAN_FORMAT,
        sql: parsed.sql.clone(),
        source_oid: source.oid,
        source_schema: source.schema.clone(),
        source_table: source.name.clone(),
        shipped,
        filter: analysis.filter.clone(),
        keys,
        states,
        outputs: output_columns,
        settings: settings.clone(),
    })
}

/// How an output column is computed from the stored key and state columns.
enum Finalize {
    StoredKey,
    Copy(String),
    Sum { cnt: usize, sum: usize },
    Avg { cnt: usize, sum: usize },
}

impl Finalize {
    fn sql(&self, states: &[StateColumn]) -> Option<String> {
        let col = |i: usize| quote_ident(&states[i].column);
        match self {
            Finalize::StoredKey => None,
            Finalize::Copy(column) => Some(quote_ident(column)),
            Finalize::Sum { cnt, sum } => Some(format!(
                "CASE WHEN {} > 0 THEN {} END",
                col(*cnt),
                col(*sum)
            )),
            Finalize::Avg { cnt, sum } => {
                // Postgres' avg: numeric division for integer and numeric inputs, float
                // division (interval / float8 for intervals) otherwise.
                let division = match states[*sum].type_sql.as_str() {
                    "bigint" | "numeric" => {
                        format!("{}::numeric / {}::numeric", col(*sum), col(*cnt))
                    }
                    _ => format!("{} / {}::double precision", col(*sum), col(*cnt)),
                };
                Some(format!("CASE WHEN {} > 0 THEN {division} END", col(*cnt)))
            }
        }
    }
}

//! Resolution against the live catalog: Postgres tells us every type and every function.
//!
//! The probes run inside a transaction that is always rolled back: temp views of (1) the
//! user's SELECT (exact output names and types, and Postgres' own validation), (2) the key
//! expressions and aggregate arguments per row, (3) the aggregate states over (2).

use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, GenericClient};

use crate::aggregates::{is_maintained, AggCall};
use crate::analyze::{analyze, AggKind, Analysis, OutputSource};
use crate::error::{PlanError, SqlPos};
use crate::ident::quote_ident;
use crate::parse::{parse_view, ParsedView};
use crate::plan::{
    KeyColumn, MaintenancePlan, OutputColumn, ShippedColumn, StateColumn, StateKind, ValueTable,
    PLAN_FORMAT,
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
    let from = source.qualified_name();

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
    let mut states = States::default();
    states.state(StateKind::Rows, None, None);
    let finalizers: Vec<Finalize> = analysis
        .aggs
        .iter()
        .enumerate()
        .map(|(i, agg)| states.add(agg, &probed(&row_types, &format!("a{i}"))))
        .collect();
    states.resolve_sum_types(client, &from).await?;
    let States {
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
    let plan = MaintenancePlan {
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
        value_tables,
        having,
        notices: parsed.notices.clone(),
    };
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

/// The states and value tables of a plan, collected per aggregate (equal ones shared).
#[derive(Default)]
struct States {
    states: Vec<StateColumn>,
    value_tables: Vec<ValueTable>,
    /// Sum-like states whose type is Postgres' `sum()` over the given expression.
    sum_probes: Vec<(usize, String)>,
}

impl States {
    fn state(&mut self, kind: StateKind, arg: Option<&str>, values: Option<usize>) -> usize {
        if self.states.is_empty() {
            self.states.push(StateColumn {
                column: "__rows".into(),
                kind: StateKind::Rows,
                arg: None,
                type_sql: "bigint".into(),
                values: None,
            });
        }
        if kind == StateKind::Rows {
            return 0;
        }
        if let Some(i) = self
            .states
            .iter()
            .position(|s| s.kind == kind && s.arg.as_deref() == arg && s.values == values)
        {
            return i;
        }
        let prefix = match kind {
            StateKind::Rows => "rows",
            StateKind::Count => "cnt",
            StateKind::Sum => "sum",
            StateKind::Min => "min",
            StateKind::Max => "max",
            StateKind::DistinctCount => "dcnt",
            StateKind::DistinctSum => "dsum",
        };
        self.states.push(StateColumn {
            column: format!("__{prefix}_{}", self.states.len()),
            kind,
            arg: arg.map(str::to_string),
            type_sql: "bigint".into(),
            values,
        });
        self.states.len() - 1
    }

    fn values(&mut self, arg: &str, probed: &Probed) -> usize {
        if let Some(j) = self.value_tables.iter().position(|v| v.arg == arg) {
            return j;
        }
        self.value_tables.push(ValueTable {
            arg: arg.to_string(),
            type_sql: probed.type_with_collation(),
        });
        self.value_tables.len() - 1
    }

    /// A sum-like state whose type is Postgres' `sum(probe)`.
    fn sum(&mut self, kind: StateKind, arg: &str, values: Option<usize>, probe: String) -> usize {
        let s = self.state(kind, Some(arg), values);
        if !self.sum_probes.iter().any(|(i, _)| *i == s) {
            self.sum_probes.push((s, probe));
        }
        s
    }

    /// Add the states `agg` needs; returns how its value is computed from them.
    fn add(&mut self, agg: &AggCall, arg_type: &Probed) -> Finalize {
        let rows = self.state(StateKind::Rows, None, None);
        let Some(arg) = agg.arg.as_deref() else {
            return Finalize::Column(rows);
        };
        // avg(real) accumulates in double precision, as Postgres does.
        let widened = if agg.kind == AggKind::Avg && arg_type.type_sql == "real" {
            format!("({arg})::double precision")
        } else {
            arg.to_string()
        };
        match agg.kind {
            AggKind::CountStar => Finalize::Column(rows),
            AggKind::Count if agg.distinct => {
                let j = self.values(arg, arg_type);
                Finalize::Column(self.state(StateKind::DistinctCount, Some(arg), Some(j)))
            }
            AggKind::Count => Finalize::Column(self.state(StateKind::Count, Some(arg), None)),
            AggKind::Sum | AggKind::Avg if agg.distinct => {
                let j = self.values(arg, arg_type);
                let cnt = self.state(StateKind::DistinctCount, Some(arg), Some(j));
                let sum = self.sum(StateKind::DistinctSum, arg, Some(j), widened);
                Finalize::sum_or_avg(agg.kind, cnt, sum)
            }
            AggKind::Sum | AggKind::Avg => {
                let cnt = self.state(StateKind::Count, Some(arg), None);
                let sum = self.sum(StateKind::Sum, &widened, None, widened.clone());
                Finalize::sum_or_avg(agg.kind, cnt, sum)
            }
            AggKind::Min | AggKind::Max => {
                let j = self.values(arg, arg_type);
                let kind = if agg.kind == AggKind::Min {
                    StateKind::Min
                } else {
                    StateKind::Max
                };
                let s = self.state(kind, Some(arg), Some(j));
                self.states[s].type_sql = arg_type.type_with_collation();
                Finalize::Column(s)
            }
            AggKind::BoolAnd | AggKind::BoolOr => {
                let cnt = self.state(StateKind::Count, Some(arg), None);
                let trues = format!("CASE WHEN {arg} THEN true END");
                let trues = self.state(StateKind::Count, Some(&trues), None);
                Finalize::Bool {
                    cnt,
                    trues,
                    all: agg.kind == AggKind::BoolAnd,
                }
            }
            AggKind::VarSamp | AggKind::VarPop | AggKind::StddevSamp | AggKind::StddevPop => {
                let cnt = self.state(StateKind::Count, Some(arg), None);
                let x = format!("({arg})::numeric");
                let s1 = self.sum(StateKind::Sum, &x, None, x.clone());
                let x2 = format!("({arg})::numeric * ({arg})::numeric");
                let s2 = self.sum(StateKind::Sum, &x2, None, x2.clone());
                Finalize::Variance {
                    cnt,
                    s1,
                    s2,
                    sample: matches!(agg.kind, AggKind::VarSamp | AggKind::StddevSamp),
                    sqrt: matches!(agg.kind, AggKind::StddevSamp | AggKind::StddevPop),
                    exact: !matches!(arg_type.type_sql.as_str(), "real" | "double precision"),
                }
            }
        }
    }

    /// Sum states take the type of Postgres' own sum() over their input.
    async fn resolve_sum_types(
        &mut self,
        client: &impl GenericClient,
        from: &str,
    ) -> Result<(), PlanError> {
        if self.sum_probes.is_empty() {
            return Ok(());
        }
        let items: Vec<String> = self
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
        for (s, probe) in &self.sum_probes {
            let t = types
                .iter()
                .find(|p| p.name == format!("s{s}"))
                .map(|p| p.type_sql.clone())
                .unwrap_or_default();
            if !matches!(
                t.as_str(),
                "bigint" | "numeric" | "real" | "double precision" | "interval" | "money"
            ) {
                return Err(PlanError::Unsupported {
                    construct: format!("sum/avg over {probe}"),
                    pos: None,
                    reason: format!(
                        "its sum has type {t}, which summa cannot subtract from exactly"
                    ),
                    hint: None,
                });
            }
            self.states[*s].type_sql = t;
        }
        Ok(())
    }
}

/// How an aggregate's value is computed from the stored state columns.
enum Finalize {
    /// The state column itself (count, min, max, count DISTINCT, `__rows` for count(*)).
    Column(usize),
    Sum {
        cnt: usize,
        sum: usize,
    },
    Avg {
        cnt: usize,
        sum: usize,
    },
    Bool {
        cnt: usize,
        trues: usize,
        all: bool,
    },
    /// Postgres' formula over (n, Σx, Σx²) in numeric: exact for integer and numeric inputs.
    Variance {
        cnt: usize,
        s1: usize,
        s2: usize,
        sample: bool,
        sqrt: bool,
        exact: bool,
    },
}

impl Finalize {
    fn sum_or_avg(kind: AggKind, cnt: usize, sum: usize) -> Finalize {
        if kind == AggKind::Sum {
            Finalize::Sum { cnt, sum }
        } else {
            Finalize::Avg { cnt, sum }
        }
    }

    fn sql(&self, states: &[StateColumn]) -> String {
        let col = |i: usize| quote_ident(&states[i].column);
        match *self {
            Finalize::Column(s) => col(s),
            Finalize::Sum { cnt, sum } => {
                format!("CASE WHEN {} > 0 THEN {} END", col(cnt), col(sum))
            }
            Finalize::Avg { cnt, sum } => {
                // Postgres' avg: numeric division for integer and numeric inputs, float
                // division (interval / float8 for intervals) otherwise.
                let division = match states[sum].type_sql.as_str() {
                    "bigint" | "numeric" => {
                        format!("{}::numeric / {}::numeric", col(sum), col(cnt))
                    }
                    _ => format!("{} / {}::double precision", col(sum), col(cnt)),
                };
                format!("CASE WHEN {} > 0 THEN {division} END", col(cnt))
            }
            Finalize::Bool { cnt, trues, all } => {
                let test = if all {
                    format!("{} = {}", col(trues), col(cnt))
                } else {
                    format!("{} > 0", col(trues))
                };
                format!("CASE WHEN {} > 0 THEN {test} END", col(cnt))
            }
            Finalize::Variance {
                cnt,
                s1,
                s2,
                sample,
                sqrt,
                exact,
            } => {
                let n = format!("{}::numeric", col(cnt));
                let numerator = format!("({n} * {} - {} * {})", col(s2), col(s1), col(s1));
                let (min_rows, denominator) = if sample {
                    (1, format!("({n} * ({n} - 1))"))
                } else {
                    (0, format!("({n} * {n})"))
                };
                let variance = format!(
                    "CASE WHEN {numerator} <= 0 THEN 0::numeric ELSE {numerator} / {denominator} END"
                );
                let value = match (sqrt, exact) {
                    // Postgres takes the root at the variance's scale, rounded once: compute
                    // it 20 digits finer first, so rounding twice cannot differ.
                    (true, true) => format!(
                        "round(sqrt(({variance}) * 1.00000000000000000000), scale({variance}))"
                    ),
                    (true, false) => format!("sqrt({variance})"),
                    (false, _) => variance,
                };
                format!("CASE WHEN {} > {min_rows} THEN {value} END", col(cnt))
            }
        }
    }
}

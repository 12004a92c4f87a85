//! The maintenance plan: everything the other stages need, stored with the version.
//!
//! A plan has three stages, in data-flow order:
//! 1. **inputs**: the relations of the FROM clause, each with the columns shipped per change
//!    and its role in the FROM clause;
//! 2. **view rows**: the FROM/WHERE output as signed rows (the row filter, and per row the
//!    group keys and every aggregate argument), rendered by `sqlgen::view_rows`;
//! 3. **aggregate merge**: the state columns each aggregate keeps and how they finalize
//!    (`crate::algebra`), merged into the summary by `sqlgen::merge`.
//!
//! Stored plans are read by [`crate::stored`]: a version keeps the format it was created
//! with, and SQL generation dispatches on [`MaintenancePlan::format`].

use serde::{Deserialize, Serialize};

use crate::settings::PinnedSettings;

/// The format plans are created with. Bumped whenever the meaning of a stored plan changes,
/// so a fix never silently changes an existing summary version.
/// - 2: one source table (`source_*`, `shipped` at the top level), value tables, HAVING;
///   expressions over unqualified column names, internal column names fixed.
/// - 3: a list of inputs; expressions qualify every column with its input's name; internal
///   column names of change rows chosen apart from the input's own columns.
/// - 4: several inputs, inner-joined (each [`InputRole::Inner`], kept in a copy of its own);
///   the shape of format 3. One-table plans keep format 3.
/// - 5: joins with LEFT JOINs ([`InputRole::Left`] inputs with their condition); inner joins
///   keep format 4.
/// - 6: a join without aggregates ([`MaintenancePlan::multiset`]): groups over every output
///   with their row count, read back with each row repeated that many times.
/// - 7: an inner join whose aggregates read one input (the fact), kept pre-aggregated per
///   join key ([`MaintenancePlan::eager`]): a change of another input costs the partial
///   groups it meets, not the fact rows.
pub const PLAN_FORMAT: u32 = 3;

/// The format of plans with several inputs (a join).
pub const JOIN_PLAN_FORMAT: u32 = 4;

/// The format of joins with a LEFT JOIN ([`InputRole::Left`], [`Input::left_join`]).
pub const LEFT_JOIN_PLAN_FORMAT: u32 = 5;

/// The format of joins without aggregates ([`MaintenancePlan::multiset`]).
pub const MULTISET_PLAN_FORMAT: u32 = 6;

/// The format of inner joins with eager aggregation ([`MaintenancePlan::eager`]).
pub const EAGER_PLAN_FORMAT: u32 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedColumn {
    pub name: String,
    pub type_sql: String,
    pub type_oid: u32,
}

/// What an input is to the FROM clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputRole {
    /// The only relation in FROM: every row of it is a row of the view.
    Scan,
    /// One table of an inner join: summa keeps a copy of its shipped columns at the stream
    /// position (keyed by its primary key), which the other inputs' changes are joined with.
    Inner,
    /// The right side of a LEFT JOIN (NULL-supplying), kept in a copy as an inner input is; its
    /// condition is [`Input::left_join`].
    Left,
}

impl InputRole {
    /// Whether summa keeps a copy of the input's rows (every input of a join).
    pub fn copied(self) -> bool {
        self != InputRole::Scan
    }
}

/// The right side of a LEFT JOIN: its condition, and the equality a batch probes it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftJoin {
    /// The ON condition (or the USING equalities), canonical SQL.
    pub on: String,
    /// A column of this input that the condition equates with `probe`…
    pub column: String,
    /// …an expression over the inputs before it (canonical SQL).
    pub probe: String,
}

/// One relation the view reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The name the FROM clause gives it (its alias, else the table name): expressions
    /// qualify its columns with it, and generated SQL uses it as the FROM item's alias.
    pub name: String,
    pub oid: u32,
    pub schema: String,
    pub table: String,
    pub role: InputRole,
    /// Columns the view reads: the only ones shipped per change, in table order.
    pub shipped: Vec<ShippedColumn>,
    /// Columns that identify a row (primary key), empty when the table has none.
    pub key_columns: Vec<String>,
    /// The LEFT JOIN that brought the input in (role [`InputRole::Left`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_join: Option<LeftJoin>,
    /// A declaratively partitioned table: its changes arrive under its own name (the
    /// publication publishes via the partition root), each leaf logs old values by its own
    /// replica identity, and ATTACH, DETACH, DROP or TRUNCATE of a partition are reported by
    /// summa's event trigger (`summa.watch_partitions`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
}

impl Input {
    pub fn qualified(&self) -> String {
        crate::ident::qualified(&self.schema, &self.table)
    }
}

/// Eager aggregation of an inner join (format 7): the fact input's rows that pass its own
/// conjuncts of the filter, pre-aggregated per value of the columns anything else reads
/// (the join conditions with the other inputs, the group keys). Every state is a count or a
/// sum, so a group's state is the sum of its partial groups' states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eager {
    /// The input every aggregate argument reads (the fact).
    pub fact: usize,
    /// The fact's columns the partial groups are keyed by, in table order.
    pub columns: Vec<String>,
    /// The conjuncts of the filter over the fact alone: applied before pre-aggregation.
    pub fact_filter: Option<String>,
    /// The other conjuncts: applied where the partial groups are joined.
    pub rest_filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyColumn {
    /// Column in the summary table.
    pub column: String,
    /// Canonical SQL over the view row.
    pub expr: String,
    pub type_sql: String,
}

/// Which aggregate state a column keeps; its algebra is in [`crate::algebra`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateKind {
    /// Number of view rows in the group (`__rows`); the group is deleted at 0.
    Rows,
    /// Number of rows whose argument is not NULL.
    Count,
    /// Sum of the argument over those rows (0 when none).
    Sum,
    /// Least non-NULL value of the argument, NULL when none; the value table holds the
    /// multiset it is recomputed from when its last copy goes.
    Min,
    /// Greatest non-NULL value, as `Min`.
    Max,
    /// Number of distinct non-NULL values (kept from the value table's transitions).
    DistinctCount,
    /// Sum over the distinct non-NULL values.
    DistinctSum,
}

/// One state column of the summary table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateColumn {
    pub column: String,
    pub kind: StateKind,
    /// Canonical SQL of the argument (with any accumulation cast applied).
    pub arg: Option<String>,
    pub type_sql: String,
    /// For min/max and DISTINCT states: the value table (index into `value_tables`).
    pub values: Option<usize>,
}

/// Multiset of one argument's non-NULL values per group: `(group key, value, multiplicity)`.
/// Min/max are recomputed from it when the extreme's last copy goes; DISTINCT aggregates
/// change when a value appears or disappears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTable {
    /// Canonical SQL of the argument (a FILTER folded in as `CASE WHEN … THEN arg END`).
    pub arg: String,
    /// Type with its collation (`text COLLATE "C"`), so values order as in the SELECT.
    pub type_sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputColumn {
    pub name: String,
    pub type_sql: String,
    /// `None`: a key column stored under this name. `Some(expr)`: a generated column
    /// computed from state (aggregates) or copied from a key stored under another name.
    pub generated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenancePlan {
    /// The format the plan was created with; see [`PLAN_FORMAT`].
    pub format: u32,
    /// The view's SQL exactly as the user gave it; also the full-recompute query.
    pub sql: String,
    /// The FROM clause's relations: one, or the tables of an inner join in FROM order.
    pub inputs: Vec<Input>,
    /// The WHERE condition over the view row.
    pub filter: Option<String>,
    pub keys: Vec<KeyColumn>,
    /// `states[0]` is always `__rows`.
    pub states: Vec<StateColumn>,
    pub outputs: Vec<OutputColumn>,
    pub settings: PinnedSettings,
    pub value_tables: Vec<ValueTable>,
    /// The HAVING condition over stored columns, kept as a hidden generated boolean column:
    /// the table keeps every group, the alias (and verification) read the ones where it holds.
    pub having: Option<String>,
    /// What the planner accepted but ignored (ORDER BY); shown at `summa create`, not stored.
    #[serde(skip)]
    pub notices: Vec<String>,
    /// A join without aggregates (format 6): the view's rows are the groups repeated by their
    /// row count (`states[0]`). Absent before format 6, where it is false
    /// (`stored::check_shape` holds each format to it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiset: bool,
    /// An inner join kept with the fact pre-aggregated (format 7). Absent before format 7
    /// (`stored::check_shape` holds each format to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager: Option<Eager>,
}

impl MaintenancePlan {
    /// The first input: the only one of a one-table view.
    pub fn source(&self) -> &Input {
        &self.inputs[0]
    }

    /// Whether the view joins several inputs.
    pub fn is_join(&self) -> bool {
        self.inputs.len() > 1
    }

    /// The input whose table has `oid`, if the view reads it.
    pub fn input_of(&self, oid: u32) -> Option<usize> {
        self.inputs.iter().position(|i| i.oid == oid)
    }

    pub fn is_global(&self) -> bool {
        self.keys.is_empty()
    }

    /// Output columns holding floating-point values (compared with a tolerance).
    pub fn float_outputs(&self) -> Vec<usize> {
        self.outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o.type_sql.as_str(), "real" | "double precision"))
            .map(|(i, _)| i)
            .collect()
    }
}

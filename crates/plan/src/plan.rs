//! The maintenance plan: everything the other stages need, stored with the version.

use serde::{Deserialize, Serialize};

use crate::settings::PinnedSettings;

/// Bumped whenever the meaning of a stored plan changes, so a fix never silently changes an
/// existing summary version: versions keep the format they were created with.
/// Format 2 added value tables (min/max, DISTINCT) and HAVING; format-1 plans read as format 2
/// plans without them.
pub const PLAN_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedColumn {
    pub name: String,
    pub type_sql: String,
    pub type_oid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyColumn {
    /// Column in the summary table.
    pub column: String,
    /// Canonical SQL over the source row.
    pub expr: String,
    pub type_sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateKind {
    /// Number of source rows in the group (`__rows`); the group is deleted at 0.
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

impl StateKind {
    /// Additive states: a delta is added to the stored value.
    pub fn is_linear(self) -> bool {
        !matches!(self, StateKind::Min | StateKind::Max)
    }
}

/// Linear aggregate state: each column is a sum of per-row contributions, so a delta adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateColumn {
    pub column: String,
    pub kind: StateKind,
    /// Canonical SQL of the argument (with any accumulation cast applied).
    pub arg: Option<String>,
    pub type_sql: String,
    /// For min/max and DISTINCT states: the value table (index into `value_tables`).
    #[serde(default)]
    pub values: Option<usize>,
}

/// Multiset of one argument's non-NULL values per group: `(group key, value, multiplicity)`.
/// Min/max are recomputed from it when the extreme's last copy goes; DISTINCT aggregates
/// change when a value appears or disappears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueTable {
    /// Canonical SQL of the argument (a FILTER folded in as `CASE WHEN … THEN arg END`).
    pub arg: String,
    /// Type with its collation (`text COLLATE "C"`), so values order as in the SELECT.
    pub type_sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputColumn {
    pub name: String,
    pub type_sql: String,
    /// `None`: a key column stored under this name. `Some(expr)`: a generated column
    /// computed from state (aggregates) or copied from a key stored under another name.
    pub generated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenancePlan {
    pub format: u32,
    /// The view's SQL exactly as the user gave it; also the full-recompute query.
    pub sql: String,
    pub source_oid: u32,
    pub source_schema: String,
    pub source_table: String,
    /// Source columns the view reads: the only ones shipped per change.
    pub shipped: Vec<ShippedColumn>,
    pub filter: Option<String>,
    pub keys: Vec<KeyColumn>,
    /// `states[0]` is always `__rows`.
    pub states: Vec<StateColumn>,
    pub outputs: Vec<OutputColumn>,
    pub settings: PinnedSettings,
    #[serde(default)]
    pub value_tables: Vec<ValueTable>,
    /// The HAVING condition over stored columns, kept as a hidden generated boolean column:
    /// the table keeps every group, the alias (and verification) read the ones where it holds.
    #[serde(default)]
    pub having: Option<String>,
    /// What the planner accepted but ignored (ORDER BY); shown at `summa create`, not stored.
    #[serde(skip)]
    pub notices: Vec<String>,
}

impl MaintenancePlan {
    pub fn source_qualified(&self) -> String {
        crate::ident::qualified(&self.source_schema, &self.source_table)
    }

    pub fn is_global(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plan serializes")
    }

    pub fn from_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
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

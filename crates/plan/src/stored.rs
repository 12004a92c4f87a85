//! Stored plans: the JSON a version keeps in `summa.versions.plan`, read by its format.
//!
//! A version is maintained with the format it was created with, forever (STYLE.md #9): a fix
//! to SQL generation must never silently change what an existing summary means. So:
//! - every format this binary can maintain has its own serde shape here, read strictly
//!   (`deny_unknown_fields`, no serde defaults: a missing field is an error, never a guess);
//! - an older format is upgraded to the in-memory [`MaintenancePlan`] explicitly, keeping its
//!   `format`, and `sqlgen` dispatches on that format wherever the formats' SQL differs
//!   (`sqlgen::names`);
//! - a format newer than this binary is refused with a clear error (a newer summa created it;
//!   an older one must not guess what it means).

use serde::{Deserialize, Serialize};

use crate::plan::{
    Input, InputRole, KeyColumn, MaintenancePlan, OutputColumn, ShippedColumn, StateColumn,
    ValueTable, EAGER_PLAN_FORMAT as NEWEST_PLAN_FORMAT,
};
use crate::settings::PinnedSettings;

/// The oldest plan format this binary maintains.
pub const OLDEST_PLAN_FORMAT: u32 = 2;

/// Why a stored plan cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredPlanError {
    #[error(
        "its plan has format {found}, newer than this summa reads (formats {OLDEST_PLAN_FORMAT} to {NEWEST_PLAN_FORMAT}): \
         it was created by a newer summa; run that version (or newer) to maintain it"
    )]
    Newer { found: u32 },
    #[error(
        "its plan has format {found}, older than this summa maintains (formats {OLDEST_PLAN_FORMAT} to {NEWEST_PLAN_FORMAT}): \
         rebuild the view (`summa rebuild`) to give it a current plan"
    )]
    Older { found: u32 },
    #[error("its plan records no format")]
    NoFormat,
    #[error("its format-{format} plan is not of that format's shape: {reason}")]
    Inconsistent { format: u32, reason: String },
    #[error("its format-{format} plan does not parse: {error}")]
    Malformed {
        format: u32,
        error: serde_json::Error,
    },
}

impl MaintenancePlan {
    /// The plan as stored: in the shape of its own format.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self.format {
            2 => serde_json::to_value(PlanV2::from(self)),
            _ => serde_json::to_value(self),
        };
        value.expect("plan serializes")
    }

    /// Read a stored plan in the shape of the format it records.
    pub fn from_json(value: serde_json::Value) -> Result<Self, StoredPlanError> {
        let format = value
            .get("format")
            .and_then(serde_json::Value::as_u64)
            .ok_or(StoredPlanError::NoFormat)? as u32;
        let malformed = |error| StoredPlanError::Malformed { format, error };
        match format {
            f if f > NEWEST_PLAN_FORMAT => Err(StoredPlanError::Newer { found: f }),
            f if f < OLDEST_PLAN_FORMAT => Err(StoredPlanError::Older { found: f }),
            2 => serde_json::from_value::<PlanV2>(value)
                .map(MaintenancePlan::from)
                .map_err(malformed),
            _ => {
                let plan = serde_json::from_value::<MaintenancePlan>(value).map_err(malformed)?;
                check_shape(&plan)
                    .map_err(|reason| StoredPlanError::Inconsistent { format, reason })?;
                Ok(plan)
            }
        }
    }
}

/// Formats 3 to 7 share one serde shape; what each may hold is checked here, so a field one
/// format lacks (`left_join` before 5) is never filled in by a default where it matters.
fn check_shape(plan: &MaintenancePlan) -> Result<(), String> {
    let roles: Vec<InputRole> = plan.inputs.iter().map(|i| i.role).collect();
    if let Some(i) = plan
        .inputs
        .iter()
        .find(|i| (i.role == InputRole::Left) != i.left_join.is_some())
    {
        return Err(format!(
            "input {} has role {:?} and {} LEFT JOIN condition",
            i.name,
            i.role,
            if i.left_join.is_some() { "a" } else { "no" }
        ));
    }
    if plan.multiset != (plan.format == 6) {
        return Err(format!(
            "multiset is {} (a join without aggregates has format 6)",
            plan.multiset
        ));
    }
    if plan.eager.is_some() != (plan.format == 7) {
        return Err(format!(
            "it {} eager aggregation (an eager join has format 7)",
            if plan.eager.is_some() { "has" } else { "lacks" }
        ));
    }
    if let Some(e) = &plan.eager {
        let fact = plan
            .inputs
            .get(e.fact)
            .ok_or_else(|| format!("its eager fact input {} does not exist", e.fact))?;
        if let Some(c) = e
            .columns
            .iter()
            .find(|c| !fact.shipped.iter().any(|s| s.name == **c))
        {
            return Err(format!(
                "its eager column {c} is not shipped by {}",
                fact.name
            ));
        }
    }
    let join = roles.len() > 1 && roles[0] == InputRole::Inner && !roles.contains(&InputRole::Scan);
    let fits = match plan.format {
        3 => roles == [InputRole::Scan],
        4 => join && !roles.contains(&InputRole::Left),
        5 => join && roles.contains(&InputRole::Left),
        7 => join && !roles.contains(&InputRole::Left),
        _ => join,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("its inputs have the roles {roles:?}"))
    }
}

/// Format 2: one source table at the top level; expressions over unqualified column names,
/// evaluated over a FROM item aliased `__src`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanV2 {
    format: u32,
    sql: String,
    source_oid: u32,
    source_schema: String,
    source_table: String,
    shipped: Vec<ShippedColumn>,
    filter: Option<String>,
    keys: Vec<KeyColumn>,
    states: Vec<StateColumn>,
    outputs: Vec<OutputColumn>,
    settings: PinnedSettings,
    value_tables: Vec<ValueTable>,
    having: Option<String>,
}

/// The FROM alias format-2 SQL evaluates its unqualified expressions over.
pub(crate) const FORMAT2_ALIAS: &str = "__src";

impl From<PlanV2> for MaintenancePlan {
    fn from(p: PlanV2) -> Self {
        MaintenancePlan {
            format: 2,
            sql: p.sql,
            inputs: vec![Input {
                name: FORMAT2_ALIAS.into(),
                oid: p.source_oid,
                schema: p.source_schema,
                table: p.source_table,
                role: InputRole::Scan,
                shipped: p.shipped,
                // Format 2 did not record the key; nothing of format 2 reads it.
                key_columns: Vec::new(),
                left_join: None,
                partitioned: false,
            }],
            filter: p.filter,
            keys: p.keys,
            states: p.states,
            outputs: p.outputs,
            settings: p.settings,
            value_tables: p.value_tables,
            having: p.having,
            notices: Vec::new(),
            multiset: false,
            eager: None,
        }
    }
}

impl From<&MaintenancePlan> for PlanV2 {
    fn from(p: &MaintenancePlan) -> Self {
        let source = p.source();
        PlanV2 {
            format: 2,
            sql: p.sql.clone(),
            source_oid: source.oid,
            source_schema: source.schema.clone(),
            source_table: source.table.clone(),
            shipped: source.shipped.clone(),
            filter: p.filter.clone(),
            keys: p.keys.clone(),
            states: p.states.clone(),
            outputs: p.outputs.clone(),
            settings: p.settings.clone(),
            value_tables: p.value_tables.clone(),
            having: p.having.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_FORMAT2: &str = include_str!("../../../tests/fixtures/plans/format2_v1.json");
    const V2_FORMAT2: &str = include_str!("../../../tests/fixtures/plans/format2_v2.json");

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn format_2_plans_load_with_their_format_and_store_back_unchanged() {
        for text in [V1_FORMAT2, V2_FORMAT2] {
            let stored = json(text);
            let plan = MaintenancePlan::from_json(stored.clone()).unwrap();
            assert_eq!(plan.format, 2);
            assert_eq!(plan.inputs.len(), 1);
            assert_eq!(plan.source().name, FORMAT2_ALIAS);
            assert_eq!(plan.source().table, "orders");
            assert_eq!(plan.to_json(), stored);
        }
    }

    #[test]
    fn newer_formats_are_refused_not_guessed() {
        let mut stored = json(V1_FORMAT2);
        stored["format"] = (NEWEST_PLAN_FORMAT + 1).into();
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("newer than this summa"), "{err}");
        let mut stored = json(V1_FORMAT2);
        stored["format"] = 1.into();
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("summa rebuild"), "{err}");
    }

    #[test]
    fn a_left_join_without_its_condition_is_refused_not_defaulted() {
        let left = include_str!("../../../tests/fixtures/plans/format5_left.json");
        let plan = MaintenancePlan::from_json(json(left)).unwrap();
        assert_eq!(plan.format, 5);
        assert_eq!(plan.to_json(), json(left));
        let mut stored = json(left);
        stored["inputs"][1]
            .as_object_mut()
            .unwrap()
            .remove("left_join");
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("no LEFT JOIN condition"), "{err}");
        let mut stored = json(left);
        stored["format"] = 4.into();
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(
            err.contains("format-4 plan is not of that format's shape"),
            "{err}"
        );
    }

    #[test]
    fn eager_aggregation_belongs_to_format_7_alone() {
        let eager = include_str!("../../../tests/fixtures/plans/format7_eager.json");
        let plan = MaintenancePlan::from_json(json(eager)).unwrap();
        assert_eq!(plan.format, 7);
        assert_eq!(plan.eager.as_ref().unwrap().columns, ["region_id"]);
        assert_eq!(plan.to_json(), json(eager));
        let mut stored = json(eager);
        stored["format"] = 4.into();
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("an eager join has format 7"), "{err}");
        let mut stored = json(eager);
        stored.as_object_mut().unwrap().remove("eager");
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("lacks eager aggregation"), "{err}");
        let mut stored = json(eager);
        stored["eager"]["columns"][0] = "nope".into();
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("eager column nope is not shipped"), "{err}");
    }

    #[test]
    fn a_missing_field_is_an_error_not_a_default() {
        let mut stored = json(V2_FORMAT2);
        stored.as_object_mut().unwrap().remove("value_tables");
        let err = MaintenancePlan::from_json(stored).unwrap_err().to_string();
        assert!(err.contains("value_tables"), "{err}");
        let mut stored = json(V2_FORMAT2);
        stored["surprise"] = true.into();
        assert!(MaintenancePlan::from_json(stored).is_err());
    }
}

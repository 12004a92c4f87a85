//! The planner: one `SELECT … GROUP BY` in, a [`MaintenancePlan`] out.
//!
//! Data flow: [`parse_view`] (sqlparser, PostgreSQL dialect) finds the source table and rejects
//! what cannot be maintained, with the construct's position; [`analyze`] checks the query against
//! the source table's columns and splits it into row filter, group keys and aggregates;
//! [`resolve`] asks Postgres itself for every type (output columns, key columns, aggregate
//! states) and for the volatility of every function the query calls, so the plan's types are
//! exactly what Postgres gives for the same SELECT. The plan ([`MaintenancePlan`]) holds the
//! view's inputs, its view-row stage (filter, keys, arguments) and its aggregate states, whose
//! algebra lives in [`algebra`]; stored plans are read by their format ([`stored`]).
//! [`sqlgen`] renders the SQL the other stages run: summary DDL, the view-row delta stage,
//! the aggregate merge, backfill chunks and the verification query.
//!
//! The planner rewrites SQL; it never evaluates an expression. Postgres evaluates every filter,
//! group key and aggregate argument, with the version's pinned settings.

mod aggregates;
pub mod algebra;
mod analyze;
mod canonical;
mod eager;
mod error;
pub mod ident;
mod parse;
mod plan;
mod resolve;
mod settings;
mod source;
pub mod sqlgen;
mod stored;
mod template;

pub use analyze::{analyze, analyze_inputs, AggKind, Analysis, OutputSource};
pub use error::{PlanError, SqlPos};
pub use parse::{parse_view, ParsedView};
pub use plan::{
    Eager, Input, InputRole, KeyColumn, MaintenancePlan, OutputColumn, ShippedColumn, StateColumn,
    StateKind, ValueTable, EAGER_PLAN_FORMAT, JOIN_PLAN_FORMAT, LEFT_JOIN_PLAN_FORMAT,
    MULTISET_PLAN_FORMAT, PLAN_FORMAT,
};
pub use resolve::{plan_view, resolve};
pub use settings::{PinnedSettings, PINNED_SETTING_NAMES};
pub use source::{ReplicaIdentity, SourceColumn, SourceTable};
pub use stored::{StoredPlanError, OLDEST_PLAN_FORMAT};

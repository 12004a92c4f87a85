//! SQL rendered from a plan, stage by stage: a version's objects ([`ddl`]); the view-row delta
//! stage ([`view_rows`]: signed rows of the FROM/WHERE output); the aggregate merge of those
//! rows into the summary ([`merge`]); pending tables of joining versions ([`pending`]); and
//! the queries that read a version ([`read`]). Internal names that share a relation with a
//! user's columns come from [`names`], per plan format.
//!
//! Every statement that evaluates the view's expressions must run after the version's pinned
//! settings were applied (`PinnedSettings::set_local_sql`).

mod bulk;
mod ddl;
mod eager;
mod join;
mod merge;
mod names;
mod pending;
mod read;
mod view_rows;

pub use bulk::{bulk_chunk, bulk_combine, bulk_direct, bulk_loaded, bulk_tables, drop_bulk_tables};
pub use ddl::{
    create_indexes, create_objects, create_tables, drop_objects, reset_for_truncated_input,
    reset_objects,
};
pub use eager::{fill_partials, update_partials};
pub use join::{delete_from_copy, fill_copy, insert_into_copy};
pub use merge::{
    backfill_chunk, create_staging, delete_empty_groups, delete_spent_values, merge_changes,
    merge_staged, recompute_extremes, stage_rows, MergeResult,
};
pub use names::{partial_state, row_names, RowNames};
pub use pending::{create_pending, drain_pending, insert_pending};
pub use read::{
    alias_view, compare_diff, input_blocks, key_boundaries, key_ranges, serving_select,
    source_blocks, verify_diff,
};

use crate::ident::{qualified, quote_ident};
use crate::plan::MaintenancePlan;

/// Where one version lives: its summary table and, for min/max and DISTINCT aggregates, one
/// value table per argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub schema: String,
    pub table: String,
}

impl Target {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        Target {
            schema: schema.into(),
            table: table.into(),
        }
    }

    /// The summary table, quoted.
    pub fn table(&self) -> String {
        qualified(&self.schema, &self.table)
    }

    fn values_name(&self, i: usize) -> String {
        format!("{}__values_{i}", self.table)
    }

    /// Value table `i`, quoted.
    pub fn values(&self, i: usize) -> String {
        qualified(&self.schema, &self.values_name(i))
    }

    fn pending_name(&self) -> String {
        format!("{}__pending", self.table)
    }

    /// The pending table of a version joining the shared stream, quoted.
    pub fn pending(&self) -> String {
        qualified(&self.schema, &self.pending_name())
    }

    fn input_copy_name(&self, k: usize) -> String {
        format!("{}__input_{k}", self.table)
    }

    /// The copy of a join's input `k` at the stream position, quoted.
    pub fn input_copy(&self, k: usize) -> String {
        qualified(&self.schema, &self.input_copy_name(k))
    }

    fn partials_name(&self) -> String {
        format!("{}__partials", self.table)
    }

    /// The partial groups of an eager join's fact ([`crate::Eager`]), quoted.
    pub fn partials(&self) -> String {
        qualified(&self.schema, &self.partials_name())
    }

    /// Every table holding the version's state, quoted, in the order they are dropped: value
    /// tables, a join's copies of its inputs, an eager join's partial groups, the pending
    /// table, the summary table.
    pub fn state_tables(&self, plan: &MaintenancePlan) -> Vec<String> {
        self.names(plan)
            .iter()
            .map(|name| qualified(&self.schema, name))
            .collect()
    }

    /// Every object name the version creates (unquoted, in [`Target::state_tables`]' order);
    /// each must fit Postgres' 63-byte identifiers.
    pub fn names(&self, plan: &MaintenancePlan) -> Vec<String> {
        let mut names: Vec<String> = (0..plan.value_tables.len())
            .map(|i| self.values_name(i))
            .collect();
        if plan.is_join() {
            names.extend((0..plan.inputs.len()).map(|k| self.input_copy_name(k)));
        }
        if plan.eager.is_some() {
            names.push(self.partials_name());
        }
        names.push(self.pending_name());
        names.push(self.table.clone());
        names
    }
}

/// The key columns with their types, as a table definition lists them.
fn typed_key_columns(plan: &MaintenancePlan) -> Vec<String> {
    plan.keys
        .iter()
        .map(|k| format!("{} {}", quote_ident(&k.column), k.type_sql))
        .collect()
}

/// The quoted key columns.
fn key_columns(plan: &MaintenancePlan) -> Vec<String> {
    plan.keys.iter().map(|k| quote_ident(&k.column)).collect()
}

/// `a, b, ` (with the trailing separator) or nothing.
fn prefixed(items: &[String]) -> String {
    items.iter().map(|i| format!("{i}, ")).collect()
}

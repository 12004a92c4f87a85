//! summa's own column names in relations that also hold a user's columns, per plan format.
//!
//! Change rows, staging and pending tables carry an input's shipped columns beside summa's
//! sign (and, in pending tables, arrival order and commit LSN). A user column may be named
//! anything, so since format 3 each internal name is chosen apart from the input's shipped
//! columns (`__summa_sign`, else `__summa_sign_1`, …): derived from the plan alone, so every
//! statement of a version agrees on it. Format 2 fixed the names, and its versions keep them.

use crate::plan::MaintenancePlan;

/// Internal column names of one input's change rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowNames {
    /// +1 a row that now exists, -1 one that no longer does.
    pub sign: String,
    /// Pending tables: commit LSN of the row's transaction.
    pub lsn: String,
    /// Pending tables: arrival order.
    pub seq: String,
}

/// The internal names of input `input`'s change rows, as the plan's format has them.
pub fn row_names(plan: &MaintenancePlan, input: usize) -> RowNames {
    match plan.format {
        2 => RowNames {
            sign: "__summa_sign".into(),
            lsn: "__lsn".into(),
            seq: "__seq".into(),
        },
        _ => {
            let taken: Vec<&str> = plan.inputs[input]
                .shipped
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            RowNames {
                sign: apart("__summa_sign", &taken),
                lsn: apart("__summa_lsn", &taken),
                seq: apart("__summa_seq", &taken),
            }
        }
    }
}

/// Input `k`'s sign column qualified with the input's name (`"o"."__summa_sign"`): the sign
/// of a change row read under that name.
pub(crate) fn qualified_sign(plan: &MaintenancePlan, k: usize) -> String {
    format!(
        "{}.{}",
        crate::ident::quote_ident(&plan.inputs[k].name),
        crate::ident::quote_ident(&row_names(plan, k).sign)
    )
}

/// The column of the partials table (eager aggregation) holding state `i` over one partial
/// group, chosen apart from the fact's shipped columns (the partials' key columns are some).
pub fn partial_state(plan: &MaintenancePlan, i: usize) -> String {
    let fact = plan.eager.as_ref().map_or(0, |e| e.fact);
    let taken: Vec<&str> = plan.inputs[fact]
        .shipped
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    apart(&format!("__summa_p{i}"), &taken)
}

/// `base`, or `base_N` with the least N that no name in `taken` is.
fn apart(base: &str, taken: &[&str]) -> String {
    if !taken.contains(&base) {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !taken.contains(&name.as_str()))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_stay_apart_from_user_columns() {
        assert_eq!(super::apart("__summa_sign", &["a"]), "__summa_sign");
        assert_eq!(
            super::apart("__summa_sign", &["__summa_sign", "__summa_sign_1"]),
            "__summa_sign_2"
        );
    }
}

//! Each aggregate's algebra, in one place (STYLE.md #8).
//!
//! An aggregate is kept as one or more **state columns** of the summary row
//! ([`StateSet::add`]) and **finalized** from them by a SQL expression ([`Finalize`]). Each
//! state kind ([`StateKind`]) defines:
//! - its value over no rows ([`StateKind::empty`]);
//! - its per-row contribution, for states fed by view rows ([`StateKind::row_contribution`]);
//! - its transition on value-table changes, for states fed by a per-group multiset of values
//!   ([`StateKind::value_transition`]: a value appearing or going for DISTINCT states, the
//!   extremes added and gone for min/max);
//! - how a delta combines with the stored value ([`StateKind::combine`]);
//! - whether it is **linear** (a delta adds: count, sum, the row count, and the DISTINCT
//!   states, which add ±1/±x at transitions) or **needs values** (min/max under retraction:
//!   recomputed from the value table when the extreme's last copy goes, [`Extreme`]).
//!
//! The merge SQL (`sqlgen::merge`) and the summary DDL (`sqlgen::ddl`) only call these.

use crate::aggregates::{AggCall, AggKind};
use crate::ident::quote_ident;
use crate::plan::{StateColumn, StateKind, ValueTable};

/// `-(arg)`, in a form its type has (money has no unary minus).
pub(crate) fn negated(arg: &str, type_sql: &str) -> String {
    if type_sql == "money" {
        format!("({arg}) * -1")
    } else {
        format!("-({arg})")
    }
}

/// The zero of a linear state's type.
pub(crate) fn zero(type_sql: &str) -> String {
    format!("'0'::{type_sql}")
}

/// How a min/max state finds its extreme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extreme {
    /// The SQL aggregate picking it from candidates (`min`/`max`).
    pub pick: &'static str,
    /// Combines a stored extreme with a new candidate (`LEAST`/`GREATEST`).
    pub combine: &'static str,
    /// A gone value `g` forces a recompute of extreme `e` when `g <op> e`.
    pub reaches: &'static str,
    /// Index order of the value table that yields it first (`""` / `" DESC"`).
    pub order: &'static str,
}

/// Where a value-table transition reads per (group, value): the value, its multiplicity
/// change, and its multiplicity before the batch.
pub struct ValueChange<'a> {
    pub value: &'a str,
    pub change: &'a str,
    pub old: &'a str,
}

impl StateKind {
    /// Prefix of the state's column name (`__cnt_1`).
    pub fn prefix(self) -> &'static str {
        match self {
            StateKind::Rows => "rows",
            StateKind::Count => "cnt",
            StateKind::Sum => "sum",
            StateKind::Min => "min",
            StateKind::Max => "max",
            StateKind::DistinctCount => "dcnt",
            StateKind::DistinctSum => "dsum",
        }
    }

    /// Additive states: a delta is added to the stored value.
    pub fn is_linear(self) -> bool {
        self.extreme().is_none()
    }

    /// States fed by a value table (DISTINCT and min/max), not by rows directly.
    pub fn needs_values(self) -> bool {
        matches!(
            self,
            StateKind::Min | StateKind::Max | StateKind::DistinctCount | StateKind::DistinctSum
        )
    }

    pub fn extreme(self) -> Option<Extreme> {
        match self {
            StateKind::Min => Some(Extreme {
                pick: "min",
                combine: "LEAST",
                reaches: "<=",
                order: "",
            }),
            StateKind::Max => Some(Extreme {
                pick: "max",
                combine: "GREATEST",
                reaches: ">=",
                order: " DESC",
            }),
            _ => None,
        }
    }

    /// The state over no rows: `None` is NULL (an extreme of nothing).
    pub fn empty(self, type_sql: &str) -> Option<String> {
        self.is_linear().then(|| zero(type_sql))
    }

    /// One view row's contribution, for states fed by rows: `sign` is ±1, `arg` the row's
    /// argument value. `None` for states fed by a value table.
    pub fn row_contribution(self, sign: &str, arg: &str, type_sql: &str) -> Option<String> {
        match self {
            StateKind::Rows => Some(sign.to_string()),
            StateKind::Count => Some(format!(
                "CASE WHEN {arg} IS NOT NULL THEN {sign} ELSE 0 END"
            )),
            StateKind::Sum => Some(format!(
                "CASE WHEN {sign} > 0 THEN {arg} ELSE {} END",
                negated(arg, type_sql)
            )),
            _ => None,
        }
    }

    /// A partial group's contribution (eager aggregation): `partial` is the state over the
    /// partial group's rows, `sign` the ±1 of the change row it is joined with. `None` for
    /// states that are not sums of their partials (those fed by a value table).
    pub fn weighted_contribution(
        self,
        sign: &str,
        partial: &str,
        type_sql: &str,
    ) -> Option<String> {
        match self {
            StateKind::Rows | StateKind::Count | StateKind::Sum => Some(format!(
                "CASE WHEN {sign} > 0 THEN {partial} ELSE {} END",
                negated(partial, type_sql)
            )),
            _ => None,
        }
    }

    /// The state's change per group from its value table's per-value changes, as aggregate
    /// expressions over [`ValueChange`] rows: `(contribution, gone extreme)`.
    pub fn value_transition(self, v: &ValueChange<'_>, type_sql: &str) -> (String, Option<String>) {
        let appeared = format!("{} = 0", v.old);
        let went = format!("{} + {} = 0", v.old, v.change);
        match self {
            StateKind::DistinctCount => (
                format!("sum(CASE WHEN {appeared} THEN 1 WHEN {went} THEN -1 ELSE 0 END)::int8"),
                None,
            ),
            StateKind::DistinctSum => (
                format!(
                    "sum(CASE WHEN {appeared} THEN {value} WHEN {went} THEN {} END)::{type_sql}",
                    negated(v.value, type_sql),
                    value = v.value
                ),
                None,
            ),
            StateKind::Min | StateKind::Max => {
                let pick = self.extreme().expect("min/max").pick;
                (
                    format!("{pick}({}) FILTER (WHERE {} > 0)", v.value, v.change),
                    Some(format!("{pick}({}) FILTER (WHERE {went})", v.value)),
                )
            }
            StateKind::Rows | StateKind::Count | StateKind::Sum => {
                unreachable!("{self:?} is fed by rows, not by a value table")
            }
        }
    }

    /// How contributions of one group are consolidated (`sum`, or the extreme's pick).
    pub fn consolidate(self, contributions: &str, type_sql: &str) -> String {
        match self.extreme() {
            Some(e) => format!("{}({contributions})", e.pick),
            None => format!(
                "coalesce(sum({contributions}), {})::{type_sql}",
                zero(type_sql)
            ),
        }
    }

    /// The condition under which a consolidated delta changes nothing.
    pub fn is_noop(self, delta: &str, type_sql: &str) -> String {
        match self.extreme() {
            Some(_) => format!("{delta} IS NULL"),
            None => format!("{delta} = {}", zero(type_sql)),
        }
    }

    /// The stored value after adding `delta`.
    pub fn combine(self, stored: &str, delta: &str) -> String {
        match self.extreme() {
            Some(e) => format!("{}({stored}, {delta})", e.combine),
            None => format!("{stored} + {delta}"),
        }
    }

    /// The type of a per-row contribution: counts and sums of int2/int4 (a bigint state) are
    /// int4, so Postgres sums them in a machine integer; the rest have the state's type.
    pub fn contribution_type(self, type_sql: &str) -> &str {
        match self {
            StateKind::Rows | StateKind::Count | StateKind::DistinctCount => "int4",
            StateKind::Sum if type_sql == "bigint" => "int4",
            _ => type_sql,
        }
    }
}

/// The type and collation of an aggregate's argument, as Postgres resolved it.
#[derive(Debug, Clone, Default)]
pub struct ArgType {
    pub type_sql: String,
    pub with_collation: String,
}

/// The states and value tables of a plan, collected per aggregate (equal ones shared).
#[derive(Default)]
pub struct StateSet {
    pub states: Vec<StateColumn>,
    pub value_tables: Vec<ValueTable>,
    /// Sum-like states whose type is Postgres' `sum()` over the given expression.
    pub sum_probes: Vec<(usize, String)>,
}

impl StateSet {
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
        self.states.push(StateColumn {
            column: format!("__{}_{}", kind.prefix(), self.states.len()),
            kind,
            arg: arg.map(str::to_string),
            type_sql: "bigint".into(),
            values,
        });
        self.states.len() - 1
    }

    /// The row count every plan keeps.
    pub fn rows(&mut self) -> usize {
        self.state(StateKind::Rows, None, None)
    }

    fn values(&mut self, arg: &str, arg_type: &ArgType) -> usize {
        if let Some(j) = self.value_tables.iter().position(|v| v.arg == arg) {
            return j;
        }
        self.value_tables.push(ValueTable {
            arg: arg.to_string(),
            type_sql: arg_type.with_collation.clone(),
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
    pub fn add(&mut self, agg: &AggCall, arg_type: &ArgType) -> Finalize {
        let rows = self.rows();
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
                self.states[s].type_sql = arg_type.with_collation.clone();
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
}

/// The types a sum-like state may have: those summa can subtract from exactly.
pub fn sum_type_is_exact(type_sql: &str) -> bool {
    matches!(
        type_sql,
        "bigint" | "numeric" | "real" | "double precision" | "interval" | "money"
    )
}

/// How an aggregate's value is computed from the stored state columns.
pub enum Finalize {
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

    /// The aggregate's value over the stored state columns.
    pub fn sql(&self, states: &[StateColumn]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_states_add_and_extremes_pick() {
        assert!(StateKind::DistinctCount.is_linear());
        assert!(StateKind::DistinctCount.needs_values());
        assert!(!StateKind::Min.is_linear());
        assert_eq!(StateKind::Sum.combine("t.s", "d.s"), "t.s + d.s");
        assert_eq!(StateKind::Max.combine("t.m", "d.m"), "GREATEST(t.m, d.m)");
        assert_eq!(StateKind::Min.empty("integer"), None);
        assert_eq!(
            StateKind::Count.empty("bigint").as_deref(),
            Some("'0'::bigint")
        );
        assert_eq!(
            StateKind::Sum.row_contribution("s", "x", "money").unwrap(),
            "CASE WHEN s > 0 THEN x ELSE (x) * -1 END"
        );
        assert_eq!(StateKind::Min.row_contribution("s", "x", "int"), None);
        assert_eq!(StateKind::Sum.contribution_type("bigint"), "int4");
        assert_eq!(StateKind::Sum.contribution_type("numeric"), "numeric");
    }
}

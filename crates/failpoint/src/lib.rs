//! Named crash points for fault tests.
//!
//! `SUMMA_FAILPOINTS="apply.batch.after_commit=3,catalog.backfill.chunk=1"` makes the process
//! abort (no destructors, no goodbye to the server: what `kill -9` does) the 3rd time it passes
//! `apply.batch.after_commit`, or the 1st time it passes `catalog.backfill.chunk`. Unset (as in
//! production) every [`hit`] is one relaxed atomic load.
//!
//! The points, in the order a change meets them, are listed in [`POINTS`]; the fault tests pick
//! among them by seed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Every crash point the code passes, with where it sits.
pub const POINTS: &[(&str, &str)] = &[
    (
        "apply.chunk.shipped",
        "a chunk of a large transaction was shipped into the open target transaction",
    ),
    (
        "apply.batch.merged",
        "a batch's deltas were merged, the target transaction is not committed",
    ),
    (
        "apply.batch.after_commit",
        "a batch is committed in the target, its LSN not yet acknowledged to the slot",
    ),
    (
        "apply.drain.merged",
        "a joining version's pending chunk was moved to staging, not yet merged or committed",
    ),
    (
        "catalog.backfill.chunk",
        "`summa create` finished a backfill chunk (its transaction is open)",
    ),
    (
        "catalog.promote.swapped",
        "`summa promote` replaced the alias view, not yet committed",
    ),
];

const ENV: &str = "SUMMA_FAILPOINTS";

fn armed() -> &'static HashMap<String, AtomicU64> {
    static ARMED: OnceLock<HashMap<String, AtomicU64>> = OnceLock::new();
    ARMED.get_or_init(|| parse(&std::env::var(ENV).unwrap_or_default()))
}

fn parse(spec: &str) -> HashMap<String, AtomicU64> {
    spec.split(',')
        .filter_map(|item| {
            let (name, count) = item.trim().split_once('=').unwrap_or((item.trim(), "1"));
            let count: u64 = count.trim().parse().ok()?;
            (!name.is_empty() && count > 0).then(|| (name.to_string(), AtomicU64::new(count)))
        })
        .collect()
}

/// Pass crash point `name`: aborts the process when it is armed and its count runs out.
pub fn hit(name: &'static str) {
    let armed = armed();
    if armed.is_empty() {
        return;
    }
    if let Some(left) = armed.get(name) {
        if left.fetch_sub(1, Ordering::SeqCst) == 1 {
            eprintln!("failpoint {name}: aborting the process");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_counts() {
        let armed = parse("a=3, b ,c=0,=2,d=x");
        assert_eq!(armed.get("a").map(|c| c.load(Ordering::SeqCst)), Some(3));
        assert_eq!(armed.get("b").map(|c| c.load(Ordering::SeqCst)), Some(1));
        assert!(!armed.contains_key("c") && !armed.contains_key("d") && armed.len() == 2);
    }
}

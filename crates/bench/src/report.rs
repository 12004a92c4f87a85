//! `report.md`: the machine, the command, one table per scenario with the median (min–max) of
//! each figure, and the target beside it with whether it was met. Targets are goals from
//! shared/research/perf-anchors.md, not assertions.

use std::fmt::Write;

use super::results::{FreshRow, Results};
use super::stats::{num, ratio};

/// Targets are stated for this table size (10M rows).
const TARGET_ROWS: u64 = 10_000_000;

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "—",
    }
}

fn x(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{}×", num(v))
    }
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# summa bench report\n");
    let _ = writeln!(
        s,
        "- date: {}\n- command: `{}`\n- summa {}; the run took {:.0} s{}",
        r.date,
        r.command,
        r.summa_version,
        r.elapsed_s,
        if r.options.quick {
            " (quick mode: small N and short durations; timings are indicative only)"
        } else {
            ""
        }
    );
    machine(&mut s, r);
    verification(&mut s, r);
    fresh(&mut s, r);
    growth(&mut s, r);
    sustained(&mut s, r);
    overhead(&mut s, r);
    bulk(&mut s, r);
    ceiling(&mut s, r);
    join(&mut s, r);
    tpch(&mut s, r);
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    if !r.plots.is_empty() {
        let _ = writeln!(s, "\n## Plots\n");
        for p in r.plots.iter().filter(|p| p.ends_with(".svg")) {
            let _ = writeln!(s, "![{p}]({p})\n");
        }
    }
    s
}

fn machine(s: &mut String, r: &Results) {
    let m = &r.machine;
    let _ = writeln!(s, "\n## Machine\n");
    let _ = writeln!(
        s,
        "- {} cores ({}), {:.1} GiB memory, Linux {}\n- {} ({})\n- load average (1/5/15 min) at start {}, at end {}: the machine is shared, so compare ratios within this run, not absolute figures across runs",
        m.cores,
        m.cpu,
        m.memory_gib,
        m.kernel,
        m.postgres,
        if m.private_cluster {
            "private cluster started by the bench; the sidecar, writers and server share the machine"
        } else {
            "given database"
        },
        m.load_start,
        m.load_end
    );
    let settings: Vec<String> = m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "- server settings: {}", settings.join(", "));
}

fn verification(s: &mut String, r: &Results) {
    let _ = writeln!(s, "\n## Verification\n");
    if r.verified.is_empty() {
        let _ = writeln!(s, "Nothing was verified (no scenario ran to its end).");
        return;
    }
    let failed = r.verified.iter().filter(|v| !v.equal).count();
    let _ = writeln!(
        s,
        "{}\n",
        if failed == 0 {
            "Every view measured was compared with its SELECT on the source after its scenarios: **all equal**."
        } else {
            "**VERIFICATION FAILED: the figures below are not valid.**"
        }
    );
    let _ = writeln!(s, "| view | when | groups | result |\n|---|---|---|---|");
    for v in &r.verified {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            v.view,
            v.when,
            v.groups,
            if v.equal {
                "equal".to_string()
            } else {
                format!("**different**: {}", v.differences.join("; "))
            }
        );
    }
}

/// The ratio target of a row (vs REFRESH), stated at 10M rows.
fn fresh_target(row: &FreshRow) -> Option<f64> {
    match (row.k, row.view.as_str()) {
        (1_000, _) => Some(250.0),
        (10_000, "V1") => Some(30.0),
        (10_000, "V2") => Some(65.0),
        _ => None,
    }
}

fn fresh(s: &mut String, r: &Results) {
    if r.fresh.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n## 1. Time to fresh after one committed change transaction\n"
    );
    let _ = writeln!(
        s,
        "K rows changed in one transaction (half updates moving rows between customers, days and \
         statuses; a quarter inserts; a quarter deletes; rows picked at random). **summa**: from \
         COMMIT returning until the summary holds the transaction. **REFRESH** / **CONCURRENTLY**: \
         `REFRESH MATERIALIZED VIEW [CONCURRENTLY]` of the same SELECT, right after. **floor**, \
         measured in the same run on another transaction of K (the sidecar stopped meanwhile): the \
         time from COMMIT returning until a bare consumer streaming a slot through summa's decoder, \
         with no apply, received the transaction's Commit + one upsert of the distinct groups it \
         touched into a table shaped like the view's. summa's time splits (wall clock) into \
         **receive** (COMMIT returned → summa's target transaction began: walsender decode and send, \
         summa's decode, batching; compare with the floor's decode; for K above `chunk_rows` the \
         target transaction begins with the first shipped chunk, so receive is shorter) and **apply** (the target \
         transaction: merge, bookkeeping, commit; compare with the floor's upsert). Every sidecar \
         session applies six small batches before it is measured, as a long-running one has. \
         Median of {} (min–max).\n",
        r.options.repeat
    );
    let _ = writeln!(
        s,
        "Views: V1 = `{}`; V2 = `{}`. V3, the join with `regions`, is section 7.\n",
        summa_cli::workload::V1,
        summa_cli::workload::V2
    );
    let _ = writeln!(
        s,
        "| view | N | K | changes | groups | summa (receive + apply) | REFRESH | REFRESH ÷ summa | CONCURRENTLY | CONC. ÷ summa | floor (decode + upsert) | summa ÷ floor | target (at 10M rows) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &r.fresh {
        let ratio_target = fresh_target(row).map(|t| {
            let at_size = row.rows >= TARGET_ROWS * 9 / 10;
            let met = at_size.then_some(row.vs_refresh() >= t);
            format!("≥ {}× REFRESH: {}", num(t), verdict(met))
        });
        let floor_met = row.vs_floor() <= 1.5;
        let target = match ratio_target {
            Some(t) => format!("{t}; ≤ 1.5× floor: {}", verdict(Some(floor_met))),
            None => format!("≤ 1.5× floor: {}", verdict(Some(floor_met))),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} ({} + {}) | {} | **{}** | {} | {} | {} ({} + {}) | {} | {} |",
            row.view,
            row.rows,
            row.k,
            num(row.changes.median),
            num(row.groups.median),
            row.summa_ms.show(" ms"),
            num(row.receive_ms.median),
            num(row.apply_ms.median),
            row.refresh_ms.show(" ms"),
            x(row.vs_refresh()),
            row.concurrently_ms.show(" ms"),
            x(row.vs_concurrently()),
            row.floor_ms.show(" ms"),
            num(row.decode_ms.median),
            num(row.upsert_ms.median),
            x(row.vs_floor()),
            target
        );
    }
    // Reference figures of perf-anchors beside this run's.
    let largest = r.fresh.iter().map(|f| f.rows).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "\nReference figures (shared/research/perf-anchors.md, measured on this machine type):"
    );
    for (view, anchor) in [("V1", 2.7), ("V2", 2.6)] {
        if let Some(row) = r
            .fresh
            .iter()
            .filter(|f| f.view == view && f.rows == largest)
            .min_by_key(|f| f.k)
        {
            let _ = writeln!(
                s,
                "- REFRESH of {view} on 10M rows ≈ {anchor} s; this run at N = {}: {} s",
                row.rows,
                num(row.refresh_ms.median / 1000.0)
            );
        }
    }
    if let Some(row) = r
        .fresh
        .iter()
        .filter(|f| f.view == "V1" && f.k == 10_000)
        .max_by_key(|f| f.rows)
    {
        let _ = writeln!(
            s,
            "- one upsert of 10k group deltas ≈ 65 ms; this run (V1, K = 10k, N = {}): {} groups in {} ms",
            row.rows,
            num(row.groups.median),
            num(row.upsert_ms.median)
        );
    }
    let mins: u64 = r.fresh.iter().map(|f| f.recomputed).sum();
    if mins > 0 {
        let _ = writeln!(
            s,
            "- V2's min/max was recomputed from its value table for {mins} groups over all change batches."
        );
    }
    backfill(s, r);
}

/// Each version's backfill (the whole `summa create`) against `CREATE MATERIALIZED VIEW …
/// WITH DATA` of the same SELECT with its unique index and ANALYZE, once per view and N.
fn backfill(s: &mut String, r: &Results) {
    let mut rows: Vec<(&str, u64, f64, f64)> = Vec::new();
    let fresh = r
        .fresh
        .iter()
        .map(|f| (f.view.as_str(), f.rows, f.backfill_s, f.create_mv_s));
    let joins = r
        .join
        .iter()
        .map(|j| (j.view.as_str(), j.rows, j.backfill_s, j.create_mv_s));
    for row in fresh.chain(joins) {
        if !rows.iter().any(|(v, n, _, _)| *v == row.0 && *n == row.1) {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Backfill against CREATE MATERIALIZED VIEW\n\n**summa**: the whole `summa create` \
         (plan, slot and snapshot, the bulk load of summary, value and any join state, their \
         indexes, ANALYZE). **CREATE MV**: `CREATE MATERIALIZED VIEW … WITH DATA` of the same \
         SELECT, its unique index on the group keys and ANALYZE, in the same run.\n\n\
         | view | N | summa | CREATE MV | summa ÷ CREATE MV | target |\n|---|---|---|---|---|---|"
    );
    for (view, n, summa_s, mv_s) in rows {
        let ratio = summa_s / mv_s.max(1e-9);
        let _ = writeln!(
            s,
            "| {view} | {n} | {} s | {} s | **{}** | ≤ 1.5×: {} |",
            num(summa_s),
            num(mv_s),
            x(ratio),
            verdict(Some(ratio <= 1.5))
        );
    }
}

fn growth(s: &mut String, r: &Results) {
    let views: Vec<&str> = ["V1", "V2"]
        .into_iter()
        .filter(|v| r.growth(v).len() >= 2)
        .collect();
    if views.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n## 2. Growth: time to fresh at K = {} as N grows\n",
        r.options.growth_k
    );
    let _ = writeln!(
        s,
        "| view | N | summa | REFRESH | CONCURRENTLY |\n|---|---|---|---|---|"
    );
    for v in &views {
        for row in r.growth(v) {
            let _ = writeln!(
                s,
                "| {v} | {} | {} | {} | {} |",
                row.rows,
                row.summa_ms.show(" ms"),
                row.refresh_ms.show(" ms"),
                row.concurrently_ms.show(" ms")
            );
        }
    }
    let _ = writeln!(s);
    for v in &views {
        let g = r.growth(v);
        let (a, b) = (g[0], g[g.len() - 1]);
        let summa = ratio(b.summa_ms.median, a.summa_ms.median);
        let refresh = ratio(b.refresh_ms.median, a.refresh_ms.median);
        let _ = writeln!(
            s,
            "- {v}: N × {}: summa × {} (target ≤ 1.2×: {}), REFRESH × {} (grows ~N)",
            num(b.rows as f64 / a.rows as f64),
            num(summa),
            verdict(Some(summa <= 1.2)),
            num(refresh)
        );
    }
}

fn sustained(s: &mut String, r: &Results) {
    if r.sustained.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## 3. Sustained load\n");
    let _ = writeln!(
        s,
        "Two writer connections, transactions of 20 inserts + 20 updates + 10 deletes (some NULL \
         customers and amounts), paced to the target rate; V1 and V2 live on one stream, the \
         sidecar a child process. Lag sampled every 100 ms: the age of the newest applied source \
         commit while WAL is pending. Applied rate: changes written ÷ (writing time + time to \
         apply the rest after the writers stopped). CPU: the sidecar's, over the same time (100% = \
         one core). Batches and batch durations (a batch's first change to its commit, so they \
         include any wait for more changes, up to `apply.max_batch_delay_ms`) are read from the sidecar's `/metrics`: \
         the mean is exact, p50 and p99 are interpolated inside the histogram's buckets.\n"
    );
    let _ = writeln!(
        s,
        "| target | written | applied | caught up after stop | lag p50 | lag p99 | lag max | sidecar CPU | sidecar RSS | batches | batch mean / p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &r.sustained {
        let _ = writeln!(
            s,
            "| {}/s | {}/s | {}/s | {} ms | {} ms | {} ms | {} ms | {}% | {} MiB | {} | {} / {} / {} ms |",
            row.target_rate,
            num(row.written_rate),
            num(row.applied_rate),
            num(row.catchup_ms),
            num(row.lag_p50_ms),
            num(row.lag_p99_ms),
            num(row.lag_max_ms),
            num(row.cpu_pct),
            num(row.rss_max_mib),
            row.batches,
            num(row.batch_ms_mean),
            num(row.batch_ms_p50),
            num(row.batch_ms_p99)
        );
    }
    let kept_up = |row: &&super::results::SustainedRow| row.lag_p99_ms < 1000.0;
    let best = r
        .sustained
        .iter()
        .filter(kept_up)
        .map(|row| row.applied_rate)
        .fold(0.0, f64::max);
    let max_written = r
        .sustained
        .iter()
        .map(|row| row.written_rate)
        .fold(0.0, f64::max);
    let met = best >= 50_000.0;
    let _ = write!(
        s,
        "\nTarget ≥ 50k changes/s applied with lag p99 < 1 s: {}. Highest rate applied with p99 < 1 s: {}/s; the writers reached at most {}/s on this machine",
        verdict(Some(met)),
        num(best),
        num(max_written)
    );
    if let Some(c) = &r.ceiling {
        let _ = write!(
            s,
            "; the decode ceiling measured below is {}/s, so that is {}% of it",
            num(c.decode_rate),
            num(best / c.decode_rate * 100.0)
        );
    }
    let _ = writeln!(s, ".");
}

fn overhead(s: &mut String, r: &Results) {
    let Some(o) = &r.overhead else { return };
    let _ = writeln!(s, "\n## 4. Writer overhead\n");
    let _ = writeln!(
        s,
        "pgbench, {} clients, {} s per run, rounds interleaved (median of {}); the rounds with the \
         join V3 live (beside V1 and V2) follow them, then pg_ivm's. Each transaction inserts one \
         order and updates one (script below).\n",
        o.clients, o.seconds, r.options.repeat
    );
    let _ = writeln!(
        s,
        "| setup | tps | × no views | target |\n|---|---|---|---|"
    );
    let floor = o
        .rows
        .iter()
        .find(|x| x.setup.starts_with("bare"))
        .map(|x| x.vs_none);
    let ivm = o
        .rows
        .iter()
        .find(|x| x.setup.starts_with("pg_ivm"))
        .map(|x| x.tps.median);
    for row in &o.rows {
        let target = if row.setup.starts_with("summa") {
            let mut t = format!("≥ 0.9×: {}", verdict(Some(row.vs_none >= 0.9)));
            if let Some(f) = floor {
                let _ = write!(
                    t,
                    "; within 0.05 of the bare consumer ({}): {}",
                    num(f),
                    verdict(Some(f - row.vs_none <= 0.05))
                );
            }
            match ivm {
                Some(i) => {
                    let v = ratio(row.tps.median, i);
                    let _ = write!(t, "; ≥ 8× pg_ivm ({}): {}", x(v), verdict(Some(v >= 8.0)));
                }
                None => t.push_str("; vs pg_ivm: not measured"),
            }
            t
        } else if row.setup.starts_with("bare") {
            "reference: ≈ 0.92× (perf-anchors)".into()
        } else if row.setup.starts_with("pg_ivm") {
            "reference: ≈ 0.11× (perf-anchors)".into()
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.setup,
            row.tps.show(""),
            x(row.vs_none),
            target
        );
    }
    if let Some(reason) = &o.pg_ivm_unavailable {
        let _ = writeln!(
            s,
            "\npg_ivm: **not measured** — `CREATE EXTENSION pg_ivm` failed on this server: {reason}. \
             (perf-anchors measured pg_ivm 1.15-prep IMMVs of V1 and V2 at 0.11× of no views on this machine type; that figure is not from this run.)"
        );
    }
    let _ = writeln!(
        s,
        "\nAfter each summa run the sidecar had applied everything pgbench wrote {} after pgbench ended.",
        o.summa_catchup_ms.show(" ms")
    );
    let _ = writeln!(s, "\n```\n{}```", o.script);
}

fn bulk(s: &mut String, r: &Results) {
    let Some(b) = &r.bulk else { return };
    let _ = writeln!(
        s,
        "\n## 5. Bulk: one transaction of {} inserted rows\n",
        b.rows
    );
    let _ = writeln!(
        s,
        "| statement + commit | applied after the commit | longest batch (first change to commit) | longest merge statement | sidecar RSS at start | sidecar peak RSS | target |\n|---|---|---|---|---|---|---|\n| {} s | {} s | {} s | {} s | {} MiB | {} MiB | peak ≤ 256 MiB: {}; longest merge ≤ budget ({} s): {} |",
        num(b.statement_s),
        num(b.applied_after_commit_s),
        num(b.longest_batch_ms / 1000.0),
        num(b.longest_merge_ms / 1000.0),
        num(b.rss_before_mib),
        num(b.rss_peak_mib),
        verdict(Some(b.rss_peak_mib <= 256.0)),
        num(b.budget_ms as f64 / 1000.0),
        verdict(Some(b.longest_merge_ms <= b.budget_ms as f64))
    );
    if let Some(d) = r.ceiling.as_ref().and_then(|c| c.bulk_decode_s) {
        let _ = writeln!(
            s,
            "\nThe same transaction drained from a bare slot through the decoder alone took {} s (from START_REPLICATION, WAL read and reorder buffer included).",
            num(d)
        );
    }
}

fn ceiling(s: &mut String, r: &Results) {
    let Some(c) = &r.ceiling else { return };
    let _ = writeln!(s, "\n## 6. Decode ceiling\n");
    let _ = writeln!(
        s,
        "A backlog written by the sustained-load writers at full speed with the sidecar stopped, \
         drained from a bare slot through summa's pgoutput decoder with no apply, then applied by \
         summa (V1 and V2) from its own slot (time from starting the sidecar process).\n"
    );
    let _ = writeln!(
        s,
        "| changes | transactions | pgoutput bytes | decoder alone | summa applying | summa ÷ ceiling | target |\n|---|---|---|---|---|---|---|\n| {} | {} | {} MiB | {} s = **{}/s** | {} s = **{}/s** | {}% | walsender decodes ≈ 360–470k changes/s (perf-anchors) |",
        c.changes,
        c.transactions,
        num(c.bytes as f64 / 1048576.0),
        num(c.decode_s),
        num(c.decode_rate),
        num(c.apply_s),
        num(c.apply_rate),
        num(c.apply_rate / c.decode_rate * 100.0)
    );
}

fn join(s: &mut String, r: &Results) {
    if r.join.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## 7. A join: V3\n");
    let _ = writeln!(
        s,
        "V3 = `{}`, alone on its stream at the run's largest N. **summa**: from COMMIT returning \
         until the summary holds the transaction, for {} orders changed as in section 1, and for \
         the rename of one region (every order of the region moves to another group). \
         **REFRESH**: of the same SELECT, right after. There is no floor column: a join's delta \
         is joined against the other input's copy at the stream position (docs/architecture.md, \
         Joins). **View-row deltas**: what the sidecar merged (`summa_view_row_deltas_total`); \
         V3 is eager, so a rename meets the region's partial group, not its orders. Median of {} \
         (min–max).\n",
        summa_cli::workload::V3,
        super::join::FACT_K,
        r.options.repeat
    );
    let _ = writeln!(
        s,
        "| N | change | view rows moved | view-row deltas | summa | REFRESH | REFRESH ÷ summa | target (at 10M rows) |\n|---|---|---|---|---|---|---|---|"
    );
    for row in &r.join {
        let target = if row.change.contains("region") {
            50.0
        } else {
            100.0
        };
        let met = (row.rows >= TARGET_ROWS * 9 / 10).then_some(row.vs_refresh() >= target);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | **{}** | ≥ {}× REFRESH: {} |",
            row.rows,
            row.change,
            num(row.view_rows.median),
            num(row.view_row_deltas.median),
            row.summa_ms.show(" ms"),
            row.refresh_ms.show(" ms"),
            x(row.vs_refresh()),
            num(target),
            verdict(met)
        );
    }
}

/// TPC-H's target: every query at least this many times faster than its REFRESH, at SF 1.
const TPCH_TARGET: f64 = 50.0;

fn tpch(s: &mut String, r: &Results) {
    let Some(t) = &r.tpch else {
        return;
    };
    let _ = writeln!(s, "\n## 8. TPC-H\n");
    let _ = writeln!(
        s,
        "TPC-H at SF {} (tpchgen; {}; loaded in {:.0} s). Q1, Q3, Q5, Q6, Q10, Q12 and Q14 with \
         the spec's validation parameters, ORDER BY and LIMIT removed, as summa versions ({:.1} s \
         of `summa create`) {}, each beside a materialized view of the same SELECT. Changes, each one transaction (seed {}): RF1 \
         ({} new orders with 1–7 lineitems each), RF2 ({} oldest orders and their lineitems \
         deleted), one ASIA nation renamed, {} customers' `c_mktsegment`, {} parts' `p_type`. \
         **summa**: from COMMIT returning until the sidecar applied the transaction {}. \
         **REFRESH**: of the query's materialized view, right after, alone. Median of {} (min–max). \
         The sidecar ran with statement_budget_ms = {} (the bench raises it: an RF step's \
         merge may run longer than the default).\n",
        num(t.sf),
        t.tables
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        t.load_s,
        t.backfill_s,
        if t.alone {
            "each alone on its stream, one after the other"
        } else {
            "created together (one snapshot) and live together on one stream"
        },
        t.seed,
        t.step_orders,
        t.step_orders,
        t.dim_rows,
        t.dim_rows,
        if t.alone {
            "to the query's version"
        } else {
            "to all seven versions (one batch: the same figure on every query's row; a query's \
             ratio is its REFRESH against the whole batch, \"all seven\" adds the seven \
             REFRESHes up)"
        },
        r.options.repeat,
        t.budget_ms
    );
    let _ = writeln!(
        s,
        "| query | change | source rows | summa | REFRESH | REFRESH ÷ summa | target (at SF 1) |\n|---|---|---|---|---|---|---|"
    );
    for row in &t.rows {
        let target = if row.query == "all seven" {
            "—".to_string()
        } else {
            let met = (t.sf >= 0.9).then_some(row.vs_refresh >= TPCH_TARGET);
            format!("≥ {}×: {}", num(TPCH_TARGET), verdict(met))
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | **{}** | {} |",
            row.query,
            row.change,
            num(row.source_rows.median),
            row.summa_ms.show(" ms"),
            row.refresh_ms.show(" ms"),
            x(row.vs_refresh),
            target
        );
    }
    let _ = writeln!(s, "\n| query | backfill | verified |\n|---|---|---|");
    let mut seen: Vec<&str> = Vec::new();
    for row in &t.rows {
        if seen.contains(&row.query.as_str()) {
            continue;
        }
        seen.push(&row.query);
        let _ = writeln!(
            s,
            "| {} | {:.1} s | {} |",
            row.query,
            row.backfill_s,
            if row.verified {
                "equal"
            } else {
                "**different**"
            }
        );
    }
}

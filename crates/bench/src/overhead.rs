//! Writer overhead (scenario 4): pgbench throughput of a small write transaction with no
//! views, with a bare WAL consumer (pg_recvlogical draining a pgoutput slot: the floor for any
//! WAL sidecar), with summa maintaining V1 and V2, and with pg_ivm IMMVs of both when the
//! server has the extension. Rounds are interleaved so drift of the machine's load hits every
//! setup alike. The rounds with the join V3 live beside V1 and V2 follow those (V3 created
//! once for them, verified, then dropped), and pg_ivm's come last.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::drain::{self, PUBLICATION};
use super::results::{Overhead, OverheadRow};
use super::sidecar;
use super::stats::{num, ratio, Stat};
use super::{bar, Ctx, JOIN_VIEW, SCHEMA};
use indicatif::ProgressBar;

/// One insert and one update of `orders` per transaction (as shared/research/perf-anchors.md).
fn script() -> String {
    format!(
        "\\set cid random(1, 100000)\n\
         \\set aid random(1, :maxid)\n\
         BEGIN;\n\
         INSERT INTO {SCHEMA}.orders (customer_id, region_id, status, amount, created_at) VALUES (:cid, 1 + :cid % 20, (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + :cid % 5], round((random() * 500)::numeric, 2), timestamptz '2025-01-01 00:00:00+00' + random() * interval '365 days');\n\
         UPDATE {SCHEMA}.orders SET amount = round((random() * 500)::numeric, 2) WHERE id = :aid;\n\
         END;\n"
    )
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Some(bin) = ctx.pg_bin.clone() else {
        ctx.results.notes.push(
            "writer overhead not measured: pgbench and pg_recvlogical not found (set SUMMA_PG_BIN)"
                .into(),
        );
        return Ok(());
    };
    let (pgbench, recv) = (bin.join("pgbench"), bin.join("pg_recvlogical"));
    if !pgbench.is_file() || !recv.is_file() {
        ctx.results.notes.push(format!(
            "writer overhead not measured: no pgbench or pg_recvlogical in {}",
            bin.display()
        ));
        return Ok(());
    }
    let script_path = ctx.out.join("pgbench-writer.sql");
    std::fs::write(&script_path, script())?;
    let secs = ctx.opts.pgbench_seconds;
    let clients = ctx.opts.pgbench_clients;
    let repeat = ctx.opts.repeat;
    let url = ctx.url.clone();
    let bench = Pgbench {
        exe: &pgbench,
        script: &script_path,
        url: &url,
        seconds: secs,
        clients,
    };
    let ivm = ivm_available(ctx).await;
    let setups = 4 + usize::from(ivm.is_ok());
    let b = bar(
        (repeat * setups) as u64,
        &format!("pgbench runs of {secs} s, {clients} clients"),
    );
    let recv_slot = ctx.slot("recv");
    let (mut none, mut floor, mut summa, mut catchup) = (vec![], vec![], vec![], vec![]);
    for _ in 0..repeat {
        none.push(bench.run(&ctx.client).await?);
        b.inc(1);

        drain::drop_slot(&ctx.client, &recv_slot).await?;
        ctx.client
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&recv_slot],
            )
            .await?;
        let mut consumer = Command::new(&recv)
            .args(["-d", ctx.url.as_str(), "--slot", recv_slot.as_str()])
            .args(["--start", "--no-loop", "-F", "0"])
            .args(["-o", "proto_version=1", "-o"])
            .arg(format!("publication_names={PUBLICATION}"))
            .args(["-f", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start pg_recvlogical")?;
        wait_slot_active(&ctx.client, &recv_slot).await?;
        let tps = bench.run(&ctx.client).await;
        let _ = consumer.kill();
        let _ = consumer.wait();
        drain::drop_slot(&ctx.client, &recv_slot).await?;
        floor.push(tps?);
        b.inc(1);

        let child = ctx.start_child().await?;
        let marker = sidecar::commit_marker(&ctx.client).await?;
        sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(900)).await?;
        let tps = bench.run(&ctx.client).await;
        let ended = Instant::now();
        let marker = sidecar::commit_marker(&ctx.client).await?;
        sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(900)).await?;
        catchup.push(ended.elapsed().as_secs_f64() * 1000.0);
        child.stop().await?;
        summa.push(tps?);
        b.inc(1);
    }
    let join_tps = with_join(ctx, &bench, &b).await?;
    let mut ivm_tps = Vec::new();
    if ivm.is_ok() {
        // IMMVs slow every writer, so their rounds come last, with the IMMVs created once.
        create_immvs(ctx).await?;
        for _ in 0..repeat {
            ivm_tps.push(bench.run(&ctx.client).await?);
            b.inc(1);
        }
        ctx.client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {SCHEMA}.immv_v1, {SCHEMA}.immv_v2"
            ))
            .await?;
    }
    b.finish_and_clear();
    let none = Stat::of(none);
    let row = |setup: &str, tps: Vec<f64>| {
        let tps = Stat::of(tps);
        OverheadRow {
            setup: setup.into(),
            vs_none: ratio(tps.median, none.median),
            tps,
        }
    };
    let mut rows = vec![
        OverheadRow {
            setup: "no views".into(),
            tps: none.clone(),
            vs_none: 1.0,
        },
        row(
            "bare WAL consumer (pg_recvlogical draining a pgoutput slot)",
            floor,
        ),
        row("summa maintaining V1 and V2", summa),
        row("summa maintaining V1, V2 and the join V3", join_tps),
    ];
    if ivm.is_ok() {
        rows.push(row("pg_ivm IMMVs of V1 and V2", ivm_tps));
    }
    for r in &rows {
        println!(
            "  writer: {}: {} tps ({}× no views)",
            r.setup,
            r.tps.show(""),
            num(r.vs_none)
        );
    }
    if let Err(reason) = &ivm {
        println!("  writer: pg_ivm not measured: {reason}");
    }
    ctx.results.overhead = Some(Overhead {
        clients,
        seconds: secs,
        script: script(),
        rows,
        pg_ivm_unavailable: ivm.err(),
        summa_catchup_ms: Stat::of(catchup),
    });
    Ok(())
}

/// pgbench rounds with V3 (orders ⋈ regions) live beside V1 and V2; V3 is verified after
/// them and dropped.
async fn with_join(
    ctx: &mut Ctx,
    bench: &Pgbench<'_>,
    b: &ProgressBar,
) -> anyhow::Result<Vec<f64>> {
    let created = ctx.create(&[JOIN_VIEW]).await?;
    let mut tps = Vec::new();
    for _ in 0..ctx.opts.repeat {
        let child = ctx.start_child().await?;
        let marker = sidecar::commit_marker(&ctx.client).await?;
        sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(900)).await?;
        let run = bench.run(&ctx.client).await;
        child.stop().await?;
        tps.push(run?);
        b.inc(1);
    }
    ctx.apply_and_verify(created, "after the writer-overhead rounds")
        .await?;
    ctx.drop_view(JOIN_VIEW.name).await?;
    Ok(tps)
}

struct Pgbench<'a> {
    exe: &'a Path,
    script: &'a Path,
    url: &'a str,
    seconds: u64,
    clients: u32,
}

impl Pgbench<'_> {
    /// One run; its tps (without initial connection time).
    async fn run(&self, client: &tokio_postgres::Client) -> anyhow::Result<f64> {
        let max_id: i64 = client
            .query_one(&format!("SELECT max(id) FROM {SCHEMA}.orders"), &[])
            .await?
            .get(0);
        let mut cmd = tokio::process::Command::new(self.exe);
        cmd.args(["-n", "-M", "prepared"])
            .arg(format!("-c{}", self.clients))
            .arg(format!("-j{}", self.clients.min(2)))
            .arg(format!("-T{}", self.seconds))
            .arg("-f")
            .arg(self.script)
            .arg(format!("-Dmaxid={max_id}"))
            .arg(self.url)
            .stdin(Stdio::null());
        let out = cmd.output().await.context("cannot run pgbench")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "pgbench failed: {}{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output:\n{stdout}"))
    }
}

async fn wait_slot_active(client: &tokio_postgres::Client, slot: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let active: bool = client
            .query_one(
                "SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await?
            .get(0);
        if active {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("pg_recvlogical did not start streaming within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ok when `CREATE EXTENSION pg_ivm` succeeds; the server's answer otherwise.
async fn ivm_available(ctx: &Ctx) -> Result<(), String> {
    match ctx
        .client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_ivm")
        .await
    {
        Ok(()) => Ok(()),
        Err(err) => Err(summa_catalog::db_message(&err)),
    }
}

/// IMMVs equivalent to V1 and V2; V2 groups by the UTC day, since pg_ivm refuses the STABLE
/// `date_trunc('day', timestamptz)`.
async fn create_immvs(ctx: &Ctx) -> anyhow::Result<()> {
    let v1 = format!(
        "SELECT customer_id, count(*), sum(amount), avg(amount) FROM {SCHEMA}.orders GROUP BY customer_id"
    );
    let v2 = format!(
        "SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, status, count(*), \
         sum(amount), min(amount), max(amount) FROM {SCHEMA}.orders GROUP BY 1, 2"
    );
    let schema_fn: bool = ctx
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.proname = 'create_immv' AND n.nspname = 'pgivm')",
            &[],
        )
        .await?
        .get(0);
    let f = if schema_fn {
        "pgivm.create_immv"
    } else {
        "create_immv"
    };
    for (name, sql) in [("immv_v1", v1), ("immv_v2", v2)] {
        ctx.client
            .execute(
                &format!("SELECT {f}($1, $2)"),
                &[&format!("{SCHEMA}.{name}"), &sql],
            )
            .await
            .with_context(|| format!("creating the IMMV {name}"))?;
    }
    Ok(())
}

//! The soak (issue 17): not part of CI, run by hand and reported in docs/operations.md.
//!
//! ```text
//! SUMMA_SOAK_SECONDS=600 cargo test --release --test e2e -- --ignored soak --nocapture
//! ```
//!
//! Three writers change three source tables for `SUMMA_SOAK_SECONDS` (600 by default) on a
//! cluster of the test's own, while a seeded fault schedule (`SUMMA_TEST_SEED` replays it and
//! the writers' choices; the interleaving depends on timing) kills the sidecar with `kill -9`
//! every 30–60 s and starts it again, terminates its walsender between kills, restarts Postgres
//! once (`pg_ctl restart -m fast`) and truncates a source once (`apply.on_truncate = "reset"`).
//! After each fault it measures the time until every stream has applied the WAL written up to
//! the end of the fault (for a kill: once the new sidecar started): the lag recovery. Every
//! ~60 s a checkpoint pauses the writers (a write lock each writer transaction holds for
//! reading), waits until everything is applied and compares every view with its SELECT; the
//! sidecar's RSS is sampled every 3 s. The summary at the end gives the figures; any difference
//! fails the test. Five views are over single tables, two join a dimension (`customers`,
//! whose rows move between regions and tiers, vanish and come back) to `orders` and `events`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};

use crate::harness::{oracle_diff, seed, Rng, Sidecar, TestDb};

const SCHEMA: &str = "
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, status text,
                     amount numeric(12,2), created_at timestamptz);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, user_id int, score int, ts timestamptz);
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE events REPLICA IDENTITY FULL;
-- A dimension of the join views: its default replica identity (the key) is enough.
CREATE TABLE customers (id int PRIMARY KEY, region text, tier int);
INSERT INTO customers SELECT g, 'region ' || g % 4, g % 3 FROM generate_series(0, 21) g;";

const VIEWS: &[(&str, &str)] = &[
    (
        "by_customer",
        "SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id",
    ),
    (
        "daily",
        "SELECT date_trunc('day', created_at) AS day, status, count(*), sum(amount), \
         min(amount), max(amount) FROM orders GROUP BY 1, 2",
    ),
    (
        "totals",
        "SELECT count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM orders",
    ),
    (
        "users_per_kind",
        "SELECT kind, count(DISTINCT user_id) AS users, count(*) AS n, max(score) AS best \
         FROM events GROUP BY kind",
    ),
    (
        "busy_users",
        "SELECT user_id, sum(score) AS score, count(*) AS n FROM events GROUP BY user_id \
         HAVING count(*) > 2",
    ),
    // Joins: orders and events with their customer (customers 22–24 and users 22–39 have
    // none, so rows are orphans until a customer with their id appears).
    (
        "by_region",
        "SELECT c.region, count(*), sum(o.amount), min(o.amount) FROM orders o \
         JOIN customers c ON c.id = o.customer_id GROUP BY c.region",
    ),
    (
        "kinds_per_tier",
        "SELECT c.tier, e.kind, count(*) AS n, max(e.score) AS best FROM events e \
         JOIN customers c ON c.id = e.user_id WHERE e.score IS NOT NULL GROUP BY 1, 2",
    ),
];

const CONFIG: &str = "[apply]\non_truncate = \"reset\"\n";
const STATUSES: [&str; 4] = ["new", "paid", "shipped", "cancelled"];
const KINDS: [&str; 5] = ["view", "click", "buy", "share", "like"];

fn soak_seconds() -> u64 {
    std::env::var("SUMMA_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

async fn try_connect(url: &str) -> Option<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(client)
}

/// Connect, retrying for up to a minute (the server may be restarting).
async fn connect_patiently(url: &str) -> Client {
    for _ in 0..600 {
        if let Some(client) = try_connect(url).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not connect to {url} for a minute");
}

fn day(rng: &mut Rng) -> String {
    format!(
        "2026-03-0{} {:02}:{:02}:00+00",
        1 + rng.below(4),
        rng.below(24),
        rng.below(60)
    )
}

fn amount(rng: &mut Rng) -> Option<String> {
    (!rng.chance(5)).then(|| format!("{}.{:02}", rng.below(500), rng.below(100)))
}

/// A recent id of `orders` or `events` (the workload touches the newest rows; after the
/// TRUNCATE, older ids miss).
async fn some_id(
    tx: &tokio_postgres::Transaction<'_>,
    orders: bool,
    rng: &mut Rng,
) -> Result<i64, tokio_postgres::Error> {
    let sql = if orders {
        "SELECT coalesce(max(id), 1) FROM orders"
    } else {
        "SELECT coalesce(max(id), 1) FROM events"
    };
    let max: i64 = tx.query_one(sql, &[]).await?.get(0);
    Ok(max - rng.below(max.min(3000) as u64) as i64)
}

/// One random statement; returns the rows it changed. Small domains, so groups collide, move,
/// appear and vanish; one statement in twenty moves many rows at once.
async fn random_op(
    tx: &tokio_postgres::Transaction<'_>,
    rng: &mut Rng,
) -> Result<u64, tokio_postgres::Error> {
    let customer = rng.below(25) as i32;
    let status = STATUSES[rng.below(4) as usize];
    let (user, kind) = (rng.below(40) as i32, KINDS[rng.below(5) as usize]);
    let score = (!rng.chance(5)).then(|| rng.below(100) as i32);
    let (amount, ts) = (amount(rng), day(rng));
    if rng.chance(4) {
        return customer_op(tx, rng).await;
    }
    let orders = rng.chance(60);
    let op = rng.below(20);
    let id = some_id(tx, orders, rng).await?;
    match (orders, op) {
        (true, 0..=6) => {
            tx.execute(
                "INSERT INTO orders (customer_id, status, amount, created_at) \
                 VALUES ($1, $2, $3::text::numeric, $4::text::timestamptz)",
                &[&customer, &status, &amount, &ts],
            )
            .await
        }
        (true, 7..=10) => {
            tx.execute(
                "UPDATE orders SET customer_id = $2, status = $3 WHERE id = $1",
                &[&id, &customer, &status],
            )
            .await
        }
        (true, 11..=13) => {
            tx.execute(
                "UPDATE orders SET amount = $2::text::numeric, created_at = $3::text::timestamptz \
                 WHERE id = $1",
                &[&id, &amount, &ts],
            )
            .await
        }
        (true, 14) => {
            tx.execute(
                "UPDATE orders SET status = $3 WHERE customer_id = $2 AND id > $1::int8 - 500",
                &[&id, &customer, &status],
            )
            .await
        }
        (true, _) => {
            tx.execute("DELETE FROM orders WHERE id = $1", &[&id])
                .await
        }
        (false, 0..=7) => {
            tx.execute(
                "INSERT INTO events (user_id, kind, score, ts) VALUES ($1, $2, $3, $4::text::timestamptz)",
                &[&user, &kind, &score, &ts],
            )
            .await
        }
        (false, 8..=11) => {
            tx.execute(
                "UPDATE events SET user_id = $2, kind = $3 WHERE id = $1",
                &[&id, &user, &kind],
            )
            .await
        }
        (false, 12..=14) => {
            tx.execute("UPDATE events SET score = $2 WHERE id = $1", &[&id, &score])
                .await
        }
        (false, 15) => {
            tx.execute(
                "DELETE FROM events WHERE user_id = $2 AND kind = $3 AND id > $1::int8 - 300",
                &[&id, &user, &kind],
            )
            .await
        }
        (false, _) => {
            tx.execute("DELETE FROM events WHERE id = $1", &[&id])
                .await
        }
    }
}

/// A change to the join views' dimension: a customer moves to another region or tier (every
/// order and event of theirs moves group), or one is deleted or (re)inserted (ids 0–29: their
/// rows become orphans, or orphans find a partner).
async fn customer_op(
    tx: &tokio_postgres::Transaction<'_>,
    rng: &mut Rng,
) -> Result<u64, tokio_postgres::Error> {
    let id = rng.below(30) as i32;
    let (region, tier) = (format!("region {}", rng.below(5)), rng.below(3) as i32);
    match rng.below(10) {
        0..=5 => {
            tx.execute(
                "UPDATE customers SET region = $2 WHERE id = $1",
                &[&id, &region],
            )
            .await
        }
        6 | 7 => {
            tx.execute(
                "UPDATE customers SET tier = $2 WHERE id = $1",
                &[&id, &tier],
            )
            .await
        }
        8 => {
            tx.execute("DELETE FROM customers WHERE id = $1", &[&id])
                .await
        }
        _ => {
            tx.execute(
                "INSERT INTO customers VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                &[&id, &region, &tier],
            )
            .await
        }
    }
}

/// Writes transactions of 1–8 statements until `stop`; reconnects when the server restarted.
/// A failed transaction (deadlock, lost connection) rolls back; only committed rows count.
async fn writer(
    url: String,
    seed: u64,
    gate: Arc<RwLock<()>>,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) {
    let mut rng = Rng::new(seed);
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = client.as_mut() else {
            client = try_connect(&url).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let open = gate.read().await;
        let result: Result<u64, tokio_postgres::Error> = async {
            let tx = c.transaction().await?;
            let mut rows = 0;
            for _ in 0..1 + rng.below(8) {
                rows += random_op(&tx, &mut rng).await?;
            }
            tx.commit().await?;
            Ok(rows)
        }
        .await;
        drop(open);
        match result {
            Ok(rows) => {
                written.fetch_add(rows, Ordering::Relaxed);
            }
            // The server restarting: 57P01 (admin shutdown) or a closed connection.
            Err(e)
                if c.is_closed()
                    || e.code().is_some_and(|c| {
                        c.code().starts_with("57") || c.code().starts_with("08")
                    }) =>
            {
                client = None
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => {
            }
            Err(e) => panic!("writer statement failed: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(rng.below(15))).await;
    }
}

/// What the run saw; printed at the end.
#[derive(Default)]
struct Figures {
    kills: u32,
    terminations: u32,
    restarts: u32,
    truncates: u32,
    checkpoints: u32,
    differences: usize,
    recoveries: Vec<(String, Duration)>,
    rss: Vec<(u64, u64)>,
    peak_kib: u64,
}

impl Figures {
    fn sample(&mut self, sidecar: &Sidecar, started: Instant) {
        let rss = sidecar.rss_kib();
        if rss > 0 {
            self.rss.push((started.elapsed().as_secs(), rss));
        }
        self.peak_kib = self.peak_kib.max(sidecar.peak_rss_kib());
    }
}

/// Time from `fault` until every stream has applied the WAL written up to now.
async fn recovery(db: &TestDb, fault: Instant, what: &str, sidecar: &Sidecar) -> Duration {
    let client = connect_patiently(&db.url).await;
    let lsn: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    while fault.elapsed() < Duration::from_secs(300) {
        match summa_catalog::caught_up(&client, &lsn).await {
            Ok(true) => return fault.elapsed(),
            Ok(false) => {}
            Err(e) => panic!("reading the streams' positions after {what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "lag did not recover within 300 s after {what}; log:\n{}",
        sidecar.log_text()
    );
}

/// Pause the writers, wait until everything is applied and compare every view with its SELECT.
async fn checkpoint(db: &TestDb, gate: &RwLock<()>, figures: &mut Figures, s: u64, at: &str) {
    let _paused = gate.write().await;
    db.wait_applied().await;
    let client = db.client().await;
    let not_live = db.versions_not_live().await;
    assert!(
        not_live.is_empty(),
        "seed {s}, checkpoint {at}: versions not live: {not_live:?}"
    );
    for (view, sql) in VIEWS {
        let diff = oracle_diff(&client, view, sql).await;
        if !diff.is_empty() {
            eprintln!(
                "seed {s}, checkpoint {at}: {view} differs from its SELECT:\n{}",
                diff.join("\n")
            );
        }
        figures.differences += diff.len();
    }
    assert_eq!(
        figures.differences, 0,
        "seed {s}: differences at checkpoint {at}"
    );
    figures.checkpoints += 1;
    eprintln!(
        "soak: checkpoint {} at {at}: every view equals its SELECT",
        figures.checkpoints
    );
}

fn secs_between(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(1000 * lo + rng.below(1000 * (hi - lo).max(1)))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "the soak runs for 10 minutes: cargo test --release --test e2e -- --ignored soak"]
async fn soak_writers_and_faults_for_ten_minutes() {
    let total = Duration::from_secs(soak_seconds());
    // Faults scale with the run (600 s: kill -9 every 30–60 s, a checkpoint every 60 s).
    let (kill_lo, kill_hi) = (
        (total.as_secs() / 20).clamp(3, 30),
        (total.as_secs() / 10).clamp(6, 60),
    );
    let every_checkpoint = Duration::from_secs((total.as_secs() / 10).clamp(10, 60));
    let pg = summa_localpg::LocalPostgres::start().expect("start a private cluster");
    let db = TestDb::on(&pg, "soak").await;
    let s = seed("soak");
    let mut rng = Rng::new(s);
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    for (view, sql) in VIEWS {
        db.create(view, sql);
    }

    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (url, gate, stop, written) =
                (db.url.clone(), gate.clone(), stop.clone(), written.clone());
            tokio::spawn(writer(
                url,
                s ^ ((w + 1) * 0x9E37_79B9),
                gate,
                stop,
                written,
            ))
        })
        .collect();

    let mut figures = Figures::default();
    let mut sidecar = Some(db.sidecar_with_config(CONFIG));
    let started = Instant::now();
    let at = |t: f64| started + total.mul_f64(t);
    let mut next_kill = started + secs_between(&mut rng, kill_lo, kill_hi);
    let mut next_term = started + secs_between(&mut rng, kill_lo / 2, kill_hi / 2);
    let mut restart_at = Some(at(0.3 + rng.below(20) as f64 / 100.0));
    let mut truncate_at = Some(at(0.6 + rng.below(15) as f64 / 100.0));
    let mut next_checkpoint = started + every_checkpoint;
    let mut next_sample = started + Duration::from_secs(1);
    while started.elapsed() < total {
        let now = Instant::now();
        let running = sidecar.as_ref().unwrap();
        if now >= next_sample {
            figures.sample(running, started);
            next_sample = now + Duration::from_secs(3);
        }
        if now >= next_kill {
            figures.sample(running, started);
            sidecar.take().unwrap().kill();
            tokio::time::sleep(Duration::from_millis(rng.below(2000))).await;
            sidecar = Some(db.sidecar_with_config(CONFIG));
            figures.kills += 1;
            let took = recovery(&db, now, "kill -9", sidecar.as_ref().unwrap()).await;
            figures
                .recoveries
                .push((format!("kill -9 #{}", figures.kills), took));
            next_kill = Instant::now() + secs_between(&mut rng, kill_lo, kill_hi);
        } else if now >= next_term {
            let terminated =
                crate::harness::terminate_walsenders(&connect_patiently(&db.url).await).await;
            if terminated > 0 {
                figures.terminations += 1;
                let took = recovery(&db, now, "walsender termination", running).await;
                figures
                    .recoveries
                    .push((format!("walsender #{}", figures.terminations), took));
            }
            next_term = Instant::now() + secs_between(&mut rng, kill_lo, kill_hi);
        } else if restart_at.is_some_and(|t| now >= t) {
            restart_at = None;
            tokio::task::block_in_place(|| pg.restart("fast")).expect("restart postgres");
            figures.restarts += 1;
            let took = recovery(&db, now, "postgres restart", running).await;
            figures.recoveries.push(("postgres restart".into(), took));
        } else if truncate_at.is_some_and(|t| now >= t) {
            truncate_at = None;
            connect_patiently(&db.url)
                .await
                .batch_execute("TRUNCATE orders")
                .await
                .unwrap();
            figures.truncates += 1;
            let took = recovery(&db, now, "truncate", running).await;
            figures.recoveries.push(("truncate orders".into(), took));
        } else if now >= next_checkpoint {
            let label = format!("{} s", started.elapsed().as_secs());
            checkpoint(&db, &gate, &mut figures, s, &label).await;
            figures.sample(running, started);
            next_checkpoint = Instant::now() + every_checkpoint;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    checkpoint(&db, &gate, &mut figures, s, "the end").await;
    let sidecar = sidecar.take().unwrap();
    figures.sample(&sidecar, started);
    for (view, _) in VIEWS {
        let (ok, out, err) = db.summa(&["verify", view]);
        assert!(ok, "seed {s}: verify {view}: {out}{err}");
    }
    sidecar.stop();
    report(&figures, elapsed, s, written.load(Ordering::Relaxed));
}

fn report(f: &Figures, elapsed: Duration, s: u64, written: u64) {
    let (worst, max) = f
        .recoveries
        .iter()
        .max_by_key(|r| r.1)
        .map(|r| (r.0.as_str(), r.1))
        .unwrap_or(("none", Duration::ZERO));
    let first = f.rss.first().map_or(0, |r| r.1);
    let last = f.rss.last().map_or(0, |r| r.1);
    let series: Vec<String> = f
        .rss
        .iter()
        .step_by(10)
        .map(|(t, kib)| format!("{t}s:{}", kib / 1024))
        .collect();
    let recoveries: Vec<String> = f
        .recoveries
        .iter()
        .map(|(what, d)| format!("{what} {:.1}s", d.as_secs_f64()))
        .collect();
    eprintln!(
        "soak summary\n  duration {:.0} s, seed {s}\n  changes written (committed source rows) {written}\n  \
         kill -9 survived {}, walsender terminations {}, postgres restarts {}, truncates {}\n  \
         checkpoints passed {}, differences found {}\n  \
         sidecar RSS: first sample {} MiB, at the end {} MiB, peak (VmHWM over all processes) {} MiB\n  \
         RSS series (MiB): {}\n  max lag recovery {:.1} s ({worst})\n  recoveries: {}",
        elapsed.as_secs_f64(),
        f.kills,
        f.terminations,
        f.restarts,
        f.truncates,
        f.checkpoints,
        f.differences,
        first / 1024,
        last / 1024,
        f.peak_kib / 1024,
        series.join(" "),
        max.as_secs_f64(),
        recoveries.join(", ")
    );
}

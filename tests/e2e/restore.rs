//! Backup, restore and upgrade: a `pg_dump` of a database with summa summaries restored into
//! another server, or a `pg_upgrade` of its server from 15 to 18, leaves the summaries
//! readable (equal to their SELECT as of the dump or the upgrade), and at the first
//! `summa run` there they are never silently stale: replication slots survive neither, so the
//! versions become `stale` with the reason and the fix in `summa status`, and
//! `summa rebuild --promote` makes them maintained again. (docs/operations.md, "Backup,
//! restore and upgrade".)

use std::process::Command;

use crate::harness::{cluster, start_cluster, TestDb};
use crate::items;
use crate::server::upgrade_target;

const BY_GRP: &str = "SELECT grp, count(*), sum(val), min(val) AS lo FROM items GROUP BY grp";

fn run(program: &std::path::Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restored_database_is_readable_then_stale_with_the_fix_never_silently() {
    let (db, _client, _) = items::database(None, "dumped", 200).await;
    db.create("by_grp", BY_GRP);
    let sidecar = db.sidecar();
    items::write_some(&db, 80).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();

    let dump = std::env::temp_dir().join(format!("summa-{}-{}.dump", db.name, std::process::id()));
    let bin = cluster().bin_dir().to_path_buf();
    run(
        &bin.join("pg_dump"),
        &["-Fc", "-d", &db.url, "-f", dump.to_str().unwrap()],
    );
    let other = start_cluster(&[], "a server to restore into").await;
    let restored = TestDb::on(&other, "restored").await;
    run(
        &bin.join("pg_restore"),
        &[
            "--exit-on-error",
            "-d",
            &restored.url,
            dump.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&dump);

    // Readable at once, as of the dump.
    restored.assert_equal("by_grp", BY_GRP).await;
    maintained_again_after_the_slot_was_lost(&restored).await;
}

/// A database whose summaries are readable, on a server without their stream's slot: the
/// first sidecar marks the version stale with the fix, and a rebuild makes it maintained.
async fn maintained_again_after_the_slot_was_lost(db: &TestDb) {
    items::write_some(db, 40).await;
    let sidecar = db.sidecar();
    let error = db.wait_state("by_grp", "stale").await;
    assert!(
        error.contains("slot") && error.contains("summa rebuild"),
        "{error}"
    );
    let (ok, out, _) = db.summa(&["status"]);
    assert!(ok && out.contains("stale"), "{out}");
    // A rebuild makes it maintained again, on this server's own stream.
    let (ok, out, err) = db.summa(&["rebuild", "by_grp", "--promote", "--timeout-secs", "60"]);
    assert!(ok, "rebuild: {out}{err}");
    items::write_some(db, 40).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_pg_upgrade_summaries_are_readable_then_stale_with_the_fix_never_silently() {
    let Some(new_bin) = upgrade_target().await else {
        return;
    };
    let old_bin = cluster().bin_dir().to_path_buf();
    let old =
        tokio::task::spawn_blocking(move || summa_localpg::LocalPostgres::start_in(&old_bin, &[]))
            .await
            .unwrap()
            .expect("start the server to upgrade");
    let (db, _client, _) = items::database(Some(&old), "upgraded", 200).await;
    db.create("by_grp", BY_GRP);
    let sidecar = db.sidecar();
    items::write_some(&db, 80).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();

    let new = tokio::task::spawn_blocking(move || {
        let new = old.upgrade_to(&new_bin, &[]);
        (old, new)
    })
    .await
    .unwrap();
    let (_old, new) = (new.0, new.1.unwrap_or_else(|e| panic!("pg_upgrade: {e}")));
    let upgraded = TestDb {
        url: new.url(&db.name),
        name: db.name.clone(),
    };
    let version: String = upgraded
        .client()
        .await
        .query_one("SELECT current_setting('server_version')", &[])
        .await
        .unwrap()
        .get(0);
    eprintln!("upgraded to PostgreSQL {version}");
    // Readable at once, as of the upgrade.
    upgraded.assert_equal("by_grp", BY_GRP).await;
    maintained_again_after_the_slot_was_lost(&upgraded).await;
}

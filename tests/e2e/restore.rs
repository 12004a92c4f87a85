//! Backup and restore: a `pg_dump` of a database with summa summaries restored into another
//! server leaves the summaries readable (equal to their SELECT as of the dump), and at the
//! first `summa run` there they are never silently stale: replication slots do not survive a
//! dump, so the versions become `stale` with the reason and the fix in `summa status`, and
//! `summa rebuild --promote` makes them maintained again. (docs/operations.md, "Backup and
//! restore".)

use std::process::Command;

use crate::harness::{cluster, start_cluster, TestDb};
use crate::items;

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
    // The slot stayed behind: the first sidecar there marks the version stale with the fix.
    items::write_some(&restored, 40).await;
    let sidecar = restored.sidecar();
    let error = restored.wait_state("by_grp", "stale").await;
    assert!(
        error.contains("slot") && error.contains("summa rebuild"),
        "{error}"
    );
    let (ok, out, _) = restored.summa(&["status"]);
    assert!(ok && out.contains("stale"), "{out}");
    // A rebuild makes it maintained again, on the restored server's own stream.
    let (ok, out, err) =
        restored.summa(&["rebuild", "by_grp", "--promote", "--timeout-secs", "60"]);
    assert!(ok, "rebuild: {out}{err}");
    items::write_some(&restored, 40).await;
    restored.wait_applied().await;
    restored.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();
}

//! `summa bench`'s correctness path at a tiny size: every scenario runs (time to fresh vs
//! REFRESH with the floor, growth, sustained load, decode ceiling, bulk transaction, writer
//! overhead), every view ends equal to its SELECT, and the report is written. Timings at this
//! size mean nothing and are not checked.

use std::time::Instant;

use crate::harness::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn bench_quick_mode_verifies_every_view_and_writes_its_report() {
    let db = TestDb::new("bench").await;
    let out = std::env::temp_dir().join(format!("summa-bench-{}-{}", db.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let started = Instant::now();
    let (ok, stdout, stderr) = db.summa(&[
        "bench",
        "--quick",
        "--rows",
        "20000",
        "--growth",
        "10000,20000",
        "--batch",
        "1000",
        "--repeat",
        "1",
        "--seconds",
        "2",
        "--rates",
        "2000",
        "--bulk-rows",
        "20000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "summa bench failed:\n{stdout}\n{stderr}");
    eprintln!(
        "summa bench --quick at N = 20k took {:?}",
        started.elapsed()
    );
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    let verified = results["verified"].as_array().expect("verified");
    // V1 and V2 after their time-to-fresh runs at two sizes, and both after the other scenarios.
    assert_eq!(verified.len(), 6, "{verified:?}");
    assert!(
        verified.iter().all(|v| v["equal"] == true),
        "a view differs from its SELECT: {verified:?}"
    );
    assert!(report.contains("all equal"), "{report}");
    for scenario in ["fresh", "sustained"] {
        assert!(
            !results[scenario].as_array().unwrap().is_empty(),
            "no {scenario} figures"
        );
    }
    for scenario in ["ceiling", "bulk", "overhead"] {
        assert!(results[scenario].is_object(), "no {scenario} figures");
    }
    for section in [
        "## 1. Time to fresh",
        "## 2. Growth",
        "## 3. Sustained",
        "## 4. Writer overhead",
        "## 5. Bulk",
        "## 6. Decode ceiling",
    ] {
        assert!(
            report.contains(section),
            "report lacks {section}:\n{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

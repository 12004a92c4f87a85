//! The benchmark's correctness path at a tiny size: every scenario runs (time to fresh vs
//! REFRESH with the floor, growth, the join V3, sustained load, decode ceiling, bulk
//! transaction, writer overhead, TPC-H at SF 0.01), every view ends equal to its SELECT, and the report is written. Timings at this
//! size mean nothing and are not checked.
//!
//! It runs the `summa-bench` binary, which measures the `summa` binary next to it
//! (target/debug/summa: `cargo test --workspace` builds it, since the root package's end-to-end
//! tests need it), against a PostgreSQL of its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use summa_localpg::LocalPostgres;

/// The `summa` binary of this build, or a panic saying how to build it.
fn summa_bin() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_summa-bench"));
    let summa = bench.with_file_name(format!("summa{}", std::env::consts::EXE_SUFFIX));
    assert!(
        summa.is_file(),
        "the bench test measures the summa binary and there is none at {}: run it through \
         `cargo test --workspace`, or `cargo build -p summa` first",
        summa.display()
    );
    summa
}

#[test]
fn bench_quick_mode_verifies_every_view_and_writes_its_report() {
    let summa = summa_bin();
    let pg = LocalPostgres::start().unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL 15 server binaries and could not start them: {e}")
    });
    let out = std::env::temp_dir().join(format!("summa-bench-quick-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_summa-bench"))
        .env("DATABASE_URL", pg.url("postgres"))
        .env("RUST_LOG", "warn")
        .arg("--summa-bin")
        .arg(&summa)
        .args([
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
            "--tpch-sf",
            "0.01",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run summa-bench");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "summa-bench failed:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "summa-bench --quick at N = 20k took {:?}",
        started.elapsed()
    );
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    let verified = results["verified"].as_array().expect("verified");
    // V1 and V2 after their time-to-fresh runs at two sizes, V3 after the join scenario and
    // after the writer-overhead rounds with it live, V1 and V2 after the other scenarios, and
    // the seven TPC-H queries.
    assert_eq!(verified.len(), 15, "{verified:?}");
    let setups: Vec<&str> = results["overhead"]["rows"]
        .as_array()
        .expect("overhead rows")
        .iter()
        .filter_map(|r| r["setup"].as_str())
        .collect();
    assert!(
        setups.iter().any(|s| s.contains("join V3")),
        "writer overhead with the join live: {setups:?}"
    );
    assert!(
        verified.iter().all(|v| v["equal"] == true),
        "a view differs from its SELECT: {verified:?}"
    );
    assert!(report.contains("all equal"), "{report}");
    for scenario in ["fresh", "join", "sustained"] {
        assert!(
            !results[scenario].as_array().unwrap().is_empty(),
            "no {scenario} figures"
        );
    }
    for scenario in ["ceiling", "bulk", "overhead", "tpch"] {
        assert!(results[scenario].is_object(), "no {scenario} figures");
    }
    // The sidecar's own figures, read from its /metrics.
    let sustained = &results["sustained"][0];
    assert!(sustained["batches"].as_u64() > Some(0), "{sustained}");
    assert!(
        sustained["batch_ms_mean"].as_f64() > Some(0.0),
        "{sustained}"
    );
    let tpch = results["tpch"]["rows"].as_array().expect("tpch rows");
    assert_eq!(
        tpch.len(),
        5 * 8,
        "5 changes × (7 queries + all seven): {tpch:?}"
    );
    assert!(tpch.iter().all(|r| r["verified"] == true), "{tpch:?}");
    let bulk = &results["bulk"];
    assert!(bulk["longest_batch_ms"].as_f64() > Some(0.0), "{bulk}");
    for section in [
        "## 1. Time to fresh",
        "## 2. Growth",
        "## 3. Sustained",
        "## 4. Writer overhead",
        "## 5. Bulk",
        "## 6. Decode ceiling",
        "## 7. A join: V3",
        "## 8. TPC-H",
    ] {
        assert!(
            report.contains(section),
            "report lacks {section}:\n{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// `summa bench` runs summa-bench with the same arguments and returns its exit code.
#[test]
fn summa_bench_passes_its_arguments_and_exit_code_through() {
    let summa = summa_bin();
    let help = Command::new(&summa)
        .args(["bench", "--help"])
        .output()
        .expect("run summa bench --help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{help:?}");
    assert!(
        text.contains("summa-bench") && text.contains("--quick"),
        "{text}"
    );
    let refused = Command::new(&summa)
        .args(["bench", "--rows", "0"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run summa bench --rows 0");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("--rows and --batch need"), "{err}");
}

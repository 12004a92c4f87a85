//! The edges where outside text enters summa: documentation kept clean of merge debris, logs
//! written to files and pipes, and database URLs whose passwords hold odd characters.

use std::path::{Path, PathBuf};

/// Lines that are git merge-conflict markers.
fn conflict_markers(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.starts_with("<<<<<<<") || line.starts_with(">>>>>>>") || *line == "======="
        })
        .map(|(i, line)| (i + 1, line))
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn docs_hold_no_merge_conflict_markers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    files_under(&root.join("docs"), &mut files);
    let mut found = Vec::new();
    for path in &files {
        // Binary files (figures) are not text and cannot hold markers worth reporting.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (line, marker) in conflict_markers(&text) {
            found.push(format!("{}:{line}: {marker}", path.display()));
        }
    }
    assert!(
        found.is_empty(),
        "merge-conflict markers left in the docs:\n{}",
        found.join("\n")
    );
    assert!(!conflict_markers("a\n=======\nb").is_empty());
    assert!(conflict_markers("a\n========\n| = |").is_empty());
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `summa run` against `url`, stderr a pipe; it logs its start, fails to connect and exits.
fn run_unreachable(url: &str) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_summa"))
        .arg("run")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run summa");
    assert!(!out.status.success(), "summa run reached a closed port?");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let url = format!("postgres://summa@127.0.0.1:{}/app", closed_port());
    let (out, err) = run_unreachable(&url);
    assert!(
        err.contains("summa sidecar starting"),
        "no log line:\n{err}"
    );
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "ANSI escape codes in piped output:\n{err:?}"
    );
}

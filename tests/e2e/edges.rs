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

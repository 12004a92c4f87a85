//! Expands the command-line paths into the sorted list of migration files.

use std::cmp::Ordering;
use std::path::{Component, Path, PathBuf};

use crate::config::LintConfig;
use crate::error::LintError;

/// Files to lint: explicit files as given, directories walked recursively
/// for `.sql` and `.py` (hidden entries and symlinked directories skipped).
/// Paths matching an exclude pattern of `config` are skipped, explicit
/// files included (so a pre-commit hook, which names files, honours them).
/// The result is sorted (numbers in names compare numerically) and deduped.
pub(crate) fn collect(paths: &[PathBuf], config: &LintConfig) -> Result<Vec<PathBuf>, LintError> {
    let mut files = Vec::new();
    for path in paths {
        if config.is_excluded(&display_path(path)) {
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| LintError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk_dir(path, config, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort_by(|a, b| natural_path_cmp(a, b));
    files.dedup();
    Ok(files)
}

fn walk_dir(dir: &Path, config: &LintConfig, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let read_err = |source| LintError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.')
            || config.is_excluded(&display_path(&path))
        {
            continue;
        }
        let file_type = entry.file_type().map_err(|source| LintError::Read {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            walk_dir(&path, config, out)?;
        } else if (file_type.is_file() || (file_type.is_symlink() && path.is_file()))
            && is_migration_ext(&path)
        {
            out.push(path);
        }
    }
    Ok(())
}

fn is_migration_ext(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("sql" | "py")
    )
}

/// The path as printed: relative to the current directory when it is under
/// it, `.` components dropped, `/` separators.
pub(crate) fn display_path(path: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::RootDir => String::new(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect();
    let joined = parts.join("/");
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Compares paths component by component, runs of digits by value.
pub(crate) fn natural_path_cmp(a: &Path, b: &Path) -> Ordering {
    let mut ca = a.components();
    let mut cb = b.components();
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = natural_cmp(
                    &x.as_os_str().to_string_lossy(),
                    &y.as_os_str().to_string_lossy(),
                );
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(rb.iter()) {
        let ord = match (is_num(x), is_num(y)) {
            (true, true) => {
                let (tx, ty) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

fn is_num(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
}

fn runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let digit = c.is_ascii_digit();
        if prev.is_some_and(|p| p != digit) {
            out.push(&s[start..i]);
            start = i;
        }
        prev = Some(digit);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sort_by_value() {
        let mut v: Vec<PathBuf> = ["m/V10__c.sql", "m/V2__b.sql", "m/V1__a.sql", "a/x.sql"]
            .iter()
            .map(PathBuf::from)
            .collect();
        v.sort_by(|a, b| natural_path_cmp(a, b));
        let got: Vec<String> = v.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            got,
            ["a/x.sql", "m/V1__a.sql", "m/V2__b.sql", "m/V10__c.sql"]
        );
    }
}

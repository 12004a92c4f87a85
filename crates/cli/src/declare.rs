//! `summa plan DIR` and `summa apply DIR`: a directory of view files (`daily_sales.sql`, the
//! view's name from the file's) as the declared state. Plan compares it with the catalog
//! (human, JSON or Markdown for a pull-request comment; exit code 2 when anything would
//! change); apply defines what changed through `summa.define`, so it is safe to re-run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use summa_catalog::Change;

use crate::commands::{conn_info, connect};
use crate::config::Config;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Human,
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Directory of view files: one `NAME.sql` per view, holding its SELECT.
    dir: PathBuf,
    #[arg(long, value_enum, default_value = "human")]
    format: PlanFormat,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Directory of view files: one `NAME.sql` per view, holding its SELECT.
    dir: PathBuf,
    /// Wait until every defined version is live (implied by --promote).
    #[arg(long)]
    wait: bool,
    /// Once live, serve each view's newest version through its alias.
    #[arg(long)]
    promote: bool,
    /// How long --wait and --promote wait for one version, in seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
}

/// One view file.
struct ViewFile {
    name: String,
    path: PathBuf,
    sql: String,
}

/// The `.sql` files of `dir`, sorted by name; a file whose name is not a view name is an
/// error naming it (nothing is compared or defined then).
fn read_dir(dir: &Path) -> anyhow::Result<Vec<ViewFile>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let valid = name.len() <= 48
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            bail!(
                "{}: the file name is the view's name, which uses lower-case letters, digits and _, \
                 starts with a letter and has at most 48 characters",
                path.display()
            );
        }
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .trim_start_matches('\u{feff}')
            .to_string();
        if sql.trim().is_empty() {
            bail!(
                "{}: the file is empty (it holds the view's SELECT)",
                path.display()
            );
        }
        files.push(ViewFile { name, path, sql });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Each file's change, and the views the catalog has that no file declares.
async fn compare_all(
    client: &tokio_postgres::Client,
    files: &[ViewFile],
) -> anyhow::Result<(Vec<Change>, Vec<String>)> {
    let mut changes = Vec::new();
    for f in files {
        changes.push(summa_catalog::compare(client, &f.name, &f.sql).await?);
    }
    let removed = summa_catalog::defined_views(client)
        .await?
        .into_iter()
        .filter(|v| !files.iter().any(|f| &f.name == v))
        .collect();
    Ok((changes, removed))
}

fn describe(change: &Change) -> String {
    match change {
        Change::Unchanged { version } => format!("unchanged (v{version})"),
        Change::Changed { from, to } => format!("changed: v{to} will be built beside v{from}"),
        Change::New { to } => format!("new: v{to} will be built"),
    }
}

const REMOVED: &str = "removed from the directory: still maintained (retire or drop it explicitly)";

/// The plan in `format`.
fn render(
    files: &[ViewFile],
    changes: &[Change],
    removed: &[String],
    format: PlanFormat,
) -> String {
    match format {
        PlanFormat::Human => {
            let mut out = String::new();
            for (f, c) in files.iter().zip(changes) {
                out += &format!("{:<24} {}  ({})\n", f.name, describe(c), f.path.display());
            }
            for name in removed {
                out += &format!("{name:<24} {REMOVED}\n");
            }
            out
        }
        PlanFormat::Markdown => {
            let mut out = String::from("| view | plan |\n| --- | --- |\n");
            for (f, c) in files.iter().zip(changes) {
                out += &format!("| `{}` | {} |\n", f.name, describe(c));
            }
            for name in removed {
                out += &format!("| `{name}` | {REMOVED} |\n");
            }
            out
        }
        PlanFormat::Json => {
            let mut items: Vec<serde_json::Value> = files
                .iter()
                .zip(changes)
                .map(|(f, c)| {
                    let (action, from, to) = match c {
                        Change::Unchanged { version } => ("unchanged", Some(*version), None),
                        Change::Changed { from, to } => ("changed", Some(*from), Some(*to)),
                        Change::New { to } => ("new", None, Some(*to)),
                    };
                    serde_json::json!({
                        "view": f.name, "file": f.path.display().to_string(),
                        "action": action, "current_version": from, "new_version": to,
                    })
                })
                .collect();
            items.extend(removed.iter().map(|name| {
                serde_json::json!({"view": name, "action": "removed", "file": null,
                                   "current_version": null, "new_version": null})
            }));
            format!("{:#}\n", serde_json::Value::Array(items))
        }
    }
}

/// The directory's view files (read before connecting: a bad file name fails first) and a
/// session named `application`.
async fn open(
    dir: &Path,
    url: Option<String>,
    config: &Config,
    application: &str,
) -> anyhow::Result<(Vec<ViewFile>, tokio_postgres::Client)> {
    let files = read_dir(dir)?;
    let conn = conn_info(url)?;
    Ok((files, connect(&conn, application, config).await?))
}

pub async fn plan(
    args: PlanArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let (files, client) = open(&args.dir, url, config, "summa-plan").await?;
    let (changes, removed) = compare_all(&client, &files).await?;
    print!("{}", render(&files, &changes, &removed, args.format));
    let changed = !removed.is_empty()
        || changes
            .iter()
            .any(|c| !matches!(c, Change::Unchanged { .. }));
    Ok(if changed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn apply(
    args: ApplyArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let (files, mut client) = open(&args.dir, url, config, "summa-apply").await?;
    let mut newest = Vec::new();
    for f in &files {
        let before = summa_catalog::compare(&client, &f.name, &f.sql).await?;
        let version = summa_catalog::define(&client, &f.name, &f.sql).await?;
        match before {
            Change::Unchanged { .. } => println!("{}: unchanged (v{version})", f.name),
            _ => println!("{}: defined v{version}; the sidecar builds it", f.name),
        }
        newest.push((f.name.clone(), version));
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    if args.wait || args.promote {
        for (name, version) in &newest {
            eprintln!("waiting for {name} v{version} to be live …");
            if !summa_catalog::wait_defined(&client, name, *version, timeout).await? {
                bail!(
                    "{name} v{version} is not live after {} s (is `summa run` running? see summa status)",
                    timeout.as_secs()
                );
            }
            println!("{name} v{version} is live");
        }
    }
    if args.promote {
        for (name, version) in &newest {
            let p =
                summa_catalog::promote(&mut client, name, Some(*version), config.lock_timeout())
                    .await?;
            match p.previous {
                Some(prev) if prev == p.version => println!("{name} already serves v{prev}"),
                _ => println!("{name} now serves v{}", p.version),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_view_names() {
        let dir = std::env::temp_dir().join(format!("summa-declare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("daily_sales.sql"), "\u{feff}SELECT 1").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let files = read_dir(&dir).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].name.as_str(), files[0].sql.as_str()),
            ("daily_sales", "SELECT 1")
        );
        std::fs::write(dir.join("Daily-Sales.sql"), "SELECT 1").unwrap();
        let err = read_dir(&dir).err().unwrap().to_string();
        assert!(
            err.contains("Daily-Sales.sql") && err.contains("lower-case"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn markdown_and_json_name_every_change() {
        let files = vec![
            ViewFile {
                name: "a".into(),
                path: "v/a.sql".into(),
                sql: String::new(),
            },
            ViewFile {
                name: "b".into(),
                path: "v/b.sql".into(),
                sql: String::new(),
            },
        ];
        let changes = vec![
            Change::Unchanged { version: 3 },
            Change::Changed { from: 1, to: 2 },
        ];
        let removed = vec!["c".to_string()];
        let md = render(&files, &changes, &removed, PlanFormat::Markdown);
        assert!(
            md.contains("| `b` | changed: v2 will be built beside v1 |"),
            "{md}"
        );
        assert!(md.contains("| `c` | removed from the directory"), "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&render(&files, &changes, &removed, PlanFormat::Json)).unwrap();
        assert_eq!(json[1]["action"], "changed");
        assert_eq!(json[1]["new_version"], 2);
        assert_eq!(json[2]["action"], "removed");
    }
}

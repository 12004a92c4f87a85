//! `run`: config file discovery and errors, `--deny warnings`, exit codes.

mod common;

use std::path::PathBuf;

use clap::Parser;
use summa_lint::{run, DenyLevel, Format, LintArgs, LintError};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    lint: LintArgs,
}

fn args(paths: &[&str]) -> LintArgs {
    LintArgs {
        paths: paths.iter().map(|p| common::fixture(p)).collect(),
        format: Some(Format::Json),
        exclude: Vec::new(),
        deny: Vec::new(),
        config: None,
    }
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("summa-lint-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn exit_code(a: &LintArgs) -> (i32, serde_json::Value) {
    let mut out = Vec::new();
    let code = run(a, &mut out).expect("run succeeds");
    let json = serde_json::from_slice(&out).expect("json output");
    (code, json)
}

#[test]
fn exit_code_follows_errors_and_deny_warnings() {
    let mut a = args(&["with_data/create.sql"]);
    assert_eq!(exit_code(&a).0, 0);
    a.deny = vec![DenyLevel::Warnings];
    let (code, json) = exit_code(&a);
    assert_eq!(code, 1);
    assert_eq!(json[0]["severity"], "error");
    assert_eq!(exit_code(&args(&["drop_recreate/positive"])).0, 1);
}

#[test]
fn config_file_severity() {
    let mut a = args(&["with_data/create.sql"]);
    a.config = Some(temp_config(
        "errors.toml",
        "[lint.severity]\nmatview-with-data = \"error\"\n",
    ));
    let (code, json) = exit_code(&a);
    assert_eq!(code, 1);
    assert_eq!(json[0]["rule"], "matview-with-data");
    assert_eq!(json[0]["severity"], "error");

    a.config = Some(temp_config(
        "off.toml",
        "[lint.severity]\nmatview-with-data = \"off\"\n",
    ));
    let (code, json) = exit_code(&a);
    assert_eq!(code, 0);
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn errors_name_the_path_or_key() {
    let mut a = args(&["with_data/create.sql"]);
    a.config = Some(temp_config(
        "bad.toml",
        "[lint.severity]\nno-such-rule = \"off\"\n",
    ));
    let err = run(&a, &mut Vec::new()).expect_err("bad config");
    assert!(matches!(err, LintError::Config { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("bad.toml") && msg.contains("lint.severity.no-such-rule"),
        "{msg}"
    );

    let err = run(&args(&["does/not/exist.sql"]), &mut Vec::new()).expect_err("missing");
    assert!(matches!(err, LintError::Read { .. }));
    assert!(err.to_string().contains("does/not/exist.sql"), "{err}");

    let mut a = args(&["with_data/create.sql"]);
    a.config = Some(PathBuf::from("no-such-summa.toml"));
    let err = run(&a, &mut Vec::new()).expect_err("missing config");
    assert!(err.to_string().contains("no-such-summa.toml"), "{err}");
}

#[test]
fn clap_arguments() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from([
        "lint",
        "migrations/",
        "more.sql",
        "--format",
        "github",
        "--deny",
        "warnings",
    ])
    .expect("valid arguments");
    assert_eq!(cli.lint.paths.len(), 2);
    assert_eq!(cli.lint.format, Some(Format::Github));
    assert_eq!(cli.lint.deny, vec![DenyLevel::Warnings]);
    // The config path comes from the `summa` command's global --config.
    assert_eq!(cli.lint.config, None);
    let defaults = Cli::try_parse_from(["lint", "m"]).expect("defaults");
    assert_eq!(defaults.lint.format, None);
    assert!(Cli::try_parse_from(["lint", "m", "--deny", "errors"]).is_err());
    assert!(Cli::try_parse_from(["lint"]).is_err(), "paths are required");
}

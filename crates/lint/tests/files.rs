//! File-level `allow-file` suppressions, `--exclude` / `[lint] exclude`
//! globs, and the formats chosen when `--format` is not given.

mod common;

use common::{fixture, hits, lint};
use summa_lint::{formats, lint_paths, run, Format, LintArgs, LintConfig, Severity};

#[test]
fn allow_file_anywhere_in_a_sql_file() {
    let r = lint(&["suppress/allow_file.sql"]);
    assert_eq!(hits(&r), vec![], "{:#?}", r.findings);
}

#[test]
fn allow_file_in_a_python_comment_keeps_other_rules() {
    let r = lint(&["suppress/allow_file.py"]);
    assert_eq!(
        hits(&r),
        vec![(
            "allow_file.py".into(),
            7,
            17,
            "matview-with-data",
            Severity::Warning
        )]
    );
}

fn names(report: &summa_lint::Report) -> Vec<String> {
    let mut files: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.file.rsplit('/').next().unwrap_or(&f.file).to_string())
        .collect();
    files.dedup();
    files
}

#[test]
fn exclude_globs_skip_walked_and_named_files() {
    let all = lint(&["exclude"]);
    assert_eq!(all.files_checked, 3);
    let mut config = LintConfig::default();
    config
        .exclude("**/migrations/legacy/**")
        .expect("valid glob");
    config.exclude("*_old.sql").expect("valid glob");
    let r = lint_paths(&[fixture("exclude")], &config).expect("lint");
    assert_eq!(r.files_checked, 1);
    assert_eq!(names(&r), ["V3__new.sql"]);
    // Files named on the command line (as a pre-commit hook does) too.
    let named = [
        fixture("exclude/migrations/legacy/V1__old.sql"),
        fixture("exclude/migrations/V3__new.sql"),
    ];
    let r = lint_paths(&named, &config).expect("lint");
    assert_eq!(names(&r), ["V3__new.sql"]);
    // A directory pattern skips the whole directory.
    let mut config = LintConfig::default();
    config
        .exclude("tests/fixtures/exclude/migrations/legacy")
        .expect("valid glob");
    let r = lint_paths(&[fixture("exclude")], &config).expect("lint");
    assert_eq!(r.files_checked, 2);
}

fn args(paths: &[&str]) -> LintArgs {
    LintArgs {
        paths: paths.iter().map(|p| fixture(p)).collect(),
        format: Some(Format::Json),
        deny: Vec::new(),
        exclude: Vec::new(),
        config: None,
    }
}

#[test]
fn exclude_from_the_command_line_and_the_config_file() {
    let mut a = args(&["exclude"]);
    a.exclude = vec!["**/legacy/**".into(), "**/*_old.sql".into()];
    let mut out = Vec::new();
    assert_eq!(run(&a, &mut out).expect("run"), 0);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1));

    a.exclude = vec!["a/**b".into()];
    let err = run(&a, &mut Vec::new()).expect_err("bad glob");
    assert!(err.to_string().starts_with("--exclude a/**b: "), "{err}");

    let dir = std::env::temp_dir().join(format!("summa-lint-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let toml = dir.join("summa.toml");
    std::fs::write(
        &toml,
        "[lint]\nexclude = [\"**/legacy/**\", \"*_old.sql\"]\n",
    )
    .expect("write");
    let mut a = args(&["exclude"]);
    a.config = Some(toml);
    let mut out = Vec::new();
    assert_eq!(run(&a, &mut out).expect("run"), 0);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(
        json[0]["file"],
        "tests/fixtures/exclude/migrations/V3__new.sql"
    );
}

#[test]
fn github_annotations_switch_on_in_github_actions_without_format() {
    assert_eq!(formats(None, false), vec![Format::Human]);
    assert_eq!(formats(None, true), vec![Format::Human, Format::Github]);
    assert_eq!(formats(Some(Format::Json), true), vec![Format::Json]);
    assert_eq!(formats(Some(Format::Human), true), vec![Format::Human]);
    assert_eq!(formats(Some(Format::Gitlab), false), vec![Format::Gitlab]);
}

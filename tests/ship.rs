//! The linter where linters live: the pre-commit hook (`.pre-commit-hooks.yaml`) and the
//! composite GitHub Action (`action.yml`) at the repository root, each tested by running its
//! command, with `summa` being the binary cargo built, on one good migration (a
//! `summa.define`) and one bad one (DROP + CREATE MATERIALIZED VIEW).

#[path = "ship/yaml.rs"]
mod yaml;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml::Node;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_yaml(name: &str) -> Node {
    let path = root().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const GOOD: &str = "tests/fixtures/ship/good/migrations/V4__daily_sales_v2.sql";
const BAD: &str = "tests/fixtures/ship/bad/migrations/V4__rebuild_daily_sales.sql";

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command run from the repository root, without the CI's or a developer's environment
/// deciding the format or a database.
fn command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("DATABASE_URL");
    cmd
}

#[test]
fn pre_commit_hook_entry_runs_on_the_files_it_is_given() {
    let hooks = read_yaml(".pre-commit-hooks.yaml");
    let hook = hooks
        .items()
        .iter()
        .find(|h| h.get("id").and_then(Node::scalar) == Some("summa-lint"))
        .expect("a hook with id summa-lint");
    let entry = hook.get("entry").and_then(Node::scalar).expect("entry");
    assert_eq!(
        hook.get("pass_filenames").and_then(Node::scalar),
        Some("true")
    );
    let language = hook.get("language").and_then(Node::scalar);
    assert!(matches!(language, Some("rust" | "system")), "{language:?}");
    let files = hook.get("files").and_then(Node::scalar).expect("files");
    assert!(
        files.contains("migrations?") && files.contains(r"\.(sql|py)$"),
        "{files}"
    );

    let mut words = entry.split_whitespace();
    assert_eq!(words.next(), Some("summa"), "entry runs summa: {entry}");
    let args: Vec<&str> = words.collect();
    let run = |file: &str| {
        command(Path::new(env!("CARGO_BIN_EXE_summa")))
            .args(&args)
            .arg(file)
            .output()
            .expect("run the hook's entry")
    };

    let good = run(GOOD);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert!(
        String::from_utf8_lossy(&good.stdout).contains("no problems in 1 file"),
        "{}",
        text(&good)
    );

    let bad = run(BAD);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains(&format!("{BAD}:2:1: error[drop-recreate-matview]")),
        "{}",
        text(&bad)
    );
    assert!(
        out.contains("summa.define("),
        "the fix is shown: {}",
        text(&bad)
    );
}

/// The action's inputs with their defaults, then `given` on top.
fn inputs(action: &Node, given: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = action
        .get("inputs")
        .expect("inputs")
        .entries()
        .iter()
        .map(|(name, spec)| {
            let default = spec.get("default").and_then(Node::scalar).unwrap_or("");
            (name.clone(), default.to_string())
        })
        .collect();
    for (name, value) in given {
        let slot = values
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("action.yml has no input {name}"));
        slot.1 = value.to_string();
    }
    values
}

/// `${{ inputs.NAME }}` replaced by the input's value.
fn expand(template: &str, inputs: &[(String, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in inputs {
        for form in [
            format!("${{{{ inputs.{name} }}}}"),
            format!("${{{{inputs.{name}}}}}"),
        ] {
            out = out.replace(&form, value);
        }
    }
    assert!(!out.contains("${{"), "unexpanded expression in {template}");
    out
}

/// Runs the action's lint step as the runner would: `bash -c RUN` with the step's env, in a
/// GitHub Actions environment, with the built `summa` first on PATH.
fn run_lint_step(action: &Node, given: &[(&str, &str)]) -> Output {
    let steps = action
        .get("runs")
        .and_then(|r| r.get("steps"))
        .expect("runs.steps");
    let step = steps
        .items()
        .iter()
        .find(|s| {
            s.get("run")
                .and_then(Node::scalar)
                .is_some_and(|r| r.contains("summa lint"))
        })
        .expect("a step that runs summa lint");
    assert_eq!(step.get("shell").and_then(Node::scalar), Some("bash"));
    let run = step.get("run").and_then(Node::scalar).expect("run");
    let values = inputs(action, given);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_summa"))
        .parent()
        .expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = command(Path::new("bash"));
    cmd.arg("-c")
        .arg(run)
        .env("PATH", path)
        .env("GITHUB_ACTIONS", "true");
    if let Some(env) = step.get("env") {
        for (key, value) in env.entries() {
            let value = value.scalar().expect("env values are scalars");
            cmd.env(key, expand(value, &values));
        }
    }
    cmd.output().expect("run the action's lint step")
}

#[test]
fn github_action_installs_from_the_checkout_and_runs_summa_lint() {
    let action = read_yaml("action.yml");
    assert_eq!(
        action
            .get("runs")
            .and_then(|r| r.get("using"))
            .and_then(Node::scalar),
        Some("composite")
    );
    let steps = action
        .get("runs")
        .and_then(|r| r.get("steps"))
        .expect("steps");
    let install = steps
        .items()
        .iter()
        .filter_map(|s| s.get("run").and_then(Node::scalar))
        .find(|r| r.contains("cargo install"))
        .expect("an install step");
    assert!(
        install.contains("--locked") && install.contains("--path \"$GITHUB_ACTION_PATH\""),
        "{install}"
    );
    // The action's directory is this repository: its root package has the summa binary.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("[[bin]]\nname = \"summa\""),
        "root package has bin summa"
    );
    assert!(
        root().join("Cargo.lock").is_file(),
        "--locked needs Cargo.lock"
    );

    let good = run_lint_step(&action, &[("paths", GOOD)]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));

    let bad = run_lint_step(&action, &[("paths", &format!("{GOOD} {BAD}"))]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.starts_with(&format!(
            "::error file={BAD},line=2,col=1,title=summa-lint/drop-recreate-matview::"
        )),
        "{}",
        text(&bad)
    );

    // An empty format: human text, then annotations by themselves (GITHUB_ACTIONS=true).
    let auto = run_lint_step(&action, &[("paths", BAD), ("format", "")]);
    assert_eq!(auto.status.code(), Some(1), "{}", text(&auto));
    let out = String::from_utf8_lossy(&auto.stdout);
    let human = out
        .find("error[drop-recreate-matview]")
        .expect("human text");
    let annotation = out.find("::error file=").expect("annotation");
    assert!(human < annotation, "{}", text(&auto));

    // args are passed on: --exclude skips the bad file.
    let excluded = run_lint_step(
        &action,
        &[
            ("paths", &format!("{GOOD} {BAD}")),
            ("args", "--exclude **/bad/**"),
        ],
    );
    assert_eq!(excluded.status.code(), Some(0), "{}", text(&excluded));
}

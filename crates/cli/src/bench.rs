//! `summa bench` runs the `summa-bench` binary found next to this executable, with the same
//! arguments, and returns its exit code. The benchmark is a crate of its own (crates/bench), so
//! the sidecar's dependency graph carries none of its plotting; `cargo build --release` builds
//! both binaries (the workspace's default members).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

/// Everything after `summa bench`, handed to `summa-bench` unparsed (`summa bench --help`
/// prints summa-bench's options).
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// The global options `summa` parsed itself, passed on to `summa-bench`.
pub struct Globals {
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log: Option<String>,
}

pub fn run(args: BenchArgs, globals: Globals) -> anyhow::Result<ExitCode> {
    let me = std::env::current_exe().context("cannot find the summa executable")?;
    let bench = bench_exe(&me)?;
    let mut cmd = Command::new(&bench);
    if let Some(config) = &globals.config {
        cmd.arg("--config").arg(config);
    }
    if let Some(log) = &globals.log {
        cmd.arg("--log").arg(log);
    }
    // The URL goes through the environment, not the command line other users can read.
    if let Some(url) = &globals.database_url {
        cmd.env("DATABASE_URL", url);
    }
    // Measure this very sidecar build.
    cmd.arg("--summa-bin").arg(&me).args(&args.args);
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", bench.display()))?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
        None => {
            eprintln!("error: {} was killed by a signal", bench.display());
            ExitCode::FAILURE
        }
    })
}

/// `summa-bench` next to `me`, or an error saying how to build it.
fn bench_exe(me: &Path) -> anyhow::Result<PathBuf> {
    let bench = me.with_file_name(format!("summa-bench{}", std::env::consts::EXE_SUFFIX));
    if bench.is_file() {
        return Ok(bench);
    }
    let release = me
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "release");
    bail!(
        "`summa bench` runs the summa-bench binary, and there is none next to {}: build it with \
         `cargo build{} -p summa-bench` (or `cargo build{}`, which builds both)",
        me.display(),
        if release { " --release" } else { "" },
        if release { " --release" } else { "" },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_bench_binary_says_how_to_build_it() {
        let dir =
            std::env::temp_dir().join(format!("summa-nobench-{}/release", std::process::id()));
        let err = super::bench_exe(&dir.join("summa"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo build --release -p summa-bench"),
            "{err}"
        );
    }
}

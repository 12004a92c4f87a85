//! Errors that stop a lint run (findings are not errors).

use std::path::PathBuf;

/// Why `summa lint` could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A migration path, directory or config file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}: invalid TOML: {message}", path.display())]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A key or value of the `[lint]` table is not understood.
    #[error("{}: {key}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// Dotted key, e.g. `lint.severity.drop-matview-cascade`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An exclude pattern (`--exclude`) is not a glob.
    #[error("--exclude {pattern}: {message}")]
    Exclude {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// Checking a `summa.define` call (planning its SELECT) failed for a
    /// reason other than the SELECT itself (e.g. the database went away).
    #[error("{file}:{line}: cannot check summa.define('{name}'): {message}")]
    DefineCheck {
        /// The file of the call.
        file: String,
        /// The line of the call.
        line: usize,
        /// The summary's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Writing the report failed.
    #[error("cannot write the lint report: {0}")]
    Output(std::io::Error),
}

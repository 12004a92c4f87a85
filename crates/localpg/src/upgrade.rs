//! `pg_upgrade` of a private cluster into a new one of another server version.
//!
//! The new cluster must match what `pg_upgrade` compares: the same encoding and locale (both
//! come from [`LocalPostgres::init`]) and the same data checksum setting. initdb's default for
//! checksums changed in PostgreSQL 18 (on), so the new cluster is initialised with the old
//! one's setting, read from `pg_controldata`. The old cluster is stopped first and left in
//! place (its handle removes it); the new one gets the private cluster's settings and a port
//! of its own.

use std::path::Path;
use std::process::Command;

use crate::{LocalPgError, LocalPostgres};

impl LocalPostgres {
    /// Stop this cluster and `pg_upgrade` it into a new cluster of the server binaries in
    /// `new_bin` (a newer major version), started with `settings`. Replication slots of a
    /// server before 17 are not carried over (`pg_upgrade` only migrates those of 17 and
    /// later).
    pub fn upgrade_to(
        &self,
        new_bin: &Path,
        settings: &[(&str, &str)],
    ) -> Result<LocalPostgres, LocalPgError> {
        let checksums = self.data_checksums()?;
        let supports_no_checksums = help_mentions(&new_bin.join("initdb"), "--no-data-checksums");
        let initdb_args: &[&str] = match (checksums, supports_no_checksums) {
            (true, _) => &["--data-checksums"],
            (false, true) => &["--no-data-checksums"],
            (false, false) => &[],
        };
        let mut new = LocalPostgres::init(new_bin.to_path_buf(), settings, initdb_args)?;
        self.stop("fast")?;
        let (old_port, new_port) = (self.port.to_string(), new.port.to_string());
        let mut cmd = new.as_server_user(&new_bin.join("pg_upgrade"));
        cmd.current_dir(&new.dir)
            .arg("--old-bindir")
            .arg(&self.bin)
            .arg("--new-bindir")
            .arg(new_bin)
            .arg("--old-datadir")
            .arg(self.data_dir())
            .arg("--new-datadir")
            .arg(new.data_dir())
            .args(["--old-port", &old_port, "--new-port", &new_port])
            .args(["--username", "postgres", "--socketdir"])
            .arg(&new.dir);
        new.run("pg_upgrade", &mut cmd)?;
        new.pg_ctl_start()?;
        new.spawn_guardian();
        Ok(new)
    }

    /// Whether this cluster has data checksums (`pg_controldata`: a nonzero version).
    fn data_checksums(&self) -> Result<bool, LocalPgError> {
        let out = self
            .as_server_user(&self.bin.join("pg_controldata"))
            .arg(self.data_dir())
            .output()
            .map_err(|source| LocalPgError::Io {
                step: "pg_controldata",
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("Data page checksum version:"))
            .map(str::trim)
            .ok_or_else(|| LocalPgError::Command {
                step: "pg_controldata",
                detail: format!(
                    "no data page checksum version in its output:\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            })?;
        Ok(version != "0")
    }
}

/// Whether `program --help` lists `option`.
fn help_mentions(program: &Path, option: &str) -> bool {
    Command::new(program)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(option))
        .unwrap_or(false)
}

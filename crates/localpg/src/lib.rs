//! A private PostgreSQL cluster started from the installed server binaries.
//!
//! Used by `summa demo` (when no database URL is given) and by the test suite. The cluster
//! lives in a fresh temporary directory, listens on a free loopback port with
//! `wal_level=logical`, and is removed when the [`LocalPostgres`] is dropped.
//!
//! PostgreSQL refuses to run as root, so when this process is root the server runs as the
//! `postgres` OS user (`runuser -u postgres`) in a directory chowned to it.
//!
//! [`LocalPostgres::start_with_tls`] also turns on `ssl` with a certificate signed by a
//! self-signed test CA (made with the `openssl` command), for tests of TLS clients.
//!
//! A guardian shell process (in its own session) watches this process and stops the cluster
//! and removes its directory if this process dies without dropping the handle (a panic in a
//! test binary's static, `kill -9`), so no cluster outlives its owner.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod tls;
mod upgrade;

pub use tls::{generate_ca, TestCa};

/// What can go wrong starting the private cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "PostgreSQL server binaries not found (looked for initdb in {searched}); install \
         PostgreSQL 15 (Debian: apt-get install postgresql-15) or set SUMMA_PG_BIN to its bin directory"
    )]
    NotInstalled { searched: String },
    #[error(
        "SUMMA_PG_BIN={dir} is not a PostgreSQL bin directory (no initdb and pg_ctl in it); \
         point it at the directory holding initdb, pg_ctl and postgres"
    )]
    BadBinDir { dir: String },
    #[error("running as root, but the `postgres` OS user does not exist to run the server as")]
    NoPostgresUser,
    #[error(
        "the `postgres` OS user cannot run {program} ({detail}); the server runs as that user \
         because this process is root: make that directory and every one above it readable \
         and searchable by it (chmod o+rx)"
    )]
    NotRunnableByPostgres { program: String, detail: String },
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("i/o error during {step}: {source}")]
    Io {
        step: &'static str,
        source: std::io::Error,
    },
}

/// A running private cluster. Dropping it stops the server and deletes its directory.
#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    guardian: Option<std::process::Child>,
    ca: Option<TestCa>,
}

/// The fallback directories searched for `initdb` when `SUMMA_PG_BIN` is unset: the Debian
/// layout (PostgreSQL 15, the version the suite is written against, first), then `PATH`.
fn fallback_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for major in [15, 16, 17, 18] {
        dirs.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
    }
    if let Ok(path) = std::env::var("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// The directory of the installed PostgreSQL binaries (`SUMMA_PG_BIN`, else the Debian
/// layout, then `PATH`), for client programs such as `pgbench`.
pub fn installed_bin_dir() -> Result<PathBuf, LocalPgError> {
    find_bin_dir()
}

fn find_bin_dir() -> Result<PathBuf, LocalPgError> {
    choose_bin_dir(
        std::env::var_os("SUMMA_PG_BIN").map(PathBuf::from),
        fallback_bin_dirs(),
    )
}

fn is_bin_dir(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// `explicit` (`SUMMA_PG_BIN`) alone when given: a wrong directory is an error, never a quiet
/// fall back to another server (a CI pass meant for a second version would test the first).
fn choose_bin_dir(
    explicit: Option<PathBuf>,
    fallbacks: Vec<PathBuf>,
) -> Result<PathBuf, LocalPgError> {
    if let Some(dir) = explicit {
        return if is_bin_dir(&dir) {
            Ok(dir)
        } else {
            Err(LocalPgError::BadBinDir {
                dir: dir.display().to_string(),
            })
        };
    }
    fallbacks
        .iter()
        .find(|d| is_bin_dir(d))
        .cloned()
        .ok_or_else(|| LocalPgError::NotInstalled {
            searched: fallbacks
                .iter()
                .take(5)
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The server program runs for the `postgres` OS user (every directory above it searchable,
/// its libraries readable), checked up front so a tree unpacked by root fails with the reason
/// instead of an initdb message about a missing `postgres`.
fn runnable_by_postgres(program: &Path) -> Result<(), LocalPgError> {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalPgError::Io {
            step: "running the server program as the postgres user",
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LocalPgError::NotRunnableByPostgres {
        program: program.display().to_string(),
        detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn free_port() -> Result<u16, LocalPgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| LocalPgError::Io {
        step: "finding a free port",
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| LocalPgError::Io {
            step: "finding a free port",
            source,
        })
}

/// Settings of the private cluster: logical decoding on, sized for a small machine, and
/// fsync off (a throwaway cluster never needs crash safety of its own). synchronous_commit
/// stays on: the walsender only sends flushed WAL, so delayed flushes would add up to
/// 3 × wal_writer_delay to every change's latency.
const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("wal_level", "logical"),
    ("max_replication_slots", "100"),
    ("max_wal_senders", "100"),
    ("max_connections", "200"),
    ("shared_buffers", "256MB"),
    ("fsync", "off"),
    ("full_page_writes", "off"),
    ("listen_addresses", "'127.0.0.1'"),
    ("unix_socket_directories", "''"),
    ("log_min_messages", "warning"),
    ("logging_collector", "off"),
];

impl LocalPostgres {
    /// Initialise and start a new cluster; blocks until it accepts connections.
    pub fn start() -> Result<Self, LocalPgError> {
        Self::start_with(&[])
    }

    /// As [`LocalPostgres::start`], with `settings` overriding the defaults (tests of
    /// misconfigured servers: `wal_level = replica`, few replication slots).
    pub fn start_with(settings: &[(&str, &str)]) -> Result<Self, LocalPgError> {
        Self::start_in(&find_bin_dir()?, settings)
    }

    /// As [`LocalPostgres::start_with`], with the server binaries in `bin` rather than
    /// `SUMMA_PG_BIN`'s (a test of an upgrade between two servers).
    pub fn start_in(bin: &Path, settings: &[(&str, &str)]) -> Result<Self, LocalPgError> {
        if !is_bin_dir(bin) {
            return Err(LocalPgError::BadBinDir {
                dir: bin.display().to_string(),
            });
        }
        let mut pg = Self::init(bin.to_path_buf(), settings, &[])?;
        pg.pg_ctl_start()?;
        pg.spawn_guardian();
        Ok(pg)
    }

    /// As [`LocalPostgres::start_with`], with `ssl = on` and a server certificate for
    /// `localhost` and `127.0.0.1` signed by a fresh self-signed CA ([`LocalPostgres::ca`]).
    /// Plain connections are still accepted.
    pub fn start_with_tls(settings: &[(&str, &str)]) -> Result<Self, LocalPgError> {
        let mut pg = Self::init(find_bin_dir()?, settings, &[])?;
        pg.install_tls()?;
        pg.pg_ctl_start()?;
        pg.spawn_guardian();
        Ok(pg)
    }

    /// The test CA that signed the server certificate (clusters from `start_with_tls`).
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// Make the CA and server certificate; the key goes into the data directory, owned by
    /// the server's user with mode 0600 as PostgreSQL demands.
    fn install_tls(&mut self) -> Result<(), LocalPgError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.join("tls");
        let io = |step| move |source| LocalPgError::Io { step, source };
        std::fs::create_dir_all(&dir).map_err(io("creating the certificate directory"))?;
        let ca = tls::generate_ca(&dir, "ca")?;
        let server = tls::generate_server_cert(&dir, &ca)?;
        let data = self.data_dir();
        for (from, to) in [(&server.cert, "server.crt"), (&server.key, "server.key")] {
            let to = data.join(to);
            std::fs::copy(from, &to).map_err(io("installing the server certificate"))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(io("installing the server certificate"))?;
            if self.as_postgres_user {
                self.run(
                    "chown",
                    Command::new("chown").arg("postgres:postgres").arg(&to),
                )?;
            }
        }
        append(
            &data.join("postgresql.conf"),
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        )?;
        self.ca = Some(ca);
        Ok(())
    }

    /// Create the cluster directory, run initdb (with `initdb_args` added) and write the
    /// configuration; not started.
    fn init(
        bin: PathBuf,
        settings: &[(&str, &str)],
        initdb_args: &[&str],
    ) -> Result<Self, LocalPgError> {
        let as_postgres_user = is_root();
        if as_postgres_user
            && Command::new("id")
                .arg("postgres")
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        {
            return Err(LocalPgError::NoPostgresUser);
        }
        if as_postgres_user {
            runnable_by_postgres(&bin.join("postgres"))?;
        }
        let dir = std::env::temp_dir().join(format!(
            "summa-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LocalPgError::Io {
            step: "creating the cluster directory",
            source,
        })?;
        let mut pg = LocalPostgres {
            bin,
            dir,
            port: 0,
            as_postgres_user,
            guardian: None,
            ca: None,
        };
        if as_postgres_user {
            pg.run(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pg.dir),
            )?;
        }
        let data = pg.data_dir();
        let initdb = pg.bin.join("initdb");
        pg.run(
            "initdb",
            pg.as_server_user(&initdb)
                .args(["-D"])
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "-N",
                ])
                .args(initdb_args),
        )?;
        let mut conf = String::new();
        for (k, v) in SERVER_SETTINGS.iter().chain(settings) {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        pg.port = free_port()?;
        conf.push_str(&format!("port = {}\n", pg.port));
        append(&data.join("postgresql.conf"), &conf)?;
        append(
            &data.join("pg_hba.conf"),
            "host replication all 127.0.0.1/32 trust\n",
        )?;
        Ok(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_server_user(&self, program: &Path) -> Command {
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, step: &'static str, cmd: &mut Command) -> Result<(), LocalPgError> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| LocalPgError::Io { step, source })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(LocalPgError::Command {
                step,
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }

    fn pg_ctl_start(&self) -> Result<(), LocalPgError> {
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl start",
            self.as_server_user(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]),
        )
        .map_err(|e| match e {
            LocalPgError::Command { step, detail } => LocalPgError::Command {
                step,
                detail: format!(
                    "{detail}\nserver log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            },
            other => other,
        })
    }

    /// Stop the server (`fast` or `immediate`), leaving the data directory in place.
    pub fn stop(&self, mode: &str) -> Result<(), LocalPgError> {
        self.run(
            "pg_ctl stop",
            self.as_server_user(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", mode, "-w", "stop"]),
        )
    }

    /// Restart the server on the same port (`fast` or `immediate` shutdown first).
    pub fn restart(&self, mode: &str) -> Result<(), LocalPgError> {
        self.stop(mode)?;
        self.pg_ctl_start()
    }

    /// Watches this process; stops the cluster and deletes it if this process disappears.
    fn spawn_guardian(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres_user {
            format!(
                "runuser -u postgres -- '{}' -D '{}' -m immediate stop",
                pg_ctl.display(),
                self.data_dir().display()
            )
        } else {
            format!(
                "'{}' -D '{}' -m immediate stop",
                pg_ctl.display(),
                self.data_dir().display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        self.guardian = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for `database` as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, database)
    }

    /// Directory of the server binaries in use (for `psql`, `pgbench`, …).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

fn append(path: &Path, text: &str) -> Result<(), LocalPgError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|source| LocalPgError::Io {
            step: "writing the server configuration",
            source,
        })?;
    f.write_all(text.as_bytes())
        .map_err(|source| LocalPgError::Io {
            step: "writing the server configuration",
            source,
        })
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
        let started = Instant::now();
        while self.data_dir().join("postmaster.pid").exists()
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut g) = self.guardian.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bin_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("summa-localpg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for program in ["initdb", "pg_ctl"] {
            std::fs::write(dir.join(program), "").unwrap();
        }
        dir
    }

    #[test]
    fn summa_pg_bin_is_used_alone_and_a_wrong_one_is_an_error() {
        let good = fake_bin_dir("good");
        let missing = std::env::temp_dir().join("summa-localpg-no-such-dir");
        // A wrong SUMMA_PG_BIN never falls back to another installed server.
        let err = choose_bin_dir(Some(missing.clone()), vec![good.clone()]).unwrap_err();
        assert!(
            matches!(&err, LocalPgError::BadBinDir { dir } if *dir == missing.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("SUMMA_PG_BIN="), "{err}");
        assert_eq!(
            choose_bin_dir(Some(good.clone()), vec![missing.clone()]).unwrap(),
            good
        );
        assert_eq!(
            choose_bin_dir(None, vec![missing, good.clone()]).unwrap(),
            good
        );
        let _ = std::fs::remove_dir_all(&good);
    }

    #[test]
    fn no_server_anywhere_names_the_places_searched() {
        let missing = std::env::temp_dir().join("summa-localpg-nowhere");
        let err = choose_bin_dir(None, vec![missing.clone()]).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    /// As root the server runs as `postgres`: a tree it cannot reach is refused with the reason.
    #[test]
    fn a_server_program_the_postgres_user_cannot_reach_is_named() {
        use std::os::unix::fs::PermissionsExt;
        if !is_root() {
            // Only root runs the server as another user; nothing to check otherwise.
            eprintln!("not root: runnable_by_postgres is not used, nothing to check");
            return;
        }
        let private =
            std::env::temp_dir().join(format!("summa-localpg-private-{}", std::process::id()));
        std::fs::create_dir_all(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let program = private.join("postgres");
        std::fs::copy("/bin/true", &program).unwrap();
        let err = runnable_by_postgres(&program).unwrap_err();
        assert!(
            matches!(err, LocalPgError::NotRunnableByPostgres { .. })
                && err.to_string().contains(&program.display().to_string())
                && err.to_string().contains("chmod o+rx"),
            "{err}"
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        runnable_by_postgres(&program).expect("a reachable program runs");
        let _ = std::fs::remove_dir_all(&private);
    }
}

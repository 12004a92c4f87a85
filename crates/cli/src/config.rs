//! `summa.toml`: every tunable, its default and its meaning, defined once here
//! (docs/configuration.md lists the same table; `summa config --defaults` prints it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Target database URL; overridden by --database-url / DATABASE_URL.
    pub database_url: Option<String>,
    /// Schema of summary tables and alias views.
    pub schema: String,
    /// Versioned table name: `{name}`, `{version}` (or `{n}`), and the creation date's
    /// `{yyyy}`, `{mm}`, `{dd}` (UTC) are replaced.
    pub table_pattern: String,
    /// Retired versions are dropped (by `summa gc`, also run by the sidecar) this many hours
    /// after `summa retire`.
    pub retention_hours: u64,
    /// `lock_timeout` of `summa promote`'s transaction, in milliseconds.
    pub promote_lock_timeout_ms: u64,
    /// Groups `summa verify` compares per statement (key ranges).
    pub verify_chunk_groups: i64,
    /// Longest any statement summa issues may run (statement_timeout), in milliseconds.
    pub statement_budget_ms: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// A publication a DBA created (`summa setup --print`); unset: summa creates its own per
    /// stream (which needs ownership of the source tables).
    pub publication: Option<String>,
    /// `host:port` where `summa run` serves `/metrics` and `/health`; unset: no endpoint.
    pub metrics_address: Option<String>,
    /// `/health` reports not ready when a live version lags more than this many seconds.
    pub health_max_lag_seconds: f64,
    pub apply: ApplySection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplySection {
    /// Close a batch after this many source changes (at a transaction boundary).
    pub max_batch_changes: usize,
    /// Close a batch at the first transaction boundary after this many milliseconds.
    pub max_batch_delay_ms: u64,
    /// Signed rows per view buffered in memory before a chunk is shipped to Postgres.
    pub chunk_rows: usize,
    /// `reset` (empty the summary at the TRUNCATE's position; it stays live) or `break`.
    pub on_truncate: summa_apply::TruncatePolicy,
    /// Attempts at a batch failing with a timeout, lock or deadlock error in one version before
    /// that version is marked broken.
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            schema: "public".into(),
            table_pattern: "{name}__v{version}".into(),
            retention_hours: 24,
            promote_lock_timeout_ms: 2_000,
            verify_chunk_groups: summa_catalog::DEFAULT_CHUNK_GROUPS,
            statement_budget_ms: 30_000,
            log_format: "text".into(),
            publication: None,
            metrics_address: None,
            health_max_lag_seconds: 60.0,
            apply: ApplySection::default(),
        }
    }
}

impl Default for ApplySection {
    fn default() -> Self {
        let d = summa_apply::ApplyConfig::default();
        ApplySection {
            max_batch_changes: d.max_batch_changes,
            max_batch_delay_ms: d.max_batch_delay.as_millis() as u64,
            chunk_rows: d.chunk_rows,
            on_truncate: d.on_truncate,
            max_attempts: d.max_attempts,
        }
    }
}

/// Every key with its default, for docs and `summa config --defaults`.
pub const DEFAULTS_TOML: &str = r#"# database_url = "postgres://summa@localhost/app"   # or DATABASE_URL
schema = "public"                  # schema of summary tables and alias views
table_pattern = "{name}__v{version}"  # versioned table name; also {n}, {yyyy}, {mm}, {dd}
retention_hours = 24               # retired versions are dropped this long after `summa retire`
promote_lock_timeout_ms = 2000     # lock_timeout of the alias switch in `summa promote`
verify_chunk_groups = 50000        # groups `summa verify` compares per statement
statement_budget_ms = 30000        # statement_timeout of every statement summa runs
log_format = "text"                # text | json
# publication = "summa"            # a DBA's publication (`summa setup --print`); unset: summa owns one
# metrics_address = "127.0.0.1:9187"  # `summa run` serves /metrics and /health here (unset: off)
health_max_lag_seconds = 60        # /health is not ready while a live version lags more

[apply]
max_batch_changes = 50000          # close a batch after this many source changes
max_batch_delay_ms = 200           # ... or this long after it opened (at a commit)
chunk_rows = 20000                 # signed rows per view held in memory before shipping
on_truncate = "reset"              # reset: empty the summary at the TRUNCATE | break: mark broken
max_attempts = 5                   # a batch failing on timeouts/locks in one version: tries before broken
"#;

impl Config {
    /// Read `path`, or `./summa.toml` when it exists, or the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let path: Option<PathBuf> = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("summa.toml")).filter(|p| p.exists()),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let value: toml::Table = toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
        // The linter's section belongs to `summa lint`.
        let mut value = value;
        value.remove("lint");
        let config: Config = value
            .try_into()
            .with_context(|| format!("config file {}", path.display()))?;
        config
            .validate()
            .with_context(|| format!("config file {}", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.table_pattern.contains("{name}")
            || !(self.table_pattern.contains("{version}") || self.table_pattern.contains("{n}"))
        {
            bail!(
                "table_pattern must contain {{name}} and {{version}} (or {{n}}), got {:?}",
                self.table_pattern
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!(
                "log_format must be \"text\" or \"json\", got {:?}",
                self.log_format
            );
        }
        if self.statement_budget_ms < 100 {
            bail!(
                "statement_budget_ms must be at least 100, got {}",
                self.statement_budget_ms
            );
        }
        if let Some(address) = &self.metrics_address {
            if address.parse::<std::net::SocketAddr>().is_err() {
                bail!("metrics_address must be host:port with an IP address (e.g. \"127.0.0.1:9187\"), got {address:?}");
            }
        }
        if self.health_max_lag_seconds.is_nan() || self.health_max_lag_seconds <= 0.0 {
            bail!(
                "health_max_lag_seconds must be positive, got {}",
                self.health_max_lag_seconds
            );
        }
        if self.verify_chunk_groups < 1 {
            bail!(
                "verify_chunk_groups must be at least 1, got {}",
                self.verify_chunk_groups
            );
        }
        if self.apply.max_batch_changes == 0
            || self.apply.chunk_rows == 0
            || self.apply.max_attempts == 0
        {
            bail!(
                "apply.max_batch_changes, apply.chunk_rows and apply.max_attempts must be positive"
            );
        }
        Ok(())
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_hours * 3600)
    }

    pub fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.promote_lock_timeout_ms)
    }

    pub fn statement_budget(&self) -> Duration {
        Duration::from_millis(self.statement_budget_ms)
    }

    pub fn apply_config(&self) -> summa_apply::ApplyConfig {
        summa_apply::ApplyConfig {
            max_batch_changes: self.apply.max_batch_changes,
            max_batch_delay: Duration::from_millis(self.apply.max_batch_delay_ms),
            chunk_rows: self.apply.chunk_rows,
            on_truncate: self.apply.on_truncate,
            max_attempts: self.apply.max_attempts,
            statement_budget: self.statement_budget(),
            retention: self.retention(),
            ..Default::default()
        }
    }

    pub fn create_options(&self) -> summa_catalog::CreateOptions {
        summa_catalog::CreateOptions {
            schema: self.schema.clone(),
            table_pattern: self.table_pattern.clone(),
            statement_budget: self.statement_budget(),
            publication: self.publication.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_document_every_key() {
        let from_doc: Config = toml::from_str(DEFAULTS_TOML).unwrap();
        let d = Config::default();
        assert_eq!(from_doc.schema, d.schema);
        assert_eq!(from_doc.table_pattern, d.table_pattern);
        assert_eq!(from_doc.statement_budget_ms, d.statement_budget_ms);
        assert_eq!(from_doc.apply.max_batch_changes, d.apply.max_batch_changes);
        assert_eq!(
            from_doc.apply.max_batch_delay_ms,
            d.apply.max_batch_delay_ms
        );
        assert_eq!(from_doc.apply.chunk_rows, d.apply.chunk_rows);
        assert_eq!(from_doc.apply.on_truncate, d.apply.on_truncate);
        assert_eq!(from_doc.apply.max_attempts, d.apply.max_attempts);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = std::env::temp_dir().join(format!("summa-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.toml");
        std::fs::write(&p, "scheme = \"x\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("scheme"), "{err}");
        std::fs::write(&p, "table_pattern = \"x\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("table_pattern"), "{err}");
        std::fs::write(&p, "[apply]\nchunk_rows = \"many\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("chunk_rows"), "{err}");
        std::fs::write(&p, "[apply]\non_truncate = \"ignore\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(
            err.contains("on_truncate") && err.contains("reset"),
            "{err}"
        );
        std::fs::write(&p, "metrics_address = \"localhost\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(
            err.contains("metrics_address") && err.contains("host:port"),
            "{err}"
        );
    }
}

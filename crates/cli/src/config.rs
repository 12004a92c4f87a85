//! `summa.toml`: loading and checking it. Every key's default, unit and meaning is defined
//! once in [`crate::tunables`] (the applier's keys in [`summa_apply::tunables`]); `summa config`
//! prints them and docs/configuration.md's table is generated from them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use summa_apply::tunables as apply;

use crate::tunables::*;

/// The longest retention accepted: 100 years (its seconds must fit a Duration and an interval).
const MAX_RETENTION_HOURS: u64 = 100 * 365 * 24;

/// The top-level keys; each field is the tunable of the same name in [`crate::tunables::ALL`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database_url: Option<String>,
    pub schema: String,
    pub table_pattern: String,
    pub retention_hours: u64,
    pub promote_lock_timeout_ms: u64,
    pub verify_chunk_groups: i64,
    pub statement_budget_ms: u64,
    pub log_format: String,
    pub publication: Option<String>,
    pub metrics_address: Option<String>,
    pub health_max_lag_seconds: f64,
    pub apply: ApplySection,
}

/// The `[apply]` keys (`apply.*` in [`crate::tunables::ALL`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplySection {
    pub max_batch_changes: usize,
    pub max_batch_delay_ms: u64,
    pub chunk_rows: usize,
    pub merge_rows: usize,
    pub on_truncate: summa_apply::TruncatePolicy,
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            schema: SCHEMA.text().into(),
            table_pattern: TABLE_PATTERN.text().into(),
            retention_hours: apply::RETENTION_HOURS.int(),
            promote_lock_timeout_ms: PROMOTE_LOCK_TIMEOUT_MS.int(),
            verify_chunk_groups: VERIFY_CHUNK_GROUPS.int() as i64,
            statement_budget_ms: apply::STATEMENT_BUDGET_MS.int(),
            log_format: LOG_FORMAT.text().into(),
            publication: None,
            metrics_address: None,
            health_max_lag_seconds: HEALTH_MAX_LAG_SECONDS.float(),
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
            merge_rows: d.merge_rows,
            on_truncate: d.on_truncate,
            max_attempts: d.max_attempts,
        }
    }
}

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
        // Postgres keeps statement_timeout and lock_timeout in an int of milliseconds.
        for (key, ms) in [
            ("statement_budget_ms", self.statement_budget_ms),
            ("promote_lock_timeout_ms", self.promote_lock_timeout_ms),
        ] {
            if ms > i32::MAX as u64 {
                bail!(
                    "{key} must be at most {} (Postgres' limit), got {ms}",
                    i32::MAX
                );
            }
        }
        if self.retention_hours > MAX_RETENTION_HOURS {
            bail!(
                "retention_hours must be at most {MAX_RETENTION_HOURS} (100 years), got {}",
                self.retention_hours
            );
        }
        if let Some(address) = &self.metrics_address {
            if address.parse::<std::net::SocketAddr>().is_err() {
                bail!("metrics_address must be host:port with an IP address (e.g. \"127.0.0.1:9187\"), got {address:?}");
            }
        }
        if !self.health_max_lag_seconds.is_finite() || self.health_max_lag_seconds <= 0.0 {
            bail!(
                "health_max_lag_seconds must be a positive number of seconds, got {}",
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
            || self.apply.merge_rows == 0
            || self.apply.max_attempts == 0
        {
            bail!(
                "apply.max_batch_changes, apply.chunk_rows, apply.merge_rows and apply.max_attempts must be positive"
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
            merge_rows: self.apply.merge_rows,
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

    use summa_apply::tunables::{DefaultValue, Tunable};

    /// `table` flattened to `section.key` → value.
    fn flatten(table: &toml::Table) -> Vec<(String, toml::Value)> {
        let mut out = Vec::new();
        for (key, value) in table {
            match value {
                toml::Value::Table(inner) => {
                    for (k, v) in flatten(inner) {
                        out.push((format!("{key}.{k}"), v));
                    }
                }
                v => out.push((key.clone(), v.clone())),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn parse_value(text: &str) -> toml::Value {
        let table: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        table["v"].clone()
    }

    #[test]
    fn every_key_has_its_tunable_default() {
        let defaults = flatten(&toml::Table::try_from(Config::default()).unwrap());
        let set: Vec<&Tunable> = ALL
            .iter()
            .filter(|t| !matches!(t.default, DefaultValue::Unset { .. }))
            .collect();
        // Every key Config has by default is a tunable with that default …
        assert_eq!(defaults.len(), set.len(), "{defaults:?}");
        for (key, value) in &defaults {
            let t = set
                .iter()
                .find(|t| t.key == key)
                .unwrap_or_else(|| panic!("{key} is not in tunables::ALL"));
            assert_eq!(*value, parse_value(&toml_value(t.default)), "{key}");
        }
        // … the unset ones are keys too, and `summa config` reads back as the defaults.
        for t in ALL {
            if let DefaultValue::Unset { example } = t.default {
                let (section, name) = t.key.split_once('.').unwrap_or(("", t.key));
                let text = if section.is_empty() {
                    format!("{name} = {example}")
                } else {
                    format!("[{section}]\n{name} = {example}")
                };
                toml::from_str::<Config>(&text).unwrap_or_else(|e| panic!("{}: {e}", t.key));
            }
        }
        let printed: Config = toml::from_str(&defaults_toml()).unwrap();
        assert_eq!(flatten(&toml::Table::try_from(printed).unwrap()), defaults);
        assert_eq!(
            Config::default().apply_config().poll_interval,
            summa_apply::ApplyConfig::default().poll_interval
        );
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

//! The `[lint]` table of `summa.toml`.
//!
//! ```toml
//! [lint.severity]
//! drop-matview-cascade = "error"   # "error" | "warning" | "off"
//!
//! [lint]
//! exclude = ["migrations/legacy/**", "**/*_old.sql"]   # see crate::glob
//! ```
//! Other tables of `summa.toml` belong to other commands and are ignored.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::LintError;
use crate::finding::Severity;
use crate::glob::Glob;
use crate::rules::Rule;

/// Configured severity of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Report as an error.
    Error,
    /// Report as a warning.
    Warning,
    /// Do not report.
    Off,
}

/// Lint configuration; the default keeps every rule's default severity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    severity: BTreeMap<Rule, Level>,
    exclude: Vec<Glob>,
}

impl LintConfig {
    /// Reads the `[lint]` table of the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self, LintError> {
        let text = std::fs::read_to_string(path).map_err(|source| LintError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses the `[lint]` table of a `summa.toml` text; `path` names the
    /// file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, LintError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| LintError::ConfigSyntax {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                })?;
        let bad = |key: &str, message: String| LintError::Config {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let mut config = LintConfig::default();
        let Some(lint) = table.get("lint") else {
            return Ok(config);
        };
        let lint = lint
            .as_table()
            .ok_or_else(|| bad("lint", "expected a table".to_string()))?;
        for (key, value) in lint {
            if key == "exclude" {
                config.exclude = exclude_list(value).map_err(|m| bad("lint.exclude", m))?;
                continue;
            }
            if key != "severity" {
                return Err(bad(
                    &format!("lint.{key}"),
                    "unknown key (the [lint] table knows: severity, exclude)".to_string(),
                ));
            }
            let severities = value
                .as_table()
                .ok_or_else(|| bad("lint.severity", "expected a table".to_string()))?;
            for (id, level) in severities {
                let key = format!("lint.severity.{id}");
                let rule = Rule::from_id(id).ok_or_else(|| {
                    let known: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
                    bad(
                        &key,
                        format!("unknown rule id (known: {})", known.join(", ")),
                    )
                })?;
                let level = match level.as_str() {
                    Some("error") => Level::Error,
                    Some("warning") => Level::Warning,
                    Some("off") => Level::Off,
                    _ => {
                        return Err(bad(
                            &key,
                            format!("expected \"error\", \"warning\" or \"off\", found {level}"),
                        ))
                    }
                };
                config.severity.insert(rule, level);
            }
        }
        Ok(config)
    }

    /// Overrides the severity of one rule.
    pub fn set(&mut self, rule: Rule, level: Level) {
        self.severity.insert(rule, level);
    }

    /// Adds an exclude pattern (as `--exclude` does); the error says what is
    /// wrong with the pattern.
    pub fn exclude(&mut self, pattern: &str) -> Result<(), String> {
        self.exclude.push(Glob::new(pattern)?);
        Ok(())
    }

    /// The exclude patterns, as written.
    pub fn excludes(&self) -> Vec<&str> {
        self.exclude.iter().map(Glob::as_str).collect()
    }

    /// Whether a path (as printed, `/`-separated) is excluded.
    pub(crate) fn is_excluded(&self, path: &str) -> bool {
        self.exclude.iter().any(|g| g.matches(path))
    }

    /// The configured level of a rule, if any.
    pub fn level(&self, rule: Rule) -> Option<Level> {
        self.severity.get(&rule).copied()
    }

    /// Severity a hit with default `default` gets, or `None` when off.
    pub(crate) fn effective(&self, rule: Rule, default: Severity) -> Option<Severity> {
        match self.level(rule) {
            None => Some(default),
            Some(Level::Error) => Some(Severity::Error),
            Some(Level::Warning) => Some(Severity::Warning),
            Some(Level::Off) => None,
        }
    }
}

/// `exclude = ["glob", …]`.
fn exclude_list(value: &toml::Value) -> Result<Vec<Glob>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("expected an array of glob strings, found {value}"))?;
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| format!("expected a glob string, found {item}"))?;
            Glob::new(text).map_err(|e| format!("bad glob \"{text}\": {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LintConfig, LintError> {
        LintConfig::from_toml(text, Path::new("summa.toml"))
    }

    #[test]
    fn reads_severity_and_ignores_other_tables() {
        let c = parse(
            "[database]\nurl = 'x'\n[lint.severity]\ndrop-matview-cascade = \"error\"\nmatview-with-data = \"off\"\n",
        )
        .expect("valid config");
        assert_eq!(c.level(Rule::DropMatviewCascade), Some(Level::Error));
        assert_eq!(c.level(Rule::MatviewWithData), Some(Level::Off));
        assert_eq!(c.level(Rule::RefreshInMigration), None);
        assert_eq!(parse("").expect("empty"), LintConfig::default());
    }

    #[test]
    fn reads_exclude_globs() {
        let c = parse("[lint]\nexclude = [\"migrations/legacy/**\", \"*_old.sql\"]\n")
            .expect("valid config");
        assert_eq!(c.excludes(), vec!["migrations/legacy/**", "*_old.sql"]);
        assert!(c.is_excluded("migrations/legacy/V1.sql"));
        assert!(c.is_excluded("db/x_old.sql"));
        assert!(!c.is_excluded("migrations/V1.sql"));
        let e = parse("[lint]\nexclude = \"a\"\n").expect_err("not an array");
        assert!(
            e.to_string().contains("lint.exclude: expected an array"),
            "{e}"
        );
        let e = parse("[lint]\nexclude = [\"a/**b\"]\n").expect_err("bad glob");
        assert!(e.to_string().contains("bad glob \"a/**b\""), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[lint]\nseverty = {}\n").expect_err("unknown key");
        assert!(e.to_string().contains("lint.severty"), "{e}");
        let e = parse("[lint.severity]\nno-such-rule = \"error\"\n").expect_err("unknown rule");
        assert!(e.to_string().contains("lint.severity.no-such-rule"), "{e}");
        let e = parse("[lint.severity]\nparse-error = \"fatal\"\n").expect_err("bad value");
        assert!(e.to_string().contains("lint.severity.parse-error"), "{e}");
        assert!(e.to_string().contains("\"fatal\""), "{e}");
        let e = parse("[lint\n").expect_err("bad toml");
        assert!(e.to_string().starts_with("summa.toml: invalid TOML"), "{e}");
    }
}

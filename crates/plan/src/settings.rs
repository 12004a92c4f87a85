//! Session settings pinned per version: every statement that evaluates the view's expressions
//! (backfill, deltas, verify) runs with exactly these, so `date_trunc('day', timestamptz)` and
//! friends mean the same thing forever.

use serde::{Deserialize, Serialize};

/// Settings that change what an expression evaluates to.
pub const PINNED_SETTING_NAMES: &[&str] = &[
    "TimeZone",
    "DateStyle",
    "IntervalStyle",
    "extra_float_digits",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "default_text_search_config",
    "search_path",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PinnedSettings(pub Vec<(String, String)>);

impl PinnedSettings {
    /// Read the current session's values of [`PINNED_SETTING_NAMES`].
    pub async fn capture(
        client: &impl tokio_postgres::GenericClient,
    ) -> Result<Self, tokio_postgres::Error> {
        let mut out = Vec::new();
        for name in PINNED_SETTING_NAMES {
            let row = client
                .query_one("SELECT current_setting($1)", &[name])
                .await?;
            out.push((name.to_string(), row.get::<_, String>(0)));
        }
        Ok(PinnedSettings(out))
    }

    /// One statement that applies the settings for the rest of the current transaction.
    pub fn set_local_sql(&self) -> String {
        if self.0.is_empty() {
            return "SELECT 1".into();
        }
        let calls: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                format!(
                    "set_config({}, {}, true)",
                    crate::ident::quote_literal(k),
                    crate::ident::quote_literal(v)
                )
            })
            .collect();
        format!("SELECT {}", calls.join(", "))
    }
}

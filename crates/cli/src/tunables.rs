//! Every summa.toml key in one list: the applier's ([`summa_apply::tunables`]) and the ones
//! only the CLI reads (defined here, once). `summa config` prints [`defaults_toml`];
//! docs/configuration.md holds [`docs_section`] between its `tunables` markers, checked by a
//! unit test (`SUMMA_BLESS=1 cargo test -p summa-cli tunables` rewrites it).

use summa_apply::tunables::DefaultValue::{self, *};
use summa_apply::tunables::{self as apply, Tunable};

pub const DATABASE_URL: Tunable = Tunable {
    key: "database_url",
    default: Unset {
        example: "\"postgres://summa@localhost/app\"",
    },
    unit: "",
    summary: "or DATABASE_URL",
    doc: "Target database (a `postgres://` URL or a `key=value` string; TLS parameters below). \
          `--database-url` and `DATABASE_URL` take precedence. Write `@` in a password as `%40` \
          and `%` as `%25`; other characters may be percent-encoded. The password is never \
          logged or printed, nor shown in an error.",
};

pub const SCHEMA: Tunable = Tunable {
    key: "schema",
    default: Text("public"),
    unit: "",
    summary: "schema of summary tables and alias views",
    doc: "Where summary tables and alias views are created.",
};

pub const TABLE_PATTERN: Tunable = Tunable {
    key: "table_pattern",
    default: Text("{name}__v{version}"),
    unit: "",
    summary: "versioned table name; also {n}, {yyyy}, {mm}, {dd}",
    doc: "Versioned table name; must contain `{name}` and `{version}` (or `{n}`); `{yyyy}`, \
          `{mm}`, `{dd}` are the creation date (UTC), e.g. `{name}_{yyyy}_{mm}_{dd}_{n}` gives \
          `daily_sales_2026_11_24_2`. Names longer than 63 bytes are refused.",
};

pub const PROMOTE_LOCK_TIMEOUT_MS: Tunable = Tunable {
    key: "promote_lock_timeout_ms",
    default: Int(2_000),
    unit: "ms",
    summary: "lock_timeout of the alias switch in `summa promote`",
    doc: "`lock_timeout` of `summa promote`'s transaction: a long query holding the alias makes \
          promote fail fast instead of queueing readers behind it.",
};

pub const VERIFY_CHUNK_GROUPS: Tunable = Tunable {
    key: "verify_chunk_groups",
    default: Int(summa_catalog::DEFAULT_CHUNK_GROUPS as u64),
    unit: "groups",
    summary: "groups `summa verify` compares per statement",
    doc: "`summa verify` compares this many groups per statement: ranges of the group key taken \
          from the summary's unique index (NULL keys last), each pushed down into the SELECT's \
          scan, all in one snapshot. Used when the SELECT outputs every group key; otherwise one \
          statement.",
};

pub const LOG_FORMAT: Tunable = Tunable {
    key: "log_format",
    default: Text("text"),
    unit: "",
    summary: "text | json",
    doc: "`text` or `json` (tracing). Log filter: `--log` or `RUST_LOG` (default `info`; `warn` \
          for `summa demo`). Text logs are coloured only on a terminal (and not with `NO_COLOR` \
          set).",
};

pub const PUBLICATION: Tunable = Tunable {
    key: "publication",
    default: Unset {
        example: "\"summa\"",
    },
    unit: "",
    summary: "a DBA's publication (`summa setup --print`); unset: summa owns one",
    doc: "A publication a DBA created (`summa setup --print`): summa reads it and never alters \
          or drops it; sources must be in it. Unset: summa creates one per stream (needs table \
          ownership).",
};

pub const METRICS_ADDRESS: Tunable = Tunable {
    key: "metrics_address",
    default: Unset {
        example: "\"127.0.0.1:9187\"",
    },
    unit: "",
    summary: "`summa run` serves /metrics and /health here (unset: off)",
    doc: "`host:port` (an IP) where `summa run` serves `/metrics` and `/health` \
          (docs/operations.md). Unset: off. A busy address stops `summa run` with an error.",
};

pub const HEALTH_MAX_LAG_SECONDS: Tunable = Tunable {
    key: "health_max_lag_seconds",
    default: Float(60.0),
    unit: "seconds",
    summary: "/health is not ready while a live version lags more",
    doc: "`/health` answers 503 while a live version lags more than this.",
};

/// Every key, in summa.toml's order (`[apply]` keys last).
pub const ALL: &[Tunable] = &[
    DATABASE_URL,
    SCHEMA,
    TABLE_PATTERN,
    apply::RETENTION_HOURS,
    PROMOTE_LOCK_TIMEOUT_MS,
    VERIFY_CHUNK_GROUPS,
    apply::STATEMENT_BUDGET_MS,
    LOG_FORMAT,
    PUBLICATION,
    METRICS_ADDRESS,
    HEALTH_MAX_LAG_SECONDS,
    apply::MAX_BATCH_CHANGES,
    apply::MAX_BATCH_DELAY_MS,
    apply::CHUNK_ROWS,
    apply::MERGE_ROWS,
    apply::ON_TRUNCATE,
    apply::MAX_ATTEMPTS,
];

/// A default as a TOML value (a float keeps its `.0`, so it reads back as a float).
pub fn toml_value(default: DefaultValue) -> String {
    match default {
        Int(v) => v.to_string(),
        Float(v) if v.fract() == 0.0 => format!("{v:.1}"),
        Float(v) => v.to_string(),
        Text(v) => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
        Unset { example } => example.to_string(),
    }
}

/// The defaults as a commented summa.toml: what `summa config` prints.
pub fn defaults_toml() -> String {
    let mut out = String::new();
    let mut section = "";
    for t in ALL {
        let (this_section, name) = t.key.split_once('.').unwrap_or(("", t.key));
        if this_section != section {
            out.push_str(&format!("\n[{this_section}]\n"));
            section = this_section;
        }
        let line = match t.default {
            Unset { .. } => format!("# {name} = {}", toml_value(t.default)),
            _ => format!("{name} = {}", toml_value(t.default)),
        };
        out.push_str(&format!("{line:<33}  # {}\n", t.summary));
    }
    out.push_str("\n# [lint]: the linter's keys, see docs/lint.md\n");
    out
}

/// The summa.toml block and the key table of docs/configuration.md.
#[cfg(test)]
fn docs_section() -> String {
    let mut out = String::from("```toml\n");
    out.push_str(&defaults_toml());
    out.push_str("```\n\n| key | default | meaning |\n|---|---|---|\n");
    for t in ALL {
        let default = match t.default {
            Unset { .. } => "unset".to_string(),
            d if t.unit.is_empty() => format!("`{}`", toml_value(d)),
            d => format!("`{}` {}", toml_value(d), t.unit),
        };
        out.push_str(&format!("| `{}` | {default} | {} |\n", t.key, t.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- tunables: begin (generated from crates/cli/src/tunables.rs and \
                         crates/apply/src/config.rs; SUMMA_BLESS=1 cargo test -p summa-cli \
                         tunables rewrites it) -->\n";
    const END: &str = "<!-- tunables: end -->\n";

    #[test]
    fn docs_table_matches_the_tunables() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
            panic!("{}: the tunables markers are missing", path.display());
        };
        let current = &text[b + BEGIN.len()..e];
        let want = docs_section();
        if current == want {
            return;
        }
        if std::env::var_os("SUMMA_BLESS").is_some_and(|v| v == "1") {
            let updated = format!("{}{BEGIN}{want}{}", &text[..b], &text[e..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "{} disagrees with the tunables (run SUMMA_BLESS=1 cargo test -p summa-cli \
             tunables to regenerate):\n--- docs ---\n{current}\n--- tunables ---\n{want}",
            path.display()
        );
    }

    #[test]
    fn every_key_is_listed_once() {
        let mut keys: Vec<&str> = ALL.iter().map(|t| t.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ALL.len(), "a key listed twice");
        for t in ALL {
            assert!(
                !t.summary.contains('\n') && !t.doc.contains('|'),
                "{}",
                t.key
            );
        }
    }
}

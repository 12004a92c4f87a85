//! `summa setup --print`: the SQL a DBA runs once so summa works with least privilege. summa
//! never runs it itself (it needs a superuser, or CREATEROLE plus ownership of the tables).

use std::process::ExitCode;

use anyhow::bail;
use summa_plan::ident::{quote_ident, quote_literal};

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// Print the SQL (the only mode: summa never runs privileged SQL itself).
    #[arg(long)]
    print: bool,
    /// The role summa logs in as.
    #[arg(long, default_value = "summa")]
    role: String,
    /// Source tables the views read (`schema.table` or `table` in public), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    tables: Vec<String>,
    /// Database name (default: the one in the database URL).
    #[arg(long)]
    database: Option<String>,
    /// The publication to create (set the same name as `publication` in summa.toml).
    #[arg(long, default_value = "summa")]
    publication: String,
}

/// `schema.table` → (schema, table), `table` → (public, table).
fn split_table(name: &str) -> anyhow::Result<(String, String)> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [t] if !t.is_empty() => Ok(("public".into(), t.to_string())),
        [s, t] if !s.is_empty() && !t.is_empty() => Ok((s.to_string(), t.to_string())),
        _ => bail!("--tables: {name:?} is not `table` or `schema.table`"),
    }
}

pub fn setup(args: SetupArgs, url: Option<String>, config: &Config) -> anyhow::Result<ExitCode> {
    if !args.print {
        bail!("summa setup only prints the SQL for a DBA to review and run: use `summa setup --print --tables …`");
    }
    let database = match (&args.database, &url) {
        (Some(d), _) => d.clone(),
        (None, Some(url)) => summa_stream::ConnInfo::parse(url)?.database(),
        (None, None) => bail!("give --database or a database URL (DATABASE_URL)"),
    };
    let tables = args
        .tables
        .iter()
        .map(|t| split_table(t.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    print!(
        "{}",
        setup_sql(
            &args.role,
            &database,
            &config.schema,
            &args.publication,
            &tables
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// The statements, each identifier quoted; the password is a placeholder for the DBA.
pub fn setup_sql(
    role: &str,
    database: &str,
    schema: &str,
    publication: &str,
    tables: &[(String, String)],
) -> String {
    let r = quote_ident(role);
    let qualified: Vec<String> = tables
        .iter()
        .map(|(s, t)| format!("{}.{}", quote_ident(s), quote_ident(t)))
        .collect();
    let mut schemas: Vec<&String> = tables.iter().map(|(s, _)| s).collect();
    schemas.sort();
    schemas.dedup();
    let mut sql = format!(
        "-- summa: least-privilege setup. Review, set the password, run as a superuser.\n\
         -- Then set `publication = {publication:?}` in summa.toml.\n\
         CREATE ROLE {r} LOGIN REPLICATION PASSWORD {};\n\
         -- CONNECT; CREATE: summa's catalog schema `summa`; TEMP: the planner checks views in pg_temp.\n\
         GRANT CONNECT, CREATE, TEMP ON DATABASE {} TO {r};\n",
        quote_literal("change-me"),
        quote_ident(database)
    );
    sql += &format!(
        "-- Summary tables and alias views live in schema {schema} (summa.toml `schema`).\n\
         CREATE SCHEMA IF NOT EXISTS {s};\nGRANT USAGE, CREATE ON SCHEMA {s} TO {r};\n",
        s = quote_ident(schema)
    );
    sql += "-- Read the sources (backfill, verify).\n";
    for s in schemas.into_iter().filter(|s| s.as_str() != schema) {
        sql += &format!("GRANT USAGE ON SCHEMA {} TO {r};\n", quote_ident(s));
    }
    for t in &qualified {
        sql += &format!("GRANT SELECT ON {t} TO {r};\n");
    }
    sql += &format!(
        "-- Changes of the sources reach summa through this publication (summa never alters it).\n\
         CREATE PUBLICATION {} FOR TABLE {};\n",
        quote_ident(publication),
        qualified.join(", ")
    );
    sql += "-- UPDATE/DELETE must log the old values of the columns views read. Needed unless every\n\
            -- such column is in the primary key; `summa create` names the exact columns if missing.\n";
    for t in &qualified {
        sql += &format!("ALTER TABLE {t} REPLICA IDENTITY FULL;\n");
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        let sql = setup_sql(
            "summa",
            "app",
            "public",
            "summa",
            &[("sales".into(), "Orders".into())],
        );
        assert!(
            sql.contains("GRANT SELECT ON \"sales\".\"Orders\" TO \"summa\";"),
            "{sql}"
        );
        assert!(sql.contains("CREATE PUBLICATION \"summa\" FOR TABLE \"sales\".\"Orders\";"));
        assert!(sql.contains("GRANT USAGE ON SCHEMA \"sales\""));
        assert!(split_table("a.b.c").is_err() && split_table("").is_err());
    }
}

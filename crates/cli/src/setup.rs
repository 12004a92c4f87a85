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
    /// Roles that run migrations calling the SQL API (summa.define, promote, …),
    /// comma-separated: they get USAGE on schema summa, EXECUTE on its functions and SELECT on
    /// summa.status.
    #[arg(long, value_delimiter = ',')]
    migrators: Vec<String>,
    /// Also print the catalog and its SQL API, to install them by hand as the summa role
    /// (`summa run` installs and upgrades them itself when it starts).
    #[arg(long)]
    with_catalog: bool,
}

/// A name the script uses: Postgres keeps at most 63 bytes of it (a longer one would be cut
/// silently), and a control character could end a `--` comment and start a statement. The
/// error shows the value escaped (`{:?}`), so it is one line whatever the value holds.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        bail!("{what} is empty");
    }
    if name.chars().any(char::is_control) {
        bail!("{what} {name:?} contains a control character (newline, tab, …)");
    }
    if name.len() > 63 {
        bail!(
            "{what} {name:?} is {} bytes long; Postgres names hold at most 63",
            name.len()
        );
    }
    Ok(())
}

/// A TOML basic string for a name [`check_name`] accepted (no control characters, so only
/// `\` and `"` need escaping).
fn toml_string(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
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
        )?
    );
    let migrators = args
        .migrators
        .iter()
        .map(|m| m.trim().to_string())
        .collect::<Vec<_>>();
    print!("{}", migrator_sql(&migrators)?);
    if args.with_catalog {
        print!(
            "-- The summa catalog and its SQL API, owned by {r} (summa run installs and upgrades\n\
             -- them itself; this is for installing them by hand).\n\
             SET ROLE {r};\n{}\nRESET ROLE;\n",
            summa_catalog::install_sql(),
            r = quote_ident(&args.role)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The statements, each identifier quoted and checked ([`check_name`]) first; the password is
/// a placeholder for the DBA.
pub fn setup_sql(
    role: &str,
    database: &str,
    schema: &str,
    publication: &str,
    tables: &[(String, String)],
) -> anyhow::Result<String> {
    check_name("--role", role)?;
    check_name("the database name", database)?;
    check_name("schema (summa.toml `schema`)", schema)?;
    check_name("--publication", publication)?;
    for (s, t) in tables {
        check_name("--tables: schema", s)?;
        check_name("--tables: table", t)?;
    }
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
         -- Then set `publication = {}` in summa.toml.\n\
         CREATE ROLE {r} LOGIN REPLICATION PASSWORD {};\n\
         -- CONNECT; CREATE: summa's catalog schema `summa`; TEMP: the planner checks views in pg_temp.\n\
         GRANT CONNECT, CREATE, TEMP ON DATABASE {} TO {r};\n",
        toml_string(publication),
        quote_literal("change-me"),
        quote_ident(database)
    );
    sql += &format!(
        "-- Summary tables and alias views live in schema {s} (summa.toml `schema`).\n\
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
         -- PostgreSQL 18 and later: add WITH (publish_generated_columns = stored) if a table has\n\
         -- generated columns (views may read them, and UPDATE/DELETE need it with REPLICA IDENTITY FULL).\n\
         CREATE PUBLICATION {} FOR TABLE {};\n",
        quote_ident(publication),
        qualified.join(", ")
    );
    sql += "-- UPDATE/DELETE must log the old values of the columns views read. Needed unless every\n\
            -- such column is in the primary key; `summa create` names the exact columns if missing.\n";
    for t in &qualified {
        sql += &format!("ALTER TABLE {t} REPLICA IDENTITY FULL;\n");
    }
    Ok(sql)
}

/// Grants that let `migrators` call the SQL API from their migrations (the functions check
/// the rest: a role defines summaries only of tables it can SELECT).
pub fn migrator_sql(migrators: &[String]) -> anyhow::Result<String> {
    let mut sql = String::new();
    for m in migrators {
        check_name("--migrators", m)?;
        if sql.is_empty() {
            sql += "-- Migrations of these roles may call summa.define, promote, retire, drop and wait_live,\n\
                    -- and read summa.status (after summa run installed the catalog once).\n";
        }
        let m = quote_ident(m);
        sql += &format!(
            "GRANT USAGE ON SCHEMA summa TO {m};\n\
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA summa TO {m};\n\
             GRANT SELECT ON summa.status TO {m};\n"
        );
    }
    Ok(sql)
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
        )
        .unwrap();
        assert!(
            sql.contains("GRANT SELECT ON \"sales\".\"Orders\" TO \"summa\";"),
            "{sql}"
        );
        assert!(sql.contains("CREATE PUBLICATION \"summa\" FOR TABLE \"sales\".\"Orders\";"));
        assert!(sql.contains("GRANT USAGE ON SCHEMA \"sales\""));
        assert!(split_table("a.b.c").is_err() && split_table("").is_err());
        let grants = migrator_sql(&["app migrator".into()]).unwrap();
        assert!(
            grants.contains("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA summa TO \"app migrator\";"),
            "{grants}"
        );
        assert_no_injection(&grants);
        assert!(migrator_sql(&["x\nDROP TABLE t".into()]).is_err());
    }

    /// Every line of the script is a comment or one of the statements it means to print.
    fn assert_no_injection(sql: &str) {
        const STATEMENTS: &[&str] = &[
            "CREATE ROLE ",
            "GRANT ",
            "CREATE SCHEMA ",
            "CREATE PUBLICATION ",
            "ALTER TABLE ",
        ];
        for line in sql.lines() {
            assert!(
                line.starts_with("-- ") || STATEMENTS.iter().any(|s| line.starts_with(s)),
                "unexpected line {line:?} in\n{sql}"
            );
        }
    }

    #[test]
    fn hostile_names_are_refused_or_quoted() {
        let table = |s: &str, t: &str| vec![(s.to_string(), t.to_string())];
        // A newline (or any control character) is refused up front, naming the value.
        let hostile = "x\nDROP TABLE orders; --";
        for (role, db, schema, publication, tables) in [
            (hostile, "app", "public", "summa", table("public", "t")),
            ("summa", hostile, "public", "summa", table("public", "t")),
            ("summa", "app", hostile, "summa", table("public", "t")),
            ("summa", "app", "public", hostile, table("public", "t")),
            ("summa", "app", "public", "summa", table(hostile, "t")),
            ("summa", "app", "public", "summa", table("public", hostile)),
            ("summa", "app", "public\r", "summa", table("public", "t")),
        ] {
            let err = setup_sql(role, db, schema, publication, &tables)
                .unwrap_err()
                .to_string();
            assert!(err.contains("control character"), "{err}");
            assert!(!err.contains('\n') && !err.contains('\r'), "{err}");
            assert!(
                err.contains(r#"\nDROP TABLE"#) || err.contains(r#"public\r"#),
                "{err}"
            );
        }
        // 64 bytes would be cut to 63 by Postgres: refused.
        let long = "s".repeat(64);
        let err = setup_sql("summa", "app", &long, "summa", &table("public", "t"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&long) && err.contains("63"), "{err}");
        assert!(setup_sql("summa", "app", &long[..63], "summa", &table("public", "t")).is_ok());
        // Quotes and semicolons are legal in names: they stay inside quoted identifiers.
        let odd = r#"a"b';c"#;
        let sql = setup_sql(odd, odd, odd, odd, &table(odd, odd)).unwrap();
        assert_no_injection(&sql);
        let toml_line = format!("publication = {}", toml_string(r#"a\"b"#));
        let parsed: toml::Table = toml::from_str(&toml_line).unwrap();
        assert_eq!(parsed["publication"].as_str(), Some(r#"a\"b"#));
        assert!(
            sql.contains(r#"CREATE SCHEMA IF NOT EXISTS "a""b';c";"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"live in schema "a""b';c" (summa.toml"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"`publication = "a\"b';c"` in summa.toml"#),
            "{sql}"
        );
        assert!(sql.contains(r#"CREATE ROLE "a""b';c" LOGIN"#), "{sql}");
    }
}

//! `summa lint`: the linter of crates/lint, plus, when `--database-url` is given on the command
//! line, a check of every `summa.define(name, select)` call in the migrations: its SELECT is
//! planned against that database (as `summa.define` would when the migration runs) and the
//! planner's refusal becomes a `define-unmaintainable` finding at the call.
//!
//! Only the command-line flag turns planning on: `DATABASE_URL` and summa.toml's database_url
//! are commonly set in application environments, and a linter run from a pre-commit hook must
//! not connect to a database nobody asked it to.

use std::path::PathBuf;
use std::process::ExitCode;

use summa_lint::{DefineCall, LintArgs};
use summa_plan::{plan_view, PinnedSettings, PlanError};
use summa_stream::ConnInfo;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

/// Runs `summa lint`; `database_url` is the `--database-url` given on the command line.
pub(crate) fn lint(
    mut args: LintArgs,
    config: Option<PathBuf>,
    database_url: Option<String>,
) -> ExitCode {
    args.config = config;
    let mut out = std::io::stdout().lock();
    let result = match database_url {
        None => summa_lint::run(&args, &mut out),
        Some(url) => match Planner::connect(&url) {
            Ok(mut planner) => {
                summa_lint::run_with(&args, &mut out, &mut |call| planner.check(call))
            }
            Err(err) => {
                eprintln!("error: summa lint --database-url: {err}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// A session that plans each define's SELECT under the session's own settings.
struct Planner {
    runtime: Runtime,
    client: Client,
    settings: PinnedSettings,
}

impl Planner {
    fn connect(url: &str) -> Result<Planner, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let conn = ConnInfo::parse(url).map_err(|e| e.to_string())?;
        let (client, settings) = runtime.block_on(async {
            let client = conn
                .connect("summa-lint")
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let settings = PinnedSettings::capture(&client)
                .await
                .map_err(|e| format!("cannot read the session settings: {e}"))?;
            Ok::<_, String>((client, settings))
        })?;
        Ok(Planner {
            runtime,
            client,
            settings,
        })
    }

    /// The planner's refusal of the call's SELECT, if any; an error when the database failed.
    fn check(&mut self, call: &DefineCall) -> Result<Option<String>, String> {
        let planned = self
            .runtime
            .block_on(plan_view(&mut self.client, &call.sql, &self.settings));
        match planned {
            Ok(_) => Ok(None),
            Err(PlanError::Db(e)) => Err(format!("database error while planning: {e}")),
            Err(refusal) => Ok(Some(refusal.to_string())),
        }
    }
}

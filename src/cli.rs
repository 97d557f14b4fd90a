//! The command line: `serve` (the default), `migrate up|down|status`, `openapi`.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::secret::Secret;
use crate::{app, db, telemetry};

/// Gatehouse: user management over HTTP.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
// Parsed once per process: the size of the `serve` settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given).
    Serve(ServeArgs),
    /// Apply, revert or list the database migrations.
    Migrate(MigrateArgs),
    /// Print the OpenAPI document.
    Openapi,
}

/// Settings of `serve`: every one also an environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: Config,
}

/// `migrate` and its database.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/gatehouse",
        hide_env_values = true
    )]
    pub database_url: Secret<String>,
    #[command(subcommand)]
    pub action: MigrateAction,
}

/// A migration action.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (creating the database if missing).
    Up,
    /// Revert the newest applied migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// List the migrations and whether each is applied.
    Status,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| {
        // A bare `gatehouse` serves with settings from the environment alone.
        let config = Config::try_parse_from(["gatehouse"]).unwrap_or_else(|e| e.exit());
        Command::Serve(ServeArgs { config })
    });
    match command {
        Command::Serve(args) => serve(args.config),
        Command::Migrate(args) => migrate(args),
        Command::Openapi => {
            println!("{}", crate::http::openapi::document_json());
            ExitCode::SUCCESS
        }
    }
}

fn serve(config: Config) -> ExitCode {
    telemetry::init_logging(config.log_format);
    let settings = match config.validate() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!("configuration error: {error}");
            eprintln!("gatehouse: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    block_on(app::run(settings))
}

fn migrate(args: MigrateArgs) -> ExitCode {
    telemetry::init_logging(LogFormat::Pretty);
    block_on(async move {
        let url = args.database_url.expose();
        let settings = db::PoolSettings {
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(10),
        };
        if matches!(args.action, MigrateAction::Up) {
            db::ensure_database(url).await?;
        }
        let pool = db::connect(url, settings).await?;
        match args.action {
            MigrateAction::Up => {
                db::migrate_up(&pool).await?;
                println!(
                    "migrations applied; schema at version {}",
                    db::latest_version()
                );
            }
            MigrateAction::Down { steps } => {
                let reverted = db::migrate_down(&pool, steps).await?;
                if reverted.is_empty() {
                    println!("nothing to revert");
                }
                for version in reverted {
                    println!("reverted {version}");
                }
            }
            MigrateAction::Status => {
                for m in db::status(&pool).await? {
                    let state = if m.applied { "applied" } else { "pending" };
                    println!("{:>4} {:<8} {}", m.version, state, m.description);
                }
            }
        }
        pool.close().await;
        Ok(())
    })
}

fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gatehouse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("gatehouse: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! The command line: `serve` (the default), `migrate up|down|status`, `openapi`,
//! `create-admin`, `keys generate`, `import`, `export`.

mod transfer;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Settings};
use crate::deps::Deps;
use crate::request::RequestMeta;
use crate::secret::Secret;
use crate::users::accounts::{self, NewAccount, Origin};
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
    /// Print the OpenAPI document (3.1, or 3.0 converted from it).
    Openapi {
        /// The OpenAPI version to print.
        #[arg(long, value_enum, default_value_t = OpenapiVersion::V3_1)]
        version: OpenapiVersion,
    },
    /// Create an active admin; the password is read from the first line of standard input.
    CreateAdmin(CreateAdminArgs),
    /// Manage JWT signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Import users from NDJSON, one user a line (the format of `POST /users/import`); exits
    /// non-zero when a line failed.
    Import(transfer::ImportArgs),
    /// Export every user as NDJSON to standard output.
    Export(transfer::ExportArgs),
}

/// The version of the printed OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OpenapiVersion {
    /// OpenAPI 3.1, the service's own document.
    #[value(name = "3.1")]
    V3_1,
    /// OpenAPI 3.0, converted from it.
    #[value(name = "3.0")]
    V3_0,
}

/// `create-admin`: who, and where (every `serve` setting applies, keys included).
#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    /// Email address of the new admin.
    #[arg(long)]
    pub email: String,
    /// Display name.
    #[arg(long, default_value = "Administrator")]
    pub name: String,
    #[command(flatten)]
    pub config: Config,
}

/// A key action.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write a new Ed25519 private key (PKCS#8 PEM) for JWT_SIGNING_KEY_FILE.
    Generate {
        /// File to create (mode 0600); standard output when absent.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
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
        hide_env_values = true,
        global = true
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
        Command::Openapi { version } => {
            let document = match version {
                OpenapiVersion::V3_1 => crate::http::openapi::document_json(),
                OpenapiVersion::V3_0 => crate::http::openapi::document_3_0_json(),
            };
            println!("{document}");
            ExitCode::SUCCESS
        }
        Command::CreateAdmin(args) => create_admin(args),
        Command::Keys {
            action: KeysAction::Generate { out },
        } => generate_key(out.as_deref()),
        Command::Import(args) => transfer::import(args),
        Command::Export(args) => transfer::export(args),
    }
}

fn create_admin(args: CreateAdminArgs) -> ExitCode {
    telemetry::init_logging(LogFormat::Pretty);
    let settings = match checked(args.config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("gatehouse: cannot read the password from standard input");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    block_on(Report::Stderr, async move {
        let deps = open(settings).await?;
        let input = NewAccount {
            email: args.email,
            name: args.name,
            password: Some(Secret::new(password)),
            preferences: None,
        };
        let meta = RequestMeta::system();
        let user = accounts::create(&deps, Origin::CommandLine, input, &meta).await?;
        println!("admin created: {}", user.id);
        deps.db.close().await;
        Ok(())
    })
}

/// The settings of a command that acts on users, or its exit code (2) when they are wrong.
fn checked(config: Config) -> Result<Settings, ExitCode> {
    config.validate().map_err(|error| {
        eprintln!("gatehouse: configuration error: {error}");
        ExitCode::from(2)
    })
}

/// The service's parts, over a database created and migrated if needed: what a command
/// that acts on users works with.
async fn open(settings: Settings) -> anyhow::Result<Deps> {
    let url = settings.database.url.expose().clone();
    db::ensure_database(&url).await?;
    let pool = db::connect(&url, db::PoolSettings::from(&settings.database)).await?;
    db::migrate_up(&pool).await?;
    Ok(Deps::new(settings, pool)?)
}

fn generate_key(out: Option<&std::path::Path>) -> ExitCode {
    let pem = crate::tokens::generate_ed25519_pem();
    let Some(path) = out else {
        print!("{pem}");
        return ExitCode::SUCCESS;
    };
    match write_private(path, &pem) {
        Ok(()) => {
            eprintln!(
                "wrote {} (Ed25519, PKCS#8 PEM); set JWT_SIGNING_KEY_FILE to it",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gatehouse: cannot write {}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Creates a file readable by its owner only; refuses to overwrite one.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
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
    block_on(Report::LogAndStderr, app::run(settings))
}

fn migrate(args: MigrateArgs) -> ExitCode {
    telemetry::init_logging(LogFormat::Pretty);
    block_on(Report::Stderr, async move {
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

/// Whether a command's failure also goes to the log (the service's), or only to standard
/// error (one-shot commands, whose log is the same terminal).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Report {
    LogAndStderr,
    Stderr,
}

fn block_on(report: Report, future: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
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
            let message = describe(&error);
            if report == Report::LogAndStderr {
                tracing::error!("{message}");
            }
            eprintln!("gatehouse: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes in one line, each cause once: a cause whose text its wrapper
/// already quotes (sqlx repeats the database's message at every level) is left out.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach the store")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("error returned: {0}")]
    struct Middle(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("it is gone")]
    struct Inner;

    #[test]
    fn each_cause_is_named_once() {
        let error = anyhow::Error::new(Outer(Middle(Inner)));
        assert_eq!(
            describe(&error),
            "cannot reach the store: error returned: it is gone"
        );
    }
}

//! `gatehouse import FILE` and `gatehouse export`: the HTTP import and export run on the
//! server itself, with a progress bar when standard error is a terminal.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncWriteExt as _, BufReader};

use super::{Report, block_on, checked, open};
use crate::config::{Config, LogFormat};
use crate::request::RequestMeta;
use crate::telemetry;
use crate::users::transfer::{self, ImportOptions, ImportReport, Operator};

/// `import`: the file, and every `serve` setting (the database and keys).
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// NDJSON file to read, or `-` for standard input.
    pub file: PathBuf,
    /// Check every line and count what would happen, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub config: Config,
}

/// `export`: what to include, and every `serve` setting.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Include each user's stored password hash.
    #[arg(long)]
    pub include_password_hashes: bool,
    #[command(flatten)]
    pub config: Config,
}

pub fn import(args: ImportArgs) -> ExitCode {
    telemetry::init_logging(LogFormat::Pretty);
    let settings = match checked(args.config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let mut failed_lines = false;
    let code = block_on(Report::Stderr, async {
        let deps = open(settings).await?;
        let (input, size): (Box<dyn tokio::io::AsyncRead + Unpin + Send>, Option<u64>) =
            if args.file.as_os_str() == "-" {
                (Box::new(tokio::io::stdin()), None)
            } else {
                let file = tokio::fs::File::open(&args.file)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
                let size = file.metadata().await.ok().map(|m| m.len());
                (Box::new(file), size)
            };
        let bar = progress_bar(size);
        let options = ImportOptions {
            dry_run: args.dry_run,
        };
        let report = transfer::import(
            &deps,
            Operator::CommandLine,
            BufReader::with_capacity(256 * 1024, input),
            options,
            &RequestMeta::system(),
            |report| show(&bar, report),
        )
        .await;
        bar.finish_and_clear();
        let report = report?;
        print_summary(&report, args.dry_run);
        failed_lines = report.failed > 0;
        deps.db.close().await;
        Ok(())
    });
    if code == ExitCode::SUCCESS && failed_lines {
        ExitCode::FAILURE
    } else {
        code
    }
}

pub fn export(args: ExportArgs) -> ExitCode {
    telemetry::init_logging(LogFormat::Pretty);
    let settings = match checked(args.config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    block_on(Report::Stderr, async {
        let deps = open(settings).await?;
        let mut chunks = transfer::export(
            &deps,
            Operator::CommandLine,
            args.include_password_hashes,
            &RequestMeta::system(),
        )
        .await?;
        let mut out = tokio::io::stdout();
        while let Some(chunk) = chunks.recv().await {
            out.write_all(&chunk?).await?;
        }
        out.flush().await?;
        deps.db.close().await;
        Ok(())
    })
}

/// A bar over the file's bytes, a spinner for standard input; hidden off a terminal.
fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match size {
        Some(size) => {
            let bar = ProgressBar::new(size);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        }
        None => ProgressBar::new_spinner(),
    }
}

fn show(bar: &ProgressBar, report: &ImportReport) {
    bar.set_position(report.bytes);
    bar.set_message(format!(
        "created {} skipped {} failed {}",
        report.created, report.skipped, report.failed
    ));
}

fn print_summary(report: &ImportReport, dry_run: bool) {
    for line in &report.errors {
        let problems: Vec<String> = line
            .problems
            .iter()
            .map(|(field, invalid)| format!("{field}: {} ({})", invalid.message, invalid.code))
            .collect();
        eprintln!("line {}: {}", line.line, problems.join("; "));
    }
    if report.failed > report.errors.len() as u64 {
        eprintln!(
            "({} more failed lines not shown)",
            report.failed - report.errors.len() as u64
        );
    }
    let verb = if dry_run { "would create" } else { "created" };
    println!(
        "{verb} {}, skipped {}, failed {} ({} lines)",
        report.created, report.skipped, report.failed, report.lines
    );
}

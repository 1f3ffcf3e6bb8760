//! The `policyc` command. This file only parses arguments and dispatches; each subcommand
//! lives in its own file under `cmd/`, and everything printed is shaped in `output/`.

mod cmd;
mod inputs;
mod libs;
mod output;
mod panic;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Compile sandbox policies for desktop AI agents, and prove they allow only what they say.
#[derive(Debug, Parser)]
#[command(name = "policyc", version, about, long_about = None)]
struct Cli {
    /// How to print diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = output::ErrorFormat::Human)]
    error_format: output::ErrorFormat,
    /// A module path for `use NAME::...`: `use NAME::a::b` reads DIR/a/b.policy. Wins over
    /// a `[modules]` entry of the same name in policyc.toml. Repeatable.
    #[arg(long, global = true, value_name = "NAME=DIR", value_parser = libs::parse_lib)]
    lib: Vec<libs::LibArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Audit(cmd::audit::Args),
    Build(cmd::build::Args),
    Check(cmd::check::Args),
    Diff(cmd::diff::Args),
    Exec(cmd::exec::Args),
    Explain(cmd::explain::Args),
    Fmt(cmd::fmt::Args),
    Fuzz(cmd::fuzz::Args),
    Import(cmd::import::Args),
    Test(cmd::test::Args),
    Token(cmd::token::Args),
}

fn main() -> ExitCode {
    panic::install_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    if !matches!(cli.command, Command::Exec(_)) {
        // `exec` keeps SIGPIPE ignored: its process hosts the egress supervisor, which must
        // see a peer that closed as an error on that connection, not die of it. The program
        // it starts gets SIGPIPE's default back when it is spawned.
        policyc_host::sys::restore_sigpipe();
    }
    output::diagnostics::set_error_format(cli.error_format);
    libs::set_cmdline(cli.lib.clone());
    let status = match cli.command {
        Command::Exec(a) => return cmd::exec::run(&a, cli.error_format),
        Command::Audit(a) => cmd::audit::run(&a, cli.error_format),
        Command::Build(a) => cmd::build::run(&a, cli.error_format),
        Command::Check(a) => cmd::check::run(&a, cli.error_format),
        Command::Diff(a) => cmd::diff::run(&a, cli.error_format),
        Command::Explain(a) => cmd::explain::run(&a, cli.error_format),
        Command::Fmt(a) => cmd::fmt::run(&a, cli.error_format),
        Command::Fuzz(a) => cmd::fuzz::run(&a, cli.error_format),
        Command::Import(a) => cmd::import::run(&a, cli.error_format),
        Command::Test(a) => cmd::test::run(&a, cli.error_format),
        Command::Token(a) => cmd::token::run(&a, cli.error_format),
    };
    ExitCode::from(status as u8)
}

/// A command line clap could not parse: clap's own text, or under `--error-format json`
/// one JSON `usage` line, so that a script reading JSON never meets plain text. `--help`
/// and `--version` print as usual.
fn argument_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() || !json_requested(std::env::args_os().skip(1)) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    output::print_usage_error(message, output::ErrorFormat::Json);
    ExitCode::from(2)
}

/// Whether the raw arguments ask for `--error-format json` (before any `--`).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_flag = false;
    for a in args {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--error-format=json" || (previous_was_flag && a == "json") {
            return true;
        }
        previous_was_flag = a == "--error-format";
    }
    false
}

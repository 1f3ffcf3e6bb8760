//! `policyc audit`: check and read the audit log `policyc exec --audit-log` writes.
//!
//! `verify` exits 0 when the log is intact and 1 naming the first line that is not (a
//! stable code from P1701 to P1705, and a hint); `show` prints the records readably, or as
//! the JSON lines they are, filtered by decision, host, token or kind.

use crate::output::audit::{line, Filter};
use crate::output::{print_io_error, print_usage_error, ErrorFormat, Status};
use policyc_verify::audit::{verify, Anchor, Broken};
use std::path::{Path, PathBuf};

/// Check or read an audit log.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check that the log is intact: every record chained to the one before, in order,
    /// every session ended (exit 0), or name the first line that is not (exit 1).
    Verify(VerifyArgs),
    /// Print the log's records readably (a warning first when the log is not intact).
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The audit log.
    log: PathBuf,
    /// The anchor `policyc exec --audit-anchor` wrote: the log must still hold the record
    /// it keeps (detects a log rewritten as a whole, or cut after a session's end).
    #[arg(long, value_name = "FILE")]
    anchor: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The audit log.
    log: PathBuf,
    /// Only events with this decision.
    #[arg(long, value_enum)]
    decision: Option<Decision>,
    /// Only events for this host (the connection's requested host, or the name looked up).
    #[arg(long)]
    host: Option<String>,
    /// Only connections through rules that carry this token (its name in the policy).
    #[arg(long)]
    token: Option<String>,
    /// Only records of this kind: `write` (the program's writes), `denial` (refused
    /// syscalls), `egress` (connections), `dns` (lookups) or `token` (connections through
    /// token-bound rules).
    #[arg(long, value_parser = ["write", "denial", "egress", "dns", "token"])]
    kind: Option<String>,
    /// Print the selected records as the JSON lines they are.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Decision {
    Allow,
    Deny,
}

/// Run `policyc audit`.
pub fn run(args: &Args, format: ErrorFormat) -> Status {
    match &args.command {
        Command::Verify(a) => run_verify(a, format),
        Command::Show(a) => run_show(a, format),
    }
}

fn read(path: &Path, format: ErrorFormat) -> Result<Vec<u8>, Status> {
    std::fs::read(path).map_err(|e| {
        print_io_error(path, "read", &e, format);
        Status::Usage
    })
}

fn run_verify(a: &VerifyArgs, format: ErrorFormat) -> Status {
    let anchor = match a.anchor.as_deref().map(|p| read_anchor(p, format)) {
        Some(Err(s)) => return s,
        Some(Ok(anchor)) => Some(anchor),
        None => None,
    };
    let log = match read(&a.log, format) {
        Ok(log) => log,
        Err(s) => return s,
    };
    match verify(&log, anchor.as_ref()) {
        Ok(s) => {
            match format {
                ErrorFormat::Human => println!(
                    "{}: intact: {} records in {} sessions; the last is seq {} {}",
                    a.log.display(),
                    s.records,
                    s.sessions,
                    s.last.seq,
                    s.last.hash
                ),
                ErrorFormat::Json => println!(
                    "{}",
                    serde_json::json!({
                        "file": a.log.display().to_string(),
                        "intact": true,
                        "records": s.records,
                        "sessions": s.sessions,
                        "last": s.last,
                    })
                ),
            }
            Status::Ok
        }
        Err(b) => {
            print_broken(&b, &a.log, format);
            Status::Failed
        }
    }
}

fn read_anchor(path: &Path, format: ErrorFormat) -> Result<Anchor, Status> {
    let bytes = read(path, format)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        print_usage_error(
            &format!(
                "`{}` is not an audit anchor (`{{\"seq\":N,\"hash\":\"sha256:...\"}}`): {e}",
                path.display()
            ),
            format,
        );
        Status::Usage
    })
}

/// The first line that is not intact, with its code and hint.
fn print_broken(b: &Broken, log: &Path, format: ErrorFormat) {
    crate::output::print_coded(
        b.code.as_str(),
        &b.message,
        Some(b.hint),
        Some(log),
        Some(b.line),
        format,
    );
}

fn run_show(a: &ShowArgs, format: ErrorFormat) -> Status {
    let log = match read(&a.log, format) {
        Ok(log) => log,
        Err(s) => return s,
    };
    if let Err(b) = verify(&log, None) {
        let message = format!("the log is not intact ({}): {}", b.code.as_str(), b.message);
        crate::output::print_message(
            format,
            &format!("warning: {}:{}: {message}", a.log.display(), b.line),
            b.code.as_str(),
            crate::output::Level::Warning,
            &message,
            &[
                ("file", a.log.display().to_string().into()),
                ("line", b.line.into()),
            ],
        );
    }
    let filter = Filter {
        decision: a.decision.map(|d| match d {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }),
        host: a.host.clone(),
        token: a.token.clone(),
        kind: a.kind.clone(),
    };
    for (n, raw) in log.split(|b| *b == b'\n').enumerate() {
        let Ok(serde_json::Value::Object(record)) = serde_json::from_slice(raw) else {
            continue;
        };
        if !filter.keeps(&record) {
            continue;
        }
        if a.json {
            println!("{}", String::from_utf8_lossy(raw));
        } else {
            println!("{}", line(n.saturating_add(1), &record));
        }
    }
    Status::Ok
}

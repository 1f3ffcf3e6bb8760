//! `policyc import`: other tools' sandbox settings as a formatted `.policy` file.

use crate::output::{print_io_error, ErrorFormat, Status};
use policyc_compiler::syscalls::Arch;
use policyc_targets::import::{self, landrun, sandbox_runtime, seccomp, ImportError, Imported};
use std::path::{Path, PathBuf};

/// Translate another tool's sandbox settings into a policy, exactly or not at all.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// An OCI, Docker or Podman seccomp profile (JSON) as a policy's `syscalls` block.
    Seccomp(SeccompArgs),
    /// anthropic-experimental/sandbox-runtime (`srt`) settings (JSON) as `fs` and `net` blocks.
    #[command(name = "sandbox-runtime")]
    SandboxRuntime(SandboxRuntimeArgs),
    /// A landrun command line (`policyc import landrun -- --ro /usr ...`) as `fs` and `net`
    /// blocks.
    Landrun(LandrunArgs),
}

#[derive(Debug, clap::Args)]
struct SandboxRuntimeArgs {
    /// The settings file, e.g. `~/.srt-settings.json`.
    file: PathBuf,
    /// The directory srt runs in (absolute or `~/...`): relative paths and srt's dangerous
    /// files (`.bashrc`, `.git/hooks`, ...) are beneath it. Needed when the settings allow
    /// writing or use relative paths.
    #[arg(long)]
    cwd: Option<String>,
    /// Import although srt's dangerous files deeper in the working directory cannot be
    /// named in a policy; the output lists what is not enforced.
    #[arg(long)]
    best_effort: bool,
    #[command(flatten)]
    out: Out,
}

#[derive(Debug, clap::Args)]
struct LandrunArgs {
    /// landrun's flags (and optionally the command), after `--`.
    #[arg(last = true, required = true, allow_hyphen_values = true)]
    args: Vec<String>,
    #[command(flatten)]
    out: Out,
}

/// Where the policy goes, and what it is called.
#[derive(Debug, clap::Args)]
struct Out {
    /// Write the policy here instead of to standard output.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// The policy's name (default: from the input file's name).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, clap::Args)]
struct SeccompArgs {
    /// The profile, e.g. Docker's `default.json` or Podman's `seccomp.json`.
    file: PathBuf,
    /// The container's capabilities, comma-separated (`CAP_SYS_ADMIN` or `sys_admin`), for
    /// the profile's `includes.caps` and `excludes.caps`. Default: none.
    #[arg(long, value_delimiter = ',')]
    caps: Vec<String>,
    /// Keep the profile's meaning on this architecture only (default: both x86_64 and
    /// aarch64, and a syscall whose meaning differs between them is an error).
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// The kernel version `minKernel` is compared with.
    #[arg(long, default_value = "5.13")]
    kernel: String,
    #[command(flatten)]
    out: Out,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "aarch64")]
    Aarch64,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    match &args.what {
        What::Seccomp(a) => run_seccomp(a, format),
        What::SandboxRuntime(a) => run_sandbox_runtime(a, format),
        What::Landrun(a) => {
            let name = import::ident(a.out.name.as_deref().unwrap_or("landrun"));
            let opts = landrun::Options { name };
            finish(
                landrun::import(&a.args, &opts),
                Path::new("landrun"),
                &a.out,
                format,
            )
        }
    }
}

fn run_sandbox_runtime(a: &SandboxRuntimeArgs, format: ErrorFormat) -> Status {
    let Some(text) = read(&a.file, format) else {
        return Status::Usage;
    };
    let source = a.file.file_name().map_or_else(
        || a.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let opts = sandbox_runtime::Options {
        name: name_for(&a.out, &a.file),
        source,
        cwd: a.cwd.clone(),
        best_effort: a.best_effort,
    };
    finish(
        sandbox_runtime::import(&text, &opts),
        &a.file,
        &a.out,
        format,
    )
}

fn run_seccomp(a: &SeccompArgs, format: ErrorFormat) -> Status {
    let Some(text) = read(&a.file, format) else {
        return Status::Usage;
    };
    let Some(kernel) = seccomp::kernel_version(&a.kernel) else {
        crate::output::print_usage_error(
            &format!("`--kernel {}`: expected a version such as `5.13`", a.kernel),
            format,
        );
        return Status::Usage;
    };
    let source = a.file.file_name().map_or_else(
        || a.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut opts = seccomp::Options::new(name_for(&a.out, &a.file), source);
    opts.caps = a.caps.iter().map(|c| seccomp::capability(c)).collect();
    opts.kernel = kernel;
    if let Some(arch) = a.arch {
        opts.arches = vec![match arch {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Aarch64 => Arch::Aarch64,
        }];
    }
    finish(seccomp::import(&text, &opts), &a.file, &a.out, format)
}

/// The policy name: `--name`, or the input's file stem.
fn name_for(out: &Out, input: &Path) -> String {
    let raw = out.name.clone().unwrap_or_else(|| {
        input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    import::ident(&raw)
}

/// Read the input file.
fn read(path: &Path, format: ErrorFormat) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            print_io_error(path, "read", &e, format);
            None
        }
    }
}

/// Print the error, or write the policy.
fn finish(
    result: Result<Imported, ImportError>,
    input: &Path,
    out: &Out,
    format: ErrorFormat,
) -> Status {
    let imported = match result {
        Ok(i) => i,
        Err(e) => {
            print_import_error(&e, input, format);
            return Status::Failed;
        }
    };
    match &out.output {
        None => {
            print!("{}", imported.text);
            Status::Ok
        }
        Some(path) => match std::fs::write(path, &imported.text) {
            Ok(()) => Status::Ok,
            Err(e) => {
                print_io_error(path, "write", &e, format);
                Status::Usage
            }
        },
    }
}

/// An import error, with its code, the input and the place in it.
fn print_import_error(e: &ImportError, input: &Path, format: ErrorFormat) {
    let mut human = format!(
        "error[{}]: {}: {}: {}",
        e.code.as_str(),
        input.display(),
        e.place,
        e.message
    );
    if let Some(h) = &e.hint {
        human.push_str(&format!("\n  = hint: {h}"));
    }
    crate::output::print_message(
        format,
        &human,
        e.code.as_str(),
        crate::output::Level::Error,
        &e.message,
        &[
            ("file", input.display().to_string().into()),
            ("place", e.place.to_string().into()),
            ("hint", e.hint.as_deref().into()),
        ],
    );
}

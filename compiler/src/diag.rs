//! Diagnostics: data first, rendered once at the edge.
//!
//! Every diagnostic has a stable [`Code`], a severity, a message, a primary span and a hint.
//! Codes never change meaning; retired codes are not reused. The book's error index is
//! generated from [`Code::ALL`] and checked against it by a test.

use crate::span::Span;
use serde::Serialize;

mod render;
pub use render::{render_human, render_human_styled, render_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $sev:ident, $title:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code { $( $variant, )* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed, e.g. `P0201`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// The default severity.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// A one-line description for the error index.
            pub fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }
        }
    };
}

codes! {
    Syntax = "P0001", Error, "syntax error";
    BadLiteral = "P0002", Error, "a number, size or duration is out of range";
    BadEscape = "P0003", Error, "invalid escape in a string";

    UnknownModule = "P0101", Error, "`use` names a module that does not exist";
    UnknownPathList = "P0102", Error, "`deny` names a path list that is not defined";
    UnknownInclude = "P0103", Error, "`include` names a fragment or policy that is not defined";
    UnknownToken = "P0104", Error, "an egress rule names a token that is not defined";
    UnknownSyscall = "P0105", Error, "a syscall or syscall set name is unknown on every architecture";
    DuplicateDefinition = "P0106", Error, "a name is defined twice";
    IncludeCycle = "P0107", Error, "fragments include each other in a cycle";
    SyscallSetCycle = "P0108", Error, "syscall sets include each other in a cycle";
    AmbiguousSyscallSet = "P0109", Error, "a syscall set has the name of a syscall";
    TooDeep = "P0110", Error, "includes or syscall sets nest more than 32 levels deep";
    PolicyNameTooLong = "P0111", Error, "a policy name is longer than a build folder's name may be (200 bytes)";
    ImportCycle = "P0112", Error, "modules import each other in a cycle";

    RelativePath = "P0201", Error, "a path is relative";
    PathEscapes = "P0202", Error, "`..` climbs above the root or the home directory";
    PathControlChar = "P0203", Error, "a path contains NUL or a control character";
    PathTooLong = "P0204", Error, "a path or one of its components is too long";
    GuestPathNotAbsolute = "P0205", Error, "a guest path (after `at`, or a scratch or tmpfs path) is not absolute";
    MissingGuestPath = "P0206", Error, "a home-relative mount has no guest path under container or wasm isolation";
    PathGlob = "P0207", Error, "a path contains glob characters, which are not supported";
    ProcessRemap = "P0208", Error, "a mount under process isolation names a guest path different from its host path";

    UnknownIsolation = "P0301", Error, "unknown isolation level";
    ReservedIsolation = "P0302", Error, "isolation level is reserved and not supported yet";
    UnknownThreat = "P0303", Error, "unknown threat";
    UnknownDataClass = "P0304", Error, "unknown data classification";
    BadPort = "P0305", Error, "a port is 0 or above 65535";
    BadHost = "P0306", Error, "a host name or address is malformed";
    BroadHostPattern = "P0307", Error, "a host pattern is too broad";
    UnknownErrno = "P0308", Error, "unknown errno name or number";
    BadLimit = "P0309", Error, "unknown limit, a value of the wrong kind, or zero";
    UnknownAuditItem = "P0310", Error, "unknown audit item";
    BadSize = "P0311", Error, "a scratch area or tmpfs has no size, or size zero";
    BadArgIndex = "P0312", Error, "syscall argument index above 5";
    BadToken = "P0313", Error, "a token lacks a required field or repeats one";
    RepeatedStatement = "P0314", Error, "a statement that may appear once appears twice, or contradicts another";
    MissingIsolation = "P0315", Error, "a policy does not say its isolation level";
    TooManyArgs = "P0316", Error, "a syscall request has more than six arguments";
    MissingPort = "P0317", Error, "a connect request or egress allow has no port";
    ConditionOnSet = "P0318", Error, "an argument condition is attached to a syscall set";
    EnvConflict = "P0319", Error, "an environment variable is set twice, or both passed and set, or its value holds a NUL byte";

    ExfiltrationDirectEgress = "P0401", Error, "a policy that defends against exfiltration allows direct egress";
    ExfiltrationOpenDns = "P0402", Error, "a policy that defends against exfiltration allows unrestricted DNS";
    LongTokenTtl = "P0403", Error, "a token's TTL exceeds one hour";
    WriteInsideReadOnly = "P0404", Warning, "a writable grant is nested inside a read-only mount";
    DangerousSyscallAllowed = "P0405", Warning, "a dangerous syscall is allowed";
    TokenAudienceMismatch = "P0406", Warning, "a token's audience is not the host it is used for";
    NoSyscallPolicy = "P0407", Warning, "a process or container policy allows no syscalls";
    PersistenceWritableHome = "P0408", Error, "a policy that defends against persistence grants write access to the whole home directory";
    SignedArgOrdering = "P0409", Warning, "an ordering comparison on a syscall argument the kernel declares signed, which seccomp compares as unsigned";
    ExecFromMemory = "P0410", Warning, "`memfd_create` is allowed with `execve` or `execveat`, so the program can run code it wrote though no writable area is executable";
    SecretEnvPassed = "P0411", Warning, "a policy passes an environment variable whose name looks like a credential";

    DuplicateRule = "P0501", Warning, "a rule is written twice";
    ShadowedGrant = "P0502", Warning, "a grant lies wholly inside a deny and has no effect";
    AllowAndDenySyscall = "P0503", Warning, "a syscall is both allowed and denied (deny wins)";
    UnusedToken = "P0504", Warning, "a token is defined but no egress rule uses it";
    GuestPathCollision = "P0505", Error, "two mounts share a guest path";
    UnreachableEgress = "P0506", Warning, "an egress allow is wholly denied by a deny rule";
    EmptyTest = "P0507", Warning, "a test block has no expectations";
    UnenforcedAllow = "P0508", Error, "`unenforced` on a case that expects allow, or without a reason";
    SuppressionWithoutReason = "P0509", Error, "`allow warning` without a reason";
    UnsuppressibleCode = "P0510", Error, "`allow warning` names an error, an unknown code, or a warning that guards a declared threat";
    UnusedSuppression = "P0511", Warning, "`allow warning` silences nothing on the rule it precedes";

    SeccompTooLarge = "P0701", Error, "a seccomp filter is too large (over 4096 BPF instructions, or too many seccomp.json rules for one syscall)";

    LandlockNestedDeny = "P0801", Error, "a deny lies beneath a Landlock grant and removes a right it gives (Landlock is allow-only)";
    LandlockNestedMount = "P0802", Error, "a mount nested in another grants less than the outer one, which Landlock cannot express";
    LandlockHomeUnknown = "P0803", Error, "a home-relative path needs the home directory, which was not given or is not absolute";
    LandlockAbi = "P0804", Warning, "a Landlock right needs a newer kernel ABI; best-effort mode drops it on older kernels";
    LandlockNotMediated = "P0805", Warning, "Landlock does not restrict this kind of access; another layer must";
    LandlockNarrowed = "P0806", Warning, "a rule is enforced by Landlock more narrowly than written";
    LandlockRoundTrip = "P0807", Error, "the emitted landlock.json does not read back as the ruleset that was built (a policyc bug)";

    AppArmorBadName = "P0901", Error, "a policy name cannot be written as an AppArmor profile name";
    AppArmorHomeUnknown = "P0902", Error, "a home-relative path needs the home directory, which was not given or is not absolute";
    AppArmorUnwritablePath = "P0903", Error, "a path holds a byte that cannot be written in an AppArmor profile (NUL)";
    AppArmorNarrowed = "P0904", Warning, "a rule is enforced by AppArmor more narrowly than written";
    AppArmorNotMediated = "P0905", Warning, "AppArmor does not restrict this kind of access; another layer must";
    AppArmorRoundTrip = "P0906", Error, "the emitted apparmor.profile does not read back as the profile that was built (a policyc bug)";

    OciRuntimeSocket = "P1001", Error, "a mount's source is, holds or lies inside a container runtime's or privileged daemon's socket or state (Docker, containerd, CRI-O, Podman, D-Bus, ...)";
    OciSystemSource = "P1002", Error, "a mount's source is `/`, or is or lies beneath `/proc`, `/sys` or `/dev`";
    OciCredentialSource = "P1003", Error, "a mount's source is the home directory, or is, holds or lies inside a credential folder (`~/.ssh`, `~/.aws`, ...)";
    OciUserRuntimeDir = "P1004", Error, "a mount's source is, holds or lies inside a user's runtime directory (`/run/user/<uid>`)";
    OciProcFd = "P1005", Error, "a mount source, a guest path or the home directory goes through `/proc/<pid>/fd` (or `/proc/self`, `/dev/fd`)";
    OciReservedGuestPath = "P1006", Error, "a guest path is `/`, or is or lies beneath `/proc`, `/sys` or `/dev`, which the container runtime mounts itself";
    OciHomeUnknown = "P1007", Error, "a container policy with bind mounts needs the home directory, which was not given or is not absolute";
    OciDenyInWritableMount = "P1008", Error, "a deny lies beneath a writable bind mount, where masking its guest path cannot keep the host object out of reach";
    OciUserNamespace = "P1009", Error, "the syscall filter lets the program create a user namespace inside the container";
    OciNotMediated = "P1010", Warning, "the OCI bundle does not restrict this kind of access; another layer must";
    OciNarrowed = "P1011", Warning, "a rule is enforced by the OCI bundle more narrowly than written";
    OciRuntimeRequirement = "P1012", Warning, "the bundle needs something from the host or the launcher at run time";
    OciInternal = "P1013", Error, "the OCI spec could not be built or does not read back as built (a policyc bug)";
    OciHomeSpelledOut = "P1014", Error, "a bind source inside the home directory is written as an absolute path instead of with `~`, so denies and host-object requests written with `~` would not match it";

    WasiNestedDeny = "P1101", Error, "a deny lies beneath a WASI preopen's host directory and removes a right the preopen gives (a preopen grants its whole tree)";
    WasiNestedPreopen = "P1102", Error, "a mount's guest path lies inside another WASI preopen, whose descriptor still reaches what the inner mount hides";
    WasiHomeUnknown = "P1103", Error, "a home-relative path needs the home directory, which was not given or is not absolute";
    WasiNarrowed = "P1104", Warning, "a rule is enforced by the WASI preopens more narrowly than written";
    WasiNotMediated = "P1105", Warning, "the WASI host does not restrict this kind of access or limit; another layer must";
    WasiFormatNotEmitted = "P1106", Warning, "a WASI host's own format (extism.json, the wasmtime command line) cannot express the policy exactly and is not emitted";
    WasiHomeSpelledOut = "P1108", Error, "a WASI preopen's host directory is, holds or lies inside the home directory but is written as an absolute path, so `~` denies and requests would not match it";
    WasiRoundTrip = "P1107", Error, "the emitted wasi.json does not read back as the manifest that was built (a policyc bug)";

    EgressRoundTrip = "P1201", Error, "the emitted egress.json does not read back as the artifact that was built (a policyc bug)";
    EgressNotMediated = "P1202", Warning, "the egress layer does not restrict this kind of access; another layer must";
    EgressNarrowed = "P1203", Warning, "an egress rule allows an address that is not public (loopback, private, link-local, CGNAT, ULA, multicast ...), which the egress supervisor never dials: the egress layer refuses it";

    SquidNarrowed = "P1301", Warning, "an egress rule is enforced by the Squid configuration more narrowly than written";
    SquidNotMediated = "P1302", Warning, "the Squid configuration does not restrict this kind of access, or needs something from the operator";
    SquidRoundTrip = "P1303", Error, "the emitted squid.conf does not decide as the policy does (a policyc bug)";

    DnsmasqNotMediated = "P1401", Warning, "the dnsmasq configuration does not restrict this kind of access, or needs something from the operator";
    DnsmasqRoundTrip = "P1402", Error, "the emitted dnsmasq.conf does not decide as the policy does (a policyc bug)";

    ImportInvalid = "P1501", Error, "`policyc import`: the input is not a valid document or command line of the format being imported";
    ImportInexact = "P1502", Error, "`policyc import`: the input means something a policy cannot say exactly";

    TokenKey = "P1601", Error, "a capability key file cannot be read or written, or does not hold an ed25519 private key";
    TokenMalformed = "P1602", Error, "the text given as a capability is not a capability token";
    TokenRefused = "P1603", Error, "a capability was refused: tampered or foreign, expired, for another audience or scope, narrowed, or a single-use capability presented again";
    TokenInvalid = "P1604", Error, "the token to mint or the attenuation asked for is not valid (an unknown token, no scope, a ttl of zero, nothing narrowed)";
    TokenSecret = "P1605", Error, "`policyc exec --secret`: a secret source is malformed or unreadable, or names a token no rule of the policy uses";

    AuditMalformed = "P1701", Error, "`policyc audit`: a line of the audit log is not an audit record";
    AuditEdited = "P1702", Error, "`policyc audit`: a record of the audit log was edited (its hash, session, count or seal does not match)";
    AuditReordered = "P1703", Error, "`policyc audit`: records of the audit log were removed, inserted or moved";
    AuditTruncated = "P1704", Error, "`policyc audit`: the audit log was cut (its beginning, its last line, or a session's end record is missing)";
    AuditAnchorMismatch = "P1705", Error, "`policyc audit`: the audit log does not hold the record its anchor keeps";
}

/// One finding about the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
    /// Other places that explain the problem, such as where a repeated statement was first
    /// written.
    pub labels: Vec<Label>,
}

/// A secondary span of a diagnostic with what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            span,
            hint: None,
            labels: Vec::new(),
        }
    }

    /// Add a secondary span with what it shows.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics collected while compiling, in source order once [`Diagnostics::sort`] runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Sort by file, position, then code, and drop exact repeats.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.span.file, a.span.start, a.span.end, a.code, &a.message).cmp(&(
                b.span.file,
                b.span.start,
                b.span.end,
                b.code,
                &b.message,
            ))
        });
        self.0.dedup_by(|a, b| {
            a.code == b.code
                && a.message == b.message
                && a.span.file == b.span.file
                && a.span.start == b.span.start
        });
    }
}

/// Marks where a long piece of input was cut.
const ELLIPSIS: &str = "...";

/// Longest piece of the input a message echoes, in characters.
pub const MAX_ECHO_CHARS: usize = 100;

/// `text` as a message echoes it: whole when it is at most [`MAX_ECHO_CHARS`] characters,
/// else its start and [`ELLIPSIS`], so a huge token or path does not fill the screen.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}{ELLIPSIS}", text.get(..cut).unwrap_or_default()),
        None => text.to_string(),
    }
}

/// The closest candidate to `name` by edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let len = name.chars().count();
    let limit = (len / 3).max(1);
    candidates
        .into_iter()
        // The distance is at least the difference in length.
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

/// Edits (insert, delete, substitute, or swap two neighbours) that turn `a` into `b`: the
/// optimal string alignment distance, so `raed` is one edit from `read`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table, over j = 0..=b.len().
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            let mut best = sub.min(del).min(ins);
            let swapped =
                i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) && ca != cb;
            if swapped {
                best = best.min(before.get(j - 1).copied().unwrap_or(0) + 1);
            }
            cur.push(best);
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceMap;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert_eq!(s.len(), 5);
            assert!(s.starts_with('P'));
        }
    }

    #[test]
    fn renders_caret_under_span() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.policy", "policy p {\n  fs { read \"x\" }\n}\n");
        let d = Diagnostic::new(
            Code::RelativePath,
            Span::new(f, 23, 26),
            "relative path `x`",
        )
        .with_hint("start it with `/` or `~/`");
        let r = render_human(&d, &sm);
        assert_eq!(
            r,
            "error[P0201]: relative path `x`\n --> a.policy:2:13\n  |\n2 |   fs { read \"x\" }\n  |             ^^^\n  |\n  = hint: start it with `/` or `~/`\n"
        );
        let j = render_json(&d, &sm);
        assert!(j.contains("\"line\":2,\"column\":13"), "{j}");
    }

    #[test]
    fn a_span_over_a_whole_block_is_drawn_on_its_first_line_only() {
        let body: String = (0..20).map(|i| format!("  # line {i}\n")).collect();
        let text = format!("policy p {{\n{body}}}\n");
        let mut sm = SourceMap::new();
        let f = sm.add("a.policy", text.clone());
        let d = Diagnostic::new(
            Code::Syntax,
            Span::new(f, 0, text.len() - 1),
            "whole policy",
        );
        let r = render_human(&d, &sm);
        assert!(r.contains("1 | policy p {"), "{r}");
        assert!(!r.contains("# line"), "the block's body is drawn:\n{r}");
        let short = Diagnostic::new(Code::Syntax, Span::new(f, 0, 20), "two lines");
        assert!(render_human(&short, &sm).contains("# line 0"));
    }

    /// The source line and the caret line of a rendering.
    fn shown_and_caret(rendered: &str) -> (String, String) {
        let lines: Vec<&str> = rendered.lines().collect();
        let source = lines.iter().position(|l| l.contains("-->")).unwrap() + 2;
        (lines[source].to_string(), lines[source + 1].to_string())
    }

    #[test]
    fn long_lines_are_cut_around_the_span_with_the_caret_kept_aligned() {
        let line = format!("{}TOKEN{}", "x".repeat(100_000), "y".repeat(100_000));
        let mut sm = SourceMap::new();
        let f = sm.add("long.policy", format!("policy p {{\n{line}\n}}\n"));
        let start = "policy p {\n".len() + 100_000;
        let d = Diagnostic::new(Code::Syntax, Span::new(f, start, start + 5), "bad token");
        let r = render_human(&d, &sm);
        assert!(r.len() < 1_000, "{} bytes rendered", r.len());
        assert!(r.contains("--> long.policy:2:100001"), "{r}");
        let (shown, caret) = shown_and_caret(&r);
        assert!(shown.starts_with("2 | ...x"), "{shown}");
        assert!(shown.ends_with("y..."), "{shown}");
        let at = shown.find("TOKEN").unwrap();
        assert_eq!(caret.find('^'), Some(at), "\n{shown}\n{caret}");
        assert_eq!(caret.trim_start_matches([' ', '|']).len(), 5, "{caret}");
    }

    #[test]
    fn long_lines_are_cut_at_the_end_they_run_on_at() {
        let mut sm = SourceMap::new();
        let head = format!("TOKEN{}", "y".repeat(200_000));
        let tail = format!("{}TOKEN", "x".repeat(200_000));
        let f = sm.add("long.policy", format!("{head}\n\t{tail}\n"));
        let first = Diagnostic::new(Code::Syntax, Span::new(f, 0, 5), "bad token");
        let (shown, caret) = shown_and_caret(&render_human(&first, &sm));
        assert!(shown.starts_with("1 | TOKENy") && shown.ends_with("y..."));
        assert_eq!(caret, "  | ^^^^^");
        let start = head.len() + 2 + 200_000;
        let last = Diagnostic::new(Code::Syntax, Span::new(f, start, start + 5), "bad token");
        let (shown, caret) = shown_and_caret(&render_human(&last, &sm));
        assert!(
            shown.starts_with("2 | ...x") && shown.ends_with("xTOKEN"),
            "{shown}"
        );
        assert!(shown.len() < 200);
        assert_eq!(caret.find('^'), shown.find("TOKEN"));
        // A span running past the end of the window is cut with it.
        let wide = Diagnostic::new(Code::Syntax, Span::new(f, 0, 150_000), "bad token");
        let (shown, caret) = shown_and_caret(&render_human(&wide, &sm));
        assert!(caret.len() <= shown.len(), "\n{shown}\n{caret}");
    }

    #[test]
    fn a_span_over_several_lines_is_drawn_from_its_first_to_its_last_line() {
        let mut sm = SourceMap::new();
        let f = sm.add("m.policy", "policy p {\n  fs {\n    read \"x\"\n  }\n}\n");
        let start = "policy p {\n  ".len();
        let end = "policy p {\n  fs {\n    read \"x\"\n  }".len();
        let d = Diagnostic::new(Code::Syntax, Span::new(f, start, end), "bad block")
            .with_hint("fix it");
        let r = render_human(&d, &sm);
        assert_eq!(
            r,
            "error[P0001]: bad block\n --> m.policy:2:3\n  |\n2 | /   fs {\n3 | |     read \"x\"\n4 | |   }\n  | |___^\n  |\n  = hint: fix it\n",
            "\n{r}"
        );
    }

    #[test]
    fn labels_are_drawn_and_listed_in_json() {
        let mut sm = SourceMap::new();
        let f = sm.add(
            "l.policy",
            "policy p {\n  isolation wasm\n  isolation wasm\n}\n",
        );
        let first = "policy p {\n  isolation ".len();
        let second = "policy p {\n  isolation wasm\n  isolation ".len();
        let d = Diagnostic::new(
            Code::RepeatedStatement,
            Span::new(f, second, second + 4),
            "isolation is stated twice",
        )
        .with_label(Span::new(f, first, first + 4), "first stated here");
        let r = render_human(&d, &sm);
        assert!(r.contains("2 |   isolation wasm\n  |             ---- first stated here\n3 |   isolation wasm\n  |             ^^^^\n"), "\n{r}");
        let j = render_json(&d, &sm);
        assert!(
            j.contains(
                r#""labels":[{"message":"first stated here","file":"l.policy","line":2,"column":13"#
            ),
            "{j}"
        );
    }

    #[test]
    fn a_huge_token_or_path_is_not_echoed_whole() {
        let huge = "a".repeat(200_000);
        for src in [
            format!("policy p {{ isolation wasm\n fs {{ read \"/{huge}\" }} }}"),
            format!("policy p {{ isolation wasm\n {huge} }}"),
            format!("policy p {{ isolation wasm\n net {{ egress via proxy {{ allow \"{huge}.com\":443 }} }} }}"),
        ] {
            let mut sm = SourceMap::new();
            let f = sm.add("huge.policy", src);
            let out = crate::compile(&mut sm, f, &crate::NoModules);
            assert!(out.diagnostics.has_errors());
            for d in out.diagnostics.iter() {
                let human = render_human(d, &sm);
                assert!(human.len() < 1_000, "{} bytes: {}", human.len(), &human[..200]);
                assert!(render_json(d, &sm).len() < 1_000);
            }
        }
    }

    #[test]
    fn a_swapped_pair_of_letters_is_one_edit() {
        assert_eq!(
            did_you_mean("raed", ["read", "write", "exec"]),
            Some("read".to_string())
        );
        assert_eq!(
            did_you_mean("opne", ["open", "openat"]),
            Some("open".to_string())
        );
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("abc", "ca"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("exfiltraton", ["exfiltration", "tampering"]),
            Some("exfiltration".to_string())
        );
        assert_eq!(did_you_mean("zzz", ["exfiltration"]), None);
    }
}

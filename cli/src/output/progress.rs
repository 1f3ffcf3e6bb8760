//! Progress on a terminal, for runs longer than a second (`policyc test`, `build`, `fuzz`).
//!
//! A bar (or, when the amount of work is not known, a spinner with the elapsed time) is drawn
//! with indicatif on standard error, and only when [`shown`] says so: standard error is a
//! terminal, the `CI` variable is unset or false, and the output is not JSON. Nothing is drawn
//! during the first second, so short runs print exactly what they printed before; the bar is
//! erased when the run ends, and lines printed through [`Progress::println`] appear above it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// How long a run goes before its progress appears.
pub const DELAY: Duration = Duration::from_secs(1);

/// Whether progress is drawn: on a terminal (`stderr_tty`), outside CI (`ci`, the value of
/// the `CI` variable), and never when the output is JSON.
pub fn shown(stderr_tty: bool, ci: Option<&str>, json: bool) -> bool {
    stderr_tty && !json && !in_ci(ci)
}

/// True when the `CI` variable says the run is in CI: set to anything but an empty value,
/// `0`, `false` or `no` (in any case).
pub fn in_ci(ci: Option<&str>) -> bool {
    ci.map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"))
}

/// [`shown`] for this process: its standard error and its `CI` variable.
pub fn shown_here(json: bool) -> bool {
    let ci = std::env::var("CI").ok();
    shown(std::io::stderr().is_terminal(), ci.as_deref(), json)
}

/// The progress of one run; hidden unless [`shown_here`]. Erased when dropped.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Tells the thread that shows the bar after [`DELAY`] that the run is over.
    done: Option<Sender<()>>,
    /// Set when that thread has sent the bar to standard error.
    drawn: Arc<AtomicBool>,
}

impl Progress {
    /// Progress over `len` steps (`None`: unknown, a spinner), labelled `what`; drawn only
    /// when `show`, and not before [`DELAY`] has passed.
    pub fn new(len: Option<u64>, what: &str, show: bool) -> Self {
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        bar.set_style(style(len.is_some()));
        bar.set_message(what.to_string());
        let drawn = Arc::new(AtomicBool::new(false));
        let done = show.then(|| delayed_show(bar.clone(), Arc::clone(&drawn)));
        Progress { bar, done, drawn }
    }

    /// Set the label.
    pub fn set_message(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    /// Set how many steps are done.
    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Print to standard output with the bar out of the way.
    pub fn println(&self, print: impl FnOnce()) {
        if self.is_drawn() {
            self.bar.suspend(print);
        } else {
            print();
        }
    }

    /// Whether the bar has been sent to standard error (indicatif then draws it there, if
    /// that is a terminal).
    pub fn is_drawn(&self) -> bool {
        self.drawn.load(Ordering::SeqCst)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        self.bar.finish_and_clear();
    }
}

/// Start a thread that draws `bar` on standard error once [`DELAY`] has passed, unless the
/// returned sender is used (or dropped) first.
fn delayed_show(bar: ProgressBar, drawn: Arc<AtomicBool>) -> Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(DELAY) == Err(RecvTimeoutError::Timeout) && !bar.is_finished() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
            drawn.store(true, Ordering::SeqCst);
        }
    });
    tx
}

fn style(bounded: bool) -> ProgressStyle {
    let template = if bounded {
        "{msg} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)"
    } else {
        "{spinner} {msg} ({elapsed})"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_only_on_a_terminal_outside_ci_and_never_for_json() {
        assert!(shown(true, None, false));
        assert!(!shown(false, None, false), "not a terminal");
        assert!(!shown(true, None, true), "JSON output");
        assert!(!shown(true, Some("true"), false), "in CI");
        assert!(!shown(true, Some("1"), false), "in CI");
        assert!(!shown(false, Some("false"), false), "not a terminal");
    }

    #[test]
    fn ci_is_any_value_but_empty_or_false() {
        for v in ["true", "1", "yes", "TRUE", "gitlab"] {
            assert!(in_ci(Some(v)), "{v}");
        }
        for v in ["", "0", "false", "False", "no", " false "] {
            assert!(!in_ci(Some(v)), "{v:?}");
        }
        assert!(!in_ci(None));
        assert!(shown(true, Some("false"), false));
        assert!(shown(true, Some("0"), false));
    }

    #[test]
    fn hidden_progress_is_never_drawn() {
        let p = Progress::new(Some(10), "x", false);
        p.set_position(5);
        std::thread::sleep(DELAY + Duration::from_millis(200));
        assert!(!p.is_drawn());
    }

    #[test]
    fn shown_progress_waits_a_second() {
        let p = Progress::new(Some(10), "x", true);
        assert!(!p.is_drawn(), "drawn at once");
        std::thread::sleep(DELAY + Duration::from_millis(300));
        assert!(p.is_drawn(), "not drawn after the delay");
    }
}

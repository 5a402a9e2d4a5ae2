//! Progress for long work: an indicatif bar on a terminal, plain lines
//! elsewhere (CI logs, notebooks), nothing when turned off.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, one line per epoch otherwise (on stderr).
    #[default]
    Auto,
    /// One line per epoch on stderr, never a bar: for nets trained side by
    /// side, whose bars would overwrite each other.
    AutoLines,
    /// One line per epoch (and per net of a sweep) on stdout, printed as it
    /// happens: what a notebook shows as plain output, not as an error box.
    Lines,
    /// Nothing.
    Off,
}

/// Steps within one epoch, and a summary line when the epoch ends.
pub struct EpochProgress {
    bar: Option<ProgressBar>,
    mode: ProgressMode,
}

impl EpochProgress {
    pub fn new(mode: ProgressMode, label: &str, epoch: usize, epochs: usize, steps: usize) -> Self {
        let bar = (mode == ProgressMode::Auto).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps {elapsed_precise} eta {eta} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{label} epoch {epoch}/{epochs}"));
            bar
        });
        Self {
            bar: bar.filter(|b| !b.is_hidden()),
            mode,
        }
    }

    pub fn step(&self, loss: f32) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("loss {loss:.4}"));
        }
    }

    /// Ends the epoch with a one-line summary (printed even without a bar).
    pub fn finish(self, summary: &str) {
        match (self.bar, self.mode) {
            (Some(bar), _) => bar.finish_with_message(summary.to_string()),
            (None, mode) => mode.line(summary),
        }
    }
}

impl ProgressMode {
    /// Prints one progress line where this mode shows them.
    pub fn line(self, text: &str) {
        match self {
            ProgressMode::Auto | ProgressMode::AutoLines => eprintln!("{text}"),
            ProgressMode::Lines => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                // Progress must never fail a run (a closed pipe, a full disk).
                let _ = writeln!(out, "{text}").and_then(|()| out.flush());
            }
            ProgressMode::Off => {}
        }
    }
}

//! How the command line shows a run's progress: a bar for its steps (hidden when the output
//! is not a terminal, as in a background run), and its lines.

use indicatif::{ProgressBar, ProgressStyle};
use latentpad::progress::Progress;

/// The live display of one command.
#[derive(Default)]
pub struct Show {
    bar: Option<ProgressBar>,
}

impl Show {
    /// Shows one thing a run said.
    pub fn progress(&mut self, progress: Progress) {
        match progress {
            Progress::Start { total, done } => {
                self.finish();
                let bar = ProgressBar::new(total).with_position(done);
                let template = "{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}";
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                self.bar = Some(bar);
            }
            Progress::Step { step, message } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(step);
                    bar.set_message(message);
                }
            }
            Progress::Say(line) => self.say(&line),
            Progress::Warn(line) => eprintln!("{line}"),
            Progress::Note(line) if self.bar.as_ref().is_none_or(|b| b.is_hidden()) => {
                self.say(&line)
            }
            Progress::Note(_) => {}
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => println!("{line}"),
        }
    }

    /// Ends the bar, if any.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

/// Says that `out` was written, once `written` succeeded.
pub fn wrote(written: latentpad::Result<()>, out: &std::path::Path) -> latentpad::Result<()> {
    written?;
    println!("wrote {}", out.display());
    Ok(())
}

//! What a long native run (training, inversion, scoring) tells its caller as it goes. The
//! library says what happens; the caller owns the display (the command-line program draws a
//! progress bar and prints the lines, a test collects them).

/// One thing a run has to say.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The run has `total` steps, `done` of them already behind it (a resumed run).
    Start {
        /// Steps in all.
        total: u64,
        /// Steps taken before this session.
        done: u64,
    },
    /// Step `step` is done; `message` sums it up (its losses, its error).
    Step {
        /// Steps taken so far.
        step: u64,
        /// A short summary of the step.
        message: String,
    },
    /// A result or a finding, for the person to read.
    Say(String),
    /// Something passed over or gone wrong that did not stop the run (a file that is not an
    /// image): a display shows it apart from the results.
    Warn(String),
    /// A line a live display can leave out (a checkpoint written): a log keeps it.
    Note(String),
}

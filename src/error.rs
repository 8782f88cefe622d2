//! The library's one error type. Every variant says which input failed and how, so a message
//! can be shown to a person as it is.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in latentpad, with the context needed to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes that are not a decodable image (not an image at all, truncated, zero bytes).
    #[error("{source_name}: not a readable image ({reason})")]
    Decode { source_name: String, reason: String },

    /// An image that decodes but whose size we refuse.
    #[error("{source_name}: image is {width}x{height}, {reason}")]
    ImageSize {
        source_name: String,
        width: u32,
        height: u32,
        reason: &'static str,
    },

    /// A folder (or upload set) that holds no usable image.
    #[error("{0}: no usable images found")]
    NoImages(String),

    /// A weights file that is not a latentpad weights file, or is damaged.
    #[error("{source_name}: not a latentpad weights file ({reason})")]
    WeightsFormat { source_name: String, reason: String },

    /// A weights file for a different model than the one asked for.
    #[error("{source_name}: weights are for {found}, expected {expected}")]
    WrongArchitecture {
        source_name: String,
        expected: String,
        found: String,
    },

    /// A configuration value out of its range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A tensor had a shape other than the one an operation needs.
    #[error("{what}: expected shape {expected:?}, got {actual:?}")]
    Shape {
        what: &'static str,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },

    /// The compute backend failed (a lost GPU device, a failed read-back).
    #[error("compute backend failed during {during}: {reason}")]
    Backend {
        during: &'static str,
        reason: String,
    },

    /// A data set the command needs is not in the data folder yet.
    #[error("{} has no {what}; run `latentpad fetch-data` first", dir.display())]
    NotFetched { dir: PathBuf, what: &'static str },

    /// File system errors, with the path involved.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

//! Every size limit the library enforces on what a person can ask for, in one place (the
//! browser's own limits, on uploads and attributes, are in `www/limits.js`).

/// Smallest side of an image accepted for decoding: below this there is nothing to learn from.
pub const MIN_SIDE: u32 = 16;
/// Largest side accepted; a 20000x20000 upload would need 1.6 GB to decode.
pub const MAX_SIDE: u32 = 8192;
/// Images in one CLI grid (`sample --n`).
pub const MAX_GRID: usize = 4096;
/// Images in one sampling call from the browser (a 256-image call is 4 MB of RGBA).
pub const MAX_SAMPLE: usize = 256;
/// Preview images of a fine-tuning session per call.
pub const MAX_PREVIEW: usize = 64;
/// Images per fine-tuning step.
pub const MAX_BATCH: usize = 64;
/// Largest seed: seeds cross the JS boundary as numbers, exact up to 2^53 - 1.
pub const MAX_SEED: u64 = (1 << 53) - 1;

//! Where the kernels' work is cut up and run: chunks of a buffer spread over rayon's threads
//! natively and in the browser's threaded build (one thread in its plain CPU build), a deterministic chunked sum, and the
//! per-thread scratch buffers the convolutions reuse between calls.

/// Elements per task of the element-wise kernels (64 KB of f32).
pub(super) const ELEMENTWISE_CHUNK: usize = 1 << 14;

/// Threads the chunked kernels spread over.
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
pub(super) fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
pub(super) fn threads() -> usize {
    1
}

/// Runs `f(index, chunk)` over `len`-long chunks of `buffer`, in parallel where threads exist.
pub(super) fn for_each_chunk(
    buffer: &mut [f32],
    len: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    if len == 0 {
        return;
    }
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        buffer
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    buffer
        .chunks_mut(len)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}

/// Runs `f(index, chunk, sum)` for `count` chunks, in parallel where threads exist: chunk `i`
/// of `buffer` (`len` long, the last one possibly shorter; an empty slice when `buffer` is
/// empty) and a running sum (`None` until `f` starts it). The chunks are cut into one
/// contiguous group per thread, each with its own sum, and the groups' sums are added in
/// order, so the result does not depend on which thread ran what (training runs repeat
/// exactly; a work-stealing reduction summed in a different order each time).
pub(super) fn fold_chunks(
    buffer: &mut [f32],
    len: usize,
    count: usize,
    f: impl Fn(usize, &mut [f32], &mut Option<Vec<f32>>) + Sync + Send,
) -> Option<Vec<f32>> {
    let groups = threads().clamp(1, count.max(1));
    let mut rest = buffer;
    let mut work = Vec::with_capacity(groups);
    for group in 0..groups {
        let chunks = group * count / groups..(group + 1) * count / groups;
        let take = (chunks.len() * len).min(rest.len());
        let (region, tail) = std::mem::take(&mut rest).split_at_mut(take);
        rest = tail;
        work.push((chunks, region));
    }
    let run = |(chunks, mut region): (std::ops::Range<usize>, &mut [f32])| {
        let mut sum = None;
        for i in chunks {
            let take = len.min(region.len());
            let (chunk, tail) = std::mem::take(&mut region).split_at_mut(take);
            region = tail;
            f(i, chunk, &mut sum);
        }
        sum
    };
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    let sums: Vec<Option<Vec<f32>>> = {
        use rayon::prelude::*;
        work.into_par_iter().map(run).collect()
    };
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    let sums: Vec<Option<Vec<f32>>> = work.into_iter().map(run).collect();
    sums.into_iter()
        .fold(None, |total, sum| match (total, sum) {
            (Some(mut total), Some(sum)) => {
                total.iter_mut().zip(&sum).for_each(|(t, s)| *t += s);
                Some(total)
            }
            (total, sum) => total.or(sum),
        })
}

/// Intermediate buffers, kept between calls per thread. At batch 32 one chunk's im2col matrix
/// is up to a few MB; fresh buffers per call cost page faults on every layer of every step,
/// and in a VM each first write to a zeroed page also flushes the other CPUs' TLBs, which took
/// a fifth of the kernels' time.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// `cols` or `dcols`.
    Columns,
    /// A product in `[c_out, n*l]` order before it is scattered to NCHW.
    Product,
    /// An output-shaped tensor as rows, `[n*l, c]`.
    Rows,
    /// The browser's matrix product's packed left operand.
    PackedLeft,
    /// Its packed right operand.
    PackedRight,
}

const SLOTS: usize = 5;

thread_local! {
    static SCRATCH: [std::cell::RefCell<Vec<f32>>; SLOTS] = Default::default();
}

/// Runs `f` on a `len`-long scratch buffer of unspecified contents.
pub(super) fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let take = |s: &[std::cell::RefCell<Vec<f32>>; SLOTS]| {
        std::mem::take(&mut *s[slot as usize].borrow_mut())
    };
    let mut buffer = SCRATCH.with(take);
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    let result = f(&mut buffer[..len]);
    SCRATCH.with(|s| *s[slot as usize].borrow_mut() = buffer);
    result
}

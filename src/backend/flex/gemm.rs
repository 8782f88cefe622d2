//! Matrix products (gemm, the crate burn-flex uses, AVX-512 where the CPU has it) on strided
//! views of `f32` slices, and the two copies that reorder their operands: a tiled transpose and
//! an outer-axes swap.

/// `[a, b, inner]` -> `[b, a, inner]` from `src` to `dst`: swaps the two outer axes, copying
/// `inner`-long runs.
pub(super) fn swap_outer(src: &[f32], a: usize, b: usize, inner: usize, dst: &mut [f32]) {
    for (j, block) in dst.chunks_mut(a * inner).take(b).enumerate() {
        for i in 0..a {
            block[i * inner..][..inner].copy_from_slice(&src[(i * b + j) * inner..][..inner]);
        }
    }
}

/// A read-only matrix view with arbitrary strides.
#[derive(Clone, Copy)]
pub(super) struct Matrix<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) columns: usize,
    pub(super) row_stride: isize,
    pub(super) column_stride: isize,
}

impl<'a> Matrix<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, columns: usize) -> Self {
        assert_eq!(data.len(), rows * columns, "matrix buffer size");
        Self {
            data,
            rows,
            columns,
            row_stride: columns as isize,
            column_stride: 1,
        }
    }

    pub(super) fn transposed(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }
}

/// Where a product goes: a row-major buffer, overwritten or added to, by one thread or all.
pub(super) struct Target<'a> {
    pub(super) data: &'a mut [f32],
    pub(super) accumulate: bool,
    pub(super) parallel: bool,
}

impl<'a> Target<'a> {
    pub(super) fn new(data: &'a mut [f32], parallel: bool) -> Self {
        Self {
            data,
            accumulate: false,
            parallel,
        }
    }
}

impl<'a> Matrix<'a> {
    /// Rows `first..first + rows` of this view.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    fn rows_from(self, first: usize, rows: usize) -> Self {
        Self {
            data: &self.data[first * self.row_stride as usize..],
            rows,
            ..self
        }
    }
}

/// `dst = lhs * rhs` (or `dst += lhs * rhs`), `dst` row-major `[lhs.rows, rhs.columns]`.
/// Natively by the `gemm` crate (AVX kernels chosen at run time); in the browser by
/// latentpad's packed kernel ([`super::packed`]), over bands of rows on the threads when
/// `dst.parallel`.
pub(super) fn matmul(lhs: Matrix, rhs: Matrix, dst: Target) {
    let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns);
    assert_eq!(k, rhs.rows, "inner dimensions");
    assert_eq!(dst.data.len(), m * n, "output buffer size");
    assert!(
        lhs.row_stride >= 0 && lhs.column_stride >= 0,
        "left strides are not negative"
    );
    assert!(
        rhs.row_stride >= 0 && rhs.column_stride >= 0,
        "right strides are not negative"
    );
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "wasm32")]
    {
        use super::packed::{MR, sgemm};
        let threads = super::parallel::threads();
        if dst.parallel && threads > 1 && m >= 2 * MR {
            let band = m.div_ceil(threads).next_multiple_of(MR);
            super::parallel::for_each_chunk(dst.data, band * n, |i, chunk| {
                let rows = chunk.len() / n;
                sgemm(lhs.rows_from(i * band, rows), rhs, chunk, dst.accumulate);
            });
        } else {
            sgemm(lhs, rhs, dst.data, dst.accumulate);
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    native(lhs, rhs, dst);
}

/// [`matmul`] by the `gemm` crate (sizes checked, not empty).
#[cfg(not(target_arch = "wasm32"))]
fn native(lhs: Matrix, rhs: Matrix, dst: Target) {
    let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns);
    if k == 0 {
        if !dst.accumulate {
            dst.data.fill(0.0);
        }
        return;
    }
    // SAFETY: the three views are in bounds (asserted sizes and strides of dense row-major
    // buffers, or their transposes), `dst` is exclusively borrowed and does not alias the
    // inputs; it is read (`read_dst`) only when it holds a sum to add to.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            n as isize,
            dst.accumulate,
            lhs.data.as_ptr(),
            lhs.column_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.column_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(dst.parallel),
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn parallelism(parallel: bool) -> ::gemm::Parallelism {
    if parallel {
        ::gemm::Parallelism::Rayon(0)
    } else {
        ::gemm::Parallelism::None
    }
}

/// `dst[c, r] = src[r, c]` for a row-major `[rows, columns]` source.
pub(super) fn transpose(src: &[f32], rows: usize, columns: usize, dst: &mut [f32]) {
    assert!(src.len() >= rows * columns && dst.len() >= rows * columns);
    // Whole 8x8 tiles through a local array, which the compiler keeps in registers and
    // shuffles; bounds checks and loop limits only once per tile. Then the ragged edges.
    const T: usize = 8;
    let (full_rows, full_columns) = (rows - rows % T, columns - columns % T);
    for r0 in (0..full_rows).step_by(T) {
        for c0 in (0..full_columns).step_by(T) {
            let mut tile = [[0.0f32; T]; T];
            for (i, line) in tile.iter_mut().enumerate() {
                line.copy_from_slice(&src[(r0 + i) * columns + c0..][..T]);
            }
            for j in 0..T {
                let out: &mut [f32; T] = (&mut dst[(c0 + j) * rows + r0..][..T])
                    .try_into()
                    .expect("tile row");
                for (i, value) in out.iter_mut().enumerate() {
                    *value = tile[i][j];
                }
            }
        }
        for r in r0..r0 + T {
            for c in full_columns..columns {
                dst[c * rows + r] = src[r * columns + c];
            }
        }
    }
    for r in full_rows..rows {
        for c in 0..columns {
            dst[c * rows + r] = src[r * columns + c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize) -> Vec<f32> {
        (0..len).map(|i| i as f32 * 0.5 - 3.0).collect()
    }

    #[test]
    fn transpose_matches_index_swap_on_whole_tiles_and_ragged_edges() {
        for (rows, columns) in [(16, 24), (19, 21), (3, 40), (40, 1), (1, 1)] {
            let src = values(rows * columns);
            let mut dst = vec![f32::NAN; rows * columns];
            transpose(&src, rows, columns, &mut dst);
            for r in 0..rows {
                for c in 0..columns {
                    assert_eq!(dst[c * rows + r], src[r * columns + c], "{rows}x{columns}");
                }
            }
        }
    }
}

//! The browser builds' matrix product: a packed, cache-blocked SGEMM on WebAssembly SIMD.
//!
//! Why: in V8 the `gemm` crate's `simd128` path ran at about 21 GFLOP/s on the convolutions'
//! shapes on the build machine, and its products were three quarters of a fine-tuning step of
//! the CPU build; this one runs the same shapes at about 28 (measured in Node 20 on one
//! core, the products of the networks' layers, both compiled from the same Rust).
//!
//! How (the textbook layout, Goto and van de Geijn 2008): the right operand is copied in
//! blocks of `KC` rows by `NC` columns into panels `NR` columns wide, the left one in blocks of
//! `MC` rows into panels `MR` rows tall, each panel laid out step by step along `k`; a micro
//! kernel then keeps an `MR x NR` tile of the product in registers (eight 4-lane vectors)
//! while it walks `k`, one broadcast of a left value and two loads of right values per row
//! and step. Any strides in, a row-major product out, overwritten or added to.
//!
//! The lanes are WebAssembly's `v128` in the browser; natively (where `gemm`'s AVX kernels
//! stay in use) plain arrays, so the native tests check the same blocking and packing.

use super::gemm::Matrix;
use super::parallel::{Slot, with_scratch};

/// Rows of a micro tile.
pub(super) const MR: usize = 4;
/// Columns of a micro tile (two vectors).
const NR: usize = 8;
/// Depth of a block: a left panel (`MR x KC`, 4 KB) and a right panel (`KC x NR`, 8 KB) stay
/// in the first-level cache while a tile is computed.
const KC: usize = 256;
/// Rows of the left operand per block (128 KB packed).
const MC: usize = 128;
/// Columns of the right operand per block (512 KB packed, in the second-level cache).
const NC: usize = 512;

#[cfg(target_arch = "wasm32")]
mod lanes {
    use core::arch::wasm32::*;

    /// Four `f32` lanes.
    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F4(f32x4_splat(0.0))
        }

        /// # Safety
        /// `p..p + 4` must be readable (any alignment).
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            // SAFETY: as the caller promises; `v128.load` takes unaligned addresses.
            F4(unsafe { v128_load(p.cast()) })
        }

        /// `*p` in every lane.
        ///
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn broadcast(p: *const f32) -> Self {
            // SAFETY: as the caller promises.
            F4(unsafe { v128_load32_splat(p.cast()) })
        }

        /// # Safety
        /// `p..p + 4` must be writable (any alignment).
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            // SAFETY: as the caller promises.
            unsafe { v128_store(p.cast(), self.0) }
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            F4(f32x4_add(self.0, other.0))
        }

        /// `self * b + c`, fused where the build has relaxed SIMD.
        #[inline(always)]
        pub fn mul_add(self, b: Self, c: Self) -> Self {
            #[cfg(target_feature = "relaxed-simd")]
            return F4(f32x4_relaxed_madd(self.0, b.0, c.0));
            #[cfg(not(target_feature = "relaxed-simd"))]
            F4(f32x4_add(f32x4_mul(self.0, b.0), c.0))
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod lanes {
    /// Four `f32` lanes.
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F4([0.0; 4])
        }

        /// # Safety
        /// `p..p + 4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            // SAFETY: as the caller promises.
            F4(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
        }

        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn broadcast(p: *const f32) -> Self {
            // SAFETY: as the caller promises.
            F4([unsafe { *p }; 4])
        }

        /// # Safety
        /// `p..p + 4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            // SAFETY: as the caller promises.
            unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            F4(std::array::from_fn(|i| self.0[i] + other.0[i]))
        }

        #[inline(always)]
        pub fn mul_add(self, b: Self, c: Self) -> Self {
            F4(std::array::from_fn(|i| self.0[i] * b.0[i] + c.0[i]))
        }
    }
}

use lanes::F4;

/// `dst = lhs * rhs`, or `dst += lhs * rhs` with `accumulate`; `dst` row-major
/// `[lhs.rows, rhs.columns]`, the inner dimensions equal (the caller checks both).
pub(super) fn sgemm(lhs: Matrix, rhs: Matrix, dst: &mut [f32], accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns);
    debug_assert_eq!(k, rhs.rows);
    debug_assert_eq!(dst.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let b_len = KC * NC.next_multiple_of(NR);
    let a_len = KC * MC.next_multiple_of(MR);
    with_scratch(Slot::PackedRight, b_len, |packed_b| {
        with_scratch(Slot::PackedLeft, a_len, |packed_a| {
            for jc in (0..n).step_by(NC) {
                let nc = NC.min(n - jc);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    pack::<NR>(&rhs, pc, kc, jc, nc, packed_b);
                    // The first block along k writes (unless adding), later ones add.
                    let add = accumulate || pc > 0;
                    for ic in (0..m).step_by(MC) {
                        let mc = MC.min(m - ic);
                        pack::<MR>(&lhs.transposed(), pc, kc, ic, mc, packed_a);
                        for jp in 0..nc.div_ceil(NR) {
                            let b = &packed_b[jp * kc * NR..][..kc * NR];
                            let j0 = jc + jp * NR;
                            let w = NR.min(n - j0);
                            for ip in 0..mc.div_ceil(MR) {
                                let a = &packed_a[ip * kc * MR..][..kc * MR];
                                let i0 = ic + ip * MR;
                                let h = MR.min(m - i0);
                                let tile = tile(a, b, kc);
                                store(&tile, dst, n, i0, j0, h, w, add);
                            }
                        }
                    }
                }
            }
        });
    });
}

/// Element `(r, c)` of a view.
#[inline(always)]
fn at(matrix: &Matrix, r: usize, c: usize) -> f32 {
    matrix.data[r * matrix.row_stride as usize + c * matrix.column_stride as usize]
}

/// Copies rows `pc..pc + kc`, columns `jc..jc + nc` of `matrix` into panels `W` columns wide,
/// each step along k `W` values in a row (columns past the end as zeros). The right operand
/// is packed so with `W = NR`; the left one as its transpose with `W = MR` (its rows become
/// the panels' columns).
fn pack<const W: usize>(
    matrix: &Matrix,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    out: &mut [f32],
) {
    for jp in 0..nc.div_ceil(W) {
        let j0 = jc + jp * W;
        let w = W.min(jc + nc - j0);
        let panel = &mut out[jp * kc * W..][..kc * W];
        if matrix.column_stride == 1 && w == W {
            let stride = matrix.row_stride as usize;
            for (p, step) in panel.chunks_exact_mut(W).enumerate() {
                step.copy_from_slice(&matrix.data[(pc + p) * stride + j0..][..W]);
            }
        } else {
            for (p, step) in panel.chunks_exact_mut(W).enumerate() {
                for (j, value) in step.iter_mut().enumerate() {
                    *value = if j < w {
                        at(matrix, pc + p, j0 + j)
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// The `MR x NR` product of a left panel (`kc` steps of `MR` values) and a right panel (`kc`
/// steps of `NR` values), as `MR` rows of two vectors.
#[inline(always)]
fn tile(a: &[f32], b: &[f32], kc: usize) -> [[F4; 2]; MR] {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR);
    let mut acc = [[F4::zero(); 2]; MR];
    let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: step s reads a[s * MR..][..MR] and b[s * NR..][..NR], s < kc, in bounds by
        // the assertion above.
        unsafe {
            let b0 = F4::load(pb);
            let b1 = F4::load(pb.add(4));
            for (i, row) in acc.iter_mut().enumerate() {
                let x = F4::broadcast(pa.add(i));
                row[0] = x.mul_add(b0, row[0]);
                row[1] = x.mul_add(b1, row[1]);
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    acc
}

/// Writes (or adds) the top-left `h x w` of a tile to `dst` (row-major, `n` columns) at row
/// `i0`, column `j0`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn store(
    tile: &[[F4; 2]; MR],
    dst: &mut [f32],
    n: usize,
    i0: usize,
    j0: usize,
    h: usize,
    w: usize,
    add: bool,
) {
    for (i, row) in tile.iter().enumerate().take(h) {
        let out = &mut dst[(i0 + i) * n + j0..][..w];
        if w == NR {
            for (half, &value) in row.iter().enumerate() {
                // SAFETY: `out` has NR = 8 values, this half is 4 of them.
                unsafe {
                    let p = out.as_mut_ptr().add(4 * half);
                    let value = if add { F4::load(p).add(value) } else { value };
                    value.store(p);
                }
            }
        } else {
            let mut values = [0.0f32; NR];
            // SAFETY: `values` has 8 floats, two stores of 4.
            unsafe {
                row[0].store(values.as_mut_ptr());
                row[1].store(values.as_mut_ptr().add(4));
            }
            for (o, v) in out.iter_mut().zip(values) {
                *o = if add { *o + v } else { v };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// `lhs * rhs` by the definition, in f64.
    fn naive(lhs: &Matrix, rhs: &Matrix) -> Vec<f32> {
        let mut out = vec![0.0; lhs.rows * rhs.columns];
        for r in 0..lhs.rows {
            for c in 0..rhs.columns {
                let sum: f64 = (0..lhs.columns)
                    .map(|p| at(lhs, r, p) as f64 * at(rhs, p, c) as f64)
                    .sum();
                out[r * rhs.columns + c] = sum as f32;
            }
        }
        out
    }

    #[test]
    fn products_match_the_definition_across_blocks_edges_and_layouts() {
        // Sizes around the tile (4 x 8) and block (128, 256, 512) edges, and the transposed
        // views the convolutions pass.
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (4, 256, 8),
            (5, 257, 9),
            (130, 300, 20),
            (7, 40, 515),
            (129, 513, 33),
        ];
        for (m, k, n) in shapes {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let at_ = values(m * k, 3);
            let bt = values(k * n, 4);
            let views = [
                (Matrix::row_major(&a, m, k), Matrix::row_major(&b, k, n)),
                (
                    Matrix::row_major(&at_, k, m).transposed(),
                    Matrix::row_major(&bt, n, k).transposed(),
                ),
            ];
            for (lhs, rhs) in views {
                let expected = naive(&lhs, &rhs);
                let mut dst = vec![f32::NAN; m * n];
                sgemm(lhs, rhs, &mut dst, false);
                let mut twice = dst.clone();
                sgemm(lhs, rhs, &mut twice, true);
                for i in 0..m * n {
                    let tolerance = 1e-4 * (1.0 + expected[i].abs()) * (k as f32).sqrt();
                    assert!(
                        (dst[i] - expected[i]).abs() < tolerance,
                        "{m}x{k}x{n} at {i}: {} vs {}",
                        dst[i],
                        expected[i]
                    );
                    assert!(
                        (twice[i] - 2.0 * expected[i]).abs() < 2.0 * tolerance,
                        "{m}x{k}x{n} accumulated at {i}"
                    );
                }
            }
        }
        let mut untouched = vec![5.0; 6];
        let empty: [f32; 0] = [];
        sgemm(
            Matrix::row_major(&empty, 2, 0),
            Matrix::row_major(&empty, 0, 3),
            &mut untouched,
            true,
        );
        assert_eq!(untouched, vec![5.0; 6], "k = 0 adds nothing");
        sgemm(
            Matrix::row_major(&empty, 2, 0),
            Matrix::row_major(&empty, 0, 3),
            &mut untouched,
            false,
        );
        assert_eq!(untouched, vec![0.0; 6], "k = 0 writes zeros");
    }
}

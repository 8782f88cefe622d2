//! The little dense linear algebra latentpad needs, in `f64` on the host: the mean and
//! covariance of feature sets (`eval`'s Frechet distance), one symmetric eigen-solver
//! (cyclic Jacobi), the principal directions of a set of rows built on it (the sampling
//! prior's noise and tone directions), and Gram-Schmidt. Matrices are small (at most a few
//! hundred rows), so clarity wins over blocking.

use crate::latent::SplitMix64;

/// The inner product of two vectors.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// The mean and the unbiased covariance (`n - 1`) of the rows of `x`, each `d` long.
pub fn mean_cov(x: &[Vec<f32>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = x[0].len();
    let n = x.len() as f64;
    let mut mean = vec![0.0; d];
    for v in x {
        for (m, a) in mean.iter_mut().zip(v) {
            *m += *a as f64 / n;
        }
    }
    let mut cov = vec![vec![0.0; d]; d];
    for v in x {
        for i in 0..d {
            let a = v[i] as f64 - mean[i];
            for j in i..d {
                cov[i][j] += a * (v[j] as f64 - mean[j]);
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            cov[i][j] /= (n - 1.0).max(1.0);
            cov[j][i] = cov[i][j];
        }
    }
    (mean, cov)
}

/// The eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: (values,
/// vectors as columns), in no particular order. Converges in a few sweeps at the sizes here
/// (128 features: under a tenth of a second).
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

/// The matrix product `a b`.
pub fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let m = b[0].len();
    let mut out = vec![vec![0.0; m]; n];
    for i in 0..n {
        for (k, bk) in b.iter().enumerate() {
            let aik = a[i][k];
            for j in 0..m {
                out[i][j] += aik * bk[j];
            }
        }
    }
    out
}

/// `raw` orthonormalised in order (Gram-Schmidt); a vector that adds nothing is dropped.
pub fn orthonormal(raw: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mut v in raw {
        let norm_before = dot(&v, &v).sqrt();
        for u in &basis {
            let along = dot(&v, u);
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= along * b);
        }
        let norm = dot(&v, &v).sqrt();
        if norm > 1e-6 * norm_before.max(1e-12) && norm > 1e-12 {
            basis.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    basis
}

/// The `k` widest directions of the rows of `x` (row-major `[n, d]`, taken as centred), each
/// a unit vector with the rows' standard deviation along it, widest first.
///
/// It works on the smaller of their covariance `X^T X / n` (`d x d`) and their Gram matrix
/// `X X^T / n` (`n x n`: few rows, as in fine-tuning's quick mode, cost little): the two share
/// their eigenvalues, and `X^T u` is the covariance's eigenvector for the Gram matrix's `u`.
/// Subspace iteration finds the widest few (a block of `k` and a few more, from a seeded
/// start, so the answer is the same every run), and [`symmetric_eigen`] of the block's
/// projection sorts them out (Rayleigh-Ritz).
pub fn principal(x: &[f64], d: usize, k: usize) -> Vec<(Vec<f64>, f64)> {
    let n = x.len() / d.max(1);
    let gram = n <= d;
    let m = n.min(d);
    let k = k.min(m);
    if k == 0 {
        return Vec::new();
    }
    let mut matrix = vec![0.0f64; m * m];
    for a in 0..m {
        for b in a..m {
            let value = if gram {
                dot(&x[a * d..(a + 1) * d], &x[b * d..(b + 1) * d])
            } else {
                (0..n).map(|i| x[i * d + a] * x[i * d + b]).sum::<f64>()
            } / n as f64;
            matrix[a * m + b] = value;
            matrix[b * m + a] = value;
        }
    }
    let times = |v: &[f64]| -> Vec<f64> { matrix.chunks(m).map(|row| dot(row, v)).collect() };
    let width = (k + 8).min(m);
    let mut rng = SplitMix64::new(0x0070_6361);
    let mut block: Vec<Vec<f64>> = (0..width)
        .map(|_| (0..m).map(|_| rng.next_f64() - 0.5).collect())
        .collect();
    for _ in 0..300 {
        block = completed(
            orthonormal(block.iter().map(|v| times(v)).collect()),
            m,
            width,
        );
    }
    // The block's projection, eigen-decomposed: its eigenvectors mix the block into the
    // matrix's own.
    let projected: Vec<Vec<f64>> = block
        .iter()
        .map(|u| {
            let mu = times(u);
            block.iter().map(|w| dot(w, &mu)).collect()
        })
        .collect();
    let (values, vectors) = symmetric_eigen(projected);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order
        .into_iter()
        .take(k)
        .map(|j| {
            let mut v = vec![0.0f64; m];
            for (u, row) in block.iter().zip(&vectors) {
                v.iter_mut().zip(u).for_each(|(a, b)| *a += row[j] * b);
            }
            // The direction: v itself, or X^T v normalised.
            let direction = if gram {
                let mut t = vec![0.0f64; d];
                for (row, w) in x.chunks(d).zip(&v) {
                    t.iter_mut().zip(row).for_each(|(a, b)| *a += w * b);
                }
                let norm = dot(&t, &t).sqrt().max(1e-12);
                t.into_iter().map(|a| a / norm).collect()
            } else {
                v
            };
            (direction, values[j].max(0.0).sqrt())
        })
        .collect()
}

/// `basis` (orthonormal, in `m` dimensions) grown to `width` vectors with unit axes
/// orthonormalised against it: the directions a rank-deficient matrix (uploads that are all
/// alike) has no spread along, kept so that every caller gets as many as it asked for.
fn completed(basis: Vec<Vec<f64>>, m: usize, width: usize) -> Vec<Vec<f64>> {
    let mut raw = basis;
    for axis in 0..m {
        if raw.len() >= width {
            break;
        }
        let mut e = vec![0.0; m];
        e[axis] = 1.0;
        raw.push(e);
        raw = orthonormal(raw);
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_reconstructs_matrix() {
        let m = vec![
            vec![4.0, 1.0, 0.5],
            vec![1.0, 3.0, 0.2],
            vec![0.5, 0.2, 1.0],
        ];
        let (w, v) = symmetric_eigen(m.clone());
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| v[i][k] * w[k] * v[j][k]).sum();
                assert!((r - m[i][j]).abs() < 1e-9);
            }
        }
    }

    /// Rows spread 3, 2 and 0.5 along three orthogonal directions of a 6-dimensional space.
    fn three_directions(n: usize) -> (Vec<f64>, [Vec<f64>; 3]) {
        let s = 0.5f64.sqrt();
        let axes = [
            vec![s, s, 0.0, 0.0, 0.0, 0.0],
            vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            vec![s, -s, 0.0, 0.0, 0.0, 0.0],
        ];
        let mut rng = SplitMix64::new(3);
        let mut x = Vec::new();
        for _ in 0..n {
            let weights = [3.0, 2.0, 0.5].map(|sd| sd * f64::from(rng.next_gaussian()));
            x.extend((0..6).map(|j| (0..3).map(|a| weights[a] * axes[a][j]).sum::<f64>()));
        }
        (x, axes)
    }

    #[test]
    fn principal_finds_the_widest_directions_widest_first() {
        let (x, axes) = three_directions(400);
        let found = principal(&x, 6, 2);
        assert_eq!(found.len(), 2);
        for ((u, _), axis) in found.iter().zip(&axes) {
            assert!((dot(u, u) - 1.0).abs() < 1e-9);
            assert!(dot(u, axis).abs() > 0.95, "{u:?} is off {axis:?}");
        }
        assert!((found[0].1 - 3.0).abs() < 0.3, "{}", found[0].1);
        assert!((found[1].1 - 2.0).abs() < 0.2, "{}", found[1].1);
    }

    #[test]
    fn few_rows_give_the_covariance_eigenvectors_through_the_gram_matrix() {
        // 4 rows of 6: the Gram matrix (4 x 4) is the smaller one.
        let (x, _) = three_directions(4);
        let found = principal(&x, 6, 3);
        assert_eq!(found.len(), 3);
        for (u, sd) in &found {
            // (X^T X / n) u = sd^2 u
            let xu: Vec<f64> = x.chunks(6).map(|row| dot(row, u)).collect();
            let mut cu = vec![0.0; 6];
            for (row, a) in x.chunks(6).zip(&xu) {
                cu.iter_mut().zip(row).for_each(|(c, r)| *c += a * r / 4.0);
            }
            for (c, v) in cu.iter().zip(u) {
                assert!((c - sd * sd * v).abs() < 1e-6, "{cu:?} against {sd} {u:?}");
            }
        }
        assert!(found[0].1 >= found[1].1 && found[1].1 >= found[2].1);
    }

    #[test]
    fn rows_that_are_all_alike_still_give_as_many_directions_with_no_spread() {
        let x = vec![0.0; 3 * 6]; // three uploads, all the same once centred
        let found = principal(&x, 6, 2);
        assert_eq!(found.len(), 2);
        for (u, sd) in &found {
            assert!(sd.abs() < 1e-9, "{sd}");
            assert!((dot(u, u) - 1.0).abs() < 1e-9 || dot(u, u) == 0.0);
        }
    }

    #[test]
    fn orthonormal_drops_what_adds_nothing() {
        let basis = orthonormal(vec![vec![2.0, 0.0], vec![4.0, 0.0], vec![1.0, 1.0]]);
        assert_eq!(basis, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    }
}

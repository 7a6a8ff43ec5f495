//! The GEMM parity harness: one product by a fast path against the reference.

use iris_kernels::cpu::{fast, reference};
use iris_kernels::testing::{poisoned, randn, tolerance};
use iris_kernels::{Element, Gemm, MatLayout};

use super::assert_close;

/// m×n as a view: either dense row-major or the transpose of a dense n×m.
pub fn layout(rows: usize, cols: usize, transposed: bool, batch_pad: usize) -> MatLayout {
    let l = if transposed { MatLayout::row_major(cols, rows).t() } else { MatLayout::row_major(rows, cols) };
    MatLayout { offset: 3, batch_stride: rows * cols + batch_pad, ..l }
}

#[allow(clippy::too_many_arguments)]
pub fn run<T: Element>(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    tc: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    run_with::<T>(&|p, a, b, c| fast::gemm(p, a, b, c).unwrap(), batch, m, n, k, ta, tb, tc, alpha, beta, seed);
}

pub type FastGemm<'a, T> = &'a dyn Fn(&Gemm, &[T], &[T], &mut [T]);

/// `fast` against the reference on one product (B shared by every batch when
/// its batch stride is 0).
#[allow(clippy::too_many_arguments)]
pub fn run_with<T: Element>(
    fast: FastGemm<T>,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    tc: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    let p =
        Gemm { batch, m, n, k, alpha, beta, a: layout(m, k, ta, 5), b: layout(k, n, tb, 0), c: layout(m, n, tc, 2) };
    let len = |l: &MatLayout, r: usize, c: usize| l.offset + batch * l.batch_stride + r * c;
    let a = randn::<T>(seed, len(&p.a, m, k));
    let b = randn::<T>(seed + 1, len(&p.b, k, n));
    let (mut out, mut want) = if beta == 0.0 {
        (poisoned::<T>(len(&p.c, m, n)), poisoned::<T>(len(&p.c, m, n)))
    } else {
        let c = randn::<T>(seed + 2, len(&p.c, m, n));
        (c.clone(), c)
    };
    reference::gemm(&p, &a, &b, &mut want).unwrap();
    fast(&p, &a, &b, &mut out);
    // Elements outside the view are padding: compare only the view.
    let pick = |v: &[T]| -> Vec<T> {
        let mut r = Vec::new();
        for bi in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    r.push(v[p.c.offset + bi * p.c.batch_stride + i * p.c.row_stride + j * p.c.col_stride]);
                }
            }
        }
        r
    };
    let what = format!("gemm {} b{batch} {m}x{n}x{k} ta={ta} tb={tb} tc={tc} alpha={alpha} beta={beta}", T::DTYPE);
    assert_close(&what, &pick(&out), &pick(&want), tolerance(T::DTYPE));
}

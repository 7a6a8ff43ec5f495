//! The GEMM cases of the parity list: plain products over odd, batched,
//! transposed and aligned shapes, and the fused bias/activation/residual
//! epilogue.

use super::{Case, Host};
use crate::{DType, Gemm, MatLayout, Unary};

pub(super) fn gemm_cases(dt: DType, out: &mut Vec<Case>) {
    // (batch, m, n, k, B transposed, beta)
    for (i, &(batch, m, n, k, bt, beta)) in [
        (1, 37, 53, 29, false, 0.0),
        (3, 65, 130, 70, true, 0.0),
        (1, 1, 300, 257, true, 0.0),
        (2, 129, 67, 33, false, 1.0),
        // Rows 16-byte aligned: the GPUs' pipelined tensor-core kernels.
        (1, 130, 136, 72, true, 0.0),
        (2, 67, 200, 40, false, 1.0),
        // A few rows in a Linear's layout: the GPUs' GEMV.
        (2, 3, 40, 64, true, 1.0),
        // Deeper than the CPU's K_SPLIT: the depth in slices accumulated onto C.
        (1, 40, 33, 9000, false, 1.0),
    ]
    .iter()
    .enumerate()
    {
        let inputs = vec![Host::randn(dt, 10 + i as u64, batch * m * k), Host::randn(dt, 20 + i as u64, batch * k * n)];
        // C starts as values the product adds to (beta = 1) or overwrites.
        let c0 =
            if beta != 0.0 { Host::randn(dt, 30 + i as u64, batch * m * n) } else { Host::poison(dt, batch * m * n) };
        let bl = if bt {
            MatLayout { batch_stride: k * n, ..MatLayout::row_major(n, k).t() }
        } else {
            MatLayout::row_major(k, n)
        };
        let p = Gemm {
            batch,
            m,
            n,
            k,
            alpha: 0.75,
            beta,
            a: MatLayout::row_major(m, k),
            b: bl,
            c: MatLayout::row_major(m, n),
        };
        let shape =
            format!("{batch}×{m}×{n}×{k}{}{}", if bt { " Bᵀ" } else { "" }, if beta != 0.0 { " β=1" } else { "" });
        let flops = 2.0 * (batch * m * n * k) as f64;
        out.push(Case::new("gemm", shape, inputs, c0, move |be, i, c| be.gemm(&p, &i[0], &i[1], c)).flops(flops));
    }
}

/// The GEMM epilogue (bias and activation; beta = 1 for a residual) on the
/// layouts of a Linear ([N, K] weight) and of a matmul ([K, N]), with sizes
/// that take the GPUs' aligned tensor-core paths and sizes that do not.
pub(super) fn gemm_fused_cases(dt: DType, out: &mut Vec<Case>) {
    // (batch, m, n, k, B transposed, beta, activation)
    for (i, &(batch, m, n, k, bt, beta, act)) in [
        (1, 130, 136, 72, true, 0.0, Some(Unary::Gelu)),
        (1, 67, 200, 40, false, 1.0, None),
        (1, 33, 50, 29, true, 0.0, Some(Unary::QuickGelu)),
        (1, 1, 64, 96, true, 0.0, Some(Unary::Silu)),
        (1, 200, 96, 136, true, 1.0, Some(Unary::GeluTanh)),
        // The bias and activation after the last slice of a deep product.
        (1, 40, 36, 8500, true, 1.0, Some(Unary::Gelu)),
    ]
    .iter()
    .enumerate()
    {
        let inputs = vec![
            Host::randn(dt, 40 + i as u64, batch * m * k),
            Host::randn(dt, 50 + i as u64, batch * k * n),
            Host::randn(dt, 60 + i as u64, n),
        ];
        let c0 =
            if beta != 0.0 { Host::randn(dt, 70 + i as u64, batch * m * n) } else { Host::poison(dt, batch * m * n) };
        let bl = if bt { MatLayout::row_major(n, k).t() } else { MatLayout::row_major(k, n) };
        let p = Gemm {
            batch,
            m,
            n,
            k,
            alpha: 1.0,
            beta,
            a: MatLayout::row_major(m, k),
            b: bl,
            c: MatLayout::row_major(m, n),
        };
        let shape = format!(
            "{m}×{n}×{k}{}{} + bias{}",
            if bt { " Bᵀ" } else { "" },
            if beta != 0.0 { " β=1" } else { "" },
            act.map(|a| format!(", {a:?}")).unwrap_or_default()
        );
        let flops = 2.0 * (batch * m * n * k) as f64;
        let run = move |be: &dyn crate::Backend, i: &[crate::Buffer], c: &mut crate::Buffer| {
            be.gemm_fused(&p, &i[0], &i[1], Some(i[2].dense()), act, c)
        };
        out.push(Case::new("gemm_fused", shape, inputs, c0, run).flops(flops));
    }
}

//! The GEMM cases of the parity list: plain products over odd, batched,
//! transposed and aligned shapes, and the fused bias/activation/residual
//! epilogue.

use super::{outcome, run, want, KernelDevice, Outcome};
use crate::cpu::reference as cpu_ref;
use crate::cuda::ops::CudaElem;
use crate::testing::randn;
use crate::{Binary, Gemm, MatLayout, Strided, Unary};

pub(super) fn gemm_cases<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
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
    ]
    .iter()
    .enumerate()
    {
        let a: Vec<T> = randn(10 + i as u64, batch * m * k);
        let b: Vec<T> = randn(20 + i as u64, batch * k * n);
        let c0: Vec<T> = randn(30 + i as u64, batch * m * n);
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
        let start = |o: &mut [T]| o.copy_from_slice(&c0);
        let w = want(c0.len(), |o| {
            start(o);
            cpu_ref::gemm(&p, &a, &b, o)
        });
        let got = run(c0.len(), |o| {
            start(o);
            dev.gemm(&p, &a, &b, o)
        });
        out.push(outcome("gemm", shape, got, &w));
    }
}

/// The GEMM epilogue (bias and activation; beta = 1 for a residual) on the
/// layouts of a Linear ([N, K] weight) and of a matmul ([K, N]), with sizes
/// that take the GPUs' aligned tensor-core paths and sizes that do not.
pub(super) fn gemm_fused_cases<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
    // (batch, m, n, k, B transposed, beta, activation)
    for (i, &(batch, m, n, k, bt, beta, act)) in [
        (1, 130, 136, 72, true, 0.0, Some(Unary::Gelu)),
        (1, 67, 200, 40, false, 1.0, None),
        (1, 33, 50, 29, true, 0.0, Some(Unary::QuickGelu)),
        (1, 1, 64, 96, true, 0.0, Some(Unary::Silu)),
        (1, 200, 96, 136, true, 1.0, Some(Unary::GeluTanh)),
    ]
    .iter()
    .enumerate()
    {
        let a: Vec<T> = randn(40 + i as u64, batch * m * k);
        let b: Vec<T> = randn(50 + i as u64, batch * k * n);
        let bias: Vec<T> = randn(60 + i as u64, n);
        let c0: Vec<T> = randn(70 + i as u64, batch * m * n);
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
        // The reference: the product, then the bias broadcast over the rows, then the activation.
        let w = want(c0.len(), |o| {
            o.copy_from_slice(&c0);
            cpu_ref::gemm(&p, &a, &b, o)?;
            let (rows, cols) = (&[m, n][..], &[n, 1][..]);
            let biased = o.to_vec();
            let col = Strided { shape: rows, strides: &[0, 1], offset: 0 };
            cpu_ref::binary(Binary::Add, &biased, Strided { shape: rows, strides: cols, offset: 0 }, &bias, col, o)?;
            let pre = o.to_vec();
            match act {
                Some(op) => cpu_ref::unary(op, &pre, o),
                None => Ok(()),
            }
        });
        let got = run(c0.len(), |o| {
            o.copy_from_slice(&c0);
            dev.gemm_fused(&p, &a, &b, &bias, act, o)
        });
        let shape = format!(
            "{m}×{n}×{k}{}{} + bias{}",
            if bt { " Bᵀ" } else { "" },
            if beta != 0.0 { " β=1" } else { "" },
            act.map(|a| format!(", {a:?}")).unwrap_or_default()
        );
        out.push(outcome("gemm_fused", shape, got, &w));
    }
}

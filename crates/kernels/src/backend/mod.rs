//! The one door to a device: the `Backend` trait over device buffers,
//! implemented by the CPU (`cpu::backend`), CUDA (`cuda::backend`) and wgpu
//! (`wgpu::backend`). Every op is a method with the parameter types of
//! `params.rs`; an op a backend lacks answers "op X is not available on
//! device Y" from the default method, never a silent fallback. Tensors
//! dispatch through it once; the parity and benchmark drivers iterate over it.

mod buffer;

use std::sync::{Arc, Mutex, OnceLock};

pub(crate) use buffer::Raw;
pub use buffer::{Buffer, Dense};

use crate::error::{Error, Result};
use crate::{Attention, Binary, DType, Gemm, Im2col, MaskOf, Reduce, Rope, Strided, Unary};

/// Where buffers live: host memory, a CUDA device by ordinal, or the wgpu device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(usize),
    Wgpu,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Wgpu => write!(f, "wgpu"),
        }
    }
}

/// An attention mask over backend buffers (additive f32, keep U8).
pub type BufMask<'a> = MaskOf<&'a Buffer, &'a Buffer>;

/// The default body of an op a backend lacks.
macro_rules! lacks {
    ($self:ident, $op:literal, $dtype:expr) => {
        Err(Error::Unavailable { op: $op, device: $self.name(), dtype: Some($dtype) })
    };
}

/// A device's memory and kernels. Outputs are buffers the caller allocated
/// (`alloc`) on the same device; an operand elsewhere is an error.
#[allow(unused_variables)]
pub trait Backend: Send + Sync {
    fn name(&self) -> String;
    fn device(&self) -> Device;
    /// The float dtypes its kernels take.
    fn dtypes(&self) -> Vec<DType> {
        vec![DType::F32, DType::BF16, DType::F16]
    }
    /// Whether `op` runs in `dtype` here (the parity driver leaves out the rest).
    fn supports(&self, op: &str, dtype: DType) -> bool {
        !GRAD_OPS.contains(&op)
    }

    /// `len` elements whose contents are unspecified.
    fn alloc(&self, dtype: DType, len: usize) -> Result<Buffer>;
    /// A buffer holding `bytes` (whole elements of `dtype`).
    fn upload(&self, dtype: DType, bytes: &[u8]) -> Result<Buffer>;
    /// Every element's bytes, after all the work queued before it.
    fn download(&self, x: &Buffer) -> Result<Vec<u8>>;
    /// Waits until the work queued so far has run.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// y = x viewed through `s`, cast to y's dtype.
    fn copy(&self, x: &Buffer, s: Strided, y: &mut Buffer) -> Result<()> {
        lacks!(self, "copy", x.dtype())
    }
    /// y[o·inner_y + at + i] = x[o·inner_x + i] for o < outer, i < inner_x:
    /// one part of a concatenation, or rows written into a KV cache.
    fn concat(&self, x: Dense, outer: usize, inner_x: usize, inner_y: usize, at: usize, y: &mut Buffer) -> Result<()> {
        lacks!(self, "concat", x.dtype())
    }
    fn unary(&self, op: Unary, x: Dense, y: &mut Buffer) -> Result<()> {
        lacks!(self, "unary", x.dtype())
    }
    /// y[i] = a[l(i)] op b[r(i)], both views broadcast to y's shape.
    fn binary(&self, op: Binary, a: &Buffer, l: Strided, b: &Buffer, r: Strided, y: &mut Buffer) -> Result<()> {
        lacks!(self, "binary", a.dtype())
    }
    fn gemm(&self, p: &Gemm, a: &Buffer, b: &Buffer, c: &mut Buffer) -> Result<()> {
        lacks!(self, "gemm", a.dtype())
    }
    /// C = act(alpha·A·B + beta·C + bias), bias [N] broadcast over the rows.
    fn gemm_fused(
        &self,
        p: &Gemm,
        a: &Buffer,
        b: &Buffer,
        bias: Option<Dense>,
        act: Option<Unary>,
        c: &mut Buffer,
    ) -> Result<()> {
        lacks!(self, "gemm_fused", a.dtype())
    }
    fn attention(
        &self,
        p: &Attention,
        q: &Buffer,
        k: &Buffer,
        v: &Buffer,
        mask: BufMask,
        o: &mut Buffer,
    ) -> Result<()> {
        lacks!(self, "attention", q.dtype())
    }
    /// Over rows of `w.len` elements.
    fn layer_norm(&self, x: Dense, w: Dense, b: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        lacks!(self, "layer_norm", x.dtype())
    }
    fn rms_norm(&self, x: Dense, w: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        lacks!(self, "rms_norm", x.dtype())
    }
    /// Over rows of `n` elements.
    fn softmax(&self, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        lacks!(self, "softmax", x.dtype())
    }
    /// One value per row of `n` elements: y [x.len / n].
    fn reduce(&self, op: Reduce, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        lacks!(self, "reduce", x.dtype())
    }
    /// cos and sin are f32 [T, D/2].
    fn rope(&self, p: &Rope, x: Dense, cos: Dense, sin: Dense, y: &mut Buffer) -> Result<()> {
        lacks!(self, "rope", x.dtype())
    }
    fn im2col(&self, p: &Im2col, x: Dense, y: &mut Buffer) -> Result<()> {
        lacks!(self, "im2col", x.dtype())
    }
    /// Rows of table [V, dim] picked by U32 `ids`.
    fn embedding(&self, table: Dense, dim: usize, ids: Dense, y: &mut Buffer) -> Result<()> {
        lacks!(self, "embedding", table.dtype())
    }

    // ---- backward (training); dy is the gradient of the forward's output

    /// dq, dk, dv (dense [B, H, Tq, D] and [B, Hkv, Tk, D]) of `attention`
    /// from its output o and the output's gradient dout (o's layout, p.o).
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
        &self,
        p: &Attention,
        q: &Buffer,
        k: &Buffer,
        v: &Buffer,
        o: &Buffer,
        dout: &Buffer,
        mask: BufMask,
        dq: &mut Buffer,
        dk: &mut Buffer,
        dv: &mut Buffer,
    ) -> Result<()> {
        lacks!(self, "attention_backward", q.dtype())
    }
    /// dx [N, C, H, W] of im2col from the patches' gradient dy.
    fn im2col_backward(&self, p: &Im2col, dy: Dense, dx: &mut Buffer) -> Result<()> {
        lacks!(self, "im2col_backward", dy.dtype())
    }
    /// dx = dy·f′(x).
    fn unary_backward(&self, op: Unary, x: Dense, dy: Dense, dx: &mut Buffer) -> Result<()> {
        lacks!(self, "unary_backward", x.dtype())
    }
    /// Rows of `w.len`; dw summed over the rows.
    fn rms_norm_backward(
        &self,
        x: Dense,
        w: Dense,
        dy: Dense,
        eps: f32,
        dx: &mut Buffer,
        dw: &mut Buffer,
    ) -> Result<()> {
        lacks!(self, "rms_norm_backward", x.dtype())
    }
    /// Rows of `w.len`; dw and db summed over the rows.
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_backward(
        &self,
        x: Dense,
        w: Dense,
        dy: Dense,
        eps: f32,
        dx: &mut Buffer,
        dw: &mut Buffer,
        db: &mut Buffer,
    ) -> Result<()> {
        lacks!(self, "layer_norm_backward", x.dtype())
    }
    /// From the forward's output y, rows of `n`.
    fn softmax_backward(&self, y: Dense, dy: Dense, n: usize, dx: &mut Buffer) -> Result<()> {
        lacks!(self, "softmax_backward", y.dtype())
    }
    /// Per-row loss (F32) of logits in rows of `v` against U32 targets (`cpu::IGNORE` skips a row).
    fn cross_entropy(&self, x: Dense, v: usize, targets: Dense, loss: &mut Buffer) -> Result<()> {
        lacks!(self, "cross_entropy", x.dtype())
    }
    /// dx = scale·(softmax(x) − onehot(target)) per row, recomputed from the logits.
    fn cross_entropy_backward(&self, x: Dense, v: usize, targets: Dense, scale: f32, dx: &mut Buffer) -> Result<()> {
        lacks!(self, "cross_entropy_backward", x.dtype())
    }
    /// The table's gradient [V, dim]: dy's rows added into the rows their U32 ids picked.
    fn embedding_backward(&self, dy: Dense, dim: usize, ids: Dense, dtable: &mut Buffer) -> Result<()> {
        lacks!(self, "embedding_backward", dy.dtype())
    }
}

/// The backend of `device`, opened at first use and shared after.
/// The backward ops (training): the CPU runs them; a GPU backend does not
/// list them in `supports` until it has kernels for them.
pub const GRAD_OPS: &[&str] = &[
    "attention_backward",
    "im2col_backward",
    "unary_backward",
    "rms_norm_backward",
    "layer_norm_backward",
    "softmax_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "embedding_backward",
];

pub fn backend(device: Device) -> Result<Arc<dyn Backend>> {
    type Open = Vec<(Device, Arc<dyn Backend>)>;
    static OPEN: OnceLock<Mutex<Open>> = OnceLock::new();
    let mut open = OPEN.get_or_init(Mutex::default).lock().map_err(|_| Error::Device("backend registry".into()))?;
    if let Some((_, b)) = open.iter().find(|(d, _)| *d == device) {
        return Ok(b.clone());
    }
    let b: Arc<dyn Backend> = match device {
        Device::Cpu => Arc::new(crate::cpu::backend::CpuBackend::FAST),
        Device::Cuda(n) => Arc::new(crate::cuda::backend::CudaBackend::open(n)?),
        Device::Wgpu => Arc::new(crate::wgpu::backend::WgpuBackend::open()?),
    };
    open.push((device, b.clone()));
    Ok(b)
}

/// Checks that every operand is on `be`'s device.
pub(crate) fn on(be: &(impl Backend + ?Sized), op: &'static str, bufs: &[&Buffer]) -> Result<()> {
    match bufs.iter().find(|b| b.device() != be.device()) {
        Some(b) => Err(Error::WrongDevice { op, found: b.device(), expected: be.device() }),
        None => Ok(()),
    }
}

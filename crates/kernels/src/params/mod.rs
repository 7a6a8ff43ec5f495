//! Shapes and layouts of the kernels' operands. All offsets and strides are
//! in elements, never bytes. The attention operands are in attention.rs.

mod attention;

pub use attention::{Attention, Heads, Mask, MaskLayout, MaskOf};

use crate::error::{check_extent, Error, Result};

/// A batch of matrices in a buffer: element (b, i, j) sits at
/// `offset + b·batch_stride + i·row_stride + j·col_stride`. A transposed view
/// is the same buffer with the two strides swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatLayout {
    pub offset: usize,
    pub batch_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatLayout {
    /// A dense row-major `rows × cols` matrix per batch entry.
    pub fn row_major(rows: usize, cols: usize) -> Self {
        MatLayout { offset: 0, batch_stride: rows * cols, row_stride: cols, col_stride: 1 }
    }

    /// The transposed view of the same elements.
    pub fn t(self) -> Self {
        MatLayout { row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    #[inline(always)]
    pub(crate) fn at(&self, b: usize, i: usize, j: usize) -> usize {
        self.offset + b * self.batch_stride + i * self.row_stride + j * self.col_stride
    }
}

/// `C[b] = alpha · A[b] · B[b] + beta · C[b]` with A m×k, B k×n, C m×n.
/// With `beta == 0` C is only written, never read (it may hold NaN).
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub beta: f32,
    pub a: MatLayout,
    pub b: MatLayout,
    pub c: MatLayout,
}

impl Gemm {
    pub fn check(&self, a_len: usize, b_len: usize, c_len: usize) -> Result<()> {
        let ext = |l: &MatLayout, r, c| [(self.batch, l.batch_stride), (r, l.row_stride), (c, l.col_stride)];
        check_extent("gemm", "a", a_len, self.a.offset, &ext(&self.a, self.m, self.k))?;
        check_extent("gemm", "b", b_len, self.b.offset, &ext(&self.b, self.k, self.n))?;
        check_extent("gemm", "c", c_len, self.c.offset, &ext(&self.c, self.m, self.n))?;
        if !non_overlapping(&[
            (self.batch, self.c.batch_stride),
            (self.m, self.c.row_stride),
            (self.n, self.c.col_stride),
        ]) {
            return Err(Error::Shape { op: "gemm", msg: format!("output C layout {:?} makes outputs alias", self.c) });
        }
        Ok(())
    }
}

/// True when no two indices of the (dim, stride) layout share an element:
/// sorted by stride, each stride passes the extent of all smaller ones.
pub(crate) fn non_overlapping(dims_strides: &[(usize, usize)]) -> bool {
    let mut ds: Vec<_> = dims_strides.iter().copied().filter(|&(d, _)| d > 1).collect();
    ds.sort_by_key(|&(_, s)| s);
    let mut extent = 1;
    for (d, s) in ds {
        if s < extent {
            return false;
        }
        extent += s * (d - 1);
    }
    true
}

/// im2col over a dense [N, C, H, W] image: out [N, OH·OW, C·KH·KW], patch
/// columns ordered (c, ky, kx) like a conv weight [O, C, KH, KW] flattened,
/// zeros where the window reaches into the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2col {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Im2col {
    /// A ViT patch embedding: kernel = stride = p, no padding.
    pub fn patches(n: usize, c: usize, h: usize, w: usize, p: usize) -> Self {
        Im2col { n, c, h, w, kh: p, kw: p, stride: p, pad: 0 }
    }
    pub fn out_hw(&self) -> (usize, usize) {
        let oh = (self.h + 2 * self.pad).saturating_sub(self.kh) / self.stride.max(1) + 1;
        let ow = (self.w + 2 * self.pad).saturating_sub(self.kw) / self.stride.max(1) + 1;
        (oh, ow)
    }
    pub fn cols(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * oh * ow * self.cols()
    }
    pub fn check(&self, x: usize, out: usize) -> Result<()> {
        let op = "im2col";
        if self.stride == 0
            || self.kh == 0
            || self.kw == 0
            || self.kh > self.h + 2 * self.pad
            || self.kw > self.w + 2 * self.pad
        {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "kernel {}x{} stride {} pad {} does not fit image {}x{}",
                    self.kh, self.kw, self.stride, self.pad, self.h, self.w
                ),
            });
        }
        if x != self.n * self.c * self.h * self.w || out != self.out_len() {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "image holds {x} elements and output {out}; [N={}, C={}, H={}, W={}] needs {} and {}",
                    self.n,
                    self.c,
                    self.h,
                    self.w,
                    self.n * self.c * self.h * self.w,
                    self.out_len()
                ),
            });
        }
        Ok(())
    }
}

/// An N-d strided view: element at index `i` sits at `offset + Σ i_d·strides_d`.
/// A zero stride broadcasts.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub shape: &'a [usize],
    pub strides: &'a [usize],
    pub offset: usize,
}

impl Strided<'_> {
    /// Whether the view is its buffer's elements in order from offset 0.
    pub fn is_dense(&self) -> bool {
        let mut step = 1;
        for (&n, &s) in self.shape.iter().zip(self.strides).rev() {
            if n != 1 && s != step {
                return false;
            }
            step *= n;
        }
        self.offset == 0
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(crate) fn check(&self, op: &'static str, buffer: &'static str, len: usize) -> Result<()> {
        if self.shape.len() != self.strides.len() {
            return Err(Error::Shape {
                op,
                msg: format!("{buffer}: shape {:?} and strides {:?} differ in rank", self.shape, self.strides),
            });
        }
        let ds: Vec<_> = self.shape.iter().copied().zip(self.strides.iter().copied()).collect();
        check_extent(op, buffer, len, self.offset, &ds)
    }
}

/// Rotate-half RoPE over a dense [outer, T, inner, D] buffer with cos/sin
/// tables [T, D/2]: the row at time t rotates its pairs (i, i + D/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rope {
    pub outer: usize,
    pub t: usize,
    pub inner: usize,
    pub d: usize,
}

/// Element-wise functions of one input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// x·Φ(x) = 0.5·x·(1 + erf(x/√2))
    Gelu,
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    GeluTanh,
    /// x·σ(1.702·x)
    QuickGelu,
    /// x·σ(x)
    Silu,
    Tanh,
    /// x·s
    Scale(f32),
}

/// Reductions of each row over the last dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
}

impl Reduce {
    /// The rows of `n` in `x` elements, reduced into `y`.
    pub(crate) fn check(x: usize, n: usize, y: usize) -> Result<usize> {
        if n == 0 || !x.is_multiple_of(n) || y * n != x {
            return Err(Error::Shape { op: "reduce", msg: format!("x holds {x} elements, rows of {n}, out {y}") });
        }
        Ok(y)
    }
}

/// The rows of `n` in `x` elements of a row-wise op with output `y`, each
/// per-row operand (a norm's weight) `n` long.
pub(crate) fn check_rows(op: &'static str, x: usize, n: usize, y: usize, per_row: &[usize]) -> Result<usize> {
    if n == 0 || !x.is_multiple_of(n) || x != y || per_row.iter().any(|&l| l != n) {
        return Err(Error::Shape { op, msg: format!("x {x}, row {n}, out {y}, weights {per_row:?}") });
    }
    Ok(x / n)
}

/// That `outer` rows of `inner_x` from `x` elements land inside `y` elements
/// as rows of `inner_y` starting at `at` (a concatenation part, KV-cache rows).
pub(crate) fn check_concat(x: usize, outer: usize, inner_x: usize, inner_y: usize, at: usize, y: usize) -> Result<()> {
    let fits = x >= outer * inner_x && (outer == 0 || (outer - 1) * inner_y + at + inner_x <= y);
    if !fits || inner_x > inner_y {
        return Err(Error::Shape {
            op: "concat",
            msg: format!("{outer}×{inner_x} at {at} into rows of {inner_y} ({y})"),
        });
    }
    Ok(())
}

/// Element-wise functions of two inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Strided;

    #[test]
    fn dense_views() {
        let v = |shape: &'static [usize], strides: &'static [usize], offset| Strided { shape, strides, offset };
        assert!(v(&[3, 4], &[4, 1], 0).is_dense());
        assert!(v(&[3, 1, 4], &[4, 99, 1], 0).is_dense()); // a size-1 dim's stride is never used
        assert!(!v(&[3, 4], &[4, 1], 2).is_dense());
        assert!(!v(&[3, 4], &[1, 3], 0).is_dense()); // transposed
        assert!(!v(&[3, 4], &[0, 1], 0).is_dense()); // broadcast
    }
}

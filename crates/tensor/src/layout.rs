//! Layout = shape + element strides + offset. Views (reshape, permute,
//! narrow, broadcast, squeeze) are new layouts over the same storage.

use crate::error::{shape_err, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

pub(crate) fn dense_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: dense_strides(shape), offset: 0 }
    }

    pub fn elem_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Row-major dense, ignoring the strides of size-1 dimensions.
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expect {
                return false;
            }
            expect *= d;
        }
        true
    }

    /// One past the furthest element the layout touches (0 when empty).
    pub fn extent(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.offset + self.shape.iter().zip(&self.strides).map(|(d, s)| (d - 1) * s).sum::<usize>() + 1
    }

    pub(crate) fn dim(&self, op: &'static str, d: usize) -> Result<usize> {
        if d >= self.shape.len() {
            return shape_err(op, format!("dimension {d} out of range for shape {:?}", self.shape));
        }
        Ok(d)
    }

    pub(crate) fn reshape(&self, shape: &[usize]) -> Result<Layout> {
        if shape.iter().product::<usize>() != self.elem_count() {
            return shape_err(
                "reshape",
                format!(
                    "{:?} has {} elements, {:?} needs {}",
                    self.shape,
                    self.elem_count(),
                    shape,
                    shape.iter().product::<usize>()
                ),
            );
        }
        if !self.is_contiguous() {
            return shape_err(
                "reshape",
                format!("view {:?} with strides {:?} is not contiguous", self.shape, self.strides),
            );
        }
        Ok(Layout { shape: shape.to_vec(), strides: dense_strides(shape), offset: self.offset })
    }

    pub(crate) fn permute(&self, dims: &[usize]) -> Result<Layout> {
        let mut seen = vec![false; self.shape.len()];
        if dims.len() != self.shape.len()
            || dims.iter().any(|&d| d >= seen.len() || std::mem::replace(&mut seen[d], true))
        {
            return shape_err(
                "permute",
                format!("{dims:?} is not a permutation of the dimensions of {:?}", self.shape),
            );
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    pub(crate) fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        let dim = self.dim("narrow", dim)?;
        if start + len > self.shape[dim] {
            return shape_err(
                "narrow",
                format!(
                    "[{start}, {}) past size {} of dimension {dim} of {:?}",
                    start + len,
                    self.shape[dim],
                    self.shape
                ),
            );
        }
        let mut l = self.clone();
        l.shape[dim] = len;
        l.offset += start * self.strides[dim];
        Ok(l)
    }

    /// Numpy broadcasting to `shape`: missing leading dims and size-1 dims get stride 0.
    pub(crate) fn broadcast_as(&self, shape: &[usize]) -> Result<Layout> {
        let extra = shape.len().checked_sub(self.shape.len());
        let Some(extra) = extra else {
            return shape_err("broadcast", format!("{:?} has more dimensions than {shape:?}", self.shape));
        };
        let mut strides = vec![0; shape.len()];
        for (i, (&d, &s)) in self.shape.iter().zip(&self.strides).enumerate() {
            let t = shape[extra + i];
            if d == t {
                strides[extra + i] = s;
            } else if d != 1 {
                return shape_err("broadcast", format!("{:?} cannot broadcast to {shape:?}", self.shape));
            }
        }
        Ok(Layout { shape: shape.to_vec(), strides, offset: self.offset })
    }

    pub(crate) fn squeeze(&self, dim: usize) -> Result<Layout> {
        let dim = self.dim("squeeze", dim)?;
        if self.shape[dim] != 1 {
            return shape_err("squeeze", format!("dimension {dim} of {:?} is not 1", self.shape));
        }
        let mut l = self.clone();
        l.shape.remove(dim);
        l.strides.remove(dim);
        Ok(l)
    }

    pub(crate) fn unsqueeze(&self, dim: usize) -> Result<Layout> {
        if dim > self.shape.len() {
            return shape_err("unsqueeze", format!("dimension {dim} out of range for shape {:?}", self.shape));
        }
        let mut l = self.clone();
        let s = if dim < self.shape.len() { self.strides[dim] * self.shape[dim] } else { 1 };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, s);
        Ok(l)
    }
}

/// The numpy-broadcast shape of two shapes.
pub(crate) fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => shape_err(op, format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

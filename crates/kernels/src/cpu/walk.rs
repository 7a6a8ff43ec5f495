//! Walking strided views of one shape row by row (a row: the last
//! dimension), for the element-wise ops and the strided copy.
//!
//! Two things make it cheap where rows are short (a head dimension of 16 in
//! [B, H, T, D]): dimensions that every view lays out as one are merged first
//! (`Walk::new`), so a dense or broadcast block is one long row; and a task
//! finds its first row's offsets by division once, then steps from row to
//! row like an odometer (`Rows`) instead of dividing for every row.

use crate::{Error, Result};

/// Most dimensions a view may keep after merging.
const MAX_RANK: usize = 12;

/// V views of one shape, merged: `shape[..rank]`, and view v's element at
/// index i is at `offset[v] + Σ i[d]·strides[v][d]`.
pub(crate) struct Walk<const V: usize> {
    rank: usize,
    shape: [usize; MAX_RANK],
    strides: [[usize; MAX_RANK]; V],
    offset: [usize; V],
}

impl<const V: usize> Walk<V> {
    /// Merges the views' common shape: size-1 dimensions dropped, and a
    /// dimension folded into the next when every view steps over it by the
    /// next one's whole extent — as long as the last dimension stays within
    /// `max_row` elements, so that a large dense operand still splits into
    /// rows for the threads. More than MAX_RANK dimensions left is an error.
    pub(crate) fn new(
        op: &'static str,
        shape: &[usize],
        strides: [&[usize]; V],
        offset: [usize; V],
        max_row: usize,
    ) -> Result<Self> {
        let mut w = Walk { rank: 0, shape: [1; MAX_RANK], strides: [[0; MAX_RANK]; V], offset };
        for d in 0..shape.len() {
            if shape[d] == 1 {
                continue;
            }
            if w.rank > 0 {
                let last = w.rank - 1;
                let merged = w.shape[last] * shape[d];
                let mergeable = (0..V).all(|v| w.strides[v][last] == strides[v][d] * shape[d]);
                // Merging into the last dimension only while it stays a row's length.
                let row_ok = d + 1 < shape.len() && shape[d + 1..].iter().any(|&n| n != 1) || merged <= max_row;
                if mergeable && row_ok {
                    w.shape[last] = merged;
                    for (ws, s) in w.strides.iter_mut().zip(strides) {
                        ws[last] = s[d];
                    }
                    continue;
                }
            }
            if w.rank == MAX_RANK {
                return Err(Error::Shape { op, msg: format!("{shape:?}: more than {MAX_RANK} dimensions") });
            }
            w.shape[w.rank] = shape[d];
            for (ws, s) in w.strides.iter_mut().zip(strides) {
                ws[w.rank] = s[d];
            }
            w.rank += 1;
        }
        if w.rank == 0 {
            // A scalar, or every dimension 1: one row of one element.
            w.rank = 1;
        }
        Ok(w)
    }

    /// Elements a row holds.
    pub(crate) fn row_len(&self) -> usize {
        self.shape[self.rank - 1]
    }

    /// View v's step along a row.
    pub(crate) fn inner(&self, v: usize) -> usize {
        self.strides[v][self.rank - 1]
    }

    /// The rows from row `first` on (rows counted over all dimensions but the last).
    pub(crate) fn rows(&self, first: usize) -> Rows<'_, V> {
        let mut index = [0; MAX_RANK];
        let mut off = self.offset;
        let mut row = first;
        for d in (0..self.rank - 1).rev() {
            index[d] = row % self.shape[d];
            row /= self.shape[d];
            for (v, o) in off.iter_mut().enumerate() {
                *o += index[d] * self.strides[v][d];
            }
        }
        Rows { walk: self, index, off }
    }
}

/// An odometer over a `Walk`'s rows: `offsets` are each view's start of the
/// current row, `advance` moves to the next row.
pub(crate) struct Rows<'a, const V: usize> {
    walk: &'a Walk<V>,
    index: [usize; MAX_RANK],
    off: [usize; V],
}

impl<const V: usize> Rows<'_, V> {
    #[inline]
    pub(crate) fn offsets(&self) -> [usize; V] {
        self.off
    }

    #[inline]
    pub(crate) fn advance(&mut self) {
        let w = self.walk;
        for d in (0..w.rank - 1).rev() {
            self.index[d] += 1;
            for (o, s) in self.off.iter_mut().zip(&w.strides) {
                *o += s[d];
            }
            if self.index[d] < w.shape[d] {
                return;
            }
            for (o, s) in self.off.iter_mut().zip(&w.strides) {
                *o -= s[d] * w.shape[d];
            }
            self.index[d] = 0;
        }
    }
}

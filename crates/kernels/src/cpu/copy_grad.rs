//! Backward of the embedding lookup: a scatter-add of the output's gradient
//! rows into the table rows their ids picked (an id used twice gets both).
//!   dtable[v, :] = Σ_{r : ids[r] = v} dy[r, :]      dtable [V, dim], dy [R, dim]
//! Every table row is written (zeros where no id points).

use rayon::prelude::*;

use crate::{Element, Error, Result};

pub(crate) fn check(dy: usize, dim: usize, ids: &[u32], dtable: usize) -> Result<()> {
    let rows = dtable.checked_div(dim).unwrap_or(0);
    if dim == 0 || dy != ids.len() * dim || !dtable.is_multiple_of(dim) {
        return Err(Error::Shape {
            op: "embedding_backward",
            msg: format!("dy {dy} for {} ids of {dim}, table {dtable}", ids.len()),
        });
    }
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
        return Err(Error::IndexOutOfRange { op: "embedding_backward", index: bad as usize, len: rows });
    }
    Ok(())
}

pub fn embedding_backward<T: Element>(dy: &[T], dim: usize, ids: &[u32], dtable: &mut [T]) -> Result<()> {
    check(dy.len(), dim, ids, dtable.len())?;
    // The gradient rows of each table row, grouped (a CSR over the ids).
    let rows = dtable.len() / dim;
    let mut start = vec![0usize; rows + 1];
    ids.iter().for_each(|&i| start[i as usize + 1] += 1);
    (0..rows).for_each(|v| start[v + 1] += start[v]);
    let mut fill = start.clone();
    let mut order = vec![0usize; ids.len()];
    for (r, &i) in ids.iter().enumerate() {
        order[fill[i as usize]] = r;
        fill[i as usize] += 1;
    }
    dtable.par_chunks_mut(dim).enumerate().for_each(|(v, out)| {
        let mut acc = vec![0f32; dim];
        for &r in &order[start[v]..start[v + 1]] {
            acc.iter_mut().zip(&dy[r * dim..][..dim]).for_each(|(a, d)| *a += d.to_f32());
        }
        out.iter_mut().zip(&acc).for_each(|(o, a)| *o = T::from_f32(*a));
    });
    Ok(())
}

pub(crate) mod reference {
    use super::check;
    use crate::{Element, Result};

    pub fn embedding_backward<T: Element>(dy: &[T], dim: usize, ids: &[u32], dtable: &mut [T]) -> Result<()> {
        check(dy.len(), dim, ids, dtable.len())?;
        let mut acc = vec![0f64; dtable.len()];
        for (r, &i) in ids.iter().enumerate() {
            for j in 0..dim {
                acc[i as usize * dim + j] += dy[r * dim + j].to_f32() as f64;
            }
        }
        dtable.iter_mut().zip(&acc).for_each(|(o, a)| *o = T::from_f32(*a as f32));
        Ok(())
    }
}

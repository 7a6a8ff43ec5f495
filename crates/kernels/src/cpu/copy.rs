//! Data movement: strided → dense copy (with a dtype cast on the way),
//! concatenation, embedding gather.

use rayon::prelude::*;

use super::walk::Walk;
use crate::{Element, Error, Result, Strided};

/// Elements per rayon task.
const CHUNK: usize = 1 << 15;

fn check_copy(src: &Strided, len: usize, dst: usize) -> Result<()> {
    src.check("copy", "src", len)?;
    if dst != src.len() {
        return Err(Error::Shape {
            op: "copy",
            msg: format!("source view {:?} into a destination of {dst} elements", src.shape),
        });
    }
    Ok(())
}

/// dst = the elements of the view `s` in row-major order, cast to `D`.
/// A dense source with no offset is a plain cast.
pub fn copy<S: Element, D: Element>(src: &[S], s: Strided, dst: &mut [D]) -> Result<()> {
    check_copy(&s, src.len(), dst.len())?;
    if dst.is_empty() {
        return Ok(());
    }
    let walk = Walk::new("copy", s.shape, [s.strides], [s.offset], CHUNK)?;
    let (n, inner) = (walk.row_len(), walk.inner(0));
    let rows_per_task = (CHUNK / n).max(1);
    dst.par_chunks_mut(n * rows_per_task).enumerate().for_each(|(t, o)| {
        let mut rows = walk.rows(t * rows_per_task);
        for orow in o.chunks_exact_mut(n) {
            let [off] = rows.offsets();
            if inner == 1 {
                for (d, x) in orow.iter_mut().zip(&src[off..off + n]) {
                    *d = D::from_f32(x.to_f32());
                }
            } else {
                for (j, d) in orow.iter_mut().enumerate() {
                    *d = D::from_f32(src[off + j * inner].to_f32());
                }
            }
            rows.advance();
        }
    });
    Ok(())
}

fn check_concat<T>(parts: &[(&[T], usize)], outer: usize, out: usize) -> Result<usize> {
    let width: usize = parts.iter().map(|p| p.1).sum();
    if parts.iter().any(|(p, w)| p.len() != outer * w) || out != outer * width {
        let sizes: Vec<_> = parts.iter().map(|(p, w)| (p.len(), *w)).collect();
        return Err(Error::Shape {
            op: "concat",
            msg: format!("parts (elements, width) {sizes:?} over {outer} rows into {out} elements"),
        });
    }
    Ok(width)
}

/// Each part is a dense [outer, w_i]; out [outer, Σ w_i] puts them side by side.
pub fn concat<T: Element>(parts: &[(&[T], usize)], outer: usize, out: &mut [T]) -> Result<()> {
    let width = check_concat(parts, outer, out.len())?;
    if width == 0 {
        return Ok(());
    }
    out.par_chunks_mut(width).enumerate().for_each(|(r, row)| {
        let mut c = 0;
        for (p, w) in parts {
            row[c..c + w].copy_from_slice(&p[r * w..(r + 1) * w]);
            c += w;
        }
    });
    Ok(())
}

fn check_embedding(table: usize, dim: usize, ids: &[u32], out: usize) -> Result<()> {
    if dim == 0 || !table.is_multiple_of(dim) || out != ids.len() * dim {
        return Err(Error::Shape {
            op: "embedding",
            msg: format!("table of {table} elements, dim {dim}, {} ids, output {out}", ids.len()),
        });
    }
    let rows = table / dim;
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
        return Err(Error::IndexOutOfRange { op: "embedding", index: bad as usize, len: rows });
    }
    Ok(())
}

/// out[i, :] = table[ids[i], :] with table [V, dim].
pub fn embedding<T: Element>(table: &[T], dim: usize, ids: &[u32], out: &mut [T]) -> Result<()> {
    check_embedding(table.len(), dim, ids, out.len())?;
    out.par_chunks_mut(dim).zip(ids.par_iter()).for_each(|(o, &id)| {
        o.copy_from_slice(&table[id as usize * dim..][..dim]);
    });
    Ok(())
}

pub(crate) mod reference {
    use super::{check_concat, check_copy, check_embedding};
    use crate::cpu::elementwise::reference::offset;
    use crate::{Element, Result, Strided};

    pub fn copy<S: Element, D: Element>(src: &[S], s: Strided, dst: &mut [D]) -> Result<()> {
        check_copy(&s, src.len(), dst.len())?;
        for (i, d) in dst.iter_mut().enumerate() {
            *d = D::from_f32(src[offset(&s, i)].to_f32());
        }
        Ok(())
    }

    pub fn concat<T: Element>(parts: &[(&[T], usize)], outer: usize, out: &mut [T]) -> Result<()> {
        let width = check_concat(parts, outer, out.len())?;
        for r in 0..outer {
            let mut c = 0;
            for (p, w) in parts {
                for j in 0..*w {
                    out[r * width + c + j] = p[r * w + j];
                }
                c += w;
            }
        }
        Ok(())
    }

    pub fn embedding<T: Element>(table: &[T], dim: usize, ids: &[u32], out: &mut [T]) -> Result<()> {
        check_embedding(table.len(), dim, ids, out.len())?;
        for (i, &id) in ids.iter().enumerate() {
            for j in 0..dim {
                out[i * dim + j] = table[id as usize * dim + j];
            }
        }
        Ok(())
    }
}

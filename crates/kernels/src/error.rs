use crate::{DType, Device};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A buffer is too short for the shape and strides it is used with.
    #[error("{op}: buffer `{buffer}` holds {len} elements but the layout reaches element {needed}")]
    BufferTooSmall { op: &'static str, buffer: &'static str, len: usize, needed: usize },
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    #[error("{op}: index {index} out of range for {len} rows")]
    IndexOutOfRange { op: &'static str, index: usize, len: usize },
    #[error("{op}: dtype {dtype} not supported")]
    DType { op: &'static str, dtype: DType },
    #[error("{op}: expected {expected}, found {found}")]
    DTypeMismatch { op: &'static str, expected: DType, found: DType },
    /// An operand lives on another device than the backend running the op.
    #[error("{op}: an operand is on {found}, the op runs on {expected}")]
    WrongDevice { op: &'static str, found: Device, expected: Device },
    /// The backend has no kernel for the op (in that dtype).
    #[error("op {op} is not available on device {device}{}", dtype.map(|d| format!(" in {d}")).unwrap_or_default())]
    Unavailable { op: &'static str, device: String, dtype: Option<DType> },
    /// A GPU device or its compiler (NVRTC) failed or is missing.
    #[error("{0}")]
    Device(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `len` elements cover the furthest element a strided layout
/// touches: `offset + Σ (dim - 1) * stride`.
pub(crate) fn check_extent(
    op: &'static str,
    buffer: &'static str,
    len: usize,
    offset: usize,
    dims_strides: &[(usize, usize)],
) -> Result<()> {
    if dims_strides.iter().any(|&(d, _)| d == 0) {
        return Ok(());
    }
    let last = dims_strides.iter().fold(offset, |acc, &(d, s)| acc + (d - 1) * s);
    if last >= len {
        return Err(Error::BufferTooSmall { op, buffer, len, needed: last });
    }
    Ok(())
}

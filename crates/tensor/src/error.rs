use std::path::PathBuf;

use crate::{DType, Device};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] iris_kernels::Error),
    /// Shapes that an op cannot combine, with the shapes in the message.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    #[error("{op}: dtypes differ: {lhs} and {rhs}")]
    DTypeMismatch { op: &'static str, lhs: DType, rhs: DType },
    #[error("{op}: tensor holds {found}, caller asked for {expected}")]
    DType { op: &'static str, expected: DType, found: DType },
    /// An op without a backward met a tensor that gradients flow through.
    #[error("{0}: no backward yet; run it under no_grad() or on tensors that need no gradient")]
    NoBackward(&'static str),
    #[error("{op}: not available on device {device}")]
    Device { op: &'static str, device: Device },
    #[error("{}: {msg}", file.display())]
    File { file: PathBuf, msg: String },
    #[error("{}: tensor `{name}`: {msg}", file.display())]
    Tensor { file: PathBuf, name: String, msg: String },
    #[error("{}: {source}", file.display())]
    Io { file: PathBuf, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn shape_err<T>(op: &'static str, msg: impl Into<String>) -> Result<T> {
    Err(Error::Shape { op, msg: msg.into() })
}

//! iris-kernels: raw compute on buffers, with no tensor type.
//!
//! Every op has a *reference* kernel (`cpu::reference`: plain loops, f64
//! accumulation where order matters; it is the spec) and a *fast* kernel
//! (`cpu::fast`: packed, blocked, SIMD, rayon) with the same signature. The
//! parity tests and `iris check` hold each fast kernel to its reference.

pub mod backend;
pub mod cpu;
pub mod cuda;
mod element;
mod error;
mod params;
pub mod parity;
pub mod testing;
pub mod wgpu;

pub use backend::{backend, Backend, BufMask, Buffer, Dense, Device};
pub use element::{DType, Element, Scalar};
pub use error::{Error, Result};
pub use half;
pub use params::*;

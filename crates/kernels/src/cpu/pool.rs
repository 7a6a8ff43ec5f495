//! Host memory for CPU buffers: 64-byte aligned lines recycled by a pool,
//! or a read-only memory map of a checkpoint.
//!
//! The pool keeps freed buffers by size and hands them to the next op that
//! asks for the same size, so a forward pass stops faulting in (and the
//! kernel stops zeroing) fresh pages for every op output once warm.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use memmap2::Mmap;

/// One cache line; buffers are made of these so they are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

/// Host bytes: owned (pooled) or a window of a memory-mapped file.
pub(crate) enum HostBuf {
    Owned { lines: Vec<Line>, len: usize },
    Mapped { map: Arc<Mmap>, start: usize, len: usize },
}

impl HostBuf {
    /// `len` bytes whose contents are unspecified (a recycled buffer keeps
    /// its old bytes): every op writes all of its output.
    pub(crate) fn uninit(len: usize) -> HostBuf {
        HostBuf::Owned { lines: pool().take(len.div_ceil(64)), len }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: Line is 64 plain bytes; len ≤ 64·lines.len().
            HostBuf::Owned { lines, len } => unsafe { std::slice::from_raw_parts(lines.as_ptr() as *const u8, *len) },
            HostBuf::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }

    /// The bytes to write, or `None` for a read-only map.
    pub(crate) fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        match self {
            // SAFETY: as above, uniquely borrowed.
            HostBuf::Owned { lines, len } => {
                Some(unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr() as *mut u8, *len) })
            }
            HostBuf::Mapped { .. } => None,
        }
    }
}

impl Drop for HostBuf {
    fn drop(&mut self) {
        if let HostBuf::Owned { lines, .. } = self {
            pool().give(std::mem::take(lines));
        }
    }
}

/// Counters of the buffer pool, to check that steady-state work reuses memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Allocations served by a recycled buffer.
    pub hits: u64,
    /// Allocations that needed fresh memory.
    pub misses: u64,
    /// Bytes held for reuse now.
    pub held_bytes: u64,
}

pub fn pool_stats() -> PoolStats {
    let p = pool();
    let held = p.free.lock().map(|f| f.held).unwrap_or(0);
    PoolStats {
        hits: p.hits.load(Ordering::Relaxed),
        misses: p.misses.load(Ordering::Relaxed),
        held_bytes: held as u64,
    }
}

struct Pool {
    free: Mutex<Free>,
    /// Most bytes kept for reuse (`IRIS_POOL_MB`, default 4096).
    cap: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Free {
    by_lines: HashMap<usize, Vec<Vec<Line>>>,
    held: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mb = std::env::var("IRIS_POOL_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(4096);
        Pool { free: Mutex::default(), cap: mb << 20, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    })
}

impl Pool {
    fn take(&self, lines: usize) -> Vec<Line> {
        if lines == 0 {
            return Vec::new();
        }
        if let Ok(mut f) = self.free.lock() {
            if let Some(v) = f.by_lines.get_mut(&lines).and_then(|l| l.pop()) {
                f.held -= lines * 64;
                self.hits.fetch_add(1, Ordering::Relaxed);
                return v;
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        zeroed(lines)
    }

    fn give(&self, v: Vec<Line>) {
        let bytes = v.len() * 64;
        if bytes == 0 {
            return;
        }
        if let Ok(mut f) = self.free.lock() {
            if f.held + bytes <= self.cap {
                f.held += bytes;
                f.by_lines.entry(v.len()).or_default().push(v);
            }
        }
    }
}

/// Fresh zeroed lines straight from the allocator (calloc-like), so new pages
/// are not written twice.
fn zeroed(lines: usize) -> Vec<Line> {
    let layout = std::alloc::Layout::array::<Line>(lines).expect("buffer size overflows");
    // SAFETY: a non-zero layout; all-zero bytes are a valid Line; the Vec
    // takes the allocation with the same layout it will free it with.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout) as *mut Line;
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Vec::from_raw_parts(p, lines, lines)
    }
}

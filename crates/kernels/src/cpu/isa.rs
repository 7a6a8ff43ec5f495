//! Run-time choice of instruction set. Kernels are written once as
//! `#[inline(always)]` bodies and compiled three times by `dispatch_isa!`:
//! for AVX-512, for AVX2+FMA and portably; the CPU picks at run time. On top
//! of AVX-512, `Avx512Bf16` adds `vdpbf16ps` (Zen 4, Sapphire Rapids), which
//! the bf16 GEMM paths use; everything else runs its AVX-512 form there.
//! `Amx` adds the AMX-BF16 tiles (Sapphire Rapids onwards), once Linux
//! grants the process the tile state; the bf16 GEMM then runs on them.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// Instruction sets, weakest first (`Ord` follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Scalar,
    Avx2,
    Avx512,
    /// AVX-512 with AVX512-BF16.
    Avx512Bf16,
    /// AVX512-BF16 and AMX-BF16 tiles.
    Amx,
}

impl Isa {
    /// Whether this set includes AVX-512 (F, BW, VL and FMA).
    pub fn avx512(self) -> bool {
        self >= Isa::Avx512
    }
}

const ALL: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::Amx];

static CAP: AtomicU8 = AtomicU8::new(u8::MAX);

/// Whether the compute-bound bf16 products (the blocked GEMM, attention's
/// tiles) run on bf16 pairs (AMX tiles, or `vdpbf16ps`) rather than on the
/// f32 kernel with the operands widened. AMD's Zen 4 issues one `vdpbf16ps` (32 products) as
/// fast as one f32 FMA (16): pairs halve the work. Intel's cores issue it at
/// a quarter of their FMA rate (a register-only loop on an Emerald Rapids
/// whose VM hides AMX, 2026-12-07: 1.24 G/s against 5.32 G/s FMAs a core),
/// so there the widened f32 kernel is faster (2048³ GEMM 278 against 159
/// GFLOP/s on 2 cores). The one-row and few-row products, bound by memory,
/// take `vdpbf16ps` on every CPU that has it. An `IRIS_ISA` or `set_cap`
/// naming the set keeps the pairs, to test and measure them anywhere.
pub fn bf16_dots() -> bool {
    let isa = isa();
    isa == Isa::Amx || isa == Isa::Avx512Bf16 && (chosen() || !dots_slow())
}

/// Whether the instruction set was named (`IRIS_ISA` or `set_cap`).
fn chosen() -> bool {
    static NAMED: OnceLock<bool> = OnceLock::new();
    CAP.load(Ordering::Relaxed) != u8::MAX || *NAMED.get_or_init(|| std::env::var_os("IRIS_ISA").is_some())
}

/// Intel's `vdpbf16ps` issues at a fraction of its FMA rate (`bf16_dots`).
#[cfg(target_arch = "x86_64")]
fn dots_slow() -> bool {
    static SLOW: OnceLock<bool> = OnceLock::new();
    *SLOW.get_or_init(|| {
        // CPUID leaf 0: the vendor, on every x86-64 CPU.
        let v = std::arch::x86_64::__cpuid(0);
        let vendor: Vec<u8> = [v.ebx, v.edx, v.ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
        vendor == b"GenuineIntel"
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn dots_slow() -> bool {
    false
}

/// The instruction set kernels use: the best this CPU has, capped by
/// `IRIS_ISA=avx512bf16|avx512|avx2|scalar` or `set_cap` (to test and measure
/// the fallbacks).
pub fn isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    let best = *DETECTED.get_or_init(|| {
        let cap = match std::env::var("IRIS_ISA").as_deref() {
            Ok("scalar") => Isa::Scalar,
            Ok("avx2") => Isa::Avx2,
            Ok("avx512") => Isa::Avx512,
            Ok("avx512bf16") => Isa::Avx512Bf16,
            _ => Isa::Amx,
        };
        detect().min(cap)
    });
    match ALL.get(CAP.load(Ordering::Relaxed) as usize) {
        Some(&cap) => best.min(cap),
        None => best,
    }
}

/// Every instruction set this CPU can run, best first.
pub fn available() -> Vec<Isa> {
    let best = detect();
    ALL.into_iter().rev().filter(|&i| i <= best).collect()
}

/// Caps the instruction set for the whole process (`None` lifts the cap).
pub fn set_cap(cap: Option<Isa>) {
    CAP.store(cap.map_or(u8::MAX, |c| c as u8), Ordering::Relaxed);
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("fma")
    {
        if is_x86_feature_detected!("avx512bf16") {
            if amx::granted() {
                Isa::Amx
            } else {
                Isa::Avx512Bf16
            }
        } else {
            Isa::Avx512
        }
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Isa::Avx2
    } else {
        Isa::Scalar
    }
}

/// AMX: the CPU's word (CPUID), the OS's (XCR0) and Linux's grant of the
/// tile data to this process (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), asked once;
/// a refusal leaves AVX512-BF16, as does `IRIS_ISA=avx512bf16`. (First run
/// on an AMX CPU, a Xeon, on 2026-12-01; until then behind `IRIS_AMX=1`.)
#[cfg(target_arch = "x86_64")]
mod amx {
    use std::sync::OnceLock;

    pub(super) fn granted() -> bool {
        static GRANTED: OnceLock<bool> = OnceLock::new();
        *GRANTED.get_or_init(|| {
            // CPUID leaf 7 exists on every CPU with AVX-512 (the caller checked it).
            let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
            let (amx_bf16, amx_tile) = (leaf7.edx >> 22 & 1 == 1, leaf7.edx >> 24 & 1 == 1);
            if !(amx_bf16 && amx_tile) {
                return false;
            }
            // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS saves the tile state.
            let xcr0: u64;
            // SAFETY: XGETBV with ECX = 0 is valid where OSXSAVE is set, which AVX-512 needs.
            unsafe {
                let (lo, hi): (u32, u32);
                std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack));
                xcr0 = (hi as u64) << 32 | lo as u64;
            }
            if xcr0 >> 17 & 3 != 3 {
                return false;
            }
            const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
            const XFEATURE_XTILEDATA: u64 = 18;
            const SYS_ARCH_PRCTL: u64 = 158;
            let ret: i64;
            // SAFETY: arch_prctl only changes this process's permitted xsave features.
            unsafe {
                std::arch::asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL as i64 => ret,
                    in("rdi") ARCH_REQ_XCOMP_PERM, in("rsi") XFEATURE_XTILEDATA,
                    lateout("rcx") _, lateout("r11") _, options(nostack));
            }
            ret == 0
        })
    }
}

static AMX_MODEL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs the bf16 GEMM's AMX tiling on a software model of the tile
/// instructions, on any CPU (the tests check the tiling and packing with
/// it where the CPU has no AMX).
pub fn set_amx_model(on: bool) {
    AMX_MODEL.store(on, Ordering::Relaxed);
}

/// Whether `set_amx_model` turned the model on.
pub fn amx_model() -> bool {
    AMX_MODEL.load(Ordering::Relaxed)
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Scalar
}

/// `dispatch_isa!(pub fn name<T: Bound>(args) -> R = body);` defines `name`,
/// which calls the `#[inline(always)]` function `body` compiled for the
/// instruction set `isa()` picked.
macro_rules! dispatch_isa {
    ($vis:vis fn $name:ident<$($g:ident: $bound:path),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path) => {
        $vis fn $name<$($g: $bound),*>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                unsafe fn avx512<$($g: $bound),*>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $bound),*>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                // SAFETY: isa() only reports features the CPU has.
                match $crate::cpu::isa::isa() {
                    $crate::cpu::isa::Isa::Avx512 | $crate::cpu::isa::Isa::Avx512Bf16 | $crate::cpu::isa::Isa::Amx => {
                        return unsafe { avx512($($arg),*) }
                    }
                    $crate::cpu::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::isa::Isa::Scalar => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use dispatch_isa;

/// A raw pointer that rayon tasks may share: each task writes a disjoint part.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// Through a method, so closures capture the whole (Send) wrapper.
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

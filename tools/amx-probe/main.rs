//! The AMX tile unit's rates on this core, behind docs/benchmarks.md's "Why the GEMM
//! is still short": `tdpbf16ps` on 2×2 blocks of 16×16 tiles (4 C tiles, 2 A, 2 B),
//! as iris's kernel (crates/kernels/src/cpu/gemm/amx.rs) runs them.
//!   rustc -O -C target-cpu=native tools/amx-probe/main.rs -o /tmp/amx-probe
//!   RANDOM=1 /tmp/amx-probe reg            products from registers only (the peak)
//!   RANDOM=1 /tmp/amx-probe load KB        A and B tiles streaming through KB each (L1, L2, memory)
//!   RANDOM=1 MIX=1 /tmp/amx-probe load KB  B from 16 KB (L1), A streaming through KB
//!   RANDOM=1 /tmp/amx-probe call N         blocks of N chunks, C's tiles stored after each
//!                                          (NOSTORE=1: not stored; CLOAD=1: loaded first)
//! RANDOM=1 fills the operands with bf16 values: zero pages would all map to one page.
use std::arch::asm;
#[repr(C, align(64))]
struct Config { palette: u8, start_row: u8, reserved: [u8; 14], colsb: [u16; 16], rows: [u8; 16] }
const CONFIG: Config = Config { palette: 1, start_row: 0, reserved: [0; 14],
    colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0], rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0] };
fn main() {
    let ret: i64;
    unsafe { asm!("syscall", inlateout("rax") 158i64 => ret, in("rdi") 0x1023u64, in("rsi") 18u64, lateout("rcx") _, lateout("r11") _); }
    assert_eq!(ret, 0);
    let mix = std::env::var("MIX").is_ok();
    let pf: usize = std::env::var("PF").ok().map(|v| v.parse().unwrap()).unwrap_or(0);
    let cload = std::env::var("CLOAD").is_ok();
    let nost = std::env::var("NOSTORE").is_ok();
    let mode = std::env::args().nth(1).unwrap_or("reg".into());
    let kb: usize = std::env::args().nth(2).map(|v| v.parse().unwrap()).unwrap_or(16);
    let mut buf = vec![0u8; (kb * 1024 * 2).max(1 << 20) + (1 << 20) + 4096];
    if std::env::var("RANDOM").is_ok() { let mut x: u32 = 12345; for (i, v) in buf.iter_mut().enumerate() { x = x.wrapping_mul(1664525).wrapping_add(1013904223); *v = if i % 2 == 1 { 0x3f + (x >> 31) as u8 * 0x80 } else { (x >> 24) as u8 }; } }
    let base = ((buf.as_ptr() as usize + 63) & !63) as *const u8;
    let n = 2_000_000usize;
    unsafe { asm!("ldtilecfg [{c}]", c = in(reg) &CONFIG); }
    let t = std::time::Instant::now();
    unsafe {
        for _ in 0..5 { asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", "tilezero tmm4", "tilezero tmm5", "tilezero tmm6", "tilezero tmm7"); }
        if mode == "reg" {
            asm!("tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm5, [{a} + {s}*1]", "tileloadd tmm6, [{a} + {s}*1]", "tileloadd tmm7, [{a} + {s}*1]", a = in(reg) base, s = in(reg) 64usize);
            for _ in 0..n {
                asm!("tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7");
            }
        } else if mode == "call" {
            // calls of `kb` chunks, A and B from 64 KB, C stored to a 768 KB area, 32x32 tiles at row stride 2 KB
            let cbuf = vec![1u8; 768 * 1024 + 4096];
            let cb = ((cbuf.as_ptr() as usize + 63) & !63) as *mut u8;
            let calls = n / kb;
            for call in 0..calls {
                let c = if std::env::var("SCRATCH").is_ok() { cb } else { cb.add((call % 16) * 128 + (call / 16 % 12) * 32 * 2048) };
                asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3");
                if cload { asm!("tileloadd tmm0, [{c} + {s}*1]", "tileloadd tmm1, [{c} + {s}*1]", "tileloadd tmm2, [{c} + {s}*1]", "tileloadd tmm3, [{c} + {s}*1]", c = in(reg) c, s = in(reg) 2048usize); }
                for i in 0..kb {
                    // A streams through 512 KB; B cycles through kb chunks (kb*2 KB)
                    let a = base.add(((call * kb + i) % 256) * 2048);
                    let b = base.add((1 << 20) + i * 2048);
                    asm!("tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {t}*1]", "tdpbf16ps tmm0, tmm4, tmm6",
                     "tileloadd tmm7, [{b2} + {t}*1]", "tdpbf16ps tmm1, tmm4, tmm7",
                     "tileloadd tmm5, [{a2} + {s}*1]", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
                     a = in(reg) a, a2 = in(reg) a.add(1024), b = in(reg) b, b2 = in(reg) b.add(64), s = in(reg) 64usize, t = in(reg) 128usize);
                }
                let st = 2048usize;
                if !nost { asm!("tilestored [{c} + {s}*1], tmm0", "tilestored [{c1} + {s}*1], tmm1", "tilestored [{c2} + {s}*1], tmm2", "tilestored [{c3} + {s}*1], tmm3",
                    c = in(reg) c, c1 = in(reg) c.add(64), c2 = in(reg) c.add(16 * st), c3 = in(reg) c.add(16 * st + 64), s = in(reg) st); }
            }
        } else {
            // loads from a buffer of kb KB per operand, cycling
            let chunks = kb * 1024 / 2048;
            for i in 0..n {
                let c = i % chunks;
                let a = base.add(c * 2048);
                if pf > 0 {
                    let cn = (i + pf) % chunks;
                    let an = base.add(cn * 2048);
                    let bn = base.add(kb * 1024 + cn * 2048);
                    for l in 0..32 { asm!("prefetcht2 [{p}]", "prefetcht2 [{q}]", p = in(reg) an.add(l * 64), q = in(reg) bn.add(l * 64)); }
                }
                let b = if mix { base.add((1 << 20) + (c % 8) * 2048) } else { base.add(kb * 1024 + c * 2048) };
                asm!("tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {t}*1]", "tdpbf16ps tmm0, tmm4, tmm6",
                     "tileloadd tmm7, [{b2} + {t}*1]", "tdpbf16ps tmm1, tmm4, tmm7",
                     "tileloadd tmm5, [{a2} + {s}*1]", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
                     a = in(reg) a, a2 = in(reg) a.add(1024), b = in(reg) b, b2 = in(reg) b.add(64), s = in(reg) 64usize, t = in(reg) 128usize);
            }
        }
    }
    let s = t.elapsed().as_secs_f64();
    let flops = n as f64 * 4.0 * 16.0 * 16.0 * 32.0 * 2.0;
    println!("{mode} {kb}KB: {:.1} GFLOP/s/core, {:.2} ns per tdp", flops / s / 1e9, s / (n as f64 * 4.0) * 1e9);
}

//! A model of one thread's AMX tile loop in crates/kernels/src/cpu/gemm/blocked.rs, behind its
//! A_SLAB and NC_TILES: a tile of MC rows and NC columns walks B's columns (N in all, so B's
//! panels come from memory), each B panel against every A panel of the slab, 32×32 blocks of
//! D chunks (16 bf16 pairs of k each: D = 64 is k = 2048) stored into an f32 block of C.
//!   rustc -O -C target-cpu=native tools/amx-probe/tile.rs -o /tmp/amx-tile
//!   MC=384 NC=512 /tmp/amx-tile          the blocking before 2026-12-01 (1.5 MB of A)
//!   MC=256 NC=128 AHEAD=1 /tmp/amx-tile  today's: 1 MB of A, the next B panel prefetched
//! Other knobs: D (depth in chunks), N (B's columns), R (passes), LOADC=1 (each block starts from
//! C's tiles, as every KC slab after the first does, instead of zeroed ones).
use std::arch::asm;

#[repr(C, align(64))]
struct Config { palette: u8, start_row: u8, reserved: [u8; 14], colsb: [u16; 16], rows: [u8; 16] }
const CONFIG: Config = Config { palette: 1, start_row: 0, reserved: [0; 14],
    colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0], rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0] };

fn env(n: &str, d: usize) -> usize { std::env::var(n).ok().and_then(|v| v.parse().ok()).unwrap_or(d) }

/// One 32×32 block over `d` chunks as amx.rs runs it (A chunks of 2 KB, B slots of 128 bytes),
/// prefetching `per` lines a chunk from `next`; C's four tiles (loaded first when `load`) stored at
/// row stride `crs`.
#[allow(clippy::too_many_arguments)]
unsafe fn block(d: usize, a: *const u8, b: *const u8, c: *mut u8, crs: usize, next: *const u8, per: usize, load: bool) {
    if load {
        asm!("tileloadd tmm0, [{c} + {s}*1]", "tileloadd tmm1, [{c1} + {s}*1]", "tileloadd tmm2, [{c2} + {s}*1]", "tileloadd tmm3, [{c3} + {s}*1]",
            c = in(reg) c, c1 = in(reg) c.add(64), c2 = in(reg) c.add(16 * crs), c3 = in(reg) c.add(16 * crs + 64), s = in(reg) crs);
    } else {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3");
    }
    for i in 0..d {
        let (a, b) = (a.add(i * 2048), b.add(i * 2048));
        for l in 0..per { asm!("prefetcht1 [{p}]", p = in(reg) next.wrapping_add((i * per + l) * 64)); }
        asm!("tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {t}*1]", "tdpbf16ps tmm0, tmm4, tmm6",
             "tileloadd tmm7, [{b2} + {t}*1]", "tdpbf16ps tmm1, tmm4, tmm7",
             "tileloadd tmm5, [{a2} + {s}*1]", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
             a = in(reg) a, a2 = in(reg) a.add(1024), b = in(reg) b, b2 = in(reg) b.add(64), s = in(reg) 64usize, t = in(reg) 128usize);
    }
    asm!("tilestored [{c} + {s}*1], tmm0", "tilestored [{c1} + {s}*1], tmm1", "tilestored [{c2} + {s}*1], tmm2", "tilestored [{c3} + {s}*1], tmm3",
        c = in(reg) c, c1 = in(reg) c.add(64), c2 = in(reg) c.add(16 * crs), c3 = in(reg) c.add(16 * crs + 64), s = in(reg) crs);
}

/// Bytes of random bf16 values: zero pages would all map to one physical page.
fn random(n: usize) -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..n).map(|i| { x = x.wrapping_mul(1664525).wrapping_add(1013904223); if i % 2 == 1 { 0x3f + (x >> 31) as u8 * 0x80 } else { (x >> 24) as u8 } }).collect()
}

fn main() {
    let ret: i64;
    // arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
    unsafe { asm!("syscall", inlateout("rax") 158i64 => ret, in("rdi") 0x1023u64, in("rsi") 18u64, lateout("rcx") _, lateout("r11") _); }
    assert_eq!(ret, 0, "Linux refused the tile state");
    let (mc, nc, d, n, reps, ahead) = (env("MC", 256), env("NC", 128), env("D", 64), env("N", 2048), env("R", 3), env("AHEAD", 0) == 1);
    let load = env("LOADC", 0) == 1;
    let (mp, np) = (mc / 32, nc / 32);
    let (a, b) = (random(mp * d * 2048 + 64), random(n / 32 * d * 2048 + 64));
    let mut c = vec![0u8; mc * nc * 4 + 64];
    let align = |p: *const u8| ((p as usize + 63) & !63) as *const u8;
    let (a, bp, c) = (align(a.as_ptr()), align(b.as_ptr()), align(c.as_mut_ptr()) as *mut u8);
    let crs = nc * 4;
    // The next panel's 32·d lines, a share to each A panel's block, spread over its chunks.
    let lines = 32 * d;
    let share = lines.div_ceil(mp);
    let per = if ahead { share.div_ceil(d) } else { 0 };
    unsafe { asm!("ldtilecfg [{c}]", c = in(reg) &CONFIG); }
    let t = std::time::Instant::now();
    for _ in 0..reps {
        for jc in (0..n).step_by(nc) {
            for jp in 0..np {
                let panel = |q: usize| bp.wrapping_add((jc / 32 + q) % (n / 32) * d * 2048);
                for ip in 0..mp {
                    unsafe { block(d, a.add(ip * d * 2048), panel(jp), c.add(ip * 32 * crs + jp * 128), crs, panel(jp + 1).wrapping_add(ip * share * 64), per, load) };
                }
            }
        }
    }
    let flops = (reps * mc * n * d * 32 * 2) as f64;
    println!("MC={mc} NC={nc} D={d} N={n} AHEAD={ahead} LOADC={load}: {:.0} GFLOP/s", flops / t.elapsed().as_secs_f64() / 1e9);
}

//! The uniform blocks of the WGSL shaders, as #[repr(C)] Rust structs that
//! mirror each shader's struct field for field (`tests/wgsl_params.rs`
//! checks the sizes and offsets against naga's layout of the WGSL), uploaded
//! with `bytemuck::bytes_of`.

/// One mirrored struct: where it is declared and its fields' offsets.
pub struct Mirror {
    pub file: &'static str,
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [(&'static str, usize)],
}

macro_rules! wgsl_struct {
    ($(#[$m:meta])* $name:ident in $file:literal { $($f:ident: $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $f: $t),*
        }
        impl $name {
            pub const MIRROR: Mirror = Mirror {
                file: $file,
                name: stringify!($name),
                size: std::mem::size_of::<$name>(),
                fields: &[$((stringify!($f), std::mem::offset_of!($name, $f))),*],
            };
        }
    };
}

wgsl_struct!(
    /// A strided view of up to 8 dims (elementwise.wgsl, cast.wgsl).
    Strided in "common.wgsl" {
        n: u32, op: u32, dims: u32, a_off: u32,
        b_off: u32, alpha: f32, _p0: u32, _p1: u32,
        shape: [[u32; 4]; 2],
        a_str: [[u32; 4]; 2],
        b_str: [[u32; 4]; 2],
    }
);

wgsl_struct!(
    /// q/k/v/o/mask as (offset, b, h, t) strides.
    AttentionParams in "attention.wgsl" {
        b: u32, h: u32, hkv: u32, tq: u32,
        tk: u32, d: u32, scale: f32, causal: u32,
        mask_kind: u32, _p0: u32, _p1: u32, _p2: u32,
        q: [u32; 4],
        k: [u32; 4],
        v: [u32; 4],
        o: [u32; 4],
        m: [u32; 4],
    }
);

wgsl_struct!(
    /// Operands as (offset, batch, row, column) strides.
    GemmParams in "gemm.wgsl" {
        m: u32, n: u32, k: u32, batch: u32,
        alpha: f32, beta: f32, _p0: u32, _p1: u32,
        a: [u32; 4],
        b: [u32; 4],
        c: [u32; 4],
    }
);

wgsl_struct!(
    /// im2col's image and window, or concat's rows.
    LayoutParams in "layout.wgsl" {
        n: u32, c: u32, h: u32, w: u32,
        k: u32, stride: u32, pad: u32, oh: u32,
        ow: u32, total: u32, inner_x: u32, inner_y: u32,
        at: u32, _p0: u32, _p1: u32, _p2: u32,
    }
);

wgsl_struct!(NormParams in "norm.wgsl" { rows: u32, n: u32, eps: f32, _p0: u32 });

wgsl_struct!(RopeParams in "rope.wgsl" { rows: u32, t: u32, inner: u32, d: u32 });

wgsl_struct!(ReduceParams in "reduce.wgsl" { rows: u32, n: u32, mean: u32, _p0: u32 });

/// Every mirrored struct.
pub const MIRRORS: &[Mirror] = &[
    Strided::MIRROR,
    AttentionParams::MIRROR,
    GemmParams::MIRROR,
    LayoutParams::MIRROR,
    NormParams::MIRROR,
    RopeParams::MIRROR,
    ReduceParams::MIRROR,
];

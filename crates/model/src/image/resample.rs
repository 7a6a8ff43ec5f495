//! Resizing 8-bit images the way Pillow's `Image.resize` does, bit for bit:
//! a separable convolution (horizontal pass, then vertical) whose support
//! widens by the scale when downsampling, coefficients normalised per output
//! pixel and rounded to 22-bit fixed point, results rounded and clipped to
//! uint8 between the passes.
//!
//! Images are interleaved rows: H rows of W pixels of C channels, u8.

/// Pillow's resampling filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Bilinear,
    Bicubic,
}

impl Filter {
    /// The filter of PIL's resample code (`Image.Resampling`): 2 bilinear, 3 bicubic.
    pub fn from_pil(code: i64) -> Option<Filter> {
        match code {
            2 => Some(Filter::Bilinear),
            3 => Some(Filter::Bicubic),
            _ => None,
        }
    }

    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear => (1.0 - x).max(0.0),
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// For each output pixel: the first input pixel and its fixed-point weights.
struct Coeffs {
    first: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coeffs(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) truncation, then clamped, as Pillow does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let w: Vec<f64> = (xmin..xmax).map(|x| filter.weight((x as f64 - center + 0.5) / filterscale)).collect();
        let total: f64 = w.iter().sum();
        let fixed = w
            .iter()
            .map(|&k| {
                let k = if total != 0.0 { k / total } else { k };
                let s = k * (1u32 << PRECISION_BITS) as f64;
                (if k < 0.0 { s - 0.5 } else { s + 0.5 }) as i32
            })
            .collect();
        first.push(xmin);
        weights.push(fixed);
    }
    Coeffs { first, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along the axis whose stride (in elements) is `step`: `lines`
/// independent lines of `in_len` samples, each `line_stride` apart.
#[allow(clippy::too_many_arguments)]
fn pass(
    src: &[u8],
    dst: &mut [u8],
    c: &Coeffs,
    lines: usize,
    line_stride_in: usize,
    line_stride_out: usize,
    step_in: usize,
    step_out: usize,
    channels: usize,
) {
    let half = 1i64 << (PRECISION_BITS - 1);
    for line in 0..lines {
        for (o, (&x0, w)) in c.first.iter().zip(&c.weights).enumerate() {
            for ch in 0..channels {
                let mut acc = half;
                for (j, &k) in w.iter().enumerate() {
                    acc += src[line * line_stride_in + (x0 + j) * step_in + ch] as i64 * k as i64;
                }
                dst[line * line_stride_out + o * step_out + ch] = clip8(acc);
            }
        }
    }
}

/// Resizes an interleaved u8 image of w×h pixels with `channels` channels to nw×nh.
pub fn resize(src: &[u8], w: usize, h: usize, channels: usize, nw: usize, nh: usize, filter: Filter) -> Vec<u8> {
    assert_eq!(src.len(), w * h * channels, "image bytes do not match its size");
    let mut img = src.to_vec();
    let mut cw = w;
    if nw != w {
        let c = coeffs(w, nw, filter);
        let mut out = vec![0u8; nw * h * channels];
        pass(&img, &mut out, &c, h, w * channels, nw * channels, channels, channels, channels);
        img = out;
        cw = nw;
    }
    if nh != h {
        let c = coeffs(h, nh, filter);
        let mut out = vec![0u8; cw * nh * channels];
        // Columns are the lines: one per (x, channel) pair, stepping a row at a time.
        pass(&img, &mut out, &c, cw, channels, channels, cw * channels, cw * channels, channels);
        img = out;
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant_images_survive() {
        let img: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize(&img, 5, 4, 3, 5, 4, Filter::Bicubic), img);
        let flat = vec![77u8; 9 * 7 * 3];
        assert!(resize(&flat, 9, 7, 3, 4, 13, Filter::Bicubic).iter().all(|&v| v == 77));
        assert!(resize(&flat, 9, 7, 3, 20, 3, Filter::Bilinear).iter().all(|&v| v == 77));
    }

    #[test]
    fn bicubic_weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(97, 40), (40, 97), (61, 40), (5, 3)] {
            for w in coeffs(i, o, Filter::Bicubic).weights {
                let s: i64 = w.iter().map(|&k| k as i64).sum();
                assert!((s - (1 << PRECISION_BITS)).abs() <= w.len() as i64, "{s}");
            }
        }
    }
}

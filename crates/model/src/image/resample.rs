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

/// The taps of output samples `outs` of a resize from `in_size` to `out_size`.
fn coeffs(in_size: usize, out_size: usize, outs: std::ops::Range<usize>, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let mut first = Vec::with_capacity(outs.len());
    let mut weights = Vec::with_capacity(outs.len());
    for xx in outs {
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
    resize_window(src, w, h, channels, (nw, nh), (0..nw, 0..nh), filter)
}

/// The pixels (columns `xs`, rows `ys`) of `src` resized to `size` = (nw,
/// nh), computed alone: each output sample depends only on its own taps, so
/// this equals cropping the whole resize, without making it (a 1 × 4000
/// image resized to a shortest edge of 336 would be 336 × 1.3 million).
pub fn resize_window(
    src: &[u8],
    w: usize,
    h: usize,
    channels: usize,
    size: (usize, usize),
    (xs, ys): (std::ops::Range<usize>, std::ops::Range<usize>),
    filter: Filter,
) -> Vec<u8> {
    assert_eq!(src.len(), w * h * channels, "image bytes do not match its size");
    let (nw, nh) = size;
    // Horizontal first, then vertical, as Pillow; an axis kept at its size is cropped instead.
    let cw = xs.len();
    let mut img = vec![0u8; cw * h * channels];
    if nw != w {
        let c = coeffs(w, nw, xs, filter);
        pass(src, &mut img, &c, h, w * channels, cw * channels, channels, channels, channels);
    } else {
        for y in 0..h {
            let row = &src[(y * w + xs.start) * channels..(y * w + xs.end) * channels];
            img[y * cw * channels..(y + 1) * cw * channels].copy_from_slice(row);
        }
    }
    if nh != h {
        let c = coeffs(h, nh, ys.clone(), filter);
        let mut out = vec![0u8; cw * ys.len() * channels];
        // Columns are the lines: one per (x, channel) pair, stepping a row at a time.
        pass(&img, &mut out, &c, cw, channels, channels, cw * channels, cw * channels, channels);
        out
    } else {
        img[ys.start * cw * channels..ys.end * cw * channels].to_vec()
    }
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
            for w in coeffs(i, o, 0..o, Filter::Bicubic).weights {
                let s: i64 = w.iter().map(|&k| k as i64).sum();
                assert!((s - (1 << PRECISION_BITS)).abs() <= w.len() as i64, "{s}");
            }
        }
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    /// A window of the resize equals the same crop of the whole resize, for
    /// down- and upscaling, each axis resized or kept.
    #[test]
    fn a_window_equals_the_crop_of_the_whole_resize() {
        let (w, h) = (37, 23);
        let src: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        for (nw, nh) in [(60, 40), (20, 11), (37, 50), (15, 23)] {
            let whole = resize(&src, w, h, 3, nw, nh, Filter::Bicubic);
            let (xs, ys) = (nw / 4..nw - nw / 3, 1..nh - 2);
            let win = resize_window(&src, w, h, 3, (nw, nh), (xs.clone(), ys.clone()), Filter::Bicubic);
            for (j, y) in ys.clone().enumerate() {
                let row = &whole[(y * nw + xs.start) * 3..(y * nw + xs.end) * 3];
                assert_eq!(&win[j * xs.len() * 3..(j + 1) * xs.len() * 3], row, "{nw}×{nh} row {y}");
            }
        }
    }
}

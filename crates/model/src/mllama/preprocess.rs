//! `MllamaImageProcessor` (PIL backend): pick the tile canvas, resize keeping
//! the aspect ratio (PIL bilinear on uint8), zero-pad bottom/right, rescale
//! and normalise (so the padding becomes −mean/std), split into tiles row by
//! row, pad to `max_image_tiles` with all-zero tiles.
//!
//! Shapes: T = max_image_tiles, S tile size; pixels [T, 3, S, S].

use iris_tensor::Tensor;
use serde_json::Value;

use crate::error::Result;
use crate::family::Pixels;
use crate::image::{Filter, RgbImage};
use crate::mllama::config::tile_grids;

/// The processor's settings (the `image_processor` of processor_config.json
/// or preprocessor_config.json).
#[derive(Clone, Debug)]
pub struct TileProcessor {
    pub tile: usize,
    pub max_image_tiles: usize,
    pub filter: Filter,
    pub do_rescale: bool,
    pub rescale_factor: f64,
    pub do_normalize: bool,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

impl TileProcessor {
    pub fn from_value(v: &Value, tile: usize, max_tiles: usize) -> std::result::Result<TileProcessor, String> {
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let b = |k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        let triple = |k: &str| -> std::result::Result<[f64; 3], String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok([0.5; 3]), // IMAGENET_STANDARD_MEAN / STD
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0); 3]),
                Some(x) => serde_json::from_value(x.clone()).map_err(|e| format!("{k}: {e}")),
            }
        };
        let size = v.get("size").and_then(|s| s.get("height")).and_then(Value::as_u64).map_or(tile, |n| n as usize);
        let resample = v.get("resample").and_then(Value::as_i64).unwrap_or(2);
        let max_image_tiles = v.get("max_image_tiles").and_then(Value::as_u64).map_or(max_tiles, |n| n as usize);
        if max_image_tiles == 0 || size == 0 {
            return Err(format!("max_image_tiles {max_image_tiles} and tile size {size}: both must be at least 1"));
        }
        crate::limits::within_limits("", &[("max_image_tiles", max_image_tiles, 64), ("size", size, 1 << 14)])?;
        Ok(TileProcessor {
            tile: size,
            max_image_tiles,
            filter: Filter::from_pil(resample).ok_or(format!("resample {resample} is not supported"))?,
            do_rescale: b("do_rescale", true),
            rescale_factor: f("rescale_factor").unwrap_or(1.0 / 255.0),
            do_normalize: b("do_normalize", true),
            mean: triple("image_mean")?,
            std: triple("image_std")?,
        })
    }

    /// The canvas (rows, cols) in tiles: the smallest upscale ≥ 1 if any,
    /// else the largest downscale; ties go to the smallest area.
    pub fn canvas(&self, h: usize, w: usize) -> (usize, usize) {
        let grids = tile_grids(self.max_image_tiles);
        let scale = |&(r, c): &(usize, usize)| {
            let (sh, sw) = ((r * self.tile) as f64 / h as f64, (c * self.tile) as f64 / w as f64);
            if sw > sh {
                sh
            } else {
                sw
            }
        };
        let scales: Vec<f64> = grids.iter().map(scale).collect();
        let up = scales.iter().copied().filter(|&s| s >= 1.0).fold(f64::INFINITY, f64::min);
        let pick = if up.is_finite() { up } else { scales.iter().copied().fold(f64::NEG_INFINITY, f64::max) };
        grids
            .iter()
            .zip(&scales)
            .filter(|(_, &s)| s == pick)
            .map(|(g, _)| *g)
            .min_by_key(|&(r, c)| r * c)
            .expect("at least the 1×1 grid")
    }

    /// The resized size (h, w) inside a canvas of (ch, cw) pixels.
    fn fit(&self, h: usize, w: usize, ch: usize, cw: usize) -> (usize, usize) {
        let tw = w.clamp(self.tile, cw);
        let th = h.clamp(self.tile, ch);
        let (sh, sw) = (th as f64 / h as f64, tw as f64 / w as f64);
        if sw < sh {
            (((h as f64 * sw).floor() as usize).max(1).min(th), tw)
        } else {
            (th, ((w as f64 * sh).floor() as usize).max(1).min(tw))
        }
    }

    pub fn preprocess(&self, img: &RgbImage) -> Result<Pixels> {
        let (rows, cols) = self.canvas(img.height, img.width);
        let s = self.tile;
        let (nh, nw) = self.fit(img.height, img.width, rows * s, cols * s);
        let img = img.resize(nw, nh, self.filter);
        let t_max = self.max_image_tiles;
        let mut out = vec![0f32; t_max * 3 * s * s];
        for c in 0..3 {
            let pad = {
                let mut x = 0.0;
                if self.do_rescale {
                    x *= self.rescale_factor;
                }
                if self.do_normalize {
                    x = (x - self.mean[c]) / self.std[c];
                }
                x
            };
            for y in 0..rows * s {
                for x in 0..cols * s {
                    let v = if y < nh && x < nw {
                        let mut v = img.data[(y * nw + x) * 3 + c] as f64;
                        if self.do_rescale {
                            v *= self.rescale_factor;
                        }
                        if self.do_normalize {
                            v = (v - self.mean[c]) / self.std[c];
                        }
                        v
                    } else {
                        pad
                    };
                    let tile = (y / s) * cols + x / s;
                    out[((tile * 3 + c) * s + y % s) * s + x % s] = v as f32;
                }
            }
        }
        let id = tile_grids(t_max).iter().position(|&g| g == (rows, cols)).expect("canvas is a grid") + 1;
        Ok(Pixels { pixels: Tensor::from_vec(out, &[t_max, 3, s, s])?, aspect_ratio_id: id, tiles: rows * cols })
    }
}

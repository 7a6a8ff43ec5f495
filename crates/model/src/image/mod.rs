//! Images in: decoding (the `image` crate), and `CLIPImageProcessor`'s
//! preprocessing with its PIL backend — RGB, shortest-edge resize on uint8,
//! center crop, rescale, normalise — driven by the checkpoint's processor
//! config.

pub mod resample;

use std::path::Path;

use iris_tensor::Tensor;
use serde_json::Value;

pub use resample::Filter;

use crate::error::{Error, Result};

/// An 8-bit RGB image, rows of interleaved pixels.
#[derive(Clone, Debug)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Decodes a file (PNG, JPEG, WebP, BMP, GIF) and converts it to RGB as
    /// PIL's `convert("RGB")` does (alpha dropped, grey replicated).
    pub fn open(path: &Path) -> Result<RgbImage> {
        let err = |msg: String| Error::Image { path: path.into(), msg };
        let reader = image::ImageReader::open(path)
            .map_err(|e| err(format!("cannot open: {e}")))?
            .with_guessed_format()
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if reader.format().is_none() {
            return Err(err("not an image (unknown format)".into()));
        }
        let img = reader.decode().map_err(|e| err(format!("cannot decode: {e}")))?.to_rgb8();
        let (w, h) = img.dimensions();
        Ok(RgbImage { width: w as usize, height: h as usize, data: img.into_raw() })
    }

    pub fn resize(&self, width: usize, height: usize, filter: Filter) -> RgbImage {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let data = resample::resize(&self.data, self.width, self.height, 3, width, height, filter);
        RgbImage { width, height, data }
    }
}

/// The target of a resize: `shortest_edge` keeps the aspect ratio.
#[derive(Clone, Debug, PartialEq)]
pub enum Size {
    ShortestEdge(usize),
    Exact { height: usize, width: usize },
}

/// `CLIPImageProcessor`'s settings (preprocessor_config.json, or the
/// `image_processor` entry of processor_config.json).
#[derive(Clone, Debug)]
pub struct ClipProcessor {
    pub do_resize: bool,
    pub size: Size,
    pub filter: Filter,
    pub do_center_crop: bool,
    pub crop: (usize, usize),
    pub do_rescale: bool,
    pub rescale_factor: f64,
    pub do_normalize: bool,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

pub const OPENAI_CLIP_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
pub const OPENAI_CLIP_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

impl ClipProcessor {
    /// The class defaults, at the vision tower's `image_size`.
    pub fn for_size(s: usize) -> ClipProcessor {
        ClipProcessor {
            do_resize: true,
            size: Size::ShortestEdge(s),
            filter: Filter::Bicubic,
            do_center_crop: true,
            crop: (s, s),
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            mean: OPENAI_CLIP_MEAN,
            std: OPENAI_CLIP_STD,
        }
    }

    /// Settings from a processor config object; absent keys keep the class defaults.
    pub fn from_value(v: &Value, image_size: usize) -> std::result::Result<ClipProcessor, String> {
        let mut p = ClipProcessor::for_size(image_size);
        let flag = |k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        p.do_resize = flag("do_resize", p.do_resize);
        p.do_center_crop = flag("do_center_crop", p.do_center_crop);
        p.do_rescale = flag("do_rescale", p.do_rescale);
        p.do_normalize = flag("do_normalize", p.do_normalize);
        let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
        match v.get("size") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => p.size = Size::ShortestEdge(n.as_u64().unwrap_or(0) as usize),
            Some(s) => {
                p.size = match (int(s, "shortest_edge"), int(s, "height"), int(s, "width")) {
                    (Some(e), _, _) => Size::ShortestEdge(e),
                    (None, Some(height), Some(width)) => Size::Exact { height, width },
                    _ => return Err(format!("size {s} has neither shortest_edge nor height and width")),
                }
            }
        }
        match v.get("crop_size") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => p.crop = (n.as_u64().unwrap_or(0) as usize, n.as_u64().unwrap_or(0) as usize),
            Some(c) => {
                p.crop = int(c, "height").zip(int(c, "width")).ok_or(format!("crop_size {c} needs height and width"))?
            }
        }
        if let Some(r) = v.get("resample").and_then(Value::as_i64) {
            p.filter = Filter::from_pil(r).ok_or(format!("resample {r} is not supported (2 bilinear, 3 bicubic)"))?;
        }
        if let Some(f) = v.get("rescale_factor").and_then(Value::as_f64) {
            p.rescale_factor = f;
        }
        let triple = |k: &str, d: [f64; 3]| -> std::result::Result<[f64; 3], String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(d),
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0); 3]),
                Some(x) => serde_json::from_value::<[f64; 3]>(x.clone()).map_err(|e| format!("{k}: {e}")),
            }
        };
        p.mean = triple("image_mean", p.mean)?;
        p.std = triple("image_std", p.std)?;
        Ok(p)
    }

    /// The uint8 image after resize and center crop (zero-padded where the
    /// crop is larger than the image, as transformers does).
    pub fn resize_and_crop(&self, img: &RgbImage) -> RgbImage {
        let mut img = img.clone();
        if self.do_resize && self.do_center_crop {
            // Only the pixels the crop keeps are resized (see `resample::resize_window`).
            let (nw, nh) = self.resized(img.width, img.height);
            let (ch, cw) = self.crop;
            let (top, left) = ((nh as i64 - ch as i64).div_euclid(2), (nw as i64 - cw as i64).div_euclid(2));
            let (y0, x0) = (top.max(0) as usize, left.max(0) as usize);
            let (y1, x1) = (((top + ch as i64) as usize).min(nh), ((left + cw as i64) as usize).min(nw));
            let data =
                resample::resize_window(&img.data, img.width, img.height, 3, (nw, nh), (x0..x1, y0..y1), self.filter);
            let window = RgbImage { width: x1 - x0, height: y1 - y0, data };
            // The window sits where the crop box meets the resized image; zeros around it.
            let (ty, tx) = (top - y0 as i64, left - x0 as i64);
            return center_crop_at(&window, ch, cw, ty, tx);
        }
        if self.do_resize {
            let (nw, nh) = self.resized(img.width, img.height);
            img = img.resize(nw, nh, self.filter);
        }
        if self.do_center_crop {
            img = center_crop(&img, self.crop.0, self.crop.1);
        }
        img
    }

    /// The (width, height) the resize step makes of a w × h image.
    fn resized(&self, w: usize, h: usize) -> (usize, usize) {
        match self.size {
            Size::Exact { height, width } => (width, height),
            Size::ShortestEdge(s) => {
                let (short, long) = if w <= h { (w, h) } else { (h, w) };
                let long_new = (s as f64 * long as f64 / short as f64) as usize;
                if w <= h {
                    (s, long_new)
                } else {
                    (long_new, s)
                }
            }
        }
    }

    /// Pixel values [1, 3, H, W] in f32.
    pub fn preprocess(&self, img: &RgbImage) -> Result<Tensor> {
        let img = self.resize_and_crop(img);
        let (w, h) = (img.width, img.height);
        let mut out = vec![0f32; 3 * h * w];
        for c in 0..3 {
            for i in 0..h * w {
                let mut x = img.data[i * 3 + c] as f64;
                if self.do_rescale {
                    x *= self.rescale_factor;
                }
                if self.do_normalize {
                    x = (x - self.mean[c]) / self.std[c];
                }
                out[c * h * w + i] = x as f32;
            }
        }
        Ok(Tensor::from_vec(out, &[1, 3, h, w])?)
    }
}

/// The (ch, cw) window at offsets ⌊(h−ch)/2⌋, ⌊(w−cw)/2⌋ (floor division, as
/// transformers); where the image is smaller than the window, zeros.
pub fn center_crop(img: &RgbImage, ch: usize, cw: usize) -> RgbImage {
    let (h, w) = (img.height as i64, img.width as i64);
    center_crop_at(img, ch, cw, (h - ch as i64).div_euclid(2), (w - cw as i64).div_euclid(2))
}

/// The (ch, cw) window whose top-left corner is at (top, left) of `img`; zeros outside it.
fn center_crop_at(img: &RgbImage, ch: usize, cw: usize, top: i64, left: i64) -> RgbImage {
    let (h, w) = (img.height as i64, img.width as i64);
    let mut data = vec![0u8; ch * cw * 3];
    for y in 0..ch as i64 {
        for x in 0..cw as i64 {
            let (sy, sx) = (y + top, x + left);
            if (0..h).contains(&sy) && (0..w).contains(&sx) {
                let s = ((sy * w + sx) * 3) as usize;
                let d = ((y * cw as i64 + x) * 3) as usize;
                data[d..d + 3].copy_from_slice(&img.data[s..s + 3]);
            }
        }
    }
    RgbImage { width: cw, height: ch, data }
}

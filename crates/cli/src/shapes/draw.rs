//! Drawing a scene as different drawing programs would: the background
//! (solid, gradient or noisy grey), each shape's outline as a polygon or a
//! circle, edges anti-aliased either analytically (from the signed distance)
//! or by supersampling, blending in sRGB or in linear light, jittered
//! colours, sometimes a darker outline and a slight blur.
//!
//! Coordinates: pixels, x to the right, y down; a pixel's centre is at +0.5.

use super::scene::{Object, Rng, Scene};

/// The sRGB colour of each of scene::COLORS.
const RGB: [[f32; 3]; 8] = [
    [215.0, 35.0, 35.0],
    [35.0, 165.0, 55.0],
    [40.0, 75.0, 215.0],
    [240.0, 215.0, 35.0],
    [140.0, 55.0, 180.0],
    [245.0, 140.0, 25.0],
    [245.0, 245.0, 245.0],
    [20.0, 20.0, 20.0],
];

/// How one picture is drawn.
pub struct Style {
    pub side: usize,
    /// 0 solid, 1 gradient, 2 noisy.
    pub background: u8,
    /// Grey levels of the background's two ends.
    pub greys: (f32, f32),
    pub noise: f32,
    /// None: analytic edges of this width; Some(n): n × n samples a pixel.
    pub supersample: Option<usize>,
    pub edge: f32,
    pub linear_blend: bool,
    pub outline: bool,
    pub blur: Option<f32>,
}

impl Style {
    /// A style from the usual ranges, or (shifted) from the ones training sees least.
    pub fn sample(rng: &mut Rng, shifted: bool) -> Style {
        let (side, background, grey) = if shifted {
            let bg = if rng.chance(0.6) { 2 } else { 1 };
            let g = if rng.chance(0.5) { rng.range(70.0, 100.0) } else { rng.range(180.0, 205.0) };
            (193 + rng.below(64), bg, g)
        } else {
            let bg = [0, 0, 0, 0, 1, 1, 1, 1, 2][rng.below(9)];
            (96 + rng.below(97), bg, rng.range(100.0, 180.0))
        };
        let spread = if background == 1 { rng.range(15.0, 45.0) } else { 0.0 };
        Style {
            side,
            background,
            greys: (grey - spread / 2.0, grey + spread / 2.0),
            noise: if background == 2 { rng.range(4.0, if shifted { 16.0 } else { 10.0 }) } else { 0.0 },
            supersample: if rng.chance(0.5) { Some(2 + rng.below(3)) } else { None },
            edge: rng.range(0.6, 1.5),
            linear_blend: rng.chance(0.5),
            outline: rng.chance(0.15),
            blur: rng.chance(0.25).then(|| rng.range(0.4, 1.0)),
        }
    }
}

/// Distance from `p` to the segment a–b.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// Signed distance to a closed polygon (negative inside; even-odd rule).
fn polygon_sdf(p: (f32, f32), poly: &[(f32, f32)]) -> f32 {
    let mut d = f32::MAX;
    let mut inside = false;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
        d = d.min(segment_distance(p, a, b));
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < a.0 + (p.1 - a.1) / (b.1 - a.1) * (b.0 - a.0) {
            inside = !inside;
        }
    }
    if inside {
        -d
    } else {
        d
    }
}

/// A shape's outline: None for the circle, else its polygon (pixels), with
/// the proportions and a small rotation drawn from `rng`.
fn outline(o: &Object, side: f32, rng: &mut Rng) -> Option<Vec<(f32, f32)>> {
    let (cx, cy, r) = (o.x * side, o.y * side, o.radius * side);
    let turn = rng.range(-0.2, 0.2);
    let polar = |a: f32, d: f32| (cx + d * (a + turn).sin(), cy - d * (a + turn).cos());
    let tau = std::f32::consts::TAU;
    let pts: Vec<(f32, f32)> = match o.shape {
        0 => return None,
        1 => (0..4).map(|i| polar(tau * (i as f32 + 0.5) / 4.0, r * rng.range(0.95, 1.05))).collect(),
        2 => (0..3).map(|i| polar(tau * i as f32 / 3.0, r * 1.05)).collect(),
        3 => {
            let inner = rng.range(0.38, 0.5);
            (0..10).map(|i| polar(tau * i as f32 / 10.0, if i % 2 == 0 { r * 1.05 } else { r * inner })).collect()
        }
        _ => {
            let w = rng.range(0.28, 0.4);
            let arm = [(w, 1.0), (w, w), (1.0, w), (1.0, -w), (w, -w), (w, -1.0)];
            let mut pts = Vec::with_capacity(12);
            for (sx, sy) in [(1.0, 1.0), (-1.0, -1.0)] {
                for (u, v) in arm {
                    let (u, v) = (sx * u * r * 0.95, sy * v * r * 0.95);
                    let (s, c) = turn.sin_cos();
                    pts.push((cx + u * c - v * s, cy - (u * s + v * c)));
                }
            }
            pts
        }
    };
    Some(pts)
}

fn to_linear(v: f32) -> f32 {
    (v / 255.0).powf(2.2)
}

fn from_linear(v: f32) -> f32 {
    255.0 * v.max(0.0).powf(1.0 / 2.2)
}

/// The scene drawn in `style`: RGB bytes, `style.side` square.
pub fn render(scene: &Scene, style: &Style, rng: &mut Rng) -> Vec<u8> {
    let s = style.side;
    let mut px = vec![0f32; s * s * 3];
    let angle = rng.range(0.0, std::f32::consts::TAU);
    let (ca, sa) = angle.sin_cos();
    for y in 0..s {
        for x in 0..s {
            let t = ((x as f32 / s as f32 - 0.5) * ca + (y as f32 / s as f32 - 0.5) * sa + 0.5).clamp(0.0, 1.0);
            let g = style.greys.0 + (style.greys.1 - style.greys.0) * t;
            let tint = [rng.range(-2.0, 2.0), 0.0, rng.range(-2.0, 2.0)];
            for c in 0..3 {
                px[(y * s + x) * 3 + c] = g + style.noise * rng.normal() + tint[c] * f32::from(style.background > 0);
            }
        }
    }
    for o in &scene.objects {
        let poly = outline(o, s as f32, rng);
        let (cx, cy, r) = (o.x * s as f32, o.y * s as f32, o.radius * s as f32);
        let sdf = |p: (f32, f32)| match &poly {
            None => ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt() - r,
            Some(pts) => polygon_sdf(p, pts),
        };
        let color: Vec<f32> = RGB[o.color].iter().map(|&v| (v + rng.range(-15.0, 15.0)).clamp(0.0, 255.0)).collect();
        let dark: Vec<f32> = color.iter().map(|v| v * 0.6).collect();
        let (lo, hi) = ((cx - r * 1.2 - 2.0).max(0.0) as usize, ((cx + r * 1.2 + 2.0) as usize).min(s - 1));
        let (top, bottom) = ((cy - r * 1.2 - 2.0).max(0.0) as usize, ((cy + r * 1.2 + 2.0) as usize).min(s - 1));
        for y in top..=bottom {
            for x in lo..=hi {
                let centre = (x as f32 + 0.5, y as f32 + 0.5);
                let cover = match style.supersample {
                    None => (0.5 - sdf(centre) / style.edge).clamp(0.0, 1.0),
                    Some(n) => {
                        let mut hits = 0;
                        for j in 0..n {
                            for i in 0..n {
                                let p =
                                    (x as f32 + (i as f32 + 0.5) / n as f32, y as f32 + (j as f32 + 0.5) / n as f32);
                                hits += usize::from(sdf(p) < 0.0);
                            }
                        }
                        hits as f32 / (n * n) as f32
                    }
                };
                if cover <= 0.0 {
                    continue;
                }
                let ink = if style.outline && sdf(centre) > -1.2 { &dark } else { &color };
                for c in 0..3 {
                    let v = &mut px[(y * s + x) * 3 + c];
                    *v = if style.linear_blend {
                        from_linear(to_linear(*v) * (1.0 - cover) + to_linear(ink[c]) * cover)
                    } else {
                        *v * (1.0 - cover) + ink[c] * cover
                    };
                }
            }
        }
    }
    if let Some(sigma) = style.blur {
        px = blur(&px, s, sigma);
    }
    px.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()
}

/// A separable Gaussian blur of an RGB f32 image (edges clamped).
fn blur(px: &[f32], s: usize, sigma: f32) -> Vec<f32> {
    let k: Vec<f32> = (-2..=2).map(|i: i32| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f32 = k.iter().sum();
    let pass = |src: &[f32], horizontal: bool| {
        let mut out = vec![0f32; src.len()];
        for y in 0..s {
            for x in 0..s {
                for c in 0..3 {
                    let mut acc = 0.0;
                    for (t, w) in k.iter().enumerate() {
                        let d = t as i64 - 2;
                        let (xx, yy) = if horizontal { (x as i64 + d, y as i64) } else { (x as i64, y as i64 + d) };
                        let (xx, yy) = (xx.clamp(0, s as i64 - 1) as usize, yy.clamp(0, s as i64 - 1) as usize);
                        acc += w * src[(yy * s + xx) * 3 + c];
                    }
                    out[(y * s + x) * 3 + c] = acc / norm;
                }
            }
        }
        out
    };
    pass(&pass(px, true), false)
}

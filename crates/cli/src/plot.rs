//! `iris plot`: training loss curves (the `log.jsonl` of `iris train` runs)
//! as one PNG, a line per run (the loss and its running mean over 50 steps).
//! Text is drawn with a TrueType font found on the system (DejaVu Sans or
//! Liberation Sans) or named by `IRIS_FONT`.

use std::path::PathBuf;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(clap::Args)]
pub struct PlotArgs {
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "training loss")]
    title: String,
    /// log.jsonl files (or run folders holding one), each `LABEL=PATH` or `PATH`.
    #[arg(required = true)]
    runs: Vec<String>,
}

const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

fn load_font() -> Res<()> {
    let path = std::env::var("IRIS_FONT")
        .ok()
        .or_else(|| FONTS.iter().find(|p| std::path::Path::new(p).is_file()).map(|p| p.to_string()));
    let path = path.ok_or("no TrueType font found: set IRIS_FONT to a .ttf file")?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{path}: not a usable font"))?;
    Ok(())
}

/// (step, loss) of every line of a log.
fn read_log(path: &std::path::Path) -> Res<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let (Some(s), Some(l)) = (v["step"].as_f64(), v["loss"].as_f64()) {
            out.push((s, l));
        }
    }
    // A resumed run appends: keep the last record of each step.
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.dedup_by(|b, a| {
        a.0 == b.0 && {
            *a = *b;
            true
        }
    });
    Ok(out)
}

pub fn run(a: &PlotArgs) -> Res<()> {
    load_font()?;
    let mut series = Vec::new();
    for r in &a.runs {
        let (label, path) = match r.split_once('=') {
            Some((l, p)) => (l.to_string(), PathBuf::from(p)),
            None => (r.clone(), PathBuf::from(r)),
        };
        let path = if path.is_dir() { path.join("log.jsonl") } else { path };
        series.push((label, read_log(&path)?));
    }
    let max_step = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0)).fold(1.0, f64::max);
    let losses = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.1));
    let (lo, hi) = losses.fold((f64::MAX, f64::MIN), |(lo, hi), l| (lo.min(l), hi.max(l)));
    let (lo, hi) = (lo.max(1e-4), hi.max(lo * 10.0));
    let (w, h) = (900u32, 560u32);
    // Drawn into memory and saved by the image crate (plotters' own encoder would pull in a second one).
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&a.title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_step, (lo..hi).log_scale())?;
        chart.configure_mesh().x_desc("step").y_desc("loss (log scale)").draw()?;
        for (i, (label, s)) in series.iter().enumerate() {
            let color = Palette99::pick(i);
            chart.draw_series(LineSeries::new(s.iter().copied(), color.mix(0.25)))?;
            let mean: Vec<(f64, f64)> = (0..s.len())
                .map(|j| {
                    let w = &s[j.saturating_sub(49)..=j];
                    (s[j].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(mean, color.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
    }
    let img = image::RgbImage::from_raw(w, h, pixels).ok_or("plot buffer")?;
    img.save(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

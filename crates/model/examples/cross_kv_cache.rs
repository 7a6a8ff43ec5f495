//! What the cross-attention KV cache saves: the cost of one Mllama decode
//! step with the image keys/values projected once at prefill (iris) against
//! one that projects them again at every step.
//!
//! IRIS_FIXTURE_OUT=/tmp tools/fixtures/run.sh mllama-bench
//! cargo run --release -p iris-model --example cross_kv_cache -- /tmp/mllama-bench [steps]

use std::time::Instant;

use iris_model::image::RgbImage;
use iris_model::mllama::RowMask;
use iris_model::{KvCache, LoadOptions, Pipeline, Trace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(args.first().ok_or("usage: cross_kv_cache MODEL_DIR [steps]")?);
    let steps: usize = args.get(1).map_or(Ok(16), |s| s.parse())?;
    let pipe = Pipeline::load(&dir, LoadOptions::default())?;
    let m = pipe.mllama();
    let tp = &m.processor;
    let img = tp.preprocess(&RgbImage::open(&dir.join("image.png"))?)?;
    let states = m.encode_image(&img, &mut Trace::off())?;
    let ids = pipe.prompt_ids("<|image|>What is shown in this picture? Answer:", 1, false)?;
    let rows = m.mask_rows(&ids, &[img.tiles]);
    let tt = m.cfg.vision.tile_tokens();
    let last = RowMask::new(&rows[rows.len() - 1..], tt, states.dtype(), states.device())?;
    let n = m.cfg.text.num_hidden_layers;
    let time = |reproject: bool| -> Result<f64, Box<dyn std::error::Error>> {
        let mut kv = m.cross_states(&states)?;
        let mut cache = KvCache::new(n, ids.len() + steps);
        m.forward(
            &m.embed(&ids)?,
            &mut cache,
            Some((&kv, &RowMask::new(&rows, tt, states.dtype(), states.device())?)),
            &mut Trace::off(),
        )?;
        let t = Instant::now();
        for i in 0..steps {
            if reproject {
                kv = m.cross_states(&states)?;
            }
            m.forward(&m.embed(&[(i % 200) as u32 + 10])?, &mut cache, Some((&kv, &last)), &mut Trace::off())?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e3 / steps as f64)
    };
    let (cached, again) = (time(false)?, time(true)?);
    println!(
        "{} image tokens ({} tiles × {tt}), {} cross-attention layers of {n}: decode step {cached:.2} ms with the \
         cross-attention KV cache, {again:.2} ms re-projecting the image every step ({:.1}×)",
        states.shape()[0],
        m.cfg.vision.max_num_tiles,
        m.cfg.cross_attention_layers.len(),
        again / cached
    );
    Ok(())
}

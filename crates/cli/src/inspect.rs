//! `iris inspect`: what a checkpoint holds, and proof that opening it copies nothing.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// A .safetensors file, a model.safetensors.index.json, or a directory holding either.
    path: PathBuf,
}

pub fn run(args: &InspectArgs) -> Result<(), Box<dyn std::error::Error>> {
    let weights = iris_tensor::Weights::open(&args.path)?;
    let mut bytes = 0usize;
    for name in weights.names() {
        let t = weights.get(name)?;
        bytes += t.elem_count() * t.dtype().size();
        println!("{name}\t{}\t{:?}", t.dtype(), t.shape());
    }
    let rss = iris_tensor::peak_rss_bytes().map_or("unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6));
    eprintln!("{} tensors, {:.1} MB of weights; peak RSS {rss}", weights.names().len(), bytes as f64 / 1e6);
    Ok(())
}

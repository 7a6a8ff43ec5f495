//! `iris serve`: an OpenAI-compatible HTTP server (chat completions with
//! images, streaming, models, health, Prometheus metrics) over one loaded
//! model, with continuous batching (engine.rs). tokio and axum carry the
//! HTTP; the decoding runs on its own thread and the CPU kernels' pool.

mod api;
mod engine;
mod http;
mod images;
mod metrics;
mod preset;
mod stops;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iris_model::{LoadOptions, Pipeline};
use iris_tensor::DType;

use crate::bench::Dt;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A checkpoint folder or a bundled model: tiny-llava (the default) or tiny-mllama.
    #[arg(long, conflicts_with = "preset")]
    model: Option<String>,
    /// Serve a model of a real checkpoint's shape with seeded random weights and a stand-in
    /// tokenizer, for load testing: llama-3.2-1b.
    #[arg(long)]
    preset: Option<String>,
    /// With --preset: its decoder layers (default: the checkpoint's).
    #[arg(long, requires = "preset")]
    layers: Option<usize>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0: any free port (the address is printed on stderr).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// cpu, cuda (cuda:N for another GPU), wgpu.
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dt,
    /// Sequences decoded together (one batched forward per step).
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Requests waiting for a place in the batch; past them a request gets 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// Prompt tokens prefilled per step, shared by the prompts being read, so the sequences
    /// already decoding wait at most one chunk.
    #[arg(long, default_value_t = 64)]
    prefill_chunk: usize,
    /// Request bodies past this many MB get 413.
    #[arg(long, default_value_t = 20)]
    max_body_mb: usize,
    /// Images per request.
    #[arg(long, default_value_t = 4)]
    max_images: usize,
    /// Pixels of one decoded image.
    #[arg(long, default_value_t = 4096 * 4096)]
    max_image_pixels: u64,
    /// Refuse http(s) image URLs (data: URLs only).
    #[arg(long)]
    no_remote_images: bool,
    /// Let image URLs reach loopback, private and link-local addresses (a trusted network only).
    #[arg(long)]
    allow_private_image_urls: bool,
}

pub fn run(a: &ServeArgs) -> Res<()> {
    let device = crate::generate::parse_device(&a.device)?;
    let dtype = match a.dtype {
        Dt::F32 => DType::F32,
        Dt::F16 => DType::F16,
        Dt::Bf16 => DType::BF16,
    };
    if a.max_batch == 0 {
        return Err("--max-batch must be at least 1".into());
    }
    let t0 = std::time::Instant::now();
    let (pipe, model_id) = match &a.preset {
        Some(name) => (preset::pipeline(name, a.layers, dtype, device)?, name.clone()),
        None => {
            let dir = crate::bundled::resolve(a.model.as_deref())?;
            let id = match &a.model {
                Some(m) if PathBuf::from(m).is_dir() => {
                    dir.file_name().map_or_else(|| m.clone(), |n| n.to_string_lossy().into_owned())
                }
                Some(m) => m.clone(),
                None => crate::bundled::DEFAULT.to_string(),
            };
            (Pipeline::load(&dir, LoadOptions { device, dtype })?, id)
        }
    };
    eprintln!("iris: loaded {model_id} in {:.2} s ({device}, {dtype})", t0.elapsed().as_secs_f64());
    let pipe = Arc::new(pipe);
    let metrics = Arc::new(metrics::Metrics::default());
    let limits = engine::Limits { max_batch: a.max_batch, max_queue: a.max_queue, prefill_chunk: a.prefill_chunk };
    let (engine, engine_thread) = engine::Engine::start(pipe.clone(), limits, metrics.clone());
    let images = images::ImagePolicy {
        remote: !a.no_remote_images,
        allow_private: a.allow_private_image_urls,
        max_bytes: 20 << 20,
        max_pixels: a.max_image_pixels,
        timeout: Duration::from_secs(10),
        max_redirects: 3,
    };
    let client = images::client(&images);
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let state = Arc::new(http::AppState {
        pipe,
        engine,
        metrics,
        model_id,
        images,
        client,
        max_body: a.max_body_mb << 20,
        max_images: a.max_images,
        started,
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", a.host, a.port))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "iris: serving on http://{addr} (OpenAI API at /v1; Ctrl-C finishes the requests in flight, then exits)"
        );
        axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown()).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    // The router and with it the engine's handle are gone: the engine thread ends.
    let _ = engine_thread.join();
    eprintln!("iris: stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let int = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = int => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = int.await;
    eprintln!("iris: shutting down: finishing the requests in flight");
}

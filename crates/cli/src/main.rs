//! `iris`: the command line of the iris engine.

mod bench;
mod bench_model;
mod bench_train;
mod bundled;
mod check;
mod eval;
mod generate;
mod inspect;
mod plot;
mod serve;
mod shapes;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "iris", version, about = "A multimodal LLM engine: kernels, tensors, vision-language models")]
struct Cli {
    /// Worker threads for the CPU kernels (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time a kernel (or, with no op, the standard suite) and print GFLOP/s or GB/s.
    Bench(bench::BenchArgs),
    /// Check the GPU kernels: with --compile-only, compile every CUDA kernel with NVRTC (no GPU needed).
    Check(check::CheckArgs),
    /// Generate text from a checkpoint folder, images and a prompt (LLaVA).
    Generate(generate::GenerateArgs),
    /// Train a checkpoint on a JSONL dataset (stage 1: the projector; stage 2: also the language model).
    Train(train::TrainArgs),
    /// Make a dataset (`iris data shapes`: pictures of coloured shapes with questions, and text).
    #[command(subcommand)]
    Data(shapes::DataCommand),
    /// Score a checkpoint on a JSONL dataset: accuracy per question kind, caption recall, loss.
    Eval(eval::EvalArgs),
    /// Plot training loss curves (log.jsonl of `iris train` runs) as a PNG.
    Plot(plot::PlotArgs),
    /// Serve a model over OpenAI's chat completions API (images, streaming, continuous batching).
    Serve(serve::ServeArgs),
    /// List the tensors of a safetensors checkpoint (file, directory or index) and the peak RSS.
    Inspect(inspect::InspectArgs),
}

fn main() {
    // A usage error is one line and exit code 1, as every other error; --help and --version print
    // as clap writes them.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("iris: {first} (see iris --help)");
            std::process::exit(1);
        }
    };
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
            eprintln!("iris: cannot start {n} threads: {e}");
            std::process::exit(1);
        }
    }
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Data(cmd) => shapes::run(&cmd),
        Command::Eval(args) => eval::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    if let Err(e) = result {
        eprintln!("iris: {e}");
        std::process::exit(1);
    }
}

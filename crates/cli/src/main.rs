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
    // 0: rayon's default (RAYON_NUM_THREADS, else every core). The main thread's stack size, as
    // commands run on the workers.
    let n = cli.threads.unwrap_or(0);
    if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).stack_size(8 << 20).build_global() {
        eprintln!("iris: cannot start {n} threads: {e}");
        std::process::exit(1);
    }
    // A command runs on a worker of the pool, not beside it: each parallel op then starts on a
    // worker, where rayon runs it in place, instead of waking the pool and sleeping until it ends
    // (two context switches an op: 9 % of a one-thread training step). The server and `check` keep
    // the main thread: the one blocks for its whole life and the other runs a thread per device.
    let result = match cli.command {
        Command::Check(args) => check::run(&args).map_err(|e| e.to_string()),
        Command::Serve(args) => serve::run(&args).map_err(|e| e.to_string()),
        command => rayon::scope(|_| {
            match command {
                Command::Bench(args) => bench::run(&args),
                Command::Generate(args) => generate::run(&args),
                Command::Data(cmd) => shapes::run(&cmd),
                Command::Eval(args) => eval::run(&args),
                Command::Inspect(args) => inspect::run(&args),
                Command::Plot(args) => plot::run(&args),
                Command::Train(args) => train::run(&args),
                Command::Check(_) | Command::Serve(_) => unreachable!("run on the main thread"),
            }
            .map_err(|e| e.to_string())
        }),
    };
    if let Err(e) = result {
        eprintln!("iris: {e}");
        std::process::exit(1);
    }
}

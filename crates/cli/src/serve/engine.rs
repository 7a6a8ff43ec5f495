//! The server's engine: one thread that owns the decoding and runs
//! continuous batching over `iris_model::advance`. Each step it takes in
//! new requests (up to `max_batch` running), drops the ones whose client
//! has gone, and runs one forward for every running sequence: one token for
//! each that is decoding, and a chunk of at most `prefill_chunk` prompt
//! tokens shared among those still prefilling, so a long prompt never holds
//! the others back for more than a chunk. Requests join and leave at step
//! boundaries; a finished or cancelled sequence frees its cache at once.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use iris_model::{advance, Encoded, Pipeline, SamplingOptions, Sequence, Trace};
use iris_tensor::Tensor;
use tokio::sync::mpsc::UnboundedSender;

use super::metrics::Metrics;
use super::stops::StopText;

/// One chat completion, tokenized, waiting for the engine.
pub struct Job {
    pub prompt_ids: Vec<u32>,
    /// The images, already through the vision encoder (on the HTTP side, so a large image never
    /// holds up the decoding of the others).
    pub images: Encoded,
    /// New tokens at most (already capped by the context).
    pub max_tokens: usize,
    pub sampling: SamplingOptions,
    pub stop: Vec<String>,
    /// Run to `max_tokens` whatever tokens come.
    pub ignore_eos: bool,
    pub events: UnboundedSender<Event>,
    pub received: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// An end-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` (or the context's end).
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// What the engine tells a request's handler.
#[derive(Debug)]
pub enum Event {
    /// New text, as soon as it is whole characters and cannot start a stop string.
    Text(String),
    Done {
        finish: Finish,
        prompt_tokens: usize,
        completion_tokens: usize,
    },
    /// The request could not run (a failed forward).
    Failed(String),
}

/// The handle the HTTP side holds.
pub struct Engine {
    jobs: mpsc::Sender<Job>,
    /// Requests admitted and not yet finished (queued or running).
    load: Arc<AtomicUsize>,
    capacity: usize,
}

pub struct Limits {
    pub max_batch: usize,
    pub max_queue: usize,
    pub prefill_chunk: usize,
}

impl Engine {
    /// Starts the engine thread; it ends when every `Engine` is dropped and
    /// the requests in flight are done.
    pub fn start(pipe: Arc<Pipeline>, limits: Limits, metrics: Arc<Metrics>) -> (Engine, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let load = Arc::new(AtomicUsize::new(0));
        let capacity = limits.max_batch + limits.max_queue;
        let l = load.clone();
        let thread = std::thread::Builder::new()
            .name("iris-engine".into())
            .spawn(move || {
                Scheduler { pipe, limits, metrics, load: l, waiting: VecDeque::new(), running: Vec::new() }.run(rx)
            })
            .expect("the engine thread starts");
        (Engine { jobs: tx, load, capacity }, thread)
    }

    /// A place among the requests in flight, or None when they are at the limit
    /// (`--max-batch` + `--max-queue`). Taken before the request's images are
    /// encoded, so a full server turns requests away before doing work for them.
    pub fn reserve(&self) -> Option<Ticket<'_>> {
        if self.load.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.load.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Ticket { engine: self, used: false })
    }
}

/// A reserved place; dropped unused, it is given back.
pub struct Ticket<'a> {
    engine: &'a Engine,
    used: bool,
}

impl Ticket<'_> {
    /// Queues the job in the reserved place.
    pub fn submit(mut self, job: Job) {
        self.used = self.engine.jobs.send(job).is_ok();
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.engine.load.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A request the engine has taken in.
struct Running {
    job: Job,
    seq: Sequence,
    /// Prompt tokens fed so far.
    fed: usize,
    ids: Vec<u32>,
    text: StopText,
    sampler: iris_model::sampling::Sampler,
}

struct Scheduler {
    pipe: Arc<Pipeline>,
    limits: Limits,
    metrics: Arc<Metrics>,
    load: Arc<AtomicUsize>,
    waiting: VecDeque<Job>,
    running: Vec<Running>,
}

impl Scheduler {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                match rx.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while let Ok(job) = rx.try_recv() {
                self.waiting.push_back(job);
            }
            self.admit();
            self.running.retain(|r| !r.job.events.is_closed() || cancelled(&self.metrics, &self.load));
            self.metrics.queue_depth.store(self.waiting.len(), Ordering::Relaxed);
            self.metrics.running.store(self.running.len(), Ordering::Relaxed);
            if !self.running.is_empty() {
                self.step();
            }
        }
    }

    /// Moves waiting jobs into the batch while there is room.
    fn admit(&mut self) {
        while self.running.len() < self.limits.max_batch {
            let Some(mut job) = self.waiting.pop_front() else { return };
            if job.events.is_closed() {
                cancelled(&self.metrics, &self.load);
                continue;
            }
            let m = &*self.pipe.model;
            let cap = job.prompt_ids.len() + job.max_tokens.min(256);
            let seq = Sequence::new(m, std::mem::take(&mut job.images), cap);
            let sampler = iris_model::sampling::Sampler::new(job.sampling.clone());
            let text = StopText::new(job.stop.clone());
            self.running.push(Running { job, seq, fed: 0, ids: Vec::new(), text, sampler });
        }
    }

    fn fail(&self, job: Job, msg: String) {
        self.metrics.failed.fetch_add(1, Ordering::Relaxed);
        self.load.fetch_sub(1, Ordering::SeqCst);
        let _ = job.events.send(Event::Failed(msg));
    }

    /// One forward over every running sequence, then a token for each that
    /// has reached its prompt's end.
    fn step(&mut self) {
        let mut budget = self.limits.prefill_chunk.max(1);
        // Which running sequences take part, and their inputs.
        let mut plan: Vec<(usize, Vec<u32>)> = Vec::new();
        for (i, r) in self.running.iter().enumerate() {
            let prompt = &r.job.prompt_ids;
            if r.fed < prompt.len() {
                let n = (prompt.len() - r.fed).min(budget);
                if n > 0 {
                    budget -= n;
                    plan.push((i, prompt[r.fed..r.fed + n].to_vec()));
                }
            } else {
                plan.push((i, vec![*r.ids.last().expect("a decoding sequence has sampled")]));
            }
        }
        let decoding =
            plan.iter().filter(|(i, _)| self.running[*i].fed >= self.running[*i].job.prompt_ids.len()).count();
        let started = Instant::now();
        let m = &*self.pipe.model;
        let inputs: Vec<&[u32]> = plan.iter().map(|(_, ids)| ids.as_slice()).collect();
        let picked: Vec<usize> = plan.iter().map(|(i, _)| *i).collect();
        let result = catch_unwind(AssertUnwindSafe(|| -> iris_model::Result<Vec<Option<Vec<f32>>>> {
            let mut seqs: Vec<&mut Sequence> = (self.running.iter_mut().enumerate())
                .filter(|(i, _)| picked.binary_search(i).is_ok())
                .map(|(_, r)| &mut r.seq)
                .collect();
            let h = advance(m, &mut seqs, &inputs, &mut Trace::off())?;
            // Logits only for the sequences whose prompt ends in this step or that decode.
            let mut rows = Vec::new();
            let mut wanted = Vec::new();
            let mut r0 = 0;
            for (i, ids) in &plan {
                r0 += ids.len();
                let r = &self.running[*i];
                let ends = r.fed + ids.len() >= r.job.prompt_ids.len();
                wanted.push(ends);
                if ends {
                    rows.push(h.narrow(0, r0 - 1, 1)?);
                }
            }
            let mut logits = if rows.is_empty() {
                Vec::new().into_iter()
            } else {
                let x = Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0)?;
                let v = m.decoder().logits(&x)?.to_vec::<f32>()?;
                let n = v.len() / rows.len();
                v.chunks_exact(n).map(<[f32]>::to_vec).collect::<Vec<_>>().into_iter()
            };
            Ok(wanted.into_iter().map(|w| if w { logits.next() } else { None }).collect())
        }));
        self.metrics.observe_step(plan.len(), decoding, started.elapsed().as_secs_f64());
        let logits = match result {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return self.fail_all(&picked, format!("the forward failed: {e}")),
            Err(_) => return self.fail_all(&picked, "the forward failed (internal error)".into()),
        };
        let mut finished = Vec::new();
        for ((i, ids), row) in plan.iter().zip(logits) {
            let r = &mut self.running[*i];
            if r.fed < r.job.prompt_ids.len() {
                r.fed += ids.len();
            }
            let Some(row) = row else { continue };
            if let Some(finish) = self.next_token(*i, &row) {
                finished.push((*i, finish));
            }
        }
        for (i, finish) in finished.into_iter().rev() {
            // Counted before the answer goes, so a client that reads /metrics next sees it.
            let r = self.running.swap_remove(i);
            let (prompt_tokens, completion_tokens) = (r.job.prompt_ids.len(), r.ids.len());
            self.metrics.finished(prompt_tokens, completion_tokens);
            self.load.fetch_sub(1, Ordering::SeqCst);
            let _ = r.job.events.send(Event::Done { finish, prompt_tokens, completion_tokens });
        }
    }

    /// Samples sequence i's next token and sends its text; Some when it has finished.
    fn next_token(&mut self, i: usize, logits: &[f32]) -> Option<Finish> {
        let (pipe, metrics) = (&self.pipe, &self.metrics);
        let r = &mut self.running[i];
        let next = r.sampler.sample(logits);
        if r.ids.is_empty() {
            metrics.observe_ttft(r.job.received.elapsed().as_secs_f64());
        }
        r.ids.push(next);
        if !r.job.ignore_eos && pipe.eos_ids.contains(&next) {
            let rest = r.text.flush();
            send_text(&r.job, rest);
            return Some(Finish::Stop);
        }
        let text = pipe.prompter.decode(&r.ids).unwrap_or_default();
        let (piece, stopped) = r.text.update(&text);
        send_text(&r.job, piece);
        if stopped {
            return Some(Finish::Stop);
        }
        if r.ids.len() >= r.job.max_tokens {
            send_text(&r.job, r.text.flush());
            return Some(Finish::Length);
        }
        None
    }

    fn fail_all(&mut self, picked: &[usize], msg: String) {
        for &i in picked.iter().rev() {
            let r = self.running.swap_remove(i);
            self.fail(r.job, msg.clone());
        }
    }
}

fn send_text(job: &Job, piece: String) {
    if !piece.is_empty() {
        let _ = job.events.send(Event::Text(piece));
    }
}

/// Counts a request whose client went away; false, for `retain`.
fn cancelled(metrics: &Metrics, load: &AtomicUsize) -> bool {
    metrics.cancelled.fetch_add(1, Ordering::Relaxed);
    load.fetch_sub(1, Ordering::SeqCst);
    false
}

//! The server's counters, read by `GET /metrics` in Prometheus' text format:
//! requests by outcome, tokens in and out, queue depth, running batch, the
//! batch of each decoder step, and time to first token.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Seconds, the buckets of the time-to-first-token histogram.
const TTFT_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
pub struct Metrics {
    /// Requests handed to the engine, and those refused (4xx, 503).
    pub ok: AtomicU64,
    pub client_errors: AtomicU64,
    pub rejected_busy: AtomicU64,
    /// Requests that ended inside the engine.
    pub finished: AtomicU64,
    pub cancelled: AtomicU64,
    pub failed: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub queue_depth: AtomicUsize,
    pub running: AtomicUsize,
    steps: AtomicU64,
    step_rows: AtomicU64,
    decode_rows: AtomicU64,
    decode_only_tokens: AtomicU64,
    decode_only_micros: AtomicU64,
    ttft: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; TTFT_BUCKETS.len()],
    sum: f64,
    n: u64,
}

impl Metrics {
    /// A decoder step of `sequences` sequences, `decoding` of them past their prompt, that took
    /// `seconds` (the forward and the logits). Steps with no prompt in them also count towards the
    /// pure decode rate.
    pub fn observe_step(&self, sequences: usize, decoding: usize, seconds: f64) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.step_rows.fetch_add(sequences as u64, Ordering::Relaxed);
        self.decode_rows.fetch_add(decoding as u64, Ordering::Relaxed);
        if decoding == sequences {
            self.decode_only_tokens.fetch_add(decoding as u64, Ordering::Relaxed);
            self.decode_only_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        }
    }

    pub fn observe_ttft(&self, seconds: f64) {
        let mut h = self.ttft.lock().unwrap_or_else(|e| e.into_inner());
        for (c, b) in h.counts.iter_mut().zip(TTFT_BUCKETS) {
            *c += u64::from(seconds <= b);
        }
        h.sum += seconds;
        h.n += 1;
    }

    pub fn finished(&self, prompt_tokens: usize, completion_tokens: usize) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(prompt_tokens as u64, Ordering::Relaxed);
        self.completion_tokens.fetch_add(completion_tokens as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let gauge = |a: &AtomicUsize| a.load(Ordering::Relaxed) as f64;
        let outcomes = [
            ("finished", get(&self.finished)),
            ("cancelled", get(&self.cancelled)),
            ("failed", get(&self.failed)),
            ("rejected_busy", get(&self.rejected_busy)),
            ("bad_request", get(&self.client_errors)),
        ];
        let _ = writeln!(s, "# HELP iris_requests_total Chat completion requests by outcome.");
        let _ = writeln!(s, "# TYPE iris_requests_total counter");
        for (outcome, v) in outcomes {
            let _ = writeln!(s, "iris_requests_total{{outcome=\"{outcome}\"}} {v}");
        }
        let single: [(&str, &str, &str, f64); 10] = [
            (
                "iris_requests_accepted_total",
                "counter",
                "Chat completion requests handed to the engine.",
                get(&self.ok),
            ),
            ("iris_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", get(&self.prompt_tokens)),
            (
                "iris_generation_tokens_total",
                "counter",
                "Tokens generated for finished requests.",
                get(&self.completion_tokens),
            ),
            ("iris_queue_depth", "gauge", "Requests waiting for a place in the batch.", gauge(&self.queue_depth)),
            ("iris_batch_size", "gauge", "Sequences in the running batch.", gauge(&self.running)),
            ("iris_decoder_steps_total", "counter", "Batched decoder forwards.", get(&self.steps)),
            (
                "iris_step_sequences_total",
                "counter",
                "Sequences summed over decoder forwards (÷ steps: mean batch).",
                get(&self.step_rows),
            ),
            (
                "iris_step_decoding_sequences_total",
                "counter",
                "Decoding sequences summed over decoder forwards.",
                get(&self.decode_rows),
            ),
            (
                "iris_decode_only_step_tokens_total",
                "counter",
                "Tokens of the steps that only decoded (no prompt in them).",
                get(&self.decode_only_tokens),
            ),
            (
                "iris_decode_only_step_seconds_total",
                "counter",
                "Time in the steps that only decoded.",
                get(&self.decode_only_micros) * 1e-6,
            ),
        ];
        for (name, kind, help, v) in single {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        let h = self.ttft.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(s, "# HELP iris_time_to_first_token_seconds From a request's arrival to its first token.");
        let _ = writeln!(s, "# TYPE iris_time_to_first_token_seconds histogram");
        for (c, b) in h.counts.iter().zip(TTFT_BUCKETS) {
            let _ = writeln!(s, "iris_time_to_first_token_seconds_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(s, "iris_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {}", h.n);
        let _ = writeln!(s, "iris_time_to_first_token_seconds_sum {}", h.sum);
        let _ = writeln!(s, "iris_time_to_first_token_seconds_count {}", h.n);
        s
    }
}

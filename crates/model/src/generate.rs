//! Generation over the model trait: one request, or several advanced
//! together (one batched forward per step for all unfinished sequences).

use std::time::Instant;

use crate::error::Result;
use crate::pipeline::{Output, Pipeline, Request, Stats};
use crate::sampling::Sampler;
use crate::sequence::{advance, last_rows, Sequence};
use crate::trace::Trace;

/// One request in flight.
struct Live {
    prompt_ids: Vec<u32>,
    seq: Sequence,
    sampler: Sampler,
    budget: usize,
    ids: Vec<u32>,
    shown: usize,
    done: bool,
    prompt_logits: Option<iris_tensor::Tensor>,
    stats: Stats,
}

impl Pipeline {
    /// Generates up to `req.max_new_tokens` tokens, calling `on_text` with
    /// each new piece of text as soon as it decodes to whole characters.
    pub fn generate(&self, req: &Request, on_text: &mut dyn FnMut(&str)) -> Result<Output> {
        let mut out = self.generate_batch(std::slice::from_ref(req), &mut |_, s| on_text(s))?;
        Ok(out.pop().expect("one request, one output"))
    }

    /// Generates for every request together: one prefill forward over all
    /// prompts, then one forward per step over the sequences still running
    /// (each linear layer one GEMM over their rows). `on_text(i, piece)`
    /// streams request i's text. Each output is what `generate` gives for
    /// its request alone (the prefill and decode times are the batch's).
    pub fn generate_batch(&self, reqs: &[Request], on_text: &mut dyn FnMut(usize, &str)) -> Result<Vec<Output>> {
        let m = &*self.model;
        let max_pos = m.decoder().cfg.max_position_embeddings;
        let mut live = Vec::with_capacity(reqs.len());
        for req in reqs {
            let prompt_ids = self.prompt_ids(req.prompt, req.images.len(), req.chat)?;
            let t0 = Instant::now();
            let encoded = m.encode_images(req.images)?;
            let stats = Stats { encode_s: t0.elapsed().as_secs_f64(), ..Stats::default() };
            let budget = req.max_new_tokens.min(max_pos.saturating_sub(prompt_ids.len()));
            // The KV cache starts at the prompt plus a few steps and doubles as it fills, so a
            // large --max-new-tokens does not reserve the whole context up front.
            let seq = Sequence::new(m, encoded, prompt_ids.len() + budget.min(256));
            let sampler = Sampler::new(req.sampling.clone());
            let (ids, shown, done, prompt_logits) = (Vec::new(), 0, budget == 0, None);
            live.push(Live { prompt_ids, seq, sampler, budget, ids, shown, done, prompt_logits, stats });
        }
        if live.is_empty() {
            return Ok(Vec::new());
        }

        let t1 = Instant::now();
        let inputs: Vec<Vec<u32>> = live.iter().map(|l| l.prompt_ids.clone()).collect();
        let inputs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let h = advance(m, &mut live.iter_mut().map(|l| &mut l.seq).collect::<Vec<_>>(), &inputs, &mut Trace::off())?;
        let mut r0 = 0;
        for (l, req) in live.iter_mut().zip(reqs) {
            let t = l.prompt_ids.len();
            if req.prompt_logits {
                l.prompt_logits = Some(m.decoder().logits(&h.narrow(0, r0, t)?)?);
            }
            r0 += t;
            l.stats.prefill_tokens = t;
        }
        let mut last = split(m.decoder().logits(&last_rows(&h, &inputs)?)?.to_vec::<f32>()?, live.len());
        let prefill_s = t1.elapsed().as_secs_f64();

        let t2 = Instant::now();
        loop {
            // `last` holds a row per sequence that was running, in order.
            for (row, (i, l)) in live.iter_mut().enumerate().filter(|(_, l)| !l.done).enumerate() {
                let next = l.sampler.sample(&last[row]);
                l.ids.push(next);
                let text = self.prompter.decode(&l.ids)?;
                if text.len() > l.shown && text.is_char_boundary(l.shown) && !text.ends_with('\u{FFFD}') {
                    on_text(i, &text[l.shown..]);
                    l.shown = text.len();
                }
                l.done = self.eos_ids.contains(&next) || l.ids.len() == l.budget;
            }
            let steps: Vec<[u32; 1]> =
                live.iter().filter(|l| !l.done).map(|l| [*l.ids.last().expect("sampled")]).collect();
            if steps.is_empty() {
                break;
            }
            let inputs: Vec<&[u32]> = steps.iter().map(|s| s.as_slice()).collect();
            let mut seqs: Vec<&mut Sequence> = live.iter_mut().filter(|l| !l.done).map(|l| &mut l.seq).collect();
            let h = advance(m, &mut seqs, &inputs, &mut Trace::off())?;
            last = split(m.decoder().logits(&h)?.to_vec::<f32>()?, steps.len());
            live.iter_mut().filter(|l| !l.done).for_each(|l| l.stats.decode_tokens += 1);
        }
        let decode_s = t2.elapsed().as_secs_f64();
        let mut outs = Vec::with_capacity(live.len());
        for (i, l) in live.into_iter().enumerate() {
            let text = self.prompter.decode(&l.ids)?;
            if text.len() > l.shown && text.is_char_boundary(l.shown) {
                on_text(i, &text[l.shown..]);
            }
            let stats = Stats { prefill_s, decode_s, ..l.stats };
            outs.push(Output { prompt_ids: l.prompt_ids, ids: l.ids, text, prompt_logits: l.prompt_logits, stats });
        }
        Ok(outs)
    }
}

/// Rows of a [B, V] logits buffer.
fn split(v: Vec<f32>, rows: usize) -> Vec<Vec<f32>> {
    let n = v.len() / rows.max(1);
    v.chunks_exact(n.max(1)).map(<[f32]>::to_vec).collect()
}

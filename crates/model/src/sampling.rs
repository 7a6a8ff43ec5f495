//! Choosing the next token: greedy, or temperature → top-k → top-p sampling
//! (transformers' order of logits processors) from a seeded generator.

/// How to pick tokens. `temperature == 0` is greedy.
#[derive(Clone, Debug)]
pub struct SamplingOptions {
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = all).
    pub top_p: f32,
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }
}

pub struct Sampler {
    opts: SamplingOptions,
    state: u64,
}

impl Sampler {
    pub fn new(opts: SamplingOptions) -> Sampler {
        let state = opts.seed ^ 0x9E37_79B9_7F4A_7C15;
        Sampler { opts, state }
    }

    /// A uniform draw in [0, 1) (splitmix64).
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next token from one row of logits.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.opts.temperature <= 0.0 {
            return argmax(logits);
        }
        let t = self.opts.temperature as f64;
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if self.opts.top_k > 0 {
            order.truncate(self.opts.top_k.max(1));
        }
        let max = logits[order[0]] as f64 / t;
        let mut probs: Vec<f64> = order.iter().map(|&i| (logits[i] as f64 / t - max).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if self.opts.top_p < 1.0 {
            // Keep tokens until their cumulative probability reaches top_p (at least one).
            let mut acc = 0.0;
            let keep = probs
                .iter()
                .position(|&p| {
                    acc += p;
                    acc >= self.opts.top_p as f64
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut r = self.uniform() * total;
        for (i, &p) in probs.iter().enumerate() {
            r -= p;
            if r < 0.0 {
                return order[i] as u32;
            }
        }
        order[probs.len() - 1] as u32
    }
}

/// The first index of the largest value (as torch.argmax).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_k_and_top_p() {
        let logits = [0.0, 3.0, 1.0, 3.0, -1.0];
        assert_eq!(argmax(&logits), 1, "first of equal maxima");
        let mut s = Sampler::new(SamplingOptions { temperature: 1.0, top_k: 1, ..Default::default() });
        assert!((0..50).all(|_| s.sample(&logits) == 1));
        // top_p small keeps only the most likely token.
        let mut s = Sampler::new(SamplingOptions { temperature: 1.0, top_p: 0.1, ..Default::default() });
        assert!((0..50).all(|_| s.sample(&[0.0, 5.0, 1.0]) == 1));
        // Same seed, same draws; sampling reaches more than one token.
        let opts = SamplingOptions { temperature: 2.0, seed: 7, ..Default::default() };
        let a: Vec<u32> = {
            let mut s = Sampler::new(opts.clone());
            (0..64).map(|_| s.sample(&logits)).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(opts);
            (0..64).map(|_| s.sample(&logits)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
    }
}

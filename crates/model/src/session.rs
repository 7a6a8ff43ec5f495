//! One generation's state for either architecture: the self-attention KV
//! cache and, for Mllama, the image keys/values projected once at prefill and
//! the cross-attention mask row that new tokens repeat.

use iris_tensor::Tensor;

use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::llava::Llava;
use crate::mllama::{CrossStates, Mllama, RowMask};
use crate::trace::Trace;

/// Encoded images, ready for the prompt.
pub(crate) enum Encoded {
    /// LLaVA: projected features [N, D] per image, spliced at `<image>`.
    Features(Vec<Tensor>),
    /// Mllama: cross-attention states [S, D] of all images, and each image's used tiles.
    States(Option<Tensor>, Vec<usize>),
}

pub(crate) enum Session<'a> {
    Llava {
        m: &'a Llava,
        cache: KvCache,
        features: Vec<Tensor>,
    },
    Mllama {
        m: &'a Mllama,
        cache: KvCache,
        states: Option<Tensor>,
        tiles: Vec<usize>,
        cross: Option<(CrossStates, Vec<bool>)>,
    },
}

impl<'a> Session<'a> {
    pub fn llava(m: &'a Llava, capacity: usize, encoded: Encoded) -> Session<'a> {
        let features = match encoded {
            Encoded::Features(f) => f,
            Encoded::States(..) => Vec::new(),
        };
        Session::Llava { m, cache: KvCache::new(m.text.cfg.num_hidden_layers, capacity), features }
    }

    pub fn mllama(m: &'a Mllama, capacity: usize, encoded: Encoded) -> Session<'a> {
        let (states, tiles) = match encoded {
            Encoded::States(s, t) => (s, t),
            Encoded::Features(_) => (None, Vec::new()),
        };
        Session::Mllama { m, cache: KvCache::new(m.cfg.text.num_hidden_layers, capacity), states, tiles, cross: None }
    }

    /// The prompt's final-normed hidden states [T, D].
    pub fn prefill(&mut self, ids: &[u32]) -> Result<Tensor> {
        match self {
            Session::Llava { m, cache, features } => {
                let x = m.embed(ids, features, &mut Trace::off())?;
                m.forward(&x, cache, &mut Trace::off())
            }
            Session::Mllama { m, cache, states, tiles, cross } => {
                let x = m.embed(ids)?;
                let Some(states) = states.take() else {
                    return m.forward(&x, cache, None, &mut Trace::off());
                };
                let kv = m.cross_states(&states)?;
                let rows = m.mask_rows(ids, tiles);
                let mask = RowMask::new(&rows, m.cfg.vision.tile_tokens(), x.dtype(), x.device())?;
                let h = m.forward(&x, cache, Some((&kv, &mask)), &mut Trace::off())?;
                *cross = Some((kv, rows.last().cloned().unwrap_or_default()));
                Ok(h)
            }
        }
    }

    /// One new token's final-normed hidden state [1, D].
    pub fn step(&mut self, id: u32) -> Result<Tensor> {
        match self {
            Session::Llava { m, cache, .. } => {
                let x = m.text.embed(&[id])?;
                m.forward(&x, cache, &mut Trace::off())
            }
            Session::Mllama { m, cache, cross, .. } => {
                let x = m.embed(&[id])?;
                match cross {
                    // New tokens repeat the mask's last row.
                    Some((kv, last)) => {
                        let mask = RowMask::new(
                            std::slice::from_ref(last),
                            m.cfg.vision.tile_tokens(),
                            x.dtype(),
                            x.device(),
                        )?;
                        m.forward(&x, cache, Some((kv, &mask)), &mut Trace::off())
                    }
                    None => m.forward(&x, cache, None, &mut Trace::off()),
                }
            }
        }
    }

    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        match self {
            Session::Llava { m, .. } => m.text.logits(h),
            Session::Mllama { m, .. } => m.logits(h),
        }
    }
}

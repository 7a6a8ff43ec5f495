//! Keys and values of every decoder layer, preallocated [1, capacity, Hkv, dh]
//! and appended in place, so a decode step writes one row per layer and the
//! attention reads the filled prefix as a view.

use iris_tensor::Tensor;

use crate::error::Result;

pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// A cache for `layers` layers that holds `capacity` positions before it grows.
    pub fn new(layers: usize, capacity: usize) -> KvCache {
        KvCache { layers: vec![None; layers], len: 0, capacity: capacity.max(1) }
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes k and v [1, T, Hkv, dh] after the cached positions of `layer`
    /// and returns the keys and values of all len + T positions.
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (t, len) = (k.shape()[1], self.len);
        if len + t > self.capacity {
            self.capacity = (2 * self.capacity).max(len + t);
        }
        let slot = &mut self.layers[layer];
        let fits = slot.as_ref().is_some_and(|(kc, _)| kc.shape()[1] >= len + t);
        if !fits {
            let cap = self.capacity;
            let alloc =
                |x: &Tensor| Tensor::zeros(&[1, cap, x.shape()[2], x.shape()[3]], x.dtype()).to_device(x.device());
            let (mut kb, mut vb) = (alloc(k)?, alloc(v)?);
            if let Some((ko, vo)) = slot.take() {
                kb.write_at(1, 0, &ko.narrow(1, 0, len)?)?;
                vb.write_at(1, 0, &vo.narrow(1, 0, len)?)?;
            }
            *slot = Some((kb, vb));
        }
        let (kc, vc) = slot.as_mut().expect("allocated above");
        kc.write_at(1, len, k)?;
        vc.write_at(1, len, v)?;
        Ok((kc.narrow(1, 0, len + t)?, vc.narrow(1, 0, len + t)?))
    }

    /// Marks the positions appended to every layer in this step as cached.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }
}

//! Named intermediate tensors of one forward pass, for tests that compare
//! every stage with the reference implementation. Off by default: a model
//! records nothing unless asked.

use iris_tensor::Tensor;

#[derive(Default)]
pub struct Trace {
    enabled: bool,
    stages: Vec<(String, Tensor)>,
}

impl Trace {
    /// A trace that records nothing.
    pub fn off() -> Trace {
        Trace::default()
    }

    /// A trace that keeps every stage it is given.
    pub fn on() -> Trace {
        Trace { enabled: true, stages: Vec::new() }
    }

    /// Keeps `t` under `name` when recording (`name` is built only then).
    pub fn record(&mut self, name: impl FnOnce() -> String, t: &Tensor) {
        if self.enabled {
            self.stages.push((name(), t.clone()));
        }
    }

    /// The last tensor recorded under `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.stages.iter().rev().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|(n, _)| n.as_str())
    }
}

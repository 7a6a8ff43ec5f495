//! Reverse-mode autograd on `Tensor`: a tensor that requires gradients (a
//! leaf, made by `requires_grad`) or was computed from one while gradients
//! are enabled carries a node; `backward()` from a scalar walks the nodes in
//! reverse topological order and accumulates each leaf's gradient.
//!
//! Inference pays one branch per op: tensors that need no gradient carry no
//! node, and `no_grad()` turns recording off. An op with a backward runs its
//! forward with recording paused, then records one node; an op without one
//! that meets a tracked tensor is an error (`Error::NoBackward`), never a
//! silently dropped gradient.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::Tensor;

/// The gradients of an op's inputs from its output's gradient (None for an
/// input that needs none).
pub(crate) type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

pub(crate) enum Node {
    /// A parameter: its accumulated gradient.
    Leaf { grad: Mutex<Option<Tensor>> },
    /// An op's output: its name, its inputs and how to send a gradient back to them.
    Op { name: &'static str, inputs: Vec<Tensor>, backward: BackwardFn },
}

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops record their backward on this thread.
pub fn is_grad_enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Recording stays off until the guard drops (inference, the frozen vision tower).
pub struct NoGrad(bool);

/// Turns recording off on this thread until the returned guard drops.
pub fn no_grad() -> NoGrad {
    NoGrad(ENABLED.with(|e| e.replace(false)))
}

impl Drop for NoGrad {
    fn drop(&mut self) {
        ENABLED.with(|e| e.set(self.0));
    }
}

/// Whether an op over `inputs` records a node: recording is on and one is tracked.
pub(crate) fn tracking(inputs: &[&Tensor]) -> bool {
    inputs.iter().any(|t| t.node.is_some()) && is_grad_enabled()
}

/// Recording off for an op's own forward when the op records itself: its
/// inner calls then build no nodes, and any tracked input that reaches a
/// kernel with recording on belongs to an op without a backward.
pub(crate) fn pause(inputs: &[&Tensor]) -> Option<NoGrad> {
    tracking(inputs).then(no_grad)
}

impl Tensor {
    /// This tensor as a leaf that accumulates a gradient (a trainable parameter).
    pub fn requires_grad(&self) -> Tensor {
        let mut t = self.clone();
        t.node = Some(Arc::new(Node::Leaf { grad: Mutex::new(None) }));
        t
    }

    /// Whether gradients flow to or through this tensor.
    pub fn is_tracked(&self) -> bool {
        self.node.is_some()
    }

    /// The same values, cut from the graph.
    pub fn detach(&self) -> Tensor {
        let mut t = self.clone();
        t.node = None;
        t
    }

    /// A leaf's accumulated gradient (None before a backward, or for a non-leaf).
    pub fn grad(&self) -> Option<Tensor> {
        match self.node.as_deref() {
            Some(Node::Leaf { grad }) => grad.lock().expect("grad lock").clone(),
            _ => None,
        }
    }

    /// Clears a leaf's gradient.
    pub fn zero_grad(&self) {
        if let Some(Node::Leaf { grad }) = self.node.as_deref() {
            *grad.lock().expect("grad lock") = None;
        }
    }

    /// Errors when a tracked input reaches `op`'s kernel while recording is
    /// on: ops with a backward pause recording around their forward.
    pub(crate) fn check_backward(op: &'static str, inputs: &[&Tensor]) -> Result<()> {
        if tracking(inputs) {
            return Err(Error::NoBackward(op));
        }
        Ok(())
    }

    /// `self` (an op's fresh output) with a node for `inputs` when recording
    /// is on and one of them is tracked; `backward` maps the output's
    /// gradient to one gradient per input.
    pub(crate) fn record(
        mut self,
        name: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Tensor {
        if tracking(inputs) {
            let inputs = inputs.iter().map(|t| (*t).clone()).collect();
            self.node = Some(Arc::new(Node::Op { name, inputs, backward: Box::new(backward) }));
        }
        self
    }

    /// Back-propagates from this scalar (one element): every leaf it depends
    /// on adds d self / d leaf to its gradient. Runs with recording off.
    pub fn backward(&self) -> Result<()> {
        if self.elem_count() != 1 {
            return Err(Error::Shape { op: "backward", msg: format!("starts from a scalar, not {:?}", self.shape()) });
        }
        let Some(root) = &self.node else {
            return Err(Error::Shape { op: "backward", msg: "the tensor does not depend on any parameter".into() });
        };
        let _off = no_grad();
        // Reverse topological order: a node after every node that uses it.
        let key = |n: &Arc<Node>| Arc::as_ptr(n) as usize;
        let (mut order, mut seen, mut stack) = (Vec::new(), HashMap::new(), vec![(root.clone(), false)]);
        while let Some((n, done)) = stack.pop() {
            if done {
                order.push(n);
                continue;
            }
            if seen.insert(key(&n), ()).is_some() {
                continue;
            }
            stack.push((n.clone(), true));
            if let Node::Op { inputs, .. } = &*n {
                for i in inputs {
                    if let Some(c) = &i.node {
                        if !seen.contains_key(&key(c)) {
                            stack.push((c.clone(), false));
                        }
                    }
                }
            }
        }
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(key(root), Tensor::ones(self.shape(), self.dtype()).to_device(self.device())?);
        for n in order.iter().rev() {
            let Some(g) = grads.remove(&key(n)) else { continue };
            match &**n {
                Node::Leaf { grad } => {
                    let mut slot = grad.lock().expect("grad lock");
                    *slot = Some(match slot.take() {
                        Some(old) => old.add(&g)?,
                        None => g,
                    });
                }
                Node::Op { name, inputs, backward } => {
                    let gs = backward(&g)?;
                    debug_assert_eq!(gs.len(), inputs.len(), "{name}: one gradient per input");
                    for (input, gi) in inputs.iter().zip(gs) {
                        let (Some(c), Some(gi)) = (&input.node, gi) else { continue };
                        if gi.shape() != input.shape() {
                            return Err(Error::Shape {
                                op: "backward",
                                msg: format!("{name}: gradient {:?} for an input {:?}", gi.shape(), input.shape()),
                            });
                        }
                        let k = key(c);
                        let sum = match grads.remove(&k) {
                            Some(old) => old.add(&gi)?,
                            None => gi,
                        };
                        grads.insert(k, sum);
                    }
                }
            }
        }
        Ok(())
    }
}

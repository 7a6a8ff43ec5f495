//! Reverse-mode autograd: every op with a backward, composed the way the
//! models compose them, against central finite differences of the same
//! forward (f32, step 1e-2); accumulation, no_grad, frozen inputs, and the
//! error for an op without a backward.

use iris_tensor::{no_grad, AttnMask, DType, Error, Tensor, IGNORE};

#[test]
fn attention_matches_finite_differences() {
    // [B, T, H, D] projections permuted to [B, H, T, D] (strided views), GQA 4/2, causal.
    let leaves = vec![leaf(&[1, 3, 4, 2], 60, 1.0), leaf(&[1, 3, 2, 2], 61, 1.0), leaf(&[1, 3, 2, 2], 62, 1.0)];
    let perm = [0, 2, 1, 3];
    check_grads("causal GQA attention", &leaves, |p| {
        let (q, k, v) = (p[0].permute(&perm).unwrap(), p[1].permute(&perm).unwrap(), p[2].permute(&perm).unwrap());
        project(&Tensor::attention(&q, &k, &v, AttnMask::Causal, 0.7).unwrap(), 63)
    });
    // Cross-attention with a key mask: the second row sees nothing (zeros, no gradient).
    let keep = Tensor::from_vec(vec![1u8, 0, 1, 0, 0, 0, 1, 1, 1], &[1, 1, 3, 3]).unwrap();
    check_grads("cross-attention with a key mask", &leaves[..1], |p| {
        let q = p[0].permute(&perm).unwrap();
        let kv = Tensor::randn(&[1, 4, 3, 2], DType::F32, 64);
        project(&Tensor::cross_attention(&q, &kv, &kv, Some(&keep), 0.7).unwrap(), 65)
    });
}

const H: f32 = 1e-2;

fn leaf(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    Tensor::randn(shape, DType::F32, seed).scale(scale).unwrap().requires_grad()
}

/// d f / d leaf from backward() against finite differences, for every leaf
/// and element. `f` maps the leaves to a scalar.
fn check_grads(what: &str, leaves: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) {
    leaves.iter().for_each(Tensor::zero_grad);
    f(leaves).backward().unwrap();
    for (li, l) in leaves.iter().enumerate() {
        let grad = l.grad().unwrap_or_else(|| panic!("{what}: leaf {li} got no gradient")).to_vec::<f32>().unwrap();
        let x = l.to_vec::<f32>().unwrap();
        let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-3);
        let _off = no_grad();
        for i in 0..x.len() {
            let at = |d: f32| {
                let mut v = x.clone();
                v[i] += d;
                let mut ls: Vec<Tensor> = leaves.to_vec();
                ls[li] = Tensor::from_vec(v, l.shape()).unwrap();
                f(&ls).to_vec::<f32>().unwrap()[0] as f64
            };
            let fd = (at(H) - at(-H)) / (2.0 * H as f64);
            let err = (fd - grad[i] as f64).abs() / scale as f64;
            assert!(err < 5e-3, "{what}: leaf {li}[{i}]: backward {} vs finite difference {fd:.6}", grad[i]);
        }
    }
}

/// Σ y·c for a fixed cotangent c: a scalar whose gradient is y's backward of c.
fn project(y: &Tensor, seed: u64) -> Tensor {
    let c = Tensor::randn(y.shape(), DType::F32, seed);
    let n = y.elem_count();
    y.mul(&c).unwrap().reshape(&[1, n]).unwrap().sum_last().unwrap()
}

#[test]
fn a_decoder_block_and_its_loss_match_finite_differences() {
    // rms_norm → linear (+bias) → silu-gated MLP → residual → logits → cross-entropy.
    let (t, d, f, v) = (3, 4, 6, 5);
    let leaves = vec![
        leaf(&[t, d], 1, 1.0),
        leaf(&[d], 2, 0.5).add(&Tensor::ones(&[d], DType::F32)).unwrap().detach().requires_grad(),
        leaf(&[f, d], 3, 0.5),
        leaf(&[f, d], 4, 0.5),
        leaf(&[d, f], 5, 0.5),
        leaf(&[v, d], 6, 0.5),
        leaf(&[v], 7, 0.1),
    ];
    let targets = [2u32, IGNORE, 4];
    check_grads("decoder block", &leaves, |p| {
        let h = p[0].rms_norm(&p[1], 1e-5).unwrap();
        let gate = h.linear_act(&p[2], None, Some(iris_tensor::Unary::Silu)).unwrap();
        let up = h.linear(&p[3], None).unwrap();
        let x = gate.mul(&up).unwrap().linear_residual(&p[4], None, &p[0]).unwrap();
        x.linear(&p[5], Some(&p[6])).unwrap().cross_entropy(&targets).unwrap()
    });
}

#[test]
fn norms_softmax_and_activations_match_finite_differences() {
    let leaves = vec![leaf(&[2, 5], 10, 1.5), leaf(&[5], 11, 1.0), leaf(&[5], 12, 1.0)];
    check_grads("layer_norm + gelu", &leaves, |p| {
        project(&p[0].layer_norm(&p[1], &p[2], 1e-5).unwrap().gelu().unwrap(), 13)
    });
    check_grads("softmax + tanh", &leaves[..1], |p| project(&p[0].softmax().unwrap().tanh().unwrap(), 14));
    check_grads("quick_gelu, gelu_tanh", &leaves[..1], |p| {
        project(&p[0].quick_gelu().unwrap().add(&p[0].gelu_tanh().unwrap()).unwrap(), 15)
    });
}

#[test]
fn broadcasting_views_and_products_match_finite_differences() {
    // Broadcast operands: [2, 1, 3] with [4, 3] → [2, 4, 3].
    let leaves = vec![leaf(&[2, 1, 3], 20, 1.0), leaf(&[4, 3], 21, 1.0)];
    for (name, op) in [("add", 0), ("sub", 1), ("mul", 2), ("div", 3)] {
        check_grads(name, &leaves, |p| {
            let b = p[1].add(&Tensor::full(3.0, &[4, 3], DType::F32)).unwrap();
            let y = match op {
                0 => p[0].add(&b),
                1 => p[0].sub(&b),
                2 => p[0].mul(&b),
                _ => p[0].div(&b),
            };
            project(&y.unwrap(), 22)
        });
    }
    // A batched matmul with a broadcast right operand, through permute, narrow, cat and reshape.
    let leaves = vec![leaf(&[2, 3, 4], 23, 1.0), leaf(&[4, 5], 24, 1.0)];
    check_grads("matmul, views, cat", &leaves, |p| {
        let y = p[0].matmul(&p[1]).unwrap(); // [2, 3, 5]
        let y = y.permute(&[0, 2, 1]).unwrap(); // [2, 5, 3]
        let parts = [y.narrow(1, 0, 2).unwrap(), y.narrow(1, 3, 2).unwrap()];
        let c = Tensor::cat(&[&parts[1], &parts[0]], 1).unwrap().reshape(&[4, 6]).unwrap();
        project(&c.mean_last().unwrap(), 25)
    });
}

#[test]
fn patch_embedding_matches_finite_differences() {
    // A ViT's patch embedding: im2col with overlapping windows, then the conv weight as a GEMM.
    let leaves = vec![leaf(&[1, 2, 5, 4], 70, 1.0), leaf(&[3, 2 * 3 * 3], 71, 0.5)];
    check_grads("im2col + linear", &leaves, |p| {
        project(&p[0].im2col(3, 2, 1).unwrap().linear(&p[1], None).unwrap(), 72)
    });
}

#[test]
fn embedding_and_rope_match_finite_differences() {
    let leaves = vec![leaf(&[6, 4], 30, 1.0)];
    let (cos, sin): (Vec<f32>, Vec<f32>) = (0..6).map(|i| ((i as f32 * 0.7).cos(), (i as f32 * 0.7).sin())).unzip();
    let (cos, sin) = (Tensor::from_vec(cos, &[3, 2]).unwrap(), Tensor::from_vec(sin, &[3, 2]).unwrap());
    check_grads("embedding + rope", &leaves, |p| {
        // Row 2 picked twice, row 1 never.
        let x = Tensor::embedding(&p[0], &[2, 0, 2]).unwrap(); // [3, 4]
        let y = x.reshape(&[1, 3, 1, 4]).unwrap().rope(&cos, &sin, 1).unwrap();
        project(&y, 31)
    });
}

#[test]
fn gradients_accumulate_and_frozen_inputs_get_none() {
    let w = leaf(&[3], 40, 1.0);
    let frozen = Tensor::randn(&[3], DType::F32, 41);
    let loss = || w.mul(&frozen).unwrap().reshape(&[1, 3]).unwrap().sum_last().unwrap();
    loss().backward().unwrap();
    let once = w.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(once, frozen.to_vec::<f32>().unwrap(), "d(w·c)/dw = c");
    loss().backward().unwrap();
    let twice = w.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(twice, once.iter().map(|g| 2.0 * g).collect::<Vec<_>>(), "a second backward adds");
    assert!(frozen.grad().is_none() && !frozen.is_tracked());
    w.zero_grad();
    assert!(w.grad().is_none());
}

#[test]
fn no_grad_records_nothing_and_an_op_without_backward_says_so() {
    let w = leaf(&[2, 3], 50, 1.0);
    {
        let _off = no_grad();
        assert!(!w.scale(2.0).unwrap().is_tracked(), "no node under no_grad");
    }
    assert!(w.scale(2.0).unwrap().is_tracked());
    // Writing into a KV cache has no backward: a tracked input is an error, not a lost gradient.
    let mut cache = Tensor::zeros(&[4, 3], DType::F32);
    match cache.write_at(0, 1, &w) {
        Err(Error::NoBackward(op)) => assert_eq!(op, "write_at"),
        other => panic!("expected NoBackward, got {other:?}"),
    }
    let _off = no_grad();
    assert!(cache.write_at(0, 1, &w).is_ok(), "fine without recording");
    // backward() needs a scalar that depends on a parameter.
    drop(_off);
    assert!(w.scale(2.0).unwrap().backward().is_err());
    assert!(Tensor::ones(&[1], DType::F32).backward().is_err());
}

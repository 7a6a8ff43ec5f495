//! Tensor views and op dispatch, each checked against a naive computation on
//! plain Vecs (the kernels' numerics have their own parity tests).

use half::bf16;
use iris_tensor::{pool_stats, AttnMask, DType, Device, Error, PackedWeight, Tensor};

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{i}] {x} vs {y}");
    }
}

fn naive_matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
        }
    }
    c
}

#[test]
fn views_share_storage_and_read_the_right_elements() {
    let t = Tensor::arange(0.0, 24.0, DType::F32).reshape(&[2, 3, 4]).unwrap();
    let p = t.permute(&[2, 0, 1]).unwrap();
    assert!(p.shares_storage(&t) && !p.is_contiguous());
    assert_eq!(p.shape(), [4, 2, 3]);
    let v = p.to_vec::<f32>().unwrap();
    assert_eq!(v[..6], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    let n = t.narrow(2, 1, 2).unwrap().narrow(0, 1, 1).unwrap();
    assert_eq!(n.to_vec::<f32>().unwrap(), [13.0, 14.0, 17.0, 18.0, 21.0, 22.0]);
    let b = Tensor::arange(0.0, 3.0, DType::F32).unsqueeze(1).unwrap().broadcast_as(&[2, 3, 2]).unwrap();
    assert_eq!(b.strides(), [0, 1, 0]);
    assert_eq!(b.to_vec::<f32>().unwrap(), [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
    assert_eq!(t.narrow(1, 2, 1).unwrap().squeeze(1).unwrap().shape(), [2, 4]);
    // Reshaping a non-contiguous view copies, as torch does.
    let r = t.t().unwrap().reshape(&[24]).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap()[..4], [0.0, 4.0, 8.0, 1.0]);
    assert!(t.narrow(1, 2, 2).is_err());
    assert!(t.permute(&[0, 0, 1]).is_err());
    assert!(t.squeeze(0).is_err());
}

#[test]
fn constructors_are_seeded_and_typed() {
    let a = Tensor::randn(&[3, 5], DType::BF16, 7);
    assert_eq!((a.dtype(), a.shape()), (DType::BF16, &[3, 5][..]));
    assert_eq!(a.to_vec::<bf16>().unwrap(), Tensor::randn(&[3, 5], DType::BF16, 7).to_vec::<bf16>().unwrap());
    let u = Tensor::rand(&[1000], DType::F32, 1).to_vec::<f32>().unwrap();
    assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = u.iter().sum::<f32>() / 1000.0;
    assert!((mean - 0.5).abs() < 0.05, "{mean}");
    assert_eq!(Tensor::ones(&[2], DType::F16).to_vec_f32().unwrap(), [1.0, 1.0]);
    assert!(Tensor::from_vec(vec![1f32; 5], &[2, 3]).is_err());
    assert!(matches!(a.to_vec::<f32>(), Err(Error::DType { .. })));
}

#[test]
fn matmul_takes_transposed_and_batched_views() {
    let (b, m, k, n) = (3, 5, 7, 4);
    let a = Tensor::randn(&[b, m, k], DType::F32, 1);
    // w stored as [b, n, k] and used transposed: no copy.
    let wt = Tensor::randn(&[b, n, k], DType::F32, 2);
    let out = a.matmul(&wt.t().unwrap()).unwrap();
    assert_eq!(out.shape(), [b, m, n]);
    let (av, wv) = (a.to_vec::<f32>().unwrap(), wt.t().unwrap().contiguous().unwrap().to_vec::<f32>().unwrap());
    let mut want = Vec::new();
    for i in 0..b {
        want.extend(naive_matmul(&av[i * m * k..][..m * k], &wv[i * k * n..][..k * n], m, k, n));
    }
    close(&out.to_vec::<f32>().unwrap(), &want, 1e-5);
    // A 2-D right-hand side broadcasts over the batch.
    let w2 = Tensor::randn(&[k, n], DType::F32, 3);
    let out = a.matmul(&w2).unwrap();
    let w2v = w2.to_vec::<f32>().unwrap();
    let want: Vec<f32> = (0..b).flat_map(|i| naive_matmul(&av[i * m * k..][..m * k], &w2v, m, k, n)).collect();
    close(&out.to_vec::<f32>().unwrap(), &want, 1e-5);
    let e = a.matmul(&a).unwrap_err().to_string();
    assert!(e.contains("matmul") && e.contains("[3, 5, 7]"), "{e}");
    let e = a.matmul(&w2.to_dtype(DType::BF16).unwrap()).unwrap_err().to_string();
    assert!(e.contains("f32") && e.contains("bf16"), "{e}");
}

#[test]
fn linear_adds_the_bias_and_reads_weights_as_stored() {
    let (m, k, n) = (6, 9, 5);
    let x = Tensor::randn(&[2, 3, k], DType::F32, 1);
    let w = Tensor::randn(&[n, k], DType::F32, 2);
    let bias = Tensor::randn(&[n], DType::F32, 3);
    let out = x.linear(&w, Some(&bias)).unwrap();
    assert_eq!(out.shape(), [2, 3, n]);
    let wt = w.t().unwrap().contiguous().unwrap().to_vec::<f32>().unwrap();
    let mut want = naive_matmul(&x.to_vec::<f32>().unwrap(), &wt, m, k, n);
    let bv = bias.to_vec::<f32>().unwrap();
    want.iter_mut().enumerate().for_each(|(i, v)| *v += bv[i % n]);
    close(&out.to_vec::<f32>().unwrap(), &want, 1e-5);
    // One row: the GEMV path.
    let row = x.narrow(1, 1, 1).unwrap().narrow(0, 0, 1).unwrap();
    let out = row.linear(&w, None).unwrap().to_vec::<f32>().unwrap();
    close(&out, &naive_matmul(&row.to_vec::<f32>().unwrap(), &wt, 1, k, n), 1e-5);
    assert!(x.linear(&w, Some(&Tensor::zeros(&[n + 1], DType::F32))).is_err());
}

#[test]
fn linear_residual_adds_onto_the_residual_dense_and_packed() {
    let (m, k, n) = (6, 9, 5);
    let x = Tensor::randn(&[2, 3, k], DType::F32, 4);
    let w = Tensor::randn(&[n, k], DType::F32, 5);
    let bias = Tensor::randn(&[n], DType::F32, 6);
    // A transposed view as the residual: it is read through its strides.
    let residual = Tensor::randn(&[2, n, 3], DType::F32, 7).permute(&[0, 2, 1]).unwrap();
    let packed = PackedWeight::new(&w).unwrap().expect("f32 on the CPU packs");
    for b in [Some(&bias), None] {
        let want = x.linear(&w, b).unwrap().add(&residual).unwrap().to_vec::<f32>().unwrap();
        let dense = x.linear_residual(&w, b, &residual).unwrap();
        assert_eq!(dense.shape(), [2, 3, n]);
        close(&dense.to_vec::<f32>().unwrap(), &want, 1e-5);
        let packed = x.linear_packed_residual(&packed, b, &residual).unwrap();
        close(&packed.to_vec::<f32>().unwrap(), &want, 1e-5);
    }
    // The residual is left as it was, and one of another shape is an error.
    assert_eq!(residual.shape(), [2, 3, n]);
    // Unpacking gives the weight back exactly (N = 5 leaves a partial panel).
    assert_eq!(packed.to_tensor().unwrap().to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
    assert!(x.linear_residual(&w, None, &Tensor::zeros(&[m, n], DType::F32)).is_err());
}

#[test]
fn bf16_weights_pack_and_take_bf16_rows() {
    // A bf16 Linear packed once (bf16 pairs where the CPU has AVX512-BF16):
    // bias, activation and residual against the same Linear in f32 on the
    // widened values, within bf16's rounding of the output; f32 rows are refused.
    let (m, k, n) = (200, 301, 70);
    let x = Tensor::randn(&[m, k], DType::BF16, 11);
    let w = Tensor::randn(&[n, k], DType::BF16, 12);
    let bias = Tensor::randn(&[n], DType::BF16, 13);
    let residual = Tensor::randn(&[m, n], DType::BF16, 14);
    let packed = PackedWeight::new(&w).unwrap().expect("bf16 on the CPU packs");
    let f = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
    let want = f(&x).linear(&f(&w), Some(&f(&bias))).unwrap();
    let gelu = want.gelu().unwrap();
    let plus = want.add(&f(&residual)).unwrap();
    let got = x.linear_packed_act(&packed, Some(&bias), Some(iris_tensor::Unary::Gelu)).unwrap();
    assert_eq!(got.dtype(), DType::BF16);
    close(&f(&got).to_vec::<f32>().unwrap(), &gelu.to_vec::<f32>().unwrap(), 1e-2);
    let got = x.linear_packed_residual(&packed, Some(&bias), &residual).unwrap();
    close(&f(&got).to_vec::<f32>().unwrap(), &plus.to_vec::<f32>().unwrap(), 1e-2);
    assert_eq!(packed.to_tensor().unwrap().to_vec::<half::bf16>().unwrap(), w.to_vec::<half::bf16>().unwrap());
    assert!(f(&x).linear_packed(&packed, None).is_err());
}

#[test]
fn binary_ops_broadcast_like_numpy() {
    let a = Tensor::randn(&[2, 1, 4], DType::F32, 1);
    let b = Tensor::randn(&[3, 1], DType::F32, 2);
    let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    let out = a.sub(&b).unwrap();
    assert_eq!(out.shape(), [2, 3, 4]);
    let want: Vec<f32> = (0..24).map(|i| av[(i / 12) * 4 + i % 4] - bv[(i / 4) % 3]).collect();
    close(&out.to_vec::<f32>().unwrap(), &want, 0.0);
    let t = a.t().unwrap(); // [2, 4, 1], strided
    let want: Vec<f32> = (0..8).map(|i| av[i] * av[i]).collect();
    close(&t.mul(&t).unwrap().to_vec::<f32>().unwrap(), &want, 0.0);
    let e = a.add(&Tensor::zeros(&[3, 5], DType::F32)).unwrap_err().to_string();
    assert!(e.contains("add") && e.contains("[2, 1, 4]") && e.contains("[3, 5]"), "{e}");
}

#[test]
fn cat_embedding_and_casts() {
    let a = Tensor::arange(0.0, 6.0, DType::F32).reshape(&[2, 3]).unwrap();
    let b = Tensor::arange(6.0, 8.0, DType::F32).reshape(&[2, 1]).unwrap();
    let c = Tensor::cat(&[&a, &b], 1).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap(), [0.0, 1.0, 2.0, 6.0, 3.0, 4.0, 5.0, 7.0]);
    assert_eq!(Tensor::cat(&[&a, &a.narrow(0, 1, 1).unwrap()], 0).unwrap().shape(), [3, 3]);
    assert!(Tensor::cat(&[&a, &b], 0).is_err());
    let e = Tensor::embedding(&a, &[1, 0, 1]).unwrap();
    assert_eq!(e.to_vec::<f32>().unwrap(), [3.0, 4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(Tensor::embedding(&a, &[2]).unwrap_err().to_string().contains("out of range"));
    let h = a.to_dtype(DType::F16).unwrap().to_dtype(DType::BF16).unwrap();
    assert_eq!(h.to_vec_f32().unwrap(), a.to_vec::<f32>().unwrap());
}

#[test]
fn attention_on_permuted_views_equals_attention_on_copies() {
    let (b, t, h, hkv, d) = (2, 9, 4, 2, 16);
    // Projections come out as [B, T, H, D]; attention wants [B, H, T, D].
    let q = Tensor::randn(&[b, t, h, d], DType::F32, 1).permute(&[0, 2, 1, 3]).unwrap();
    let k = Tensor::randn(&[b, t, hkv, d], DType::F32, 2).permute(&[0, 2, 1, 3]).unwrap();
    let v = Tensor::randn(&[b, t, hkv, d], DType::F32, 3).permute(&[0, 2, 1, 3]).unwrap();
    let scale = 0.25;
    let views = Tensor::attention(&q, &k, &v, AttnMask::Causal, scale).unwrap();
    let (qc, kc, vc) = (q.contiguous().unwrap(), k.contiguous().unwrap(), v.contiguous().unwrap());
    let copies = Tensor::attention(&qc, &kc, &vc, AttnMask::Causal, scale).unwrap();
    close(&views.to_vec::<f32>().unwrap(), &copies.to_vec::<f32>().unwrap(), 1e-6);
    // Causal equals an additive mask of −inf above the shifted diagonal.
    let m: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
    let mask = Tensor::from_vec(m, &[t, t]).unwrap();
    let additive = Tensor::attention(&q, &k, &v, AttnMask::Additive(&mask), scale).unwrap();
    close(&additive.to_vec::<f32>().unwrap(), &copies.to_vec::<f32>().unwrap(), 1e-6);
    // Cross-attention with an all-keep mask is unmasked attention.
    let keep = Tensor::ones(&[t, t], DType::U8);
    let cross = Tensor::cross_attention(&q, &k, &v, Some(&keep), scale).unwrap();
    // A key mask is bytes (non-zero keeps): floats are refused, not reinterpreted.
    assert!(Tensor::cross_attention(&q, &k, &v, Some(&Tensor::ones(&[t, t], DType::F32)), scale).is_err());
    let plain = Tensor::attention(&q, &k, &v, AttnMask::None, scale).unwrap();
    close(&cross.to_vec::<f32>().unwrap(), &plain.to_vec::<f32>().unwrap(), 1e-6);
    assert!(Tensor::attention(&q, &q.narrow(1, 0, 3).unwrap(), &v, AttnMask::None, 1.0).is_err());
}

#[test]
fn norms_rope_im2col_through_tensors() {
    let x = Tensor::randn(&[3, 8], DType::F32, 1);
    let w = Tensor::ones(&[8], DType::F32);
    let z = Tensor::zeros(&[8], DType::F32);
    let y = x.layer_norm(&w, &z, 1e-5).unwrap().to_vec::<f32>().unwrap();
    for r in y.chunks(8) {
        assert!(r.iter().sum::<f32>().abs() < 1e-4);
    }
    let s = x.softmax().unwrap().to_vec::<f32>().unwrap();
    for r in s.chunks(8) {
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    assert!(x.rms_norm(&Tensor::ones(&[7], DType::F32), 1e-6).unwrap_err().to_string().contains("[7]"));
    // RoPE at angle 0 is the identity.
    let q = Tensor::randn(&[1, 4, 2, 6], DType::F32, 2);
    let (c, sn) = (Tensor::ones(&[4, 3], DType::F32), Tensor::zeros(&[4, 3], DType::F32));
    assert_eq!(q.rope(&c, &sn, 1).unwrap().to_vec::<f32>().unwrap(), q.to_vec::<f32>().unwrap());
    // A 2×2 patch of a 1-channel 4×4 image.
    let img = Tensor::arange(0.0, 16.0, DType::F32).reshape(&[1, 1, 4, 4]).unwrap();
    let cols = img.im2col(2, 2, 0).unwrap();
    assert_eq!(cols.shape(), [1, 4, 4]);
    assert_eq!(cols.to_vec::<f32>().unwrap()[4..8], [2.0, 3.0, 6.0, 7.0]);
}

#[test]
fn op_outputs_reuse_freed_buffers() {
    let x = Tensor::randn(&[1237, 33], DType::F32, 1);
    drop(x.silu().unwrap()); // frees a buffer of this size into the pool
    let before = pool_stats();
    for _ in 0..10 {
        drop(x.silu().unwrap());
    }
    let after = pool_stats();
    // Other tests allocate concurrently, so count only that hits happened.
    assert!(after.hits >= before.hits + 10, "{before:?} -> {after:?}");
}

#[test]
fn write_at_appends_rows_and_leaves_earlier_views_alone() {
    let mut cache = Tensor::zeros(&[2, 4, 3], DType::F32);
    let a = Tensor::from_vec((1..=6).map(|x| x as f32).collect::<Vec<_>>(), &[2, 1, 3]).unwrap();
    cache.write_at(1, 0, &a).unwrap();
    let seen = cache.narrow(1, 0, 1).unwrap();
    // A permuted source is written by value, not by layout.
    let b =
        Tensor::from_vec((7..=24).map(|x| x as f32).collect::<Vec<_>>(), &[2, 3, 3]).unwrap().transpose(1, 2).unwrap();
    cache.write_at(1, 1, &b).unwrap();
    let got = cache.to_vec::<f32>().unwrap();
    let bt = b.to_vec::<f32>().unwrap();
    let mut want = vec![0.0; 24];
    for o in 0..2 {
        want[o * 12..o * 12 + 3].copy_from_slice(&a.to_vec::<f32>().unwrap()[o * 3..o * 3 + 3]);
        want[o * 12 + 3..o * 12 + 12].copy_from_slice(&bt[o * 9..o * 9 + 9]);
    }
    assert_eq!(got, want);
    assert_eq!(seen.to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
    assert!(!seen.shares_storage(&cache), "the view taken before the write keeps its own copy");
    assert!(cache.write_at(1, 3, &b).is_err(), "past the end");
    assert!(cache.write_at(0, 0, &b).is_err(), "other dimensions differ");
}

/// Operands on different devices are an error naming both, not a silent
/// upload; moved to one device, the op runs and agrees with the CPU.
#[test]
fn operands_on_different_devices_are_an_error() {
    let a = Tensor::randn(&[3, 5], DType::F32, 1);
    let b = a.to_device(Device::Wgpu).expect("a wgpu adapter (scripts/install-vulkan.sh installs lavapipe)");
    let err = a.add(&b).unwrap_err().to_string();
    assert!(err.contains("wgpu") && err.contains("cpu"), "{err}");
    let on_gpu = b.add(&b).unwrap().to_vec::<f32>().unwrap();
    close(&on_gpu, &a.add(&a).unwrap().to_vec::<f32>().unwrap(), 1e-6);
    // A u8 tensor round-trips through the device (stored widened there).
    let m = Tensor::from_vec(vec![0u8, 1, 7, 0], &[4]).unwrap();
    assert_eq!(m.to_device(Device::Wgpu).unwrap().to_vec::<u8>().unwrap(), vec![0, 1, 1, 0]);
}

/// Sums and means over the last dimension, against sums computed here.
#[test]
fn sum_and_mean_over_the_last_dimension() {
    let x = Tensor::randn(&[2, 3, 5], DType::F32, 9);
    let v = x.to_vec::<f32>().unwrap();
    let want: Vec<f32> = v.chunks(5).map(|r| r.iter().sum()).collect();
    assert_eq!(x.sum_last().unwrap().shape(), &[2, 3]);
    close(&x.sum_last().unwrap().to_vec::<f32>().unwrap(), &want, 1e-6);
    let means: Vec<f32> = want.iter().map(|s| s / 5.0).collect();
    close(
        &x.transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .mean_last()
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        &means,
        1e-6,
    );
    assert!(Tensor::zeros(&[3, 0], DType::F32).sum_last().is_err());
}

"""PyTorch on the GPU at the shapes of `iris bench --device cuda` (its suite), as JSON lines.

Peers: torch.matmul (cuBLAS), scaled_dot_product_attention with the flash and cuDNN backends,
F.layer_norm / F.rms_norm, conv2d for the patch embedding, and a large device-to-device copy
for the bandwidth ceiling. Median of CUDA-event-timed runs after warm-up.
"""

import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(f, reps=20):
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        f()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def emit(op, peer, shape, ms, flops=0.0, nbytes=0.0):
    rec = {"op": op, "peer": peer, "shape": shape, "median_ms": ms, "gbps": nbytes / ms / 1e6}
    if flops:
        rec["tflops"] = flops / ms / 1e9
    print(json.dumps(rec), flush=True)


def main():
    dev, bf = "cuda", torch.bfloat16
    # transpose_b: B stored [N, K] as a Linear weight (x·Wᵀ), as iris's suite.
    for m, n, k, bt in [(4096, 4096, 4096, True), (8192, 8192, 8192, True), (4096, 11008, 4096, True),
                        (4096, 4096, 4096, False), (1, 4096, 4096, True), (1, 128256, 2048, True)]:
        a = torch.randn(m, k, device=dev, dtype=bf)
        b = torch.randn(n, k, device=dev, dtype=bf) if bt else torch.randn(k, n, device=dev, dtype=bf)
        f = (lambda: a @ b.t()) if bt else (lambda: a @ b)
        shape = {"m": m, "n": n, "k": k, "transpose_b": bt}
        emit("gemm", "torch.matmul", shape, median_ms(f), 2.0 * m * n * k)
    for d in [64, 128]:
        for t in [1024, 4096, 8192]:
            q, k_, v = (torch.randn(1, 16, t, d, device=dev, dtype=bf) for _ in range(3))
            flops = 4.0 * 16 * (t * t - t * t / 2) * d
            for name, backend in [("sdpa-flash", SDPBackend.FLASH_ATTENTION), ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)]:
                try:
                    with sdpa_kernel(backend):
                        ms = median_ms(lambda: F.scaled_dot_product_attention(q, k_, v, is_causal=True))
                    emit("attention", name, {"h": 16, "tq": t, "tk": t, "d": d, "causal": True}, ms, flops)
                except RuntimeError as e:
                    print(f"# {name} d={d} t={t}: {e}", file=sys.stderr)
    # One decode step over a long cache: a query row per head.
    for tk in [4096, 32768]:
        q = torch.randn(1, 32, 1, 128, device=dev, dtype=bf)
        k_, v = (torch.randn(1, 32, tk, 128, device=dev, dtype=bf) for _ in range(2))
        for name, backend in [("sdpa-flash", SDPBackend.FLASH_ATTENTION), ("sdpa-efficient", SDPBackend.EFFICIENT_ATTENTION)]:
            try:
                with sdpa_kernel(backend):
                    ms = median_ms(lambda: F.scaled_dot_product_attention(q, k_, v))
                emit("attention", name, {"h": 32, "tq": 1, "tk": tk, "d": 128}, ms, 4.0 * 32 * tk * 128,
                     2.0 * 2 * 32 * tk * 128)
            except RuntimeError as e:
                print(f"# {name} decode tk={tk}: {e}", file=sys.stderr)
    for tk in [577, 1601, 6404]:
        for tq in [128, 2048]:
            q = torch.randn(1, 32, tq, 128, device=dev, dtype=bf)
            k_, v = (torch.randn(1, 32, tk, 128, device=dev, dtype=bf) for _ in range(2))
            keep = torch.tensor([[(j <= tk // 2 + i) for j in range(tk)] for i in range(tq)], device=dev)
            flops = 4.0 * 32 * tq * tk * 128
            for name, backend in [("sdpa-efficient", SDPBackend.EFFICIENT_ATTENTION), ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)]:
                try:
                    with sdpa_kernel(backend):
                        ms = median_ms(lambda: F.scaled_dot_product_attention(q, k_, v, attn_mask=keep))
                    emit("crossattention", name, {"h": 32, "tq": tq, "tk": tk, "d": 128}, ms, flops)
                except RuntimeError as e:
                    print(f"# {name} tq={tq} tk={tk}: {e}", file=sys.stderr)
    x = torch.randn(4096, 8192, device=dev, dtype=bf)
    w = torch.randn(8192, device=dev, dtype=bf)
    nbytes = 2.0 * x.numel() * 2
    emit("layernorm", "F.layer_norm", {"rows": 4096, "cols": 8192}, median_ms(lambda: F.layer_norm(x, (8192,), w, w)), 0, nbytes)
    emit("rmsnorm", "F.rms_norm", {"rows": 4096, "cols": 8192}, median_ms(lambda: F.rms_norm(x, (8192,), w)), 0, nbytes)
    img = torch.randn(1, 3, 336, 336, device=dev, dtype=bf)
    conv = torch.randn(1024, 3, 14, 14, device=dev, dtype=bf)
    emit("im2col", "conv2d (whole patch embedding)", {"c": 3, "h": 336, "w": 336, "patch": 14},
         median_ms(lambda: F.conv2d(img, conv, stride=14)), 2.0 * 576 * 1024 * 588)
    big = torch.empty(1 << 30, device=dev, dtype=torch.uint8)
    out = torch.empty_like(big)
    emit("copy", "device-to-device copy", {"bytes": 1 << 30}, median_ms(lambda: out.copy_(big)), 0, 2.0 * (1 << 30))


if __name__ == "__main__":
    main()

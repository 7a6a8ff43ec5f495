"""CPU peers for `iris bench`: numpy (OpenBLAS) and PyTorch on the shapes of
iris's standard suite, one JSON object per line in iris's format
(op, device, dtype, shape, median_ms, gflops or gbps, peer).

Run through compare.sh, which makes the venv and sets the thread count
(OPENBLAS_NUM_THREADS must be set before numpy is imported)."""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

THREADS = int(os.environ.get("IRIS_THREADS", "2"))
torch.set_num_threads(THREADS)


def median_ms(f):
    """Median wall time after one warm-up: at least 5 runs and 1 s, as iris does."""
    f()
    times, start = [], time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < 1.0 and len(times) < 1000):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def emit(peer, op, shape, ms, flops=0.0, nbytes=0.0, dtype="f32"):
    rec = {"peer": peer, "op": op, "device": "cpu", "dtype": dtype, "threads": THREADS, "shape": shape, "median_ms": round(ms, 4)}
    if flops:
        rec["gflops"] = round(flops / ms / 1e6, 2)
    if nbytes:
        rec["gbps"] = round(nbytes / ms / 1e6, 2)
    print(json.dumps(rec), flush=True)


def gemm():
    for m, n, k, tb in [(1024, 1024, 1024, False), (2048, 2048, 2048, False), (1, 11008, 4096, True)]:
        shape = {"k": k, "m": m, "n": n, "transpose_b": tb}
        a = np.random.randn(m, k).astype(np.float32)
        w = np.random.randn(n, k).astype(np.float32) if tb else np.random.randn(k, n).astype(np.float32)
        flops, nbytes = 2.0 * m * n * k, 4.0 * (m * k + k * n + m * n)
        gb = nbytes if m == 1 else 0.0
        emit("numpy", "gemm", shape, median_ms(lambda: a @ (w.T if tb else w)), flops, gb)
        ta, tw = torch.from_numpy(a), torch.from_numpy(w)
        with torch.inference_mode():
            f = (lambda: F.linear(ta, tw)) if tb else (lambda: ta @ tw)
            emit("torch", "gemm", shape, median_ms(f), flops, gb)


def gemm_bf16():
    """bf16 products (oneDNN: vdpbf16ps, or AMX tiles where the CPU has them), f32 accumulation."""
    for m, n, k, tb in [(2048, 2048, 2048, False), (4096, 4096, 4096, False), (577, 4096, 1024, True)]:
        shape = {"k": k, "m": m, "n": n, "transpose_b": tb}
        a = torch.randn(m, k).bfloat16()
        w = torch.randn(n, k).bfloat16() if tb else torch.randn(k, n).bfloat16()
        with torch.inference_mode():
            f = (lambda: F.linear(a, w)) if tb else (lambda: a @ w)
            emit("torch", "gemm", shape, median_ms(f), 2.0 * m * n * k, dtype="bf16")


def attention(dtype="f32"):
    cases = [
        # (op, b, h, hkv, tq, tk, d, causal)
        ("attention", 1, 16, 16, 1024, 1024, 64, True),
        ("attention", 1, 32, 8, 1, 4096, 128, False),
        ("crossattention", 1, 32, 32, 64, 6404, 128, False),
    ]
    if dtype == "bf16":
        cases.insert(1, ("attention", 1, 16, 16, 577, 577, 64, False))  # CLIP-L/14-336's encoder
    cast = (lambda t: t.bfloat16()) if dtype == "bf16" else (lambda t: t)
    for op, b, h, hkv, tq, tk, d, causal in cases:
        shape = {"b": b, "causal": causal, "d": d, "h": h, "hkv": hkv, "tk": tk, "tq": tq}
        q = cast(torch.randn(b, h, tq, d))
        k, v = cast(torch.randn(b, hkv, tk, d)), cast(torch.randn(b, hkv, tk, d))
        mask = None
        if op == "crossattention":
            i = torch.arange(tq * tk)
            mask = ((i % tk) <= tk // 2 + i // tk).reshape(tq, tk)
        pairs = tq * tk - tq * tq / 2 if causal else tq * tk
        with torch.inference_mode():
            f = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=hkv != h)
            emit("torch", op, shape, median_ms(f), 4.0 * b * h * pairs * d, dtype=dtype)
        if op == "attention" and causal and dtype == "f32":
            # The backward alone: dq, dk, dv of one output gradient, the graph kept between runs.
            qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
            o = F.scaled_dot_product_attention(qg, kg, vg, is_causal=True)
            do = torch.randn_like(o)
            f = lambda: torch.autograd.grad(o, (qg, kg, vg), do, retain_graph=True)
            emit("torch", "attentionbackward", shape, median_ms(f), 10.0 * b * h * pairs * d)


def rowwise():
    with torch.inference_mode():
        img = torch.randn(1, 3, 336, 336)
        ms = median_ms(lambda: F.unfold(img, 14, stride=14))
        emit("torch", "im2col", {"c": 3, "h": 336, "patch": 14, "w": 336}, ms, nbytes=4.0 * 2 * img.numel())
        for op, rows, cols in [("layernorm", 577, 1024), ("rmsnorm", 577, 4096), ("softmax", 577, 577)]:
            x, w = torch.randn(rows, cols), torch.randn(cols)
            f = {
                "layernorm": lambda: F.layer_norm(x, (cols,), w, w, 1e-5),
                "rmsnorm": lambda: F.rms_norm(x, (cols,), w, 1e-5),
                "softmax": lambda: torch.softmax(x, -1),
            }[op]
            emit("torch", op, {"cols": cols, "rows": rows}, median_ms(f), nbytes=4.0 * 2 * x.numel())
        # RoPE as transformers computes it: x·cos + rotate_half(x)·sin.
        rows, cols = 32 * 1024, 128
        x = torch.randn(rows, cols)
        cos, sin = torch.randn(rows, cols), torch.randn(rows, cols)

        def rope():
            x1, x2 = x[..., : cols // 2], x[..., cols // 2 :]
            return x * cos + torch.cat((-x2, x1), dim=-1) * sin

        emit("torch", "rope", {"cols": cols, "rows": rows}, median_ms(rope), nbytes=4.0 * 2 * x.numel() + 4.0 * rows * cols)


if __name__ == "__main__":
    print(f"peers: numpy {np.__version__}, torch {torch.__version__}, {THREADS} threads", file=sys.stderr)
    gemm()
    gemm_bf16()
    attention()
    attention("bf16")
    rowwise()

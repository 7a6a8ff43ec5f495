"""PyTorch + transformers peer of `iris bench train`: one training step (image features, forward,
backward, clip_grad_norm_, AdamW) at the same preset, sequence, batch and stage, f32, random
weights, the same thread count; the median of three steps after a warm-up. One JSON line.

usage: train.py PRESET [--layers K] [--seq T] [--batch B] [--stage 1|2] [--threads N]
"""

import argparse
import json
import time

import torch
from transformers import LlavaForConditionalGeneration

from models import presets, randomise, rss_mb


def main():
    baseline = rss_mb("VmRSS:")
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--stage", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = presets(a.preset, a.layers)
    if a.preset == "mllama-11b-vision":
        raise SystemExit("train.py: LLaVA presets only")
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(cfg)
    model = model.to_empty(device="cpu").float()
    emb = model.model.vision_tower.embeddings
    emb.position_ids = torch.arange(emb.num_positions).expand((1, -1))
    lm = model.model.language_model
    lm.rotary_emb = type(lm.rotary_emb)(cfg.text_config)
    randomise(model)
    model.train()
    params = []
    for n, p in model.named_parameters():
        learns = "multi_modal_projector" in n or (a.stage == 2 and "vision_tower" not in n)
        p.requires_grad_(learns)
        if learns:
            params.append(p)
    vocab = cfg.text_config.vocab_size
    s = cfg.vision_config.image_size
    slots = (s // cfg.vision_config.patch_size) ** 2
    answer = [(i * 104729) % (vocab - 10) + 5 for i in range(a.seq // 4)]
    text = a.seq - slots - len(answer) - 1
    prompt = [(i * 7919) % (vocab - 10) + 5 for i in range(text)]
    prompt[1:1] = [cfg.image_token_index] * slots
    ids = torch.tensor([prompt + answer + [2]] * a.batch)
    labels = torch.full_like(ids, -100)
    labels[:, len(prompt):] = ids[:, len(prompt):]
    px = torch.randn(a.batch, 3, s, s)
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-4)
    phases = []
    for step in range(4):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = model(input_ids=ids, pixel_values=px, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t3 = time.perf_counter()
        if step:
            phases.append([(t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3])
    med = lambda i: sorted(p[i] for p in phases)[len(phases) // 2]  # noqa: E731
    step_ms = sorted(sum(p) for p in phases)[len(phases) // 2]
    rec = {"preset": a.preset, "device": "cpu", "dtype": "f32", "threads": a.threads, "peer": "pytorch",
           "stage": a.stage, "seq": a.seq, "batch": a.batch, "step_ms": step_ms, "forward_ms": med(0),
           "backward_ms": med(1), "optimizer_ms": med(2), "peak_mem_mb": rss_mb("VmHWM:") - baseline}
    if a.layers:
        rec["layers"] = a.layers
    print(json.dumps(rec))


if __name__ == "__main__":
    main()

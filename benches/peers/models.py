"""PyTorch + transformers at the presets of `iris bench model`, random weights, same dtype and
thread count, torch.inference_mode; one JSON object per line like iris's.

usage: models.py PRESET [--dtype f32|bf16] [--threads N] [--layers K]
"""

import argparse
import json
import resource
import time

import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, MllamaConfig, MllamaForConditionalGeneration


def presets(name, layers):
    clip = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                num_attention_heads=16, image_size=336, patch_size=14)
    tiny = dict(model_type="clip_vision_model", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, image_size=28, patch_size=14)
    llama2 = dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers or 32,
                  num_attention_heads=32, num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096,
                  rms_norm_eps=1e-5)
    if name == "clip-vit-l-336":
        return LlavaConfig(vision_config=clip, text_config=dict(model_type="llama", hidden_size=4096, num_hidden_layers=1,
                                                                 num_attention_heads=32, vocab_size=32064))
    if name == "llava-1.5-7b":
        return LlavaConfig(vision_config=clip, text_config=llama2, image_token_index=32000)
    if name == "llama-3.2-1b":
        return LlavaConfig(vision_config=tiny, text_config=dict(
            model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=layers or 16,
            num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256, rms_norm_eps=1e-5,
            max_position_embeddings=131072, tie_word_embeddings=True,
            rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0, low_freq_factor=1.0,
                                 high_freq_factor=4.0, original_max_position_embeddings=8192)), image_token_index=128000)
    raise SystemExit(f"unknown preset {name}")


def median_ms(f, reps=3):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
    cfg = presets(a.preset, a.layers)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(cfg)
    model = model.to_empty(device="cpu").to(dtype).eval()
    # Non-persistent buffers come out of to_empty uninitialised: rebuild them.
    emb = model.model.vision_tower.embeddings
    emb.position_ids = torch.arange(emb.num_positions).expand((1, -1))
    lm = model.model.language_model
    lm.rotary_emb = type(lm.rotary_emb)(cfg.text_config)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.ones_like(p) if "norm" in n and n.endswith("weight") else (torch.rand(p.shape, generator=g) - 0.5) * 0.04)
    rec = {"preset": a.preset, "device": "cpu", "dtype": a.dtype, "threads": a.threads, "peer": "pytorch"}
    s = cfg.vision_config.image_size
    px = torch.randn(1, 3, s, s, dtype=dtype)
    with torch.inference_mode():
        if a.preset != "llama-3.2-1b":
            rec["encode_ms"] = median_ms(lambda: model.model.get_image_features(pixel_values=px))
        if a.preset != "clip-vit-l-336":
            lm = model.model.language_model
            head = model.lm_head
            vocab = cfg.text_config.vocab_size
            n_img = 576 if a.preset == "llava-1.5-7b" else 0
            ids = torch.tensor([[(i * 7919) % (vocab - 10) + 5 for i in range(64)]])
            emb = lm.embed_tokens(ids)
            if n_img:
                feats = model.model.get_image_features(pixel_values=px).pooler_output[0].unsqueeze(0)
                emb = torch.cat([emb[:, :1], feats.to(dtype), emb[:, 1:]], 1)
            best_p, best_d = float("inf"), float("inf")
            for _ in range(2):
                from transformers import DynamicCache
                cache = DynamicCache(config=cfg.text_config)
                t = time.perf_counter()
                out = lm(inputs_embeds=emb, past_key_values=cache, use_cache=True)
                head(out.last_hidden_state[:, -1:])
                best_p = min(best_p, time.perf_counter() - t)
                t = time.perf_counter()
                for i in range(16):
                    out = lm(input_ids=torch.tensor([[(i * 31 + 7)]]), past_key_values=out.past_key_values, use_cache=True)
                    head(out.last_hidden_state)
                best_d = min(best_d, (time.perf_counter() - t) / 16)
            rec["prefill_tokens"] = emb.shape[1]
            rec["prefill_tok_s"] = emb.shape[1] / best_p
            rec["decode_tok_s"] = 1.0 / best_d
    rec["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(json.dumps(rec))


if __name__ == "__main__":
    main()

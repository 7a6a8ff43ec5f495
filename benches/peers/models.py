"""PyTorch + transformers at the presets of `iris bench model`, random weights, same dtype and
thread count, torch.inference_mode; one JSON object per line like iris's.

usage: models.py PRESET [--dtype f32|bf16] [--threads N] [--layers K]
"""

import argparse
import json
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
        # The whole tower (24 layers), as iris's and candle's presets run it.
        return LlavaConfig(vision_config=clip, vision_feature_layer=-1, text_config=dict(
            model_type="llama", hidden_size=4096, num_hidden_layers=1, num_attention_heads=32, vocab_size=32064))
    if name == "llava-1.5-7b":
        return LlavaConfig(vision_config=clip, text_config=llama2, image_token_index=32000)
    if name == "llama-3.2-1b":
        return LlavaConfig(vision_config=tiny, text_config=dict(
            model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=layers or 16,
            num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256, rms_norm_eps=1e-5,
            max_position_embeddings=131072, tie_word_embeddings=True,
            rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0, low_freq_factor=1.0,
                                 high_freq_factor=4.0, original_max_position_embeddings=8192)), image_token_index=128000)
    if name == "mllama-11b-vision":
        n = layers or 40
        return MllamaConfig(
            vision_config=dict(hidden_size=1280, image_size=560, patch_size=14, num_hidden_layers=32, num_global_layers=8,
                               attention_heads=16, intermediate_size=5120, vision_output_dim=7680, max_num_tiles=4,
                               intermediate_layers_indices=[3, 7, 15, 23, 30]),
            text_config=dict(num_hidden_layers=n, cross_attention_layers=[l for l in (3, 8, 13, 18, 23, 28, 33, 38) if l < n],
                             rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                                  high_freq_factor=4.0, original_max_position_embeddings=8192)))
    raise SystemExit(f"unknown preset {name}")


def randomise(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.ones_like(p) if "norm" in n and n.endswith("weight") else (torch.rand(p.shape, generator=g) - 0.5) * 0.04)


def mllama(cfg, dtype, rec):
    """Vision encoder at 4 tiles of 560 px (encode: vision model + projector), then a 64-token
    prompt whose tokens after the first see the image, and 16 decode steps on cached cross K/V."""
    from transformers import DynamicCache
    with torch.device("meta"):
        model = MllamaForConditionalGeneration(cfg)
    model = model.to_empty(device="cpu").to(dtype).eval()
    lm = model.model.language_model
    lm.rotary_emb = type(lm.rotary_emb)(cfg.text_config)
    randomise(model)
    v = cfg.vision_config
    px = torch.randn(1, 1, v.max_num_tiles, 3, v.image_size, v.image_size, dtype=dtype)
    ar_ids, ar_mask = torch.tensor([[6]]), torch.ones(1, 1, v.max_num_tiles, dtype=torch.long)
    mm = model.model

    def encode():
        s = mm.vision_model(pixel_values=px, aspect_ratio_ids=ar_ids, aspect_ratio_mask=ar_mask).last_hidden_state
        return mm.multi_modal_projector(s).reshape(-1, s.shape[-2], cfg.text_config.hidden_size)

    rec["encode_ms"] = median_ms(encode, reps=1)
    states = encode()
    vocab = cfg.text_config.vocab_size
    ids = torch.tensor([[(i * 7919) % (vocab - 10) + 5 for i in range(64)]])
    cam = torch.ones(1, 64, 1, v.max_num_tiles, dtype=torch.long)
    cam[:, 0] = 0
    t = time.perf_counter()
    cache = DynamicCache(config=cfg.text_config)
    out = mm(input_ids=ids, cross_attention_states=states, cross_attention_mask=cam, cache=cache, use_cache=True)
    model.lm_head(out.last_hidden_state[:, -1:])
    rec["prefill_tokens"] = 64
    rec["prefill_tok_s"] = 64 / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(16):
        out = mm(input_ids=torch.tensor([[(i * 31 + 7)]]), cross_attention_mask=cam[:, -1:], cache=cache, use_cache=True)
        model.lm_head(out.last_hidden_state)
    rec["decode_tok_s"] = 16 / (time.perf_counter() - t)


def median_ms(f, reps=3):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def rss_mb(key):
    """VmRSS or VmHWM of this process in MB (/proc/self/status)."""
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1e3
    return 0.0


def main():
    # Peak memory is reported above the resident set after the imports (the interpreter, torch and
    # transformers), as iris and candle report theirs above their start.
    baseline = rss_mb("VmRSS:")
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
    cfg = presets(a.preset, a.layers)
    rec = {"preset": a.preset, "device": "cpu", "dtype": a.dtype, "threads": a.threads, "peer": "pytorch"}
    if a.layers:
        rec["layers"] = a.layers
    if a.preset == "mllama-11b-vision":
        with torch.inference_mode():
            mllama(cfg, dtype, rec)
        rec["peak_mem_mb"] = rss_mb("VmHWM:") - baseline
        print(json.dumps(rec))
        return
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(cfg)
    model = model.to_empty(device="cpu").to(dtype).eval()
    # Non-persistent buffers come out of to_empty uninitialised: rebuild them.
    emb = model.model.vision_tower.embeddings
    emb.position_ids = torch.arange(emb.num_positions).expand((1, -1))
    lm = model.model.language_model
    lm.rotary_emb = type(lm.rotary_emb)(cfg.text_config)
    randomise(model)
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
    rec["peak_mem_mb"] = rss_mb("VmHWM:") - baseline
    print(json.dumps(rec))


if __name__ == "__main__":
    main()

"""The tiny models' checkpoints, as transformers builds them (iris trains them: scripts/train-tiny.sh).

  tiny.py init OUT                     tokenizer; seeded random LLaVA (CLIP + Llama) and Mllama folders:
                                       OUT/llava-init, OUT/mllama-init
  tiny.py llava TEXT VISION OUT        LLaVA from OUT/llava-init with the language model of TEXT (a
                                       LLaVA folder whose Llama was pre-trained on text) and the vision
                                       tower of VISION (a LLaVA captioner); the projector stays fresh
  tiny.py mllama TEXT VISION OUT       Mllama from OUT/mllama-init with TEXT's Llama layers as its self-
                                       attention layers (the cross-attention layers inserted between them
                                       fresh, gates 0: text-only behaviour unchanged) and VISION's vision
                                       model (an Mllama captioner)
  tiny.py half SRC OUT                 SRC with its weights in bf16 (the shipped form)
  tiny.py check DIR OUT.safetensors IMAGE QUESTION   transformers' logits of a chat prompt (f32)

One torch thread and fixed seeds: reruns write the same bytes.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaImageProcessorPil,
    MllamaProcessor,
    PreTrainedTokenizerFast,
)

torch.set_num_threads(1)
SEED = 1234
# The bundled models: 64-pixel pictures in 16-pixel patches, 4 encoder layers. Encoder studies name others
# (docs/training.md): IRIS_TINY_PATCH=8 gives 64 image tokens, IRIS_TINY_VISION_LAYERS a deeper encoder.
SIDE = 64
PATCH = int(os.environ.get("IRIS_TINY_PATCH", "16"))
VISION_LAYERS = int(os.environ.get("IRIS_TINY_VISION_LAYERS", "4"))
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
WORDS = (
    "what color is the shape object how many shapes are there where describe image in detail "
    "a and at top bottom left right yes no one two three "
    "red green blue yellow purple orange white black circle square triangle star cross . ? : ,"
).split()
SPECIALS = ["<s>", "</s>", "<unk>", "<pad>"]
# The Llama is shared: one vocabulary, <|image|> last (Mllama's vocab_size stops before it, as Llama 3.2
# Vision's does; LLaVA's <image> sits inside its vocabulary).
CHAT = ["<|user|>", "<|assistant|>", "<image>", "<|image|>"]
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|> ' }}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<image> ' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% else %}{{ '<|assistant|> ' + message['content'] + '</s>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
MLLAMA_TEMPLATE = "{{- bos_token }}" + LLAVA_TEMPLATE.replace("'<image> '", "'<|image|>'")
TEXT = dict(hidden_size=128, intermediate_size=384, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
            bos_token_id=0, eos_token_id=1, pad_token_id=3)
VISION = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=VISION_LAYERS,
              num_attention_heads=4, image_size=SIDE, patch_size=PATCH)
LLAMA_LAYERS = 4
CROSS_LAYERS = [1, 4]  # Mllama's text layers: self 0, cross 1, self 2, 3, cross 4, self 5


def tokenizer(folder: Path, image_token: str, template: str) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS + CHAT)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS + CHAT)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": image_token})
    fast.chat_template = template
    fast.save_pretrained(folder)
    return fast


def llava_init(folder: Path) -> None:
    tok = tokenizer(folder, "<image>", LLAVA_TEMPLATE)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**VISION, hidden_act="quick_gelu"),
        text_config=LlamaConfig(**TEXT, num_hidden_layers=LLAMA_LAYERS, vocab_size=len(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        image_seq_length=(SIDE // PATCH) ** 2,
    )
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config)
    proc = CLIPImageProcessorPil(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE},
                                 image_mean=CLIP_MEAN, image_std=CLIP_STD)
    LlavaProcessor(image_processor=proc, tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
                   num_additional_image_tokens=1,
                   chat_template=LLAVA_TEMPLATE).save_pretrained(folder)
    model.generation_config.eos_token_id = 1
    model.save_pretrained(folder)


def mllama_init(folder: Path) -> None:
    tok = tokenizer(folder, "<|image|>", MLLAMA_TEMPLATE)
    image_id = tok.convert_tokens_to_ids("<|image|>")
    layers = [1, 3]
    vision = dict(VISION, num_global_layers=2, max_num_tiles=1, intermediate_layers_indices=layers,
                  supported_aspect_ratios=[[1, 1]], vision_output_dim=VISION["hidden_size"] * (1 + len(layers)))
    text = dict(TEXT, num_hidden_layers=LLAMA_LAYERS + len(CROSS_LAYERS), cross_attention_layers=CROSS_LAYERS,
                vocab_size=image_id, rope_scaling={"rope_type": "default", "rope_theta": 10000.0})
    config = MllamaConfig(vision_config=vision, text_config=text, image_token_index=image_id)
    torch.manual_seed(SEED + 1)
    model = MllamaForConditionalGeneration(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("_gate") and "cross_attn" in name:
                p.zero_()  # Flamingo's start: the cross-attention layers pass text through unchanged
    proc = MllamaImageProcessorPil(size={"height": SIDE, "width": SIDE}, max_image_tiles=1,
                                   image_mean=CLIP_MEAN, image_std=CLIP_STD)
    MllamaProcessor(image_processor=proc, tokenizer=tok, chat_template=MLLAMA_TEMPLATE).save_pretrained(folder)
    model.generation_config.eos_token_id = 1
    model.save_pretrained(folder)


def weights(folder: Path) -> dict:
    return load_file(folder / "model.safetensors")


def copy_folder(src: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("log.jsonl", "train_state*", "*.png"))


def compose_llava(root: Path, text: Path, vision: Path, out: Path) -> None:
    copy_folder(root / "llava-init", out)
    w = weights(root / "llava-init")
    t, v = weights(text), weights(vision)
    for k in w:
        if k.startswith("language_model."):
            w[k] = t[k]
        elif "vision_tower" in k:
            w[k] = v[k]
    save_file(w, out / "model.safetensors", metadata={"format": "pt"})


def compose_mllama(root: Path, text: Path, vision: Path, out: Path) -> None:
    copy_folder(root / "mllama-init", out)
    w = weights(root / "mllama-init")
    t, v = weights(text), weights(vision)
    self_layers = [i for i in range(LLAMA_LAYERS + len(CROSS_LAYERS)) if i not in CROSS_LAYERS]
    lm, head = "language_model.model.", "language_model.lm_head.weight"
    vocab = w[head].shape[0]
    for k in list(w):
        if "vision_model" in k:
            w[k] = v[k]
        elif k.startswith(lm + "layers."):
            i = int(k.split(".")[3])
            if i in self_layers:
                src = k.replace(f"layers.{i}.", f"layers.{self_layers.index(i)}.", 1)
                w[k] = t[src]
        elif k == lm + "embed_tokens.weight":
            rows = t[k]
            w[k] = torch.cat([rows[:vocab], w[k][vocab:]])
        elif k == head:
            w[k] = t[k][:vocab]
        elif k == lm + "norm.weight":
            w[k] = t[k]
    save_file({k: x.contiguous() for k, x in w.items()}, out / "model.safetensors", metadata={"format": "pt"})


def half(src: Path, out: Path) -> None:
    copy_folder(src, out)
    w = {k: x.to(torch.bfloat16) for k, x in weights(src).items()}
    save_file(w, out / "model.safetensors", metadata={"format": "pt"})
    cfg = json.loads((out / "config.json").read_text())
    cfg["dtype"] = "bfloat16"
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def check(folder: Path, out: Path, image: Path, question: str) -> None:
    from PIL import Image

    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(folder)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True)
    mllama = isinstance(model, MllamaForConditionalGeneration)
    inputs = proc(images=Image.open(image).convert("RGB"), text=text, return_tensors="pt",
                  add_special_tokens=not mllama)
    with torch.inference_mode():
        logits = model(**inputs).logits[0].float().contiguous()
        gen = model.generate(**inputs, max_new_tokens=16, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    save_file({"logits": logits, "input_ids": inputs["input_ids"][0].contiguous(), "greedy_ids": gen.contiguous()}, out)
    print(json.dumps({"prompt": text, "answer": proc.tokenizer.decode(gen, skip_special_tokens=True)}))


def main() -> None:
    cmd, *args = sys.argv[1:]
    if cmd == "init":
        root = Path(args[0])
        llava_init(root / "llava-init")
        mllama_init(root / "mllama-init")
    elif cmd == "llava":
        compose_llava(Path(args[2]).parent, Path(args[0]), Path(args[1]), Path(args[2]))
    elif cmd == "mllama":
        compose_mllama(Path(args[2]).parent, Path(args[0]), Path(args[1]), Path(args[2]))
    elif cmd == "half":
        half(Path(args[0]), Path(args[1]))
    elif cmd == "check":
        check(Path(args[0]), Path(args[1]), Path(args[2]), args[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

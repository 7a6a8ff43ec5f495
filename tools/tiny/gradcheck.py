"""Does iris train a LLaVA checkpoint on real data as PyTorch would? (docs/training.md)

    iris train --model MODEL --data DATA --stage 2 --steps 1 --batch-size N --grads-out GRADS --out SCRATCH
    python tools/tiny/gradcheck.py MODEL DATA GRADS

DATA is N lines of `iris data shapes` JSONL (a `question` put in the chat template, an `answer`), so that
the one step's batch is all of them. Transformers computes the same mean loss per answer token (and eos)
and its gradients for every tensor in GRADS; prints both losses and the tensors whose gradients differ most
(relative to their norm). The prompt is tokenized as iris does: the chat template, then the tokenizer's
special tokens (BOS). Take PNG lines: PIL and iris decode JPEG pictures a level or two apart here and
there, which moves a three-shape picture's loss by 5e-5 and some gradients by 1e-3.
"""

import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoProcessor, LlavaForConditionalGeneration


def main() -> None:
    folder, data, grads = sys.argv[1], Path(sys.argv[2]), load_file(sys.argv[3])
    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    proc = AutoProcessor.from_pretrained(folder)
    stored = load_file(f"{folder}/model.safetensors")
    # The checkpoint name of each in-memory parameter, matched by value (the layouts differ).
    names = {}
    for n, p in model.named_parameters():
        hits = [k for k, t in stored.items() if t.shape == p.shape and torch.equal(t.float(), p.detach())]
        names[n] = hits[0] if len(hits) == 1 else None
        p.requires_grad_(names[n] in grads)
    eos = model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    total, count = torch.zeros(()), 0
    for line in data.read_text().splitlines():
        v = json.loads(line)
        image = Image.open(data.parent / v["image"]).convert("RGB")
        chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": v["question"]}]}]
        prompt = proc.apply_chat_template(chat, add_generation_prompt=True)
        inputs = proc(images=image, text=prompt, return_tensors="pt", add_special_tokens=True)
        p = inputs["input_ids"].shape[1]
        ids = inputs["input_ids"][0].tolist() + proc.tokenizer(v["answer"], add_special_tokens=False)["input_ids"]
        ids.append(eos)
        logits = model(input_ids=torch.tensor([ids]), pixel_values=inputs["pixel_values"]).logits[0]
        lp = torch.log_softmax(logits[p - 1:-1], -1)
        total = total - lp.gather(1, torch.tensor(ids[p:]).unsqueeze(1)).sum()
        count += len(ids) - p
    loss = total / count
    loss.backward()
    print(f"loss: transformers {loss.item():.6f}, iris {grads['loss'].item():.6f}")
    diffs = []
    for n, p in model.named_parameters():
        if names[n] in grads:
            ours = grads[names[n]].float().reshape(p.grad.shape)
            diffs.append(((p.grad - ours).norm().item() / max(p.grad.norm().item(), 1e-12), names[n]))
    missing = set(grads) - {"loss"} - {names[n] for n, _ in model.named_parameters()}
    if missing:
        sys.exit(f"gradients of no parameter here: {sorted(missing)}")
    diffs.sort(reverse=True)
    print(f"{len(diffs)} gradients; largest relative differences:")
    for d, n in diffs[:5]:
        print(f"  {d:.2e} {n}")


if __name__ == "__main__":
    main()

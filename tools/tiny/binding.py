"""Can the tiny Llama learn which colour goes with which shape? (docs/training.md)

    python tools/tiny/binding.py RUN_DIR words|joint [STEPS [POSITIONS [BATCH]]]

RUN_DIR holds `llava-init` (tools/tiny/tiny.py init). Trains its fresh Llama (PyTorch, CPU) on
"<objects> what color is the {shape} ? <|assistant|>" → colour, 1 to 3 objects among POSITIONS
(default 8; the rest filler), BATCH (default 32) examples a step, and prints held-out accuracy by
object count every 100 steps.
  words: each object is two positions, the colour word then the shape word (as text writes it);
  joint: each object is one position, the sum of the two words' embeddings (as a patch token
         that knows both its shape and its colour).
"""

import collections
import random
import sys

import torch
from transformers import AutoTokenizer, LlavaForConditionalGeneration

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
SHAPES = ["circle", "square", "triangle", "star", "cross"]


def main() -> None:
    run, mode = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    positions = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    batch_size = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    torch.manual_seed(0)
    torch.set_num_threads(1)
    random.seed(0)
    tok = AutoTokenizer.from_pretrained(f"{run}/llava-init")
    model = LlavaForConditionalGeneration.from_pretrained(f"{run}/llava-init")
    lm, head = model.model.language_model, model.lm_head
    emb = lm.embed_tokens.weight
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    filler = ids("a")[0]

    def sample():
        n = random.randint(1, 3)
        cs, ss = random.sample(range(8), n), random.sample(range(5), n)
        objs = [(ids(COLORS[c])[0], ids(SHAPES[s])[0]) for c, s in zip(cs, ss)] + [(filler, None)] * (positions - n)
        random.shuffle(objs)
        i = random.randrange(n)
        return objs, ids(f"what color is the {SHAPES[ss[i]]} ? <|assistant|>"), ids(COLORS[cs[i]])[0], n

    def embed(objs, question):
        rows = [emb[0], emb[ids("<|user|>")[0]]]
        for c, s in objs:
            if s is None:
                rows.append(emb[c])
            elif mode == "joint":
                rows.append(emb[c] + emb[s])
            else:
                rows += [emb[c], emb[s]]
        return torch.stack(rows + [emb[t] for t in question])

    params = list(lm.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    held = [sample() for _ in range(300)]

    def accuracy():
        ok, tot = collections.Counter(), collections.Counter()
        with torch.no_grad():
            for objs, q, answer, n in held:
                h = lm(inputs_embeds=embed(objs, q)[None]).last_hidden_state[0, -1]
                tot[n] += 1
                ok[n] += int(head(h).argmax()) == answer
        return " ".join(f"{n} shapes {ok[n] / tot[n]:.2f}" for n in sorted(tot))

    for step in range(steps + 1):
        if step % 100 == 0:
            print(f"step {step}: {accuracy()}", flush=True)
        if step == steps:
            break
        batch = [sample() for _ in range(batch_size)]
        # Left-padded to one length (the padding masked).
        rows = [embed(o, q) for o, q, _, _ in batch]
        width = max(r.shape[0] for r in rows)
        x = torch.stack([torch.cat([r.new_zeros(width - r.shape[0], r.shape[1]), r]) for r in rows])
        mask = torch.stack([torch.arange(width) >= width - r.shape[0] for r in rows]).long()
        h = lm(inputs_embeds=x, attention_mask=mask).last_hidden_state[:, -1]
        loss = torch.nn.functional.cross_entropy(head(h), torch.tensor([a for _, _, a, _ in batch]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()


if __name__ == "__main__":
    main()

"""How well does a pre-trained CLIP encoder read pictures it has not seen? (docs/training.md)

    python tools/tiny/probe.py PROBE_RUN DATA_DIR...

PROBE_RUN is an `iris train --probe` run of the LLaVA folder (scripts/train-tiny.sh's `clip-probe`): its
model.safetensors holds the encoder, its train_state.safetensors the projector and the probe's head as
trained. Each DATA_DIR is an `iris data shapes` folder whose pretrain.jsonl labels pictures the run has not
seen, e.g. `iris data shapes --out D --n 600 --shifted 1 --seed 7` for shifted ones. Prints, per folder, the
share of shape cells classed right, how the others went wrong (called background, another shape, another
colour, another quadrant), the share of background cells right, and of pictures with every cell right; then
which shapes it most often read as which, and how often the cell holding a shape's centre reads its shape, by
the shape's size (its radius estimated from the pixels of its colour: shapes.py).
Transformers computes the features (iris gives the same numbers: crates/model/tests), on one thread.
"""

import json
import sys

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from transformers import AutoProcessor, LlavaForConditionalGeneration

from shapes import SHAPES, SIZES, centre_and_radius, size_bucket

COLORS, PLACES = 8, 4  # labels are (shape·8 + colour)·4 + quadrant; the last class is the background


def main() -> None:
    run, dirs = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(run).eval()
    proc = AutoProcessor.from_pretrained(run)
    state = safe_open(f"{run}/train_state.safetensors", "pt")
    head = state.get_tensor("param.probe.head")
    background = head.shape[0] - 1
    prefix = "param.multi_modal_projector."
    model.model.multi_modal_projector.load_state_dict(
        {k[len(prefix):]: state.get_tensor(k) for k in state.keys() if k.startswith(prefix)})
    for d in dirs:
        counts = dict.fromkeys(["right", "background", "shape", "colour", "quadrant"], 0)
        bg_right = bg_cells = pictures_right = pictures = 0
        mixed = {}  # (shape, shape read) -> cells
        by_size = {b: [0, 0] for b in SIZES}  # bucket -> [centre cells reading the shape right, shapes]
        for line in open(f"{d}/pretrain.jsonl"):
            v = json.loads(line)
            image = Image.open(f"{d}/{v['image']}").convert("RGB")
            px = proc.image_processor(image, return_tensors="pt")
            with torch.no_grad():
                out = model.model.get_image_features(pixel_values=px["pixel_values"])
                f = getattr(out, "pooler_output", out)
                f = (f[0] if isinstance(f, (list, tuple)) else f).reshape(-1, head.shape[1])
                pred = (f[-len(v["labels"]):] @ head.T).argmax(-1).tolist()
            pictures += 1
            pictures_right += pred == v["labels"]
            grid, pixels = round(len(pred) ** 0.5), np.asarray(image)
            for obj in {label // PLACES for label in v["labels"] if label != background}:
                (x, y), radius = centre_and_radius(pixels, obj % COLORS, SHAPES[obj // COLORS])
                cell = min(grid - 1, int(y * grid)) * grid + min(grid - 1, int(x * grid))
                tally = by_size[size_bucket(radius)]
                tally[0] += pred[cell] != background and pred[cell] // (COLORS * PLACES) == obj // COLORS
                tally[1] += 1
            for p, label in zip(pred, v["labels"]):
                if label == background:
                    bg_cells += 1
                    bg_right += p == label
                elif p == label:
                    counts["right"] += 1
                elif p == background:
                    counts["background"] += 1
                elif (read := p // (COLORS * PLACES)) != (shape := label // (COLORS * PLACES)):
                    counts["shape"] += 1
                    mixed[shape, read] = mixed.get((shape, read), 0) + 1
                elif p // PLACES % COLORS != label // PLACES % COLORS:
                    counts["colour"] += 1
                else:
                    counts["quadrant"] += 1
        cells = sum(counts.values())
        wrong = ", ".join(f"{k} {n / cells:.1%}" for k, n in counts.items() if k != "right")
        print(f"{d}: shape cells right {counts['right'] / cells:.1%} of {cells} (wrong: {wrong}); "
              f"background cells right {bg_right / bg_cells:.1%}; pictures with every cell right "
              f"{pictures_right / pictures:.1%} of {pictures}")
        top = sorted(mixed.items(), key=lambda kv: -kv[1])[:6]
        print("  shapes read as others (cells): " + ", ".join(f"{SHAPES[a]} as {SHAPES[b]} {n}" for (a, b), n in top))
        print("  the centre's cell reads the shape, by size: " + ", ".join(
            f"{b} {r / n:.1%} of {n}" for b, (r, n) in by_size.items() if n))


if __name__ == "__main__":
    main()

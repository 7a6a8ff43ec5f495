"""How a model's shape answers go with the size of the shape asked about (docs/training.md):

    iris eval --model M --data D/heldout-shift.jsonl --show-errors 2> ERRORS
    python tools/tiny/shape_sizes.py D/heldout-shift.jsonl ERRORS

prints, per bucket of the shape's radius (estimated from its pixels: shapes.py), the shape questions asked
and the share answered right (`iris eval` prints each wrong answer as `wrong: IMAGE "QUESTION" → ...`).
"""

import json
import os
import re
import sys

import numpy as np
from PIL import Image

from shapes import COLORS, SIZES, centre_and_radius, size_bucket


def main() -> None:
    data, errors = sys.argv[1], sys.argv[2]
    wrong = {m.groups() for line in open(errors) if (m := re.match(r'wrong: (\S+) "(.*?)"', line))}
    by_size = {b: [0, 0] for b in SIZES}  # bucket -> [right, asked]
    for line in open(data):
        v = json.loads(line)
        if v["kind"] != "shape":
            continue
        color = next(i for i, c in enumerate(COLORS) if f" {c} object" in v["question"])
        pixels = np.asarray(Image.open(os.path.join(os.path.dirname(data), v["image"])).convert("RGB"))
        _, radius = centre_and_radius(pixels, color, v["expect"][0])
        tally = by_size[size_bucket(radius)]
        tally[0] += (v["image"], v["question"]) not in wrong
        tally[1] += 1
    print(f"{data}: shape answers right, by the shape's size: " + ", ".join(
        f"{b} {r / n:.1%} of {n}" for b, (r, n) in by_size.items() if n))


if __name__ == "__main__":
    main()

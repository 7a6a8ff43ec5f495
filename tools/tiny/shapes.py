"""A shape's centre and size read back from a picture of `iris data shapes`, by the pixels of its colour
(probe.py, shape_sizes.py). Colours are drawn within ±15 of these (crates/cli/src/shapes/draw.rs) and
shapes of one picture never share a colour; the radius comes from the area through each shape's area
at radius 1, so it is an estimate (edges, outlines and JPEG shift it by a few hundredths)."""

import numpy as np

SHAPES = ["circle", "square", "triangle", "star", "cross"]  # scene.rs's order
COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]  # scene.rs's order
RGB = np.array([[215, 35, 35], [35, 165, 55], [40, 75, 215], [240, 215, 35], [140, 55, 180], [245, 140, 25],
                [245, 245, 245], [20, 20, 20]], float)  # draw.rs's RGB
AREA = {"circle": np.pi, "square": 2.0, "triangle": 1.3, "star": 1.1, "cross": 1.3}  # area at radius 1, roughly
# Buckets of the estimated radius. Usual radii are 0.10–0.20 of the side, shifted ones 0.08–0.10 or 0.20–0.23
# (scene.rs's radius()); estimates of shifted shapes seldom fall between 0.12 and 0.18.
SIZES = {"r < 0.12": 0.12, "0.12–0.18": 0.18, "r ≥ 0.18": 9.0}


def centre_and_radius(pixels: np.ndarray, color: int, shape: str):
    """((x, y) as fractions of the side, radius as a fraction of the side) of the shape in `color`."""
    mask = np.abs(pixels.astype(float) - RGB[color]).max(-1) < 40
    side = pixels.shape[0]
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.5, 0.5), 0.0
    return (xs.mean() / side, ys.mean() / side), float(np.sqrt(mask.mean() / AREA[shape]))


def size_bucket(radius: float) -> str:
    return next(b for b, hi in SIZES.items() if radius < hi)

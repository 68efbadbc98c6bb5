"""A small synthetic dataset drawn with cv2 for the trainer and eval tests.

A plain module, not a conftest.py: tests/models/test_card.py imports helpers from the top-level
`conftest`, which a tests/models/conftest.py would shadow.

Made here rather than with sim.dataset because the simulator's defects are deliberately subtle (a small
set trains a weak model, see the report); these parts have clear defects, so a fast test can state a
high accuracy floor. Classes: `ok` (a plain disc), `spot` (a dark burn spot on the disc), `notch` (a
missing sector, like a short shot). Position, size, brightness and noise vary with the seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASSES = ("ok", "spot", "notch")


def draw_part(rng: np.random.Generator, kind: str, size: int = 96) -> np.ndarray:
    image = np.full((size, size, 3), rng.integers(60, 90), np.uint8)
    image = cv2.add(image, rng.integers(0, 20, image.shape, dtype=np.uint8))
    centre = (int(size / 2 + rng.integers(-8, 9)), int(size / 2 + rng.integers(-8, 9)))
    radius = int(rng.integers(size // 4, size // 3))
    colour = [int(c) for c in rng.integers(150, 230, 3)]
    cv2.circle(image, centre, radius, colour, -1)
    angle = float(rng.uniform(0, 2 * np.pi))
    if kind == "spot":
        r = radius * rng.uniform(0.2, 0.6)
        at = (int(centre[0] + r * np.cos(angle)), int(centre[1] + r * np.sin(angle)))
        cv2.circle(image, at, int(rng.integers(4, 8)), (20, 20, 20), -1)
    elif kind == "notch":
        start = np.degrees(angle)
        cv2.ellipse(image, centre, (radius + 1, radius + 1), 0, start, start + rng.uniform(50, 90),
                    (75, 75, 75), -1)
    return image


def write_parts(root: Path, per_class: int, seed: int, classes: tuple[str, ...] = CLASSES) -> Path:
    """root/<class>/NNN.png for each class; returns root."""
    rng = np.random.default_rng(seed)
    for kind in classes:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / kind / f"{i:03d}.png"), draw_part(rng, kind))
    return root


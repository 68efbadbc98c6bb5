"""Good-only settings chosen from the data: input size, taps (the embedding's channels) and the score.

The fixed good-only settings (160 px, 100 random channels of all four taps, global score) suit parts at
any rotation (castings) but not textures or aligned parts, where a user had to know to pass `--score
local` or other channels (issue 18: tiles AUROC 0.882 by default, 0.96 with other taps). Here each
candidate is fitted on a sample of the good training images and scored on images it did not see:

- **what it is scored on**: the defect photos in the folder (validation only, never training) when there
  are at least MIN_REAL_DEFECTS; otherwise synthetic defects drawn on held-out good images (a scratch, a
  blob or a patch of the part pasted elsewhere, `synthetic_defect`). Synthetic defects are not the real
  ones; they rank candidates by how well a small local change stands out from good variation, which is
  what every defect kind here has in common. The card says which basis was used.
- **candidates**: SIZES x TAP_SETS x (global, local); the embeddings of every size are computed once
  with all 216 channels and every tap set is a slice of them.
- **rule**: the highest AUROC; a candidate must beat the best before it (cheaper: smaller size first,
  global before local) by MIN_GAIN, so noise in a hundred images does not buy pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.dataset import load_image
from models.evaluate import auroc
from models.features import Progress, run_arrays, run_images, session
from models.padim import fit_gaussians, pooled, score_images
from models.padim_graph import EMBEDDING, TAP_CHANNELS_TOTAL, embedding_graph

SIZES = (160, 224)
TAP_OFFSETS = {0: (0, 24), 1: (24, 56), 2: (56, 120), 3: (120, 216)}  # b3, b6, b10, b13 in the embedding
TAP_SETS = {"all taps": (0, 1, 2, 3), "b3+b6": (0, 1), "b6+b10": (1, 2), "b10+b13": (2, 3)}
MAX_CHANNELS = 100  # model size grows with D^2 per location: 100 keeps a 160 px model at 16 MB
CHOICE_TRAIN_IMAGES = 200
CHOICE_VAL_IMAGES = 100
MIN_REAL_DEFECTS = 10
MIN_GAIN = 0.005


def tap_channels(taps: tuple[int, ...], seed: int, limit: int = MAX_CHANNELS) -> np.ndarray:
    """Embedding channels of `taps`, a seeded sample of `limit` if there are more (sorted).

    With every tap this is the old default's channel set (the same permutation of 0..215).
    """
    pool = np.concatenate([np.arange(*TAP_OFFSETS[t]) for t in taps])
    if len(pool) <= limit:
        return pool
    return np.sort(np.random.default_rng(seed).permutation(pool)[:limit])


def synthetic_defect(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of a BGR image with one drawn defect: a thin scratch, a blob, or a pasted patch."""
    out = image.copy()
    size = image.shape[0]
    level = float(image.mean())
    shade = level + (-1 if level > 128 else 1) * rng.uniform(50, 100)
    colour = (shade, shade, shade)
    x, y = (int(v) for v in rng.integers(size // 8, size - size // 8, 2))
    kind = rng.integers(3)
    if kind == 0:
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.1, 0.3) * size
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        cv2.line(out, (x, y), end, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    elif kind == 1:
        axes = tuple(int(v) for v in rng.uniform(0.02, 0.06, 2) * size + 1)
        cv2.ellipse(out, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    else:
        side = int(rng.uniform(0.08, 0.2) * size)
        sx, sy = (int(v) for v in rng.integers(0, size - side, 2))
        patch = np.rot90(image[sy:sy + side, sx:sx + side], int(rng.integers(1, 4)))
        tx, ty = min(x, size - side), min(y, size - side)
        out[ty:ty + side, tx:tx + side] = patch
    return out


def _images(paths: list[Path], size: int) -> np.ndarray:
    loaded = [load_image(p, size) for p in paths]
    return np.stack([a for a in loaded if a is not None])


def _score(train: np.ndarray, good: np.ndarray, bad: np.ndarray, channels: np.ndarray) -> dict[str, float]:
    """AUROC of bad vs good images for both score sources, Gaussians fitted on `train` (one group)."""
    group = np.zeros(len(train), np.int64)
    image_g = fit_gaussians(pooled(train[:, channels]), group, 1)
    map_g = fit_gaussians(train[:, channels], group, 1)
    test = np.concatenate([good, bad])[:, channels]
    distance, maps = score_images(test, image_g, map_g)
    defective = np.arange(len(test)) >= len(good)
    local = maps.max(axis=(1, 2))
    return {"global": auroc(defective, distance) or 0.0, "local": auroc(defective, local) or 0.0}


def choose_good_only(train_paths: list[Path], good_paths: list[Path], defect_paths: list[Path],
                     seed: int = 0, threads: int = 0, progress: Progress = True) -> dict:
    """Size, channels and score source for a good-only model (see the module docstring)."""
    rng = np.random.default_rng(seed)
    train_paths = [train_paths[i] for i in np.sort(rng.permutation(len(train_paths))[:CHOICE_TRAIN_IMAGES])]
    good_paths = [good_paths[i] for i in np.sort(rng.permutation(len(good_paths))[:CHOICE_VAL_IMAGES])]
    real = len(defect_paths) >= MIN_REAL_DEFECTS
    rows: list[dict] = []
    for size in SIZES:
        sess = session(embedding_graph(size, np.arange(TAP_CHANNELS_TOTAL)), threads)
        train, _ = run_images(sess, train_paths, size, output=EMBEDDING, desc=f"choose {size} px",
                              progress=progress)
        good_images = _images(good_paths, size)
        good = run_arrays(sess, good_images, EMBEDDING)
        draw = np.random.default_rng(seed + 1)  # the same synthetic defects for every size
        bad = (run_images(sess, defect_paths, size, output=EMBEDDING, progress=False)[0][0] if real else
               run_arrays(sess, np.stack([synthetic_defect(a, draw) for a in good_images]), EMBEDDING))
        for name, taps in TAP_SETS.items():
            scores = _score(train[0], good, bad, tap_channels(taps, seed))
            rows += [{"size": size, "taps": name, "score_source": s, "auroc": round(a, 4)}
                     for s, a in scores.items()]
    best = rows[0]
    for row in rows[1:]:
        if row["auroc"] > best["auroc"] + MIN_GAIN:
            best = row
    return {**best, "channels": tap_channels(TAP_SETS[best["taps"]], seed).tolist(),
            "basis": f"{len(defect_paths)} defect photos" if real else
                     f"synthetic defects on {len(good_paths)} held-out good images",
            "rule": f"highest AUROC; a later candidate must win by {MIN_GAIN}", "candidates": rows}

"""Settings chosen from the data: input size, taps and pooling, and the head's C, by cross-validation.

One fixed setting (160 px, every tap under every pooling) let other kinds of parts down (issue 18: thin
cracks on solar cells and commutators want more pixels; parts at random rotation want global pooling).
The choice is made on the training images only:

1. **Screening sample.** At most SCREEN_IMAGES images, stratified; features of their un-augmented view
   are computed once per size and reused by every column set, fold and C (the backbone is the cost; a
   logistic regression on 600 images is not).
2. **Candidates.** Sizes in SIZES, smallest first; at each size the column sets in COLUMN_SETS, each with
   the head's C grid, scored by 3-fold out-of-fold log-loss. A column set is a choice of taps and
   poolings; the shipped graph still computes every column and the head gives the others zero weight
   (pooling is cheap next to the backbone, and one graph serves every choice).
3. **Cost.** Each size's per-crop latency (one thread, batch 1, this machine) is measured first; a size
   over `latency_budget_ms` is not tried. A larger size must lower the best log-loss by MARGIN
   (relative) to be chosen: pixels cost 2x per step, and noise in a few hundred images should not buy
   them. A size that is no better at all ends the search (early pruning); one that is better by less
   than MARGIN does not, since thin defects may need the next step (KolektorSDD: 224 px barely helps,
   320 px does).

Test-time views are not searched: averaging flips inside the graph would multiply the latency by the
number of views, and on the casting photos it gained nothing measurable (models/features.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from models.evaluate import auroc
from models.features import IDENTITY, run_images, session
from models.graph import feature_columns, feature_graph
from models.head import cross_validate, cv_log_loss

SIZES = (160, 224, 320)
COLUMN_SETS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "all taps, avg+max+quadrants": ((0, 1, 2, 3), ("avg", "max", "quadrants")),  # the old fixed setting
    "all taps, avg+max": ((0, 1, 2, 3), ("avg", "max")),  # position-free: parts at any rotation
    "taps b10+b13, avg+max+quadrants": ((2, 3), ("avg", "max", "quadrants")),  # deep, fewer features
}
DEFAULT_COLUMN_SET = "all taps, avg+max+quadrants"
SCREEN_IMAGES = 600
SCREEN_FOLDS = 3
MARGIN = 0.10
LATENCY_BUDGET_MS = 20.0  # per crop, one thread: 320 px measures about 11 ms here, 160 px about 3 ms
LATENCY_RUNS = 15


@dataclass
class Selection:
    """What was chosen and the figures behind it (stored in the card under training.selection)."""

    size: int
    column_set: str
    c: float
    latency_ms: dict[int, float]
    candidates: list[dict] = field(default_factory=list)

    @property
    def columns(self) -> np.ndarray:
        return feature_columns(*COLUMN_SETS[self.column_set])

    def card(self) -> dict:
        return {"size": self.size, "features": self.column_set, "c_screened": self.c,
                "latency_ms_per_crop_1_thread": {str(k): v for k, v in self.latency_ms.items()},
                "rule": f"lowest {SCREEN_FOLDS}-fold out-of-fold log-loss on at most {SCREEN_IMAGES} "
                        f"training images; a larger size must win by {MARGIN:.0%}",
                "candidates": self.candidates}


def latency_ms(model: onnx.ModelProto, size: int, runs: int = LATENCY_RUNS) -> float:
    """Median time of one size x size crop through `model`, one thread, batch 1, in ms."""
    sess = session(model, threads=1)
    crop = np.zeros((1, size, size, 3), np.uint8)
    sess.run(None, {"image": crop})  # warm-up: first run allocates
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {"image": crop})
        times.append((time.perf_counter() - start) * 1000.0)
    return round(float(np.median(times)), 2)


def screening_sample(labels: np.ndarray, seed: int, limit: int = SCREEN_IMAGES) -> np.ndarray:
    """At most `limit` indices, each class keeping its share (and at least SCREEN_FOLDS images)."""
    rng = np.random.default_rng(seed)
    share = min(1.0, limit / len(labels))
    picked = [rng.permutation(np.flatnonzero(labels == k))[:max(SCREEN_FOLDS, round(share * n))]
              for k, n in enumerate(np.bincount(labels))]
    return np.sort(np.concatenate(picked))


def _score_size(features: np.ndarray, labels: np.ndarray, n_classes: int, size: int, seed: int,
                column_sets: list[str]) -> list[dict]:
    rows = []
    for name in column_sets:
        oof = cross_validate(features[..., feature_columns(*COLUMN_SETS[name])], labels, n_classes, seed,
                             SCREEN_FOLDS)
        losses = cv_log_loss(oof, labels)
        best = min(losses, key=losses.__getitem__)
        p_defect = 1.0 - oof[best][:, 0]
        rows.append({"size": size, "features": name, "c": best, "cv_log_loss": round(losses[best], 5),
                     "cv_accuracy_at_0_5": round(float(((p_defect >= 0.5) == (labels != 0)).mean()), 4),
                     "cv_auroc": auroc(labels != 0, p_defect)})
    return rows


def choose(paths: list[Path], labels: np.ndarray, n_classes: int, seed: int = 0,
           sizes: tuple[int, ...] = SIZES, column_sets: tuple[str, ...] = tuple(COLUMN_SETS),
           latency_budget_ms: float = LATENCY_BUDGET_MS, threads: int = 0,
           progress: bool = True) -> Selection:
    """Screen the candidates on a sample of (paths, labels); see the module docstring."""
    sample = screening_sample(labels, seed)
    budget: dict[int, float] = {}
    best: dict | None = None
    rows: list[dict] = []
    for size in sorted(sizes):
        budget[size] = latency_ms(feature_graph(size), size)
        if best is not None and budget[size] > latency_budget_ms:
            break  # the smallest size always runs: an override or a single size must give a model
        sess = session(feature_graph(size), threads)
        features, readable = run_images(sess, [paths[i] for i in sample], size, IDENTITY,
                                        desc=f"screen {size} px", progress=progress)
        scored = _score_size(features, labels[sample][readable], n_classes, size, seed, list(column_sets))
        rows += scored
        leader = min(scored, key=lambda r: r["cv_log_loss"])
        if best is not None and leader["cv_log_loss"] >= best["cv_log_loss"]:
            break  # no better at all: a still larger size is not tried
        if best is None or leader["cv_log_loss"] < best["cv_log_loss"] * (1.0 - MARGIN):
            best = leader
    assert best is not None
    return Selection(best["size"], best["features"], best["c"], budget, rows)


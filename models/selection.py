"""Settings chosen from the data: input size, taps and pooling, and the head's C, by cross-validation.

One fixed setting (160 px, every tap under every pooling) let other kinds of parts down (issue 18: thin
cracks on solar cells and commutators want more pixels; parts at random rotation want global pooling).
The choice is made on the training images only:

1. **Screening sample.** At most SCREEN_IMAGES images, stratified; features of their un-augmented view
   are computed once per size and reused by every column set, fold and C (the backbone is the cost; a
   logistic regression on 600 images is not).
2. **Candidates.** Sizes in SIZES, smallest first, as squares and, for oblong images, at the images'
   own aspect (`candidate_shapes`); at each size the column sets in COLUMN_SETS, each with
   the head's C grid, scored by 3-fold out-of-fold log-loss. A column set is a choice of taps and
   poolings; the shipped graph still computes every column and the head gives the others zero weight
   (pooling is cheap next to the backbone, and one graph serves every choice).
3. **Cost.** Each size's per-crop latency (one thread, batch 1, this machine) is measured first; a size
   over `latency_budget_ms` is not tried. A larger size must lower the best log-loss by MARGIN
   (relative) to be chosen: pixels cost 2x per step, and noise in a few hundred images should not buy
   them. A size that is no better at all ends the search (early pruning); one that is better by less
   than MARGIN does not, since thin defects may need the next step (KolektorSDD: 224 px barely helps,
   320 px does).

Test-time views are judged after the final cross-validation (`choose_test_views`), on the out-of-fold
scores of every view of every training image: they cost 4x the latency, so they must earn it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from models.evaluate import auroc
from models.features import FLIP_VIEWS, IDENTITY, Progress, run_images, session
from models.flip_views import average_flips
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


ASPECT_MIN = 1.3  # images at least this much taller than wide (or wider) also try their own aspect
ASPECT_MAX = 3.0  # a longer side than 3x the short one is cut back to 3x
Shape = tuple[int, int]  # (height, width) in pixels


def candidate_shapes(sizes: tuple[int, ...], aspect: float) -> list[list[Shape]]:
    """Families of input shapes, each smallest first: squares, and for oblong images (height / width =
    `aspect`) the image's own aspect with the short side at each size, the long side a multiple of 16.

    Squashing a 250 x 620 commutator photo into a square quarters the resolution along the crack.
    """
    families = [[(s, s) for s in sorted(sizes)]]
    stretch = min(max(aspect, 1.0 / aspect), ASPECT_MAX)
    if stretch >= ASPECT_MIN:
        shorts = sorted(sizes)
        longs = [round(s * stretch / 16.0) * 16 for s in shorts]
        families.append([(n, s) if aspect > 1.0 else (s, n) for s, n in zip(shorts, longs, strict=True)])
    return families


@dataclass
class Selection:
    """What was chosen and the figures behind it (stored in the card under training.selection)."""

    size: Shape
    column_set: str
    c: float
    latency_ms: dict[Shape, float]
    candidates: list[dict] = field(default_factory=list)

    @property
    def columns(self) -> np.ndarray:
        return feature_columns(*COLUMN_SETS[self.column_set])

    def card(self) -> dict:
        return {"height_width": list(self.size), "features": self.column_set, "c_screened": self.c,
                "latency_ms_per_crop_1_thread": {f"{h}x{w}": v for (h, w), v in self.latency_ms.items()},
                "rule": f"lowest {SCREEN_FOLDS}-fold out-of-fold log-loss on at most {SCREEN_IMAGES} "
                        f"training images; more pixels must win by {MARGIN:.0%}",
                "candidates": self.candidates}


def latency_ms(model: onnx.ModelProto, size: Shape, runs: int = LATENCY_RUNS) -> float:
    """Fastest of `runs` times of one (height, width) crop through `model`, one thread, batch 1, in ms.

    The fastest, not the median: on a PC shared with other work the median measures the other work
    (160 px read 3 ms alone and 16 ms beside a test run), and would drop sizes from the budget at random.
    """
    sess = session(model, threads=1)
    crop = np.zeros((1, *size, 3), np.uint8)
    sess.run(None, {"image": crop})  # warm-up: first run allocates
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {"image": crop})
        times.append((time.perf_counter() - start) * 1000.0)
    return round(min(times), 2)


def screening_sample(labels: np.ndarray, seed: int, limit: int = SCREEN_IMAGES) -> np.ndarray:
    """At most `limit` indices, each class keeping its share (and at least SCREEN_FOLDS images)."""
    rng = np.random.default_rng(seed)
    share = min(1.0, limit / len(labels))
    picked = [rng.permutation(np.flatnonzero(labels == k))[:max(SCREEN_FOLDS, round(share * n))]
              for k, n in enumerate(np.bincount(labels))]
    return np.sort(np.concatenate(picked))


def _score_size(features: np.ndarray, labels: np.ndarray, n_classes: int, size: Shape, seed: int,
                column_sets: list[str]) -> list[dict]:
    rows = []
    for name in column_sets:
        oof = cross_validate(features[..., feature_columns(*COLUMN_SETS[name])], labels, n_classes, seed,
                             SCREEN_FOLDS)
        losses = cv_log_loss(oof, labels)
        best = min(losses, key=losses.__getitem__)
        p_defect = 1.0 - oof[best][0, :, 0]
        rows.append({"height_width": list(size), "features": name, "c": best,
                     "cv_log_loss": round(losses[best], 5),
                     "cv_accuracy_at_0_5": round(float(((p_defect >= 0.5) == (labels != 0)).mean()), 4),
                     "cv_auroc": auroc(labels != 0, p_defect)})
    return rows


def _pick(leaders: list[dict]) -> dict:
    """The leader of fewest pixels, replaced by one with more only if it wins by MARGIN."""
    ranked = sorted(leaders, key=lambda r: r["height_width"][0] * r["height_width"][1])
    best = ranked[0]
    for row in ranked[1:]:
        if row["cv_log_loss"] < best["cv_log_loss"] * (1.0 - MARGIN):
            best = row
    return best


def choose(paths: list[Path], labels: np.ndarray, n_classes: int, seed: int = 0,
           families: list[list[Shape]] | None = None, column_sets: tuple[str, ...] = tuple(COLUMN_SETS),
           latency_budget_ms: float = LATENCY_BUDGET_MS, threads: int = 0, progress: Progress = True,
           start: Path | None = None) -> Selection:
    """Screen the candidates on a sample of (paths, labels); see the module docstring.

    `families`: input shapes to try (`candidate_shapes`; default the squares of SIZES). `start`: the
    model whose network gives the features (models/start_model.py), else the ImageNet backbone.
    """
    sample = screening_sample(labels, seed)
    budget: dict[Shape, float] = {}
    leaders: list[dict] = []
    rows: list[dict] = []
    for family in families or candidate_shapes(SIZES, 1.0):
        previous: dict | None = None
        for shape in family:
            graph = feature_graph(shape, start)  # built once: from a start model it runs shape inference
            budget[shape] = latency_ms(graph, shape)
            if leaders and budget[shape] > latency_budget_ms:
                break  # the first shape always runs: an override or a single size must give a model
            sess = session(graph, threads)
            features, readable = run_images(sess, [paths[i] for i in sample], shape, IDENTITY,
                                            desc=f"screen {shape[0]}x{shape[1]} px", progress=progress)
            scored = _score_size(features, labels[sample][readable], n_classes, shape, seed,
                                 list(column_sets))
            rows += scored
            leaders.append(min(scored, key=lambda r: r["cv_log_loss"]))
            if previous is not None and leaders[-1]["cv_log_loss"] >= previous["cv_log_loss"]:
                break  # no better at all: a still larger size of this family is not tried
            previous = leaders[-1]
    best = _pick(leaders)
    return Selection(tuple(best["height_width"]), best["features"], best["c"], budget, rows)


def flip_average(oof: np.ndarray, view_names: list[str]) -> np.ndarray:
    """[V, N, C] probabilities of the training views -> [N, C], the mean over the flip views."""
    return oof[[view_names.index(name) for name in FLIP_VIEWS]].mean(axis=0)


def choose_test_views(oof: np.ndarray, labels: np.ndarray, view_names: list[str], model: onnx.ModelProto,
                      size: Shape, latency_budget_ms: float = LATENCY_BUDGET_MS) -> dict:
    """Whether the shipped graph averages the flip views (models/flip_views.py), from out-of-fold scores.

    `oof` [V, N, C] holds every training view's out-of-fold probabilities. The views are used when
    their average lowers the one-view log-loss by MARGIN and the four-view graph stays within the
    latency budget; a part whose mirror image is a different part (no symmetry) shows up here as no gain.
    """
    averaged_views = flip_average(oof, view_names)
    one, averaged = (cv_log_loss({0: p[None]}, labels)[0] for p in (oof[0], averaged_views))
    latency = latency_ms(average_flips(model), size)
    used = averaged < one * (1.0 - MARGIN) and latency <= latency_budget_ms
    return {"used": bool(used), "views": list(FLIP_VIEWS), "cv_log_loss_one_view": round(one, 5),
            "cv_log_loss_views_averaged": round(averaged, 5), "latency_ms_per_crop_with_views": latency,
            "rule": f"averaged views must lower the log-loss by {MARGIN:.0%} within {latency_budget_ms} ms"}

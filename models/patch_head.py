"""Patch-level defect head trained with the simulator's defect boxes, and its numpy reference.

Why: the generic trainer pools the taps globally, and a small burn spot or scratch is washed out by the
part's own holes and shading (AUROC 0.935 on fresh crops). Here every cell of a stride-8 grid
(models/patch_graph.py `patch_features`) is a training sample: positive where the cell overlaps the
defect's box, negative on OK parts and away from the box; cells next to the box are ignored (the box is
loose around thin scratches and cracks). `warp` bends the whole part, so its images give no cell labels;
the image head (pooled features, multinomial) catches it and names the defect class.

Measured on 3,000 training / 800 dev crops (AUROC of P(defect), dev): linear cell head 0.82, + the
image's mean features at every cell 0.86, a one-hidden-layer MLP per cell 0.93; max with the image head
0.957 (image head alone 0.905). A linear cell head cannot tell "dark blob on a part without holes" from
"hole"; the hidden layer can, and it still exports as two 1x1 convolutions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from models.patch_graph import STRIDE

IGNORE = -1
NEGATIVES_PER_IMAGE = 25  # random negative cells kept per image: more cost time, not accuracy
HIDDEN = 96
EPOCHS = 12


def cell_labels(class_names: list[str], boxes: list[tuple[int, int, int, int] | None],
                side: int) -> np.ndarray:
    """[N, side, side] int8: 1 cell overlaps the defect box, 0 clean, IGNORE next to the box or warp."""
    labels = np.zeros((len(class_names), side, side), np.int8)
    lo = np.arange(side) * STRIDE
    for i, (name, box) in enumerate(zip(class_names, boxes, strict=True)):
        if name == "ok":
            continue
        if name == "warp" or box is None:
            labels[i] = IGNORE
            continue
        x, y, w, h = box

        def overlap(start: int, length: int, margin: int) -> np.ndarray:
            return np.minimum(lo + STRIDE, start + length + margin) - np.maximum(lo, start - margin) > 0

        labels[i][overlap(y, h, STRIDE)[:, None] & overlap(x, w, STRIDE)[None, :]] = IGNORE
        labels[i][overlap(y, h, 0)[:, None] & overlap(x, w, 0)[None, :]] = 1
    return labels


def with_image_mean(patch: np.ndarray, local: int) -> np.ndarray:
    """Append the image's mean of the first `local` channels to every cell: [N, K + local, g, g].

    The graph does not copy the mean to every cell: it adds w1[:, K:] @ mean to the hidden layer's bias.
    """
    mean = patch[:, :local].mean(axis=(2, 3), keepdims=True, dtype=np.float32).astype(patch.dtype)
    return np.concatenate([patch, np.broadcast_to(mean, (*mean.shape[:2], *patch.shape[2:]))], axis=1)


@dataclass
class PatchHead:
    """cell logit = w2 . relu(w1 @ x + b1) + b2, standardisation folded into w1, b1."""

    w1: np.ndarray  # [H, K]
    b1: np.ndarray  # [H]
    w2: np.ndarray  # [H]
    b2: float

    def logits(self, patch: np.ndarray) -> np.ndarray:
        """patch [N, K, g, g] -> cell logits [N, g, g]."""
        hidden = np.maximum(np.einsum("hk,nkyx->nhyx", self.w1, patch.astype(np.float32))
                            + self.b1[None, :, None, None], 0.0)
        return np.einsum("h,nhyx->nyx", self.w2, hidden) + self.b2


def sample_cells(patch: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every positive cell and NEGATIVES_PER_IMAGE random negative cells of each image: (x [M, K], y [M])."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for features, label in zip(patch, labels, strict=True):
        flat_label = label.ravel()
        cells = features.reshape(features.shape[0], -1).T
        pos = np.flatnonzero(flat_label == 1)
        neg = np.flatnonzero(flat_label == 0)
        neg = rng.choice(neg, min(len(neg), NEGATIVES_PER_IMAGE), replace=False)
        xs += [cells[pos], cells[neg]]
        ys += [np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)]
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def fit_patch_head(x: np.ndarray, y: np.ndarray, seed: int) -> PatchHead:
    """MLP on standardised cells; a fixed number of Adam epochs (no early stopping: deterministic)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    clf = MLPClassifier((HIDDEN,), alpha=1e-3, batch_size=256, max_iter=EPOCHS, random_state=seed,
                        n_iter_no_change=EPOCHS + 1)
    with warnings.catch_warnings():  # EPOCHS is a fixed budget on purpose, not a convergence criterion
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((x - mean) / scale, y)
    w1 = clf.coefs_[0].T / scale  # [H, K]
    b1 = clf.intercepts_[0] - w1 @ mean
    return PatchHead(w1.astype(np.float32), b1.astype(np.float32), clf.coefs_[1][:, 0].astype(np.float32),
                     float(clf.intercepts_[1][0]))


def smooth3(p: np.ndarray) -> np.ndarray:
    """3x3 mean of [N, g, g] maps, edge cells averaging only the cells that exist (as the ONNX AveragePool
    with count_include_pad=0)."""
    padded = np.pad(p, ((0, 0), (1, 1), (1, 1)))
    ones = np.pad(np.ones(p.shape[1:], p.dtype), 1)
    g = p.shape[1]
    total = sum(padded[:, dy:dy + g, dx:dx + g] for dy in range(3) for dx in range(3))
    count = sum(ones[dy:dy + g, dx:dx + g] for dy in range(3) for dx in range(3))
    return total / count


def heatmap(head: PatchHead, patch: np.ndarray) -> np.ndarray:
    return smooth3(1.0 / (1.0 + np.exp(-head.logits(patch))))

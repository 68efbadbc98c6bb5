"""The trained head: standardised multinomial logistic regression on pooled backbone features.

A linear head is enough on these features (99.8 % on the casting photos, see the backbone card), trains
in seconds on two cores, and folds into one Gemm in the ONNX graph. Its regularisation strength C is
chosen by stratified k-fold cross-validation on the training split only, scoring log-loss on the
un-augmented view (accuracy saturates near 100 % and cannot rank candidates). The augmented views of an
image always stay in the same fold as the image, so no fold is scored on a flipped copy of its own
training data.

Speed: the candidates of a fold are fitted in increasing C, each lbfgs run warm-started from the
previous solution (a larger C moves the optimum a little), with tol 1e-3 (log-loss differences between
candidates are far larger than what a tighter tolerance changes). 1.0 left the grid: it never won, and
weak regularisation is the slowest fit; the simulator crops chose the low end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

C_GRID = (0.01, 0.03, 0.1, 0.3)  # increasing: warm starts go from strong to weak regularisation
TOL = 1e-3
FOLDS = 3


@dataclass
class Head:
    """logits = features @ weight.T + bias, standardisation already folded into weight and bias."""

    weight: np.ndarray  # [C, K]
    bias: np.ndarray  # [C]
    c: float
    cv_log_loss: dict[str, float]

    def probs(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def _fit(views: np.ndarray, labels: np.ndarray, c: float, n_classes: int, seed: int,
         warm: LogisticRegression | None = None) -> tuple[Head, LogisticRegression]:
    """Fit on every view of every image (warm-started from `warm`'s solution if given).

    Returns the head with standardisation folded in, and the sklearn model for the next warm start.
    """
    x = views.reshape(-1, views.shape[-1])
    y = np.tile(labels, views.shape[0])
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    clf = warm or LogisticRegression(max_iter=3000, tol=TOL, class_weight="balanced", random_state=seed,
                                     warm_start=True)
    clf.set_params(C=c)
    clf.fit((x - mean) / scale, y)
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; logits [0, z] give softmax = sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    # Classes the training split lacks (not possible after dataset.split) would break the row order.
    assert coef.shape[0] == n_classes, (coef.shape, n_classes)
    weight = coef / scale
    bias = intercept - weight @ mean
    return Head(weight.astype(np.float32), bias.astype(np.float32), c, {}), clf


def fit_head(views: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0) -> Head:
    """Choose C by CV on (views [V, N, K], labels [N]) and refit on all of it."""
    folds = min(FOLDS, int(np.bincount(labels, minlength=n_classes).min()))
    scores: dict[str, float] = {}
    if folds >= 2:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        losses: dict[float, list[float]] = {c: [] for c in C_GRID}
        for tr, te in splitter.split(labels, labels):
            warm = None
            for c in C_GRID:
                head, warm = _fit(views[:, tr], labels[tr], c, n_classes, seed, warm)
                losses[c].append(log_loss(labels[te], head.probs(views[0, te]), labels=range(n_classes)))
        scores = {str(c): float(np.mean(v)) for c, v in losses.items()}
        best = float(min(scores, key=scores.__getitem__))
    else:  # a class with a single training image: nothing to cross-validate, keep the middle of the grid
        best = C_GRID[len(C_GRID) // 2]
    head, _ = _fit(views, labels, best, n_classes, seed)
    head.cv_log_loss = scores
    return head

"""The trained head: standardised multinomial logistic regression on pooled backbone features.

A linear head is enough on these features (99.8 % on the casting photos, see the backbone card), trains in
seconds on two cores, and folds into one Gemm in the ONNX graph. A richer head does not buy more: on 2,000
casting photos, 1,500 held out, an MLP (256 or 512 hidden units), an RBF SVM and this head each make four
errors at P(defect) >= 0.5, all of them defects passed, and no threshold does better; this head's four are
pinholes a pixel or two wide at 160 px, and at 320 px the same photos score lowest. There the backbone's
pooled features set the limit, not the head (issue 18). Its regularisation strength C is chosen by stratified
k-fold cross-validation over the training images, scoring log-loss on the un-augmented view (accuracy
saturates near 100 % and cannot rank candidates). The same folds give every image an out-of-fold probability,
which the trainer uses for the threshold (models/operating_point.py). The augmented views of an image always
stay in the same fold as the image, so no fold is scored on a flipped copy of its own training data.

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
FOLDS = 5  # every image is scored once; 5 keeps 80 % of the images in each fold's training


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
    # A class missing from a fold's training part (not possible: folds <= the smallest class) breaks rows.
    assert coef.shape[0] == n_classes, (coef.shape, n_classes)
    weight = coef / scale
    bias = intercept - weight @ mean
    return Head(weight.astype(np.float32), bias.astype(np.float32), c, {}), clf


def _expand(head: Head, columns: np.ndarray, n_features: int) -> Head:
    """The head over all `n_features` columns: zero weight on the ones it was not given."""
    weight = np.zeros((head.weight.shape[0], n_features), np.float32)
    weight[:, columns] = head.weight
    return Head(weight, head.bias, head.c, head.cv_log_loss)


def cross_validate(views: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0,
                   folds: int = FOLDS, c_grid: tuple[float, ...] = C_GRID) -> dict[float, np.ndarray]:
    """Out-of-fold probabilities [V, N, C] of every image in every view, for each C.

    `views` [V, N, K] (view 0 un-augmented), labels [N]: each image is scored by a head fitted on the
    other folds (all views), in each of its views, so test-time averaging can be judged too.
    """
    folds = min(folds, int(np.bincount(labels, minlength=n_classes).min()))
    oof = {c: np.zeros((views.shape[0], len(labels), n_classes)) for c in c_grid}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for tr, te in splitter.split(labels, labels):
        warm = None
        for c in c_grid:
            head, warm = _fit(views[:, tr], labels[tr], c, n_classes, seed, warm)
            # float64: float32 probabilities miss a sum of 1 by 1e-7, which log_loss warns about
            oof[c][:, te] = [head.probs(v[te].astype(np.float64)) for v in views]
    return oof


def cv_log_loss(oof: dict[float, np.ndarray], labels: np.ndarray) -> dict[float, float]:
    """Log-loss of the un-augmented view's out-of-fold probabilities, per C."""
    return {c: float(log_loss(labels, p[0], labels=range(p.shape[-1]))) for c, p in oof.items()}


def fit_head(views: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0, folds: int = FOLDS,
             columns: np.ndarray | None = None) -> tuple[Head, np.ndarray]:
    """Choose C by k-fold CV on (views [V, N, K], labels [N]), refit on all of it.

    Returns the head (over all K columns; zero weight outside `columns`) and the out-of-fold
    probabilities [V, N, C] of every view at the chosen C, from which the trainer sets and checks the
    threshold.
    """
    columns = np.arange(views.shape[-1]) if columns is None else columns
    chosen = views[..., columns]
    oof = cross_validate(chosen, labels, n_classes, seed, folds)
    losses = cv_log_loss(oof, labels)
    best = min(losses, key=losses.__getitem__)
    head, _ = _fit(chosen, labels, best, n_classes, seed)
    head.cv_log_loss = {str(c): v for c, v in losses.items()}
    return _expand(head, columns, views.shape[-1]), oof[best]

"""Metrics of a defect model, and `evaluate_model` (the `moldpilot eval` verb) over a labelled folder.

The decision is the runtime's: P(defect) = 1 - P(ok); NG if P(defect) >= threshold; the defect class of
an NG part is the most probable defect class. Figures:
- accuracy: OK/NG decisions that are right (what the line acts on);
- escape_rate: defective parts passed as OK / defective parts (the costly error);
- false_reject_rate: OK parts rejected / OK parts;
- class_accuracy: parts whose predicted class (ok or the defect) is exactly right;
- auroc: of P(defect) for defective vs OK (rank-based, ties count half);
- confusion: rows = true class, columns = predicted class, in `class_names` order.

`evaluate_model` gives these at the card's threshold, the same at P(defect) >= 0.5 (`at_0_5`: what the
published figures of other methods mean by accuracy), the OK/NG share right per folder class at both, and
the readiness verdict (models/readiness.py) of the card's operating point on the given images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.card import CardError, read_card
from models.dataset import DatasetError, scan
from models.features import run_images, session
from models.operating_point import MAX_FALSE_REJECT
from models.readiness import readiness

SIDE_BY_SIDE = ("accuracy", "escape_rate", "false_reject_rate", "class_accuracy")


def auroc(defective: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve of `score` for `defective` (bool); None if one side is empty."""
    pos, neg = score[defective], score[~defective]
    if len(pos) == 0 or len(neg) == 0:
        return None
    # Mann-Whitney U with average ranks for ties.
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    values = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(values))
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start:start + count]] = start + (count + 1) / 2
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def metrics(labels: np.ndarray, probs: np.ndarray, threshold: float, class_names: list[str],
            ok_index: int = 0) -> dict:
    """All figures for true `labels` [N] and model `probs` [N, C] at `threshold` on P(defect)."""
    p_defect = 1.0 - probs[:, ok_index]
    ng = p_defect >= threshold
    defect_probs = probs.copy()
    defect_probs[:, ok_index] = -1.0
    predicted = np.where(ng, defect_probs.argmax(axis=1), ok_index)
    defective = labels != ok_index
    n_def, n_ok = int(defective.sum()), int((~defective).sum())
    confusion = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    escapes = int((defective & ~ng).sum())
    false_rejects = int((~defective & ng).sum())
    return {
        "n": len(labels),
        "n_ok": n_ok,
        "n_defective": n_def,
        "threshold": float(threshold),
        "accuracy": float((ng == defective).mean()) if len(labels) else None,
        "escape_rate": escapes / n_def if n_def else None,
        "escapes": escapes,
        "false_reject_rate": false_rejects / n_ok if n_ok else None,
        "false_rejects": false_rejects,
        "class_accuracy": float((predicted == labels).mean()) if len(labels) else None,
        "auroc": auroc(defective, p_defect),
        "class_names": list(class_names),
        "confusion": confusion.tolist(),
    }


def per_class(labels: np.ndarray, p_defect: np.ndarray, thresholds: dict[str, float],
              class_names: list[str]) -> list[dict]:
    """Per true class (index 0 = ok): images, and the share judged right (OK for ok, NG otherwise) at each
    named threshold."""
    rows = []
    for index, name in enumerate(class_names):
        mine = labels == index
        if not mine.any():
            continue
        row: dict = {"class": name, "n": int(mine.sum())}
        for key, t in thresholds.items():
            ng = p_defect[mine] >= t
            row[key] = float((~ng if index == 0 else ng).mean())
        rows.append(row)
    return rows


def evaluate_model(model_path: str | Path, data_dir: str | Path, ok_class: str | None = None,
                   progress: bool = True, images: bool = False) -> dict:
    """Run a MoldPilot ONNX model over a labelled folder; DatasetError/CardError for unusable input.
    `images`: also list each readable image's file, folder class and P(defect) under "images".

    The folder's ok class (default: the card's `ok_class`) maps to the model's ok class; every other
    folder must be one of the model's defect classes (for a good-only model: any folder, all "anomaly").
    """
    card = read_card(model_path)
    data = scan(data_dir, ok_class or card.ok_class)
    model_defects = [c for c in card.class_names if c != card.ok_class]
    # A good-only model has one defect class ("anomaly") that stands for every defect folder.
    anomaly_only = card.output("anomaly_score") is not None
    unknown = [] if anomaly_only else [c for c in data.class_names[1:] if c not in model_defects]
    if unknown:
        raise DatasetError(f"{data.root} has class folder(s) {', '.join(unknown)} that the model does not "
                           f"know (its defect classes: {', '.join(model_defects)}); rename or remove them")
    to_model = [card.class_names.index(card.ok_class)] + [
        card.class_names.index(model_defects[0] if anomaly_only else c) for c in data.class_names[1:]]
    classifier = card.output("classifier")
    probs, readable = run_images(session(model_path), data.paths, card.input.height_width,
                                 output=classifier.name, desc="eval", progress=progress)
    if not readable.any():
        raise DatasetError(f"none of the {len(data.paths)} images in {data.root} could be read")
    if probs.ndim != 3 or probs.shape[2] != len(card.class_names):
        raise CardError(f"{model_path}: output {classifier.name!r} has shape {list(probs.shape[1:])}, "
                        f"the card says [N, {len(card.class_names)}]; re-export the model")
    labels = np.array(to_model)[data.labels[readable]]
    unreadable = [str(p) for p, ok in zip(data.paths, readable, strict=True) if not ok]
    ok_index = card.class_names.index(card.ok_class)
    result = metrics(labels, probs[0], card.threshold, card.class_names, ok_index)
    at_half = metrics(labels, probs[0], 0.5, card.class_names, ok_index)
    folder_labels = data.labels[readable]
    p_defect = 1.0 - probs[0][:, ok_index]
    target = card.validation.get("target_escape", card.training.get("target_escape", 0.005))
    result.update(
        model=str(model_path), data=str(data.root), unreadable=len(unreadable), unreadable_files=unreadable,
        at_0_5={k: at_half[k] for k in SIDE_BY_SIDE},
        per_class=per_class(folder_labels, p_defect, {"at_threshold": card.threshold, "at_0_5": 0.5},
                            data.class_names),
        readiness=readiness(folder_labels, p_defect, card.threshold, data.class_names, target,
                            card.validation.get("max_false_reject", MAX_FALSE_REJECT), basis="eval"))
    if images:  # every image's score: for a side-by-side of two models and the threshold preview
        paths = [p for p, ok in zip(data.paths, readable, strict=True) if ok]
        result["images"] = [{"file": str(path), "class": data.class_names[label], "p_defect": float(p)}
                            for path, label, p in zip(paths, folder_labels, p_defect, strict=True)]
    return result

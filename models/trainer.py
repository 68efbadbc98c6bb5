"""`moldpilot train`: folder of labelled images -> one ONNX defect model with its card.

Pipeline: scan and check the folder -> stratified train/val split -> pooled MobileNetV2 features of
every training image in four views (flips, quarter turn) and of every validation image as is -> head
fitted with C chosen by CV on the training split -> threshold on P(defect) chosen on the validation split
for the target escape rate -> graph (pre-processing + backbone + head + heatmap) with the card embedded,
plus the MODEL.card.json sidecar.

The head is not refitted on train+val: the threshold must come from scores of images the head has not
seen, or the validation escape rate would be optimistic.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from onnxruntime import InferenceSession

from models.card import InputSpec, ModelCard, OutputSpec, ResizeSpec, save_model
from models.dataset import Dataset, DatasetError, check_counts, scan, split
from models.evaluate import metrics
from models.features import IDENTITY, TRAIN_VIEWS, run_images, session
from models.graph import MEAN, POOLINGS, STD, backbone_card, feature_graph, model_graph
from models.head import fit_head

log = logging.getLogger(__name__)

DEFAULT_SIZE = 160  # as accurate as 224 px on the casting photos, ~2x faster (backbone card `selection`)


def choose_threshold(p_defect: np.ndarray, defective: np.ndarray, target_escape: float) -> dict:
    """Largest threshold whose validation escape rate (defective scored below it) is <= target.

    With k = floor(target * n_defective) escapes allowed, that is the (k+1)-th lowest defective score.
    When one escape already exceeds the target (1 / n_defective > target), k = 0: the threshold is the
    lowest defective score (no escape on validation) and `resolved` is False, because the validation
    split is too small to show that the target is met.
    """
    scores = np.sort(p_defect[defective])
    n_def = len(scores)
    allowed = int(np.floor(target_escape * n_def + 1e-9))
    threshold = float(scores[min(allowed, n_def - 1)])
    resolved = 1.0 / n_def <= target_escape
    if resolved:
        note = f"{allowed} escape(s) of {n_def} defective validation images allowed at target {target_escape}"
    else:
        need = (f"add defective validation images until 1 / n <= {target_escape} (n >= "
                f"{int(np.ceil(1 / target_escape))})" if target_escape > 0 else "no sample size verifies 0")
        note = (f"validation has {n_def} defective images: one escape would be {1 / n_def:.4f} > target "
                f"{target_escape}, so the target cannot be verified; threshold = lowest defective score "
                f"(zero validation escapes); {need}")
    return {"threshold": threshold, "resolved": bool(resolved), "note": note}


def _features(sess: InferenceSession, data: Dataset, size: int, views: dict, desc: str,
              progress: bool) -> tuple[np.ndarray, Dataset]:
    values, readable = run_images(sess, data.paths, size, views, desc=desc, progress=progress)
    kept = data.subset(np.flatnonzero(readable))
    kept.unreadable = [p for p, ok in zip(data.paths, readable, strict=True) if not ok]
    return values, kept


def train(data_dir: str | Path, out: str | Path, ok_class: str = "ok", target_escape: float = 0.005,
          val_fraction: float = 0.2, seed: int = 0, size: int = DEFAULT_SIZE, progress: bool = True,
          name: str | None = None, threads: int = 0) -> dict:
    """Train and save MODEL.onnx + MODEL.card.json; returns a summary (DatasetError for unusable data).

    `threads` for feature extraction: 0 = every core; a fixed count makes the features bit-reproducible.
    """
    started = time.perf_counter()
    data = scan(data_dir, ok_class)
    check_counts(data)
    train_index, val_index = split(data, val_fraction, seed)
    extractor = session(feature_graph(size), threads)
    train_views, train_set = _features(extractor, data.subset(train_index), size, TRAIN_VIEWS,
                                       "features train", progress)
    val_views, val_set = _features(extractor, data.subset(val_index), size, IDENTITY, "features val",
                                   progress)
    unreadable = train_set.unreadable + val_set.unreadable
    if unreadable:
        log.warning("skipped %d unreadable file(s): %s", len(unreadable), ", ".join(map(str, unreadable)))
    checked = Dataset(data.root, data.class_names, train_set.paths + val_set.paths,
                      np.concatenate([train_set.labels, val_set.labels]), unreadable)
    check_counts(checked)
    n_classes = len(data.class_names)
    for part_name, part in (("training", train_set), ("validation", val_set)):
        missing = [c for i, c in enumerate(data.class_names) if not (part.labels == i).any()]
        if missing:
            raise DatasetError(f"the {part_name} split has no readable image of {', '.join(missing)} after "
                               f"skipping {len(unreadable)} unreadable file(s); replace the unreadable files")

    head = fit_head(train_views, train_set.labels, n_classes, seed)
    val_probs = head.probs(val_views[0])
    choice = choose_threshold(1.0 - val_probs[:, 0], val_set.labels != 0, target_escape)
    validation = metrics(val_set.labels, val_probs, choice["threshold"], data.class_names)
    validation.update(target_escape=target_escape, threshold_resolved=choice["resolved"],
                      threshold_note=choice["note"])

    backbone = backbone_card()
    card = ModelCard(
        name=name or Path(out).stem,
        input=InputSpec(name="image", shape=[None, size, size, 3], dtype="uint8", layout="NHWC",
                        colour="bgr", resize=ResizeSpec(width=size, height=size, interpolation="area"),
                        mean=MEAN, std=STD, normalize_in_graph=True),
        outputs=[OutputSpec(name="probs", kind="classifier", shape=[None, n_classes]),
                 OutputSpec(name="heatmap", kind="heatmap", shape=[None, -(-size // 16), -(-size // 16)])],
        class_names=data.class_names,
        ok_class=data.ok_class,
        threshold=choice["threshold"],
        training={
            "data": str(data.root),
            "counts": checked.counts(),
            "n_train": len(train_set.paths),
            "n_val": len(val_set.paths),
            "unreadable": len(unreadable),
            "val_fraction": val_fraction,
            "seed": seed,
            "augmentation": list(TRAIN_VIEWS),
            "head": "standardised multinomial logistic regression, class_weight=balanced, on taps "
                    + ",".join(o["name"] for o in backbone["outputs"]) + " pooled by " + ", ".join(POOLINGS),
            "head_c": head.c,
            "cv_log_loss": head.cv_log_loss,
            "heatmap": "CAM over feat_b13 of (mean defect weights - ok weights) summed over the poolings, "
                       "per-image min-max, times P(defect)",
        },
        validation=validation,
        provenance={"backbone": backbone["truncation"], **backbone["provenance"],
                    "backbone_file_sha256": backbone["file_sha256"]},
    )
    model = model_graph(size, head.weight, head.bias)
    save_model(model, card, out)
    seconds = time.perf_counter() - started
    return {"model": str(out), "seconds": round(seconds, 1), "class_names": data.class_names,
            "threshold": choice["threshold"], "training": card.training, "validation": validation,
            "unreadable_files": [str(p) for p in unreadable]}

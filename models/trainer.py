"""`moldpilot train`: folder of labelled images -> one ONNX defect model with its card.

Pipeline: scan and check the folder -> settings chosen on a screening sample (models/selection.py: size,
taps and pooling) -> pooled MobileNetV2 features of every image in its views (flips, half turn; square
inputs also a quarter turn) ->
k-fold cross-validation of the head over all images: C, and an out-of-fold P(defect) for every image
and view -> test-time flip averaging if it earns its 4x latency ->
threshold chosen and verified on those scores (models/operating_point.py) -> readiness verdict
(models/readiness.py) -> head refitted on all images -> graph (pre-processing + backbone + head +
heatmap) with the card embedded, plus the MODEL.card.json sidecar.

`start_from`: the pooled taps come from a MoldPilot model's own network (models/start_model.py) instead
of the ImageNet backbone, at that model's input size; the console's teach page starts from the active
model, which has learnt what defects look like.

Why out-of-fold scores and not one validation split: every training image is scored once by a head that
did not see it, so the threshold rests on all the defect images at hand instead of a fifth of them (123
defects could not verify 0.5 %, issue 18). The shipped head is fitted on all images, a fifth more than
each fold's; its scores are, if anything, a little better than the out-of-fold figures in the card.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from onnxruntime import InferenceSession

from models.card import InputSpec, ModelCard, OutputSpec, ResizeSpec, read_card, save_model
from models.dataset import Dataset, DatasetError, check_counts, median_aspect, scan
from models.evaluate import metrics
from models.features import FLIP_VIEWS, TRAIN_VIEWS, Progress, run_images, session
from models.flip_views import average_flips
from models.graph import MEAN, POOLINGS, STD, backbone_card, feature_graph, model_graph
from models.head import FOLDS, fit_head
from models.operating_point import MAX_FALSE_REJECT, choose_threshold
from models.readiness import readiness
from models.selection import (
    COLUMN_SETS,
    LATENCY_BUDGET_MS,
    SIZES,
    Selection,
    candidate_shapes,
    choose,
    choose_test_views,
    flip_average,
    latency_ms,
)
from models.start_model import start_size

log = logging.getLogger(__name__)

DEFAULT_SIZE = 160  # the good-only default and the smallest candidate of models/selection.py


def _shapes(data: Dataset, size: int | None, start: Path | None) -> list[list[tuple[int, int]]]:
    """Input shapes to screen: the start model's own; an explicit --size (a square, as before); else
    SIZES as squares and at the images' own aspect."""
    if start is not None:
        own = start_size(start)
        if size is not None and (size, size) != own:
            raise DatasetError(f"--size {size} does not match {start}'s input {own[1]}x{own[0]} (WxH): a "
                               "model's network is trained at its own size; leave out --size")
        return [[own]]
    return candidate_shapes((size,) if size else SIZES, 1.0 if size else median_aspect(data.paths))


def _views(size: tuple[int, int]) -> dict:
    return TRAIN_VIEWS if size[0] == size[1] else FLIP_VIEWS


def _features(sess: InferenceSession, data: Dataset, size: tuple[int, int],
              progress: Progress) -> tuple[np.ndarray, Dataset]:
    values, readable = run_images(sess, data.paths, size, _views(size), desc="features", progress=progress)
    kept = data.subset(np.flatnonzero(readable))
    kept.unreadable = [p for p, ok in zip(data.paths, readable, strict=True) if not ok]
    return values, kept


def _provenance(start: Path | None, card: ModelCard | None) -> dict:
    """Where the network under the head comes from: the ImageNet backbone, or the start model's own
    (`start`, its `card`)."""
    backbone = backbone_card()
    if start is None or card is None:
        return {"backbone": backbone["truncation"], **backbone["provenance"],
                "backbone_file_sha256": backbone["file_sha256"]}
    return {"backbone": f"the network of model {card.name} (sha256 {card.sha256}) up to its taps "
                        "(models/start_model.py), as it was trained; a new head on them",
            "start_from": {"name": card.name, "sha256": card.sha256, "file": str(start)},
            "start_provenance": card.provenance}


def inherited_quantization(card: ModelCard | None) -> dict | None:
    """The start model's (its `card`'s) INT8 gate record, when the network under the head is its INT8 graph.

    The new model then computes in INT8 too (the runtime tells by its operators, edge/pipeline/int8_gate.py)
    and needs a record to run. The trunk's quantisation was gated on the start model; this model's own
    figures are out-of-fold scores of features from that very INT8 trunk. So the record is carried over
    as it was (drop, limit, forced): a trunk whose gate failed stays refused in every model built on it.
    """
    if card is None or not card.quantization:
        return None
    record = card.quantization
    return {"method": f"the network under the head is model {card.name}'s INT8 graph "
                      f"({record.get('method', 'quantised')}); its gate carried over",
            "inherited_from": {"name": card.name, "sha256": card.sha256},
            **{k: record.get(k) for k in ("figure", "drop", "max_drop", "forced", "verdict_agreement")}}


def _card(name: str, data: Dataset, selection: Selection, training: dict, validation: dict,
          threshold: float, start: Path | None) -> ModelCard:
    (height, width), views = selection.size, _views(selection.size)
    cells = [-(-side // 16) for side in selection.size]
    backbone = backbone_card()
    start_card = None if start is None else read_card(start)
    return ModelCard(
        name=name,
        input=InputSpec(name="image", shape=[None, height, width, 3], dtype="uint8", layout="NHWC",
                        colour="bgr", resize=ResizeSpec(width=width, height=height, interpolation="area"),
                        mean=MEAN, std=STD, normalize_in_graph=True),
        outputs=[OutputSpec(name="probs", kind="classifier", shape=[None, len(data.class_names)]),
                 OutputSpec(name="heatmap", kind="heatmap", shape=[None, *cells])],
        class_names=data.class_names,
        ok_class=data.ok_class,
        threshold=threshold,
        training={
            "data": str(data.root),
            "counts": data.counts(),
            "augmentation": list(views),
            "head": "standardised multinomial logistic regression, class_weight=balanced, on taps "
                    + ",".join(o["name"] for o in backbone["outputs"]) + " pooled by " + ", ".join(POOLINGS)
                    + f"; columns outside '{selection.column_set}' get zero weight",
            "heatmap": "CAM over feat_b13 of (mean defect weights - ok weights) summed over the poolings, "
                       "per-image min-max, times P(defect)",
            "selection": selection.card(),
            **training,
        },
        validation=validation,
        provenance=_provenance(start, start_card),
        quantization=inherited_quantization(start_card),
    )


def _validation(data: Dataset, oof: np.ndarray, target_escape: float, max_false_reject: float,
                folds: int) -> dict:
    """Figures of the out-of-fold scores at the chosen threshold and at 0.5, with the verdict."""
    defective = data.labels != 0
    choice = choose_threshold(1.0 - oof[:, 0], defective, target_escape, max_false_reject)
    validation = metrics(data.labels, oof, choice["threshold"], data.class_names)
    at_half = metrics(data.labels, oof, 0.5, data.class_names)
    validation.update(
        basis=f"out-of-fold scores of all {len(data.labels)} training images ({folds}-fold)",
        target_escape=target_escape, max_false_reject=max_false_reject,
        threshold_resolved=choice["resolved"], threshold_capped=choice["capped"],
        threshold_note=choice["note"], defects_needed=choice["defects_needed"],
        at_0_5={k: at_half[k] for k in ("accuracy", "escape_rate", "false_reject_rate", "class_accuracy")},
        readiness=readiness(data.labels, 1.0 - oof[:, 0], choice["threshold"], data.class_names,
                            target_escape, max_false_reject))
    return validation


def train(data_dir: str | Path, out: str | Path, ok_class: str = "ok", target_escape: float = 0.005,
          max_false_reject: float = MAX_FALSE_REJECT, seed: int = 0, size: int | None = None,
          features: str | None = None, latency_budget_ms: float = LATENCY_BUDGET_MS, folds: int = FOLDS,
          progress: Progress = True, name: str | None = None, threads: int = 0,
          test_time_views: bool = True, start_from: str | Path | None = None) -> dict:
    """Train and save MODEL.onnx + MODEL.card.json; returns a summary (DatasetError for unusable data).

    `size` / `features` (a name in models.selection.COLUMN_SETS) override the automatic choice;
    `test_time_views=False` ships a one-view graph whatever the cross-validation says.
    `start_from`: a MoldPilot model whose network gives the features (models/start_model.py), at its
    own input size; default the ImageNet backbone.
    `threads` for feature extraction: 0 = every core; a fixed count makes the features bit-reproducible.
    """
    started = time.perf_counter()
    data = scan(data_dir, ok_class)
    check_counts(data)
    n_classes = len(data.class_names)
    start = None if start_from is None else Path(start_from)
    selection = choose(data.paths, data.labels, n_classes, seed, _shapes(data, size, start),
                       (features,) if features else tuple(COLUMN_SETS), latency_budget_ms, threads, progress,
                       start)
    views, kept = _features(session(feature_graph(selection.size, start), threads), data, selection.size,
                            progress)
    if kept.unreadable:
        log.warning("skipped %d unreadable file(s): %s", len(kept.unreadable),
                    ", ".join(map(str, kept.unreadable)))
    check_counts(kept)
    head, oof = fit_head(views, kept.labels, n_classes, seed, folds, selection.columns)
    model = model_graph(selection.size, head.weight, head.bias, start=start)
    view_names = list(_views(selection.size))
    # No headroom for views means one view (`test_views=False`: the fixed settings before issue 18).
    test_views = choose_test_views(oof, kept.labels, view_names, model, selection.size,
                                   latency_budget_ms if test_time_views else 0.0)
    if test_views["used"]:
        model = average_flips(model)
    scores = flip_average(oof, view_names) if test_views["used"] else oof[0]
    validation = _validation(kept, scores, target_escape, max_false_reject, folds)
    training = {"n_train": len(kept.paths), "unreadable": len(kept.unreadable), "seed": seed, "folds": folds,
                "head_c": head.c, "cv_log_loss": head.cv_log_loss, "test_time_views": test_views,
                "latency_ms_per_crop_1_thread": latency_ms(model, selection.size),
                "seconds": round(time.perf_counter() - started, 1)}
    card = _card(name or Path(out).stem, kept, selection, training, validation, validation["threshold"],
                 start)
    save_model(model, card, out)
    return {"model": str(out), "seconds": round(time.perf_counter() - started, 1),
            "class_names": data.class_names, "threshold": validation["threshold"],
            "training": card.training, "validation": validation,
            "unreadable_files": [str(p) for p in kept.unreadable]}

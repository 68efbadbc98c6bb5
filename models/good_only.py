"""`moldpilot train --mode good-only`: learn "normal" from good parts alone; one ONNX graph with its card.

Pipeline: scan (only the ok folder is required) -> the ok images split into train / validation; every
defect image (if any) goes to validation, never to training -> embeddings of the training images
(models/padim_graph.py) -> optional k-means groups -> one Gaussian per location and group
(models/padim.py) -> threshold on the validation distances -> graph + card, then the saved graph is run
on the validation images and compared with the numpy reference (the card records the largest difference).

Threshold (a distance t; the graph maps it to 0.5, the card's threshold):
- with defect images: the supervised rule (models.trainer.choose_threshold) for `target_escape`;
- without: the `ok_quantile` quantile of the good validation scores (default 0.995: about 1 good part in
  200 rejected), stated in the card.

Why PaDiM and not PatchCore: on a quick casting subset (benchmarks/bench_good_only.py) both are far
above the target; PaDiM's cost per image is one batched MatMul per location regardless of how many good
images were seen, its size is fixed by (groups, locations, channels) and it exports to plain ONNX
operators, while a PatchCore memory bank grows with the data and needs a nearest-neighbour search.

Memory: training holds the embeddings of at most `max_train_images` images, n * D * L * 4 bytes (2,000 x
100 x 400 x 4 = 320 MB at 160 px, D = 100); the model holds G * L * D * (D + 1) * 4 bytes (16 MB for
G = 1, L = 400, D = 100) plus the 2.2 MB backbone, plus k * D * L bytes for a design subspace of k
components (15.4 MB for k = 600, D = 64, L = 400).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime import InferenceSession
from sklearn.cluster import KMeans

from models.card import InputSpec, ModelCard, OutputSpec, ResizeSpec, save_model
from models.dataset import MIN_IMAGES_PER_CLASS, Dataset, DatasetError, scan
from models.evaluate import metrics
from models.features import Progress, run_images, session
from models.good_only_choice import choose_good_only
from models.graph import MEAN, STD, backbone_card
from models.operating_point import MAX_FALSE_REJECT, choose_threshold
from models.padim import (
    DesignSubspace,
    GaussianMaps,
    fit_design_subspace,
    fit_gaussians,
    pooled,
    remove_design,
    score_images,
)
from models.padim_graph import (
    EMBEDDING,
    TAP_CHANNELS_TOTAL,
    ScoreSource,
    anomaly_graph,
    embedding_graph,
    embedding_part,
    normalise,
    stored_design,
    with_statistics,
)
from models.readiness import readiness
from models.trainer import DEFAULT_SIZE

log = logging.getLogger(__name__)

ANOMALY_CLASS = "anomaly"
CARD_THRESHOLD = 0.5  # the graph maps the threshold distance to 0.5
GOOD_MEDIAN_SCORE = 0.1  # the steepness puts the median good validation part here
MIN_STEEPNESS_RATIO = 1.05  # threshold / median good distance, floor (a threshold below the median)


def _embed(extractor: InferenceSession, paths: list[Path], size: int, desc: str,
           progress: Progress) -> tuple[np.ndarray, np.ndarray]:
    values, readable = run_images(extractor, paths, size, output=EMBEDDING, desc=desc, progress=progress)
    return values[0], readable


def _groups(embeddings: np.ndarray, n_groups: int, seed: int) -> np.ndarray:
    """Group of each training image: k-means on its mean embedding (one group: all zeros)."""
    if n_groups == 1:
        return np.zeros(len(embeddings), np.int64)
    pooled = embeddings.mean(axis=(2, 3))
    return KMeans(n_groups, n_init=4, random_state=seed).fit_predict(pooled).astype(np.int64)


def split_good(data: Dataset, val_fraction: float, max_train: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ok images for training (at most max_train) and validation (the rest, plus every defect)."""
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    ok = np.random.default_rng(seed).permutation(np.flatnonzero(data.labels == 0))
    n_val = min(max(1, round(len(ok) * val_fraction)), len(ok) - 2)
    train = np.sort(ok[n_val:][:max_train])
    val = np.sort(np.concatenate([ok[:n_val], np.flatnonzero(data.labels != 0)]))
    return train, val


def calibrate(distance: np.ndarray, defective: np.ndarray, target_escape: float,
              ok_quantile: float) -> dict:
    """Threshold distance and steepness from validation image distances (see the module docstring)."""
    if defective.any():
        choice = choose_threshold(distance, defective, target_escape)
        rule = f"target escape rate {target_escape}: {choice['note']}"
    else:
        choice = {"threshold": float(np.quantile(distance, ok_quantile)), "resolved": True}
        rule = f"{ok_quantile} quantile of {len(distance)} good validation scores (no defect images)"
    median_ok = float(np.median(distance[~defective]))
    ratio = max(choice["threshold"] / median_ok, MIN_STEEPNESS_RATIO)
    steepness = float(np.log(1.0 / GOOD_MEDIAN_SCORE - 1.0) / np.log(ratio))
    return {"threshold_distance": choice["threshold"], "steepness": steepness, "rule": rule,
            "resolved": bool(choice["resolved"])}


@dataclass
class _Embedded:
    """The embeddings of the training and validation images that could be read."""

    train: np.ndarray  # [n_train, D, h, w]
    val: np.ndarray  # [n_val, D, h, w]
    val_paths: list[Path]
    val_labels: np.ndarray  # 0 good, 1 defect
    unreadable: list[Path]


@dataclass
class _Fit:
    """The Gaussians and the two calibrations (image score, heatmap) fitted on `_Embedded`."""

    image_gaussians: GaussianMaps
    map_gaussians: GaussianMaps
    val_distance: np.ndarray
    val_maps: np.ndarray
    cal: dict
    map_cal: dict

    @property
    def score_scale(self) -> tuple[float, float]:
        return self.cal["threshold_distance"], self.cal["steepness"]

    @property
    def map_scale(self) -> tuple[float, float]:
        return self.map_cal["threshold_distance"], self.map_cal["steepness"]


def train_good_only(data_dir: str | Path, out: str | Path, ok_class: str = "ok", target_escape: float = 0.005,
                    ok_quantile: float = 0.995, val_fraction: float = 0.2, seed: int = 0,
                    size: int = DEFAULT_SIZE, n_channels: int = 100, n_groups: int = 1,
                    score_source: ScoreSource = "global", max_train_images: int = 2000,
                    progress: Progress = True, name: str | None = None, threads: int = 0,
                    quantized: onnx.ModelProto | None = None, design_components: int = 0,
                    grey: bool = False, auto: bool = False) -> dict:
    """Train and save a good-only MODEL.onnx + MODEL.card.json; returns a summary.

    DatasetError for unusable data. `threads` as in models.trainer.train. `quantized`: a good-only graph
    with an INT8 backbone (models/quantize.py) whose Gaussians and scales are refitted on the features
    that backbone computes, keeping its trunk and its design subspace (the "refit" in models/quantize.py).
    `design_components` > 0: remove the good parts' top principal components of the whole embedding map
    before the Gaussians (models/padim.py, "design subspace"); `grey`: the backbone sees brightness-
    normalised grey (models/graph.py). `auto`: size, channels and score source chosen from the data
    (models/good_only_choice.py), replacing `size`, `n_channels` and `score_source`.
    """
    started = time.perf_counter()
    data = scan(data_dir, ok_class, min_classes=1)
    if data.counts()[data.ok_class] < MIN_IMAGES_PER_CLASS:
        raise DatasetError(f"{data.root}/{ok_class} has {data.counts()[data.ok_class]} image(s); good-only "
                           f"training needs at least {MIN_IMAGES_PER_CLASS} good images")
    train_index, val_index = split_good(data, val_fraction, max_train_images, seed)
    channels = np.sort(np.random.default_rng(seed).permutation(TAP_CHANNELS_TOTAL)[:n_channels])
    choice = None
    if auto:
        val_defect = data.labels[val_index] != 0
        choice = choose_good_only([data.paths[i] for i in train_index],
                                  [data.paths[i] for i in val_index[~val_defect]],
                                  [data.paths[i] for i in val_index[val_defect]], seed, threads, progress)
        size, score_source, channels = choice["size"], choice["score_source"], np.array(choice["channels"])
    trunk = embedding_graph(size, channels, grey) if quantized is None else embedding_part(quantized)
    emb = _embed_split(session(trunk, threads), data, train_index, val_index, size, n_groups, progress)
    design = (stored_design(quantized) if quantized is not None
              else _design(emb, design_components, data, seed))
    if design is not None:
        emb.train, emb.val = remove_design(emb.train, design), remove_design(emb.val, design)
    fit = _fit(emb, n_groups, score_source, target_escape, ok_quantile, seed)
    if quantized is None:
        model = anomaly_graph(size, channels, fit.image_gaussians, fit.map_gaussians, fit.score_scale,
                              fit.map_scale, score_source, design, grey)
    else:
        model = with_statistics(quantized, fit.image_gaussians, fit.map_gaussians, fit.score_scale,
                                fit.map_scale)
    class_names = [data.ok_class, ANOMALY_CLASS]
    validation = _validation(model, emb, fit, size, class_names, target_escape)
    training = {
        "mode": "good-only", "data": str(data.root), "counts": data.counts(), "n_train_ok": len(emb.train),
        "n_val": len(emb.val_labels), "unreadable": len(emb.unreadable), "val_fraction": val_fraction,
        "seed": seed, "target_escape": target_escape, "ok_quantile": ok_quantile,
        "max_train_images": max_train_images, **_method(fit, channels, design, grey, n_groups, score_source),
        "grid_cells": [size // 8, size // 8], "train_embedding_bytes": int(emb.train.nbytes),
        "auto_choice": choice,
    }
    card = _card(name or Path(out).stem, size, data.ok_class, class_names, training, validation)
    save_model(model, card, out)
    return {"model": str(out), "seconds": round(time.perf_counter() - started, 1), "class_names": class_names,
            "threshold": CARD_THRESHOLD, "training": card.training, "validation": validation,
            "unreadable_files": [str(p) for p in emb.unreadable]}


def _embed_split(extractor: InferenceSession, data: Dataset, train_index: np.ndarray, val_index: np.ndarray,
                 size: int, n_groups: int, progress: bool) -> _Embedded:
    """Embeddings of the split; unreadable files are left out (and listed); too few good ones raise."""
    train_paths = [data.paths[i] for i in train_index]
    train_emb, train_ok = _embed(extractor, train_paths, size, "embed train", progress)
    val_paths = [data.paths[i] for i in val_index]
    val_emb, val_ok = _embed(extractor, val_paths, size, "embed val", progress)
    unreadable = [p for p, ok in zip(train_paths + val_paths, np.concatenate([train_ok, val_ok]), strict=True)
                  if not ok]
    if unreadable:
        log.warning("skipped %d unreadable file(s): %s", len(unreadable), ", ".join(map(str, unreadable)))
    val_labels = (data.labels[val_index][val_ok] != 0).astype(np.int64)
    n_val_ok = int((val_labels == 0).sum())
    if len(train_emb) < 2 * n_groups or n_val_ok == 0:
        raise DatasetError(f"{data.root}: too few readable good images ({len(train_emb)} train, {n_val_ok} "
                           f"validation) for {n_groups} group(s); add good images")
    return _Embedded(train_emb, val_emb, [p for p, ok in zip(val_paths, val_ok, strict=True) if ok],
                     val_labels, unreadable)


def _design(emb: _Embedded, design_components: int, data: Dataset, seed: int) -> DesignSubspace | None:
    """The good parts' design subspace of `design_components` components, or None for 0."""
    if not design_components:
        return None
    if design_components >= len(emb.train):
        raise DatasetError(f"{data.root}: {design_components} design components need more good training "
                           f"images than that ({len(emb.train)} readable); add good images or lower "
                           "--design-components")
    return fit_design_subspace(emb.train, design_components, seed)


def _fit(emb: _Embedded, n_groups: int, score_source: ScoreSource, target_escape: float,
         ok_quantile: float, seed: int) -> _Fit:
    """Gaussians on the training embeddings; the image score and the heatmap calibrated on validation."""
    group = _groups(emb.train, n_groups, seed)
    image_gaussians = fit_gaussians(pooled(emb.train), group, n_groups)
    map_gaussians = fit_gaussians(emb.train, group, n_groups)
    image_distance, val_maps = score_images(emb.val, image_gaussians, map_gaussians)
    val_distance = image_distance if score_source == "global" else val_maps.max(axis=(1, 2))
    cal = calibrate(val_distance, emb.val_labels == 1, target_escape, ok_quantile)
    good_peaks = val_maps[emb.val_labels == 0].max(axis=(1, 2))
    map_cal = calibrate(good_peaks, np.zeros(len(good_peaks), bool), target_escape, ok_quantile)
    return _Fit(image_gaussians, map_gaussians, val_distance, val_maps, cal, map_cal)


def _validation(model: onnx.ModelProto, emb: _Embedded, fit: _Fit, size: int, class_names: list[str],
                target_escape: float) -> dict:
    """Validation metrics at the card threshold, the readiness verdict, and the graph checked against
    the numpy reference on the validation images."""
    val_score = normalise(fit.val_distance, *fit.score_scale)
    validation = metrics(emb.val_labels, np.stack([1.0 - val_score, val_score], axis=1), CARD_THRESHOLD,
                         class_names)
    reference = {"anomaly_score": val_score, "heatmap": normalise(fit.val_maps, *fit.map_scale)}
    validation.update(threshold_rule=fit.cal["rule"], threshold_resolved=fit.cal["resolved"],
                      onnx_vs_numpy_max_abs=_check_graph(model, emb.val_paths, size, reference),
                      readiness=readiness(emb.val_labels, val_score, CARD_THRESHOLD, class_names,
                                          target_escape, MAX_FALSE_REJECT, basis="val"))
    return validation


def _method(fit: _Fit, channels: np.ndarray, design: DesignSubspace | None, grey: bool, n_groups: int,
            score_source: ScoreSource) -> dict:
    """What the card says about the method and its fitted sizes and scales."""
    return {
        "method": "Ledoit-Wolf Gaussians over feat_b3/b6/b10/b13 at stride 8"
                  + ("" if design is None else " minus their projection on the good parts' principal "
                     "components (design subspace)")
                  + ": score = "
                  + ("Mahalanobis distance of the global average" if score_source == "global" else
                     "peak of the heatmap")
                  + ", heatmap = per-location (PaDiM) distance, 3x3 blur; best of k-means groups",
        "channels": channels.tolist(),
        "design_components": 0 if design is None else len(design.scale),
        "pixels": "grey, brightness-normalised" if grey else "colour",
        "groups": n_groups,
        "score_source": score_source,
        "mean_shrinkage": {"image": float(fit.image_gaussians.shrinkage.mean()),
                           "map": float(fit.map_gaussians.shrinkage.mean())},
        "score_scale": {"threshold_distance": fit.score_scale[0], "steepness": fit.score_scale[1]},
        "heatmap_scale": {"threshold_distance": fit.map_scale[0], "steepness": fit.map_scale[1],
                          "rule": fit.map_cal["rule"].replace("scores", "map maxima")},
        "normalisation": "sigmoid(steepness * ln(distance / threshold_distance)); 0.5 = threshold",
        "parameter_bytes": fit.image_gaussians.nbytes + fit.map_gaussians.nbytes
                           + (0 if design is None else design.nbytes),
    }


def _card(name: str, size: int, ok_class: str, class_names: list[str], training: dict,
          validation: dict) -> ModelCard:
    cells = size // 8
    backbone = backbone_card()
    return ModelCard(
        name=name,
        input=InputSpec(name="image", shape=[None, size, size, 3], dtype="uint8", layout="NHWC", colour="bgr",
                        resize=ResizeSpec(width=size, height=size, interpolation="area"), mean=MEAN, std=STD,
                        normalize_in_graph=True),
        outputs=[OutputSpec(name="probs", kind="classifier", shape=[None, 2]),
                 OutputSpec(name="heatmap", kind="heatmap", shape=[None, cells, cells]),
                 OutputSpec(name="anomaly_score", kind="anomaly_score", shape=[None])],
        class_names=class_names,
        ok_class=ok_class,
        threshold=CARD_THRESHOLD,
        training=training,
        validation=validation,
        provenance={"backbone": backbone["truncation"], **backbone["provenance"],
                    "backbone_file_sha256": backbone["file_sha256"]},
    )


def _check_graph(model: onnx.ModelProto, paths: list[Path], size: int,
                 expected: dict[str, np.ndarray]) -> float:
    """Largest |ONNX - numpy reference| over the outputs in `expected`; raises above 1e-3 (a bug)."""
    sess = session(model)
    worst = 0.0
    for name, reference in expected.items():
        got, _ = run_images(sess, paths, size, output=name, desc="check graph", progress=False)
        worst = max(worst, float(np.abs(got[0] - reference).max()))
    if worst > 1e-3:
        raise RuntimeError(f"good-only graph disagrees with its numpy reference by {worst:.2e}; a bug")
    return worst

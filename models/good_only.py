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
from models.padim import fit_design_subspace, fit_gaussians, pooled, remove_design, score_images
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
    extractor = session(trunk, threads)
    train_paths = [data.paths[i] for i in train_index]
    train_emb, train_ok = _embed(extractor, train_paths, size, "embed train", progress)
    val_paths = [data.paths[i] for i in val_index]
    val_emb, val_ok = _embed(extractor, val_paths, size, "embed val", progress)
    unreadable = [p for p, ok in zip(train_paths + val_paths, np.concatenate([train_ok, val_ok]), strict=True)
                  if not ok]
    if unreadable:
        log.warning("skipped %d unreadable file(s): %s", len(unreadable), ", ".join(map(str, unreadable)))
    val_paths = [p for p, ok in zip(val_paths, val_ok, strict=True) if ok]
    val_labels = (data.labels[val_index][val_ok] != 0).astype(np.int64)
    n_val_ok = int((val_labels == 0).sum())
    if len(train_emb) < 2 * n_groups or n_val_ok == 0:
        raise DatasetError(f"{data.root}: too few readable good images ({len(train_emb)} train, {n_val_ok} "
                           f"validation) for {n_groups} group(s); add good images")

    if quantized is not None:
        design = stored_design(quantized)
    elif design_components:
        if design_components >= len(train_emb):
            raise DatasetError(f"{data.root}: {design_components} design components need more good training "
                               f"images than that ({len(train_emb)} readable); add good images or lower "
                               "--design-components")
        design = fit_design_subspace(train_emb, design_components, seed)
    else:
        design = None
    if design is not None:
        train_emb, val_emb = remove_design(train_emb, design), remove_design(val_emb, design)
    group = _groups(train_emb, n_groups, seed)
    image_gaussians = fit_gaussians(pooled(train_emb), group, n_groups)
    map_gaussians = fit_gaussians(train_emb, group, n_groups)
    image_distance, val_maps = score_images(val_emb, image_gaussians, map_gaussians)
    val_distance = image_distance if score_source == "global" else val_maps.max(axis=(1, 2))
    cal = calibrate(val_distance, val_labels == 1, target_escape, ok_quantile)
    good_peaks = val_maps[val_labels == 0].max(axis=(1, 2))
    map_cal = calibrate(good_peaks, np.zeros(len(good_peaks), bool), target_escape, ok_quantile)
    score_scale = (cal["threshold_distance"], cal["steepness"])
    map_scale = (map_cal["threshold_distance"], map_cal["steepness"])
    if quantized is None:
        model = anomaly_graph(size, channels, image_gaussians, map_gaussians, score_scale, map_scale,
                              score_source, design, grey)
    else:
        model = with_statistics(quantized, image_gaussians, map_gaussians, score_scale, map_scale)

    val_score = normalise(val_distance, *score_scale)
    class_names = [data.ok_class, ANOMALY_CLASS]
    validation = metrics(val_labels, np.stack([1.0 - val_score, val_score], axis=1), CARD_THRESHOLD,
                         class_names)
    reference = {"anomaly_score": val_score, "heatmap": normalise(val_maps, *map_scale)}
    validation.update(threshold_rule=cal["rule"], threshold_resolved=cal["resolved"],
                      onnx_vs_numpy_max_abs=_check_graph(model, val_paths, size, reference),
                      readiness=readiness(val_labels, val_score, CARD_THRESHOLD, class_names, target_escape,
                                          MAX_FALSE_REJECT, basis="val"))
    cells = size // 8
    backbone = backbone_card()
    card = ModelCard(
        name=name or Path(out).stem,
        input=InputSpec(name="image", shape=[None, size, size, 3], dtype="uint8", layout="NHWC", colour="bgr",
                        resize=ResizeSpec(width=size, height=size, interpolation="area"), mean=MEAN, std=STD,
                        normalize_in_graph=True),
        outputs=[OutputSpec(name="probs", kind="classifier", shape=[None, 2]),
                 OutputSpec(name="heatmap", kind="heatmap", shape=[None, cells, cells]),
                 OutputSpec(name="anomaly_score", kind="anomaly_score", shape=[None])],
        class_names=class_names,
        ok_class=data.ok_class,
        threshold=CARD_THRESHOLD,
        training={
            "mode": "good-only",
            "data": str(data.root),
            "counts": data.counts(),
            "n_train_ok": len(train_emb),
            "n_val": len(val_labels),
            "unreadable": len(unreadable),
            "val_fraction": val_fraction,
            "seed": seed,
            "target_escape": target_escape,
            "ok_quantile": ok_quantile,
            "max_train_images": max_train_images,
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
            "grid_cells": [cells, cells],
            "mean_shrinkage": {"image": float(image_gaussians.shrinkage.mean()),
                               "map": float(map_gaussians.shrinkage.mean())},
            "score_scale": {"threshold_distance": score_scale[0], "steepness": score_scale[1]},
            "heatmap_scale": {"threshold_distance": map_scale[0], "steepness": map_scale[1],
                              "rule": map_cal["rule"].replace("scores", "map maxima")},
            "normalisation": "sigmoid(steepness * ln(distance / threshold_distance)); 0.5 = threshold",
            "parameter_bytes": image_gaussians.nbytes + map_gaussians.nbytes
                               + (0 if design is None else design.nbytes),
            "train_embedding_bytes": int(train_emb.nbytes),
            "auto_choice": choice,
        },
        validation=validation,
        provenance={"backbone": backbone["truncation"], **backbone["provenance"],
                    "backbone_file_sha256": backbone["file_sha256"]},
    )
    save_model(model, card, out)
    return {"model": str(out), "seconds": round(time.perf_counter() - started, 1), "class_names": class_names,
            "threshold": CARD_THRESHOLD, "training": card.training, "validation": validation,
            "unreadable_files": [str(p) for p in unreadable]}


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

"""Build the shipped default model, models/default/sim_parts_v1.onnx (+ .card.json), from simulator data.

    .venv/bin/python models/default/build_default.py [--out models/default/sim_parts_v1.onnx]

Unlike `moldpilot train` (folders of labelled images, no boxes), this script knows where each defect is:
the simulator gives its box. So it trains a patch-level model (models/patch_head.py, graph in
models/patch_graph.py): a cell head on a 20 x 20 grid supervised by the boxes, plus the generic image
head on pooled features for warp (a whole-part defect) and for the defect class.

Deterministic: crops rendered in memory from fixed simulator seeds (item i depends only on (seed, i), the
same pixels `moldpilot sim dataset --seed TRAIN_SEED` writes), fixed split and head seeds, features on a
fixed number of onnxruntime threads. Two runs give the same graph (the card's `sha256`); with
SOURCE_DATE_EPOCH set the card's `created` is fixed too. Seeds 777001 and up are kept for evaluation.

Figures (2,000 fresh crops, seed 777001): AUROC 0.977, escape 0.005 at the card threshold, accuracy
0.716 (the generic pooled model: 0.935 / 0.61). The target (accuracy >= 0.99 at escape <= 0.005) is NOT
met. Tried: re-encoding every other crop as JPEG (quality 85-95, as the MJPG footage): AUROC 0.971,
escape 0.010, accuracy 0.73 on crops, footage replay unchanged (~14 %: OK housings in the footage score
above the threshold even before MJPG compression), so it is not used.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from models.card import InputSpec, ModelCard, OutputSpec, ResizeSpec, save_model
from models.dataset import Dataset, split
from models.evaluate import metrics
from models.features import session
from models.graph import MEAN, STD, backbone_card
from models.head import _fit as fit_image_head
from models.patch_graph import grid_side, patch_feature_graph, patch_model_graph
from models.patch_head import cell_labels, fit_patch_head, heatmap, sample_cells, with_image_mean
from models.trainer import DEFAULT_SIZE, choose_threshold
from sim.dataset import render_item
from sim.defects import DEFECT_NAMES

HERE = Path(__file__).resolve().parent
NAME = "sim_parts_v1"
TRAIN_SEED = 20260601  # simulator seed of the training crops
SPLIT_SEED = 0  # train/val split, cell sampling and heads
COUNT = 4000  # 2,800 train + 1,200 validation crops; rendering + features + heads ~5 min on 2 cores
DEFECT_RATE = 0.5
TARGET_ESCAPE = 0.005
VAL_FRACTION = 0.3  # ~600 defective validation crops: 3 escapes allowed at the target, so it is resolved
IMAGE_HEAD_C = 0.03  # the generic trainer's CV picks the low end of its grid on these crops
THREADS = 2  # fixed: the reduction order, and so the last bits of the features, follow the thread count
BATCH = 32
CLASS_NAMES = ["ok", *sorted(DEFECT_NAMES)]


def render(count: int) -> tuple[np.ndarray, list]:
    items = [render_item(TRAIN_SEED, i, DEFAULT_SIZE, DEFECT_RATE, "mixed") for i in range(count)]
    return np.stack([image for image, _ in items]), [row for _, row in items]


def extract(images: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """(patch features with the image means [N, K + L, g, g] as `dtype`; pooled features [N, F]).

    Training cells are kept as float16 (4 GB -> 2 GB for 2,800 crops; the MLP does not notice);
    validation maps use float32 so the threshold is set on exactly what the graph computes."""
    sess = session(patch_feature_graph(DEFAULT_SIZE), THREADS)
    patches, pooled = [], []
    for start in range(0, len(images), BATCH):
        patch, features = sess.run(["patch_features", "features"], {"image": images[start:start + BATCH]})
        patches.append(with_image_mean(patch, patch.shape[1] // 2).astype(dtype))
        pooled.append(features)
    return np.concatenate(patches), np.concatenate(pooled)


def build(out: Path) -> dict:
    started = time.perf_counter()
    images, rows = render(COUNT)
    labels = np.array([CLASS_NAMES.index(r.class_name) for r in rows])
    train_idx, val_idx = split(Dataset(Path("."), CLASS_NAMES, [Path(r.file) for r in rows], labels),
                               VAL_FRACTION, SPLIT_SEED)
    patch, pooled = extract(images[train_idx], np.float16)
    val_patch, val_pooled = extract(images[val_idx], np.float32)
    cells = cell_labels([rows[i].class_name for i in train_idx], [rows[i].bbox_xywh for i in train_idx],
                        grid_side(DEFAULT_SIZE))
    x, y = sample_cells(patch, cells, SPLIT_SEED)
    cell_head = fit_patch_head(x, y, SPLIT_SEED)
    image_head, _ = fit_image_head(pooled[None], labels[train_idx], IMAGE_HEAD_C,
                                   len(CLASS_NAMES), SPLIT_SEED)
    # Validation scores from the numpy reference (the graph is checked against it below).
    val_map = heatmap(cell_head, val_patch)
    image_probs = image_head.probs(val_pooled)
    p_def = np.maximum(val_map.max(axis=(1, 2)), 1.0 - image_probs[:, 0])
    share = image_probs[:, 1:] / image_probs[:, 1:].sum(axis=1, keepdims=True)
    val_probs = np.hstack([1.0 - p_def[:, None], p_def[:, None] * share])
    choice = choose_threshold(p_def, labels[val_idx] != 0, TARGET_ESCAPE)
    validation = metrics(labels[val_idx], val_probs, choice["threshold"], CLASS_NAMES)
    validation.update(target_escape=TARGET_ESCAPE, threshold_resolved=choice["resolved"],
                      threshold_note=choice["note"])

    model = patch_model_graph(DEFAULT_SIZE, cell_head.w1, cell_head.b1, cell_head.w2, cell_head.b2,
                              image_head.weight, image_head.bias)
    check = session(model, THREADS).run(["probs", "heatmap"], {"image": images[val_idx[:8]]})
    assert np.allclose(check[0], val_probs[:8], atol=1e-3), "ONNX probs differ from the numpy reference"
    assert np.allclose(check[1], val_map[:8], atol=1e-3), "ONNX heatmap differs from the numpy reference"

    backbone = backbone_card()
    g = grid_side(DEFAULT_SIZE)
    counts = Counter(r.class_name for r in rows)
    card = ModelCard(
        name=NAME,
        input=InputSpec(name="image", shape=[None, DEFAULT_SIZE, DEFAULT_SIZE, 3], dtype="uint8",
                        layout="NHWC", colour="bgr",
                        resize=ResizeSpec(width=DEFAULT_SIZE, height=DEFAULT_SIZE, interpolation="area"),
                        mean=MEAN, std=STD, normalize_in_graph=True),
        outputs=[OutputSpec(name="probs", kind="classifier", shape=[None, len(CLASS_NAMES)]),
                 OutputSpec(name="heatmap", kind="heatmap", shape=[None, g, g])],
        class_names=CLASS_NAMES,
        ok_class="ok",
        threshold=choice["threshold"],
        training={
            "data": (f"moldpilot sim dataset --count {COUNT} --seed {TRAIN_SEED} --size {DEFAULT_SIZE} "
                     f"--defect-rate {DEFECT_RATE} --shape mixed, rendered in memory; built by "
                     "models/default/build_default.py"),
            "counts": dict(sorted(counts.items())),
            "n_train": len(train_idx),
            "n_val": len(val_idx),
            "val_fraction": VAL_FRACTION,
            "seed": SPLIT_SEED,
            "training_cells": len(y),
            "positive_cells": int(y.sum()),
            "head": (f"cell head: MLP ({cell_head.w1.shape[0]} hidden) per stride-8 cell on MobileNetV2 "
                     "taps of the 2x enlarged crop + 3x3 context + image means, supervised by the "
                     "simulator's defect boxes; image head: multinomial logistic regression (C "
                     f"{IMAGE_HEAD_C}) on pooled taps; P(defect) = max(max of 3x3-smoothed cell map, "
                     "image-head P(defect)); defect class from the image head"),
            "heatmap": "cell probabilities, 3x3 mean, 20x20 (stride 8)",
        },
        validation=validation,
        provenance={"backbone": backbone["truncation"], **backbone["provenance"],
                    "backbone_file_sha256": backbone["file_sha256"]},
    )
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        card.created = datetime.fromtimestamp(int(epoch), timezone.utc).isoformat(timespec="seconds")
    save_model(model, card, out)
    session(out)  # the saved file loads
    return {"model": str(out), "seconds": round(time.perf_counter() - started, 1),
            "threshold": choice["threshold"], "sha256": card.sha256, "validation": validation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / f"{NAME}.onnx")
    args = parser.parse_args()
    summary = build(args.out)
    summary["validation"] = {k: summary["validation"][k] for k in ("accuracy", "escape_rate", "auroc",
                                                                   "false_reject_rate", "class_accuracy")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

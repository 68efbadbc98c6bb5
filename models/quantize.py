"""`moldpilot quantize`: onnxruntime static INT8 (QDQ) of a MoldPilot model, checked before it is written.

Decisions:
- **Only the backbone's inner blocks are quantised.** `nodes_to_quantize` lists the nodes of blocks
  1-12 of the MobileNetV2 file (models/backbone), found by name in the composed graph. The stem (block 0,
  the first convolution) and the last block stay float, the usual first/last-layer exception: on the
  synthetic test parts it raised FP32/INT8 verdict agreement of a supervised model from 93 % to 98 %.
  Everything else stays float32: the pre-processing (Cast of the uint8 input, BGR->RGB, mean/std), which
  must see exact pixel values and keeps the uint8 input of the card; the supervised head and its
  softmax; and the good-only Mahalanobis distances, whose inverse-Cholesky weights span orders of
  magnitude that 8 bits cannot hold, and any design-subspace projection (its components are stored in
  int8 already, but multiplied in float; where it dominates, as in the shipped simulator model, INT8
  gains little: 1.10x).
- **U8 activations, S8 weights per channel, MinMax calibration on good images only**: the format x86
  VNNI and ARM dot-product kernels run fastest; per-channel weights keep the depthwise convolutions of
  MobileNetV2 accurate; good images are what the line sees almost all the time.
- **Good-only models are refitted.** A Mahalanobis distance amplifies the small, systematic feature
  errors of INT8 along the good parts' low-variance directions: on the casting photos the INT8 backbone
  under the FP32 Gaussians dropped AUROC 0.995 -> 0.968 (quantising only blocks 0-6: 0.966; only the
  convolutions: 0.867) and moved half the verdicts. So for a good-only model the Gaussians and scales are
  fitted again (models/good_only.py `quantized=`) on the INT8 backbone's features of the calibration
  folder's good images, with the trainer's split: they then describe the features the edge computes.
- **Measured, then written.** The FP32 and INT8 models run on a validation set (--val DIR, else the
  calibration folder's good images not used for calibration plus all its defect images). The figure is
  AUROC for a good-only model (its threshold is a quantile, accuracy would hide a shift of scores) and
  accuracy at the card's threshold otherwise. A drop above `max_drop` is refused unless forced. The
  card records method, calibration images, the FP32 card's sha256 and the figures before and after.
- **No dead nodes.** Where the quantiser folds a ReLU6 (Clip) into the quantisation range, the Clip's
  min/max Constant nodes stay behind with no reader; onnxruntime removes each at every load with a
  warning line (46 for the default model). They are removed here, before the model is measured.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from models.card import ModelCard, read_card, save_model
from models.dataset import Dataset, DatasetError, load_image, scan
from models.evaluate import metrics
from models.features import BATCH, run_images, session
from models.good_only import split_good, train_good_only
from models.graph import BACKBONE_ONNX

FIRST_BLOCK, LAST_BLOCK = 0, 13  # of models/backbone (blocks 0..13), kept float32
_FINE_TUNED = ("/frozen/", "/tuned/")  # node names of the fine-tuned default model's blocks
VAL_FRACTION = 0.2  # of the calibration folder's good images, held out when there is no --val


class QuantizeError(ValueError):
    """Quantisation was refused (accuracy drop) or cannot run; the message says why and what to do."""


class _GoodImages(CalibrationDataReader):
    """Feeds batches of resized good images to the calibrator."""

    def __init__(self, input_name: str, paths: list[Path], size: int) -> None:
        self._batches = self._read(input_name, paths, size)

    @staticmethod
    def _read(input_name: str, paths: list[Path], size: int) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(paths), BATCH):
            images = [load_image(p, size) for p in paths[start:start + BATCH]]
            images = [a for a in images if a is not None]
            if images:
                yield {input_name: np.stack(images)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def drop_dead_nodes(graph: onnx.GraphProto) -> int:
    """Remove nodes none of whose outputs is read (by a node or as a graph output), until none is left;
    returns how many were removed."""
    removed = 0
    while True:
        read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        dead = [node for node in graph.node if not any(name in read for name in node.output)]
        if not dead:
            return removed
        for node in dead:
            graph.node.remove(node)
        removed += len(dead)


def _figures(model: onnx.ModelProto | Path, card: ModelCard, data: Dataset,
             size: int) -> tuple[dict, np.ndarray]:
    """Metrics of one model on `data` (labels 0 = ok, else defective) and its P(defect) per image."""
    probs, readable = run_images(session(model), data.paths, size, output=card.output("classifier").name,
                                 desc="evaluate", progress=False)
    labels = (data.labels[readable] != 0).astype(np.int64)
    ok_index = card.class_names.index(card.ok_class)
    p_defect = 1.0 - probs[0][:, ok_index]
    two_class = np.stack([1.0 - p_defect, p_defect], axis=1)
    found = metrics(labels, two_class, card.threshold, [card.ok_class, "defect"])
    return {k: found[k] for k in ("n", "n_ok", "n_defective", "accuracy", "escape_rate",
                                  "false_reject_rate", "auroc")}, p_defect


def _inner_block(node_name: str) -> bool:
    """True for nodes of MobileNetV2 blocks 1-12: the stem (block 0) and the last block stay float.
    `/blocks.N/` in the backbone file (models/backbone); `/frozen/frozen.N/`, `/tuned/tuned.N/` in the
    fine-tuned default model (models/default/build_default.py), N the same block index."""
    found = re.match(r"/(?:blocks|frozen/frozen|tuned/tuned)\.(\d+)/", node_name)
    return found is not None and FIRST_BLOCK < int(found.group(1)) < LAST_BLOCK


def _split(calib: Dataset, calib_count: int, val: Dataset | None, seed: int,
           val_fraction: float) -> tuple[list[Path], Dataset]:
    """Calibration images (good only) and the validation set; the good-only trainer's split (same seed
    and fraction), so that a good-only refit never sees a validation image."""
    if len(np.flatnonzero(calib.labels == 0)) < 3:
        raise DatasetError(f"{calib.root}: too few good images to calibrate and validate; add good images")
    fit, held_out = split_good(calib, val_fraction, len(calib.paths), seed)
    good_fit = [calib.paths[i] for i in np.random.default_rng(seed).permutation(fit)[:calib_count]]
    return good_fit, val if val is not None else calib.subset(held_out)


def _refit(int8: onnx.ModelProto, card: ModelCard, calib_dir: Path, tmp: Path, seed: int,
           val_fraction: float) -> onnx.ModelProto:
    """Good-only: the Gaussians and scales refitted on the INT8 backbone's features (module docstring)."""
    t = card.training
    out = tmp / "refit.onnx"
    train_good_only(calib_dir, out, card.ok_class, t["target_escape"], t["ok_quantile"], val_fraction, seed,
                    card.input.height_width[0], len(t["channels"]), t["groups"], t["score_source"],
                    t["max_train_images"], progress=False, name=card.name, quantized=int8,
                    grey=t.get("pixels", "colour") != "colour")
    return onnx.load(str(out))


def quantize_model(model_path: str | Path, calib_dir: str | Path, out: str | Path,
                   val_dir: str | Path | None = None, max_drop: float = 0.01, force: bool = False,
                   calib_count: int = 200, seed: int = 0) -> dict:
    """Write OUT (INT8) + card if the figure drops by at most `max_drop` (or `force`); returns a summary."""
    model_path = Path(model_path)
    card = read_card(model_path)
    size, width = card.input.height_width
    if size != width:
        raise QuantizeError(f"{model_path}: input {width}x{size} is not square; quantize needs square inputs")
    calib = scan(calib_dir, card.ok_class, min_classes=1)
    val = scan(val_dir, card.ok_class, min_classes=1) if val_dir else None
    good_only = card.training.get("mode") == "good-only"
    calib_paths, val_set = _split(calib, calib_count, val, seed, VAL_FRACTION)
    fp32 = onnx.load(str(model_path))
    backbone_nodes = {n.name for n in onnx.load(str(BACKBONE_ONNX)).graph.node}
    to_quantize = [n.name for n in fp32.graph.node
                   if (n.name in backbone_nodes or n.name.startswith(_FINE_TUNED)) and _inner_block(n.name)]
    if not to_quantize:
        raise QuantizeError(f"{model_path} holds none of the backbone's nodes; only MoldPilot models built "
                            "on models/backbone can be quantised")
    with tempfile.TemporaryDirectory(prefix="moldpilot-quant-") as tmp:
        raw = Path(tmp) / "int8.onnx"
        started = time.perf_counter()
        quantize_static(fp32, raw, _GoodImages(card.input.name, calib_paths, size),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_quantize=to_quantize)
        int8 = onnx.load(str(raw))
        drop_dead_nodes(int8.graph)
        if good_only:
            int8 = _refit(int8, card, calib.root, Path(tmp), seed, VAL_FRACTION)
        seconds = time.perf_counter() - started
    before, p_fp32 = _figures(model_path, card, val_set, size)
    after, p_int8 = _figures(int8, card, val_set, size)
    key = "auroc" if card.output("anomaly_score") is not None and before["auroc"] is not None else "accuracy"
    drop = before[key] - after[key]
    agreement = float(((p_fp32 >= card.threshold) == (p_int8 >= card.threshold)).mean())
    summary = {"model": str(out), "figure": key, "fp32": before, "int8": after, "drop": drop,
               "verdict_agreement": agreement, "calibration_images": len(calib_paths),
               "quantize_seconds": round(seconds, 1), "written": False}
    if drop > max_drop and not force:
        raise QuantizeError(f"INT8 {key} {after[key]:.4f} is {drop:.4f} below FP32 {before[key]:.4f} on "
                            f"{before['n']} validation images (limit --max-drop {max_drop}); not written. "
                            "Calibrate on more good images, or pass --force to write it anyway (to measure "
                            "it only: the runtime refuses an INT8 model that failed this gate)")
    quantized = card.model_copy(deep=True)
    quantized.name = f"{card.name}_int8"
    quantized.quantization = {
        "method": "onnxruntime quantize_static, QDQ, activations QUInt8 (MinMax), weights QInt8 per channel; "
                  "backbone blocks 1-12 only; stem, block 13, pre-processing and head float32"
                  + ("; Gaussians and scales refitted on the INT8 features" if good_only else ""),
        "calibration_data": str(calib.root),
        "calibration_images": len(calib_paths),
        "validation_data": str(val_set.root),
        "fp32_sha256": card.sha256,
        "figure": key,
        "before": before,
        "after": after,
        "drop": drop,
        "max_drop": max_drop,
        "forced": bool(drop > max_drop and force),
        "verdict_agreement": agreement,
    }
    save_model(int8, quantized, out)
    summary["written"] = True
    return summary

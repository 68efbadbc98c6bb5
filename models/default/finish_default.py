"""The torch-free steps after fine-tuning the default model: test-time views, threshold, optional INT8, card.

    .venv/bin/python models/default/finish_default.py --from NET.onnx [--views as_is,lr,tb,half_turn]
                                                      [--int8] [--name N] [--out OUT.onnx]

NET.onnx is a model models/default/build_default.py or distill_default.py built (its flip views are
unwrapped first, models/flip_views.py `one_view_of`). Steps: the views (default all four, what the teacher
sim_parts_v2 uses; the shipped sim_parts_v3_int8 is `--views as_is,half_turn --int8`); the
threshold for at most 0.5 % escapes on the validation set: the validation crops (each as rendered and
after MJPG) and the parts of 150 short validation recordings cut from their trigger frames (a threshold
set on rendered crops alone let a distilled one-view model reject 72 % of the good parts of fresh
recordings, whose plate, lighting drift and sensor noise rendered crops lack; sim_parts_v2's threshold
was set before this, on the crops alone); with
--int8, `moldpilot quantize`'s own code (models/quantize.py `quantize_model`) calibrated on the good
crops of seed CALIB_SEED and gated on the validation crops, then the threshold chosen again on the INT8
graph's own scores.

Measured on the sim_parts_v2 network (issue 22, 2026-12-02; NOT shipped, both failed):
- two views (as_is, half_turn), FP32: validation accuracy 0.98875 at threshold 0.026 (four views 0.9975);
  on the fresh recordings 777002-777009 false rejects 0-81 per recording, cavities down to 66 %;
- two views + INT8 (blocks 1-12): the gate refused it, accuracy 0.9865 vs 0.9925 FP32 (limit 0.005).
Networks distilled for fewer views: models/default/distill_default.py, with its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from multiprocessing import Pool
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import onnx

from models.card import ModelCard, read_card, save_model
from models.evaluate import metrics
from models.features import session
from models.flip_views import VIEWS as FLIP_VIEWS
from models.flip_views import average_flips, one_view_of
from models.operating_point import choose_threshold
from models.quantize import quantize_model
from models.trainer import DEFAULT_SIZE
from sim.dataset import render_item, write_dataset
from sim.defects import DEFECT_NAMES
from sim.footage import FootageSettings, mjpg_round_trip, trigger_crops

HERE = Path(__file__).resolve().parent
VAL_SEED = 20260602  # simulator seed of the validation crops (threshold, INT8 gate, card metrics)
VAL_COUNT = 2_000  # ~1,000 defective, each scored as rendered and after MJPG: 10 escapes at the target
VAL_RECORDINGS = (20_260_620_000, 150, 8)  # first seed, recordings, shots: 4,800 parts cut from footage
CALIB_SEED = 20260603  # simulator seed of the INT8 calibration crops (their good ones)
CALIB_COUNT = 400
DEFECT_RATE = 0.5
TARGET_ESCAPE = 0.005
MAX_DROP = 0.005  # INT8 accuracy may fall by at most half a point on the validation crops
THREADS = 2
VIEWS = FLIP_VIEWS
CLASS_NAMES = ["ok", *sorted(DEFECT_NAMES)]
T, R = TypeVar("T"), TypeVar("R")


def describe(card: ModelCard, views: tuple[str, ...], int8: bool) -> None:
    """The card's account of the finishing choices: the views, and what they and INT8 traded."""
    card.training["views"] = list(views)
    card.training["head"] = card.training["head"].replace("the crop and three mirror images",
                                                          "the test-time views (`views`)")
    traded = [f"{len(views)} test-time view(s) ({', '.join(views)}) instead of 4: {len(views)} passes of the "
              "network per crop instead of 4; one view's score depends more on where a defect falls on the "
              "stride-16 grid"]
    if int8:
        traded.append("INT8 (QDQ) in MobileNetV2 blocks 1-12, the stem, block 13, pre-processing and head in "
                      "float32: P(defect) moves by a few thousandths; the gate's figures and the verdict "
                      "agreement with FP32 are in `quantization`")
    card.training["traded"] = "; ".join(traded) + ". Figures on fresh recordings: README, 'The shipped " \
        "default model' (benchmarks/bench_default.py)"


def _render_one(args: tuple[int, int]) -> tuple[np.ndarray, int]:
    seed, index = args
    image, row = render_item(seed, index, DEFAULT_SIZE, DEFECT_RATE, "mixed")
    return image, CLASS_NAMES.index(row.class_name)


def _pooled(fn: Callable[[T], R], jobs: list[T], chunksize: int) -> list[R]:
    """fn over `jobs` in THREADS processes, each OpenCV single-threaded (the processes are the threads)."""
    cv2.setNumThreads(1)
    with Pool(THREADS) as pool:
        return pool.map(fn, jobs, chunksize=chunksize)


def render(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops as rendered, the same crops after an MJPG round trip, class indices)."""
    items = _pooled(_render_one, [(seed, i) for i in range(count)], chunksize=64)
    crops = np.stack([image for image, _ in items])
    return crops, mjpg_round_trip(crops, seed), np.array([label for _, label in items])


def _footage_one(args: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    seed, shots = args
    crops, defects = trigger_crops(FootageSettings(shots=shots, seed=seed, defect_rate=DEFECT_RATE))
    return crops, [CLASS_NAMES.index(defect or "ok") for defect in defects]


def footage_parts(first_seed: int, recordings: int, shots: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops, class indices) of the parts of `recordings` short recordings (seeds first_seed, +1, ...),
    each its own mold, lighting and fixture, cut from their trigger frames (sim.footage.trigger_crops)."""
    items = _pooled(_footage_one, [(first_seed + i, shots) for i in range(recordings)], chunksize=8)
    return np.concatenate([c for c, _ in items]), np.array([k for _, labels in items for k in labels])


def score(model: onnx.ModelProto | Path, crops: np.ndarray) -> np.ndarray:
    """probs [N, C] of `crops`, 100 at a time."""
    sess = session(model, THREADS)
    return np.concatenate([sess.run(["probs"], {"image": crops[i:i + 100]})[0]
                           for i in range(0, len(crops), 100)])


def validation_set() -> tuple[np.ndarray, np.ndarray]:
    """The validation crops as rendered and after MJPG, and the parts cut from the validation recordings:
    a good part's look in footage (plate, lighting drift, sensor noise) is not a rendered crop's."""
    crops, mjpg, labels = render(VAL_SEED, VAL_COUNT)
    parts, part_labels = footage_parts(*VAL_RECORDINGS)
    return np.concatenate([crops, mjpg, parts]), np.concatenate([labels, labels, part_labels])


def _validate(model: onnx.ModelProto | Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """Threshold for TARGET_ESCAPE and the figures at it, on `validation_set()`."""
    probs = score(model, images)
    choice = choose_threshold(1.0 - probs[:, 0], labels != 0, TARGET_ESCAPE)
    validation = metrics(labels, probs, choice["threshold"], CLASS_NAMES)
    validation.update(target_escape=TARGET_ESCAPE, threshold_resolved=choice["resolved"],
                      threshold_note=choice["note"])
    return validation


def _stamp(card: ModelCard) -> None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        card.created = datetime.fromtimestamp(int(epoch), timezone.utc).isoformat(timespec="seconds")


def finish(one_view: onnx.ModelProto, card: ModelCard, out: Path, views: tuple[str, ...] = VIEWS,
           int8: bool = False) -> dict:
    """Views, threshold, (INT8, threshold again) and card, from `card` (the name, input, outputs,
    training and provenance of the network's build); saves `out` + its card, returns a summary."""
    model = average_flips(one_view, views=views)
    val = validation_set()
    card = card.model_copy(deep=True)
    first, recordings, shots = VAL_RECORDINGS
    card.training.update(n_val=len(val[1]), validation_data=(
        f"simulator seed {VAL_SEED}, {VAL_COUNT} crops, each as rendered and after MJPG; and the "
        f"{recordings * shots * 4} parts of {recordings} recordings of {shots} shots (seeds {first} to "
        f"{first + recordings - 1}, defect rate {DEFECT_RATE}), cut from their trigger frames "
        "(sim.footage.trigger_crops)"))
    card.validation = _validate(model, *val)
    card.threshold = card.validation["threshold"]
    card.quantization = None
    describe(card, views, int8)
    _stamp(card)
    if not int8:
        save_model(model, card, out)
        return {"model": str(out), "threshold": card.threshold, "validation": card.validation}
    with tempfile.TemporaryDirectory(prefix="moldpilot-default-") as tmp:
        fp32 = Path(tmp, "fp32.onnx")
        save_model(model, card, fp32)
        write_dataset(Path(tmp, "calib"), CALIB_COUNT, CALIB_SEED, DEFAULT_SIZE, DEFECT_RATE)
        write_dataset(Path(tmp, "val"), VAL_COUNT, VAL_SEED, DEFAULT_SIZE, DEFECT_RATE)
        gate = quantize_model(fp32, Path(tmp, "calib"), out, Path(tmp, "val"), max_drop=MAX_DROP)
    quantized = read_card(out)
    fp32_threshold = quantized.threshold
    quantized.validation = _validate(out, *val)
    quantized.threshold = quantized.validation["threshold"]
    assert quantized.quantization is not None
    quantized.quantization.update(
        calibration_data=f"simulator seed {CALIB_SEED}, {CALIB_COUNT} crops (= moldpilot sim dataset "
                         f"--count {CALIB_COUNT} --seed {CALIB_SEED}), their good ones",
        validation_data=f"simulator seed {VAL_SEED}, {VAL_COUNT} crops (= moldpilot sim dataset --count "
                        f"{VAL_COUNT} --seed {VAL_SEED})",
        fp32_threshold=fp32_threshold,
        threshold_note="gate figures at the FP32 threshold; the card's threshold chosen again on the INT8 "
                       "graph's validation scores for the same escape target")
    save_model(onnx.load(str(out)), quantized, out)
    return {"model": str(out), "threshold": quantized.threshold, "fp32_threshold": fp32_threshold,
            "gate": {k: gate[k] for k in ("figure", "drop", "verdict_agreement")},
            "validation": quantized.validation}


def print_summary(summary: dict) -> None:
    """A build's summary as JSON on stdout, with the headline validation figures only."""
    shown = {k: summary["validation"][k] for k in ("accuracy", "escape_rate", "auroc", "false_reject_rate",
                                                   "class_accuracy")}
    print(json.dumps({**summary, "validation": shown}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, metavar="NET.onnx",
                        help="a model build_default.py or distill_default.py built (its card gives the rest)")
    parser.add_argument("--views", default=",".join(VIEWS), help="test-time views (models/flip_views.py)")
    parser.add_argument("--int8", action="store_true", help="quantise (moldpilot quantize's code and gate)")
    parser.add_argument("--name", help="the model's name (default: NET.onnx's card's; INT8 adds _int8)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    card = read_card(args.source)
    card.name = args.name or card.name
    summary = finish(one_view_of(onnx.load(str(args.source))), card, args.out, tuple(args.views.split(",")),
                     args.int8)
    print_summary(summary)


if __name__ == "__main__":
    main()
